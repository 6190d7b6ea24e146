/**
 * File I/O with the guarantees tsops promises; standard input is read when sops reads it.
 *
 * Writing a file (`-i`, `--output`, `edit`, `set`, …) follows these rules (README, "Security"):
 *
 * - A symlink is written through: the file it points at is replaced (created, when the link
 *   dangles), the link stays.
 * - An existing file is opened for writing first, as sops does: without write permission the
 *   write is refused (EACCES). Root may write a read-only file, as with sops and every other tool.
 * - Atomic when that is safe: a temp file beside the target (same folder and file system), fsync,
 *   the original's owner, group and mode, rename over it, fsync of the folder. A failure leaves the
 *   original untouched.
 * - In place, through the same inode, when a rename would change what the file is: a second hard
 *   link (it would keep the old content — after `encrypt -i`, the plaintext), an owner or group
 *   tsops cannot give the temp file (another user's group-writable file), a folder tsops may not
 *   create files in, a target that cannot be renamed over (a bind mount), or a target that is not a
 *   regular file (a FIFO, /dev/stdout). The file grows first (a full disk then leaves the original
 *   whole), then is overwritten from the start, then truncated, then fsynced.
 * - Temp files are named `.NAME.tsops-PID-RANDOM.tmp`. One whose process is gone (kill -9, power
 *   loss) is removed by the next write to NAME, with a line on stderr: it may hold part of a
 *   decrypted file.
 */
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { lockResolved, releaseLock } from './lock.js';

/** Read a file, or standard input for `-` / undefined; errors name the file with sops's exit code. */
export function readInput(path: string | undefined): Buffer {
  try {
    // /dev/stdin cannot be opened when standard input is a socket (as Node gives its children): read fd 0
    if (
      path === undefined ||
      path === '-' ||
      path === '/dev/stdin' ||
      path === '/dev/fd/0' ||
      path === '/proc/self/fd/0'
    )
      return readFileSync(0);
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EACCES'
          ? 'permission denied'
          : err.code === 'EISDIR'
            ? 'is a directory'
            : messageOf(e);
    throw new SopsError(`cannot read ${path ?? 'standard input'}: ${why}`, ExitCode.CouldNotReadInputFile);
  }
}

/**
 * The path a write to `target` lands on: symlinks followed (also a dangling one, whose target is
 * then created), folders canonical. A path that does not exist is returned as it is.
 */
export function resolveWriteTarget(target: string): string {
  let p = resolve(target);
  for (let hops = 0; hops <= 40; hops++) {
    try {
      p = join(realpathSync(dirname(p)), basename(p));
    } catch {
      return p; // the folder does not exist: the write fails and says so
    }
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return p; // a new file
    }
    if (!st.isSymbolicLink()) return p;
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw new SopsError(`cannot write ${target}: too many levels of symbolic links`, ExitCode.CouldNotWriteOutputFile);
}

/**
 * Take the advisory lock of a file a command is about to read, change and write back (see
 * lock.ts): held until writeFileAtomic writes it or the process exits.
 */
