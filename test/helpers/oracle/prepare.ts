// The sops oracle (see ../sops-oracle.ts): preparing the Lambda binary and certificates, shared between processes through the cache.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';
import { ROOT } from '../fixtures.js';
import {
  PKG,
  PKG_VERSION,
  PKG_INTEGRITY,
  LAMBDA_ZIP,
  LAYOUT,
  NPM_TIMEOUT_MS,
  LOCK_WAIT_MS,
  LOCK_STALE_MS,
  REGION,
  execFileP,
  gunzipP,
  inflateRawP,
  sleep,
  type Prepared,
} from './common.js';

// ---------------------------------------------------------------------------------------------------
// Preparation (download, extract, certificates), shared between processes through the cache

export function cacheRoot(): string {
  return process.env.SOPS_ORACLE_CACHE || path.join(ROOT, 'node_modules', '.cache', 'tsops-sops-oracle');
}

export function isReady(dir: string): boolean {
  return ['ready', 'bootstrap', 'ca.crt', 'host.key', 'host.crt'].every((f) => fs.existsSync(path.join(dir, f)));
}

export function load(dir: string): Prepared {
  return {
    dir,
    bin: path.join(dir, 'bootstrap'),
    caCrt: path.join(dir, 'ca.crt'),
    hostKey: fs.readFileSync(path.join(dir, 'host.key')),
    hostCrt: fs.readFileSync(path.join(dir, 'host.crt')),
  };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the preparation lock; false when the wait ran out (the caller then prepares anyway: the rename stays atomic). */
export async function lock(lockPath: string, dir: string, failedPath: string): Promise<boolean> {
  const started = Date.now();
  const deadline = started + LOCK_WAIT_MS;
  while (Date.now() < deadline) {
    if (isReady(dir)) return false;
    // A process that held the lock while we waited could not prepare: do not try again in this run.
    const failed = await fsp.stat(failedPath).catch(() => null);
    if (failed && failed.mtimeMs >= started - 1000)
      throw new Error(await fsp.readFile(failedPath, 'utf8').catch(() => 'preparation failed'));
    try {
      const fh = await fsp.open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n${os.hostname()}\n`);
      await fh.close();
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      const st = await fsp.stat(lockPath);
      const [pid, host] = (await fsp.readFile(lockPath, 'utf8')).split('\n');
      const dead = host === os.hostname() && Number(pid) > 0 && !pidAlive(Number(pid));
      if (dead || Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await fsp.rm(lockPath, { force: true });
        continue;
      }
    } catch {
      /* lock vanished meanwhile */
    }
    await sleep(200);
  }
  return false;
}

export async function prepare(): Promise<Prepared> {
  const root = cacheRoot();
  const dir = path.join(root, LAYOUT);
  if (isReady(dir)) return load(dir);
  await fsp.mkdir(root, { recursive: true });
  const lockPath = path.join(root, `${LAYOUT}.lock`);
  const failedPath = path.join(root, `${LAYOUT}.failed`);
  const locked = await lock(lockPath, dir, failedPath);
  try {
    if (isReady(dir)) return load(dir);
    await removeStaleTemps(root);
    const tmp = await fsp.mkdtemp(path.join(root, `.tmp-${LAYOUT}-`));
    try {
      await build(tmp);
      try {
        await fsp.rename(tmp, dir);
      } catch (e) {
        if (!isReady(dir)) throw e; // another process finished first: use its copy
      }
    } catch (e) {
      const reason = briefError(e);
      if (locked) await fsp.writeFile(failedPath, reason).catch(() => {});
      throw new Error(reason, { cause: e });
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
    await fsp.rm(failedPath, { force: true });
    return load(dir);
  } finally {
    if (locked) await fsp.rm(lockPath, { force: true });
  }
}

/** The gist of an error, e.g. npm's own "npm error" lines rather than its whole log. */
export function briefError(e: unknown): string {
  const err = e as { message?: string; stderr?: string | Buffer; killed?: boolean; cmd?: string };
  const lines = String(err.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^npm (error|ERR!) (code|\w+Error|\d{3}|404|request)/i.test(l));
  if (err.cmd && err.killed) return `${err.cmd.split(' ').slice(0, 2).join(' ')}: timed out`;
  if (err.cmd)
    return `${err.cmd.split(' ').slice(0, 3).join(' ')} failed${lines.length ? `: ${lines.slice(0, 3).join('; ')}` : `: ${String(err.message).split('\n').slice(1, 3).join('; ')}`}`;
  return (err.message ?? String(e)).slice(0, 500);
}

export async function removeStaleTemps(root: string): Promise<void> {
  for (const name of await fsp.readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith('.tmp-')) continue;
    const p = path.join(root, name);
    const st = await fsp.stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > 3_600_000) await fsp.rm(p, { recursive: true, force: true }).catch(() => {});
  }
}

export async function build(tmp: string): Promise<void> {
  await execFileP(
    'npm',
    [
      'pack',
      `${PKG}@${PKG_VERSION}`,
      '--pack-destination',
      tmp,
      '--ignore-scripts',
      '--loglevel=error',
      '--fetch-retries=1',
      '--fetch-retry-mintimeout=2000',
      '--fetch-retry-maxtimeout=5000',
      '--fetch-timeout=60000',
    ],
    { cwd: tmp, timeout: NPM_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
  );
  const tgzPath = path.join(tmp, `${PKG}-${PKG_VERSION}.tgz`);
  const tgz = await fsp.readFile(tgzPath);
  const integrity = 'sha512-' + crypto.createHash('sha512').update(tgz).digest('base64');
  if (integrity !== PKG_INTEGRITY)
    throw new Error(`${PKG}@${PKG_VERSION}: integrity ${integrity} is not the pinned one`);
  const zip = tarEntry(await gunzipP(tgz), LAMBDA_ZIP);
  const bin = await zipEntry(zip, 'bootstrap');
  await fsp.writeFile(path.join(tmp, 'bootstrap'), bin, { mode: 0o755 });
  await fsp.rm(tgzPath);
  await makeCertificates(tmp);
  await fsp.writeFile(path.join(tmp, 'ready'), `${PKG}@${PKG_VERSION}\n`);
}

/** One regular file's bytes from an uncompressed (ustar/pax) tar archive. */
export function tarEntry(tar: Buffer, want: string): Buffer {
  let off = 0;
  let paxPath: string | null = null;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, b: number) => {
      const s = h.subarray(a, b);
      const z = s.indexOf(0);
      return s.subarray(0, z < 0 ? s.length : z).toString('utf8');
    };
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const type = str(156, 157);
    const prefix = str(257, 263).startsWith('ustar') ? str(345, 500) : '';
    const name = paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      // pax extended header: "len key=value\n" records
      paxPath = null;
      for (const m of data.toString('utf8').matchAll(/^\d+ path=(.*)$/gm)) paxPath = m[1] ?? null;
      continue;
    }
    paxPath = null;
    if ((type === '0' || type === '') && name === want) return Buffer.from(data);
  }
  throw new Error(`${want} not found in the package`);
}

/** One file's bytes from a zip archive (stored or deflated, no zip64). */
export async function zipEntry(zip: Buffer, want: string): Promise<Buffer> {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('lambda zip: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('lambda zip: bad central directory');
    const method = zip.readUInt16LE(p + 10);
    const csize = zip.readUInt32LE(p + 20),
      usize = zip.readUInt32LE(p + 24);
    const nlen = zip.readUInt16LE(p + 28),
      xlen = zip.readUInt16LE(p + 30),
      clen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nlen).toString('utf8');
    p += 46 + nlen + xlen + clen;
    if (name !== want) continue;
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error('lambda zip: bad local header');
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + csize);
    const out = method === 0 ? Buffer.from(raw) : method === 8 ? await inflateRawP(raw) : null;
    if (!out) throw new Error(`lambda zip: compression method ${method} not supported`);
    if (out.length !== usize) throw new Error('lambda zip: size mismatch');
    return out;
  }
  throw new Error(`lambda zip: ${want} not found`);
}

/** Private CA (its key is deleted once the server certificate is signed) and a server certificate for AWS hosts. */
export async function makeCertificates(dir: string): Promise<void> {
  const ossl = (...args: string[]) => execFileP('openssl', args, { cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' });
  await fsp.writeFile(
    path.join(dir, 'ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = ext',
      '[dn]',
      'CN = tsops sops-oracle CA',
      '[ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  await fsp.writeFile(
    path.join(dir, 'host.cnf'),
    ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = secretsmanager.${REGION}.amazonaws.com`, ''].join(
      '\n',
    ),
  );
  await fsp.writeFile(
    path.join(dir, 'host.ext'),
    [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = DNS:*.${REGION}.amazonaws.com,DNS:*.amazonaws.com`,
      '',
    ].join('\n'),
  );
  await ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '3650',
    '-config',
    'ca.cnf',
  );
  await ossl(
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'host.key',
    '-out',
    'host.csr',
    '-config',
    'host.cnf',
  );
  await ossl(
    'x509',
    '-req',
    '-in',
    'host.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x' + crypto.randomBytes(8).toString('hex'),
    '-days',
    '3650',
    '-extfile',
    'host.ext',
    '-out',
    'host.crt',
  );
  for (const f of ['ca.key', 'host.csr', 'ca.cnf', 'host.cnf', 'host.ext'])
    await fsp.rm(path.join(dir, f), { force: true });
}
