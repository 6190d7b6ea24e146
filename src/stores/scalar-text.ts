/**
 * How sops 3.13 prints a non-string leaf into a format whose values are all text (dotenv, INI,
 * `exec-env`): its stores.ValueToString. Integers in decimal; floats in Go's `%G` form, with `.0`
 * added when that form looks like an integer (`1` → `1.0`, `2e5` → `200000.0`, but `-2e10` →
 * `-2E+10`); booleans `true` / `false`; times in RFC 3339 without fractions.
 */
import { floatValue, type Node } from '../tree/types.js';

/** Go's strconv.FormatFloat(f, 'G', -1, 64): shortest digits, exponent form below 1e-4 and from 1e6. */
export function formatFloatG(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (f === Infinity) return '+Inf';
  if (f === -Infinity) return '-Inf';
  const sign = f < 0 || Object.is(f, -0) ? '-' : '';
  if (f === 0) return `${sign}0`;
  const [mantissa, expText] = Math.abs(f).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const abs = Math.abs(exp);
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${frac}E${exp < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : abs}`;
  }
  const point = exp + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const TIME_RE = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(Z|z|[+-]\d{2}:?\d{2}|[+-]\d{1,2})?$/;

/** A timestamp as Go's time.Format(time.RFC3339) prints it: no fractions, `Z` for UTC. */
function rfc3339(text: string): string {
  const m = TIME_RE.exec(text.trim());
  if (!m) return text;
  let zone = m[3] ?? 'Z';
  if (/^[+-]\d{1,2}$/.test(zone)) zone = `${zone[0]}${zone.slice(1).padStart(2, '0')}:00`;
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  if (/^[zZ]$|^[+-]00:00$/.test(zone)) zone = 'Z';
  return `${m[1]}T${m[2]}${zone}`;
}

/**
 * The text of a leaf in a text-only format. A null prints as the empty string (sops has no case
 * for it). Maps and lists are the caller's error to report.
 */
export function scalarText(n: Node): string {
  switch (n.kind) {
    case 'null':
      return '';
    case 'scalar':
      switch (n.type) {
        case 'float': {
          const g = formatFloatG(floatValue(n.text));
          return /^-?\d+$/.test(g) ? `${g}.0` : g;
        }
        case 'time':
          return rfc3339(n.text);
        default:
          return n.text;
      }
    default:
      throw new TypeError(`scalarText: a ${n.kind} has no text`);
  }
}

/** The Go type sops would name in a message about this value (`%T`). */
export function goTypeName(n: Node): string {
  switch (n.kind) {
    case 'null':
      return '<nil>';
    case 'map':
      return 'sops.TreeBranch';
    case 'list':
      return '[]interface {}';
    case 'scalar':
      switch (n.type) {
        case 'str':
          return 'string';
        case 'int':
          return 'int';
        case 'int64':
          return 'int64';
        case 'float':
          return 'float64';
        case 'bool':
          return 'bool';
        case 'time':
          return 'time.Time';
        case 'bytes':
          return '[]uint8';
      }
  }
}
