/**
 * How go-yaml v3 (the YAML library sops uses) gives types to untagged plain scalars, and which
 * strings it must quote when writing them: the rules of its `resolve` function, with the type
 * mapping of the tsops tree (timestamps become `time` values, as go-yaml v3 decodes them into
 * `time.Time` for sops; integers beyond int64 become floats).
 */
import type { Null, Scalar } from '../../tree/types.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** go-yaml's float syntax for digits-first scalars (after underscores are removed). */
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** What Go's ParseFloat accepts for a scalar starting with `.` (no underscores, no hex). */
const DOT_FLOAT = /^\.[0-9]+([eE][-+]?[0-9]+)?$/;

const TRUE_WORDS = new Set(['true', 'True', 'TRUE']);
const FALSE_WORDS = new Set(['false', 'False', 'FALSE']);
const NULL_WORDS = new Set(['', '~', 'null', 'Null', 'NULL']);
const NAN_WORDS = new Set(['.nan', '.NaN', '.NAN']);
const INF_WORDS = new Set(['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']);
const NEG_INF_WORDS = new Set(['-.inf', '-.Inf', '-.INF']);

const OLD_BOOLS = new Set([
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'on',
  'On',
  'ON',
  'n',
  'N',
  'no',
  'No',
  'NO',
  'off',
  'Off',
  'OFF',
]);
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

/** The resolver's first-character classes: sign, digit, word (y/n/t/f/o/~), dot. */
function hint(s: string): 'S' | 'D' | 'M' | '.' | '' {
  if (s === '') return 'M';
  const c = s.charCodeAt(0);
  if (c >= 48 && c <= 57) return 'D';
  switch (c) {
    case 43: // +
    case 45: // -
      return 'S';
    case 46: // .
      return '.';
    case 121:
    case 89:
    case 110:
    case 78:
    case 116:
    case 84:
    case 102:
    case 70:
    case 111:
    case 79:
    case 126:
      return 'M';
    default:
      return '';
  }
}

/**
 * Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` for an underscore-free string: optional sign,
 * then `0x`/`0o`/`0b` or a leading `0` (octal), then digits. Returns the value, or null.
 */
export function goParseInt(s: string, allowSign: boolean): bigint | null {
  let i = 0;
  let neg = false;
  if (s.length === 0) return null;
  if (allowSign && (s[0] === '+' || s[0] === '-')) {
    neg = s[0] === '-';
    i = 1;
  }
  let base = 10;
  if (s[i] === '0' && s.length - i > 1) {
    const p = s[i + 1]!.toLowerCase();
    if (s.length - i >= 3 && (p === 'x' || p === 'o' || p === 'b')) {
      base = p === 'x' ? 16 : p === 'o' ? 8 : 2;
      i += 2;
    } else {
      base = 8;
      i += 1;
    }
  }
  const digits = s.slice(i);
  if (digits.length === 0) return s[i - 1] === '0' && base === 8 ? 0n : null;
  const re = base === 16 ? /^[0-9a-fA-F]+$/ : base === 10 ? /^[0-9]+$/ : base === 8 ? /^[0-7]+$/ : /^[01]+$/;
  if (!re.test(digits)) return null;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : '';
  const v = BigInt(prefix + digits);
  if (v > UINT64_MAX) return null;
  return neg ? -v : v;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIMESTAMP =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:([Tt])|( ))(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,9}))?(Z|[+-]\d\d:\d\d)?)?$/;

/** go-yaml's timestamp check (the four layouts it tries with Go's time.Parse). */
export function isTimestamp(s: string): boolean {
  const m = TIMESTAMP.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = month === 2 && leap ? 29 : DAYS[month - 1]!;
  if (day < 1 || day > dim) return false;
  if (m[6] === undefined) return true; // date only
  const zone = m[10];
  if (m[5] !== undefined && zone !== undefined) return false; // space form has no zone
  if (m[4] !== undefined && zone === undefined) return false; // T form needs a zone
  if (Number(m[6]) > 23 || Number(m[7]) > 59 || Number(m[8]) > 59) return false;
  if (zone && zone !== 'Z' && (Number(zone.slice(1, 3)) > 24 || Number(zone.slice(4, 6)) > 60)) return false;
  return true;
}

const pad = (n: number | string, w = 2) => String(n).padStart(w, '0');

/**
 * A go-yaml timestamp as sops (>= 3.10) encrypts it: Go's `time.MarshalText` (RFC 3339 with
 * nanoseconds) of the parsed time: the fraction without trailing zeros, `Z` for UTC and for no
 * zone, a date alone at midnight UTC.
 */
