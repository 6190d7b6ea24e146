/**
 * `tsops exec-env FILE COMMAND` and `tsops exec-file FILE COMMAND`: run a command with the
 * decrypted file, as sops does — COMMAND is run by `/bin/sh -c`, with the standard streams of
 * tsops, and tsops exits with its exit status (128 + the signal number when a signal ended it).
 *
 * exec-env puts the file's top-level values into the command's environment (on top of tsops's own
 * environment, or alone with `--pristine`). Values that are not strings are written as sops writes
 * them (see src/stores/scalar-text.ts): `1.0` for the float 1, `true`/`false`. Nested maps and
 * lists, keys holding `=` and NUL bytes are refused.
 *
 * exec-file hands the command the decrypted file (in its own format, or `--output-type`) at a path
 * put in place of every `{}` in COMMAND, in a new private folder (mode 0700) under the temporary
 * folder:
 *
 * - by default the path is a FIFO (named pipe) that tsops writes the plaintext into while the
 *   command reads it, so the plaintext never reaches a disk; a command that reads the file more
 *   than once needs `--no-fifo`;
 * - with `--no-fifo` it is a regular file (mode 0600), for as long as the command runs;
 * - `--filename NAME` names the file (the extension tells tools its format; default `tmp-file`);
 * - the folder is removed when the command ends, when tsops fails, and at once when tsops gets
 *   SIGINT, SIGTERM, SIGHUP or SIGQUIT (the signal is passed on to the command).
 *
 * Signals tsops gets (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to the command. Without a
 * controlling terminal (CI, systemd, containers) the command runs in a process group of its own
 * and the signal goes to the whole group, so it reaches the command and not only the `/bin/sh`
 * running it; with a terminal the command stays in tsops's group, as with sops, so it can read the
 * terminal.
 *
 * Neither the plaintext nor a value is ever put in a command line or a message.
 *
 * `--background` starts the command and returns at once (exec-file: once the command has read the
 * FIFO); it is deprecated in sops. `--same-process` is accepted: Node cannot replace its own
 * process, so the command runs as a child and tsops exits with its status, which looks the same
 * from outside. `--user` (sops switches user with setuid, as root) is not supported: use sudo -u
 * or runuser.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { renderPlain } from '../file/file.js';
import { envFromTree } from '../ops/exec.js';
import { storeFor } from '../stores/index.js';
import { commandOptions, makeLog, openPlanned, planIo, readPlanned } from './context.js';
import { addGlobalOptions, type CliOptions } from './options.js';

/** The shell sops runs commands with. */
export const SHELL = '/bin/sh';
/** The temporary file's name when `--filename` is not given (sops's). */
export const FALLBACK_FILENAME = 'tmp-file';
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Thrown to end tsops with the command's exit status and no message of its own (the command has
 * already said what it had to say). The CLI's main turns it into the exit code.
 */
export class ChildExit extends SopsError {
  constructor(code: number) {
    super('', code);
    this.name = 'ChildExit';
  }
}

export interface ExecCliOptions extends CliOptions {
  background?: boolean;
  pristine?: boolean;
  user?: string;
  sameProcess?: boolean;
  /** false with `--no-fifo` */
  fifo?: boolean;
  filename?: string;
}

// --- running the command -----------------------------------------------------------------------------

function statusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return n ? 128 + n : ExitCode.ErrorGeneric;
}

/**
 * Does tsops have a controlling terminal? Then the command stays in tsops's process group (as
 * with sops), so that it can read the terminal and Ctrl-C reaches it; otherwise (CI, systemd,
 * containers) it gets a process group of its own, so that a signal reaches every process of it,
 * not just the `/bin/sh` that runs it.
 */
function hasControllingTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', fsConstants.O_RDONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/**
 * Signal handlers for the time a command runs: call `onSignal` and pass the signal on to the
 * command — to its whole process group when it has one of its own (see hasControllingTerminal),
 * else to the shell. In tsops's group, SIGINT and SIGQUIT are not passed on when standard input is
 * a terminal: the terminal sent them to the whole group already.
 */
