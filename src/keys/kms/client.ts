/**
 * AWS KMS master keys, as sops uses them: the data key is sent to KMS `Encrypt` under the key ARN
 * (with the entry's encryption context) and `enc` holds the standard base64 of the CiphertextBlob;
 * `Decrypt` gets the blob back with the same ARN and context.
 *
 * - The region is the one in the key ARN.
 * - Credentials, in the order sops (aws-sdk-go-v2) resolves them: the entry's `aws_profile` from the
 *   shared config/credentials files; else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
 *   (`AWS_SESSION_TOKEN`); else the SDK's default chain (`AWS_PROFILE` or the default profile, SSO,
 *   credential_process, web identity, container and instance metadata).
 * - With a `role`, those credentials call STS `AssumeRole` (session name `sops@<hostname>`, as
 *   sops names it) and the temporary credentials sign the KMS call.
 * - Endpoints: `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL` (unless
 *   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`).
 * - Connections: HTTPS_PROXY / NO_PROXY as sops's Go SDK reads them (../proxy.ts); AWS_CA_BUNDLE
 *   (PEM) is trusted besides Node's own CAs.
 * - Every HTTP attempt has a timeout (`TSOPS_KMS_TIMEOUT_MS`, default 10 s) and a call makes at most
 *   `AWS_MAX_ATTEMPTS` attempts (default 3).
 *
 * All of these settings are read from the caller's `KeyContext.env`, not from `process.env`; only
 * the parts of the default credential chain the SDK runs itself (SSO caches, instance metadata…)
 * look at the process environment. The AWS SDK is imported on first use.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import tls from 'node:tls';
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import { ExitCode, MasterKeyError, SopsError } from '../../errors.js';
import type { KeyContext, KeySource, KmsKey } from '../types.js';
import { describeKey } from '../identity.js';
import { kmsRegion } from './key.js';
import { ProxyingHttpsAgent } from '../proxy.js';

/** Characters sops drops from the hostname in the STS session name (as its Go pattern reads them). */
const SESSION_NAME_DROP = /[^a-zA-Z0-9=,.@-_]+/g;
const SESSION_NAME_MAX = 64;

/** Per-attempt timeout when `TSOPS_KMS_TIMEOUT_MS` is unset. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Attempts per call (the first one and the retries) when `AWS_MAX_ATTEMPTS` is unset. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** The STS session name sops uses: `sops@` and the hostname, cleaned and cut to 64 characters. */
export function stsSessionName(hostname: string = os.hostname()): string {
  return `sops@${hostname.replace(SESSION_NAME_DROP, '')}`.slice(0, SESSION_NAME_MAX);
}

type Credentials = NonNullable<KMSClientConfig['credentials']>;

interface Settings {
  region: string;
  /** Connections: the proxy from HTTPS_PROXY/NO_PROXY (as Go picks it) and AWS_CA_BUNDLE. */
  httpsAgent: ProxyingHttpsAgent;
  timeoutMs: number;
  maxAttempts: number;
  kmsEndpoint?: string;
  stsEndpoint?: string;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const v = env[name];
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v.trim());
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new SopsError(
      `${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(v)}`,
      ExitCode.ErrorGeneric,
    );
  }
  return n;
}

