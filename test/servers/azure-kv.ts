/**
 * A loopback stand-in for Azure Key Vault and the Azure AD (Entra ID) v2 token endpoint, served
 * over HTTPS on 127.0.0.1 with a throwaway self-signed certificate (the Key Vault SDK sends bearer
 * tokens over HTTPS only).
 *
 * Key Vault side (REST API 7.x, the subset sops uses):
 *   GET  /keys/{name}[/{version}]            the key (JWK), latest version when none is given
 *   POST /keys/{name}[/{version}]/encrypt    {alg: 'RSA-OAEP-256', value} -> {kid, value}
 *   POST /keys/{name}[/{version}]/decrypt    likewise
 * Every Key Vault request without a valid bearer token gets the real service's challenge:
 *   401 WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}",
 *   resource="https://vault.azure.net"
 * Errors use Key Vault's body shape {error: {code, message}}.
 *
 * Login side (what MSAL asks for):
 *   GET  /common/discovery/instance          AAD instance discovery (unless the client disables it)
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration
 *   POST /{tenant}/oauth2/v2.0/token         client-credentials grant with a client secret
 *
 * Keys are real RSA-2048 keys; each `addKeyVersion` is a rotation. The server can deny key
 * operations (403), delay or hold answers, and records every call.
 *
 * Behind a CONNECT proxy it can also stand in for the real hosts (a vault `*.vault.azure.net` and
 * `login.microsoftonline.com`), given a certificate for those names (`tls`): the URLs it hands out
 * (OpenID configuration, key ids) use the Host the client asked for.
 */
import crypto from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observer } from './observe.js';
import { makeTestTls } from './tls.js';

export type KeyOp = 'get' | 'encrypt' | 'decrypt';

export interface AzureCall {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The Authorization header as sent ('' when absent). */
  authorization: string;
  /** Parsed JSON or form body, when there was one. */
  body?: unknown;
}

export interface AzureKvServerOptions {
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** The certificate and key to serve (PEM); a throwaway one for 127.0.0.1 by default. */
  tls?: { cert: string; key: string };
  /** Hears every request and answer (see ./observe.ts); may hold requests. */
  observer?: Observer;
}

export interface AzureKvServer {
  /** `https://127.0.0.1:PORT`: the vault URL and also the authority host (AZURE_AUTHORITY_HOST). */
  readonly url: string;
  /** PEM of the certificate the client must trust. */
  readonly ca: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly calls: AzureCall[];
  /** Key operations answered with 403 Forbidden. */
  readonly denied: Set<KeyOp>;
  /** Milliseconds to wait before answering each Key Vault request. */
  delayMs: number;
  /** Never answer Key Vault requests (until close). */
  hang: boolean;
  /** Create a key, or a new version of it; returns the version id. */
  addKeyVersion(name: string): string;
  /** The newest version of a key. */
  latestVersion(name: string): string;
  close(): Promise<void>;
}

const RESOURCE = 'https://vault.azure.net';

