/**
 * A loopback stand-in for Google Cloud Storage's JSON API uploads, for tests that drive the real
 * `@google-cloud/storage` (pointed here with STORAGE_EMULATOR_HOST, as for Google's emulators):
 *   POST /upload/storage/v1/b/BUCKET/o?uploadType=multipart   multipart/related: JSON metadata + media
 *   POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=N  the media alone
 *   POST …?uploadType=resumable (session) then PUT the session URL with the bytes
 * Answers the object resource (`{kind: 'storage#object', bucket, name, size, md5Hash, crc32c…}`).
 * When the client sends an `x-goog-hash` / metadata `crc32c` or `md5Hash`, it is checked.
 * Unknown buckets: 404; `denyWrites`: 403. Errors are Google's `{error: {code, message, errors}}`.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GcsServer {
  /** `http://127.0.0.1:PORT` — for STORAGE_EMULATOR_HOST. */
  url: string;
  /** `BUCKET/NAME` → bytes. */
  objects: Map<string, Buffer>;
  /** `uploadType` of every upload request, in order. */
  uploads: string[];
  denyWrites: boolean;
  close(): Promise<void>;
}

class GcsFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** CRC32C (Castagnoli), as GCS reports it (base64 of the big-endian value). */
function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

/** The parts of a multipart/related body. */
function multipart(body: Buffer, contentType: string): Array<{ headers: string; data: Buffer }> {
  const m = /boundary="?([^";]+)"?/.exec(contentType);
  if (!m) throw new GcsFault(400, 'multipart upload without a boundary');
  const sep = Buffer.from(`--${m[1]}`);
  const parts: Array<{ headers: string; data: Buffer }> = [];
  let at = body.indexOf(sep);
  while (at >= 0) {
    const start = at + sep.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(sep, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF--boundary
    const split = part.indexOf('\r\n\r\n');
    parts.push({ headers: part.subarray(0, split).toString('utf8'), data: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}

export async function startGcsServer(opts: { buckets: string[] }): Promise<GcsServer> {
  const objects = new Map<string, Buffer>();
  const uploads: string[] = [];
  const sessions = new Map<string, { bucket: string; name: string }>();
  const state = { denyWrites: false };
  let base = '';

  function store(bucket: string, name: string, data: Buffer, meta: Record<string, unknown>) {
    if (!opts.buckets.includes(bucket)) throw new GcsFault(404, 'The specified bucket does not exist.');
    if (state.denyWrites) throw new GcsFault(403, 'tsops-test does not have storage.objects.create access.');
    if (!name) throw new GcsFault(400, 'Required: name');
    const crc = crc32c(data);
    const md5 = crypto.createHash('md5').update(data).digest('base64');
    if (typeof meta['crc32c'] === 'string' && meta['crc32c'] !== crc)
      throw new GcsFault(400, 'Provided CRC32C does not match the data');
    if (typeof meta['md5Hash'] === 'string' && meta['md5Hash'] !== md5)
      throw new GcsFault(400, 'Provided MD5 hash does not match the data');
    objects.set(`${bucket}/${name}`, data);
    return {
      kind: 'storage#object',
      id: `${bucket}/${name}/1`,
      name,
      bucket,
      generation: '1',
      metageneration: '1',
      size: String(data.length),
      md5Hash: md5,
      crc32c: crc,
      contentType: typeof meta['contentType'] === 'string' ? meta['contentType'] : 'application/octet-stream',
    };
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const reply = (status: number, value: unknown) => {
        const text = JSON.stringify(value);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      try {
        const session = u.searchParams.get('upload_id');
        if (req.method === 'PUT' && session) {
          const s = sessions.get(session);
          if (!s) throw new GcsFault(404, 'no such upload session');
          uploads.push('resumable-data');
          reply(200, store(s.bucket, s.name, body, {}));
          return;
        }
        const m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(u.pathname);
        if (req.method !== 'POST' || !m) throw new GcsFault(404, `Not Found: ${req.method} ${u.pathname}`);
        const bucket = decodeURIComponent(m[1]!);
        const type = u.searchParams.get('uploadType') ?? '';
        uploads.push(type);
        if (type === 'multipart') {
          const parts = multipart(body, req.headers['content-type'] ?? '');
          if (parts.length !== 2) throw new GcsFault(400, 'multipart upload needs metadata and media');
          const meta = JSON.parse(parts[0]!.data.toString('utf8')) as Record<string, unknown>;
          const name = typeof meta['name'] === 'string' ? meta['name'] : (u.searchParams.get('name') ?? '');
          reply(200, store(bucket, name, parts[1]!.data, meta));
          return;
        }
        if (type === 'media') {
          reply(200, store(bucket, u.searchParams.get('name') ?? '', body, {}));
          return;
        }
        if (type === 'resumable') {
          const meta = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
          const name = typeof meta['name'] === 'string' ? meta['name'] : (u.searchParams.get('name') ?? '');
          const id = crypto.randomUUID();
          sessions.set(id, { bucket, name });
          res.writeHead(200, { location: `${base}${u.pathname}?uploadType=resumable&upload_id=${id}` });
          res.end();
          return;
        }
        throw new GcsFault(400, `unknown uploadType ${type}`);
      } catch (e) {
        const f = e instanceof GcsFault ? e : new GcsFault(500, String(e));
        reply(f.status, { error: { code: f.status, message: f.message, errors: [{ message: f.message }] } });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    objects,
    uploads,
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