class SignalGuard {
  child: ChildProcess | undefined;
  received: NodeJS.Signals | undefined;
  /** The command leads its own process group. */
  private group = false;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  constructor(private readonly onSignal: (sig: NodeJS.Signals) => void = () => {}) {
    for (const sig of FORWARDED) {
      const h = () => {
        this.received ??= sig;
        this.onSignal(sig);
        // Ctrl-C / Ctrl-\ on a terminal already reached the command (same process group): once is enough
        if (!this.group && (sig === 'SIGINT' || sig === 'SIGQUIT') && isatty(0)) return;
        this.send(sig);
      };
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
  }
  private send(sig: NodeJS.Signals): void {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    try {
      if (this.group && c.pid) process.kill(-c.pid, sig);
      else c.kill(sig);
    } catch {
      /* already gone */
    }
  }
  /** Watch `child`; a signal that came while it was being started is passed on now. */
  adopt(started: Started): void {
    this.child = started.child;
    this.group = started.ownGroup;
    if (this.received) this.send(this.received);
  }
  dispose(): void {
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
  }
}

interface Started {
  child: ChildProcess;
  /** The command runs in a process group of its own (led by the shell). */
  ownGroup: boolean;
  /** Resolves to the exit status. */
  status: Promise<number>;
}

/** Start `/bin/sh -c COMMAND`; rejects (a SopsError) when the shell cannot be started. */
function startShell(command: string, env: NodeJS.ProcessEnv, background: boolean): Promise<Started> {
  const ownGroup = !background && !hasControllingTerminal();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      // detached: a new session and process group (only without a terminal, see hasControllingTerminal)
      child = spawn(SHELL, ['-c', command], { env, stdio: background ? 'ignore' : 'inherit', detached: ownGroup });
    } catch (e) {
      reject(new SopsError(`could not run ${SHELL}: ${messageOf(e)}`, ExitCode.ErrorGeneric));
      return;
    }
    const status = new Promise<number>((res) => child.on('exit', (code, signal) => res(statusOf(code, signal))));
    child.once('error', (e) => reject(new SopsError(`could not run ${SHELL}: ${messageOf(e)}`, ExitCode.ErrorGeneric)));
    child.once('spawn', () => resolve({ child, status, ownGroup }));
  });
}

// --- the FIFO ------------------------------------------------------------------------------------------

/**
 * Writes `data` into a FIFO once a reader opens it. The FIFO is opened without blocking (tried
 * again every few milliseconds until the command opens it for reading), so nothing waits in Node's
 * thread pool and `stop()` always ends it.
 */
class FifoWriter {
  readonly done: Promise<void>;
  private finish!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private sock: net.Socket | undefined;
  private stopped = false;
  constructor(
    private readonly path: string,
    private readonly data: Buffer,
  ) {
    this.done = new Promise((r) => (this.finish = r));
    this.poll();
  }
  private poll = (): void => {
    if (this.stopped) return;
    let fd: number;
    try {
      fd = openSync(this.path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') {
        this.timer = setTimeout(this.poll, 5); // no reader yet
        return;
      }
      this.finish(); // the FIFO is gone
      return;
    }
    let sock: net.Socket;
    try {
      sock = new net.Socket({ fd, readable: false, writable: true });
    } catch {
      closeSync(fd);
      this.finish();
      return;
    }
    this.sock = sock;
    sock.on('error', () => {}); // EPIPE: the command stopped reading early
    sock.on('close', () => this.finish());
    sock.end(this.data);
  };
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.sock?.destroy();
    this.finish();
  }
}

/** Make a FIFO with the `mkfifo` command (Node has no mkfifo); only the path is in its argv. */
function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', ['-m', '600', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error || r.status !== 0) {
    const why = r.error
      ? (r.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'the mkfifo command was not found'
        : messageOf(r.error)
      : r.stderr.toString('utf8').trim() || `mkfifo exited with ${r.status}`;
    throw new SopsError(
      `could not create a FIFO for the plaintext: ${why} (use --no-fifo for a temporary file)`,
      ExitCode.ErrorGeneric,
    );
  }
}

// --- the commands ------------------------------------------------------------------------------------

async function decryptFor(file: string, o: ExecCliOptions) {
  const log = makeLog(o);
  const io = planIo(file, o);
  const opened = await openPlanned(io, o, log, readPlanned(io), file, false);
  return { opened, io };
}

function commonChecks(args: string[], o: ExecCliOptions, which: string): [string, string] {
  if (args.length !== 2) throw new SopsError('error: missing file to decrypt', ExitCode.ErrorGeneric);
  if (o.user !== undefined) {
    throw new SopsError(
      `--user is not supported by tsops (sops switches user with setuid as root); run tsops with "sudo -u USER" or "runuser -u USER" instead`,
      ExitCode.ErrorGeneric,
    );
  }
  if (o.background) {
    process.stderr.write(
      `${which}'s --background option is deprecated and will be removed in a future version of sops\n`,
    );
    if (o.sameProcess)
      throw new SopsError(
        'Error: The --same-process flag cannot be used with --background',
        ExitCode.ErrorConflictingParameters,
      );
  }
  return [args[0]!, args[1]!];
}

/** Wait for the command; end tsops with its status unless it is 0. */
async function finish(status: Promise<number>): Promise<void> {
  const code = await status;
  if (code !== 0) throw new ChildExit(code);
}