export function timestampRFC3339(s: string): string {
  const m = TIMESTAMP.exec(s)!;
  const date = `${m[1]}-${pad(m[2]!)}-${pad(m[3]!)}`;
  if (m[6] === undefined) return `${date}T00:00:00Z`;
  const frac = (m[9] ?? '').replace(/0+$/, '');
  const time = `${pad(m[6])}:${pad(m[7]!)}:${pad(m[8]!)}${frac ? `.${frac}` : ''}`;
  const z = m[10];
  const zone = !z || z === 'Z' || /^[+-]00:00$/.test(z) ? 'Z' : z;
  return `${date}T${time}${zone}`;
}

/** A finite float Go's ParseFloat reads from go-yaml's float syntax; null when out of range. */
function finite(s: string): number | null {
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/**
 * The tree value of an untagged plain scalar, typed as sops sees it through go-yaml v3.
 * `text` is the scalar's value (already folded by the parser).
 */
export function resolvePlain(text: string): Scalar | Null {
  const h = hint(text);
  if (h === '') return { kind: 'scalar', type: 'str', text };
  if (NULL_WORDS.has(text)) return { kind: 'null' };
  if (TRUE_WORDS.has(text)) return { kind: 'scalar', type: 'bool', text: 'true' };
  if (FALSE_WORDS.has(text)) return { kind: 'scalar', type: 'bool', text: 'false' };
  if (NAN_WORDS.has(text)) return { kind: 'scalar', type: 'float', text: 'NaN' };
  if (INF_WORDS.has(text)) return { kind: 'scalar', type: 'float', text: '+Inf' };
  if (NEG_INF_WORDS.has(text)) return { kind: 'scalar', type: 'float', text: '-Inf' };
  if (h === '.') {
    if (DOT_FLOAT.test(text) && finite(text) !== null) return { kind: 'scalar', type: 'float', text };
    return { kind: 'scalar', type: 'str', text };
  }
  if (h === 'M') return { kind: 'scalar', type: 'str', text };
  // digits or sign: timestamps (sops's `time` values), then integers, then floats
  if (h === 'D' && isTimestamp(text)) return { kind: 'scalar', type: 'time', text: timestampRFC3339(text) };
  const plain = text.includes('_') ? text.replace(/_/g, '') : text;
  const i = goParseInt(plain, true);
  if (i !== null) {
    if (i >= INT64_MIN && i <= INT64_MAX) return { kind: 'scalar', type: 'int', text: i.toString() };
    if (i > 0n) return { kind: 'scalar', type: 'float', text: i.toString() }; // a uint64 beyond int64
  }
  if (YAML_STYLE_FLOAT.test(plain) && finite(plain) !== null) return { kind: 'scalar', type: 'float', text: plain };
  return { kind: 'scalar', type: 'str', text };
}

/**
 * Whether go-yaml can write `s` unquoted: it must read back as a string (not a bool, number,
 * null or timestamp) and not be a YAML 1.1 bool (`yes`, `on`...) or base-60 float (`1:20`).
 */
export function canBePlainString(s: string): boolean {
  const h = hint(s);
  if (h === '') return true;
  if (NULL_WORDS.has(s) || TRUE_WORDS.has(s) || FALSE_WORDS.has(s)) return false;
  if (NAN_WORDS.has(s) || INF_WORDS.has(s) || NEG_INF_WORDS.has(s)) return false;
  if (OLD_BOOLS.has(s)) return false;
  if (h === '.') return !(DOT_FLOAT.test(s) && finite(s) !== null);
  if (h === 'M') return true;
  if (isTimestamp(s)) return false;
  const plain = s.includes('_') ? s.replace(/_/g, '') : s;
  if (goParseInt(plain, true) !== null) return false;
  if (YAML_STYLE_FLOAT.test(plain) && finite(plain) !== null) return false;
  if (s.includes(':') && BASE60_FLOAT.test(s)) return false;
  return true;
}

/** A float's text as tsops prints it in YAML: always reading back as a float. */
export function yamlFloatText(text: string): string {
  switch (text) {
    case '+Inf':
    case 'Inf':
    case '+Infinity':
    case 'Infinity':
      return '.inf';
    case '-Inf':
    case '-Infinity':
      return '-.inf';
    case 'NaN':
      return '.nan';
  }
  if (YAML_STYLE_FLOAT.test(text)) return /[.eE]/.test(text) ? text : `${text}.0`;
  const v = Number(text);
  if (Number.isNaN(v)) return '.nan';
  if (!Number.isFinite(v)) return v > 0 ? '.inf' : '-.inf';
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}
