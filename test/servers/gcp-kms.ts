/**
 * A loopback Google Cloud KMS for tests: the Encrypt and Decrypt RPCs of
 * google.cloud.kms.v1.KeyManagementService over real gRPC (the service definition is loaded from
 * the .proto files shipped in @google-cloud/kms and google-gax), and optionally the same two calls
 * over the REST binding (`POST /v1/{name}:encrypt|decrypt`, JSON), so that the real SDK client talks
 * to it unchanged.
 *
 * Encryption is real: AES-256-GCM under a secret derived from the key name (and a per-server
 * random master secret), with the key name as additional data, so a ciphertext decrypts only
 * under the key that made it and only on the server that made it. When tokens or service
 * accounts are configured, every call must carry `authorization: Bearer …` with one of the tokens,
 * or a self-signed service-account JWT (RS256) from one of the accounts. Keys can be denied
 * (PERMISSION_DENIED), answers delayed, and calls made to fail with a status.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  randomBytes,
  verify,
  type KeyObject,
} from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Observer } from './observe.js';

type Gax = typeof import('google-gax');
type Grpc = Gax['grpc'];

const kmsMain = createRequire(import.meta.url).resolve('@google-cloud/kms');
const gaxMain = createRequire(kmsMain).resolve('google-gax');

/** gRPC status codes used here. */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

// The SDK's own google-gax (and so its @grpc/grpc-js), loaded when the first server starts: a test
// may set gRPC's environment (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) before that.
let grpc: Grpc;
let STATUS_NAME: Record<number, string>;
function loadGrpc(): void {
  if (grpc) return;
  const gax = createRequire(kmsMain)('google-gax') as Gax;
  grpc = gax.grpc;
  STATUS_NAME = Object.fromEntries(
    Object.entries(gax.Status)
      .filter(([, v]) => typeof v === 'number')
      .map(([k, v]) => [v, k]),
  );
}
const HTTP_STATUS: Record<number, number> = { 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 13: 500, 14: 503, 16: 401 };

const CRYPTO_KEY = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;
const KEY_OR_VERSION =
  /^(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+)(?:\/cryptoKeyVersions\/[^/]+)?$/;

export interface GcpKmsServerOptions {
  /** Accepted bearer tokens; with these (or serviceAccounts) set, calls without one fail UNAUTHENTICATED. */
  tokens?: string[];
  /** Self-signed service-account JWTs accepted from these accounts: client_email -> public key. */
  serviceAccounts?: Record<string, KeyObject | string>;
  /** The CryptoKeys that exist; any well-formed name when left out. */
  keys?: string[];
  /** CryptoKeys the caller may not use (PERMISSION_DENIED). */
  deny?: string[];
  /** Milliseconds to wait before answering each call. */
  delayMs?: number;
  /** Serve gRPC over TLS with this certificate (PEM) instead of plaintext. */
  tls?: { cert: string; key: string };
  /** Also serve the REST binding on a second port (plain HTTP). */
  rest?: boolean;
  /** Hears every call and answer (see ./observe.ts); may hold calls. */
  observer?: Observer;
}

export interface GcpKmsCall {
  method: 'Encrypt' | 'Decrypt';
  transport: 'grpc' | 'rest';
  /** The `name` field of the request. */
  name: string;
  /** The authorization header as received ('' when absent). */
  authorization: string;
  /** Who the credentials named: the token, or the service account's email. */
  principal: string;
  /** The answer's status name (OK, PERMISSION_DENIED, ...). */
  status: string;
}

