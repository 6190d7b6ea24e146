/**
 * Choosing a store: by name (`--input-type` / `--output-type`) or by file name as sops does.
 * Stores are loaded on first use, so a run only pays for the formats it touches.
 */
import type { Format, Store, StoreOptions } from './types.js';

export type { Format, Store, StoreOptions } from './types.js';

/** The store for a format. */
export async function storeFor(format: Format, opts?: StoreOptions): Promise<Store> {
  switch (format) {
    case 'yaml':
      return (await import('./yaml.js')).createYamlStore(opts);
    case 'json':
      return (await import('./json.js')).createJsonStore(opts);
    case 'dotenv':
      return (await import('./dotenv.js')).createDotenvStore(opts);
    case 'ini':
      return (await import('./ini.js')).createIniStore(opts);
    case 'binary':
      return (await import('./binary.js')).createBinaryStore(opts);
    default: {
      const never: never = format;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}

/**
 * sops's rule for a file's format: by its name's ending (`.yaml`/`.yml`, `.json`, `.env`,
 * `.ini`, case-sensitive), anything else binary.
 */
export function formatFromPath(path: string): Format {
  if (path.endsWith('.yaml') || path.endsWith('.yml')) return 'yaml';
  if (path.endsWith('.json')) return 'json';
  if (path.endsWith('.env')) return 'dotenv';
  if (path.endsWith('.ini')) return 'ini';
  return 'binary';
}
