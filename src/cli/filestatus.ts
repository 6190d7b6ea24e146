/**
 * `tsops filestatus FILE`: print `{"encrypted":true}` when FILE is a sops-encrypted file, else
 * `{"encrypted":false}` — as sops: a file counts as encrypted when it has sops metadata with a
 * `version` and a `mac`. Nothing is decrypted and no key is needed.
 *
 * A file that cannot be read, or cannot be parsed in its format, is an error (exit code 1, as
 * sops), not "unencrypted".
 */
import { Option, type Command } from 'commander';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { isEncrypted } from '../ops/filestatus.js';
import { readInput } from '../util/fs.js';
import { commandOptions, planIo } from './context.js';

export async function filestatusCommand(file: string | undefined, o: { inputType?: string }): Promise<void> {
  if (!file) throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  const io = planIo(file, { inputType: o.inputType });
  let encrypted: boolean;
  try {
    encrypted = await isEncrypted(readInput(io.file), io.inFormat);
  } catch (e) {
    throw new SopsError(`cannot check file status: ${messageOf(e)}`, ExitCode.ErrorGeneric);
  }
  process.stdout.write(`${JSON.stringify({ encrypted })}\n`);
}

export function addFilestatusCommand(program: Command): Command {
  const cmd = program
    .command('filestatus')
    .description('check the status of the file, returning encryption status')
    .argument('[file]', 'the file to check')
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from the file extension)',
      ),
    );
  cmd.action((file: string | undefined, _o: unknown, c: Command) =>
    filestatusCommand(file, commandOptions<{ inputType?: string; verbose?: boolean }>(c)),
  );
  return cmd;
}