export interface GcpKmsServer {
  /** `127.0.0.1:PORT` of the gRPC service (for SOPS_GCP_KMS_ENDPOINT). */
  endpoint: string;
  /** `127.0.0.1:PORT` of the REST binding, when `rest` was asked for. */
  restEndpoint?: string;
  /** Every call received, in order. */
  calls: GcpKmsCall[];
  /** Answer the next `n` calls with `code` (default UNAVAILABLE) before doing anything else. */
  failNext(n: number, code?: number): void;
  /** Deny (or allow again) a key. */
  deny(name: string, denied?: boolean): void;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

class KmsFault extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function loadService(): import('@grpc/grpc-js').ServiceDefinition {
  const protoLoader = createRequire(gaxMain)('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const includeDirs = [join(dirname(kmsMain), '..', 'protos'), join(dirname(gaxMain), '..', 'protos')];
  const def = protoLoader.loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs,
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as any;
  return pkg.google.cloud.kms.v1.KeyManagementService.service;
}

let service: import('@grpc/grpc-js').ServiceDefinition | undefined;

/** Verify a self-signed service-account JWT; returns the account's email or throws. */
function verifyJwt(jwt: string, accounts: Map<string, KeyObject>): string {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new KmsFault(Status.UNAUTHENTICATED, 'malformed JWT');
  const [h, p, sig] = parts as [string, string, string];
  let header: { alg?: string };
  let payload: { iss?: string; sub?: string; exp?: number; iat?: number; scope?: string; aud?: string };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString());
    payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  } catch {
    throw new KmsFault(Status.UNAUTHENTICATED, 'malformed JWT');
  }
  const key = payload.iss ? accounts.get(payload.iss) : undefined;
  if (header.alg !== 'RS256' || !key) throw new KmsFault(Status.UNAUTHENTICATED, 'JWT from an unknown service account');
  if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(sig, 'base64url'))) {
    throw new KmsFault(Status.UNAUTHENTICATED, 'JWT signature does not verify');
  }
  const now = Date.now() / 1000;
  if (typeof payload.exp !== 'number' || payload.exp < now - 30)
    throw new KmsFault(Status.UNAUTHENTICATED, 'JWT expired');
  const scoped = (payload.scope ?? '')
    .split(' ')
    .some((s) => s.endsWith('/auth/cloud-platform') || s.endsWith('/auth/cloudkms'));
  if (!scoped && !payload.aud)
    throw new KmsFault(Status.UNAUTHENTICATED, 'JWT has neither a KMS scope nor an audience');
  return payload.iss!;
}

