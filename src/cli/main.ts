/**
 * The `tsops` command line: sops 3.x's commands, flags, environment variables and exit codes.
 *
 *   tsops encrypt [flags] FILE      tsops decrypt [flags] FILE
 *   tsops -e FILE / -d FILE / -r FILE / --set '["k"] "v"' FILE   (sops's legacy mode)
 *   tsops FILE                      (edit)
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConflictingParametersError, ExitCode, NoFileError, SopsError, messageOf } from '../errors.js';
import { SOPS_FORMAT_VERSION } from '../metadata/metadata.js';
import { decryptCommand, decryptFilesCommand, encryptCommand, encryptFilesCommand } from './commands.js';
import { keyServicesFrom, parseGoBool, setDefaultKeyServices } from '../keyservice/index.js';
import { canDeepen, fileMayNestDeeply, runDeep } from '../util/deep.js';
import { addReuseOptions } from './reuse.js';
import {
  addDecryptOptions,
  AGE_IDENTITIES_HELP,
  addGlobalOptions,
  addIoOptions,
  addKeyOptions,
  addManyOptions,
  addScopeOptions,
  subcommandOptions,
  type CliOptions,
} from './options.js';

export const VERSION = '0.1.0';

/**
 * `--version`'s first line: sops's shape with the sops version tsops is compatible with, so what
 * parses sops's (`sops --version | awk '{print $2}'`, Ansible's `^sops X.Y.Z`) reads it; tsops's
 * own version follows in brackets.
 */
export const VERSION_LINE = `sops ${SOPS_FORMAT_VERSION} (tsops ${VERSION})`;

/** The words that are commands rather than file names (as in sops, they cannot be edited as `tsops WORD`). */
const BUILTIN = new Set(['help', 'h', 'completion']);

function merged(cmd: Command): CliOptions {
  return subcommandOptions(cmd);
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
  check: async () => (await import('./check.js')).addCheckCommand,
  git: async () => (await import('./git.js')).addGitCommand,
  publish: async () => (await import('./publish.js')).addPublishCommand,
  keyservice: async () => (await import('./keyservice.js')).addKeyserviceCommand,
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
        "  tsops exec-env secrets.yaml './deploy.sh'",
    )
    .addOption(new Option('-v, --version', `print the version (${VERSION_LINE})`))
    .helpCommand('help [command]', 'show the help of tsops or of a command (also: h)')
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
    // what sops checks first in its legacy mode, before any file is read
    if (!file) throw new NoFileError('Error: no file specified');
    if (o.inPlace && o.output)
      throw new ConflictingParametersError('Error: cannot operate on both --output and --in-place');
    if (o.encrypt) return encryptCommand(file, o, true);
    if (o.decrypt) return decryptCommand(file, o, true);
    if (o.rotate) return (await import('./rotate.js')).rotateCommand(file, o, { legacy: true });
    if (o.set !== undefined) return (await import('./set.js')).legacySetCommand(file, o.set, o);
    if (o.unset !== undefined) return (await import('./set.js')).unsetCommand(file, o.unset, o);
    return (await import('./edit.js')).editCommand(file, o);
  });

  const enc = program
    .command('encrypt')
    .description(
      'encrypt a file and print it (or write it with --output / --in-place); with -i, several files or folders (--recursive)',
    )
    .argument('[files...]', 'the plaintext file (standard input when absent or -); with -i, several files or folders');
  addManyOptions(addGlobalOptions(addReuseOptions(addScopeOptions(addKeyOptions(addIoOptions(enc))))));
  enc.action((files: string[], _o: unknown, cmd: Command) => encryptFilesCommand(files, merged(cmd)));

  const dec = program
    .command('decrypt')
    .description(
      'decrypt a file and print it (or write it with --output / --in-place); with -i, several files or folders (--recursive)',
    )
    .argument('[files...]', 'the encrypted file (standard input when absent or -); with -i, several files or folders');
  addManyOptions(addGlobalOptions(addDecryptOptions(addIoOptions(dec)))).addHelpText('after', AGE_IDENTITIES_HELP);
  dec.action((files: string[], _o: unknown, cmd: Command) => decryptFilesCommand(files, merged(cmd)));

  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish (e.g. source <(tsops completion bash))')
    .argument('<shell>', 'bash, zsh or fish');

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

/** The command a `help` word asks about (`help groups add` too), or undefined. */
function findCommand(program: Command, names: string[]): Command | undefined {
  let cmd: Command | undefined = program;
  for (const name of names) {
    cmd = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (!cmd) return undefined;
  }
  return cmd;
}

