/**
 * `tsops updatekeys PATH…`: bring the master keys of sops files in line with their `.sops.yaml`
 * creation rule, as sops does — print the changes per key group, ask "Is this okay? (y/n)" unless
 * `-y`, then wrap the file's existing data key for the rule's key groups (src/ops/updatekeys.ts).
 *
 * PATH may be a folder, searched recursively for sops files; with several files every file gets a
 * line saying what happened, and the exit status is non-zero when any file failed.
 *
 * The answer is read from the terminal: when standard input is not one and `-y` is not given, a
 * file that needs changes is left untouched and reported as failed.
 */
import { readLine } from './stdin.js';
import { isatty } from 'node:tty';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { updateKeys, type UpdateStatus } from '../ops/updatekeys.js';
import { parseThresholdFlag } from '../shamir/threshold.js';
import { commandOptions, decryptionOrder, makeLog, planIo } from './context.js';
import { addGlobalOptions, type CliOptions } from './options.js';

export interface UpdatekeysCliOptions extends CliOptions {
  yes?: boolean;
  dryRun?: boolean;
}

// --- asking ------------------------------------------------------------------------------------

/** Ask until the answer is y or n (yes/no accepted too). */
function confirm(write: (s: string) => void): boolean {
  for (;;) {
    write('Is this okay? (y/n):');
    const line = readLine();
    if (line === null) {
      throw new SopsError(
        'no answer to "Is this okay? (y/n)": standard input ended; run with --yes (-y) to apply the changes without asking',
        ExitCode.ErrorGeneric,
      );
    }
    const a = line.trim().toLowerCase();
    if (a === 'y' || a === 'yes') return true;
    if (a === 'n' || a === 'no') return false;
  }
}

// --- the command ----------------------------------------------------------------------------------

export async function updatekeysCommand(paths: string[], o: UpdatekeysCliOptions): Promise<void> {
  if (paths.length === 0) throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  const inputType = o.inputType ? planIo('x', { inputType: o.inputType }).inFormat : undefined; // checked once, up front
  const err = (s: string) => process.stderr.write(`${s}\n`);
  const out = (s: string) => process.stdout.write(s);
  const line = (await import('./many.js')).progressLine(false); // (its lines go between the report's)
  const { outcomes, files, folders } = await updateKeys(paths, {
    progress: line.progress,
    yes: o.yes,
    dryRun: o.dryRun,
    inputType,
    config: o.config,
    shamirThreshold: parseThresholdFlag(o.shamirSecretSharingThreshold),
    decryptionOrder: decryptionOrder(o),
    log: makeLog(o),
    report: err,
    show: out,
    color: isatty(1) && !process.env.NO_COLOR,
    // as sops: the answer is read from standard input, a terminal or not (`echo y | tsops updatekeys f`)
    confirm: () => confirm(out),
  });
  line.end();
  const failed = outcomes.filter((x) => x.status === 'failed');
  if (files > 1 || folders) {
    const count = (s: UpdateStatus) => outcomes.filter((x) => x.status === s).length;
    const parts = (['updated', 'up to date', 'left unchanged', 'would update', 'skipped', 'failed'] as UpdateStatus[])
      .filter((s) => count(s) > 0 || s === 'updated' || s === 'failed')
      .map((s) => `${count(s)} ${s === 'up to date' ? 'already up to date' : s}`);
    err(`updatekeys: ${parts.join(', ')}`);
    for (const x of outcomes) {
      const label = x.status === 'up to date' ? 'already up to date' : x.status;
      err(`  ${x.file}: ${label}${x.reason ? `: ${x.reason}` : ''}`);
    }
  }
  if (failed.length === 0) return;
  throw new SopsError(`failed updating ${failed.length} of ${files} file(s)`, ExitCode.ErrorGeneric);
}

export function addUpdatekeysCommand(program: Command): Command {
  const cmd = program
    .command('updatekeys')
    .description('update the keys of SOPS files using the config file (folders are searched for sops files)')
    .argument('[paths...]', 'sops files, or folders holding them')
    .addOption(new Option('-y, --yes', 'pre-approve all changes and run non-interactively'))
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from each file extension)',
      ),
    )
    .addOption(
      new Option(
        '--shamir-secret-sharing-threshold <n>',
        "the number of key groups needed to decrypt (default: the rule's, else the file's)",
      ),
    )
    .addOption(new Option('--dry-run', 'only show the changes; write nothing'))
    .addOption(
      new Option('--recursive', 'accepted for symmetry with encrypt/decrypt/rotate -i: folders are always searched'),
    )
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
  addGlobalOptions(cmd);
  cmd.action((paths: string[], _o: unknown, c: Command) =>
    updatekeysCommand(paths, commandOptions<UpdatekeysCliOptions>(c)),
  );
  return cmd;
}
