// A throwaway git repository driving the real `git` with tsops as its drivers: a private HOME,
// no system config, the age test key (SOPS_AGE_KEY) and a `.sops.yaml` for it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AGE_RECIPIENT, BIN, Sandbox } from './editing.js';
import { decrypt } from '../../src/api.js';
import { loadPlain, newMetadata, openEncrypted, sealTree } from '../../src/file/file.js';
import { driverConfig } from '../../src/git/setup.js';
import { formatFromPath } from '../../src/stores/index.js';
import type { Format } from '../../src/stores/types.js';

/** How git runs tsops from the tests (the build under test, through the node running the tests). */
export const TSOPS_COMMAND = `"${process.execPath}" "${BIN}"`;

export const RULES = `creation_rules:\n  - path_regex: \\.enc\\.ya?ml$\n    age: ${AGE_RECIPIENT}\n`;

export interface GitRun {
  status: number;
  stdout: string;
  stderr: string;
}

export class Repo {
  readonly sb: Sandbox;
  readonly dir: string;
  constructor(prefix: string, o: { rules?: string } = {}) {
    this.sb = new Sandbox(prefix);
    // a test run from a git hook must not reach the developer's repository
    for (const k of Object.keys(this.sb.env)) if (k.startsWith('GIT_')) this.sb.env[k] = undefined;
    Object.assign(this.sb.env, {
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
      GIT_PAGER: 'cat',
      PAGER: 'cat',
    });
    this.dir = this.sb.path('repo');
    fs.mkdirSync(this.dir);
    this.ok('init', '-q', '-b', 'main');
    this.ok('config', 'user.name', 'Test');
    this.ok('config', 'user.email', 'test@example.com');
    this.write('.sops.yaml', o.rules ?? RULES);
  }
  /** `git ARGS` (env overrides merged over the sandbox's). */
  git(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): GitRun {
    const r = spawnSync('git', args, { cwd: this.dir, env: { ...this.sb.env, ...env }, input, encoding: 'utf8' });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  /** `git ARGS`, which must succeed; its stdout. */
  ok(...args: string[]): string {
    const r = this.git(args);
    if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }
  /** `tsops ARGS` in the repository. */
  tsops(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): GitRun {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      env: { ...this.sb.env, ...env },
      input,
      encoding: 'utf8',
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  path(name: string): string {
    return path.join(this.dir, name);
  }
  write(name: string, data: string | Buffer): void {
    fs.mkdirSync(path.dirname(this.path(name)), { recursive: true });
    fs.writeFileSync(this.path(name), data);
  }
  read(name: string): string {
    return fs.readFileSync(this.path(name), 'utf8');
  }
  cleanup(): void {
    this.sb.cleanup();
  }
}

/** Encrypt `plain` (format from NAME) for the age test key into the repository file NAME, in-process. */
export async function encryptNew(
  repo: Repo,
  name: string,
  plain: string | Buffer,
  recipient = AGE_RECIPIENT,
): Promise<void> {
  const format = formatFromPath(name);
  const { tree, store } = await loadPlain(Buffer.from(plain), format, { filename: name });
  const metadata = newMetadata({ keyGroups: [[{ type: 'age', recipient, enc: '' }]] });
  repo.write(name, await sealTree(tree, metadata, store, { env: repo.sb.env }));
}

/** Replace the content of the sops file NAME by `plain`, as `tsops edit` does (same data key, unchanged values keep their ciphertext). */
export async function reseal(
  repo: Repo,
  name: string,
  plain: string,
  format: Format = formatFromPath(name),
): Promise<void> {
  const opened = await openEncrypted(fs.readFileSync(repo.path(name)), { format, env: repo.sb.env, filename: name });
  const { tree } = await loadPlain(Buffer.from(plain), format, { filename: name });
  const out = await sealTree(tree, { ...opened.metadata }, opened.store, {
    env: repo.sb.env,
    dataKey: opened.dataKey,
    stash: opened.stash,
    keepWrappedKeys: true,
  });
  repo.write(name, out);
}

/** The plaintext of the sops file NAME, as `tsops decrypt` prints it (in-process). */
export async function plaintextOf(repo: Repo, name: string, env: NodeJS.ProcessEnv = repo.sb.env): Promise<string> {
  return decrypt(fs.readFileSync(repo.path(name)), { filename: name, env });
}

/** Configure the drivers as `tsops git setup` does, without running it (faster): ATTRS are the .gitattributes lines. */
export function configureDrivers(repo: Repo, attrs: string): void {
  for (const [k, v] of driverConfig(TSOPS_COMMAND)) repo.ok('config', k, v);
  repo.write('.gitattributes', attrs);
}
