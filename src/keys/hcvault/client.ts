/**
 * HashiCorp Vault transit keys, as sops uses them: the data key (base64) is PUT to
 * `{vault_address}/v1/{engine_path}/encrypt/{key_name}` and the `vault:v1:…` ciphertext Vault
 * returns is stored verbatim as `enc`; `…/decrypt/{key_name}` reverses it. Plain HTTP API, no SDK.
 *
 * The environment (`ctx.env`) is read the way sops's Vault client reads it:
 *  - VAULT_TOKEN, else the file `~/.vault-token` (HOME from the environment), else no token (a Vault
 *    agent may add one);
 *  - VAULT_NAMESPACE, sent as `X-Vault-Namespace`; VAULT_HEADERS, a JSON object of extra headers
 *    (no `X-Vault-*` ones);
 *  - VAULT_ADDR is *not* used: the key's own `vault_address` always wins, as in sops. VAULT_AGENT_ADDR,
 *    when set, replaces it (every request goes through the agent; `unix://` sockets work);
 *  - VAULT_CACERT, VAULT_CACERT_BYTES, VAULT_CAPATH, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY,
 *    VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME for TLS;
 *  - VAULT_CLIENT_TIMEOUT (per attempt; seconds or a duration such as `500ms`, default 60 s) and
 *    VAULT_MAX_RETRIES (default 2): failed connections, 412 and 5xx answers (not 501) are retried
 *    with a growing, jittered delay;
 *  - VAULT_DISABLE_REDIRECTS stops following a standby node's redirect to the active node.
 *  - HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and lower case) as Go's net/http reads them (../proxy.ts);
 *  - SOPS_HC_VAULT_ALLOWLIST (sops 3.13, see ./key.ts) is checked before anything else: a refused
 *    server is never connected to, and a redirect to a server outside the list is not followed.
 * VAULT_HTTP_PROXY / VAULT_PROXY_ADDR are not supported.
 *
 * Requests use node:http(s) rather than fetch so the TLS settings above can apply.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { KeyContext, KeySource, VaultKey } from '../types.js';
import { vaultAllowlistProblem, vaultKeyUri } from './key.js';
import { ProxyingHttpsAgent, proxyAuthorization, proxyFor } from '../proxy.js';

export interface VaultOptions {
  /** Per-attempt timeout when VAULT_CLIENT_TIMEOUT is unset. Default 60 000 ms. */
  timeoutMs?: number;
  /** Retries when VAULT_MAX_RETRIES is unset. Default 2. */
  maxRetries?: number;
  /** The first retry's delay (then 2×, 3×…, each with up to 50% jitter). Default 1000 ms. */
  retryDelayMs?: number;
}

