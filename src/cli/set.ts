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
import { setValue, unsetValue, type SetOptions } from '../ops/set.js';
import { nodeFromJson } from '../tree/mutate.js';
import { parseTreePath, type PathComponent } from '../tree/path.js';
import type { Node } from '../tree/types.js';
import { lockForUpdate, readInput, writeFileAtomic } from '../util/fs.js';
import { decryptionOrder, makeLog, planIo } from './context.js';
import { subcommandOptions } from './options.js';
import { addFileOptions, addGlobalOptions, type CliOptions } from './options.js';

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
    throw new SopsError(
      `Invalid ${what} index format: the path is empty; give at least one component, e.g. '["key"]'`,
      ExitCode.ErrorInvalidSetFormat,
    );
  }
  return path;
}

/** Read FILE, change it with `op`, and write it back (unless `op` says there is nothing to write). */
async function changeFile(
  file: string,
  o: SetCliOptions,
  op: (data: Buffer, opts: SetOptions) => Promise<Buffer | undefined>,
): Promise<void> {
  const log = makeLog(o);
  const io = planIo(file, o);
  await lockForUpdate(file, { log });
  const sealed = await op(readInput(file), {
    format: io.inFormat,
    outFormat: io.outFormat,
    indent: io.indent,
    path: io.path,
    config: o.config,
    ignoreMac: o.ignoreMac,
    decryptionOrder: decryptionOrder(o),
    idempotent: o.idempotent,
    log,
    filename: file,
  });
  if (sealed === undefined) return;
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
      throw new SopsError(
        `cannot read the value file ${valueArg}: ${err.code === 'ENOENT' ? 'no such file' : messageOf(e)}`,
        ExitCode.CouldNotReadInputFile,
      );
    }
  }
  return valueArg!;
}

/** Set PATH to a parsed value. */
async function setInFile(file: string, path: PathComponent[], value: Node, o: SetCliOptions): Promise<void> {
  await changeFile(file, o, (data, opts) => setValue(data, path, value, opts));
}

/** `tsops set FILE PATH VALUE` (VALUE absent with --value-stdin). */
export async function setCommand(
  file: string | undefined,
  pathArg: string | undefined,
  valueArg: string | undefined,
  o: SetCliOptions,
): Promise<void> {
  if (o.valueFile && o.valueStdin) {
    throw new SopsError('Error: cannot use both --value-file and --value-stdin', ExitCode.ErrorGeneric); // sops: exit 1
  }
  if (o.valueStdin) {
    if (file === undefined || pathArg === undefined || valueArg !== undefined) {
      throw new SopsError(
        'Error: with --value-stdin, give exactly two arguments: the file and the path (the value comes from standard input)',
        ExitCode.NoFileSpecified,
      );
    }
  } else if (file === undefined || pathArg === undefined || valueArg === undefined) {
    throw new SopsError(
      'Error: no file specified, or index and value are missing: tsops set FILE PATH VALUE',
      ExitCode.NoFileSpecified,
    );
  }
  const path = parsePath(pathArg, 'set');
  const value = nodeFromJson(readValue(valueArg, o));
  await setInFile(file, path, value, o);
}

/** sops's legacy `--set '["a"]["b"] VALUE'`: the path, a space, and the JSON value in one string. */
export async function legacySetCommand(file: string | undefined, spec: string, o: SetCliOptions): Promise<void> {
  if (!file) throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  const at = spec.indexOf('] ');
  if (at < 0) {
    throw new SopsError(
      'Invalid --set format: give the path and the JSON value separated by a space, e.g. --set \'["key"] "value"\'',
      ExitCode.ErrorInvalidSetFormat,
    );
  }
  const value = nodeFromJson(spec.slice(at + 2));
  const path = parsePath(spec.slice(0, at + 1).trimEnd(), 'set');
  await setInFile(file, path, value, o);
}

/** `tsops unset FILE PATH`. */
export async function unsetCommand(
  file: string | undefined,
  pathArg: string | undefined,
  o: SetCliOptions,
): Promise<void> {
  if (file === undefined || pathArg === undefined) {
    throw new SopsError(
      'Error: no file specified, or index is missing: tsops unset FILE PATH',
      ExitCode.NoFileSpecified,
    );
  }
  const path = parsePath(pathArg, 'unset');
  await changeFile(file, o, (data, opts) => unsetValue(data, path, opts));
}

function addCommonSetOptions(cmd: Command): Command {
  return addGlobalOptions(addFileOptions(cmd, 'change the file even if its MAC does not match'));
}

/** The `set` and `unset` subcommands. */
export function addSetCommands(program: Command): void {
  const set = program
    .command('set')
    .description(
      'set one value of an encrypted file in place, e.g. tsops set secrets.yaml \'["db"]["password"]\' \'"s3cret"\'',
    )
    .argument('[file]', 'the encrypted file')
    .argument('[path]', 'where: \'["key"]["sub"][0]\' (a missing key is created; the list length appends)')
    .argument('[value]', 'the value as JSON: \'"text"\', 42, true, {"a":1}, [1,2]')
    .addOption(
      new Option('--value-file', 'VALUE names a file holding the JSON value (keeps secrets out of process listings)'),
    )
    .addOption(new Option('--value-stdin', 'read the JSON value from standard input (give no VALUE)'))
    .addOption(new Option('--idempotent', 'do nothing (and succeed) when the path already holds the value'));
  addCommonSetOptions(set);
  set.action((file: string | undefined, path: string | undefined, value: string | undefined, _o: unknown, c: Command) =>
    setCommand(file, path, value, subcommandOptions<SetCliOptions>(c)),
  );

  const unset = program
    .command('unset')
    .description(
      'remove one key or list item of an encrypted file in place, e.g. tsops unset secrets.yaml \'["old_key"]\'',
    )
    .argument('[file]', 'the encrypted file')
    .argument('[path]', 'what to remove: \'["key"]\' or \'["list"][0]\'')
    .addOption(new Option('--idempotent', 'do nothing (and succeed) when the path does not exist'));
  addCommonSetOptions(unset);
  unset.action((file: string | undefined, path: string | undefined, _o: unknown, c: Command) =>
    unsetCommand(file, path, subcommandOptions<SetCliOptions>(c)),
  );
}
