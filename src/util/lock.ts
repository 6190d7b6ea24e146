/**
 * Advisory locks for the commands that read a file, change it and write it back (`set`, `unset`,
 * `edit`, `rotate -i`, `updatekeys`, `groups`, `encrypt -i`, `decrypt -i`), so that two of them
 * running at once on one file do not silently lose one's change (beyond sops, which has no lock).
 *
 * Node has no flock(2): the lock is a file beside the target, `.NAME.tsops-lock`, created with
 * O_EXCL and holding `PID HOST`. Another tsops that finds it waits (polling) up to
 * TSOPS_LOCK_TIMEOUT seconds (default 30), then fails with one line naming the holder. A lock whose
 * process is gone (same host, no such pid) is stale: it is removed, with a line on stderr. The lock
 * is held until the file is written (writeFileAtomic releases it) or the process exits; within one
 * process it is re-entrant. Only tsops takes it: sops and editors do not look at it. Where no lock
 * file can be created (a read-only folder), the command runs without one.
 */
import { closeSync, lstatSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ExitCode, SopsError } from '../errors.js';

/** How long to wait for another tsops's lock when TSOPS_LOCK_TIMEOUT is not set (seconds). */
export const DEFAULT_LOCK_TIMEOUT = 30;

interface Held {
  lock: string;
  ino: number;
}

/** Locks this process holds, by the resolved path of the file they protect. */
const held = new Map<string, Held>();
let exitHook = false;

/** The lock file's path for a (resolved) target. */
export function lockPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tsops-lock`);
}

function removeIfOurs(h: Held): void {
  try {
    if (lstatSync(h.lock).ino === h.ino) rmSync(h.lock, { force: true });
  } catch {
    /* already gone */
  }
}

function releaseAll(): void {
  for (const h of held.values()) removeIfOurs(h);
  held.clear();
}

/** Release this process's lock on `path` (a resolved path; a no-op when none is held). */
export function releaseLock(path: string): void {
  const h = held.get(path);
  if (!h) return;
  held.delete(path);
  removeIfOurs(h);
}

function timeoutSeconds(env: NodeJS.ProcessEnv): number {
  const s = env.TSOPS_LOCK_TIMEOUT;
  if (s === undefined || s.trim() === '') return DEFAULT_LOCK_TIMEOUT;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0)
    throw new SopsError(`invalid TSOPS_LOCK_TIMEOUT ${JSON.stringify(s)}: a number of seconds`, ExitCode.ErrorGeneric);
  return n;
}

/** The holder written in a lock file, or undefined while it is being written / unreadable. */
function holderOf(lock: string): { pid: number; host: string } | undefined {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (.*)\n$/.exec(text);
  return m ? { pid: Number(m[1]), host: m[2]! } : undefined;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Take the lock for `path` (already resolved through symlinks: lockForUpdate in fs.ts). Resolves
 * once it is held (or cannot be taken at all); rejects with a SopsError (exit 3) after the timeout.
 */
export async function lockResolved(
  path: string,
  o: { log?: (m: string) => void; warn?: (m: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const log = o.log ?? (() => {});
  const warn = o.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (held.has(path)) return;
  const lock = lockPathFor(path);
  const host = (await import('node:os')).hostname(); // (node:os loads only to take a lock)
  const start = Date.now();
  const limit = start + timeoutSeconds(o.env ?? process.env) * 1000;
  let told = false;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        log(`no lock for ${path} (${code ?? 'error'}): going on without one`);
        return;
      }
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, `${process.pid} ${host}\n`);
      } finally {
        closeSync(fd);
      }
      held.set(path, { lock, ino: statSync(lock).ino });
      if (!exitHook) {
        exitHook = true;
        process.on('exit', releaseAll);
      }
      log(`locked ${path} (${lock})`);
      return;
    }
    // someone holds it: stale, or wait
    const who = holderOf(lock);
    let st;
    try {
      st = lstatSync(lock);
    } catch {
      continue; // released meanwhile
    }
    const stale = who ? who.host === host && processGone(who.pid) : Date.now() - st.mtimeMs > 10_000;
    if (stale) {
      try {
        if (lstatSync(lock).ino === st.ino) rmSync(lock, { force: true });
      } catch {
        /* gone meanwhile */
      }
      warn(
        `tsops: removed ${lock}, a stale lock left by an interrupted tsops run${who ? ` (process ${who.pid})` : ''}`,
      );
      continue;
    }
    const holder = who ? `tsops process ${who.pid}${who.host === host ? '' : ` on ${who.host}`}` : 'another tsops';
    if (Date.now() >= limit) {
      throw new SopsError(
        `${path} is being changed by ${holder} (lock file ${lock}); try again when it has finished, or remove the lock file if no tsops is running`,
        ExitCode.CouldNotWriteOutputFile,
      );
    }
    if (!told && Date.now() - start > 1000) {
      told = true;
      warn(`tsops: waiting for ${holder} to finish with ${path}`);
    }
    await sleep(20 + Math.floor(Math.random() * 40));
  }
}