/** Start the server on 127.0.0.1 (random ports). */
export async function startGcpKmsServer(opts: GcpKmsServerOptions = {}): Promise<GcpKmsServer> {
  loadGrpc();
  const master = randomBytes(32);
  const tokens = new Set(opts.tokens ?? []);
  const accounts = new Map(
    Object.entries(opts.serviceAccounts ?? {}).map(([email, k]) => [
      email,
      typeof k === 'string' ? createPublicKey(k) : k,
    ]),
  );
  const authRequired = tokens.size > 0 || accounts.size > 0;
  const known = opts.keys ? new Set(opts.keys) : undefined;
  const denied = new Set(opts.deny ?? []);
  let delayMs = opts.delayMs ?? 0;
  const failures: number[] = [];
  const calls: GcpKmsCall[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const keyFor = (name: string) => createHmac('sha256', master).update(name).digest();

  function authorize(authorization: string): string {
    if (!authRequired) return '';
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m)
      throw new KmsFault(
        Status.UNAUTHENTICATED,
        'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    if (tokens.has(m[1]!)) return m[1]!;
    if (accounts.size > 0 && m[1]!.split('.').length === 3) return verifyJwt(m[1]!, accounts);
    throw new KmsFault(
      Status.UNAUTHENTICATED,
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    );
  }

  function checkKey(name: string, forEncrypt: boolean): string {
    const m = forEncrypt ? KEY_OR_VERSION.exec(name) : CRYPTO_KEY.test(name) ? [name, name] : null;
    if (!m) throw new KmsFault(Status.INVALID_ARGUMENT, `Resource name [${name}] does not match any known type`);
    const key = m[1]!;
    if (denied.has(key))
      throw new KmsFault(
        Status.PERMISSION_DENIED,
        `Permission 'cloudkms.cryptoKeyVersions.useTo${forEncrypt ? 'Encrypt' : 'Decrypt'}' denied on resource '${key}' (or it may not exist).`,
      );
    if (known && !known.has(key)) throw new KmsFault(Status.NOT_FOUND, `CryptoKey ${key} not found.`);
    return key;
  }

  function encrypt(name: string, plaintext: Buffer): { name: string; ciphertext: Buffer } {
    const key = checkKey(name, true);
    if (plaintext.length > 64 * 1024) throw new KmsFault(Status.INVALID_ARGUMENT, 'The plaintext is too large.');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keyFor(key), iv);
    c.setAAD(Buffer.from(key));
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return {
      name: `${key}/cryptoKeyVersions/1`,
      ciphertext: Buffer.concat([Buffer.from([1]), iv, body, c.getAuthTag()]),
    };
  }

  function decrypt(name: string, ciphertext: Buffer): { plaintext: Buffer } {
    const key = checkKey(name, false);
    const bad = () =>
      new KmsFault(Status.INVALID_ARGUMENT, "Decryption failed: verify that 'name' refers to the correct CryptoKey.");
    if (ciphertext.length < 1 + 12 + 16 || ciphertext[0] !== 1) throw bad();
    try {
      const d = createDecipheriv('aes-256-gcm', keyFor(key), ciphertext.subarray(1, 13));
      d.setAAD(Buffer.from(key));
      d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      return { plaintext: Buffer.concat([d.update(ciphertext.subarray(13, ciphertext.length - 16)), d.final()]) };
    } catch {
      throw bad();
    }
  }

  /** Run one call: record it, fail or delay as configured, check auth, then answer. */
  async function handle<T>(
    method: GcpKmsCall['method'],
    transport: GcpKmsCall['transport'],
    name: string,
    authorization: string,
    answer: () => T,
  ): Promise<T> {
    const call: GcpKmsCall = { method, transport, name, authorization, principal: '', status: 'OK' };
    calls.push(call);
    if (opts.observer) await opts.observer.arrived('gcp', method);
    try {
      if (failures.length) {
        const code = failures.shift()!;
        throw new KmsFault(
          code,
          code === Status.UNAVAILABLE ? 'The service is currently unavailable.' : 'Injected failure.',
        );
      }
      if (delayMs > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, delayMs);
          timers.add(t);
        });
      }
      call.principal = authorize(authorization);
      return answer();
    } catch (e) {
      call.status = e instanceof KmsFault ? (STATUS_NAME[e.code] ?? String(e.code)) : 'INTERNAL';
      throw e;
    }
  }

  // --- gRPC ----------------------------------------------------------------------------------------
  service ??= loadService();
  const server = new grpc.Server();
  type Unary = import('@grpc/grpc-js').handleUnaryCall<
    { name?: string; plaintext?: Buffer; ciphertext?: Buffer },
    object
  >;
  const unary =
    (method: GcpKmsCall['method']): Unary =>
    (call, callback) => {
      const auth = call.metadata.get('authorization')[0];
      const name = call.request.name ?? '';
      handle(method, 'grpc', name, typeof auth === 'string' ? auth : '', () =>
        method === 'Encrypt'
          ? encrypt(name, call.request.plaintext ?? Buffer.alloc(0))
          : decrypt(name, call.request.ciphertext ?? Buffer.alloc(0)),
      )
        .then(
          (resp) => callback(null, resp),
          (e: unknown) =>
            callback({
              // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- gRPC status codes as numbers (13 INTERNAL)
              code: e instanceof KmsFault ? e.code : 13,
              details: e instanceof Error ? e.message : String(e),
            }),
        )
        .finally(() => opts.observer?.answered('gcp', method));
    };
  const notImplemented = (_call: unknown, callback: (e: { code: number; details: string }) => void) =>
    callback({ code: 12, details: 'not implemented by the loopback server' });
  const impl: Record<string, unknown> = {};
  for (const m of Object.keys(service)) impl[m] = notImplemented;
  impl['Encrypt'] = unary('Encrypt');
  impl['Decrypt'] = unary('Decrypt');
  server.addService(service, impl as import('@grpc/grpc-js').UntypedServiceImplementation);
  const creds = opts.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ cert_chain: Buffer.from(opts.tls.cert), private_key: Buffer.from(opts.tls.key) }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))),
  );

  // --- REST ----------------------------------------------------------------------------------------
  let rest: http.Server | undefined;
  if (opts.rest) {
    rest = http.createServer((rq, rs) => {
      const chunks: Buffer[] = [];
      rq.on('data', (c: Buffer) => chunks.push(c));
      rq.on('end', () => {
        const send = (status: number, body: unknown) => {
          rs.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
          rs.end(JSON.stringify(body));
        };
        const m = /^\/v1\/(.+):(encrypt|decrypt)(?:\?.*)?$/.exec(rq.url ?? '');
        if (rq.method !== 'POST' || !m)
          return send(404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
        const name = decodeURIComponent(m[1]!);
        const method = m[2] === 'encrypt' ? 'Encrypt' : 'Decrypt';
        let body: { plaintext?: string; ciphertext?: string };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        } catch {
          return send(400, {
            error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' },
          });
        }
        if (opts.observer) rs.once('finish', () => opts.observer!.answered('gcp', method));
        handle(method, 'rest', name, rq.headers.authorization ?? '', () =>
          method === 'Encrypt'
            ? encrypt(name, Buffer.from(body.plaintext ?? '', 'base64'))
            : decrypt(name, Buffer.from(body.ciphertext ?? '', 'base64')),
        ).then(
          (resp) => {
            if ('ciphertext' in resp) send(200, { name: resp.name, ciphertext: resp.ciphertext.toString('base64') });
            else send(200, { plaintext: resp.plaintext.toString('base64') });
          },
          (e: unknown) => {
            const code = e instanceof KmsFault ? e.code : 13;
            send(HTTP_STATUS[code] ?? 500, {
              error: {
                code: HTTP_STATUS[code] ?? 500,
                message: e instanceof Error ? e.message : String(e),
                status: STATUS_NAME[code] ?? 'INTERNAL',
              },
            });
          },
        );
      });
    });
    await new Promise<void>((resolve) => rest!.listen(0, '127.0.0.1', resolve));
  }

  let closed = false;
  return {
    endpoint: `127.0.0.1:${port}`,
    ...(rest ? { restEndpoint: `127.0.0.1:${(rest.address() as AddressInfo).port}` } : {}),
    calls,
    failNext(n, code = Status.UNAVAILABLE) {
      for (let i = 0; i < n; i++) failures.push(code);
    },
    deny(name, isDenied = true) {
      if (isDenied) denied.add(name);
      else denied.delete(name);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      server.forceShutdown();
      if (rest) {
        rest.closeAllConnections();
        await new Promise<void>((resolve) => rest.close(() => resolve()));
      }
    },
  };
}

