/**
 * A loopback stand-in for HashiCorp Vault's KV secrets engine, versions 1 and 2 — what `publish`
 * and Vault's own API client use:
 *   KV v2 (mount M):  GET /v1/M/data/PATH  -> 200 {data: {data, metadata}} | 404 {errors: []}
 *                     PUT|POST /v1/M/data/PATH {data: {...}}  -> 200 {data: {version, created_time…}}
 *   KV v1 (mount M):  GET /v1/M/PATH  -> 200 {data} | 404 {errors: []}
 *                     PUT|POST /v1/M/PATH {...}  -> 204
 * Other paths: 404 "no handler for route". Every request must carry the token (`X-Vault-Token`),
 * else 403 permission denied, Vault's body shape. It can deny (403) or fail (500) writes on demand,
 * keeps every version written and records every call.
 *
 * The mounts are `secret` (v2) and `kv` (v1) by default, as in the Vault dev server sops's CI runs.
 * `startVaultKvServer({ port: 8200, token: 'root' })` serves sops's functional tests (see
 * test/vault-kv-server.ts).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface VaultKvCall {
  method: string;
  path: string;
  token: string;
  namespace: string;
  body?: unknown;
  status: number;
}

export interface VaultKvServerOptions {
  /** 0 (a free port) by default. */
  port?: number;
  /** The token requests must carry; a random one by default. */
  token?: string;
  /** Mount name → KV version. Default `{ secret: 2, kv: 1 }`. */
  mounts?: Record<string, 1 | 2>;
}

export interface VaultKvServer {
  readonly url: string;
  readonly token: string;
  readonly calls: VaultKvCall[];
  /** Every version written, by `MOUNT/PATH` (v2: without `data/`); the last one is current. */
  readonly secrets: Map<string, unknown[]>;
  /** Answer writes with 403 permission denied. */
  denyWrites: boolean;
  /** Answer every request with 500. */
  broken: boolean;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startVaultKvServer(opts: VaultKvServerOptions = {}): Promise<VaultKvServer> {
  const token = opts.token ?? `hvs.${crypto.randomBytes(18).toString('base64url')}`;
  const mounts = opts.mounts ?? { secret: 2, kv: 1 };
  const calls: VaultKvCall[] = [];
  const secrets = new Map<string, unknown[]>();
  const state = { denyWrites: false, broken: false };

  function handle(method: string, path: string, body: string, call: VaultKvCall): { status: number; body?: unknown } {
    const notFound = { status: 404, body: { errors: [`no handler for route "${path}". route entry not found.`] } };
    const denied = { status: 403, body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] } };
    if (call.token !== token) return denied;
    if (state.broken) return { status: 500, body: { errors: ['internal error'] } };
    const slash = path.indexOf('/');
    if (slash <= 0) return notFound;
    const mount = path.slice(0, slash);
    const version = mounts[mount];
    let rest = path.slice(slash + 1);
    if (!version) return notFound;
    if (version === 2) {
      if (!rest.startsWith('data/')) return notFound;
      rest = rest.slice('data/'.length);
    }
    if (!rest) return notFound;
    const key = `${mount}/${rest}`;
    const versions = secrets.get(key);
    if (method === 'GET') {
      if (!versions?.length) return { status: 404, body: { errors: [] } };
      const current = versions[versions.length - 1];
      if (version === 1) return { status: 200, body: { request_id: crypto.randomUUID(), data: current } };
      return {
        status: 200,
        body: {
          request_id: crypto.randomUUID(),
          data: { data: current, metadata: { version: versions.length, deletion_time: '', destroyed: false } },
        },
      };
    }
    if (method !== 'PUT' && method !== 'POST') return { status: 405, body: { errors: [] } };
    if (state.denyWrites) return denied;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body || 'null');
    } catch {
      return { status: 400, body: { errors: ['failed to parse JSON input: invalid character'] } };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return { status: 400, body: { errors: ['no data provided'] } };
    let value: unknown = parsed;
    if (version === 2) {
      value = (parsed as { data?: unknown }).data;
      if (typeof value !== 'object' || value === null) return { status: 400, body: { errors: ['no data provided'] } };
    }
    const list = versions ?? [];
    list.push(value);
    secrets.set(key, list);
    if (version === 1) return { status: 204 };
    return {
      status: 200,
      body: {
        request_id: crypto.randomUUID(),
        data: { created_time: new Date().toISOString(), deletion_time: '', destroyed: false, version: list.length },
      },
    };
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v.join(',') : (v ?? '');
      };
      const call: VaultKvCall = {
        method: req.method ?? '',
        path: u.pathname,
        token: header('x-vault-token'),
        namespace: header('x-vault-namespace'),
        status: 0,
      };
      if (body) {
        try {
          call.body = JSON.parse(body);
        } catch {
          call.body = body;
        }
      }
      calls.push(call);
      const r = u.pathname.startsWith('/v1/')
        ? handle(call.method, decodeURIComponent(u.pathname.slice(4)), body, call)
        : { status: 404, body: { errors: [] } };
      call.status = r.status;
      send(res, r.status, r.body);
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { errors: [String(e)] });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    calls,
    secrets,
    get denyWrites() {
      return state.denyWrites;
    },
    set denyWrites(v: boolean) {
      state.denyWrites = v;
    },
    get broken() {
      return state.broken;
    },
    set broken(v: boolean) {
      state.broken = v;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
