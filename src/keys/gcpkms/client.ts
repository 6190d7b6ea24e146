/**
 * Google Cloud KMS master keys: the data key is encrypted and decrypted by the Cloud KMS
 * Encrypt/Decrypt calls of a symmetric CryptoKey named by its resource ID
 * (`projects/P/locations/L/keyRings/R/cryptoKeys/K`); `enc` holds the returned ciphertext in
 * standard base64, as sops stores it.
 *
 * The `@google-cloud/kms` SDK is loaded on first use only (it brings gRPC and the Google auth
 * library). Environment, read from the key context:
 *
 * - Credentials, in sops's order: `GOOGLE_CREDENTIALS` (a path to a credentials JSON file, or the
 *   JSON itself), else `GOOGLE_OAUTH_ACCESS_TOKEN` (an OAuth 2.0 access token, sent as is), else
 *   Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
 *   `application_default_credentials.json`, the metadata server).
 * - `SOPS_GCP_KMS_CLIENT_TYPE`: `grpc` (default) or `rest`.
 * - `SOPS_GCP_KMS_ENDPOINT` (`host:port`, port 443 when left out) or
 *   `SOPS_GCP_KMS_UNIVERSE_DOMAIN` (endpoint `cloudkms.<domain>:443`); the endpoint wins when both
 *   are set.
 * - `HTTPS_PROXY` / `https_proxy` and `NO_PROXY` / `no_proxy` with Go's rules (../proxy.ts), as
 *   gRPC-go reads them (grpc-js alone reads only the lower-case ones).
 * - `TSOPS_GCP_KMS_INSECURE=1`: talk to `SOPS_GCP_KMS_ENDPOINT` without TLS (plaintext gRPC or
 *   `http://`). For local emulators and tests; refused unless the endpoint is a loopback address,
 *   since the credentials travel in clear.
 * - `TSOPS_GCP_KMS_TIMEOUT`: seconds one call may take (default 10). A call that fails with a
 *   transient error (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL) or
 *   times out is tried again, at most 3 times in all.
 */
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, SopsError, messageOf } from '../../errors.js';
import type { GcpKmsKey, KeyContext, KeySource } from '../types.js';
import { GCP_KMS_ID_FORM, isGcpKmsResourceId } from './key.js';
import { proxyFor, proxyLabel } from '../proxy.js';