/** A Go-style duration (`90s`, `1m30s`, `500ms`) or a bare number of seconds, in ms. */
function parseDuration(v: string): number | undefined {
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = t;
  if (!rest) return undefined;
  while (rest) {
    // (µ written \u00b5: one non-ASCII character makes the whole one-file bundle a two-byte string)
    const m = /^(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

function envText(env: NodeJS.ProcessEnv, name: string): string {
  return (env[name] ?? '').trim();
}

interface Settings {
  /** The caller's environment (the proxy for each request is chosen from it). */
  env: NodeJS.ProcessEnv;
  base: URL;
  socketPath?: string;
  token: string;
  tokenSource: string;
  headers: Record<string, string>;
  tls: https.RequestOptions;
  timeoutMs: number;
  maxRetries: number;
  followRedirects: boolean;
}

function readToken(env: NodeJS.ProcessEnv): { token: string; source: string } {
  const fromEnv = env['VAULT_TOKEN'] ?? '';
  if (fromEnv !== '') return { token: fromEnv, source: 'VAULT_TOKEN' };
  const home = env['HOME'] || (process.platform === 'win32' ? env['USERPROFILE'] : '') || os.homedir();
  const file = path.join(home, '.vault-token');
  try {
    return { token: fs.readFileSync(file, 'utf8').trim(), source: file };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { token: '', source: '' };
    throw new Error(
      `cannot read the Vault token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
}

function settingsFor(key: Pick<VaultKey, 'vaultAddress'>, env: NodeJS.ProcessEnv, opts: VaultOptions): Settings {
  let address = key.vaultAddress;
  let socketPath: string | undefined;
  const agent = envText(env, 'VAULT_AGENT_ADDR');
  if (agent) address = agent;
  if (address.startsWith('unix://')) {
    socketPath = address.slice('unix://'.length);
    address = 'http://localhost';
  }
  let base: URL;
  try {
    base = new URL(address);
  } catch {
    throw new Error(`invalid Vault address ${JSON.stringify(address)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`Vault address ${address} must use http or https`);

  const { token, source } = readToken(env);
  const headers: Record<string, string> = {};
  const extra = envText(env, 'VAULT_HEADERS');
  if (extra) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(extra);
    } catch {
      throw new Error('VAULT_HEADERS is not a JSON object');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('VAULT_HEADERS is not a JSON object');
    for (const [k, v] of Object.entries(parsed)) {
      if (/^x-vault-/i.test(k))
        throw new Error(`VAULT_HEADERS may not set ${k}: X-Vault-* headers are for Vault's own use`);
      if (typeof v !== 'string') throw new Error(`VAULT_HEADERS: the value of ${k} must be a string`);
      headers[k] = v;
    }
  }
  headers['X-Vault-Request'] = 'true';
  if (token) headers['X-Vault-Token'] = token;
  const ns = envText(env, 'VAULT_NAMESPACE');
  if (ns) headers['X-Vault-Namespace'] = ns;

  const tls: https.RequestOptions = {};
  const cas: Buffer[] = [];
  const caFile = envText(env, 'VAULT_CACERT');
  if (caFile) cas.push(readPem(caFile, 'VAULT_CACERT'));
  const caBytes = env['VAULT_CACERT_BYTES'];
  if (caBytes) cas.push(Buffer.from(caBytes));
  const caPath = envText(env, 'VAULT_CAPATH');
  if (caPath) {
    let names: string[];
    try {
      names = fs.readdirSync(caPath);
    } catch (e) {
      throw new Error(
        `cannot read VAULT_CAPATH ${caPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { cause: e },
      );
    }
    for (const n of names.sort()) {
      const f = path.join(caPath, n);
      if (fs.statSync(f).isFile()) cas.push(readPem(f, 'a CA file in VAULT_CAPATH'));
    }
  }
  if (cas.length) tls.ca = cas;
  const cert = envText(env, 'VAULT_CLIENT_CERT');
  const certKey = envText(env, 'VAULT_CLIENT_KEY');
  if (cert && certKey) {
    tls.cert = readPem(cert, 'VAULT_CLIENT_CERT');
    tls.key = readPem(certKey, 'VAULT_CLIENT_KEY');
  }
  const skip = envText(env, 'VAULT_SKIP_VERIFY');
  if (skip) {
    if (!/^(1|t|true|0|f|false)$/i.test(skip)) throw new Error('could not parse VAULT_SKIP_VERIFY');
    if (/^(1|t|true)$/i.test(skip)) tls.rejectUnauthorized = false;
  }
  const serverName = envText(env, 'VAULT_TLS_SERVER_NAME');
  if (serverName) tls.servername = serverName;

  let timeoutMs = opts.timeoutMs ?? 60_000;
  const t = envText(env, 'VAULT_CLIENT_TIMEOUT');
  if (t) {
    const ms = parseDuration(t);
    if (ms === undefined || ms <= 0) throw new Error('could not parse VAULT_CLIENT_TIMEOUT');
    timeoutMs = ms;
  }
  let maxRetries = opts.maxRetries ?? 2;
  const r = envText(env, 'VAULT_MAX_RETRIES');
  if (r) {
    if (!/^\d+$/.test(r)) throw new Error('could not parse VAULT_MAX_RETRIES');
    maxRetries = Number(r);
  }
  const noRedirects = envText(env, 'VAULT_DISABLE_REDIRECTS');
  return {
    env,
    base,
    ...(socketPath ? { socketPath } : {}),
    token,
    tokenSource: source,
    headers,
    tls,
    timeoutMs,
    maxRetries,
    followRedirects: !/^(1|t|true)$/i.test(noRedirects),
  };
}

interface Answer {
  status: number;
  body: string;
  location?: string;
}

/** A failed attempt that may be retried; `final` ones are not. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

const NO_RETRY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_INVALID_URL',
  'ENOTFOUND',
]);

/**
 * How one request travels: directly, through a CONNECT tunnel (https, see ../proxy.ts) or, for
 * http:// with HTTP_PROXY, sent to the proxy in absolute form — as Go's net/http does.
 */
function route(url: URL, s: Settings): { agent: http.Agent | false; forwardTo?: URL; headers: Record<string, string> } {
  if (s.socketPath) return { agent: false, headers: {} };
  if (url.protocol === 'https:') return { agent: new ProxyingHttpsAgent(s.env), headers: {} };
  let proxy: URL | undefined;
  try {
    proxy = proxyFor(url, s.env);
  } catch (e) {
    throw new AttemptError((e as Error).message, false);
  }
  if (!proxy) return { agent: false, headers: {} };
  if (proxy.protocol !== 'http:')
    throw new AttemptError(`HTTP_PROXY must be an http:// proxy for the http:// Vault address ${url.origin}`, false);
  const auth = proxyAuthorization(proxy);
  return {
    agent: false,
    forwardTo: proxy,
    headers: { Host: url.host, ...(auth ? { 'Proxy-Authorization': auth } : {}) },
  };
}

function requestOnce(url: URL, s: Settings, body: string, method: 'GET' | 'PUT'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const via = route(url, s);
    const where: http.RequestOptions = via.forwardTo
      ? { host: via.forwardTo.hostname.replace(/^\[|\]$/g, ''), port: Number(via.forwardTo.port || 80), path: url.href }
      : {
          protocol: url.protocol,
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port ? Number(url.port) : undefined,
          path: `${url.pathname}${url.search}`,
        };
    const req = lib.request(
      {
        ...where,
        // PUT for writes, as sops's Vault client sends them (Vault treats POST and PUT alike)
        method,
        ...(s.socketPath ? { socketPath: s.socketPath } : {}),
        headers: {
          ...s.headers,
          ...via.headers,
          ...(method === 'PUT'
            ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }
            : {}),
          'User-Agent': 'tsops',
        },
        ...(url.protocol === 'https:' ? s.tls : {}),
        agent: via.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(typeof res.headers.location === 'string' ? { location: res.headers.location } : {}),
          });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(new AttemptError(e.message, true));
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new AttemptError(`no answer within ${s.timeoutMs / 1000} s`, true));
    }, s.timeoutMs);
    req.on('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      if (e instanceof AttemptError) return reject(e);
      const text = e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message || String(e.code);
      reject(new AttemptError(text, !NO_RETRY_CODES.has(e.code ?? '')));
    });
    req.end(method === 'PUT' ? body : undefined);
  });
}

