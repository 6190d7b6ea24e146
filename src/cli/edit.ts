/**
 * `tsops edit FILE` (and `tsops FILE`): decrypt into a private temporary file, run the editor on it,
 * and encrypt the result back into FILE — as sops does, with these guarantees:
 *
 * - the plaintext lives only in a fresh 0700 folder under the system temp folder, in a 0600 file
 *   with FILE's base name (so editors pick the right syntax); the folder is removed on every exit
 *   path: success, error, and SIGINT/SIGTERM/SIGHUP arriving while it exists (the editor is
 *   stopped too; tsops then exits with 128 + the signal number);
 * - unchanged bytes leave FILE untouched (exit 200, "File has not changed, exiting.");
 * - the file is re-encrypted with the same data key, keeping the ciphertext of every value whose
 *   path and plaintext did not change (minimal Git diffs), the wrapped keys, a new MAC and
 *   lastmodified, and written atomically with its mode kept;
 * - a FILE that does not exist is created from sops's example for its format, encrypted for the
 *   matching creation rule (or the key flags) with a new data key.
 *
 * The editor is $SOPS_EDITOR, else $EDITOR, else the first of vim, nano, vi found in PATH. The value
 * may carry arguments (`code --wait`): it is split like a shell would (quotes, backslashes) and run
 * without a shell, the temporary file as its last argument.
 *
 * Opening, parsing what the editor left and sealing are src/ops/edit.ts; this module is the editor,
 * its temporary file and the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants as fsConstants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { shlexSplit } from '../keys/age/shlex.js';
import { finishEdit, parseEdited, startEdit, type Edited } from '../ops/edit.js';
import type { Store } from '../stores/types.js';
import { lockForUpdate, writeFileAtomic } from '../util/fs.js';
import { decryptionOrder, makeLog, planEncryption, planIo, readStdinByte } from './context.js';
import {
  addFileOptions,
  addGlobalOptions,
  addKeyOptions,
  addScopeOptions,
  subcommandOptions,
  type CliOptions,
} from './options.js';

// --- the editor ---------------------------------------------------------------------------------

const FALLBACK_EDITORS = ['vim', 'nano', 'vi'];

function findInPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** The editor command line: $SOPS_EDITOR, else $EDITOR (split shell-like), else vim, nano or vi. */
export function editorCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env.SOPS_EDITOR || env.EDITOR;
  const which = env.SOPS_EDITOR ? 'SOPS_EDITOR' : 'EDITOR';
  if (configured) {
    let words: string[];
    try {
      words = shlexSplit(configured);
    } catch (e) {
      throw new SopsError(`Could not run editor: invalid $${which}: ${messageOf(e)}`, ExitCode.NoEditorFound);
    }
    if (words.length === 0)
      throw new SopsError(`Could not run editor: $${which} holds no command`, ExitCode.NoEditorFound);
    return words;
  }
  for (const name of FALLBACK_EDITORS) {
    const p = findInPath(name, env);
    if (p) return [p];
  }
  throw new SopsError(
    `Could not run editor: no editor available: tsops uses the editor named in the SOPS_EDITOR or EDITOR environment variable, and if neither is set any of ${FALLBACK_EDITORS.join(', ')}, but none of them could be found`,
    ExitCode.NoEditorFound,
  );
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The private folder holding the plaintext while the editor runs. Signal handlers are installed
 * before the folder exists and removed after it is gone; a signal removes it, stops the editor and
 * exits with 128 + the signal number.
 */
export class EditWorkspace {
  readonly dir: string;
  readonly file: string;
  child: ChildProcess | undefined;
  private removed = false;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private readonly onExit = () => this.remove();

