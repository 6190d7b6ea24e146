/**
 * The flat metadata layout of the stores that hold only `key = text` pairs (dotenv and INI), as sops
 * writes it (stores/flatten.go): the `sops` metadata's nested keys are joined into one key, a map
 * key as `__map_<key>` and a list item as `__list_<index>`, and every value is text:
 *
 *     pgp: [{fp: ABC, enc: "-----BEGIN…\n…"}]   →   pgp__list_0__map_fp          = ABC
 *                                                   pgp__list_0__map_enc         = -----BEGIN…\n…
 *
 * On the way out newlines become the two characters `\n`, `shamir_threshold` and
 * `mac_only_encrypted` become text, null values are left out and the keys are sorted byte-wise; on
 * the way in all of that is undone (`\n` read back as a newline, `shamir_threshold` as a number,
 * `mac_only_encrypted` as a boolean). Dotenv adds its `sops_` prefix itself.
 */
import { FileError } from '../errors.js';
import type { Plain } from '../tree/types.js';
import { formatFloatG } from './scalar-text.js';

export const MAP_SEPARATOR = '__map_';
export const LIST_SEPARATOR = '__list_';

type Obj = { [k: string]: Plain };

/** The largest list index accepted when unflattening (a guard against absurd allocations). */
const MAX_LIST_INDEX = 100_000;

function isObj(v: Plain | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's sort.Strings order: byte-wise over UTF-8. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Flatten nested plain data into `path → leaf` pairs, depth first in key order. Empty maps and
 * lists leave nothing behind; leaves are every non-container value, nulls included.
 */
export function flatten(obj: Obj): Map<string, Plain> {
  const out = new Map<string, Plain>();
  const walk = (path: string, v: Plain): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(`${path}${LIST_SEPARATOR}${i}`, x));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(`${path}${MAP_SEPARATOR}${k}`, x);
    else out.set(path, v);
  };
  for (const [k, v] of Object.entries(obj)) walk(k, v);
  return out;
}

type Token = { key: string } | { index: number };

/** Split a flattened key into its map keys and list indexes (sops's tokenize). */
function tokenize(path: string): Token[] {
  const tokens: Token[] = [];
  let state: 'normal' | 'map' | 'list' = 'normal';
  let start = 0;
  let i = 0;
  const finish = (): void => {
    if (state === 'normal') tokens.push({ key: path.slice(start, i) });
    else if (state === 'map') tokens.push({ key: path.slice(start + MAP_SEPARATOR.length, i) });
    else {
      const digits = path.slice(start + LIST_SEPARATOR.length, i);
      const index = /^\+?\d+$/.test(digits) ? Number(digits) : NaN;
      if (!(index <= MAX_LIST_INDEX)) {
        throw new FileError(`invalid sops metadata: bad list index in key ${JSON.stringify(path)}`);
      }
      tokens.push({ index });
    }
    start = i;
  };
  while (i < path.length) {
    if (path.startsWith(MAP_SEPARATOR, i)) {
      finish();
      state = 'map';
      i += MAP_SEPARATOR.length;
    } else if (path.startsWith(LIST_SEPARATOR, i)) {
      finish();
      state = 'list';
      i += LIST_SEPARATOR.length;
    } else {
      i++;
    }
  }
  finish();
  return tokens;
}

/**
 * Rebuild nested plain data from flattened pairs (sops's Unflatten). A later pair for the same path
 * wins; list items never given are null.
 */
export function unflatten(pairs: Iterable<readonly [string, Plain]>): Obj {
  const root: Obj = {};
  for (const [path, value] of pairs) {
    const tokens = tokenize(path);
    let node: Obj | Plain[] = root;
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t]!;
      const next = tokens[t + 1];
      const get = (): Plain | undefined => ('key' in token ? (node as Obj)[token.key] : (node as Plain[])[token.index]);
      const set = (v: Plain): void => {
        if ('key' in token) {
          if (Array.isArray(node)) throw conflict(path);
          node[token.key] = v;
        } else {
          if (!Array.isArray(node)) throw conflict(path);
          while (node.length <= token.index) node.push(null);
          node[token.index] = v;
        }
      };
      if (next === undefined) {
        set(value);
        break;
      }
      let child = get();
      if (child === undefined || child === null) {
        child = 'index' in next ? [] : {};
        set(child);
      }
      if ('index' in next ? !Array.isArray(child) : !isObj(child)) throw conflict(path);
      node = child as Obj | Plain[];
    }
  }
  return root;
}

function conflict(path: string): FileError {
  return new FileError(`invalid sops metadata: key ${JSON.stringify(path)} conflicts with another metadata key`);
}

/** A flattened leaf as text, as sops prints it into a dotenv or INI file. */
function leafText(key: string, v: Plain): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    // sops turns the metadata into JSON and back, so every number is a float64 by here;
    // shamir_threshold is printed as a whole number, any other number in Go's %G form.
    if (key === 'shamir_threshold') return Number.isInteger(v) ? String(v) : v.toFixed(0);
    const g = formatFloatG(v);
    return /^-?\d+$/.test(g) ? `${g}.0` : g;
  }
  throw new FileError(`invalid sops metadata: ${JSON.stringify(key)} is not a simple value`);
}

/**
 * The metadata (plain data in sops's YAML/JSON layout) as the sorted `key → text` pairs dotenv and
 * INI files hold: flattened, nulls dropped, newlines written as `\n`, sorted byte-wise.
 */
export function flattenMetadata(metadata: Plain): Array<[string, string]> {
  if (!isObj(metadata)) throw new FileError('invalid sops metadata: the sops section must be a map');
  const out: Array<[string, string]> = [];
  for (const [k, v] of flatten(metadata)) {
    if (v == null) continue; // null, or undefined from an optional field left unset
    out.push([k, leafText(k, v).replaceAll('\n', '\\n')]);
  }
  return out.sort(([a], [b]) => compareBytes(a, b));
}

/** Go's strconv.Atoi, for the values it accepts. */
function atoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}

/**
 * Read flattened metadata pairs back into plain data in sops's YAML/JSON layout: `\n` becomes a
 * newline, `shamir_threshold` a number, `mac_only_encrypted` a boolean (true only for `true`).
 */
export function unflattenMetadata(pairs: Iterable<readonly [string, string]>): Plain {
  const decoded: Array<[string, Plain]> = [];
  for (const [k, text] of pairs) {
    let v: Plain = text.replaceAll('\\n', '\n');
    if (k === 'mac_only_encrypted') v = v === 'true';
    else if (k === 'shamir_threshold') {
      const n = atoi(v);
      if (n === undefined)
        throw new FileError(`invalid sops metadata: shamir_threshold ${JSON.stringify(v)} is not an integer`);
      v = n;
    }
    decoded.push([k, v]);
  }
  return unflatten(decoded);
}