/** The endpoint the AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL variables set for `service`, if any. */
export function awsEndpoint(env: NodeJS.ProcessEnv, service: 'KMS' | 'STS' | 'S3'): string | undefined {
  if ((env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'] ?? '').toLowerCase() === 'true') return undefined;
  for (const name of [`AWS_ENDPOINT_URL_${service}`, 'AWS_ENDPOINT_URL']) {
    const v = env[name];
    if (!v) continue;
    let u: URL | undefined;
    try {
      u = new URL(v);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new SopsError(`${name} must be an http(s) URL, not ${JSON.stringify(v)}`, ExitCode.ErrorGeneric);
    }
    return v;
  }
  return undefined;
}

function settingsFor(key: KmsKey, env: NodeJS.ProcessEnv): Settings {
  const region = kmsRegion(key.arn);
  if (!region) {
    throw new MasterKeyError(
      describeKey(key),
      `no valid KMS key ARN found in ${JSON.stringify(key.arn)} (expected arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME)`,
      ExitCode.ErrorGeneric,
    );
  }
  return {
    region,
    httpsAgent: awsHttpsAgent(env),
    timeoutMs: positiveInt(env, 'TSOPS_KMS_TIMEOUT_MS', DEFAULT_TIMEOUT_MS, 600_000),
    maxAttempts: positiveInt(env, 'AWS_MAX_ATTEMPTS', DEFAULT_MAX_ATTEMPTS, 10),
    kmsEndpoint: awsEndpoint(env, 'KMS'),
    stsEndpoint: awsEndpoint(env, 'STS'),
  };
}

/**
 * The agent every AWS client connects through: HTTPS_PROXY / NO_PROXY as sops's Go SDK reads them
 * (see ../proxy.ts), and AWS_CA_BUNDLE (PEM certificates trusted besides Node's own), as the Go SDK.
 */
export function awsHttpsAgent(env: NodeJS.ProcessEnv): ProxyingHttpsAgent {
  const bundle = (env['AWS_CA_BUNDLE'] ?? '').trim();
  let ca: string[] | undefined;
  if (bundle) {
    try {
      ca = [...tls.rootCertificates, readFileSync(bundle, 'utf8')];
    } catch (e) {
      throw new SopsError(
        `cannot read AWS_CA_BUNDLE ${bundle}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        ExitCode.ErrorGeneric,
      );
    }
  }
  return new ProxyingHttpsAgent(env, ca ? { ca } : {});
}

/** What every client gets: region, endpoint, timeouts and retries given explicitly. */
function clientConfig(s: Settings, env: NodeJS.ProcessEnv, endpointUrl: string | undefined, credentials?: Credentials) {
  return {
    region: s.region,
    ...(endpointUrl ? { endpoint: endpointUrl } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: s.maxAttempts,
    retryMode: 'standard',
    useFipsEndpoint: (env['AWS_USE_FIPS_ENDPOINT'] ?? '').toLowerCase() === 'true',
    useDualstackEndpoint: (env['AWS_USE_DUALSTACK_ENDPOINT'] ?? '').toLowerCase() === 'true',
    requestHandler: {
      connectionTimeout: s.timeoutMs,
      requestTimeout: s.timeoutMs,
      throwOnRequestTimeout: true,
      httpsAgent: s.httpsAgent,
    },
  };
}

/** The credentials that sign the first call (KMS, or STS when a role is to be assumed). */
async function baseCredentials(key: KmsKey, s: Settings, ctx: KeyContext): Promise<Credentials> {
  const env = ctx.env;
  const files = {
    ...(env['AWS_SHARED_CREDENTIALS_FILE'] ? { filepath: env['AWS_SHARED_CREDENTIALS_FILE'] } : {}),
    ...(env['AWS_CONFIG_FILE'] ? { configFilepath: env['AWS_CONFIG_FILE'] } : {}),
  };
  // the STS client a profile's own role_arn / source_profile may need
  const inner = {
    region: s.region,
    ...(s.stsEndpoint ? { endpoint: s.stsEndpoint } : {}),
    requestHandler: { httpsAgent: s.httpsAgent },
  };
  if (key.awsProfile) {
    ctx.log(`kms: credentials from the AWS profile ${key.awsProfile}`);
    const { fromIni } = await import('@aws-sdk/credential-provider-ini');
    return fromIni({ profile: key.awsProfile, ...files, ignoreCache: true, clientConfig: inner });
  }
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  if (id && secret) {
    ctx.log('kms: credentials from AWS_ACCESS_KEY_ID');
    const token = env['AWS_SESSION_TOKEN'];
    return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
  }
  ctx.log(`kms: credentials from the default chain${env['AWS_PROFILE'] ? ` (profile ${env['AWS_PROFILE']})` : ''}`);
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  return defaultProvider({
    ...(env['AWS_PROFILE'] ? { profile: env['AWS_PROFILE'] } : {}),
    ...files,
    ignoreCache: true,
    clientConfig: inner,
  });
}

class KmsFailure extends Error {}

/**
 * One SDK call with a hard deadline on top of the SDK's own per-attempt timeouts (credential
 * providers and retry pauses are not covered by those). The client is destroyed afterwards.
 */
async function call<T>(
  client: { destroy(): void },
  s: Settings,
  send: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  // every attempt, the SDK's longest pauses between them (100 ms × 2^n, at most 20 s), and a margin
  let pauses = 0;
  for (let n = 1; n < s.maxAttempts; n++) pauses += Math.min(20_000, 100 * 2 ** n);
  const limit = s.timeoutMs * s.maxAttempts + pauses + 5_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new KmsFailure(`no answer within ${limit} ms`));
    }, limit);
    timer.unref();
  });
  try {
    return await Promise.race([send(abort.signal), deadline]);
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}

/** One line saying why an SDK call failed: the service's error code and message where there is one. */
export function describeAwsError(e: unknown, timeoutMs?: number): string {
  if (e instanceof KmsFailure) return e.message;
  const err = (e ?? {}) as {
    name?: string;
    message?: string;
    code?: string;
    errors?: unknown[];
    $fault?: string;
    $metadata?: { httpStatusCode?: number; attempts?: number };
  };
  const attempts = err.$metadata?.attempts;
  const tries = attempts && attempts > 1 ? ` (${attempts} attempts)` : '';
  let text: string;
  if (err.name === 'TimeoutError' || err.code === 'ETIMEDOUT') {
    text = `no answer within ${timeoutMs ?? '?'} ms${tries}`;
  } else if (err.name === 'AbortError') {
    text = 'the request was cancelled';
  } else if (err.$fault) {
    // a service error: the SDK names it after the error code (`__type` / `<Code>`)
    text = `${err.name ?? 'Error'}: ${err.message || `HTTP ${err.$metadata?.httpStatusCode ?? '?'}`}${tries}`;
  } else if (err.name === 'CredentialsProviderError') {
    text = `could not load AWS credentials: ${err.message ?? ''}`;
    if (/from any providers/.test(err.message ?? '')) {
      text += " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the key's aws_profile)";
    }
  } else {
    let msg = err.message ?? '';
    if (!msg && Array.isArray(err.errors)) {
      msg = err.errors
        .map((x) => (x instanceof Error ? x.message : String(x)))
        .filter(Boolean)
        .join('; ');
    }
    if (!msg) msg = err.code ?? err.name ?? String(e);
    text = `${msg}${tries}`;
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** The credentials that sign the KMS call: the base ones, or a role's temporary ones. */
async function kmsCredentials(key: KmsKey, s: Settings, ctx: KeyContext, code: number): Promise<Credentials> {
  const base = await baseCredentials(key, s, ctx);
  if (!key.role) return base;
  const { STSClient, AssumeRoleCommand } = await import('@aws-sdk/client-sts');
  const name = stsSessionName();
  ctx.log(`kms: assuming the role ${key.role} as ${name}${s.stsEndpoint ? ` at ${s.stsEndpoint}` : ''}`);
  let out;
  try {
    const sts = new STSClient(clientConfig(s, ctx.env, s.stsEndpoint, base));
    const command = new AssumeRoleCommand({ RoleArn: key.role, RoleSessionName: name });
    out = await call(sts, s, (abortSignal) => sts.send(command, { abortSignal }));
  } catch (e) {
    throw new MasterKeyError(
      describeKey(key),
      `could not assume the role ${key.role}: ${describeAwsError(e, s.timeoutMs)}`,
      code,
    );
  }
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey) {
    throw new MasterKeyError(describeKey(key), `STS AssumeRole for ${key.role} returned no credentials`, code);
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
  };
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function contextOf(key: KmsKey): Record<string, string> | undefined {
  return key.context && Object.keys(key.context).length > 0 ? key.context : undefined;
}

async function kmsClient(key: KmsKey, s: Settings, ctx: KeyContext, what: string, code: number) {
  const credentials = await kmsCredentials(key, s, ctx, code);
  // the SDK warns on stderr about Node 20 once per process; tsops supports Node 20 deliberately
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { KMSClient, EncryptCommand, DecryptCommand } = await import('@aws-sdk/client-kms');
  ctx.log(`kms: ${what} with ${key.arn} in ${s.region}${s.kmsEndpoint ? ` at ${s.kmsEndpoint}` : ''}`);
  const client = new KMSClient(clientConfig(s, ctx.env, s.kmsEndpoint, credentials));
  return { client, EncryptCommand, DecryptCommand };
}

/** Run one KMS operation; any failure becomes one line naming the key. */
async function guarded<T>(key: KmsKey, s: Settings, code: number, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof SopsError) throw e;
    throw new MasterKeyError(describeKey(key), describeAwsError(e, s.timeoutMs), code);
  }
}

export const source: KeySource<KmsKey> = {
  async wrap(key, dataKey, ctx) {
    const s = settingsFor(key, ctx.env);
    return guarded(key, s, ExitCode.ErrorGeneric, async () => {
      const { client, EncryptCommand } = await kmsClient(key, s, ctx, 'Encrypt', ExitCode.ErrorGeneric);
      const context = contextOf(key);
      const command = new EncryptCommand({
        KeyId: key.arn,
        Plaintext: dataKey,
        ...(context ? { EncryptionContext: context } : {}),
      });
      const out = await call(client, s, (abortSignal) => client.send(command, { abortSignal }));
      if (!out.CiphertextBlob || out.CiphertextBlob.length === 0)
        throw new KmsFailure('KMS Encrypt returned no CiphertextBlob');
      return Buffer.from(out.CiphertextBlob).toString('base64');
    });
  },

  async unwrap(key, ctx) {
    if (!key.enc)
      throw new MasterKeyError(
        describeKey(key),
        `the file holds no encrypted data key for it`,
        ExitCode.CouldNotRetrieveKey,
      );
    if (!STD_BASE64.test(key.enc)) {
      throw new MasterKeyError(
        describeKey(key),
        `the encrypted data key is not valid base64`,
        ExitCode.CouldNotRetrieveKey,
      );
    }
    const blob = Buffer.from(key.enc, 'base64');
    const s = settingsFor(key, ctx.env);
    return guarded(key, s, ExitCode.CouldNotRetrieveKey, async () => {
      const { client, DecryptCommand } = await kmsClient(key, s, ctx, 'Decrypt', ExitCode.CouldNotRetrieveKey);
      const context = contextOf(key);
      const command = new DecryptCommand({
        KeyId: key.arn,
        CiphertextBlob: blob,
        ...(context ? { EncryptionContext: context } : {}),
      });
      const out = await call(client, s, (abortSignal) => client.send(command, { abortSignal }));
      if (!out.Plaintext) throw new KmsFailure('KMS Decrypt returned no Plaintext');
      return Buffer.from(out.Plaintext);
    });
  },
};
