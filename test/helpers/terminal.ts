// A real terminal for tests: a command run in a detached tmux session (its own server socket in a
// sandbox folder), its screen read with capture-pane, keys sent with send-keys, its exit status
// written to a file by the shell that runs it (which then waits, so the screen stays readable, until
// `close` ends the tmux server).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './editing.js';

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export class TmuxTerminal {
  readonly socket: string;
  readonly status: string;
  constructor(
    dir: string,
    id: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.socket = path.join(dir, `tmux-${id}.sock`);
    this.status = path.join(dir, `tmux-${id}.status`);
  }
  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { env: this.env, stdio: 'pipe' }).toString('utf8');
  }
  /** Run ARGV (quoted for sh) in the terminal; stdout/stderr may be redirected with `redirect`. */
  start(argv: string[], redirect = ''): void {
    const cmd = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    this.tmux(
      'new-session',
      '-d',
      '-x',
      '200',
      '-y',
      '40',
      'sh',
      '-c',
      `${cmd} ${redirect}; echo $? > '${this.status}'; exec sleep 60`,
    );
  }
  screen(): string {
    try {
      return this.tmux('capture-pane', '-p', '-S', '-100');
    } catch {
      return '';
    }
  }
  async waitScreen(text: string | RegExp, what = String(text)): Promise<void> {
    await waitFor(
      () => (typeof text === 'string' ? this.screen().includes(text) : text.test(this.screen())),
      20_000,
      what,
    );
  }
  /** Type literal text (no key names), then optionally Enter. */
  type(text: string, enter = true): void {
    this.tmux('send-keys', '-l', text);
    if (enter) this.tmux('send-keys', 'Enter');
  }
  async exitCode(): Promise<string> {
    await waitFor(
      () => fs.existsSync(this.status) && fs.readFileSync(this.status, 'utf8').trim() !== '',
      20_000,
      'the command to finish',
    );
    return fs.readFileSync(this.status, 'utf8').trim();
  }
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      /* already gone */
    }
  }
}
