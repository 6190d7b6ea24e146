/**
 * A loopback stand-in for Amazon S3's PutObject / GetObject, path-style (`/BUCKET/KEY`), for tests
 * that drive the real `@aws-sdk/client-s3`. Every request must be signed with SigV4 (service `s3`) by
 * one of `credentials`; the signature is verified over the canonical request S3 uses (the path as
 * sent, not encoded twice; the payload hash from `x-amz-content-sha256`, which must match the body
 * unless it is `UNSIGNED-PAYLOAD`). `aws-chunked` bodies (the SDK's trailing checksums) are decoded.
 * Errors are S3's XML `<Error><Code>…</Code><Message>…</Message></Error>` with their status.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Object {
  body: Buffer;
  contentType?: string;
}

export interface S3Call {
  method: string;
  bucket: string;
  key: string;
  accessKeyId: string;
  region: string;
  status: number;
  error?: string;
}

export interface S3ServerOptions {
  /** Access key id → secret access key. */
  credentials: Record<string, string>;
  /** Buckets that exist (others: NoSuchBucket). */
  buckets: string[];
}

export interface S3Server {
  /** `http://127.0.0.1:PORT` — for AWS_ENDPOINT_URL_S3. */
  url: string;
  /** `BUCKET/KEY` → the object. */
  objects: Map<string, S3Object>;
  calls: S3Call[];
  /** Answer PutObject with 403 AccessDenied. */
  denyWrites: boolean;
  close(): Promise<void>;
}

class S3Fault extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const sha256hex = (d: string | Buffer) => crypto.createHash('sha256').update(d).digest('hex');
const hmac = (k: Buffer | string, d: string) => crypto.createHmac('sha256', k).update(d).digest();

/** The data of an `aws-chunked` body (chunks of `HEX[;ext]\r\nDATA\r\n`, then `0\r\n` and trailers). */
function unchunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) throw new S3Fault('IncompleteBody', 'bad aws-chunked body', 400);
    const size = parseInt(body.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new S3Fault('IncompleteBody', 'bad aws-chunked chunk size', 400);
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function verify(req: http.IncomingMessage, body: Buffer, opts: S3ServerOptions, call: S3Call): void {
  const m =
    /^AWS4-HMAC-SHA256\s+Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(
      (req.headers['authorization'] ?? '').trim(),
    );
  if (!m) throw new S3Fault('AccessDenied', 'Access Denied', 403);
  const [, id, date, region, service, signed, signature] = m as unknown as string[];
  call.accessKeyId = id!;
  call.region = region!;
  const secret = opts.credentials[id!];
  if (secret === undefined)
    throw new S3Fault('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403);
  if (service !== 's3') throw new S3Fault('AuthorizationHeaderMalformed', `wrong service ${service}`, 400);
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  if (!payloadHash) throw new S3Fault('InvalidRequest', 'Missing required header x-amz-content-sha256', 400);
  if (/^[0-9a-f]{64}$/.test(payloadHash) && payloadHash !== sha256hex(body))
    throw new S3Fault('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 does not match', 400);
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((p) => (p.includes('=') ? p : `${p}=`))
    .sort()
    .join('&');
  const headers = signed!.split(';');
  const canonicalHeaders = headers
    .map((n) => {
      const v = req.headers[n];
      return `${n}:${(Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonical = [req.method, path, canonicalQuery, canonicalHeaders, signed, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', String(req.headers['x-amz-date'] ?? ''), scope, sha256hex(canonical)].join('\n');
  let k = hmac(`AWS4${secret}`, date!);
  k = hmac(k, region!);
  k = hmac(k, 's3');
  k = hmac(k, 'aws4_request');
  const want = crypto.createHmac('sha256', k).update(toSign).digest('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(signature!, 'hex')))
    throw new S3Fault(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
      403,
    );
}

export async function startS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const objects = new Map<string, S3Object>();
  const calls: S3Call[] = [];
  const state = { denyWrites: false };
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body: Buffer = Buffer.concat(chunks);
      const path = (req.url ?? '/').split('?')[0]!;
      const slash = path.indexOf('/', 1);
      const bucket = decodeURIComponent(slash < 0 ? path.slice(1) : path.slice(1, slash));
      const key = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
      const call: S3Call = { method: req.method ?? '', bucket, key, accessKeyId: '', region: '', status: 0 };
      calls.push(call);
      try {
        verify(req, body, opts, call);
        if (!opts.buckets.includes(bucket))
          throw new S3Fault('NoSuchBucket', 'The specified bucket does not exist', 404);
        if (!key) throw new S3Fault('InvalidRequest', 'no key', 400);
        if (req.method === 'PUT') {
          if (state.denyWrites) throw new S3Fault('AccessDenied', 'Access Denied', 403);
          if (/aws-chunked/.test(req.headers['content-encoding'] ?? '')) body = unchunk(body);
          const ct = req.headers['content-type'];
          objects.set(`${bucket}/${key}`, { body, ...(ct ? { contentType: ct } : {}) });
          call.status = 200;
          res.writeHead(200, { etag: `"${crypto.createHash('md5').update(body).digest('hex')}"` });
          res.end();
          return;
        }
        if (req.method === 'GET') {
          const o = objects.get(`${bucket}/${key}`);
          if (!o) throw new S3Fault('NoSuchKey', 'The specified key does not exist.', 404);
          call.status = 200;
          res.writeHead(200, { 'content-length': o.body.length });
          res.end(o.body);
          return;
        }
        throw new S3Fault('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
      } catch (e) {
        const f = e instanceof S3Fault ? e : new S3Fault('InternalError', String(e), 500);
        call.status = f.status;
        call.error = f.code;
        const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.code}</Code><Message>${f.message}</Message><RequestId>1</RequestId></Error>`;
        res.writeHead(f.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
        res.end(xml);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    calls,
    get denyWrites() {
      return state.denyWrites;
    },
    set denyWrites(v: boolean) {
      state.denyWrites = v;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
