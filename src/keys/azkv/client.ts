/**
 * Azure Key Vault keys, as sops uses them: the data key is encrypted (the Key Vault `encrypt`
 * operation, not `wrapKey`) with RSA-OAEP-256 by an RSA key in a vault, and `enc` holds the result
 * as unpadded base64url. A key given without a version is pinned to the vault's current version
 * when it first wraps a data key, so the file keeps naming the version that can decrypt it.
 *
 * Credentials follow sops (azidentity's DefaultAzureCredential), read from the caller's
 * environment (`ctx.env`) where the SDK lets us pass values explicitly:
 *  - AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET: a service principal with a secret;
 *  - AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_CERTIFICATE_PATH (+ _PASSWORD,
 *    AZURE_CLIENT_SEND_CERTIFICATE_CHAIN): a service principal with a certificate;
 *  - otherwise the SDK's DefaultAzureCredential chain (workload identity, managed identity, Azure
 *    CLI, ...), which reads the process environment itself.
 * AZURE_AUTHORITY_HOST (sovereign clouds, Azure Stack) and AZURE_ADDITIONALLY_ALLOWED_TENANTS are
 * taken from `ctx.env` too.
 *
 * The Azure SDK is imported on first use only. Every operation is bounded by a timeout (all
 * retries included) and the SDK's bounded retry policy; failures become one line naming the key.
 */
