/**
 * The format-neutral tree every store parses into and emits from.
 *
 * It mirrors sops's own tree: an ordered map of entries (and comments), lists, and scalar leaves.
 * A scalar carries its sops type and its plaintext as sops would encrypt it, so a value keeps both
 * its type and its text through a round trip. After encryption a leaf becomes a `str` scalar holding
 * `ENC[AES256_GCM,...]`, and a comment's text becomes its encrypted form.
 */

/** sops's value types (`type:` in `ENC[...]`). `bytes` and `int64` only appear when reading. */
export type ScalarType = 'str' | 'int' | 'int64' | 'float' | 'bool' | 'time' | 'bytes';

export interface Scalar {
  kind: 'scalar';
  type: ScalarType;
  /**
   * The value's text: for `str` the string itself; for `int` a decimal integer (`-12`); for `float` a
   * decimal number the Go parser reads (`1.5`, `2.0`, `1e21` is written out as `1000000000000000000000`);
   * for `bool` `true` or `false`; for `time` an RFC 3339 timestamp.
   */
  text: string;
  /**
   * Store-specific presentation hint for plaintext output (e.g. YAML block/quote style). Optional;
   * never part of what is encrypted or MACed.
   */
  style?: string;
  /**
   * The raw plaintext bytes, when they are not (or need not be) UTF-8 text: the binary store's
   * whole file. When present, this is what is encrypted and MACed instead of `text`.
   */
  raw?: Buffer;
}

export interface Null {
  kind: 'null';
}

export interface Comment {
  kind: 'comment';
  /** The text after `#` (YAML keeps the leading space, e.g. ` a comment`), or its encrypted form. */
  text: string;
  /** YAML: the comment stood at the end of the previous entry's line (`key: value # c`), where it is printed again. */
  inline?: boolean;
}

export interface MapEntry {
  kind: 'entry';
  key: string;
  value: Node;
}

export interface MapNode {
  kind: 'map';
  items: Array<MapEntry | Comment>;
}

export interface ListNode {
  kind: 'list';
  items: Array<Node | Comment>;
}

export type Node = Scalar | Null | MapNode | ListNode;

/** A whole file: one map per document (only YAML has more than one). */
export interface Tree {
  docs: MapNode[];
}

export const str = (text: string): Scalar => ({ kind: 'scalar', type: 'str', text });
export const NULL: Null = { kind: 'null' };
export const map = (items: Array<MapEntry | Comment> = []): MapNode => ({ kind: 'map', items });
export const entry = (key: string, value: Node): MapEntry => ({ kind: 'entry', key, value });

/** The entry for `key` in a map, if any. */
export function getEntry(m: MapNode, key: string): MapEntry | undefined {
  for (const it of m.items) if (it.kind === 'entry' && it.key === key) return it;
  return undefined;
}

/** Plain JavaScript data (the shape of `sops` metadata, `--set` values, JSON output). */
export type Plain = null | string | number | bigint | boolean | Plain[] | { [k: string]: Plain };

/** Convert a tree node to plain data (comments dropped; ints beyond 2^53 become BigInt). */
export function toPlain(n: Node): Plain {
  switch (n.kind) {
    case 'null':
      return null;
    case 'scalar':
      switch (n.type) {
        case 'int':
        case 'int64': {
          const v = Number(n.text);
          return Number.isSafeInteger(v) ? v : BigInt(n.text);
        }
        case 'float':
          return floatValue(n.text);
        case 'bool':
          return n.text === 'true';
        default:
          return n.text;
      }
    case 'list':
      return n.items.filter((i): i is Node => i.kind !== 'comment').map(toPlain);
    case 'map': {
      const o: { [k: string]: Plain } = {};
      for (const it of n.items) if (it.kind === 'entry') o[it.key] = toPlain(it.value);
      return o;
    }
  }
}

/**
 * Convert plain data to a tree node. `sortKeys` sorts map keys (sops writes its metadata sorted).
 */
export function fromPlain(v: Plain | undefined, sortKeys = false): Node {
  if (v === null || v === undefined) return NULL;
  if (typeof v === 'string') return str(v);
  if (typeof v === 'boolean') return { kind: 'scalar', type: 'bool', text: v ? 'true' : 'false' };
  if (typeof v === 'bigint') return { kind: 'scalar', type: 'int', text: v.toString() };
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Number.isSafeInteger(v)) return { kind: 'scalar', type: 'int', text: String(v) };
    return { kind: 'scalar', type: 'float', text: formatFloat(v) };
  }
  if (Array.isArray(v)) return { kind: 'list', items: v.map((x) => fromPlain(x, sortKeys)) };
  const keys = Object.keys(v);
  if (sortKeys) keys.sort();
  return map(keys.map((k) => entry(k, fromPlain(v[k], sortKeys))));
}

/**
 * The number a float leaf's text stands for: decimal text as JavaScript reads it, and the special
 * spellings of Go (`+Inf`, `-Inf`, `NaN`) and YAML (`.inf`, `-.inf`, `.nan`, any case).
 */
export function floatValue(text: string): number {
  switch (text.toLowerCase()) {
    case '+inf':
    case 'inf':
    case '+infinity':
    case 'infinity':
    case '.inf':
    case '+.inf':
      return Infinity;
    case '-inf':
    case '-infinity':
    case '-.inf':
      return -Infinity;
    case 'nan':
    case '.nan':
      return NaN;
  }
  return Number(text.includes('_') ? text.replace(/_/g, '') : text);
}

/**
 * Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back as `f`, never
 * with an exponent. This is the text sops encrypts and MACs for a float.
 */
export function formatFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (f === Infinity) return '+Inf';
  if (f === -Infinity) return '-Inf';
  const s = String(f); // shortest round-trip digits, possibly with an exponent
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return Object.is(f, -0) ? '-0' : s;
  const [, sign = '', int = '', frac = '', expS] = m;
  const exp = Number(expS);
  const digits = int + frac;
  const point = int.length + exp; // position of the decimal point within digits
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