export async function execEnvCommand(args: string[], o: ExecCliOptions): Promise<void> {
  const [file, command] = commonChecks(args, o, 'exec-env');
  const { opened } = await decryptFor(file, o);
  const vars = envFromTree(opened.tree);
  const env: NodeJS.ProcessEnv = o.pristine ? { ...vars } : { ...process.env, ...vars };
  const guard = new SignalGuard();
  try {
    const started = await startShell(command, env, !!o.background);
    if (o.background) {
      started.child.unref();
      return;
    }
    guard.adopt(started);
    await finish(started.status);
  } finally {
    guard.dispose();
  }
}

/** Refuse a `--filename` that would leave the private folder. */
function checkFilename(name: string): string {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  ) {
    throw new SopsError(
      `invalid --filename ${JSON.stringify(name)}: give a file name, without any folder`,
      ExitCode.ErrorGeneric,
    );
  }
  return name;
}

export async function execFileCommand(args: string[], o: ExecCliOptions): Promise<void> {
  const [file, command] = commonChecks(args, o, 'exec-file');
  const useFifo = o.fifo !== false;
  if (o.background && !useFifo) {
    throw new SopsError(
      '--background cannot be used with --no-fifo: the temporary file would have to stay on disk after tsops exits',
      ExitCode.ErrorConflictingParameters,
    );
  }
  const name = o.filename !== undefined ? checkFilename(o.filename) : FALLBACK_FILENAME;
  const { opened, io } = await decryptFor(file, o);
  const plaintext = renderPlain(opened.tree, await storeFor(io.outFormat, { indent: io.indent }));

  let dir: string | undefined;
  let writer: FifoWriter | undefined;
  const cleanup = () => {
    writer?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    }
  };
  // handlers first, then the folder: a signal at any moment removes it
  const guard = new SignalGuard(cleanup);
  const onExit = () => cleanup();
  process.on('exit', onExit);
  try {
    dir = mkdtempSync(join(tmpdir(), '.tsops-'));
    const path = join(dir, name);
    if (useFifo) {
      mkfifo(path);
      writer = new FifoWriter(path, plaintext);
    } else {
      writeFileSync(path, plaintext, { mode: 0o600, flag: 'wx' });
    }
    if (guard.received) throw new ChildExit(128 + ((osConstants.signals[guard.received] as number | undefined) ?? 0));
    const started = await startShell(command.split('{}').join(path), { ...process.env }, !!o.background);
    guard.adopt(started);
    if (o.background) {
      // hand the plaintext over, then leave the command running
      await Promise.race([writer!.done, started.status]);
      started.child.unref();
      return;
    }
    await finish(started.status);
  } finally {
    cleanup();
    plaintext.fill(0);
    process.removeListener('exit', onExit);
    guard.dispose();
  }
}

// --- declaring them ------------------------------------------------------------------------------------

function execOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--background', "background the process and don't wait for it to complete (DEPRECATED)"))
    .addOption(new Option('--user <user>', 'the user to run the command as (not supported by tsops)').hideHelp())
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from the file extension)',
      ),
    )
    .addOption(new Option('--ignore-mac', 'decrypt even if the MAC does not match (the file was changed outside sops)'))
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
}

export function addExecCommands(program: Command): void {
  const env = program
    .command('exec-env')
    .description('execute a command with decrypted values inserted into the environment')
    .argument('[file]', 'the file to decrypt')
    .argument('[command]', 'the command to run, one argument (run with /bin/sh -c)')
    .addOption(
      new Option(
        '--pristine',
        'insert only the decrypted values into the environment without forwarding existing environment variables',
      ),
    )
    .addOption(
      new Option(
        '--same-process',
        'run command in the current process instead of in a child process (tsops: a child process, its exit status passed on)',
      ),
    );
  addGlobalOptions(execOptions(env));
  env.action((f: string | undefined, command: string | undefined, _o: unknown, c: Command) =>
    execEnvCommand(
      [f, command].filter((x): x is string => x !== undefined),
      commandOptions<ExecCliOptions>(c),
    ),
  );

  const file = program
    .command('exec-file')
    .description('execute a command with the decrypted contents as a temporary file ({} in the command is its path)')
    .argument('[file]', 'the file to decrypt')
    .argument('[command]', "the command to run, one argument (run with /bin/sh -c), e.g. 'cat {}'")
    .addOption(
      new Option('--no-fifo', 'use a regular file instead of a fifo to temporarily hold the decrypted contents'),
    )
    .addOption(new Option('--filename <name>', `filename for the temporarily file (default: ${FALLBACK_FILENAME})`))
    .addOption(new Option('--output-type <type>', 'format of the decrypted file (default: the input format)'));
  addGlobalOptions(execOptions(file));
  file.action((f: string | undefined, command: string | undefined, _o: unknown, c: Command) =>
    execFileCommand(
      [f, command].filter((x): x is string => x !== undefined),
      commandOptions<ExecCliOptions>(c),
    ),
  );
}
