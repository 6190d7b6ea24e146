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
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { shlexSplit } from '../keys/age/shlex.js';
import { metadataToPlain, parseMetadata, type Metadata } from '../metadata/metadata.js';
import { wrapDataKey } from '../file/datakey.js';
import { hasSopsMetadata, keyContext, newMetadata, sealTree, type SealOptions } from '../file/file.js';
import { reuseOpened, SingleUseIvStash } from '../file/reuse.js';
import { storeFor } from '../stores/index.js';
import type { Format, Store } from '../stores/types.js';
import { IvStash } from '../tree/crypt.js';
import { entry, map, str, type Tree } from '../tree/types.js';
import { writeFileAtomic } from '../util/fs.js';
import { makeLog, openPlanned, planEncryption, planIo } from './context.js';
import { addGlobalOptions, addKeyOptions, addScopeOptions, subcommandOptions, type CliOptions } from './options.js';

// --- the example a new file starts from (sops's EmitExample) --------------------------------------

const WELCOME = 'Welcome to SOPS! Edit this file as you please!';

/** The tree sops shows when a new file is edited: the complex example (YAML, JSON), the nested one (INI), the flat one (dotenv), or the welcome text (binary). */
export function exampleTree(format: Format): Tree {
  switch (format) {
    case 'yaml':
    case 'json':
      return {
        docs: [
          map([
            entry('hello', str(WELCOME)),
            entry('example_key', str('example_value')),
            { kind: 'comment', text: ' Example comment' },
            entry('example_array', { kind: 'list', items: [str('example_value1'), str('example_value2')] }),
            entry('example_number', { kind: 'scalar', type: 'float', text: '1234.56789' }),
            entry('example_booleans', {
              kind: 'list',
              items: [
                { kind: 'scalar', type: 'bool', text: 'true' },
                { kind: 'scalar', type: 'bool', text: 'false' },
              ],
            }),
          ]),
        ],
      };
    case 'ini':
      return {
        docs: [
          map([
            entry(
              'Welcome!',
              map([{ kind: 'comment', text: ' This is an example file.' }, entry('hello', str(WELCOME)), entry('example_key', str('example_value'))]),
            ),
          ]),
        ],
      };
    case 'dotenv':
      return {
        docs: [
          map([
            { kind: 'comment', text: ' This is an example file.' },
            entry('hello', str(WELCOME)),
            entry('example_key', str('example_value')),
            entry('example_multiline', str('foo\nbar\nbaz')),
          ]),
        ],
      };
    case 'binary':
      return { docs: [map([entry('data', str(WELCOME))])] };
  }
}

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
    if (words.length === 0) throw new SopsError(`Could not run editor: $${which} holds no command`, ExitCode.NoEditorFound);
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
    process.exit(128 + (osConstants.signals[sig] ?? 0));
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
    child.on('error', (e: NodeJS.ErrnoException) => fail(e.code === 'ENOENT' ? `${argv[0]}: command not found` : e.message));
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
    const raw = stdin.isTTY === true;
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

/** The indentation for a format: --indent, else the `stores` section of the .sops.yaml, else the store's default. */
export async function outputIndent(path: string | undefined, o: CliOptions, format: Format, flagIndent: number | undefined): Promise<number | undefined> {
  if (flagIndent !== undefined) return flagIndent;
  if (format !== 'yaml' && format !== 'json') return undefined;
  const cfgMod = await import('../config/config.js');
  const configPath = cfgMod.findConfigFile({ explicit: o.config, fileDir: path ? dirname(resolve(path)) : undefined, cwd: process.cwd() });
  if (!configPath || !existsSync(configPath)) return undefined;
  const cfg = cfgMod.loadConfig(configPath);
  return format === 'json' ? cfg.stores?.json?.indent : cfg.stores?.yaml?.indent;
}

interface Edited {
  tree: Tree;
  /** The metadata as edited (only with --show-master-keys). */
  metadata?: Metadata;
}

const PRESS_A_KEY = 'Press a key to return to the editor, or Ctrl+C to exit.';

/** Parse what the editor left; a string says why it cannot be used. */
function parseEdited(data: Buffer, store: Store, showMasterKeys: boolean): Edited | string {
  try {
    if (!showMasterKeys) {
      const tree = store.loadPlain(data);
      if (hasSopsMetadata(tree, store.format)) return 'Could not load tree: the file has a top-level "sops" key, which is reserved for the metadata.';
      return { tree };
    }
    const loaded = store.loadEncrypted(data);
    if (loaded.metadata === undefined) return 'SOPS metadata is invalid: the "sops" section is missing.';
    let metadata: Metadata;
    try {
      metadata = parseMetadata(loaded.metadata);
    } catch (e) {
      return `SOPS metadata is invalid: ${messageOf(e)}.`;
    }
    if (metadata.keyGroups.every((g) => g.length === 0)) return "No master keys were provided, so tsops can't encrypt the file.";
    return { tree: loaded.tree, metadata };
  } catch (e) {
    return `Could not load tree, probably due to invalid syntax: ${messageOf(e)}`;
  }
}

