// Shared by the edit/set/diff tests: run the tsops CLI as a child process in a private HOME with the
// age test key, and scripted editors.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './fixtures.js';
import { loadPlain, newMetadata, openEncrypted, renderPlain, sealTree } from '../../src/file/file.js';
import { formatFromPath, storeFor } from '../../src/stores/index.js';
import type { Format } from '../../src/stores/types.js';

export const AGE_IDENTITY = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
export const AGE_RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

export const BIN = path.join(ROOT, 'bin', 'tsops');

/** A private sandbox: a temp folder (removed by `cleanup`) with a HOME inside and a clean env. */
export class Sandbox {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  constructor(prefix = 'tsops-test-') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const home = path.join(this.dir, 'home');
    fs.mkdirSync(home);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (/^(SOPS_|EDITOR$|VISUAL$|GNUPGHOME$|AWS_|GOOGLE_|AZURE_|VAULT_|XDG_)/.test(k)) continue;
      env[k] = v;
    }
    Object.assign(env, { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), SOPS_AGE_KEY: AGE_IDENTITY });
    this.env = env;
  }
  path(...p: string[]): string {
    return path.join(this.dir, ...p);
  }
  write(name: string, data: string | Buffer): string {
    const p = this.path(name);
    fs.writeFileSync(p, data);
    return p;
  }
  /** An editor script: `EDITOR="node script.mjs"`. */
  editor(name: string, body: string): string {
    const p = this.write(name, body);
    return `${JSON.stringify(process.execPath)} ${JSON.stringify(p)}`;
  }
  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start `node bin/tsops ARGS` (stdin: `input`, or /dev/null). */
export function start(
  args: string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer },
): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: o.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.on('error', () => {});
  child.stdin.end(o.input ?? '');
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function run(
  args: string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer },
): Promise<RunResult> {
  return start(args, o).done;
}

/**
 * Encrypt `plain` for the age test key into the sandbox file ENC_NAME (format from NAME's
 * extension); returns its path. In-process through the library: only the commands under test
 * run as child processes.
 */
export async function encryptFile(
  sb: Sandbox,
  name: string,
  plain: string | Buffer,
  encName = `enc.${name}`,
): Promise<string> {
  const format = formatFromPath(name);
  const { tree, store } = await loadPlain(Buffer.from(plain), format, { filename: name });
  const metadata = newMetadata({ keyGroups: [[{ type: 'age', recipient: AGE_RECIPIENT, enc: '' }]] });
  const out = sb.path(encName);
  fs.writeFileSync(out, await sealTree(tree, metadata, store, { env: sb.env }));
  return out;
}

/** Decrypt a sandbox file in-process (as `tsops decrypt [--output-type T]` prints it). */
export async function decryptFile(sb: Sandbox, file: string, outputType?: Format): Promise<string> {
  const format = formatFromPath(file);
  const opened = await openEncrypted(fs.readFileSync(file), { format, env: sb.env, filename: file });
  const store = outputType ? await storeFor(outputType) : opened.store;
  return renderPlain(opened.tree, store).toString('utf8');
}

/** Wait until `check` is true (polling), or fail after `ms`. */
export async function waitFor(check: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The lines of `b` that are not at the same position in `a` (files of equal line count). */
export function changedLines(a: string, b: string): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length !== y.length) throw new Error(`line counts differ: ${x.length} vs ${y.length}`);
  return y.filter((line, i) => line !== x[i]);
}

/**
 * An editor script body: records the path it was given in RECORD (if set), then replaces the
 * text FROM by TO (both from the environment) in the file.
 */
export const REPLACE_EDITOR = `
import fs from 'node:fs';
const file = process.argv[process.argv.length - 1];
if (process.env.RECORD) fs.writeFileSync(process.env.RECORD, file);
const text = fs.readFileSync(file, 'utf8');
if (!text.includes(process.env.FROM)) { console.error('editor: text not found'); process.exit(3); }
fs.writeFileSync(file, text.replace(process.env.FROM, process.env.TO));
`;
