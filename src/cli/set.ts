/**
 * `tsops set FILE PATH VALUE` and `tsops unset FILE PATH` (and sops's legacy `--set 'PATH VALUE'`):
 * change one value of an encrypted file in place, without an editor.
 *
 * PATH is `["key"]["sub"][0]`; VALUE is JSON (`'"text"'`, `1`, `true`, `{"x":1}`, `[1,2]`), read
 * from the argument, from a file (`--value-file`: the argument names it) or from standard input
 * (`--value-stdin`: no argument), so a secret need not appear in a process listing.
 *
 * The file is re-encrypted with its data key; every other value keeps its exact ciphertext, and the
 * file is replaced atomically, keeping its mode. With `--idempotent`, `set` writes nothing when the
 * value is already there and `unset` writes nothing (and succeeds) when the path does not exist.
 *
 * Exit codes as sops: 100 for missing arguments, 7 for a path or value that cannot be parsed (or a
 * value a dotenv/INI/binary file cannot hold), 1 when `unset` finds nothing at the path.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { sealTree } from '../file/file.js';
import { SingleUseIvStash } from '../file/reuse.js';
import { storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { nodeFromJson, PathNotFoundError, setAtPath, unsetAtPath } from '../tree/mutate.js';
import { formatTreePath, parseTreePath, type PathComponent } from '../tree/path.js';
import type { MapNode, Node } from '../tree/types.js';
import { readInput, writeFileAtomic } from '../util/fs.js';
import { makeLog, openPlanned, planIo } from './context.js';
import { outputIndent } from './edit.js';
import { subcommandOptions } from './options.js';
import { addGlobalOptions, type CliOptions } from './options.js';

export interface SetCliOptions extends CliOptions {
  idempotent?: boolean;
  valueFile?: boolean;
  valueStdin?: boolean;
}

/** Parse PATH for set/unset: sops answers a malformed path with exit 7 (ErrorInvalidSetFormat). */
function parsePath(s: string, what: 'set' | 'unset'): PathComponent[] {
  let path: PathComponent[];
  try {
    path = parseTreePath(s);
  } catch (e) {
    throw new SopsError(`Invalid ${what} index format: ${messageOf(e)}`, ExitCode.ErrorInvalidSetFormat);
  }
  if (path.length === 0) {
    throw new SopsError(`Invalid ${what} index format: the path is empty; give at least one component, e.g. '["key"]'`, ExitCode.ErrorInvalidSetFormat);
  }
  return path;
}

/** What a dotenv, INI or binary file can hold at a path; a SopsError (exit 7) otherwise. */
export function checkValueForFormat(format: Format, path: readonly PathComponent[], value: Node): void {
  const bad = (msg: string) => new SopsError(`cannot set ${formatTreePath(path)} in a ${format} file: ${msg}`, ExitCode.ErrorInvalidSetFormat);
  const flat = (v: Node) => v.kind === 'scalar';
  switch (format) {
    case 'dotenv':
      if (path.length !== 1 || typeof path[0] !== 'string') throw bad('a dotenv file is flat: the path is one key, e.g. \'["API_KEY"]\'');
      if (!flat(value)) throw bad('a dotenv value is a single string (or number or boolean), not a map, list or null');
      return;
    case 'ini':
      if (path.some((c) => typeof c !== 'string') || path.length > 2) {
        throw bad('an INI file holds sections of keys: the path is \'["section"]["key"]\' (or \'["section"]\' with a map of strings)');
      }
      if (path.length === 2 && !flat(value)) throw bad('an INI value is a single string (or number or boolean), not a map, list or null');
      if (path.length === 1 && (value.kind !== 'map' || value.items.some((it) => it.kind === 'entry' && !flat(it.value)))) {
        throw bad('a section is a map of keys to strings, e.g. {"key": "value"}');
      }
      return;
    case 'binary':
      if (path.length !== 1 || path[0] !== 'data' || value.kind !== 'scalar' || value.type !== 'str') {
        throw bad('a binary file holds one string, its content: the path is \'["data"]\' and the value a JSON string');
      }
      return;
    default:
      return;
  }
}

/**
 * Open FILE, apply `change` to its first document, and write it back re-encrypted. `change`
 * returns false when nothing changed; with `skipUnchanged` the file is then left as it is.
 */
async function modifyFile(file: string, o: SetCliOptions, change: (doc: MapNode, format: Format) => boolean, skipUnchanged: boolean): Promise<void> {
  const log = makeLog(o);
  const io = planIo(file, o);
  const opened = await openPlanned(io, o, log, readInput(file), file);
  const doc = opened.tree.docs[0];
  if (!doc) throw new SopsError(`${file}: the file has no document to change`, ExitCode.NeedAtLeastOneDocument);
  if (!change(doc, io.outFormat) && skipUnchanged) {
    log('the value is already there: the file is not written');
    return;
  }
  const indent = await outputIndent(io.path, o, io.outFormat, io.indent);
  const store = await storeFor(io.outFormat, { indent });
  const sealed = await sealTree(opened.tree, opened.metadata, store, {
    filename: file,
    log,
    dataKey: opened.dataKey,
    stash: new SingleUseIvStash(opened.stash),
    keepWrappedKeys: true,
  });
  writeFileAtomic(file, sealed);
  log(`${file} written`);
}

