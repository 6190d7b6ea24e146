/**
 * Go regular expressions (RE2 syntax, as sops compiles `path_regex` and the scope regexes) turned
 * into JavaScript `RegExp`s with the same meaning.
 *
 * What is translated: leading flag groups `(?i)` `(?s)` `(?m)` (become RegExp flags),
 * `(?P<name>…)`, `\A`, `\z`, `\Q…\E`, `\x{…}`, octal escapes, `\pL` / `\p{Greek}`, POSIX classes
 * such as `[[:alpha:]]`, Go's ASCII-only `\s`, escaped punctuation that JavaScript's `u` mode
 * refuses (`\-`, `\:`, `\#` …), a literal `{` or `}` that does not form a repetition, and a `]`
 * right after `[` or `[^` (a literal in Go).
 *
 * What is refused, as RE2 refuses it: lookaround, backreferences, `\C`, unknown letter escapes.
 * What is refused because JavaScript (Node 20) cannot express it: flags in the middle of a pattern
 * or on a group (`a(?i)b`, `(?i:b)`), the ungreedy flag `U`, negated POSIX classes.
 *
 * Known small differences that remain: inside a character class `\S` keeps JavaScript's meaning
 * (not-whitespace in Unicode), and `.` also stops at `\r`, U+2028 and U+2029 in JavaScript.
 */

/** A pattern that is not a valid Go regular expression, or one this translation cannot express. */
export class GoRegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoRegexError';
  }
}

/** Characters JavaScript's `u` mode accepts after a backslash outside a class. */
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/');
const GO_SPACE = '\\t\\n\\f\\r ';

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '\\x21-\\x7E',
  lower: 'a-z',
  print: '\\x20-\\x7E',
  punct: '\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

function isAsciiPunct(c: string): boolean {
  return /^[\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]$/.test(c);
}

function hexEscape(cp: number): string {
  return `\\u{${cp.toString(16).toUpperCase()}}`;
}

/** `c` as a literal outside a `u`-mode class. */
function literalOut(c: string): string {
  return JS_SYNTAX.has(c) ? `\\${c}` : c;
}

/** `c` as a literal inside a `u`-mode class. */
function literalIn(c: string): string {
  return JS_SYNTAX.has(c) || c === '-' ? `\\${c}` : c;
}

/** Go's `\p` names: one- or two-letter general categories stay, anything else is a script. */
function unicodeClass(name: string, negated: boolean): string {
  let n = name;
  let neg = negated;
  if (n.startsWith('^')) {
    neg = !neg;
    n = n.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(n)) throw new GoRegexError(`invalid character class range \\p{${name}}`);
  const prop = /^[A-Z][a-z]?$/.test(n) || n === 'Any' ? n : `Script=${n}`;
  return `\\${neg ? 'P' : 'p'}{${prop}}`;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
}

/**
 * Translate a Go regular expression into a JavaScript pattern and flags (always with `u`).
 * Throws `GoRegexError` with a one-line reason.
 */
