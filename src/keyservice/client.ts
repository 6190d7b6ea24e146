/**
 * The client of a remote key service (`tsops keyservice`, `sops keyservice`): one gRPC call of
 * sops's protocol per wrap or unwrap. Imported only when a remote key service is used.
 *
 * URIs as sops reads them (Go's url.Parse): `tcp://host:port`, `unix:///path/to/socket` (the path is
 * the URI's path); the scheme is the network (tcp, tcp4, tcp6, unix). No TLS and no
 * authentication, as in sops: protect the connection yourself (ssh -L, a unix socket with tight
 * permissions).
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { KeyContext, MasterKey } from '../keys/types.js';
import { GRPC_CODE_NAMES, KEYSERVICE_PROTO, LOADER_OPTIONS, keyToProto } from './proto.js';

interface MethodDef {
  path: string;
  requestSerialize: (v: unknown) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
}

let methods: { Encrypt: MethodDef; Decrypt: MethodDef } | undefined;

function keyServiceMethods() {
  if (!methods) {
    const def = fromJSON(KEYSERVICE_PROTO, LOADER_OPTIONS);
    const svc = def['KeyService'] as unknown as { Encrypt: MethodDef; Decrypt: MethodDef };
    methods = { Encrypt: svc.Encrypt, Decrypt: svc.Decrypt };
  }
  return methods;
}

/** The gRPC target of a key service URI, as sops dials it. */
export function targetOf(uri: string): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`cannot parse the key service URI ${JSON.stringify(uri)} (use tcp://host:port or unix:///path)`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'unix') {
    const path = decodeURIComponent(u.pathname);
    if (!path) throw new Error(`the key service URI ${JSON.stringify(uri)} names no socket path`);
    return `unix:${path}`;
  }
  if (scheme === 'tcp' || scheme === 'tcp4' || scheme === 'tcp6') {
    if (!u.host) throw new Error(`the key service URI ${JSON.stringify(uri)} names no host:port`);
    return u.host;
  }
  throw new Error(`dial ${scheme}: unknown network ${scheme}`);
}

/** The per-call deadline: TSOPS_KEYSERVICE_TIMEOUT seconds (default 300: a server may ask its user first). */
function deadlineOf(env: NodeJS.ProcessEnv): Date {
  const s = Number(env['TSOPS_KEYSERVICE_TIMEOUT']);
  const seconds = Number.isFinite(s) && s > 0 ? s : 300;
  return new Date(Date.now() + seconds * 1000);
}

/** A failed call in Go's words, as sops reports it: `rpc error: code = Unknown desc = …`. */
function rpcError(e: grpc.ServiceError): Error {
  const name = GRPC_CODE_NAMES[e.code] ?? `Code(${String(e.code)})`;
  const details = e.details.replace(/\.?\s*Resolution note:\s*$/, '');
  return new Error(`rpc error: code = ${name} desc = ${details}`, { cause: e });
}

function call(uri: string, m: MethodDef, request: unknown, ctx: KeyContext): Promise<Record<string, unknown>> {
  const target = targetOf(uri);
  ctx.log(`connecting to key service ${uri}`);
  // a direct connection, as sops dials it (no HTTP proxy from the environment)
  if (!process.env['GRPC_VERBOSITY']) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: deadlineOf(ctx.env) },
      (err, value) => {
        client.close();
        if (err) reject(rpcError(err));
        else resolve((value ?? {}) as Record<string, unknown>);
      },
    );
  });
}

function bytesOf(v: unknown): Buffer {
  return v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0);
}

/** Ask the key service at `uri` to wrap `plaintext` with `k`; returns the ciphertext (the new `enc`). */
export async function remoteEncrypt(uri: string, k: MasterKey, plaintext: Buffer, ctx: KeyContext): Promise<Buffer> {
  const r = await call(uri, keyServiceMethods().Encrypt, { key: keyToProto(k), plaintext }, ctx);
  return bytesOf(r['ciphertext']);
}

/** Ask the key service at `uri` to unwrap `ciphertext` (a key's `enc`) with `k`; returns the plaintext. */
export async function remoteDecrypt(uri: string, k: MasterKey, ciphertext: Buffer, ctx: KeyContext): Promise<Buffer> {
  const r = await call(uri, keyServiceMethods().Decrypt, { key: keyToProto(k), ciphertext }, ctx);
  const plaintext = bytesOf(r['plaintext']);
  // (sops's client, too, goes on to the next key service when a reply holds no data key)
  if (plaintext.length === 0) throw new Error('the key service replied with an empty data key');
  return plaintext;
}
