/**
 * A loopback stand-in for HuaweiCloud KMS (DEW) and the IAM project lookup, for tests that drive the
 * HuaweiCloud SDK core client as tsops uses it (src/keys/hckms/client.ts).
 *
 * It speaks the wire protocol of the KMS v1.0 API that sops's `hckms` keys call (through Huawei's Go
 * SDK, services/kms/v2):
 * - `POST /v1.0/{project_id}/kms/encrypt-data` with JSON `{key_id, plain_text, encryption_algorithm}`
 *   → `{key_id, cipher_text}`;
 * - `POST /v1.0/{project_id}/kms/decrypt-data` with `{cipher_text, key_id, encryption_algorithm}` →
 *   `{key_id, plain_text, plain_text_base64}`;
 * - errors as KMS writes them: `{"error": {"error_code": "KMS.XXXX", "error_msg": "…"}}` with their
 *   HTTP status; authentication failures as the API gateway writes them (`APIGW.0301`, 401);
 * - IAM `GET /v3/projects?name=REGION` → `{projects: [{id, name, …}]}` (the SDKs' project-id lookup
 *   when no project id is configured).
 *
 * Every request must be signed with SDK-HMAC-SHA256 (Huawei's AK/SK signing, `Authorization:
 * SDK-HMAC-SHA256 Access=AK, SignedHeaders=…, Signature=…` over the canonical request, with
 * `X-Sdk-Date`); the signature is verified against the known access keys, `host` and `x-sdk-date`
 * must be among the signed headers, and the date must be within 15 minutes. A security token
 * (temporary credentials) must come in the signed `X-Security-Token` header.
 *
 * Encryption is real: AES-256-GCM under a per-key secret; the cipher text carries the key UUID so
 * decrypt-data checks that the key it names is the one that encrypted.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HckmsServerOptions {
  /** Access key → secret key (and, for temporary credentials, the security token they need). */
  credentials?: Record<string, { sk: string; securityToken?: string }>;
  /** The project id of every region (default `0123456789abcdef0123456789abcdef`). */
  projectId?: string;
  /** Key UUIDs the caller may not use (KMS.0205-style access denied, 403). */
  denyKeys?: string[];
  /** Key UUIDs that are disabled (KMS.2201, 400... as KMS answers for a disabled key). */
  disabledKeys?: string[];
  /** Answer the next N requests with 500 (a flaky service). */
  failNext?: number;
}

export interface HckmsCall {
  method: string;
  path: string;
  /** `encrypt-data`, `decrypt-data`, `projects` or `unknown`. */
  action: string;
  accessKey: string;
  projectIdHeader?: string;
  securityToken?: string;
  signedHeaders: string[];
  body?: Record<string, unknown>;
  status: number;
  error?: string;
}

export interface HckmsServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  projectId: string;
  calls: HckmsCall[];
  options: HckmsServerOptions;
  close(): Promise<void>;
}

const ALGORITHM = 'SDK-HMAC-SHA256';

/** RFC 3986 unreserved characters stay, everything else is %XX (as Huawei's signers encode). */
function encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The canonical request of Huawei's AK/SK signing (APIG's "SDK-HMAC-SHA256"). */
function canonicalRequest(req: http.IncomingMessage, url: URL, signed: string[], body: Buffer): string {
  let uri = url.pathname
    .split('/')
    .map((seg) => encode(decodeURIComponent(seg)))
    .join('/');
  if (!uri.endsWith('/')) uri += '/';
  const query = [...url.searchParams.keys()]
    .filter((k, i, all) => all.indexOf(k) === i)
    .sort()
    .flatMap((k) =>
      url.searchParams
        .getAll(k)
        .sort()
        .map((v) => `${encode(k)}=${encode(v)}`),
    )
    .join('&');
  const headers = signed.map((h) => {
    const v = req.headers[h];
    return `${h}:${Array.isArray(v) ? v.join(',') : (v ?? '')}\n`;
  });
  return [req.method ?? '', uri, query, headers.join(''), signed.join(';'), sha256Hex(body)].join('\n');
}

