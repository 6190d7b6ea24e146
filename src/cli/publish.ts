/**
 * `tsops publish [-y] [--omit-extensions] [--recursive] FILE|DIR`: send sops files to the S3
 * bucket, GCS bucket or Vault KV secret their `.sops.yaml` `destination_rules` name (see
 * src/publish/publish.ts). Unless `--yes`, every upload is confirmed with sops's question on
 * standard output, the answer read from standard input (a terminal or a pipe), as sops reads it.
 */
import { readLine } from './stdin.js';
import { isatty } from 'node:tty';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { publish } from '../publish/publish.js';
import { findConfigFile } from '../config/config.js';
import { commandOptions, decryptionOrder, makeLog, planIo, sopsLogLine, sopsWarn } from './context.js';
import { addGlobalOptions, type CliOptions } from './options.js';

export interface PublishCliOptions extends CliOptions {
  yes?: boolean;
  omitExtensions?: boolean;
  recursive?: boolean;
}

/** sops's question, asked until the answer is y or n. */
function ask(question: string): boolean {
  for (;;) {
    process.stdout.write(question);
    const line = readLine();
    if (line === null) {
      throw new SopsError(
        'no answer to "(y/n)": standard input ended; run with --yes (-y) to publish without asking',
        ExitCode.ErrorGeneric,
      );
    }
    const a = line.trim();
    if (a === 'y') return true;
    if (a === 'n') return false;
  }
}

export async function publishCommand(paths: string[], o: PublishCliOptions): Promise<void> {
  const path = paths[0];
  if (!path) {
    // sops looks for its config first: without one, that is the error
    if (!o.config && !findConfigFile({ cwd: process.cwd() }))
      throw new SopsError('config file not found', ExitCode.ErrorGeneric);
    throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  }
  if (paths.length > 1) sopsWarn('More than one positional argument provided. Only the first one will be used!');
  const inputType = o.inputType ? planIo('x', { inputType: o.inputType }).inFormat : undefined;
  await publish(path, {
    yes: o.yes,
    confirm: ask,
    omitExtensions: o.omitExtensions,
    recursive: o.recursive,
    config: o.config,
    inputType,
    decryptionOrder: decryptionOrder(o),
    log: makeLog(o),
    show: (s) => process.stdout.write(s),
    say: (level, msg) => process.stderr.write(sopsLogLine(level, 'PUBLISH', msg)),
    color: isatty(1) && !process.env['NO_COLOR'],
  });
}

export function addPublishCommand(program: Command): Command {
  const cmd = program
    .command('publish')
    .summary('publish sops files where .sops.yaml destination_rules say (S3, GCS, Vault KV)')
    .description(
      'publish a sops file (or, with --recursive, a folder of them) to the S3 bucket, GCS bucket or ' +
        'Vault KV secret named by the first matching destination_rules entry of .sops.yaml: S3 and GCS ' +
        "get the encrypted file (encrypted again for the rule's recreation_rule keys when it has any), " +
        'Vault KV the decrypted values (VAULT_ADDR, VAULT_TOKEN)',
    )
    .argument('[file...]', 'the sops file, or a folder with --recursive (only the first is used, as in sops)')
    .addOption(new Option('-y, --yes', 'pre-approve all changes and run non-interactively'))
    .addOption(
      new Option(
        '--omit-extensions',
        'Omit file extensions in destination path when publishing sops file to configured destinations',
      ),
    )
    .addOption(new Option('--recursive', 'If the source path is a directory, publish all its content recursively'))
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from each file extension)',
      ),
    )
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
  addGlobalOptions(cmd);
  cmd.action((files: string[], _o: unknown, c: Command) => publishCommand(files, commandOptions<PublishCliOptions>(c)));
  return cmd;
}