async function editLoop(ws: EditWorkspace, editor: string[], original: Buffer, store: Store, showMasterKeys: boolean, name: string): Promise<Edited> {
  for (;;) {
    await runEditor(editor, ws);
    const edited = ws.read();
    if (edited.equals(original)) throw new SopsError('File has not changed, exiting.', ExitCode.FileHasNotBeenModified);
    const r = parseEdited(edited, store, showMasterKeys);
    if (typeof r !== 'string') return r;
    if (!process.stdin.isTTY) {
      throw new SopsError(`${r} (standard input is not a terminal, so tsops cannot offer to edit again; ${name} was left unchanged)`, ExitCode.CouldNotReadInputFile);
    }
    process.stderr.write(`${r}\n${PRESS_A_KEY}\n`);
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

  let tree: Tree;
  let metadata: Metadata;
  let dataKey: Buffer;
  let stash: IvStash | undefined;
  let indent = await outputIndent(io.path, o, io.outFormat, io.indent);
  if (existsSync(file)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      throw new SopsError(`cannot read ${file}: ${messageOf(e)}`, ExitCode.CouldNotReadInputFile);
    }
    const opened = await openPlanned(io, o, log, data, name);
    ({ tree, metadata, dataKey, stash } = opened);
  } else {
    if (!existsSync(dirname(resolve(file)))) {
      throw new SopsError(`cannot create ${file}: its folder ${dirname(resolve(file))} does not exist`, ExitCode.CouldNotWriteOutputFile);
    }
    const plan = await planEncryption(io.path, o, io.outFormat, log);
    indent ??= plan.indent;
    metadata = newMetadata(plan);
    dataKey = randomBytes(32);
    await wrapDataKey(metadata, dataKey, keyContext({ log }));
    tree = exampleTree(io.outFormat);
    log(`${name} does not exist: starting from the example for ${io.outFormat}`);
  }
  const store = await storeFor(io.outFormat, { indent });
  const showMasterKeys = !!o.showMasterKeys;
  let original: Buffer;
  try {
    original = showMasterKeys ? store.emitEncrypted(tree, metadataToPlain(metadata)) : store.emitPlain(tree);
  } catch (e) {
    throw new SopsError(`Could not marshal tree: ${messageOf(e)}`, ExitCode.ErrorDumpingTree);
  }

  const ws = new EditWorkspace(basename(file));
  let edited: Edited;
  try {
    ws.write(original);
    log(`running the editor ${JSON.stringify(editor[0])} on a temporary copy`);
    edited = await editLoop(ws, editor, original, store, showMasterKeys, name);
  } finally {
    ws.remove();
  }

  const seal: SealOptions = { filename: name, log, dataKey, stash: stash && new SingleUseIvStash(stash), keepWrappedKeys: true };
  let outMetadata = metadata;
  if (edited.metadata) {
    // --show-master-keys: the settings come from the edited metadata; the wrapped keys are kept
    // when its keys are the same, the data key is wrapped again when keys were added, and a new
    // data key is used when a key was removed
    const m = edited.metadata;
    outMetadata = { ...m, mac: '', lastModified: '' };
    const r = reuseOpened(metadata, dataKey, stash ?? new IvStash(), m, log);
    if (!r) {
      seal.dataKey = undefined;
      seal.stash = undefined;
      seal.keepWrappedKeys = false;
      outMetadata.keyGroups = m.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' })));
    } else {
      outMetadata.keyGroups = r.keyGroups;
      outMetadata.shamirThreshold = r.shamirThreshold;
      seal.stash = r.stash;
      seal.keepWrappedKeys = r.keepWrappedKeys;
    }
  }
  const sealed = await sealTree(edited.tree, outMetadata, store, seal);
  writeFileAtomic(file, sealed);
  log(`${name} written`);
}


/** The `edit` subcommand. */
export function addEditCommand(program: Command): Command {
  const cmd = program
    .command('edit')
    .description('edit an encrypted file in $SOPS_EDITOR / $EDITOR (a new file starts from an example)')
    .argument('[file]', 'the encrypted file (created when it does not exist)')
    .addOption(new Option('--input-type <type>', 'input format: yaml, json, dotenv, ini or binary (default: from the file extension)'))
    .addOption(new Option('--output-type <type>', 'output format (default: the input format)'))
    .addOption(new Option('--indent <n>', 'indentation of YAML/JSON output'))
    .addOption(new Option('-s, --show-master-keys', 'show the sops metadata (master keys) in the editor'))
    .addOption(new Option('--ignore-mac', 'open the file even if its MAC does not match'))
    .addOption(new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env('SOPS_DECRYPTION_ORDER'));
  addGlobalOptions(addScopeOptions(addKeyOptions(cmd)));
  cmd.action((file: string | undefined, _o: unknown, c: Command) => editCommand(file, subcommandOptions(c)));
  return cmd;
}