function readValue(valueArg: string | undefined, o: SetCliOptions): string {
  if (o.valueStdin) {
    try {
      return readFileSync(0, 'utf8');
    } catch (e) {
      throw new SopsError(`cannot read the value from standard input: ${messageOf(e)}`, ExitCode.CouldNotReadInputFile);
    }
  }
  if (o.valueFile) {
    try {
      return readFileSync(valueArg!, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new SopsError(`cannot read the value file ${valueArg}: ${err.code === 'ENOENT' ? 'no such file' : messageOf(e)}`, ExitCode.CouldNotReadInputFile);
    }
  }
  return valueArg!;
}

/** Set PATH to a parsed value. */
async function setValue(file: string, path: PathComponent[], value: Node, o: SetCliOptions): Promise<void> {
  await modifyFile(
    file,
    o,
    (doc, format) => {
      checkValueForFormat(format, path, value);
      return setAtPath(doc, path, value);
    },
    !!o.idempotent,
  );
}

/** `tsops set FILE PATH VALUE` (VALUE absent with --value-stdin). */
export async function setCommand(file: string | undefined, pathArg: string | undefined, valueArg: string | undefined, o: SetCliOptions): Promise<void> {
  if (o.valueFile && o.valueStdin) {
    throw new SopsError('Error: cannot use both --value-file and --value-stdin', ExitCode.ErrorConflictingParameters);
  }
  if (o.valueStdin) {
    if (file === undefined || pathArg === undefined || valueArg !== undefined) {
      throw new SopsError('Error: with --value-stdin, give exactly two arguments: the file and the path (the value comes from standard input)', ExitCode.NoFileSpecified);
    }
  } else if (file === undefined || pathArg === undefined || valueArg === undefined) {
    throw new SopsError('Error: no file specified, or index and value are missing: tsops set FILE PATH VALUE', ExitCode.NoFileSpecified);
  }
  const path = parsePath(pathArg, 'set');
  const value = nodeFromJson(readValue(valueArg, o));
  await setValue(file, path, value, o);
}

/** sops's legacy `--set '["a"]["b"] VALUE'`: the path, a space, and the JSON value in one string. */
export async function legacySetCommand(file: string | undefined, spec: string, o: SetCliOptions): Promise<void> {
  if (!file) throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  const at = spec.indexOf('] ');
  if (at < 0) {
    throw new SopsError('Invalid --set format: give the path and the JSON value separated by a space, e.g. --set \'["key"] "value"\'', ExitCode.ErrorInvalidSetFormat);
  }
  const value = nodeFromJson(spec.slice(at + 2));
  const path = parsePath(spec.slice(0, at + 1).trimEnd(), 'set');
  await setValue(file, path, value, o);
}

/** `tsops unset FILE PATH`. */
export async function unsetCommand(file: string | undefined, pathArg: string | undefined, o: SetCliOptions): Promise<void> {
  if (file === undefined || pathArg === undefined) {
    throw new SopsError('Error: no file specified, or index is missing: tsops unset FILE PATH', ExitCode.NoFileSpecified);
  }
  const path = parsePath(pathArg, 'unset');
  try {
    await modifyFile(
      file,
      o,
      (doc) => {
        unsetAtPath(doc, path);
        return true;
      },
      false,
    );
  } catch (e) {
    if (e instanceof PathNotFoundError && o.idempotent) {
      makeLog(o)(`${e.message}: nothing to do (--idempotent)`);
      return;
    }
    throw e;
  }
}

function addCommonSetOptions(cmd: Command): Command {
  cmd
    .addOption(new Option('--input-type <type>', 'input format: yaml, json, dotenv, ini or binary (default: from the file extension)'))
    .addOption(new Option('--output-type <type>', 'output format (default: the input format)'))
    .addOption(new Option('--indent <n>', 'indentation of YAML/JSON output'))
    .addOption(new Option('--ignore-mac', 'change the file even if its MAC does not match'))
    .addOption(new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env('SOPS_DECRYPTION_ORDER'));
  return addGlobalOptions(cmd);
}

/** The `set` and `unset` subcommands. */
export function addSetCommands(program: Command): void {
  const set = program
    .command('set')
    .description('set one value of an encrypted file in place, e.g. tsops set secrets.yaml \'["db"]["password"]\' \'"s3cret"\'')
    .argument('[file]', 'the encrypted file')
    .argument('[path]', 'where: \'["key"]["sub"][0]\' (a missing key is created; the list length appends)')
    .argument('[value]', 'the value as JSON: \'"text"\', 42, true, {"a":1}, [1,2]')
    .addOption(new Option('--value-file', 'VALUE names a file holding the JSON value (keeps secrets out of process listings)'))
    .addOption(new Option('--value-stdin', 'read the JSON value from standard input (give no VALUE)'))
    .addOption(new Option('--idempotent', 'do nothing (and succeed) when the path already holds the value'));
  addCommonSetOptions(set);
  set.action((file: string | undefined, path: string | undefined, value: string | undefined, _o: unknown, c: Command) =>
    setCommand(file, path, value, subcommandOptions<SetCliOptions>(c)),
  );

  const unset = program
    .command('unset')
    .description('remove one key or list item of an encrypted file in place, e.g. tsops unset secrets.yaml \'["old_key"]\'')
    .argument('[file]', 'the encrypted file')
    .argument('[path]', 'what to remove: \'["key"]\' or \'["list"][0]\'')
    .addOption(new Option('--idempotent', 'do nothing (and succeed) when the path does not exist'));
  addCommonSetOptions(unset);
  unset.action((file: string | undefined, path: string | undefined, _o: unknown, c: Command) => unsetCommand(file, path, subcommandOptions<SetCliOptions>(c)));
}