export async function lockForUpdate(
  target: string,
  o: { log?: (m: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  await lockResolved(resolveWriteTarget(target), o);
}

/** Release the lock taken by lockForUpdate when the file is not written after all. */
export function unlockFile(target: string): void {
  releaseLock(resolveWriteTarget(target));
}

const TEMP_PREFIX = (name: string) => `.${name}.tsops-`;
const TEMP_RE = /^(\d+)-[0-9a-f]+\.tmp$/;

/** Is process `pid` alive (or unknowable: another user's)? */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Remove the temp files a killed tsops left beside `path` (only ours: named by this module, owned by
 * this user, their process gone), saying so on stderr. Returns the names removed.
 */
export function removeStaleTempFiles(
  path: string,
  warn: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string[] {
  const dir = dirname(path);
  const prefix = TEMP_PREFIX(basename(path));
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  const removed: string[] = [];
  const uid = process.getuid?.();
  for (const n of names) {
    const m = TEMP_RE.exec(n.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (processAlive(pid)) continue;
    const p = join(dir, n);
    try {
      const st = lstatSync(p);
      if (!st.isFile() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(p, { force: true });
      removed.push(n);
      warn(
        `tsops: removed ${p}, a temporary file left by an interrupted tsops run (process ${pid}); it may have held part of a decrypted file`,
      );
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
  return removed;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

function fsyncFolder(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some file systems cannot fsync a folder; the rename is still atomic */
  }
}

/**
 * Overwrite the open regular file `fd` (size `oldSize`) with `buf` through its inode. It grows
 * first, so that a full disk fails before any old byte is overwritten (the growth is cut off
 * again); then it is written from the start, truncated and fsynced.
 */
function overwriteInPlace(fd: number, buf: Buffer, oldSize: number): void {
  if (buf.length > oldSize) {
    try {
      writeAll(fd, buf.subarray(oldSize), oldSize);
      fsyncSync(fd);
    } catch (e) {
      try {
        ftruncateSync(fd, oldSize);
      } catch {
        /* already failing */
      }
      throw e;
    }
  }
  writeAll(fd, buf.subarray(0, Math.min(oldSize, buf.length)), 0);
  if (buf.length < oldSize) ftruncateSync(fd, buf.length);
  fsyncSync(fd);
}

/** Why a rename cannot keep what the file is, or undefined when the write may be atomic. */
class KeepInPlace extends Error {}

/**
 * Write `data` to `target` by the rules above (see the module comment). `mode` is the mode of a
 * new file (default 0600); an existing file keeps its own. Errors are SopsErrors with exit code 3;
 * on any failure the original is left as it was (in place: as long as the disk has room to grow).
 */
export function writeFileAtomic(
  target: string,
  data: Buffer | string,
  mode?: number,
  log: (m: string) => void = () => {},
): void {
  const path = resolveWriteTarget(target);
  try {
    writeResolved(path, data, mode, log);
  } finally {
    releaseLock(path);
  }
}

function writeResolved(path: string, data: Buffer | string, mode: number | undefined, log: (m: string) => void): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fail = (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOENT'
          ? 'no such folder'
          : code === 'EROFS'
            ? 'read-only file system'
            : messageOf(e);
    throw new SopsError(`cannot write ${path}: ${why}`, ExitCode.CouldNotWriteOutputFile);
  };

  let existing: Stats | undefined;
  try {
    existing = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fail(e);
  }
  if (existing && !existing.isFile()) {
    // a FIFO, a terminal, /dev/stdout: written to, never replaced
    try {
      writeFileSync(path, buf);
    } catch (e) {
      fail(e);
    }
    return;
  }
  removeStaleTempFiles(path);

  // the original, opened for writing as sops opens it: no write permission, no write
  let orig: number | undefined;
  if (existing) {
    try {
      orig = openSync(path, fsConstants.O_WRONLY);
      existing = fstatSync(orig);
    } catch (e) {
      fail(e);
    }
  }
  const dir = dirname(path);
  const tmp = join(dir, `${TEMP_PREFIX(basename(path))}${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let tfd: number | undefined;
  let tmpMade = false;
  try {
    try {
      if (existing && existing.nlink > 1) throw new KeepInPlace(`${path} has ${existing.nlink} hard links`);
      try {
        tfd = openSync(tmp, 'wx', 0o600);
        tmpMade = true;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (existing && (code === 'EACCES' || code === 'EPERM' || code === 'EROFS'))
          throw new KeepInPlace(`no temp file in ${dir} (${code})`);
        throw e;
      }
      writeAll(tfd, buf, 0);
      fsyncSync(tfd);
      if (existing) {
        const mine = fstatSync(tfd);
        if (mine.uid !== existing.uid || mine.gid !== existing.gid) {
          try {
            fchownSync(tfd, existing.uid, existing.gid);
          } catch {
            throw new KeepInPlace(`the owner or group of ${path} cannot be kept by a new file`);
          }
        }
      }
      fchmodSync(tfd, existing ? existing.mode & 0o7777 : (mode ?? 0o600));
      closeSync(tfd);
      tfd = undefined;
      try {
        renameSync(tmp, path);
        tmpMade = false;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (existing && (code === 'EBUSY' || code === 'EPERM' || code === 'EACCES' || code === 'EXDEV'))
          throw new KeepInPlace(`${path} cannot be renamed over (${code})`);
        throw e;
      }
      fsyncFolder(dir);
    } catch (e) {
      if (!(e instanceof KeepInPlace) || orig === undefined || !existing) throw e;
      log(`writing in place: ${e.message}`);
      overwriteInPlace(orig, buf, existing.size);
    }
  } catch (e) {
    fail(e);
  } finally {
    if (tfd !== undefined) {
      try {
        closeSync(tfd);
      } catch {
        /* already failing */
      }
    }
    if (tmpMade) rmSync(tmp, { force: true });
    if (orig !== undefined) {
      try {
        closeSync(orig);
      } catch {
        /* nothing to do */
      }
    }
  }
}