/** Connection settings, from the environment (see the module comment). */
export interface GcpKmsSettings {
  transport: 'grpc' | 'rest';
  /** An endpoint override; the SDK's default (`cloudkms.<universe>:443`) when absent. */
  endpoint?: { host: string; port: number };
  universeDomain?: string;
  /** No TLS (loopback endpoints only). */
  insecure: boolean;
  /** Bound on one call, in milliseconds. */
  timeoutMs: number;
  /** Tries per operation, the first included. */
  attempts: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const ATTEMPTS = 3;

function configError(msg: string): SopsError {
  return new SopsError(msg, ExitCode.ErrorGeneric);
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

function parseEndpoint(s: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+)(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[2] === undefined ? 443 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw configError(`SOPS_GCP_KMS_ENDPOINT must be host:port, not ${JSON.stringify(s)}`);
  }
  return { host: m[1]!, port };
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Read the connection settings from `env`. */
export function gcpKmsSettings(env: NodeJS.ProcessEnv): GcpKmsSettings {
  const type = (env['SOPS_GCP_KMS_CLIENT_TYPE'] ?? '').trim().toLowerCase();
  if (type !== '' && type !== 'grpc' && type !== 'rest') {
    throw configError(`SOPS_GCP_KMS_CLIENT_TYPE must be grpc or rest, not ${JSON.stringify(type)}`);
  }
  const endpointVar = (env['SOPS_GCP_KMS_ENDPOINT'] ?? '').trim();
  const universe = (env['SOPS_GCP_KMS_UNIVERSE_DOMAIN'] ?? '').trim();
  let endpoint: GcpKmsSettings['endpoint'];
  if (endpointVar) endpoint = parseEndpoint(endpointVar);
  else if (universe) endpoint = { host: `cloudkms.${universe}`, port: 443 };
  const insecure = isTrue(env['TSOPS_GCP_KMS_INSECURE']);
  if (insecure && !(endpoint && isLoopback(endpoint.host))) {
    throw configError(
      'TSOPS_GCP_KMS_INSECURE needs SOPS_GCP_KMS_ENDPOINT set to a loopback address (localhost, 127.x.x.x or [::1])',
    );
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const t = (env['TSOPS_GCP_KMS_TIMEOUT'] ?? '').trim();
  if (t) {
    const secs = Number(t);
    if (!Number.isFinite(secs) || secs <= 0) {
      throw configError(`TSOPS_GCP_KMS_TIMEOUT must be a number of seconds, not ${JSON.stringify(t)}`);
    }
    timeoutMs = Math.max(1, Math.round(secs * 1000));
  }
  return {
    transport: type === 'rest' ? 'rest' : 'grpc',
    ...(endpoint ? { endpoint } : {}),
    ...(universe ? { universeDomain: universe } : {}),
    insecure,
    timeoutMs,
    attempts: ATTEMPTS,
  };
}

/** Where the credentials come from. Never holds more than needed to build the SDK's options. */
type Credentials =
  | { kind: 'json'; json: Record<string, unknown> }
  | { kind: 'token'; token: string }
  | { kind: 'keyFile'; path: string }
  | { kind: 'default' };

function parseCredentialJson(text: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw configError(`${where} does not hold JSON credentials`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw configError(`${where} does not hold a JSON credentials object`);
  return v as Record<string, unknown>;
}

function fileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readCredentialFile(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(`cannot read the credentials file ${path} named by ${variable}: ${code ?? messageOf(e)}`);
  }
}

/** The credentials sops would use, in its order. */
function resolveCredentials(env: NodeJS.ProcessEnv): Credentials {
  const creds = env['GOOGLE_CREDENTIALS'];
  if (creds) {
    if (fileExists(creds)) {
      return {
        kind: 'json',
        json: parseCredentialJson(
          readCredentialFile(creds, 'GOOGLE_CREDENTIALS'),
          `the file ${creds} named by GOOGLE_CREDENTIALS`,
        ),
      };
    }
    return { kind: 'json', json: parseCredentialJson(creds, 'GOOGLE_CREDENTIALS (neither an existing file nor JSON)') };
  }
  const token = env['GOOGLE_OAUTH_ACCESS_TOKEN'];
  if (token) return { kind: 'token', token: token.trim() };
  const adc = env['GOOGLE_APPLICATION_CREDENTIALS'];
  if (adc) {
    if (!fileExists(adc))
      throw configError(`the credentials file ${adc} named by GOOGLE_APPLICATION_CREDENTIALS does not exist`);
    return { kind: 'keyFile', path: adc };
  }
  const gcloudDir =
    env['CLOUDSDK_CONFIG'] ||
    (process.platform === 'win32'
      ? env['APPDATA']
        ? join(env['APPDATA'], 'gcloud')
        : ''
      : env['HOME']
        ? join(env['HOME'], '.config', 'gcloud')
        : '');
  if (gcloudDir) {
    const wellKnown = join(gcloudDir, 'application_default_credentials.json');
    if (fileExists(wellKnown)) return { kind: 'keyFile', path: wellKnown };
  }
  return { kind: 'default' };
}

// --- the SDK, loaded on first use -----------------------------------------------------------------

type KmsModule = typeof import('@google-cloud/kms');
type GaxModule = typeof import('google-gax');
type KmsClient = InstanceType<KmsModule['KeyManagementServiceClient']>;
type CallOptions = import('google-gax').CallOptions;
type ClientOptions = import('google-gax').ClientOptions;

interface Sdk {
  kms: KmsModule;
  /** The google-gax instance the KMS client itself uses (gRPC, auth library, status codes). */
  gax: GaxModule;
  statusNames: Map<number, string>;
}

let sdk: Promise<Sdk> | undefined;

function loadSdk(): Promise<Sdk> {
  sdk ??= (async () => {
    let kmsPath: string;
    try {
      kmsPath = createRequire(import.meta.url).resolve('@google-cloud/kms');
    } catch {
      throw configError('gcp_kms keys need the @google-cloud/kms package (npm install @google-cloud/kms)');
    }
    const kms = (await import('@google-cloud/kms')) as KmsModule;
    const gax = createRequire(kmsPath)('google-gax') as GaxModule;
    const statusNames = new Map<number, string>();
    for (const [name, code] of Object.entries(gax.Status)) if (typeof code === 'number') statusNames.set(code, name);
    return { kms, gax, statusNames };
  })();
  sdk.catch(() => (sdk = undefined));
  return sdk;
}

/**
 * The proxy gRPC-go (sops) would use for the KMS endpoint: HTTPS_PROXY / https_proxy and
 * NO_PROXY / no_proxy with Go's rules (../proxy.ts). grpc-js on its own reads only the lower-case
 * variables, with other NO_PROXY rules; tsops decides and tells grpc-js (see `initialize`).
 */
function grpcProxy(settings: GcpKmsSettings, env: NodeJS.ProcessEnv): URL | undefined {
  if (settings.transport !== 'grpc' || settings.insecure) return undefined;
  const host = settings.endpoint?.host ?? `cloudkms.${settings.universeDomain ?? 'googleapis.com'}`;
  const port = settings.endpoint?.port ?? 443;
  try {
    return proxyFor(new URL(`https://${host}:${port}`), env);
  } catch (e) {
    throw configError((e as Error).message);
  }
}

function newClient(s: Sdk, settings: GcpKmsSettings, creds: Credentials, proxy: URL | undefined): KmsClient {
  const opts: Record<string, unknown> = {};
  if (settings.endpoint) {
    opts['apiEndpoint'] = settings.endpoint.host;
    opts['port'] = settings.endpoint.port;
  }
  // Without a proxy (as Go decides), grpc-js must not pick one from the environment itself.
  if (!proxy && settings.transport === 'grpc') opts['grpc.enable_http_proxy'] = 0;
  if (settings.universeDomain) opts['universeDomain'] = settings.universeDomain;
  switch (creds.kind) {
    case 'json':
      opts['credentials'] = creds.json;
      break;
    case 'keyFile':
      opts['keyFilename'] = creds.path;
      break;
    case 'token': {
      const client = new s.gax.googleAuthLibrary.OAuth2Client();
      client.setCredentials({ access_token: creds.token });
      opts['authClient'] = client;
      break;
    }
    case 'default':
      break;
  }
  if (settings.transport === 'rest') {
    opts['fallback'] = true;
    if (settings.insecure) opts['protocol'] = 'http';
  } else if (settings.insecure) {
    // Plaintext channel: gRPC sends no call credentials over it, so each call carries the
    // authorization headers itself (see authHeaders).
    opts['sslCreds'] = s.gax.grpc.credentials.createInsecure();
  }
  // Built field by field above; the SDK's option type does not list `protocol` or every credential type.
  return new s.kms.KeyManagementServiceClient(opts as ClientOptions);
}

/**
 * Clients are kept for the life of the process, one per connection settings and credentials, so
 * that later calls reuse the connection and the token; an idle client holds nothing that keeps
 * Node running. A client whose call failed is retired: no new call uses it, and it is closed once
 * the calls still running on it are done.
 */
interface Pooled {
  client: KmsClient;
  active: number;
  retired: boolean;
  /** The proxy its gRPC channel goes through (undefined: direct). */
  proxy: URL | undefined;
  /** The channel, once made (see `initialize`). */
  ready?: Promise<unknown>;
}

/**
 * grpc-js takes its proxy only from process.env (`grpc_proxy`, `no_grpc_proxy`), read when the
 * channel is made. So the channel is made here, with those two set to the proxy tsops chose and
 * restored right after; one channel at a time, so concurrent key groups cannot mix them up.
 */
let envTurn: Promise<void> = Promise.resolve();

function initialize(p: Pooled): Promise<unknown> {
  p.ready ??= (async () => {
    if (!p.proxy) return p.client.initialize();
    const before = envTurn;
    let done!: () => void;
    envTurn = new Promise((r) => (done = r));
    await before;
    const saved = { grpc_proxy: process.env['grpc_proxy'], no_grpc_proxy: process.env['no_grpc_proxy'] };
    process.env['grpc_proxy'] = p.proxy.href;
    // an exclusion that matches nothing, so grpc-js does not fall back to no_proxy
    process.env['no_grpc_proxy'] = 'tsops-no-exclusion.invalid';
    try {
      return await p.client.initialize();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
      done();
    }
  })();
  return p.ready;
}

const clients = new Map<string, Pooled>();

function clientId(settings: GcpKmsSettings, creds: Credentials, proxy: URL | undefined): string {
  const { transport, endpoint, universeDomain, insecure } = settings;
  return createHash('sha256')
    .update(JSON.stringify([transport, endpoint, universeDomain, insecure, creds, proxy?.href ?? '']))
    .digest('hex');
}

function acquire(s: Sdk, settings: GcpKmsSettings, creds: Credentials, proxy: URL | undefined): Pooled {
  const id = clientId(settings, creds, proxy);
  let p = clients.get(id);
  if (!p) {
    p = { client: newClient(s, settings, creds, proxy), active: 0, retired: false, proxy };
    clients.set(id, p);
  }
  p.active++;
  return p;
}

function release(p: Pooled, failed: boolean): void {
  p.active--;
  if (failed && !p.retired) {
    p.retired = true;
    for (const [id, q] of clients) if (q === p) clients.delete(id);
  }
  if (p.retired && p.active === 0) p.client.close().catch(() => {});
}

/** The auth library's request headers, for calls on a plaintext gRPC channel. */
async function authHeaders(client: KmsClient): Promise<Record<string, string>> {
  const auth = await client.auth.getClient();
  const headers = await auth.getRequestHeaders();
  const out: Record<string, string> = {};
  headers.forEach((v: string, k: string) => (out[k] = v));
  return out;
}

// --- calls: timeout, bounded retry, one-line errors ---------------------------------------------

const RETRYABLE = new Set([
  4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */,
]);

class CallError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

function oneLine(s: string): string {
  return s
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * A failed REST call: the transport's error carries the HTTP status and Google's JSON error body
 * (`{"error": {"code": 403, "message": "…", "status": "PERMISSION_DENIED"}}`).
 */
function restFailure(s: Sdk, e: unknown): CallError | undefined {
  const err = e as { status?: unknown; response?: { status?: unknown; data?: unknown }; message?: unknown };
  const httpStatus =
    typeof err.status === 'number'
      ? err.status
      : typeof err.response?.status === 'number'
        ? err.response.status
        : undefined;
  if (httpStatus === undefined || httpStatus < 400) return undefined;
  let body: unknown = err.response?.data;
  if (typeof body === 'string' || body === undefined) {
    try {
      body = JSON.parse(typeof body === 'string' ? body : String(err.message));
    } catch {
      body = undefined;
    }
  }
  const g = (body as { error?: { message?: unknown; status?: unknown } } | undefined)?.error;
  const message = oneLine(
    typeof g?.message === 'string' && g.message ? g.message : typeof err.message === 'string' ? err.message : '',
  );
  const statusName = typeof g?.status === 'string' ? g.status : '';
  const code = statusName ? (s.gax.Status as unknown as Record<string, number>)[statusName] : undefined;
  const retryable = code !== undefined ? RETRYABLE.has(code) : httpStatus === 429 || httpStatus >= 500;
  const head = code !== undefined ? `${statusName} (code ${code}, HTTP ${httpStatus})` : `HTTP ${httpStatus}`;
  const hint =
    httpStatus === 401
      ? ' (check the credentials: GOOGLE_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN or Application Default Credentials)'
      : '';
  return new CallError(`${head}: ${message || 'no details'}${hint}`, retryable);
}

/** Turn what the SDK threw into a CallError saying what the service (or the auth library) said. */
function describeFailure(s: Sdk, e: unknown): CallError {
  if (e instanceof CallError) return e;
  if (e instanceof SopsError) return new CallError(e.message, false);
  const err = e as { code?: unknown; details?: unknown; message?: unknown };
  const message = messageOf(e);
  if (/could not load the default credentials/i.test(message)) {
    return new CallError(
      'no Google credentials found: set GOOGLE_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`',
      false,
    );
  }
  const rest = restFailure(s, e);
  if (rest) return rest;
  if (typeof err.code === 'number' && s.statusNames.has(err.code)) {
    const name = s.statusNames.get(err.code)!;
    let detail =
      typeof err.details === 'string' && err.details ? err.details : message.replace(/^\d+\s+[A-Z_]+:\s*/, '');
    detail = oneLine(detail);
    const hint =
      err.code === 16
        ? ' (check the credentials: GOOGLE_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN or Application Default Credentials)'
        : '';
    return new CallError(`${name} (code ${err.code}): ${detail || 'no details'}${hint}`, RETRYABLE.has(err.code));
  }
  // Network errors from the auth library or the REST transport (no gRPC status).
  const code = typeof err.code === 'string' ? err.code : '';
  const network = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EPIPE|ENOTFOUND|UND_ERR_)/.test(code);
  return new CallError(
    oneLine(code && !message.includes(code) ? `${code}: ${message}` : message),
    network && code !== 'ENOTFOUND',
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Run one call with the timeout; a call that outlives it is abandoned (the client is closed later). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CallError(`DEADLINE_EXCEEDED (code 4): no answer within ${ms / 1000} s`, true)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type Op = 'Encrypt' | 'Decrypt';

async function callKms<T>(
  key: GcpKmsKey,
  op: Op,
  ctx: KeyContext,
  run: (client: KmsClient, options: CallOptions) => Promise<T>,
): Promise<T> {
  if (!isGcpKmsResourceId(key.resourceId)) {
    throw configError(`no valid GCP KMS resource ID in ${JSON.stringify(key.resourceId)}: expected ${GCP_KMS_ID_FORM}`);
  }
  const settings = gcpKmsSettings(ctx.env);
  const creds = resolveCredentials(ctx.env);
  const s = await loadSdk();
  const proxy = grpcProxy(settings, ctx.env);
  const pooled = acquire(s, settings, creds, proxy);
  const client = pooled.client;
  const where = settings.endpoint ? `${settings.endpoint.host}:${settings.endpoint.port}` : 'the default endpoint';
  let last: CallError | undefined;
  let tries = 0;
  let ok = false;
  try {
    for (let attempt = 1; attempt <= settings.attempts; attempt++) {
      tries = attempt;
      ctx.log(
        `GCP KMS ${op} with ${key.resourceId} (${settings.transport}${settings.insecure ? ', no TLS' : ''}, ${where}${proxy ? ` through the proxy ${proxyLabel(proxy)}` : ''}, attempt ${attempt})`,
      );
      try {
        const attemptRun = async () => {
          await initialize(pooled);
          const options: CallOptions = { timeout: settings.timeoutMs, retry: null };
          if (settings.insecure && settings.transport === 'grpc')
            options.otherArgs = { headers: await authHeaders(client) };
          return run(client, options);
        };
        // The gRPC deadline normally fires first; the outer bound also covers getting a token.
        const result = await withTimeout(attemptRun(), settings.timeoutMs + 250);
        ok = true;
        return result;
      } catch (e) {
        last = describeFailure(s, e);
        if (!last.retryable || attempt === settings.attempts) break;
        const backoff = Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
        ctx.log(`GCP KMS ${op} with ${key.resourceId}: ${last.message}; trying again in ${Math.round(backoff)} ms`);
        await sleep(backoff);
      }
    }
  } finally {
    release(pooled, !ok);
  }
  const after = tries > 1 ? ` after ${tries} attempts` : '';
  throw new SopsError(
    `GCP KMS ${op} with ${key.resourceId} failed${after}: ${last?.message ?? 'unknown error'}`,
    ExitCode.CouldNotRetrieveKey,
  );
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The Cloud KMS key source. */
export const source: KeySource<GcpKmsKey> = {
  async wrap(key, dataKey, ctx) {
    const ciphertext = await callKms(key, 'Encrypt', ctx, async (client, options) => {
      const [resp] = await client.encrypt({ name: key.resourceId, plaintext: dataKey }, options);
      if (!resp.ciphertext || resp.ciphertext.length === 0)
        throw new CallError('the service returned no ciphertext', false);
      return Buffer.from(resp.ciphertext as Uint8Array);
    });
    return ciphertext.toString('base64');
  },

  async unwrap(key, ctx) {
    const enc = key.enc.trim();
    if (!STRICT_BASE64.test(enc)) {
      throw new SopsError(
        `the encrypted data key for GCP KMS key ${key.resourceId} is not valid base64`,
        ExitCode.CouldNotRetrieveKey,
      );
    }
    const ciphertext = Buffer.from(enc, 'base64');
    return callKms(key, 'Decrypt', ctx, async (client, options) => {
      const [resp] = await client.decrypt({ name: key.resourceId, ciphertext }, options);
      if (!resp.plaintext) throw new CallError('the service returned no plaintext', false);
      return Buffer.from(resp.plaintext as Uint8Array);
    });
  },
};
