// The sops oracle (see ../sops-oracle.ts): the Lambda processes and the loopback emulation they talk to.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  ACCOUNT,
  CALL_TIMEOUT_MS,
  DEBUG,
  REGION,
  SECRET_ARN,
  debug,
  type OracleFormat,
  type OracleResult,
  type OracleServices,
  type Prepared,
} from './common.js';
import { pidAlive } from './prepare.js';

// ---------------------------------------------------------------------------------------------------
// Lambda processes and the loopback emulation they talk to

export interface Job {
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

/** Every Lambda process alive (pooled or closing). */
export const live = new Set<Worker>();

let procTmp: string | null = null;

/** Remove this process's private folder (at exit: `sync`). */
export async function removeProcTmp(sync = false): Promise<void> {
  if (!procTmp) return;
  const dir = procTmp;
  procTmp = null;
  try {
    if (sync) fs.rmSync(dir, { recursive: true, force: true });
    else await fs.promises.rm(dir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}
export function tmpDir(): string {
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
export const STRIPPED_ENV = /^(AWS_.*|http_proxy|https_proxy|no_proxy|all_proxy|ALL_PROXY|SSL_CERT_DIR)$/;

export class Worker {
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

  constructor(
    readonly key: string,
    private readonly prep: Prepared,
    private readonly env: NodeJS.ProcessEnv,
    private readonly onDead: (w: Worker, orphans: Job[], reason: string) => void,
    private readonly services: OracleServices = {},
  ) {
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
      const tunnel = this.services.tunnels?.[(req.url ?? '').toLowerCase()];
      const addr = this.tlsServer.address() as net.AddressInfo;
      const up = net.connect(tunnel ?? addr.port, '127.0.0.1', () => {
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(sock);
        sock.pipe(up);
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
    const listen = (s: net.Server) =>
      new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
          s.off('error', reject);
          s.unref();
          resolve();
        });
      });
    await listen(this.tlsServer);
    await listen(this.server);
    if (this.dead) {
      this.server.close(() => {});
      this.tlsServer.close(() => {});
      return;
    } // closed or evicted meanwhile
    const port = (this.server.address() as net.AddressInfo).port;
    const proxy = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(this.env)) if (!STRIPPED_ENV.test(k) && v !== undefined) env[k] = v;
    let caFile = this.prep.caCrt;
    if (this.services.ca) {
      // The oracle's CA plus the certificates of the tunnelled servers, in one bundle for this process.
      caFile = path.join(tmpDir(), `ca-${crypto.randomBytes(6).toString('hex')}.pem`);
      fs.writeFileSync(caFile, `${fs.readFileSync(this.prep.caCrt, 'utf8').trim()}\n${this.services.ca.trim()}\n`, {
        mode: 0o600,
      });
      this.caBundle = caFile;
    }
    if (this.services.vault) Object.assign(env, { VAULT_ADDR: proxy, VAULT_PROXY_ADDR: proxy });
    Object.assign(env, {
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIDTSOPSORACLE',
      AWS_SECRET_ACCESS_KEY: 'tsops-oracle',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: os.devNull,
      AWS_SHARED_CREDENTIALS_FILE: os.devNull,
      AWS_ENDPOINT_URL: proxy,
      AWS_CA_BUNDLE: caFile,
      SSL_CERT_FILE: caFile,
      HTTPS_PROXY: proxy,
      HTTP_PROXY: proxy,
      NO_PROXY: '127.0.0.1,localhost',
      AWS_LAMBDA_FUNCTION_NAME: 'tsops-oracle',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      _HANDLER: 'bootstrap',
    });
    const log = fs.openSync(this.logFile, 'w', 0o600);
    try {
      // Own process group, so that a kill also takes the gpg it may be waiting for.
      // (Should this process die without cleaning up, the Lambda exits as its runtime API connection drops.)
      this.child = spawn(this.prep.bin, [], {
        env,
        cwd: tmpDir(),
        detached: true,
        stdio: ['ignore', DEBUG ? 'inherit' : log, DEBUG ? 'inherit' : log],
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
    } catch {
      return '';
    }
  }

  enqueue(job: Job): void {
    this.queue.push(job);
    this.pump();
  }

  get idle(): boolean {
    return !this.current && this.queue.length === 0;
  }

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
        RequestType: 'Create',
        ResponseURL: `http://127.0.0.1:${port}/cfn/${job.id}`,
        StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/tsops-oracle/1`,
        RequestId: job.id,
        LogicalResourceId: 'Oracle',
        ResourceType: 'Custom::SopsSync',
        ResourceProperties: {
          SecretARN: SECRET_ARN,
          SopsInline: { Content: job.content, Hash: crypto.createHash('sha256').update(job.id).digest('hex') },
          Format: job.format,
          ConvertToJSON: 'true',
          Flatten: 'false',
          StringifiedValues: 'false',
          StringifyValues: 'false',
          ResourceType: 'SECRET',
        },
      };
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Lambda-Runtime-Aws-Request-Id': job.id,
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
    if (job.cfn?.Status === 'SUCCESS' && job.stored !== undefined)
      job.resolve({ ok: true, output: job.stored, error: '' });
    else if (job.cfn?.Status === 'SUCCESS')
      job.resolve({ ok: false, output: '', error: 'sops-oracle: SUCCESS without a stored secret' });
    else {
      // The Lambda wraps sops's error as "error while decrypting file content\ndecryption error:\n<sops error>".
      const reason = job.cfn?.Reason || job.runtimeError || 'sops-oracle: no answer from the Lambda';
      job.resolve({
        ok: false,
        output: '',
        error: reason.replace(/^error while decrypting file content\s*decryption error:\s*/, ''),
      });
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
        if (job && url === `/cfn/${job.id}`) {
          try {
            job.cfn = JSON.parse(body);
          } catch {
            job.cfn = { Reason: body };
          }
        }
        res.writeHead(200);
        res.end();
        return;
      }
      if (target.startsWith('secretsmanager.')) {
        const job = this.current;
        try {
          const b = JSON.parse(body) as { SecretString?: string; SecretBinary?: string };
          if (job && b.SecretString !== undefined) job.stored = b.SecretString;
          else if (job && b.SecretBinary !== undefined)
            job.stored = Buffer.from(b.SecretBinary, 'base64').toString('utf8');
        } catch {
          /* not JSON: nothing to record */
        }
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({ ARN: SECRET_ARN, Name: 'tsops-oracle', VersionId: 'v1', VersionStages: ['AWSCURRENT'] }),
        );
        return;
      }
      const forwardTo = this.serviceFor(req, target, body);
      if (forwardTo) return this.forward(req, raw, res, forwardTo);
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          __type: 'UnknownOperationException',
          message: `sops-oracle: not emulated: ${req.method} ${url} ${target}`,
        }),
      );
    });
  }

  /** The loopback service a key-service request goes to (`services`), with the path to ask for there. */
  private serviceFor(
    req: http.IncomingMessage,
    target: string,
    body: string,
  ): { base: string; path: string } | undefined {
    const { aws, vault } = this.services;
    const url = req.url ?? '/';
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (aws && (target.startsWith('TrentService.') || (form && /(?:^|&)Action=AssumeRole(?:&|$)/.test(body))))
      return { base: aws, path: url.startsWith('/') ? url : '/' };
    if (vault) {
      // Through VAULT_PROXY_ADDR a request for an http:// vault arrives in absolute form.
      const u = new URL(url, 'http://vault.invalid');
      if (u.pathname.startsWith('/v1/')) return { base: vault, path: u.pathname + u.search };
    }
    return undefined;
  }

  private forward(
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
    to: { base: string; path: string },
  ): void {
    const base = new URL(to.base);
    debug('forward', req.method, req.headers.host, req.url, '->', `${to.base}${to.path}`);
    // The Host header stays as sent: it is part of an AWS request's signature.
    const headers: http.OutgoingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
    delete headers['proxy-connection'];
    delete headers['transfer-encoding'];
    const up = http.request(
      { host: base.hostname, port: base.port, method: req.method, path: to.path, headers, agent: false },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
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
        try {
          job.runtimeError = (JSON.parse(body) as { errorMessage?: string }).errorMessage ?? body;
        } catch {
          job.runtimeError = body;
        }
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
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      c.kill('SIGKILL');
    }
  }

  /** Mark dead, close the emulation, hand still-waiting jobs back to the pool. */
  die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    debug('worker down:', reason);
    this.kill();
    this.pendingNext = null;
    this.server.close(() => {});
    this.tlsServer.close(() => {}); // (callbacks: not listening yet is fine)
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
