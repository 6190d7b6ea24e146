/**
 * A loopback stand-in for AWS KMS and STS, for tests that drive the real AWS SDK clients.
 *
 * It speaks the wire protocols the SDK uses:
 * - KMS `TrentService.Encrypt` / `TrentService.Decrypt`: AWS JSON 1.1 (`X-Amz-Target`,
 *   `application/x-amz-json-1.1`, base64 blobs, errors as `{__type, message}` with their status);
 * - STS `AssumeRole`: the query protocol (form-encoded POST, XML answer, `<ErrorResponse>` errors).
 *
 * Encryption is real: AES-256-GCM under a per-key secret derived from a random server secret. The
 * ciphertext blob carries the key ARN (so Decrypt works without a KeyId) and the encryption context
 * is bound as additional data (so a different context fails with InvalidCiphertextException).
 * Recorded answers (`recorded`) let it decrypt blobs the real AWS KMS made, as found in real files.
 *
 * Every request must carry a SigV4 `Authorization` header; its credential scope gives the access key
 * id, region and service recorded in `calls`. With `credentials`, the signature is verified too:
 * only those access keys (and the temporary ones this server issued) are accepted.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observer } from './observe.js';

export interface AwsServerOptions {
  /** Known key ARNs; unset = any KMS key ARN is accepted (a key is made on first use). */
  keys?: string[];
  /** Key ARNs whose use is refused with AccessDeniedException. */
  denyKeys?: string[];
  /** Role ARNs STS refuses to let anyone assume (AccessDenied). */
  denyRoles?: string[];
  /** Wait this long before answering any request (a slow service). */
  delayMs?: number;
  /**
   * Access key id → secret access key. When given, every request's SigV4 signature is verified and
   * only these keys (plus the temporary keys issued by AssumeRole) are accepted.
   */
  credentials?: Record<string, string>;
  /**
   * Recorded answers: a Decrypt of exactly this CiphertextBlob (e.g. one taken from a real sops file,
   * made by the real AWS KMS) returns `plaintext`, as long as the key is allowed and the request's
   * KeyId (when sent) and encryption context match the recording.
   */
  recorded?: RecordedDecrypt[];
  /** Hears every request and answer (see ./observe.ts); may hold requests. */
  observer?: Observer;
}

export interface RecordedDecrypt {
  /** The blob, standard base64 as sops stores it in `enc`. */
  ciphertextBlob: string;
  /** The key ARN the blob belongs to. */
  keyId: string;
  plaintext: Buffer;
  encryptionContext?: Record<string, string>;
}

export interface AwsCall {
  service: 'kms' | 'sts' | 'unknown';
  /** `Encrypt`, `Decrypt`, `AssumeRole`, … */
  action: string;
  /** The access key id named in the SigV4 Authorization header ('' when absent). */
  accessKeyId: string;
  /** The region of the SigV4 credential scope. */
  region: string;
  /** `X-Amz-Security-Token`, when sent. */
  sessionToken?: string;
  keyId?: string;
  encryptionContext?: Record<string, string>;
  roleArn?: string;
  roleSessionName?: string;
  /** The HTTP status answered; 0 while unanswered (a delayed or abandoned request). */
  status: number;
  /** The error code answered, when the call failed. */
  error?: string;
}

