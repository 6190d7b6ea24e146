/**
 * `tsops check [PATH…]` (beyond sops): the CI / pre-commit gate of src/check/check.ts. Needs no
 * key. Prints one line per problem on standard output (`file: problem (fix: …)`), or with
 * `--format json` one JSON document; a summary on standard error. Exit status: 0 when nothing is
 * wrong, 1 when a problem was found; a usage error (an unknown flag, a bad `--max-age` or
 * `--format`) is 1 with its message on standard error, as sops's usage errors.
 */
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { checkPaths, formatProblem, parseDuration } from '../check/check.js';
import { commandOptions, planIo } from './context.js';
import { addGlobalOptions } from './options.js';

interface CheckCliOptions {
  verbose?: boolean;
  config?: string;
  maxAge?: string;
  format?: string;
  inputType?: string;
  git?: boolean;
}

export async function checkCommand(paths: string[], o: CheckCliOptions): Promise<void> {
  const format = (o.format ?? 'text').toLowerCase();
  if (format !== 'text' && format !== 'json') {
    throw new SopsError(`invalid --format ${JSON.stringify(o.format)}: use text or json`, ExitCode.ErrorGeneric);
  }
  const maxAge = o.maxAge !== undefined ? parseDuration(o.maxAge) : undefined;
  const inputType = o.inputType ? planIo('x', { inputType: o.inputType }).inFormat : undefined;
  const result = await checkPaths(paths, { config: o.config, maxAge, inputType, git: o.git !== false });
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ checked: result.checked, problems: result.problems }, null, 2)}\n`);
  } else {
    for (const p of result.problems) process.stdout.write(`${formatProblem(p)}\n`);
    const n = result.problems.length;
    process.stderr.write(
      `tsops check: ${result.checked} file${result.checked === 1 ? '' : 's'} checked, ${n === 0 ? 'no problems' : `${n} problem${n === 1 ? '' : 's'}`}\n`,
    );
  }
  if (result.problems.length) throw new SopsError('', ExitCode.ErrorGeneric); // (already printed)
}

export function addCheckCommand(program: Command): Command {
  const cmd = program
    .command('check')
    .description(
      'check, without any key, that every file a creation rule names is encrypted, its metadata well formed, ' +
        'its keys those of the rule, no value left in plaintext and (with --max-age) its data key young enough; ' +
        'one line per problem with its fix; exit 0 when clean, 1 when a problem was found (beyond sops)',
    )
    .argument(
      '[paths...]',
      'files or folders (default: the working directory; in a Git work tree, ignored files are skipped)',
    )
    .addOption(
      new Option('--max-age <duration>', 'report data keys older than this: 90d, 2160h, 1y, 1w3d (s m h d w y)'),
    )
    .addOption(new Option('--format <format>', 'text (one line per problem) or json').default('text'))
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from each file extension)',
      ),
    )
    .addOption(
      new Option('--no-git', 'walk folders on disk instead of asking Git (ignored files are then checked too)'),
    );
  addGlobalOptions(cmd);
  cmd.action((paths: string[], _o: unknown, c: Command) => checkCommand(paths, commandOptions<CheckCliOptions>(c)));
  return cmd;
}
