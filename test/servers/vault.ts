/**
 * A loopback stand-in for HashiCorp Vault's transit secrets engine (the two calls sops makes):
 *   POST|PUT /v1/{engine path}/encrypt/{key}   {plaintext: base64}  -> {data: {ciphertext: 'vault:v1:…'}}
 *   POST|PUT /v1/{engine path}/decrypt/{key}   {ciphertext}         -> {data: {plaintext: base64}}
 * Engine paths may contain slashes. Keys are created on first encrypt (AES-256-GCM, like Vault's
 * default key type). Errors use Vault's body shape `{"errors": [...]}`, including its multi-error
 * text for permission denied. Plain HTTP, or HTTPS with a throwaway certificate (`tls: true`).
 *
 * The server checks `X-Vault-Token` and (when `namespace` is set) `X-Vault-Namespace`, can deny
 * (403), fail the next N requests with 500, delay or hold answers, and records every call.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observer } from './observe.js';
import { makeTestTls } from './tls.js';

export interface VaultCall {
  method: string;
  path: string;
  /** X-Vault-Token as sent ('' when absent). */
  token: string;
  /** X-Vault-Namespace as sent ('' when absent). */
  namespace: string;
  /** X-Vault-Request as sent. */
  vaultRequest: string;
  headers: http.IncomingHttpHeaders;
  body?: unknown;
}

export interface VaultServerOptions {
  /** The token requests must carry; a random one by default. */
  token?: string;
  /** When set, requests must carry this X-Vault-Namespace (else 403, as for a wrong namespace). */
  namespace?: string;
  /** Serve HTTPS with a throwaway self-signed certificate (see `ca`). */
  tls?: boolean;
  /** Hears every request and answer (see ./observe.ts); may hold requests. */
  observer?: Observer;
}

export interface VaultServer {
  /** `http(s)://127.0.0.1:PORT` */
  readonly url: string;
  /** The certificate to trust, PEM (HTTPS only). */
  readonly ca: string;
  readonly token: string;
  readonly calls: VaultCall[];
  /** TCP connections accepted so far (a refused client must not even connect). */
  readonly connections: number;
  /** Answer transit requests with 403 permission denied. */
  deny: boolean;
  /** Answer the next N transit requests with 500. */
  failNext: number;
  /** Milliseconds to wait before answering. */
  delayMs: number;
  /** Never answer (until close). */
  hang: boolean;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errors(res: ServerResponse, status: number, ...msgs: string[]): void {
  send(res, status, { errors: msgs });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startVaultServer(opts: VaultServerOptions = {}): Promise<VaultServer> {
  const token = opts.token ?? `hvs.${crypto.randomBytes(18).toString('base64url')}`;
  const keys = new Map<string, Buffer>();
  const calls: VaultCall[] = [];
  const held = new Set<ServerResponse>();
  const state = { deny: false, failNext: 0, delayMs: 0, hang: false };
  const tls = opts.tls ? makeTestTls() : undefined;

  function response(op: string, key: string, body: string): { status: number; body: unknown } {
    let params: { plaintext?: unknown; ciphertext?: unknown };
    try {
      params = JSON.parse(body || '{}') as typeof params;
    } catch {
      return { status: 400, body: { errors: ['failed to parse JSON input: invalid character'] } };
    }
    if (op === 'encrypt') {
      if (typeof params.plaintext !== 'string')
        return { status: 400, body: { errors: ['missing plaintext to encrypt'] } };
      const pt = Buffer.from(params.plaintext, 'base64');
      if (pt.toString('base64') !== params.plaintext)
        return { status: 400, body: { errors: ['failed to base64-decode plaintext'] } };
      let k = keys.get(key);
      if (!k) {
        k = crypto.randomBytes(32);
        keys.set(key, k);
      }
      const nonce = crypto.randomBytes(12);
      const c = crypto.createCipheriv('aes-256-gcm', k, nonce);
      const ct = Buffer.concat([nonce, c.update(pt), c.final(), c.getAuthTag()]);
      return {
        status: 200,
        body: {
          request_id: crypto.randomUUID(),
          data: { ciphertext: `vault:v1:${ct.toString('base64')}`, key_version: 1 },
        },
      };
    }
    if (typeof params.ciphertext !== 'string')
      return { status: 400, body: { errors: ['missing ciphertext to decrypt'] } };
    const k = keys.get(key);
    if (!k) return { status: 400, body: { errors: ['encryption key not found'] } };
    const m = /^vault:v1:(.+)$/.exec(params.ciphertext);
    if (!m) return { status: 400, body: { errors: ['invalid ciphertext: no prefix'] } };
    const raw = Buffer.from(m[1]!, 'base64');
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', k, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      const pt = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
      return { status: 200, body: { request_id: crypto.randomUUID(), data: { plaintext: pt.toString('base64') } } };
    } catch {
      return { status: 400, body: { errors: ['cipher: message authentication failed'] } };
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v.join(',') : (v ?? '');
      };
      const call: VaultCall = {
        method: req.method ?? '',
        path: u.pathname,
        token: header('x-vault-token'),
        namespace: header('x-vault-namespace'),
        vaultRequest: header('x-vault-request'),
        headers: req.headers,
      };
      if (body) {
        try {
          call.body = JSON.parse(body);
        } catch {
          call.body = body;
        }
      }
      calls.push(call);
      if (opts.observer) {
        const what = `${call.method} ${call.path}`;
        res.once('finish', () => opts.observer!.answered('vault', what));
        await opts.observer.arrived('vault', what);
        if (res.destroyed) return;
      }
      if (state.hang) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
      const m = /^\/v1\/(.+)\/(encrypt|decrypt)\/([^/]+)$/.exec(u.pathname);
      if (!m || (req.method !== 'POST' && req.method !== 'PUT')) {
        errors(res, 404, `no handler for route "${u.pathname.slice(4)}". route entry not found.`);
        return;
      }
      if (state.failNext > 0) {
        state.failNext--;
        errors(res, 500, 'internal error');
        return;
      }
      if (call.token !== token || state.deny) {
        errors(res, 403, '1 error occurred:\n\t* permission denied\n\n');
        return;
      }
      if (opts.namespace !== undefined && call.namespace !== opts.namespace) {
        errors(res, 403, '1 error occurred:\n\t* permission denied\n\n');
        return;
      }
      const r = response(m[2]!, `${m[1]}\0${m[3]}`, body);
      send(res, r.status, r.body);
    })().catch((e: unknown) => {
      if (!res.headersSent) errors(res, 500, String(e));
    });
  };

  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    ca: tls?.cert ?? '',
    token,
    calls,
    get connections() {
      return connections;
    },
    get deny() {
      return state.deny;
    },
    set deny(v: boolean) {
      state.deny = v;
    },
    get failNext() {
      return state.failNext;
    },
    set failNext(v: number) {
      state.failNext = v;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    get hang() {
      return state.hang;
    },
    set hang(v: boolean) {
      state.hang = v;
    },
    close(): Promise<void> {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
