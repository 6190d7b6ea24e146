/**
 * `encrypt`'s minimal-diff opt-in: `--reuse-from OLD` keeps OLD's data key and the ciphertext of
 * every unchanged value, when OLD's MAC verifies and its keys are exactly the new file's. Without
 * it `encrypt` makes a new data key, always, as sops does — also when `--output` names an existing
 * encrypted file (whoever can write that path could have planted a file whose data key they
 * chose). `--no-reuse` is accepted (the default). See src/file/reuse.ts.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import type { Metadata } from '../metadata/metadata.js';
import type { SealOptions } from '../file/file.js';
import { formatFromPath } from '../stores/index.js';
import { decryptionOrder } from './context.js';
import type { CliOptions } from './options.js';

export interface ReuseCliOptions {
  /** `--reuse-from OLD` */
  reuseFrom?: string;
  /** false with `--no-reuse` (commander's negated option) */
  reuse?: boolean;
}

export function addReuseOptions(cmd: Command): Command {
  // `--reuse` (hidden) is declared so that `--no-reuse` has no default value: a default on the
  // root command would override the subcommand's value in optsWithGlobals()
  return cmd
    .addOption(new Option('--reuse', 'accepted, does nothing (see --reuse-from)').hideHelp())
    .addOption(
      new Option(
        '--reuse-from <file>',
        'keep the data key and the ciphertext of unchanged values of this encrypted version (minimal Git diffs); ' +
          "only when its MAC verifies and its keys are exactly the new file's. Trust: whoever wrote that file chose " +
          'its data key and can read every value you encrypt with it',
      ),
    )
    .addOption(new Option('--no-reuse', 'start from a new data key (the default)'));
}

/**
 * For `encrypt`: with --reuse-from, fill `metadata` (in place) from the previous version and return
 * the seal options to add. A --reuse-from file that cannot be opened (or whose MAC does not verify)
 * is an error; one whose keys differ gives a warning and a new data key.
 */
export async function reuseForEncrypt(
  metadata: Metadata,
  o: CliOptions & ReuseCliOptions,
  log: (m: string) => void,
): Promise<Pick<SealOptions, 'dataKey' | 'stash' | 'keepWrappedKeys'>> {
  if (o.reuse === false && o.reuseFrom)
    throw new SopsError('use only one of --reuse-from and --no-reuse', ExitCode.ErrorConflictingParameters);
  if (!o.reuseFrom) return {};
  const target = { keyGroups: metadata.keyGroups, shamirThreshold: metadata.shamirThreshold };
  let data: Buffer;
  try {
    data = readFileSync(o.reuseFrom);
  } catch (e) {
    throw new SopsError(`cannot read --reuse-from ${o.reuseFrom}: ${messageOf(e)}`, ExitCode.CouldNotReadInputFile);
  }
  const { applyReuse, reuseFrom } = await import('../file/reuse.js');
  const r = await reuseFrom(data, target, {
    format: formatFromPath(o.reuseFrom),
    filename: o.reuseFrom,
    log,
    decryptionOrder: decryptionOrder(o),
  });
  if (!r.reuse) {
    process.stderr.write(`warning: not reusing ${o.reuseFrom}: ${r.why}; using a new data key\n`);
    return {};
  }
  return applyReuse(metadata, r.reuse);
}