export interface IssuedCredentials {
  roleArn: string;
  roleSessionName: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface AwsServer {
  /** `http://127.0.0.1:PORT` — for AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_STS. */
  url: string;
  /** Every request, in arrival order. */
  calls: AwsCall[];
  /** Temporary credentials handed out by AssumeRole. */
  issued: IssuedCredentials[];
  /** Key ARNs refused with AccessDeniedException (starts as `denyKeys`; change it at any time). */
  denied: Set<string>;
  close(): Promise<void>;
}

class AwsFault extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const KMS_ARN = /^arn:aws[\w-]*:kms:([^:]+):(\d+):(key|alias)\/.+$/;
const BLOB_VERSION = 1;

function sha256hex(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data).digest();
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** The encryption context as additional data: independent of key order, unambiguous. */
function contextAad(ctx: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(ctx ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

interface SigV4 {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(h: string | undefined): SigV4 | undefined {
  if (!h) return undefined;
  const m =
    /^AWS4-HMAC-SHA256\s+Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(
      h.trim(),
    );
  if (!m) return undefined;
  return {
    accessKeyId: m[1]!,
    date: m[2]!,
    region: m[3]!,
    service: m[4]!,
    signedHeaders: m[5]!.split(';'),
    signature: m[6]!,
  };
}

/** Recompute a SigV4 signature for a request to `/` with no query string. */
function expectedSignature(req: http.IncomingMessage, body: Buffer, sig: SigV4, secret: string): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonicalHeaders = sig.signedHeaders
    .map((name) => {
      const v = req.headers[name];
      const value = (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
      return `${name}:${value}\n`;
    })
    .join('');
  const payloadHash = (req.headers['x-amz-content-sha256'] as string | undefined) ?? sha256hex(body);
  const canonicalRequest = [
    req.method,
    url.pathname || '/',
    query,
    canonicalHeaders,
    sig.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const scope = `${sig.date}/${sig.region}/${sig.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${secret}`, sig.date);
  key = hmac(key, sig.region);
  key = hmac(key, sig.service);
  key = hmac(key, 'aws4_request');
  return crypto.createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** Start the server on 127.0.0.1 with a free port. */
export async function startAwsServer(opts: AwsServerOptions = {}): Promise<AwsServer> {
  const master = crypto.randomBytes(32);
  const calls: AwsCall[] = [];
  const issued: IssuedCredentials[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const known = opts.keys ? new Set(opts.keys) : undefined;
  const denied = new Set(opts.denyKeys ?? []);
  const deniedRoles = new Set(opts.denyRoles ?? []);

  const keySecret = (arn: string) => hmac(master, `kms-key:${arn}`);

  function checkKey(arn: unknown, region: string): string {
    if (typeof arn !== 'string' || !arn)
      throw new AwsFault('ValidationException', '1 validation error detected: KeyId must not be null');
    const m = KMS_ARN.exec(arn);
    if (!m || (known && !known.has(arn))) throw new AwsFault('NotFoundException', `Key '${arn}' does not exist`);
    // a client of region X only reaches the keys of region X
    if (m[1] !== region) throw new AwsFault('NotFoundException', `Key '${arn}' does not exist in region ${region}`);
    if (denied.has(arn)) {
      throw new AwsFault(
        'AccessDeniedException',
        `User is not authorized to perform: kms:* on resource: ${arn} because no identity-based policy allows it`,
      );
    }
    return arn;
  }

  function readContext(v: unknown): Record<string, string> | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v))
      throw new AwsFault('ValidationException', 'EncryptionContext must be a map');
    for (const x of Object.values(v)) {
      if (typeof x !== 'string') throw new AwsFault('ValidationException', 'EncryptionContext values must be strings');
    }
    return v as Record<string, string>;
  }

  function readBlob(v: unknown, name: string): Buffer {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
      throw new AwsFault('SerializationException', `${name} is not a base64 blob`);
    }
    return Buffer.from(v, 'base64');
  }

  function kms(action: string, input: Record<string, unknown>, call: AwsCall): Record<string, unknown> {
    const context = readContext(input['EncryptionContext']);
    if (context) call.encryptionContext = context;
    if (typeof input['KeyId'] === 'string') call.keyId = input['KeyId'];
    if (action === 'Encrypt') {
      const arn = checkKey(input['KeyId'], call.region);
      const plain = readBlob(input['Plaintext'], 'Plaintext');
      if (plain.length < 1 || plain.length > 4096)
        throw new AwsFault('ValidationException', 'Plaintext must be 1 to 4096 bytes');
      const iv = crypto.randomBytes(12);
      const c = crypto.createCipheriv('aes-256-gcm', keySecret(arn), iv);
      c.setAAD(contextAad(context));
      const ct = Buffer.concat([c.update(plain), c.final()]);
      const id = Buffer.from(arn, 'utf8');
      const head = Buffer.alloc(3);
      head.writeUInt8(BLOB_VERSION, 0);
      head.writeUInt16BE(id.length, 1);
      const blob = Buffer.concat([head, id, iv, c.getAuthTag(), ct]);
      return { CiphertextBlob: blob.toString('base64'), KeyId: arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    }
    if (action === 'Decrypt') {
      const blob = readBlob(input['CiphertextBlob'], 'CiphertextBlob');
      const bad = () =>
        new AwsFault(
          'InvalidCiphertextException',
          'The ciphertext is invalid or was encrypted under a different key or encryption context',
        );
      const rec = opts.recorded?.find((r) => Buffer.from(r.ciphertextBlob, 'base64').equals(blob));
      if (rec) {
        if (input['KeyId'] !== undefined && input['KeyId'] !== rec.keyId) {
          throw new AwsFault(
            'IncorrectKeyException',
            'The key ID in the request does not identify a KMS key that can perform this operation',
          );
        }
        checkKey(rec.keyId, call.region);
        if (!contextAad(context).equals(contextAad(rec.encryptionContext))) throw bad();
        return {
          Plaintext: rec.plaintext.toString('base64'),
          KeyId: rec.keyId,
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      if (blob.length < 3 || blob.readUInt8(0) !== BLOB_VERSION) throw bad();
      const idLen = blob.readUInt16BE(1);
      if (blob.length < 3 + idLen + 12 + 16) throw bad();
      const arn = blob.subarray(3, 3 + idLen).toString('utf8');
      if (input['KeyId'] !== undefined && input['KeyId'] !== arn) {
        throw new AwsFault(
          'IncorrectKeyException',
          'The key ID in the request does not identify a KMS key that can perform this operation',
        );
      }
      checkKey(arn, call.region);
      const iv = blob.subarray(3 + idLen, 3 + idLen + 12);
      const tag = blob.subarray(3 + idLen + 12, 3 + idLen + 28);
      const d = crypto.createDecipheriv('aes-256-gcm', keySecret(arn), iv);
      d.setAAD(contextAad(context));
      d.setAuthTag(tag);
      let plain: Buffer;
      try {
        plain = Buffer.concat([d.update(blob.subarray(3 + idLen + 28)), d.final()]);
      } catch {
        throw bad();
      }
      return { Plaintext: plain.toString('base64'), KeyId: arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    }
    throw new AwsFault('UnknownOperationException', `unsupported operation TrentService.${action}`);
  }

  function sts(params: URLSearchParams, call: AwsCall): string {
    if (call.action !== 'AssumeRole')
      throw new AwsFault('InvalidAction', `Could not find operation ${call.action} for version 2011-06-15`);
    const roleArn = params.get('RoleArn') ?? '';
    const name = params.get('RoleSessionName') ?? '';
    call.roleArn = roleArn;
    call.roleSessionName = name;
    const role = /^arn:aws[\w-]*:iam::(\d{12}):role\/(.+)$/.exec(roleArn);
    if (!role) throw new AwsFault('ValidationError', `${roleArn} is invalid`);
    if (!/^[\w+=,.@-]{2,64}$/.test(name)) {
      throw new AwsFault(
        'ValidationError',
        "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
      );
    }
    if (deniedRoles.has(roleArn)) {
      throw new AwsFault(
        'AccessDenied',
        `User: arn:aws:iam::${role[1]}:user/caller is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    const creds: IssuedCredentials = {
      roleArn,
      roleSessionName: name,
      accessKeyId: `ASIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: crypto.randomBytes(30).toString('base64'),
      sessionToken: crypto.randomBytes(48).toString('base64'),
    };
    issued.push(creds);
    const expiration = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const roleName = role[2]!.split('/').pop()!;
    return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${crypto.randomBytes(8).toString('hex').toUpperCase()}:${xmlEscape(name)}</AssumedRoleId>
      <Arn>arn:aws:sts::${role[1]}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(name)}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(creds.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(creds.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${crypto.randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`;
  }

  /** Who signed the request; throws the service's authentication error when that is not acceptable. */
  function authenticate(req: http.IncomingMessage, body: Buffer, call: AwsCall): void {
    const sig = parseAuthorization(req.headers['authorization']);
    if (!sig) {
      throw call.service === 'sts'
        ? new AwsFault('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
        : new AwsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    call.accessKeyId = sig.accessKeyId;
    call.region = sig.region;
    const token = req.headers['x-amz-security-token'];
    if (typeof token === 'string') call.sessionToken = token;
    if (!opts.credentials) return;
    const temp = issued.find((c) => c.accessKeyId === sig.accessKeyId);
    const secret = temp ? temp.secretAccessKey : opts.credentials[sig.accessKeyId];
    const unknownKey = () =>
      call.service === 'sts'
        ? new AwsFault('InvalidClientTokenId', 'The security token included in the request is invalid.', 403)
        : new AwsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (secret === undefined) throw unknownKey();
    if (temp && call.sessionToken !== temp.sessionToken) throw unknownKey();
    if (!temp && call.sessionToken !== undefined) throw unknownKey();
    if (sig.service !== call.service)
      throw new AwsFault(
        'InvalidSignatureException',
        `Credential should be scoped to correct service: '${call.service}'.`,
        call.service === 'sts' ? 403 : 400,
      );
    const want = expectedSignature(req, body, sig, secret);
    if (!crypto.timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(sig.signature, 'hex'))) {
      throw call.service === 'sts'
        ? new AwsFault(
            'SignatureDoesNotMatch',
            'The request signature we calculated does not match the signature you provided.',
            403,
          )
        : new AwsFault(
            'InvalidSignatureException',
            'The request signature we calculated does not match the signature you provided.',
          );
    }
  }

  /** Record a request as it arrives (before any delay), so `calls` also counts unanswered attempts. */
  function record(req: http.IncomingMessage, body: Buffer): { call: AwsCall; params?: URLSearchParams } {
    const target = String(req.headers['x-amz-target'] ?? '');
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const params = form ? new URLSearchParams(body.toString('utf8')) : undefined;
    const isKms = target.startsWith('TrentService.');
    const call: AwsCall = {
      service: isKms ? 'kms' : params ? 'sts' : 'unknown',
      action: isKms ? target.slice('TrentService.'.length) : (params?.get('Action') ?? ''),
      accessKeyId: parseAuthorization(req.headers['authorization'])?.accessKeyId ?? '',
      region: '',
      status: 0,
    };
    calls.push(call);
    return { call, ...(params ? { params } : {}) };
  }

  function answer(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    call: AwsCall,
    params: URLSearchParams | undefined,
  ): void {
    call.status = 200;
    const requestId = crypto.randomUUID();
    try {
      if (req.method !== 'POST') throw new AwsFault('UnknownOperationException', `unsupported method ${req.method}`);
      if (call.service === 'unknown')
        throw new AwsFault('UnknownOperationException', 'neither a KMS nor an STS request');
      authenticate(req, body, call);
      if (call.service === 'kms') {
        let input: Record<string, unknown>;
        try {
          input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
        } catch {
          throw new AwsFault('SerializationException', 'the request body is not JSON');
        }
        const out = kms(call.action, input, call);
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': requestId });
        res.end(JSON.stringify(out));
      } else {
        const xml = sts(params!, call);
        res.writeHead(200, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId });
        res.end(xml);
      }
    } catch (e) {
      const f =
        e instanceof AwsFault
          ? e
          : new AwsFault(call.service === 'sts' ? 'InternalFailure' : 'KMSInternalException', String(e), 500);
      call.status = f.status;
      call.error = f.code;
      if (call.service === 'sts') {
        res.writeHead(f.status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId });
        res.end(
          `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>${f.status >= 500 ? 'Receiver' : 'Sender'}</Type>\n    <Code>${f.code}</Code>\n    <Message>${xmlEscape(f.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
        );
      } else {
        res.writeHead(f.status, {
          'Content-Type': 'application/x-amz-json-1.1',
          'x-amzn-RequestId': requestId,
          'x-amzn-ErrorType': f.code,
        });
        res.end(JSON.stringify({ __type: f.code, message: f.message }));
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on(
      'end',
      () =>
        void (async () => {
          const body = Buffer.concat(chunks);
          const { call, params } = record(req, body);
          if (opts.observer) {
            const what = `${call.service}:${call.action}`;
            res.once('finish', () => opts.observer!.answered('aws', what));
            await opts.observer.arrived('aws', what);
            if (res.destroyed) return;
          }
          if (opts.delayMs) {
            const t = setTimeout(() => {
              timers.delete(t);
              if (!res.destroyed && !res.writableEnded) answer(req, res, body, call, params);
            }, opts.delayMs);
            timers.add(t);
          } else {
            answer(req, res, body, call, params);
          }
        })(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    issued,
    denied,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