/** The name the completion scripts complete: `sops` when tsops is installed under that name. */
function programName(): string {
  return basename(process.argv[1] ?? '') === 'sops' ? 'sops' : 'tsops';
}

/** `--version` anywhere before a command word (sops: `sops --version --disable-version-check`). */
function wantsVersion(argv: string[]): boolean {
  const first = argv[0];
  if (
    first !== undefined &&
    (first === 'encrypt' || first === 'decrypt' || Object.hasOwn(COMMANDS, first) || BUILTIN.has(first))
  )
    return false;
  return argv.includes('--version') || argv.includes('-v');
}

let pipeHandled = false;
/**
 * A closed output pipe (`tsops decrypt f | head -1`) ends the process quietly, with the status a
 * shell reports for a Unix tool stopped by SIGPIPE (sops, a Go program, dies of that signal).
 */
function quietOnClosedPipe(): void {
  if (pipeHandled) return;
  pipeHandled = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(128 + 13);
    process.stderr.write(`tsops: writing the output failed: ${e.message}\n`);
    process.exit(ExitCode.CouldNotWriteOutputFile);
  });
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  if (wantsVersion(argv)) {
    process.stdout.write(`${VERSION_LINE}\n`);
    if (argv.includes('--check-for-updates'))
      process.stderr.write('[info] tsops never checks for updates over the network\n');
    return 0;
  }
  if (argv[0] === 'help' || argv[0] === 'h') {
    const program = await buildProgram();
    const topic = argv.slice(1).filter((a) => !a.startsWith('-'));
    const cmd = findCommand(program, topic);
    if (!cmd) {
      process.stderr.write(`No help topic for '${topic.join(' ')}'\n`);
      return 3;
    }
    process.stdout.write(cmd.helpInformation());
    return 0;
  }
  if (argv[0] === 'completion') {
    const program = await buildProgram();
    const shell = argv[1];
    const script = shell
      ? (await import('./completion.js')).completionScript(program, shell, programName())
      : undefined;
    if (script === undefined) {
      process.stderr.write(`Error: unsupported shell ${JSON.stringify(shell ?? '')}: use bash, zsh or fish\n`);
      return ExitCode.ErrorGeneric;
    }
    process.stdout.write(script);
    return 0;
  }
  // a file nested more deeply than the default stack holds is handled on a large-stack thread
  if (argv.some(isDeepFile) && canDeepen()) return runDeep<number>(import.meta.url, 'main', [argv]);
  // `tsops SUBCOMMAND …` registers just that command; anything else (legacy flags, --help) all of them
  const first = argv[0];
  const direct = first === 'encrypt' || first === 'decrypt' || (first !== undefined && Object.hasOwn(COMMANDS, first));
  const program = await buildProgram(direct ? first : undefined);
  program.exitOverride();
  // the key services of whichever command runs: its flags over SOPS_KEYSERVICE / SOPS_ENABLE_LOCAL_KEYSERVICE
  program.hook('preAction', (_root, action) => {
    const o = merged(action);
    setDefaultKeyServices(
      keyServicesFrom(process.env, { keyservice: o.keyservice, enableLocalKeyservice: o.enableLocalKeyservice }),
    );
  });
  // one line per failure, also with --verbose: no stack traces (they may carry a library's message
  // quoting file content)
  try {
    await program.parseAsync(localKeyserviceFlag(argv), { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help ends here with code 0; usage errors were already printed
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof SopsError) {
      if (e.message) process.stderr.write(`${e.message}\n`); // (exec-*: the command's own status, no message)
      return e.code;
    }
    process.stderr.write(`tsops: unexpected error: ${messageOf(e)}\n`);
    return 1;
  }
}

/** Whether `arg` names a regular file whose content may nest deeply (see src/util/deep.ts). */
function isDeepFile(arg: string): boolean {
  try {
    return statSync(arg).isFile() && fileMayNestDeeply(arg);
  } catch {
    return false;
  }
}

/**
 * `--enable-local-keyservice=BOOL` as sops (a Go boolean flag) reads it: BOOL is true/false, 1/0,
 * t/f…; `=false` becomes the (hidden) `--no-enable-local-keyservice`. Arguments after `--` are left alone.
 */
function localKeyserviceFlag(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => {
    if ((end >= 0 && i > end) || !a.startsWith('--enable-local-keyservice=')) return a;
    const v = parseGoBool(a.slice('--enable-local-keyservice='.length));
    if (v === undefined) {
      throw new SopsError(
        `invalid value ${JSON.stringify(a.slice('--enable-local-keyservice='.length))} for --enable-local-keyservice: use true or false`,
        ExitCode.ErrorGeneric,
      );
    }
    return v ? '--enable-local-keyservice' : '--no-enable-local-keyservice';
  });
}
