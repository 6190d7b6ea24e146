/**
 * The `tsops` command line: sops 3.x's commands, flags, environment variables and exit codes.
 *
 *   tsops encrypt [flags] FILE      tsops decrypt [flags] FILE
 *   tsops -e FILE / -d FILE / -r FILE / --set '["k"] "v"' FILE   (sops's legacy mode)
 *   tsops FILE                      (edit)
 */
import { Command, CommanderError } from 'commander';
import { SopsError, messageOf } from '../errors.js';
import { decryptCommand, encryptCommand } from './commands.js';
import { addEditCommand, editCommand } from './edit.js';
import { addReuseOptions } from './reuse.js';
import { addSetCommands, legacySetCommand, unsetCommand } from './set.js';
import { addRotateCommand, addRotateKeyOptions, rotateCommand } from './rotate.js';
import { addUpdatekeysCommand } from './updatekeys.js';
import { addGroupsCommand } from './groups.js';
import { addFilestatusCommand } from './filestatus.js';
import { addExecCommands } from './exec.js';
import { addDecryptOptions, addGlobalOptions, addIoOptions, addKeyOptions, addScopeOptions, subcommandOptions, type CliOptions } from './options.js';

export const VERSION = '0.1.0';

function merged(cmd: Command): CliOptions {
  return subcommandOptions<CliOptions>(cmd);
}

export function buildProgram(): Command {
  const program = new Command('tsops');
  program
    .description(
      'Encrypted secrets files that live in Git, compatible with sops 3.x. Each value of a YAML, JSON, ' +
        'dotenv, INI or binary file is encrypted with a per-file data key, which is wrapped with age, PGP, ' +
        'AWS KMS, GCP KMS, Azure Key Vault or HashiCorp Vault keys. With no command and no mode flag, ' +
        'FILE is opened in your editor (tsops edit FILE).\n\nExamples:\n' +
        '  tsops encrypt --age age1… -i secrets.yaml\n' +
        '  tsops decrypt secrets.yaml\n' +
        '  tsops decrypt --extract \'["db"]["password"]\' secrets.yaml\n' +
        '  tsops set secrets.yaml \'["db"]["password"]\' \'"s3cret"\'\n' +
        '  tsops exec-env secrets.yaml \'./deploy.sh\'',
    )
    .version(`tsops ${VERSION} (sops file format 3.13.2)`, '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(run tsops --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });
  addGlobalOptions(program);

  // sops's legacy mode: a mode flag and a file, no subcommand
  program
    .option('-e, --encrypt', 'encrypt FILE (as `tsops encrypt`)')
    .option('-d, --decrypt', 'decrypt FILE (as `tsops decrypt`)')
    .option('-r, --rotate', 'rotate the data key of FILE (as `tsops rotate`)')
    .option('-s, --show-master-keys', 'edit: show the master keys in the editor')
    .option('--set <path-and-value>', 'set one value: \'["key"]["sub"] "json value"\'')
    .option('--unset <path>', 'remove one value: \'["key"]\'')
    .argument('[file]', 'the file to work on');
  addIoOptions(program);
  addDecryptOptions(program);
  addKeyOptions(program);
  addScopeOptions(program);
  addReuseOptions(program);
  addRotateKeyOptions(program);
  program.action(async (file: string | undefined, _o: unknown, cmd: Command) => {
    const o = merged(cmd);
    const modes = [o.encrypt, o.decrypt, o.rotate, o.set !== undefined, o.unset !== undefined].filter(Boolean).length;
    if (modes > 1) throw new SopsError('use only one of --encrypt, --decrypt, --rotate, --set and --unset', 1);
    if (o.encrypt) return encryptCommand(file, o);
    if (o.decrypt) return decryptCommand(file, o);
    if (o.rotate) return rotateCommand(file, o, { legacy: true });
    if (o.set !== undefined) return legacySetCommand(file, o.set, o);
    if (o.unset !== undefined) return unsetCommand(file, o.unset, o);
    if (!file) {
      program.outputHelp();
      return;
    }
    return editCommand(file, o);
  });

  const enc = program
    .command('encrypt')
    .description('encrypt a file and print it (or write it with --output / --in-place)')
    .argument('[file]', 'the plaintext file (standard input when absent or -)');
  addGlobalOptions(addReuseOptions(addScopeOptions(addKeyOptions(addIoOptions(enc)))));
  enc.action((file: string | undefined, _o: unknown, cmd: Command) => encryptCommand(file, merged(cmd)));

  const dec = program
    .command('decrypt')
    .description('decrypt a file and print it (or write it with --output / --in-place)')
    .argument('[file]', 'the encrypted file (standard input when absent or -)');
  addGlobalOptions(addDecryptOptions(addIoOptions(dec)));
  dec.action((file: string | undefined, _o: unknown, cmd: Command) => decryptCommand(file, merged(cmd)));

  addEditCommand(program);
  addSetCommands(program);
  addRotateCommand(program);
  addUpdatekeysCommand(program);
  addGroupsCommand(program);
  addFilestatusCommand(program);
  addExecCommands(program);

  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version end here with code 0; usage errors were already printed
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof SopsError) {
      if (e.message) process.stderr.write(`${e.message}\n`); // (exec-*: the command's own status, no message)
      if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.code;
    }
    process.stderr.write(`tsops: unexpected error: ${messageOf(e)}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
