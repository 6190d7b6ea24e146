/**
 * `encrypt`'s minimal-diff options: when `--output DEST` already holds an encrypted version that
 * tsops can open, the new version keeps DEST's data key and the ciphertext of every unchanged
 * value; `--reuse-from OLD` does the same from any encrypted file; `--no-reuse` turns both off.
 * See src/file/reuse.ts for what is kept when the keys change.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import type { Metadata } from '../metadata/metadata.js';
import { applyReuse, reuseFrom } from '../file/reuse.js';
import type { SealOptions } from '../file/file.js';
import { formatFromPath } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { decryptionOrder } from './context.js';
import type { CliOptions } from './options.js';

export interface ReuseCliOptions {
  /** `--reuse-from OLD` */
  reuseFrom?: string;
  /** false with `--no-reuse` (commander's negated option) */
  reuse?: boolean;
}

export function addReuseOptions(cmd: Command): Command {
  // `--reuse` (the default, hidden) is declared so that `--no-reuse` has no default value: a
  // default on the root command would override the subcommand's value in optsWithGlobals()
  return cmd
    .addOption(new Option('--reuse', 'reuse the previous version (the default)').hideHelp())
    .addOption(
      new Option(
        '--reuse-from <file>',
        'keep the data key and the ciphertext of unchanged values of this encrypted version (minimal Git diffs)',
      ),
    )
    .addOption(new Option('--no-reuse', 'always start from a new data key, even when --output names an encrypted version'));
}

/**
 * For `encrypt`: reuse the previous version named by --reuse-from, or the encrypted file --output
 * will replace. Fills `metadata` (in place) and returns the seal options to add. A --reuse-from
 * file that cannot be opened is an error; an --output file that cannot be opened (not encrypted,
 * no key at hand, MAC mismatch) just means a new data key.
 */
export async function reuseForEncrypt(
  metadata: Metadata,
  outFormat: Format,
  o: CliOptions & ReuseCliOptions,
  log: (m: string) => void,
): Promise<Pick<SealOptions, 'dataKey' | 'stash' | 'keepWrappedKeys'>> {
  if (o.reuse === false) {
    if (o.reuseFrom) throw new SopsError('use only one of --reuse-from and --no-reuse', ExitCode.ErrorConflictingParameters);
    return {};
  }
  const target = { keyGroups: metadata.keyGroups, shamirThreshold: metadata.shamirThreshold };
  const opts = (filename: string, format: Format) => ({ format, filename, log, decryptionOrder: decryptionOrder(o) });
  if (o.reuseFrom) {
    let data: Buffer;
    try {
      data = readFileSync(o.reuseFrom);
    } catch (e) {
      throw new SopsError(`cannot read --reuse-from ${o.reuseFrom}: ${messageOf(e)}`, ExitCode.CouldNotReadInputFile);
    }
    const r = await reuseFrom(data, target, opts(o.reuseFrom, formatFromPath(o.reuseFrom)));
    return applyReuse(metadata, r);
  }
  if (o.output && !o.inPlace && existsSync(o.output)) {
    try {
      const r = await reuseFrom(readFileSync(o.output), target, opts(o.output, outFormat));
      return applyReuse(metadata, r);
    } catch (e) {
      log(`not reusing ${o.output}: ${messageOf(e)}`);
    }
  }
  return {};
}