  constructor(fileName: string) {
    for (const sig of SIGNALS) {
      const h = () => this.abort(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
    process.on('exit', this.onExit);
    try {
      this.dir = mkdtempSync(join(tmpdir(), 'tsops-'));
      chmodSync(this.dir, 0o700);
    } catch (e) {
      this.uninstall();
      throw new SopsError(`Could not create temporary directory: ${messageOf(e)}`, ExitCode.CouldNotWriteOutputFile);
    }
    this.file = join(this.dir, fileName);
  }

  /** Write the plaintext (0600, a new file). */
  write(data: Buffer): void {
    let fd: number | undefined;
    try {
      fd = openSync(this.file, 'wx', 0o600);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    } catch (e) {
      throw new SopsError(`Could not write temporary file: ${messageOf(e)}`, ExitCode.CouldNotWriteOutputFile);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  read(): Buffer {
    try {
      return readFileSync(this.file);
    } catch (e) {
      throw new SopsError(`Could not read edited file: ${messageOf(e)}`, ExitCode.CouldNotReadInputFile);
    }
  }

  /** A signal: stop the editor, remove the plaintext, exit. */
  abort(sig: NodeJS.Signals): never {
    if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false);
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGTERM');
      } catch {
        /* already gone */
      }
    }
    this.remove();
    process.exit(128 + ((osConstants.signals[sig] as number | undefined) ?? 0));
  }

  private uninstall(): void {
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
    process.removeListener('exit', this.onExit);
  }

  /** Remove the folder and everything in it (idempotent), then the handlers. */
  remove(): void {
    if (!this.removed) {
      this.removed = true;
      try {
        rmSync(this.dir, { recursive: true, force: true });
      } catch {
        /* best effort: nothing more can be done */
      }
    }
    this.uninstall();
  }
}

/** Run the editor on the workspace file; resolves when it exits with status 0. */
export function runEditor(argv: readonly string[], ws: EditWorkspace): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      ws.child = undefined;
      reject(new SopsError(`Could not run editor: ${why}`, ExitCode.NoEditorFound));
    };
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, [...argv.slice(1), ws.file], { stdio: 'inherit' });
    } catch (e) {
      fail(messageOf(e));
      return;
    }
    ws.child = child;
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? `${argv[0]}: command not found` : e.message),
    );
    child.on('exit', (code, signal) => {
      if (code === 0) {
        if (settled) return;
        settled = true;
        ws.child = undefined;
        resolvePromise();
      } else fail(signal ? `the editor was stopped by ${signal}` : `exit status ${code}`);
    });
  });
}

/**
 * Wait for one key press on the terminal (raw mode). Ctrl+C ends tsops as SIGINT would, through
 * `onInterrupt`.
 */
function waitForKey(onInterrupt: () => never): Promise<void> {
  return new Promise((resolvePromise) => {
    const stdin = process.stdin;
    const raw = stdin.isTTY;
    if (raw) stdin.setRawMode(true);
    const onData = (b: Buffer) => {
      stdin.removeListener('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      if (b.includes(0x03)) onInterrupt();
      resolvePromise();
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

// --- the command --------------------------------------------------------------------------------

const PRESS_A_KEY = 'Press a key to return to the editor, or Ctrl+C to exit.';

async function editLoop(
  ws: EditWorkspace,
  editor: string[],
  original: Buffer,
  store: Store,
  showMasterKeys: boolean,
  name: string,
): Promise<Edited> {
  for (;;) {
    await runEditor(editor, ws);
    const edited = ws.read();
    if (edited.equals(original)) throw new SopsError('File has not changed, exiting.', ExitCode.FileHasNotBeenModified);
    const r = parseEdited(edited, store, showMasterKeys);
    if (typeof r !== 'string') return r;
    process.stderr.write(`${r}\n${PRESS_A_KEY}\n`);
    if (!process.stdin.isTTY) {
      // as sops: wait for a byte on standard input (a pipe too), then reopen the editor; at the end
      // of input stop (sops would reopen the editor forever)
      if (!readStdinByte())
        throw new SopsError(`${r} (standard input ended; ${name} was left unchanged)`, ExitCode.CouldNotReadInputFile);
      continue;
    }
    await waitForKey(() => ws.abort('SIGINT'));
  }
}

/** `tsops edit FILE`. */
export async function editCommand(file: string | undefined, o: CliOptions): Promise<void> {
  if (!file || file === '-') throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  const log = makeLog(o);
  const io = planIo(file, o);
  const name = file;
  const editor = editorCommand(); // before any decryption: fail fast without an editor
  const showMasterKeys = !!o.showMasterKeys;
  await lockForUpdate(file, { log });
  const session = await startEdit(file, {
    format: io.inFormat,
    outFormat: io.outFormat,
    indent: io.indent,
    path: io.path,
    config: o.config,
    ignoreMac: o.ignoreMac,
    decryptionOrder: decryptionOrder(o),
    showMasterKeys,
    log,
    newFile: () => planEncryption(io.path, o, io.outFormat, log),
  });

  const ws = new EditWorkspace(basename(file));
  let edited: Edited;
  try {
    ws.write(session.original);
    log(`running the editor ${JSON.stringify(editor[0])} on a temporary copy`);
    edited = await editLoop(ws, editor, session.original, session.store, showMasterKeys, name);
  } finally {
    ws.remove();
  }

  const sealed = await finishEdit(session, edited, { filename: name, log });
  writeFileAtomic(file, sealed);
  log(`${name} written`);
}

/** The `edit` subcommand. */
export function addEditCommand(program: Command): Command {
  const cmd = program
    .command('edit')
    .description('edit an encrypted file in $SOPS_EDITOR / $EDITOR (a new file starts from an example)')
    .argument('[file]', 'the encrypted file (created when it does not exist)')
    .addOption(new Option('-s, --show-master-keys', 'show the sops metadata (master keys) in the editor'));
  addFileOptions(cmd, 'open the file even if its MAC does not match');
  addGlobalOptions(addScopeOptions(addKeyOptions(cmd)));
  cmd.action((file: string | undefined, _o: unknown, c: Command) => editCommand(file, subcommandOptions(c)));
  return cmd;
}
