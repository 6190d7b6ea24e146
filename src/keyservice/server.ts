/**
 * The key service server (`tsops keyservice`): sops's gRPC KeyService, answering Encrypt and
 * Decrypt requests with this machine's keys (age identities, gpg, cloud credentials of the server's
 * environment), so that a client elsewhere — another machine, a container, a colleague through an
 * ssh tunnel — can wrap and unwrap data keys it holds no key for. It never forwards a request to
 * another key service.
 *
 * Replies as sops's server: a request without a key or with a key type it does not know → NOT_FOUND
 * (`Must provide a key`, `Unknown key type`); a refused prompt → PERMISSION_DENIED (`Request rejected
 * by user`); a key that fails → UNKNOWN with the key's error. Beyond sops, with a confirmation the
 * user is asked before the key is used (sops asks after), and each request is logged (the key,
 * never the data).
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { messageOf } from '../errors.js';
import type { KeyContext, MasterKey } from '../keys/types.js';
import { LOCAL_ONLY, unwrapKey, wrapKey } from './index.js';
import {
  KEYSERVICE_PROTO,
  LOADER_OPTIONS,
  UnknownKeyError,
  describeProtoKey,
  keyFromProto,
  type ProtoKey,
} from './proto.js';

export interface KeyServiceServerOptions {
  /** `tcp` (also tcp4, tcp6) or `unix`, as sops's --network. */
  network: string;
  /** `host:port` (port 0: any free port) or a socket path, as sops's --address. */
  address: string;
  /** The environment the keys read (identities, credentials). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** When set, asked before each request is served; resolve true to serve it. */
  confirm?: (question: string) => Promise<boolean>;
  /** One line per event: listening, each request and how it ended. Never data. */
  log?: (level: 'info' | 'warning', msg: string) => void;
}

export interface RunningKeyService {
  /** Where it listens, as `tcp://host:port` (the port it got) or `unix:///path`. */
  url: string;
  /** Stop serving; a unix socket is removed. */
  close(): Promise<void>;
}

interface Call<T> {
  request: T;
}
type Reply = (err: Partial<grpc.StatusObject> | null, value?: unknown) => void;

function status(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}

/** Whether a unix socket at `path` is left over (nothing listens on it). */
function staleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

function splitHostPort(address: string): { host: string; port: string } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`listen tcp ${address}: address ${address}: missing port in address`);
  return { host: m[1] ?? m[2] ?? '', port: m[3]! };
}

export async function startKeyService(o: KeyServiceServerOptions): Promise<RunningKeyService> {
  const env = o.env ?? process.env;
  const log = o.log ?? (() => {});
  let target: string;
  let socketPath: string | undefined;
  let host: string;
  if (o.network === 'unix') {
    socketPath = o.address;
    if (await staleSocket(socketPath)) {
      unlinkSync(socketPath);
      log('warning', `Removed the stale socket ${socketPath} (nothing was listening on it)`);
    }
    target = `unix:${socketPath}`;
  } else if (o.network === 'tcp' || o.network === 'tcp4' || o.network === 'tcp6') {
    const hp = splitHostPort(o.address);
    host = hp.host || (o.network === 'tcp6' ? '::' : '0.0.0.0');
    target = `${host.includes(':') ? `[${host}]` : host}:${hp.port}`;
  } else {
    throw new Error(`listen ${o.network}: unknown network ${o.network}`);
  }

  // one question at a time on the terminal
  let asking: Promise<unknown> = Promise.resolve();
  const confirm = o.confirm;
  const ask = confirm
    ? (q: string) => {
        const answer = asking.then(() => confirm(q));
        asking = answer.catch(() => false);
        return answer;
      }
    : undefined;

  async function serve(op: 'encrypt' | 'decrypt', key: ProtoKey | null | undefined, data: Buffer): Promise<Buffer> {
    const mk: MasterKey = keyFromProto(key);
    if (ask && !(await ask(`Received ${op} request using ${describeProtoKey(key)}. Respond to request? (y/n): `))) {
      throw new RejectedError('Request rejected by user');
    }
    const ctx: KeyContext = { env, log: () => {}, keyServices: LOCAL_ONLY };
    if (op === 'encrypt') return Buffer.from(await wrapKey(mk, data, ctx), 'utf8');
    mk.enc = data.toString('utf8');
    return unwrapKey(mk, ctx);
  }

  function handler(op: 'encrypt' | 'decrypt') {
    const field = op === 'encrypt' ? 'plaintext' : 'ciphertext';
    const out = op === 'encrypt' ? 'ciphertext' : 'plaintext';
    return (call: Call<Record<string, unknown>>, reply: Reply) => {
      const key = call.request['key'] as ProtoKey | null | undefined;
      const what = `${op} request using ${describeProtoKey(key)}`;
      const raw = call.request[field];
      const data = raw instanceof Uint8Array ? Buffer.from(raw) : Buffer.alloc(0);
      serve(op, key, data).then(
        (result) => {
          log('info', `Served ${what}`);
          reply(null, { [out]: result });
        },
        (e: unknown) => {
          const code =
            e instanceof UnknownKeyError
              ? grpc.status.NOT_FOUND
              : e instanceof RejectedError
                ? grpc.status.PERMISSION_DENIED
                : grpc.status.UNKNOWN;
          log('warning', `Failed ${what}: ${messageOf(e)}`);
          reply(status(code, messageOf(e)));
        },
      );
    };
  }

  quietGrpc();
  const def = fromJSON(KEYSERVICE_PROTO, LOADER_OPTIONS);
  const server = new grpc.Server();
  server.addService(def['KeyService'] as grpc.ServiceDefinition, {
    Encrypt: handler('encrypt'),
    Decrypt: handler('decrypt'),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) {
        // grpc-js: "No address added out of total 1 resolved errors: [listen EADDRINUSE: …]"
        const inner = /errors: \[(.*)\]\s*$/s.exec(err.message)?.[1] ?? err.message;
        reject(new Error(`listen ${o.network} ${o.address}: ${inner}`, { cause: err }));
      } else resolve(p);
    });
  });
  const url =
    socketPath !== undefined ? `unix://${socketPath}` : `tcp://${target.replace(/:\d+$/, `:${String(port)}`)}`;
  log('info', `Listening on ${url}`);

  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.forceShutdown();
        if (socketPath !== undefined) {
          try {
            if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
          } catch {
            // already gone
          }
        }
        resolve();
      });
      return closed;
    },
  };
}

class RejectedError extends Error {}

/** grpc-js writes its own error lines to stderr; tsops reports failures itself, in one line (GRPC_VERBOSITY still applies). */
function quietGrpc(): void {
  if (!process.env['GRPC_VERBOSITY']) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
}
