/**
 * The indentation of YAML/JSON output: the one asked for, else the `stores` section of the
 * `.sops.yaml` that applies to the file, else the store's default (undefined).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Format } from '../stores/types.js';

/**
 * `path` picks the `.sops.yaml` (looked up from its folder, then from the working directory);
 * `config` names one instead.
 */
export async function outputIndent(path: string | undefined, o: { config?: string }, format: Format, flagIndent: number | undefined): Promise<number | undefined> {
  if (flagIndent !== undefined) return flagIndent;
  if (format !== 'yaml' && format !== 'json') return undefined;
  const cfgMod = await import('../config/config.js');
  const configPath = cfgMod.findConfigFile({ explicit: o.config, fileDir: path ? dirname(resolve(path)) : undefined, cwd: process.cwd() });
  if (!configPath || !existsSync(configPath)) return undefined;
  const cfg = cfgMod.loadConfig(configPath);
  return format === 'json' ? cfg.stores?.json?.indent : cfg.stores?.yaml?.indent;
}
