/**
 * Running `git` for the drivers: reading a blob of the index, the repository's folders, reading and
 * writing config. Arguments never carry secrets (paths and config values only); blob content comes
 * back on standard output and is never written to disk.
 */
import { spawnSync } from 'node:child_process';

export interface GitResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** Run `git ARGS` in `cwd` (default: the working directory); never throws for a non-zero status. */
export function git(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): GitResult {
  const r = spawnSync('git', args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 30,
  });
  if (r.error) return { status: 127, stdout: Buffer.alloc(0), stderr: r.error.message };
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/**
 * The committed or staged version of `path` (relative to the top of the work tree, as git gives
 * `%f` to a filter): the index's stage 0, else (during a merge) stage 2 (ours), else HEAD's.
 * Undefined when there is none (a new file) or git cannot be run.
 */
export function indexVersion(path: string, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Buffer | undefined {
  for (const rev of [`:${path}`, `:2:${path}`, `HEAD:${path}`]) {
    const r = git(['cat-file', 'blob', rev], o);
    if (r.status === 0) return r.stdout;
  }
  return undefined;
}

/** The repository's git folder (`git rev-parse --absolute-git-dir`), or undefined outside one. */
export function gitDir(o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string | undefined {
  const r = git(['rev-parse', '--absolute-git-dir'], o);
  return r.status === 0 ? r.stdout.toString('utf8').trim() : undefined;
}