export interface StsServer {
  /** `http://127.0.0.1:PORT/v1/token`, for an external_account credential's token_url. */
  tokenUrl: string;
  /** Subject tokens received, in order. */
  exchanges: string[];
  close(): Promise<void>;
}

/**
 * A loopback Security Token Service (RFC 8693 token exchange, as Google's STS answers it): trades
 * `subjectToken` for `accessToken`; any other subject token gets 400 invalid_grant.
 */
export async function startStsServer(subjectToken: string, accessToken: string): Promise<StsServer> {
  const exchanges: string[] = [];
  const server = http.createServer((rq, rs) => {
    const chunks: Buffer[] = [];
    rq.on('data', (c: Buffer) => chunks.push(c));
    rq.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const send = (status: number, body: unknown) => {
        rs.writeHead(status, { 'content-type': 'application/json' });
        rs.end(JSON.stringify(body));
      };
      if (rq.method !== 'POST' || rq.url !== '/v1/token') return send(404, { error: 'not_found' });
      exchanges.push(form.get('subject_token') ?? '');
      if (
        form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange' ||
        form.get('subject_token') !== subjectToken
      ) {
        return send(400, { error: 'invalid_grant', error_description: 'The subject token is invalid.' });
      }
      send(200, {
        access_token: accessToken,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 3600,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    tokenUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/token`,
    exchanges,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