/** Vault's `{"errors": [...]}` as one line ("1 error occurred: * permission denied" → "permission denied"). */
function vaultErrors(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const t = body.replace(/\s+/g, ' ').trim();
    return t.length > 200 ? `${t.slice(0, 199)}…` : t;
  }
  const errors = (parsed as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return '';
  const parts: string[] = [];
  for (const e of errors) {
    const text = String(e)
      .replace(/^\s*\d+ errors? occurred:\s*/, '')
      .split(/(?:^|\n)\s*\*\s+/)
      .map((x) => x.replace(/\s+/g, ' ').trim())
      .filter(Boolean);
    parts.push(...text);
  }
  const line = parts.join('; ');
  return line.length > 400 ? `${line.slice(0, 399)}…` : line;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The final answer to one Vault request, after retries and redirects. */
export interface VaultAnswer {
  status: number;
  body: string;
  /** Whether a token was sent (and where it came from, for --verbose). */
  token: boolean;
}

/**
 * Send one request to the Vault API at `address` (`/v1/…` path `apiPath`), as sops's Vault client
 * sends it: the VAULT_* settings above, retries on failed connections, 412 and 5xx answers,
 * redirects followed (at most 2; one to another server only when SOPS_HC_VAULT_ALLOWLIST allows it).
 * Resolves to the last answer whatever its status; throws an Error saying why when no answer came.
 * The caller checks SOPS_HC_VAULT_ALLOWLIST for `address` itself where sops does.
 */
export async function vaultRequest(
  address: string,
  method: 'GET' | 'PUT',
  apiPath: string,
  payload: string,
  ctx: KeyContext,
  opts: VaultOptions = {},
): Promise<VaultAnswer> {
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const s = settingsFor({ vaultAddress: address }, ctx.env, opts);
  ctx.log(`vault: ${s.token ? `token from ${s.tokenSource}` : 'no Vault token (VAULT_TOKEN, ~/.vault-token)'}`);
  let url = new URL(`${s.base.pathname.replace(/\/+$/, '')}/v1/${apiPath.replace(/^\/+/, '')}`, s.base);
  let redirects = 0;
  for (let attempt = 0; ; attempt++) {
    let answer: Answer;
    try {
      answer = await requestOnce(url, s, payload, method);
    } catch (e) {
      const err = e instanceof AttemptError ? e : new AttemptError(String(e), false);
      if (err.retry && attempt < s.maxRetries) {
        ctx.log(`vault: ${url.origin}: ${err.message}; retrying`);
        await sleep(retryDelayMs * (attempt + 1) * (1 + Math.random() / 2));
        continue;
      }
      throw new Error(`${err.message}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`, { cause: e });
    }
    const { status } = answer;
    if (
      [301, 302, 307, 308].includes(status) &&
      answer.location &&
      s.followRedirects &&
      !s.socketPath &&
      redirects < 2
    ) {
      redirects++;
      const next = new URL(answer.location, url);
      // a redirect to another server must be allowed too (the token would travel with it)
      const away = next.origin !== url.origin ? vaultAllowlistProblem(next.origin, ctx.env) : undefined;
      if (away) throw new Error(`refused to follow the redirect to ${next.origin}: ${away}`);
      url = next;
      attempt--;
      continue;
    }
    if ((status === 412 || (status >= 500 && status !== 501)) && attempt < s.maxRetries) {
      ctx.log(`vault: ${url.origin} answered ${status}; retrying`);
      await sleep(retryDelayMs * (attempt + 1) * (1 + Math.random() / 2));
      continue;
    }
    return { status, body: answer.body, token: s.token !== '' };
  }
}

/** One line for a Vault answer that is not a success: the status and Vault's error text. */
export function vaultFailure(a: VaultAnswer): string {
  let why = `${a.status} ${vaultErrors(a.body) || http.STATUS_CODES[a.status] || 'error'}`;
  if (!a.token && (a.status === 400 || a.status === 403))
    why += ' (no Vault token: set VAULT_TOKEN or write ~/.vault-token)';
  return why;
}

/** A Vault transit key source; `opts` set defaults for what the VAULT_* variables do not. */
export function createVaultSource(opts: VaultOptions = {}): KeySource<VaultKey> {
  /** Send one transit operation with retries; returns the response's `data`. */
  async function call(
    op: 'encrypt' | 'decrypt',
    key: VaultKey,
    payload: Record<string, string>,
    ctx: KeyContext,
  ): Promise<Record<string, unknown>> {
    const verb = op === 'encrypt' ? 'encrypt sops data key with' : 'decrypt sops data key with';
    const fail = (why: string) => {
      const msg = `failed to ${verb} Vault transit key '${vaultKeyUri(key)}': ${why}`;
      ctx.log(`hc_vault: ${msg}`);
      return new Error(msg);
    };
    // SOPS_HC_VAULT_ALLOWLIST: refuse before reading the token or opening any connection
    const refused = vaultAllowlistProblem(key.vaultAddress, ctx.env);
    if (refused) throw fail(`refused: ${refused}`);
    const enginePath = key.enginePath.replace(/^\/+|\/+$/g, '');
    let answer: VaultAnswer;
    try {
      answer = await vaultRequest(
        key.vaultAddress,
        'PUT',
        `${enginePath ? `${enginePath}/` : ''}${op}/${key.keyName}`,
        JSON.stringify(payload),
        ctx,
        opts,
      );
    } catch (e) {
      throw fail((e as Error).message);
    }
    if (answer.status < 200 || answer.status >= 300) throw fail(vaultFailure(answer));
    let parsed: unknown;
    try {
      parsed = answer.body ? JSON.parse(answer.body) : null;
    } catch {
      throw fail('the answer is not JSON');
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (typeof data !== 'object' || data === null)
      throw fail(`the transit backend at ${enginePath}/${op}/${key.keyName} returned no data`);
    return data as Record<string, unknown>;
  }

  return {
    async wrap(key, dataKey, ctx) {
      const data = await call('encrypt', key, { plaintext: dataKey.toString('base64') }, ctx);
      const ct = data['ciphertext'];
      if (typeof ct !== 'string' || ct === '') {
        throw new Error(
          `failed to encrypt sops data key with Vault transit key '${vaultKeyUri(key)}': the answer has no ciphertext`,
        );
      }
      ctx.log(`hc_vault: encrypted data key with ${vaultKeyUri(key)}`);
      return ct;
    },

    async unwrap(key, ctx) {
      if (!key.enc) throw new Error(`Vault transit key '${vaultKeyUri(key)}' has no encrypted data key`);
      const data = await call('decrypt', key, { ciphertext: key.enc }, ctx);
      const pt = data['plaintext'];
      if (typeof pt !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(pt)) {
        throw new Error(
          `failed to decrypt sops data key with Vault transit key '${vaultKeyUri(key)}': the answer has no base64 plaintext`,
        );
      }
      ctx.log(`hc_vault: decrypted data key with ${vaultKeyUri(key)}`);
      return Buffer.from(pt, 'base64');
    },
  };
}

/** The Vault transit key source with default options. */
export const source: KeySource<VaultKey> = createVaultSource();
