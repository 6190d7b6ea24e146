/**
 * Finding the `.sops.yaml` configuration file (reading it: ./config.ts). Kept apart so that a
 * command that only needs to know whether there is one (decrypt's output indentation) loads
 * neither the YAML parser nor the regular expression engine.
 */
import { statSync } from 'node:fs';
import * as nodePath from 'node:path';

/** The name sops looks for (`.sops.yml` is not read, only warned about). */
export const CONFIG_FILE_NAME = '.sops.yaml';
const ALTERNATE_CONFIG_NAME = '.sops.yml';

/**
 * Find the config file: the explicit path if given (`--config`, or the `SOPS_CONFIG` environment
 * variable — the caller chooses), resolved against `cwd` and not checked here; otherwise the first
 * `.sops.yaml` found walking up from `fileDir`, then walking up from `cwd`. Returns undefined when
 * there is none.
 *
 * sops itself walks up from the working directory only (its issue 242 asks for the file's folder);
 * searching the file's folder first finds the same file whenever the file lies under the working
 * directory's config, and the nearest one otherwise. Like sops, `.sops.yml` is never used: `warn`
 * is told about one seen on the way.
 */
export function findConfigFile(opts: {
  explicit?: string;
  fileDir?: string;
  cwd: string;
  warn?: (msg: string) => void;
}): string | undefined {
  if (opts.explicit) return nodePath.resolve(opts.cwd, opts.explicit);
  const starts = [
    opts.fileDir === undefined ? undefined : nodePath.resolve(opts.cwd, opts.fileDir),
    nodePath.resolve(opts.cwd),
  ];
  const seen = new Set<string>();
  let alternate: string | undefined;
  for (const start of starts) {
    if (start === undefined) continue;
    for (let dir = start; ; dir = nodePath.dirname(dir)) {
      if (seen.has(dir)) break;
      seen.add(dir);
      const candidate = nodePath.join(dir, CONFIG_FILE_NAME);
      if (isFile(candidate)) {
        if (alternate) {
          opts.warn?.(
            `ignoring ${JSON.stringify(alternate)} when searching for config file; the config file must be called ${JSON.stringify(CONFIG_FILE_NAME)}; using ${JSON.stringify(candidate)} instead`,
          );
        }
        return candidate;
      }
      const alt = nodePath.join(dir, ALTERNATE_CONFIG_NAME);
      if (!alternate && isFile(alt)) alternate = alt;
      if (nodePath.dirname(dir) === dir) break;
    }
  }
  if (alternate) {
    opts.warn?.(
      `ignoring ${JSON.stringify(alternate)} when searching for config file; the config file must be called ${JSON.stringify(CONFIG_FILE_NAME)}`,
    );
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
