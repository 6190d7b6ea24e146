/**
 * File I/O with the guarantees tsops promises: writes are atomic (a temp file in the same folder,
 * fsync, rename) and keep the file's mode; standard input is read when sops reads it.
 */
import { closeSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync, readFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ExitCode, SopsError, messageOf } from '../errors.js';

/** Read a file, or standard input for `-` / undefined; errors name the file with sops's exit code. */
export function readInput(path: string | undefined): Buffer {
  try {
    // /dev/stdin cannot be opened when standard input is a socket (as Node gives its children): read fd 0
    if (path === undefined || path === '-' || path === '/dev/stdin' || path === '/dev/fd/0' || path === '/proc/self/fd/0') return readFileSync(0);
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : messageOf(e);
    throw new SopsError(`cannot read ${path ?? 'standard input'}: ${why}`, ExitCode.CouldNotReadInputFile);
  }
}

/**
 * Replace `path` with `data` atomically: write a temp file beside it (same folder, so the rename
 * stays on one file system), fsync it, give it the old file's mode (or `mode` / 0600 for a new
 * file), rename over the original, and fsync the folder. On any failure the original is untouched.
 */
export function writeFileAtomic(target: string, data: Buffer | string, mode?: number): void {
  // write through a symlink to the file it points at, keeping the link
  let path = target;
  try {
    path = realpathSync(target);
  } catch {
    /* a new file */
  }
  const dir = dirname(path);
  let keepMode = mode;
  if (keepMode === undefined) {
    try {
      keepMode = statSync(path).mode & 0o7777;
    } catch {
      keepMode = 0o600;
    }
  }
  const tmp = join(dir, `.${basename(path)}.tsops-${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    chmodSync(tmp, keepMode);
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    rmSync(tmp, { force: true });
    throw new SopsError(`cannot write ${path}: ${messageOf(e)}`, ExitCode.CouldNotWriteOutputFile);
  }
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