import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import type { TokenCredential } from '@azure/identity';
import type { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import type { AzureKvKey, KeyContext, KeySource } from '../types.js';
import { azureKeyUrl } from './key.js';

/** The algorithm sops uses (azkeys.EncryptionAlgorithmRSAOAEP256). */
const ALGORITHM = 'RSA-OAEP-256';

export interface AzureKvOptions {
  /** Give up on one operation, retries and sign-in included, after this long. Default 60 000 ms. */
  timeoutMs?: number;
  /** Retries of a failed request (connection error, 408, 429, 5xx); the SDK's default (3) if unset. */
  maxRetries?: number;
  /** The first retry's delay, growing exponentially (SDK default if unset). */
  retryDelayMs?: number;
  /**
   * The HTTP agent for Key Vault and sign-in requests, e.g. an `https.Agent` trusting a private CA.
   * Node's own trust store (and NODE_EXTRA_CA_CERTS) applies when unset.
   */
  agent?: Agent;
  /** A credential to use instead of the one built from the environment (like sops's key service). */
  credential?: TokenCredential;
  /**
   * Skip the SDK's check that the vault's authentication challenge names a resource in the vault's
   * own domain (`*.vault.azure.net` and sovereign equivalents). Only for vaults on other hosts,
   * such as a local test server on 127.0.0.1; the check stops a rogue vault URL from collecting
   * tokens for the real Key Vault.
   */
  disableChallengeResourceVerification?: boolean;
  /**
   * Do not ask login.microsoftonline.com to validate AZURE_AUTHORITY_HOST (needed for a private or
   * local authority host, such as a test server).
   */
  disableInstanceDiscovery?: boolean;
}

/** The Key Vault key source with its options; `source` is the one with the defaults. */
export interface AzureKvSource extends KeySource<AzureKvKey> {
  /**
   * Pin a key without a version to the vault's current version (a Key Vault `get`, which needs the
   * `get` key permission), store it in `key.version` and return it. `wrap` does this itself.
   */
  resolveVersion(key: AzureKvKey, ctx: KeyContext): Promise<string>;
}

type KeysModule = typeof import('@azure/keyvault-keys');
type IdentityModule = typeof import('@azure/identity');

let sdk: Promise<{ keys: KeysModule; identity: IdentityModule }> | undefined;

function loadSdk(): Promise<{ keys: KeysModule; identity: IdentityModule }> {
  sdk ??= Promise.all([import('@azure/keyvault-keys'), import('@azure/identity')]).then(([keys, identity]) => ({
    keys,
    identity,
  }));
  return sdk;
}

function oneLine(s: string, max = 400): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

class TimeoutError extends Error {}

/** What went wrong, in one line, without stack or secrets. */
function reason(e: unknown): string {
  if (e instanceof TimeoutError) return e.message;
  const err = (e ?? {}) as {
    name?: string;
    message?: string;
    statusCode?: number;
    code?: string;
    errorResponse?: { error?: string; errorDescription?: string };
  };
  const msg = typeof err.message === 'string' ? err.message : String(e);
  if (err.name === 'AuthenticationError' || err.name === 'AuthenticationRequiredError') {
    // MSAL's text: "invalid_client: Error(s): 7000215 - Timestamp: … - Description: AADSTS…. - Correlation ID: …"
    const aad = /^(\w+):.*?Description: ([\s\S]*?)(?: - Correlation ID:| - Trace ID:|$)/.exec(msg);
    if (aad) return `Azure sign-in failed: ${aad[1]}: ${oneLine(aad[2]!)}`;
    if (err.errorResponse) {
      const desc = (err.errorResponse.errorDescription ?? '').split(/\r?\n| Trace ID:/)[0] ?? '';
      return `Azure sign-in failed: ${err.errorResponse.error ?? 'error'}: ${oneLine(desc)}`;
    }
    return `Azure sign-in failed: ${oneLine(msg)}`;
  }
  if (err.name === 'CredentialUnavailableError' || err.name === 'AggregateAuthenticationError') {
    return `no usable Azure credential: ${oneLine(msg)}`;
  }
  if (err.name === 'RestError') {
    const status = err.statusCode ? `${err.statusCode} ` : '';
    const code = err.code && !msg.includes(err.code) ? `${err.code}: ` : '';
    return `${status}${code}${oneLine(msg)}`.trim();
  }
  return oneLine(msg);
}

function envText(env: NodeJS.ProcessEnv, name: string): string {
  return (env[name] ?? '').trim();
}

/** A Key Vault key source; `opts` tune timeouts, retries and transport. */
export function createAzureKvSource(opts: AzureKvOptions = {}): AzureKvSource {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const credentials = new Map<string, TokenCredential>();
  const keyClients = new Map<string, KeyClient>();
  const cryptoClients = new Map<string, CryptographyClient>();

  function pipelineOptions() {
    const retryOptions: { maxRetries?: number; retryDelayInMs?: number } = {};
    if (opts.maxRetries !== undefined) retryOptions.maxRetries = opts.maxRetries;
    if (opts.retryDelayMs !== undefined) retryOptions.retryDelayInMs = opts.retryDelayMs;
    return {
      retryOptions,
      userAgentOptions: { userAgentPrefix: 'tsops' },
      ...(opts.agent ? { agent: opts.agent } : {}),
    };
  }

  async function credentialFor(env: NodeJS.ProcessEnv): Promise<{ id: string; credential: TokenCredential }> {
    if (opts.credential) return { id: 'given', credential: opts.credential };
    const { identity } = await loadSdk();
    const tenantId = envText(env, 'AZURE_TENANT_ID');
    const clientId = envText(env, 'AZURE_CLIENT_ID');
    const secret = env['AZURE_CLIENT_SECRET'] ?? '';
    const certPath = envText(env, 'AZURE_CLIENT_CERTIFICATE_PATH');
    const authorityHost = envText(env, 'AZURE_AUTHORITY_HOST') || undefined;
    const extraTenants = envText(env, 'AZURE_ADDITIONALLY_ALLOWED_TENANTS')
      .split(';')
      .map((t) => t.trim())
      .filter(Boolean);
    const common = {
      ...pipelineOptions(),
      ...(authorityHost ? { authorityHost } : {}),
      ...(extraTenants.length ? { additionallyAllowedTenants: extraTenants } : {}),
      ...(opts.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
    };
    let kind: string;
    let make: () => TokenCredential;
    if (tenantId && clientId && secret) {
      kind = `secret\0${tenantId}\0${clientId}\0${secret}`;
      make = () => new identity.ClientSecretCredential(tenantId, clientId, secret, common);
    } else if (tenantId && clientId && certPath) {
      const certificatePassword = env['AZURE_CLIENT_CERTIFICATE_PASSWORD'] || undefined;
      const sendCertificateChain = /^(1|true)$/i.test(envText(env, 'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN'));
      kind = `cert\0${tenantId}\0${clientId}\0${certPath}\0${certificatePassword ?? ''}\0${sendCertificateChain}`;
      make = () =>
        new identity.ClientCertificateCredential(
          tenantId,
          clientId,
          certificatePassword ? { certificatePath: certPath, certificatePassword } : { certificatePath: certPath },
          { ...common, sendCertificateChain },
        );
    } else {
      kind = 'default';
      make = () => new identity.DefaultAzureCredential(common);
    }
    // Cache key: a digest, so no secret is kept in another string.
    const id = createHash('sha256')
      .update(`${kind}\0${authorityHost ?? ''}\0${extraTenants.join(';')}`)
      .digest('hex');
    let credential = credentials.get(id);
    if (!credential) {
      credential = make();
      credentials.set(id, credential);
    }
    return { id, credential };
  }

  function clientOptions() {
    return {
      ...pipelineOptions(),
      ...(opts.disableChallengeResourceVerification ? { disableChallengeResourceVerification: true } : {}),
    };
  }

  async function keyClient(vaultUrl: string, env: NodeJS.ProcessEnv): Promise<KeyClient> {
    const { keys } = await loadSdk();
    const { id, credential } = await credentialFor(env);
    const cacheKey = `${id}\0${vaultUrl}`;
    let c = keyClients.get(cacheKey);
    if (!c) {
      c = new keys.KeyClient(vaultUrl, credential, clientOptions());
      keyClients.set(cacheKey, c);
    }
    return c;
  }

  async function cryptoClient(key: AzureKvKey, env: NodeJS.ProcessEnv): Promise<CryptographyClient> {
    const { keys } = await loadSdk();
    const { id, credential } = await credentialFor(env);
    const url = azureKeyUrl(key);
    const cacheKey = `${id}\0${url}`;
    let c = cryptoClients.get(cacheKey);
    if (!c) {
      // A key id without a version ends in '/': the SDK wants no trailing slash then.
      c = new keys.CryptographyClient(url.replace(/\/$/, ''), credential, clientOptions());
      cryptoClients.set(cacheKey, c);
    }
    return c;
  }

  /** Run one bounded operation; errors become one line naming the key. */
  async function bounded<T>(
    what: string,
    key: AzureKvKey,
    ctx: KeyContext,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new TimeoutError(`no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([run(ac.signal), timeout]);
    } catch (e) {
      const why = ac.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : reason(e);
      const msg = `failed to ${what} Azure Key Vault key '${azureKeyUrl(key)}': ${why}`;
      ctx.log(`azure_kv: ${msg}`);
      throw new Error(msg, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  async function resolveVersion(key: AzureKvKey, ctx: KeyContext): Promise<string> {
    if (key.version) return key.version;
    const found = await bounded('look up the current version of', key, ctx, async (abortSignal) => {
      const client = await keyClient(key.vaultUrl, ctx.env);
      return client.getKey(key.name, { abortSignal });
    });
    const version = found.properties.version;
    if (!version) throw new Error(`Azure Key Vault key '${azureKeyUrl(key)}': the vault returned no key version`);
    key.version = version;
    ctx.log(`azure_kv: ${key.vaultUrl}/keys/${key.name} is at version ${version}`);
    return version;
  }

  return {
    resolveVersion,

    async wrap(key, dataKey, ctx) {
      await resolveVersion(key, ctx);
      const res = await bounded('encrypt sops data key with', key, ctx, async (abortSignal) => {
        const client = await cryptoClient(key, ctx.env);
        return client.encrypt({ algorithm: ALGORITHM, plaintext: dataKey }, { abortSignal });
      });
      ctx.log(`azure_kv: encrypted data key with ${azureKeyUrl(key)}`);
      return Buffer.from(res.result).toString('base64url');
    },

    async unwrap(key, ctx) {
      if (!key.enc) throw new Error(`Azure Key Vault key '${azureKeyUrl(key)}' has no encrypted data key`);
      if (!/^[A-Za-z0-9_-]+={0,2}$/.test(key.enc)) {
        throw new Error(`Azure Key Vault key '${azureKeyUrl(key)}': enc is not base64url`);
      }
      const ciphertext = Buffer.from(key.enc, 'base64url');
      const res = await bounded('decrypt sops data key with', key, ctx, async (abortSignal) => {
        const client = await cryptoClient(key, ctx.env);
        return client.decrypt({ algorithm: ALGORITHM, ciphertext }, { abortSignal });
      });
      ctx.log(`azure_kv: decrypted data key with ${azureKeyUrl(key)}`);
      return Buffer.from(res.result);
    },
  };
}

/** The Key Vault key source with default options. */
export const source: AzureKvSource = createAzureKvSource();
