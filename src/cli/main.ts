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
import { addReuseOptions } from './reuse.js';
import { addDecryptOptions, addGlobalOptions, addIoOptions, addKeyOptions, addScopeOptions, subcommandOptions, type CliOptions } from './options.js';

export const VERSION = '0.1.0';

function merged(cmd: Command): CliOptions {
  return subcommandOptions<CliOptions>(cmd);
}

type Register = (program: Command) => void;

/** The other commands, each registered from its own module, imported only when it is needed. */
const COMMANDS: Record<string, () => Promise<Register>> = {
  edit: async () => (await import('./edit.js')).addEditCommand,
  set: async () => (await import('./set.js')).addSetCommands,
  unset: async () => (await import('./set.js')).addSetCommands,
  rotate: async () => (await import('./rotate.js')).addRotateCommand,
  updatekeys: async () => (await import('./updatekeys.js')).addUpdatekeysCommand,
  groups: async () => (await import('./groups.js')).addGroupsCommand,
  filestatus: async () => (await import('./filestatus.js')).addFilestatusCommand,
  'exec-env': async () => (await import('./exec.js')).addExecCommands,
  'exec-file': async () => (await import('./exec.js')).addExecCommands,
  config: async () => (await import('./config.js')).addConfigCommand,
};

/**
 * Build the program. `only` names the one subcommand the arguments ask for (encrypt and decrypt
 * load nothing else); without it every command is registered (legacy mode, --help).
 */
export async function buildProgram(only?: string): Promise<Command> {
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
  const rotate = only ? undefined : await import('./rotate.js');
  rotate?.addRotateKeyOptions(program);
  program.action(async (file: string | undefined, _o: unknown, cmd: Command) => {
    const o = merged(cmd);
    const modes = [o.encrypt, o.decrypt, o.rotate, o.set !== undefined, o.unset !== undefined].filter(Boolean).length;
    if (modes > 1) throw new SopsError('use only one of --encrypt, --decrypt, --rotate, --set and --unset', 1);
    if (o.encrypt) return encryptCommand(file, o);
    if (o.decrypt) return decryptCommand(file, o);
    if (o.rotate) return (await import('./rotate.js')).rotateCommand(file, o, { legacy: true });
    if (o.set !== undefined) return (await import('./set.js')).legacySetCommand(file, o.set, o);
    if (o.unset !== undefined) return (await import('./set.js')).unsetCommand(file, o.unset, o);
    if (!file) {
      program.outputHelp();
      return;
    }
    return (await import('./edit.js')).editCommand(file, o);
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

  const wanted = only ? [COMMANDS[only]] : [...new Set(Object.values(COMMANDS))];
  const registered = new Set<Register>();
  for (const load of wanted) {
    if (!load) continue;
    const register = await load();
    if (registered.has(register)) continue; // set/unset and exec-env/exec-file share a module
    registered.add(register);
    register(program);
  }
  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // `tsops SUBCOMMAND …` registers just that command; anything else (legacy flags, --help) all of them
  const first = argv[0];
  const direct = first === 'encrypt' || first === 'decrypt' || (first !== undefined && Object.hasOwn(COMMANDS, first));
  const program = await buildProgram(direct ? first : undefined);
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