interface KeyVersion {
  id: string;
  priv: crypto.KeyObject;
  pub: crypto.KeyObject;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function kvError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startAzureKvServer(opts: AzureKvServerOptions = {}): Promise<AzureKvServer> {
  const tls = opts.tls ?? makeTestTls();
  const tenantId = opts.tenantId ?? '72f988bf-0000-4000-8000-00000000a11e';
  const clientId = opts.clientId ?? '00000000-0000-4000-8000-0000000c1e47';
  const clientSecret = opts.clientSecret ?? crypto.randomBytes(18).toString('base64url');
  const keys = new Map<string, KeyVersion[]>();
  const tokens = new Set<string>();
  const calls: AzureCall[] = [];
  const denied = new Set<KeyOp>();
  const held = new Set<ServerResponse>();
  let url = '';

  const state = {
    delayMs: 0,
    hang: false,
  };

  function addKeyVersion(name: string): string {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const id = crypto.randomBytes(16).toString('hex');
    const list = keys.get(name) ?? [];
    list.push({ id, priv: privateKey, pub: publicKey });
    keys.set(name, list);
    return id;
  }

  function findKey(name: string, version: string): KeyVersion | undefined {
    const list = keys.get(name);
    if (!list || list.length === 0) return undefined;
    if (!version) return list[list.length - 1];
    return list.find((k) => k.id === version);
  }

  /** The origin the client asked for: this server's URL, or a real host's when reached through a proxy. */
  function origin(req: IncomingMessage): string {
    const host = req.headers.host;
    return host ? `https://${host}` : url;
  }

  function kid(req: IncomingMessage, name: string, k: KeyVersion): string {
    return `${origin(req)}/keys/${name}/${k.id}`;
  }

  function challenge(res: ServerResponse): void {
    send(
      res,
      401,
      { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
      {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${RESOURCE}"`,
      },
    );
  }

  function handleToken(res: ServerResponse, tenant: string, body: string): void {
    const form = new URLSearchParams(body);
    const call = calls[calls.length - 1]!;
    // Record the form without the secret.
    const recorded: Record<string, string> = {};
    for (const [k, v] of form) recorded[k] = k === 'client_secret' ? '<redacted>' : v;
    call.body = recorded;
    const fail = (status: number, error: string, description: string) =>
      send(res, status, {
        error,
        error_description: description,
        error_codes: [7000215],
        timestamp: new Date().toISOString(),
      });
    if (tenant !== tenantId) return fail(400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found.`);
    if (form.get('grant_type') !== 'client_credentials')
      return fail(400, 'unsupported_grant_type', 'AADSTS70003: unsupported grant type');
    if (form.get('client_id') !== clientId)
      return fail(
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${form.get('client_id')}' was not found.`,
      );
    if (form.get('client_secret') !== clientSecret)
      return fail(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    const scope = form.get('scope') ?? '';
    if (!scope.split(' ').includes(`${RESOURCE}/.default`))
      return fail(400, 'invalid_scope', `AADSTS70011: The provided value for scope ${scope} is not valid.`);
    const token = crypto.randomBytes(24).toString('base64url');
    tokens.add(token);
    send(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
  }

  function openidConfiguration(req: IncomingMessage, tenant: string): unknown {
    const base = `${origin(req)}/${tenant}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin(req)}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    };
  }

  async function handleKeyVault(req: IncomingMessage, res: ServerResponse, path: string, body: string): Promise<void> {
    const auth = req.headers['authorization'] ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    if (!m || !tokens.has(m[1]!)) {
      challenge(res);
      return;
    }

    if (state.hang) {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));

    const km = /^\/keys\/([^/]+)(?:\/([^/]*))?(?:\/(encrypt|decrypt))?\/?$/.exec(path);
    if (!km) {
      kvError(res, 404, 'NotFound', `no route for ${req.method} ${path}`);
      return;
    }
    const name = decodeURIComponent(km[1]!);
    const version = km[2] ? decodeURIComponent(km[2]) : '';
    const op: KeyOp = (km[3] as KeyOp | undefined) ?? 'get';
    if ((op === 'get') !== (req.method === 'GET')) {
      kvError(res, 405, 'MethodNotAllowed', `${req.method} not allowed`);
      return;
    }
    if (denied.has(op)) {
      send(res, 403, {
        error: {
          code: 'Forbidden',
          message: `The user, group or application 'appid=${clientId}' does not have keys ${op} permission on key vault 'test'.`,
          innererror: { code: 'AccessDenied' },
        },
      });
      return;
    }
    const key = findKey(name, version);
    if (!key) {
      kvError(
        res,
        404,
        'KeyNotFound',
        `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
      );
      return;
    }

    if (op === 'get') {
      const jwk = key.pub.export({ format: 'jwk' });
      const now = Math.floor(Date.now() / 1000);
      send(res, 200, {
        key: {
          kid: kid(req, name, key),
          kty: 'RSA',
          key_ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
          n: jwk.n,
          e: jwk.e,
        },
        attributes: {
          enabled: true,
          created: now,
          updated: now,
          recoveryLevel: 'Recoverable+Purgeable',
          recoverableDays: 90,
        },
      });
      return;
    }
    let params: { alg?: string; value?: string };
    try {
      params = JSON.parse(body) as { alg?: string; value?: string };
    } catch {
      kvError(res, 400, 'BadParameter', 'The request body is not valid JSON.');
      return;
    }
    if (params.alg !== 'RSA-OAEP-256') {
      kvError(res, 400, 'BadParameter', `Algorithm '${params.alg}' is not supported by this test server.`);
      return;
    }
    const input = Buffer.from(params.value ?? '', 'base64url');
    let out: Buffer;
    try {
      const rsa = { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
      out =
        op === 'encrypt'
          ? crypto.publicEncrypt({ key: key.pub, ...rsa }, input)
          : crypto.privateDecrypt({ key: key.priv, ...rsa }, input);
    } catch {
      kvError(res, 400, 'BadParameter', 'Error decrypting the ciphertext.');
      return;
    }
    send(res, 200, { kid: kid(req, name, key), value: out.toString('base64url') });
  }

  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'https://127.0.0.1');
      const body = await readBody(req);
      const call: AzureCall = {
        method: req.method ?? '',
        path: u.pathname,
        authorization: req.headers['authorization'] ?? '',
      };
      calls.push(call);
      if (opts.observer) {
        const what = `${call.method} ${call.path}`;
        res.once('finish', () => opts.observer!.answered('azure', what));
        await opts.observer.arrived('azure', what);
        if (res.destroyed) return;
      }
      if (body && !u.pathname.endsWith('/oauth2/v2.0/token')) {
        try {
          call.body = JSON.parse(body);
        } catch {
          call.body = body;
        }
      }
      const tok = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(u.pathname);
      if (tok && req.method === 'POST') {
        handleToken(res, tok[1]!, body);
        return;
      }
      const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(u.pathname);
      if (oidc && req.method === 'GET') {
        send(res, 200, openidConfiguration(req, oidc[1]!));
        return;
      }
      if (u.pathname === '/common/discovery/instance' && req.method === 'GET') {
        // AAD instance discovery (asked by MSAL unless disabled): this host is its own cloud.
        const host = new URL(origin(req)).host;
        send(res, 200, {
          tenant_discovery_endpoint: `${origin(req)}/${tenantId}/v2.0/.well-known/openid-configuration`,
          'api-version': '1.1',
          metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
        });
        return;
      }
      if (u.pathname.startsWith('/keys/')) return handleKeyVault(req, res, u.pathname, body);
      send(res, 404, { error: { code: 'NotFound', message: `no route for ${req.method} ${u.pathname}` } });
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'InternalError', message: String(e) } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    ca: tls.cert,
    tenantId,
    clientId,
    clientSecret,
    calls,
    denied,
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
    addKeyVersion,
    latestVersion(name: string): string {
      const list = keys.get(name);
      if (!list?.length) throw new Error(`no key ${name}`);
      return list[list.length - 1]!.id;
    },
    close(): Promise<void> {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
