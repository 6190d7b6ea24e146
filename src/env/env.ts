/**
 * The Node env loader (beyond sops): decrypt a sops-encrypted dotenv file (or a flat YAML, JSON or
 * INI-less file) and put its values into `process.env`, with dotenv's conventions — a variable that
 * is already set keeps its value unless `override` — so an app starts with its secrets in its
 * environment and never on disk:
 *
 * ```ts
 * import { loadEnv } from 'tsops';
 * await loadEnv();                                  // TSOPS_ENV_FILE, else .env.enc / .env.sops / .enc.env
 * await loadEnv({ path: 'config/prod.env', override: true });
 * ```
 * or, before any of the app's code runs: `node --import tsops/register app.js` (src/env/register.ts).
 *
 * Which file: `path`, else `TSOPS_ENV_FILE`, else the first of `.env.enc`, `.env.sops`, `.enc.env`
 * in the working directory. A file named by `path` or `TSOPS_ENV_FILE` must exist; when none is
 * named and no default file exists, nothing happens (an empty result). The format is `format`, else
 * the file's extension (`.yaml`/`.yml`, `.json`, `.env`), else dotenv for a name holding `env` as a
 * part (`.env.enc`). The values are the first document's top-level values, as `exec-env` gives them
 * (src/ops/exec.ts): a map or list value is an error naming the key.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { NoFileError, ReadError, messageOf } from '../errors.js';
import { openEncrypted } from '../file/file.js';
import type { KeyType } from '../keys/types.js';
import { envFromTree } from '../ops/exec.js';
import { formatFromPath } from '../stores/index.js';
import type { Format } from '../stores/types.js';

/** The files looked for in the working directory when none is named, in this order. */
export const DEFAULT_ENV_FILES: readonly string[] = ['.env.enc', '.env.sops', '.enc.env'];

export interface LoadEnvOptions {
  /** The encrypted file (default: `TSOPS_ENV_FILE`, else the first of DEFAULT_ENV_FILES that exists). */
  path?: string;
  /** Its format (default: from the name; see the module comment). */
  format?: Format;
  /** Replace variables that are already set (default: `TSOPS_ENV_OVERRIDE` is 1/true/yes; else false, as dotenv). */
  override?: boolean;
  /** Where the variables go (default: process.env). */
  target?: NodeJS.ProcessEnv;
  /** Environment for key sources (identities, credentials) and TSOPS_ENV_* (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The folder default names and relative paths are resolved from (default: the working directory). */
  cwd?: string;
  /** Key types to try first when recovering the data key (default: age, pgp). */
  decryptionOrder?: KeyType[];
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
}

function truthy(v: string | undefined): boolean {
  return ['1', 'true', 'yes', 'on'].includes((v ?? '').trim().toLowerCase());
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The format of an env file by its name. */
function envFormat(path: string): Format {
  const f = formatFromPath(path);
  if (f !== 'binary') return f;
  return /(^|[._-])env([._-]|$)/i.test(basename(path)) ? 'dotenv' : f;
}

/**
 * Decrypt the env file and set its values in `target` (see the module comment); returns every value
 * the file holds (also those not set because the variable already was), `{}` when there is no file.
 */
export async function loadEnv(o: LoadEnvOptions = {}): Promise<Record<string, string>> {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const named = o.path ?? (env['TSOPS_ENV_FILE'] || undefined);
  let file: string | undefined;
  if (named !== undefined) {
    file = resolve(cwd, named);
    if (!isFile(file)) throw new NoFileError(`tsops env: the env file ${JSON.stringify(file)} does not exist`);
  } else {
    file = DEFAULT_ENV_FILES.map((n) => resolve(cwd, n)).find(isFile);
    if (!file) {
      o.log?.(`no env file (${DEFAULT_ENV_FILES.join(', ')}) in ${cwd}: nothing loaded`);
      return {};
    }
  }
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    throw new ReadError(`tsops env: cannot read ${file}: ${messageOf(e)}`, { cause: e });
  }
  const opened = await openEncrypted(data, {
    format: o.format ?? envFormat(file),
    filename: file,
    env,
    log: o.log,
    decryptionOrder: o.decryptionOrder,
    trackIvs: false,
  });
  const values = envFromTree(opened.tree);
  const target = o.target ?? process.env;
  const override = o.override ?? truthy(env['TSOPS_ENV_OVERRIDE']);
  let set = 0;
  for (const [k, v] of Object.entries(values)) {
    if (!override && Object.hasOwn(target, k)) continue;
    target[k] = v;
    set++;
  }
  o.log?.(`${file}: ${set} of ${Object.keys(values).length} variables set`);
  return values;
}
