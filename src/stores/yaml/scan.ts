/**
 * Scalars as go-yaml's scanner reads them where the YAML 1.2 spec (and the `yaml` package)
 * differ: block scalars, double-quoted escapes, and Go's strict base64 for `!!binary`.
 */

const isBreakChar = (c: string | undefined) => c === '\n' || c === '\r';

/**
 * The value of a block scalar (`|` or `>`) as go-yaml's scanner reads it (libyaml's
 * scan_block_scalar): `header` is the indicator with its chomping and indentation digits, `start`
 * the offset of the first content line in `src`, `parentIndent` the indentation of the block the
 * scalar sits in. Unlike the YAML 1.2 spec as the `yaml` package reads it, a last line without a
 * line break gets none, and a line of spaces deeper than the indentation is content.
 * Returns the value, or an error message with its offset.
 */
export function blockScalarValue(
  src: string,
  header: string,
  start: number,
  parentIndent: number,
): { value: string } | { error: string; off: number } {
  if (!/^[|>](?:[1-9]?[+-]?|[+-][1-9])$/.test(header.replace(/^([|>]\S*).*$/, '$1'))) {
    return {
      error: /0/.test(header)
        ? 'found an indentation indicator equal to 0'
        : 'did not find expected comment or line break',
      off: start,
    };
  }
  const literal = header[0] === '|';
  let chomp = 0;
  let increment = 0;
  for (const c of header.slice(1)) {
    if (c === '+' || c === '-') chomp = c === '+' ? 1 : -1;
    else if (c >= '1' && c <= '9') increment = c.charCodeAt(0) - 48;
    else if (c === '0') return { error: 'found an indentation indicator equal to 0', off: start };
  }
  let indent = increment ? Math.max(parentIndent, 0) + increment : 0;
  let pos = start;
  let col = 0;
  let trailing = '';
  let error: { error: string; off: number } | null = null;
  const n = src.length;
  // skip indentation and empty lines, collecting their line breaks; sets the indentation
  const breaks = (): boolean => {
    let maxIndent = 0;
    for (;;) {
      col = 0;
      while ((indent === 0 || col < indent) && src.charCodeAt(pos) === 32) {
        pos++;
        col++;
      }
      if (col > maxIndent) maxIndent = col;
      if ((indent === 0 || col < indent) && src[pos] === '\t') {
        error = { error: 'found a tab character where an indentation space is expected', off: pos };
        return false;
      }
      if (!isBreakChar(src[pos])) break;
      pos += src[pos] === '\r' && src[pos + 1] === '\n' ? 2 : 1;
      trailing += '\n';
    }
    if (indent === 0) indent = Math.max(maxIndent, parentIndent + 1, 1);
    return true;
  };
  if (!breaks()) return error!;
  let out = '';
  let leading = '';
  let leadingBlank = false;
  while (col === indent && pos < n) {
    const c = src[pos];
    const trailingBlank = c === ' ' || c === '\t';
    if (!literal && leading.startsWith('\n') && !leadingBlank && !trailingBlank) {
      if (trailing === '') out += ' ';
      leading = '';
    } else {
      out += leading;
      leading = '';
    }
    out += trailing;
    trailing = '';
    leadingBlank = trailingBlank;
    let end = pos;
    while (end < n && !isBreakChar(src[end])) end++;
    out += src.slice(pos, end);
    pos = end;
    if (pos >= n) break;
    pos += src[pos] === '\r' && src[pos + 1] === '\n' ? 2 : 1;
    leading = '\n';
    if (!breaks()) return error!;
  }
  if (chomp !== -1) out += leading;
  if (chomp === 1) out += trailing;
  return { value: out };
}

const SIMPLE_ESCAPES = new Set([
  '0',
  'a',
  'b',
  't',
  '\t',
  'n',
  'v',
  'f',
  'r',
  'e',
  ' ',
  '"',
  "'",
  '\\',
  'N',
  '_',
  'L',
  'P',
  '\n',
  '\r',
]);
const HEX_DIGITS = /^[0-9a-fA-F]+$/;

/** The first escape go-yaml refuses in a double-quoted scalar's source (quotes included), or null. */
export function doubleQuotedError(source: string): { error: string; at: number } | null {
  for (let i = source.indexOf('\\'); i !== -1 && i < source.length - 1; i = source.indexOf('\\', i)) {
    const c = source[i + 1]!;
    if (SIMPLE_ESCAPES.has(c)) {
      i += 2;
      continue;
    }
    const len = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
    if (len === 0) return { error: 'found unknown escape character', at: i };
    const hex = source.slice(i + 2, i + 2 + len);
    if (hex.length < len || !HEX_DIGITS.test(hex)) return { error: 'did not find expected hexdecimal number', at: i };
    const v = parseInt(hex, 16);
    if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
      return { error: 'found invalid Unicode character escape code', at: i };
    i += 2 + len;
  }
  return null;
}

/** Go's base64.StdEncoding.DecodeString (line breaks ignored, padding required), or null when invalid. */
export function goBase64(text: string): Buffer | null {
  const s = text.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}
