/**
 * `tsops config check [--config F]`: read a `.sops.yaml` as strictly as `TSOPS_STRICT_CONFIG=1`
 * does, and print every problem of every rule, one line each (`error: …` for what fails a command
 * using the rule, `warning: …` for what sops ignores). Exit code 0 when there is none, else 5
 * (sops's config error); 61 when no config file is found.
 */
import type { Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { addGlobalOptions } from './options.js';

export async function configCheckCommand(o: { config?: string }): Promise<void> {
  const cfgMod = await import('../config/config.js');
  const path = cfgMod.findConfigFile({ explicit: o.config, cwd: process.cwd(), warn: cfgMod.warnOnStderr });
  if (!path) {
    throw new SopsError(
      `config file not found: no ${cfgMod.CONFIG_FILE_NAME} in the working directory or above it (give one with --config)`,
      ExitCode.ConfigFileNotFound,
    );
  }
  const problems = cfgMod.checkConfig(path);
  for (const p of problems) process.stdout.write(`${p.severity}: ${p.message}\n`);
  if (problems.length > 0) {
    throw new SopsError(
      `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'} (TSOPS_STRICT_CONFIG=1 refuses this file)`,
      ExitCode.ErrorReadingConfig,
    );
  }
  process.stdout.write(`${path}: no problems\n`);
}

export function addConfigCommand(program: Command): Command {
  const cmd = program.command('config').description('work with the .sops.yaml configuration (beyond sops)');
  const check = cmd
    .command('check')
    .description(
      'check a .sops.yaml strictly: print every problem of every rule (unknown keys sops ignores, invalid settings, ' +
        'key groups that cannot encrypt) and exit 5 if there is one; TSOPS_STRICT_CONFIG=1 applies the same check to every command',
    );
  addGlobalOptions(check);
  check.action((_o: unknown, c: Command) => {
    const g = c.optsWithGlobals<{ config?: string }>();
    return configCheckCommand({ config: c.opts<{ config?: string }>().config ?? g.config });
  });
  return cmd;
}