export function translateGoRegex(source: string): { pattern: string; flags: string } {
  const flags: Flags = { i: false, m: false, s: false };
  let pos = 0;
  // Leading flag groups apply to the whole pattern: they become RegExp flags.
  for (;;) {
    const m = /^\(\?([imsU]*)(?:-([imsU]*))?\)/.exec(source.slice(pos));
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) break;
    for (const f of m[1]!) {
      if (f === 'U') throw new GoRegexError('the ungreedy flag (?U) is not supported');
      flags[f as keyof Flags] = true;
    }
    for (const f of m[2] ?? '') {
      if (f === 'U') continue;
      flags[f as keyof Flags] = false;
    }
    pos += m[0].length;
  }

  let out = '';
  let inClass = false;
  const s = source;
  const n = s.length;

  /** Reads an escape at s[i] === '\\'; returns [translation, next index]. */
  const escape = (i: number, cls: boolean): [string, number] => {
    if (i + 1 >= n) throw new GoRegexError('trailing backslash at end of expression');
    const c = s[i + 1]!;
    if (c.charCodeAt(0) < 0x80 && isAsciiPunct(c)) {
      return [cls ? literalIn(c) : literalOut(c), i + 2];
    }
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return [`\\${c}`, i + 2];
      case 's':
        return [cls ? GO_SPACE : `[${GO_SPACE}]`, i + 2];
      case 'S':
        return [cls ? '\\S' : `[^${GO_SPACE}]`, i + 2];
      case 'b':
      case 'B':
        if (cls) throw new GoRegexError(`invalid escape sequence \\${c} in a character class`);
        return [`\\${c}`, i + 2];
      case 'A':
        if (cls) throw new GoRegexError('invalid escape sequence \\A in a character class');
        return ['(?<![\\s\\S])', i + 2];
      case 'z':
        if (cls) throw new GoRegexError('invalid escape sequence \\z in a character class');
        return ['(?![\\s\\S])', i + 2];
      case 'a':
        return ['\\x07', i + 2];
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
        return [`\\${c}`, i + 2];
      case 'x': {
        if (s[i + 2] === '{') {
          const end = s.indexOf('}', i + 3);
          const hex = end < 0 ? '' : s.slice(i + 3, end);
          if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new GoRegexError(`invalid escape sequence \\x{${hex}`);
          return [hexEscape(parseInt(hex, 16)), end + 1];
        }
        const hex = s.slice(i + 2, i + 4);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new GoRegexError(`invalid escape sequence \\x${hex}`);
        return [`\\x${hex}`, i + 4];
      }
      case 'p':
      case 'P': {
        if (s[i + 2] === '{') {
          const end = s.indexOf('}', i + 3);
          if (end < 0) throw new GoRegexError('invalid character class range: missing }');
          return [unicodeClass(s.slice(i + 3, end), c === 'P'), end + 1];
        }
        const name = s[i + 2];
        if (!name) throw new GoRegexError(`invalid escape sequence \\${c}`);
        return [unicodeClass(name, c === 'P'), i + 3];
      }
      case 'Q': {
        const end = s.indexOf('\\E', i + 2);
        const text = end < 0 ? s.slice(i + 2) : s.slice(i + 2, end);
        const lit = [...text].map((ch) => (cls ? literalIn(ch) : literalOut(ch))).join('');
        return [lit, end < 0 ? n : end + 2];
      }
      case 'E':
        // A stray \E (no \Q before it) is ignored by Go.
        return ['', i + 2];
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      // Go: \0 and \1..\7 followed by another octal digit start an octal escape (up to 3 digits);
      // a lone \1..\7 would be a backreference, which RE2 does not support.
      if (c !== '0' && !(s[i + 2] !== undefined && s[i + 2]! >= '0' && s[i + 2]! <= '7')) {
        throw new GoRegexError(`invalid escape sequence \\${c} (backreferences are not supported)`);
      }
      let j = i + 1;
      let digits = '';
      while (j < n && digits.length < 3 && s[j]! >= '0' && s[j]! <= '7') digits += s[j++];
      return [hexEscape(parseInt(digits, 8)), j];
    }
    if (c === '8' || c === '9') throw new GoRegexError(`invalid escape sequence \\${c}`);
    if (c === 'C') throw new GoRegexError('\\C (any byte) is not supported');
    throw new GoRegexError(`invalid escape sequence \\${c}`);
  };

  /** A repetition `{n}`, `{n,}` or `{n,m}` starting at s[i] === '{'; its length or 0 if none. */
  const repetition = (i: number): number => {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i));
    if (!m) return 0;
    const lo = Number(m[1]);
    const hi = m[3] ? Number(m[3]) : undefined;
    if (lo > 1000 || (hi !== undefined && (hi > 1000 || hi < lo))) {
      throw new GoRegexError(`invalid repeat count ${m[0]}`);
    }
    return m[0].length;
  };

  let i = pos;
  while (i < n) {
    const c = s[i]!;
    if (inClass) {
      if (c === '\\') {
        const [t, next] = escape(i, true);
        out += t;
        i = next;
      } else if (c === '[' && s[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(s.slice(i));
        if (m) {
          if (m[1]) throw new GoRegexError(`negated POSIX class [:^${m[2]}:] is not supported`);
          const body = POSIX[m[2]!];
          if (!body) throw new GoRegexError(`invalid character class range [:${m[2]}:]`);
          out += body;
          i += m[0].length;
        } else {
          out += '\\[';
          i += 1;
        }
      } else if (c === '[') {
        out += '\\[';
        i += 1;
      } else if (c === ']') {
        out += ']';
        inClass = false;
        i += 1;
      } else {
        out += c;
        i += 1;
      }
      continue;
    }
    switch (c) {
      case '\\': {
        const [t, next] = escape(i, false);
        out += t;
        i = next;
        break;
      }
      case '[': {
        out += '[';
        i += 1;
        if (s[i] === '^') {
          out += '^';
          i += 1;
        }
        if (s[i] === ']') {
          out += '\\]';
          i += 1;
        }
        inClass = true;
        break;
      }
      case '(': {
        if (s[i + 1] !== '?') {
          out += '(';
          i += 1;
          break;
        }
        const rest = s.slice(i + 2);
        if (rest.startsWith(':')) {
          out += '(?:';
          i += 3;
        } else if (rest.startsWith('P<') || (rest.startsWith('<') && !rest.startsWith('<=') && !rest.startsWith('<!'))) {
          const start = rest.startsWith('P<') ? 2 : 1;
          const end = rest.indexOf('>');
          const name = end < 0 ? '' : rest.slice(start, end);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new GoRegexError(`invalid named capture (?${rest.slice(0, end + 1)}`);
          out += `(?<${name}>`;
          i += 2 + end + 1;
        } else if (/^(=|!|<=|<!)/.test(rest)) {
          throw new GoRegexError('lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported by Go regular expressions');
        } else if (rest.startsWith('P=') || rest.startsWith('P>')) {
          throw new GoRegexError('backreferences are not supported by Go regular expressions');
        } else if (/^-?[imsU]/.test(rest)) {
          throw new GoRegexError('flags are only supported at the start of the expression, e.g. (?i)foo');
        } else {
          throw new GoRegexError(`invalid or unsupported Perl syntax (?${rest.slice(0, 1)}`);
        }
        break;
      }
      case '{': {
        const len = repetition(i);
        if (len > 0) {
          out += s.slice(i, i + len);
          i += len;
        } else {
          out += '\\{';
          i += 1;
        }
        break;
      }
      case '}':
        out += '\\}';
        i += 1;
        break;
      case ']':
        out += '\\]';
        i += 1;
        break;
      default:
        out += c;
        i += 1;
    }
  }
  if (inClass) throw new GoRegexError('missing closing ]');
  return { pattern: out, flags: `${flags.i ? 'i' : ''}${flags.m ? 'm' : ''}${flags.s ? 's' : ''}u` };
}

/**
 * Compile a Go regular expression into an equivalent `RegExp` (unanchored, like Go's
 * `MatchString`; never global, so `test` has no state). Throws `GoRegexError`.
 */
export function goRegExp(source: string): RegExp {
  const { pattern, flags } = translateGoRegex(source);
  try {
    return new RegExp(pattern, flags);
  } catch (e) {
    const msg = (e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new GoRegexError(msg);
  }
}