/** `20260102T030405Z` → ms since the epoch, or NaN. */
function sdkDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

export async function startHckmsServer(options: HckmsServerOptions = {}): Promise<HckmsServer> {
  const projectId = options.projectId ?? '0123456789abcdef0123456789abcdef';
  const secret = crypto.randomBytes(32);
  const calls: HckmsCall[] = [];
  const keyOf = (uuid: string) => crypto.createHmac('sha256', secret).update(uuid).digest();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const call: HckmsCall = {
        method: req.method ?? '',
        path: url.pathname,
        action: 'unknown',
        accessKey: '',
        signedHeaders: [],
        status: 0,
      };
      calls.push(call);
      const answer = (status: number, payload: unknown, error?: string) => {
        call.status = status;
        if (error) call.error = error;
        const text = JSON.stringify(payload);
        res.writeHead(status, {
          'Content-Type': 'application/json;charset=UTF-8',
          'Content-Length': Buffer.byteLength(text),
          'X-Request-Id': crypto.randomBytes(16).toString('hex'),
        });
        res.end(text);
      };
      const kmsError = (status: number, code: string, msg: string) =>
        answer(status, { error: { error_code: code, error_msg: msg } }, code);
      const gatewayError = (code: string, msg: string) =>
        answer(401, { error_msg: msg, error_code: code, request_id: crypto.randomBytes(16).toString('hex') }, code);

      // --- authentication: SDK-HMAC-SHA256 ---
      const auth = req.headers.authorization ?? '';
      const m = /^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$/.exec(auth);
      if (!m) return gatewayError('APIGW.0301', 'Incorrect IAM authentication information: Authorization not found');
      const [, ak, signedList, signature] = m as unknown as [string, string, string, string];
      call.accessKey = ak;
      call.signedHeaders = signedList.split(';');
      const token = req.headers['x-security-token'];
      if (typeof token === 'string') call.securityToken = token;
      const projectHeader = req.headers['x-project-id'];
      if (typeof projectHeader === 'string') call.projectIdHeader = projectHeader;
      const cred = options.credentials?.[ak];
      if (!cred) return gatewayError('APIGW.0301', 'Incorrect IAM authentication information: ak ' + ak + ' not found');
      if (!call.signedHeaders.includes('host') || !call.signedHeaders.includes('x-sdk-date'))
        return gatewayError(
          'APIGW.0301',
          'Incorrect IAM authentication information: host and x-sdk-date must be signed',
        );
      const date = String(req.headers['x-sdk-date'] ?? '');
      const when = sdkDate(date);
      if (Number.isNaN(when) || Math.abs(Date.now() - when) > 15 * 60_000)
        return gatewayError('APIGW.0303', 'Incorrect IAM authentication information: x-sdk-date expired or invalid');
      const stringToSign = [ALGORITHM, date, sha256Hex(canonicalRequest(req, url, call.signedHeaders, body))].join(
        '\n',
      );
      const expected = crypto.createHmac('sha256', cred.sk).update(stringToSign).digest('hex');
      if (
        expected.length !== signature.length ||
        !crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))
      )
        return gatewayError('APIGW.0301', 'Incorrect IAM authentication information: verify aksk signature fail');
      if (cred.securityToken !== undefined) {
        if (call.securityToken !== cred.securityToken || !call.signedHeaders.includes('x-security-token'))
          return gatewayError('APIGW.0307', 'Incorrect IAM authentication information: the security token is invalid');
      }
      if (options.failNext && options.failNext > 0) {
        options.failNext--;
        return kmsError(500, 'KMS.0001', 'internal error');
      }

      // --- IAM: the project of a region ---
      if (req.method === 'GET' && url.pathname === '/v3/projects') {
        call.action = 'projects';
        const name = url.searchParams.get('name') ?? '';
        return answer(200, {
          projects: name ? [{ id: projectId, name, domain_id: 'd0', enabled: true, is_domain: false }] : [],
          links: { self: `http://127.0.0.1/v3/projects` },
        });
      }

      // --- KMS ---
      const km = /^\/v1\.0\/([^/]+)\/kms\/(encrypt-data|decrypt-data)$/.exec(url.pathname);
      if (!km || req.method !== 'POST') return kmsError(404, 'KMS.0404', `no such API: ${req.method} ${url.pathname}`);
      call.action = km[2]!;
      if (km[1] !== projectId) return kmsError(403, 'KMS.0203', `the project ${km[1]} is not yours`);
      if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
        return kmsError(400, 'KMS.0202', 'content type must be application/json');
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('not an object');
      } catch {
        return kmsError(400, 'KMS.0202', 'the request body is not JSON');
      }
      call.body = input;
      const alg = input['encryption_algorithm'];
      if (alg !== undefined && alg !== 'SYMMETRIC_DEFAULT')
        return kmsError(
          400,
          'KMS.0202',
          `encryption_algorithm ${JSON.stringify(alg)} is not valid for a symmetric key`,
        );
      const keyId = input['key_id'];
      if (call.action === 'encrypt-data') {
        const plain = input['plain_text'];
        if (typeof keyId !== 'string' || !/^[0-9a-f-]{36}$/.test(keyId))
          return kmsError(400, 'KMS.0202', 'key_id is invalid');
        if (typeof plain !== 'string' || plain.length === 0 || plain.length > 4096)
          return kmsError(400, 'KMS.0202', 'plain_text is invalid');
        if (options.denyKeys?.includes(keyId)) return kmsError(403, 'KMS.0205', `access to key ${keyId} is denied`);
        if (options.disabledKeys?.includes(keyId)) return kmsError(400, 'KMS.2201', `the key ${keyId} is disabled`);
        const iv = crypto.randomBytes(12);
        const c = crypto.createCipheriv('aes-256-gcm', keyOf(keyId), iv);
        c.setAAD(Buffer.from(keyId));
        const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
        const blob = Buffer.concat([Buffer.from(keyId, 'ascii'), iv, c.getAuthTag(), ct]);
        return answer(200, { key_id: keyId, cipher_text: blob.toString('base64') });
      }
      const cipher = input['cipher_text'];
      if (typeof cipher !== 'string' || cipher.length === 0) return kmsError(400, 'KMS.0202', 'cipher_text is invalid');
      const blob = Buffer.from(cipher, 'base64');
      if (blob.length < 36 + 12 + 16 + 1) return kmsError(400, 'KMS.0202', 'cipher_text is invalid');
      const owner = blob.subarray(0, 36).toString('ascii');
      if (keyId !== undefined && keyId !== owner)
        return kmsError(400, 'KMS.0202', 'the key_id does not match the key of the cipher text');
      if (options.denyKeys?.includes(owner)) return kmsError(403, 'KMS.0205', `access to key ${owner} is denied`);
      if (options.disabledKeys?.includes(owner)) return kmsError(400, 'KMS.2201', `the key ${owner} is disabled`);
      try {
        const d = crypto.createDecipheriv('aes-256-gcm', keyOf(owner), blob.subarray(36, 48));
        d.setAAD(Buffer.from(owner));
        d.setAuthTag(blob.subarray(48, 64));
        const plain = Buffer.concat([d.update(blob.subarray(64)), d.final()]).toString('utf8');
        return answer(200, {
          key_id: owner,
          plain_text: plain,
          plain_text_base64: Buffer.from(plain, 'utf8').toString('base64'),
        });
      } catch {
        return kmsError(400, 'KMS.0202', 'the cipher text cannot be decrypted');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    projectId,
    calls,
    options,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
