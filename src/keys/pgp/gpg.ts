/**
 * Running the user's GnuPG the way sops does: the binary named by SOPS_GPG_EXEC (else `gpg` on
 * PATH), the caller's environment (so GNUPGHOME, GPG_TTY, the agent and pinentry work as for sops),
 * secrets only on stdin, every call bounded by a timeout, stderr kept for messages.
 */
import { spawn } from 'node:child_process';

/** Default bound on one gpg call; TSOPS_GPG_TIMEOUT (seconds) overrides it. Long enough for pinentry. */
const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 1 << 20;

export class GpgNotFoundError extends Error {
  constructor(readonly binary: string) {
    super(`GnuPG was not found (${JSON.stringify(binary)}${binary === 'gpg' ? ' on PATH' : ', from SOPS_GPG_EXEC'})`);
    this.name = 'GpgNotFoundError';
  }
}

export interface GpgResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

export function gpgBinary(env: NodeJS.ProcessEnv): string {
  return env.SOPS_GPG_EXEC || 'gpg';
}

export function gpgTimeoutMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.TSOPS_GPG_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? s * 1000 : DEFAULT_TIMEOUT_MS;
}

/** Run gpg with `args`, writing `input` to its stdin. Rejects with GpgNotFoundError when it is not installed. */
export function runGpg(args: string[], input: Buffer | string, env: NodeJS.ProcessEnv): Promise<GpgResult> {
  const binary = gpgBinary(env);
  const timeout = gpgTimeoutMs(env);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    timer.unref();
    child.stdout.on('data', (b: Buffer) => {
      outSize += b.length;
      if (outSize <= MAX_OUTPUT) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errSize += b.length;
      if (errSize <= 64 * 1024) err.push(b);
    });
    child.stdin.on('error', () => {
      /* gpg may exit before reading everything; its exit status says why */
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (e.code === 'ENOENT') reject(new GpgNotFoundError(binary));
      else reject(new Error(`could not run GnuPG (${JSON.stringify(binary)}): ${e.code ?? e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    child.stdin.end(input);
  });
}

/**
 * gpg's stderr as one line: its `gpg: ` messages joined with `; `, user-ID lines dropped, shortened.
 */
export function summarizeGpgStderr(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('"'))
    .map((l) => l.replace(/^gpg: /, ''));
  const s = lines.join('; ');
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/** Why a gpg call failed, for a message: the exit status or timeout plus gpg's own words. */
export function describeGpgFailure(r: GpgResult, env: NodeJS.ProcessEnv): string {
  const why = r.timedOut
    ? `timed out after ${gpgTimeoutMs(env) / 1000} s (set TSOPS_GPG_TIMEOUT to allow longer)`
    : `exit status ${r.code}`;
  const detail = summarizeGpgStderr(r.stderr);
  return detail ? `${detail} (${why})` : why;
}
