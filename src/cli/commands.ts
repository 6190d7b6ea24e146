/**
 * The commands: each reads its input, calls the library, and writes its output. No command writes
 * anything when it fails.
 */
import { ConflictingParametersError, ExitCode, NoFileError, SopsError } from '../errors.js';
import { storeFor } from '../stores/index.js';
import { parseTreePath } from '../tree/path.js';
import { hasSopsMetadata, loadPlain, newMetadata, renderPlain, sealTree } from '../file/file.js';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  makeLog,
  openPlanned,
  outputIndent,
  planEncryption,
  planIo,
  readerForChange,
  readForChange,
  writeResult,
} from './context.js';
import type { CliOptions } from './options.js';
import { reuseForEncrypt } from './reuse.js';

/**
 * The flag combinations sops refuses, refused the same way (same words, same exit codes) before
 * any file is read or written. `stdin`: no file argument (tsops also takes `-`).
 */
export function refuseConflicts(
  command: 'encrypt' | 'decrypt',
  file: string | undefined,
  o: CliOptions,
  legacy = false,
): void {
  const stdin = file === undefined || file === '-';
  if (stdin && legacy) throw new NoFileError('Error: no file specified');
  if (stdin && o.inPlace) throw new ConflictingParametersError('Error: cannot use --in-place when reading from stdin');
  if (stdin && command === 'encrypt' && !o.filenameOverride) {
    throw new ConflictingParametersError('Error: must specify --filename-override when reading from stdin');
  }
  if (o.inPlace && o.output)
    throw new ConflictingParametersError('Error: cannot operate on both --output and --in-place');
  if (!stdin && !existsSync(file)) {
    throw new NoFileError(`Error: cannot operate on non-existent file ${JSON.stringify(resolve(file))}`);
  }
}

export async function encryptCommand(file: string | undefined, o: CliOptions, legacy = false): Promise<void> {
  refuseConflicts('encrypt', file, o, legacy);
  const log = makeLog(o);
  const io = planIo(file, o);
  const data = await readForChange(io, o);
  const plan = await planEncryption(io.path, o, io.outFormat, log);
  const indent = io.indent ?? plan.indent;
  const name = io.path ?? 'standard input';
  const { tree } = await loadPlain(data, io.inFormat, { filename: name, storeOptions: { indent } });
  if (hasSopsMetadata(tree, io.inFormat)) {
    throw new SopsError(`${name}: the file is already encrypted (it has sops metadata)`, ExitCode.FileAlreadyEncrypted);
  }
  const metadata = newMetadata(plan);
  const out = await storeFor(io.outFormat, { indent });
  const reuse = await reuseForEncrypt(metadata, o, log);
  const sealed = await sealTree(tree, metadata, out, { filename: name, log, ...reuse });
  writeResult(sealed, io, o);
}

export async function decryptCommand(file: string | undefined, o: CliOptions, legacy = false): Promise<void> {
  refuseConflicts('decrypt', file, o, legacy);
  const log = makeLog(o);
  const io = planIo(file, o);
  const opened = await openPlanned(io, o, log, await readerForChange(io, o), io.path ?? 'standard input', false);
  const out = await storeFor(io.outFormat, { indent: await outputIndent(io, o) });
  const result = renderPlain(opened.tree, out, o.extract !== undefined ? parseTreePath(o.extract) : []);
  writeResult(result, io, o);
}

/**
 * Whether the arguments may call for the many-files run (src/cli/many.ts, loaded only then): with
 * `-i`, several files or a folder.
 */
function mayBeMany(files: string[], o: CliOptions): boolean {
  if (!o.inPlace) return files.length > 1;
  if (files.length > 1) return true;
  try {
    return files.length === 1 && statSync(files[0]!).isDirectory();
  } catch {
    return false;
  }
}

/** `encrypt [FILE…]`: one file as always; with `-i`, several files or folders (beyond sops). */
export async function encryptFilesCommand(files: string[], o: CliOptions): Promise<void> {
  if (!mayBeMany(files, o)) return encryptCommand(files[0], o);
  const many = await import('./many.js');
  const pick = many.pickFiles(files, o);
  if (!pick.many) return encryptCommand(pick.file, o);
  return many.runManyCommand('encrypt', files, o, many.encryptTask(o));
}

/** `decrypt [FILE…]`: one file as always; with `-i`, several files or folders (beyond sops). */
export async function decryptFilesCommand(files: string[], o: CliOptions): Promise<void> {
  if (!mayBeMany(files, o)) return decryptCommand(files[0], o);
  const many = await import('./many.js');
  const pick = many.pickFiles(files, o);
  if (!pick.many) return decryptCommand(pick.file, o);
  return many.runManyCommand('decrypt', files, o, many.decryptTask(o));
}
