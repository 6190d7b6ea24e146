/**
 * The indentation of YAML/JSON output: the one asked for, else the `stores` section of the
 * `.sops.yaml` that applies to the file, else the store's default (undefined).
 */
import type { Format } from '../stores/types.js';

/**
 * `path` picks the `.sops.yaml` (looked up from its folder, then from the working directory);
 * `config` names one instead.
 */
export async function outputIndent(
  path: string | undefined,
  o: { config?: string },
  format: Format,
  flagIndent: number | undefined,
): Promise<number | undefined> {
  return (await import('../config/config.js')).indentFor(format, { flag: flagIndent, path, config: o.config });
}
