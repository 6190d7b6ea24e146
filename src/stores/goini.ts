/**
 * The subset of go-ini (gopkg.in/ini.v1, v1.67) that sops's INI store uses, with sops's options
 * (the defaults): reading with `ini.Load`, writing with `ini.Empty()` + `WriteTo`. Written from its
 * documented and observed behaviour so that tsops reads and writes INI files byte for byte as sops.
 *
 * Reading:
 * - keys before the first section belong to the `DEFAULT` section, which always exists (first);
 * - lines are `key = value` or `key: value`; the key is trimmed, and may be quoted with `"`, `"""`
 *   or backticks; a key `-` is an auto-numbered `#1`, `#2`, …;
 * - a value is trimmed; a value starting with `"""` or a backtick runs to the last matching quote
 *   (over several lines if need be); otherwise the text from the first `#` or `;` on is a comment,
 *   a trailing `\` joins the next line, and one pair of surrounding `"` or `'` is removed;
 * - lines starting with `#` or `;` are comments, attached to the next section (as its comment) or
 *   key; a repeated key replaces its value (go-ini's default) — the caller may refuse that;
 * - a repeated section header starts a new section of the same name, kept apart (sops ≥ 3.9 loads
 *   and writes INI with go-ini's `AllowNonUniqueSections`, for WireGuard's `[Peer]` sections).
 *
 * Writing: a blank line between sections, `DEFAULT` without its header (and not at all when
 * empty), ` = ` aligned within each section, comment lines prefixed `; `, values quoted when they
 * would not read back (`"""` for newlines and backticks, backticks for `#`/`;`, `"` for
 * surrounding spaces), keys quoted when they contain `"`, `=`, `:` or a backtick.
 */
import { FileError } from '../errors.js';
import { encodeGoBytes } from '../util/gostring.js';

export const DEFAULT_SECTION = 'DEFAULT';

export interface IniKey {
  name: string;
  value: string;
  /** The comment lines before the key (with their `;`/`#`), joined with `\n`; '' for none. */
  comment: string;
  /** The line the key was read from (0 when not read from a file). */
  line: number;
  /** The line of an earlier key of the same name in the section, whose value this one replaced. */
  replaced?: number;
}

export interface IniSection {
  name: string;
  /** The comment lines before the section header, as for keys. */
  comment: string;
  readonly keys: IniKey[];
}

/**
 * Sections and keys in file order (go-ini's File with `AllowNonUniqueSections`, as sops uses it):
 * sections may share a name, keys are unique within a section.
 */
export class IniFile {
  readonly sections: IniSection[] = [];
  private readonly keyIndex = new Map<IniSection, Map<string, IniKey>>();

  /** `withDefault`: start with the `DEFAULT` section, as parsing does (sops's writer starts empty). */
  constructor(withDefault = true) {
    if (withDefault) this.section(DEFAULT_SECTION);
  }

  /** A new section at the end (go-ini's NewSection with non-unique sections). */
  section(name: string): IniSection {
    if (name.length === 0) throw new Error('empty section name');
    const s: IniSection = { name, comment: '', keys: [] };
    this.sections.push(s);
    this.keyIndex.set(s, new Map());
    return s;
  }

  /** The first section of that name. */
  getSection(name: string): IniSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The key of that name in a section, if any. */
  getKey(section: IniSection, name: string): IniKey | undefined {
    return this.keyIndex.get(section)!.get(name);
  }

  /** Add a key, or replace the value of the existing one (go-ini's NewKey). */
  setKey(section: IniSection, name: string, value: string): IniKey {
    if (name.length === 0) throw new Error('empty key name');
    const index = this.keyIndex.get(section)!;
    let k = index.get(name);
    if (k) k.value = value;
    else {
      k = { name, value, comment: '', line: 0 };
      section.keys.push(k);
      index.set(name, k);
    }
    return k;
  }
}

// Go's unicode.IsSpace, as strings.TrimSpace and TrimLeftFunc use it.
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_SPACE = new RegExp(`^[${SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${SPACE}]+$`);
const trimLeft = (s: string): string => s.replace(LEADING_SPACE, '');
const trimSpace = (s: string): string => s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');

const KEY_VALUE_DELIMITERS = '=:';

function indexAny(s: string, chars: string, from = 0): number {
  for (let i = from; i < s.length; i++) if (chars.includes(s[i]!)) return i;
  return -1;
}

/** The text from the first `#` or `;` on, if any. */
function cleanComment(s: string): string | undefined {
  const i = indexAny(s, '#;');
  return i < 0 ? undefined : s.slice(i);
}

function hasSurroundedQuote(s: string, q: string): boolean {
  return s.length >= 2 && s[0] === q && s[s.length - 1] === q && s.indexOf(q, 1) === s.length - 1;
}

class Reader {
  private pos = 0;
  eof = false;
  line = 0;
  constructor(private readonly text: string) {}
  /** The next line with its `\n` (none on the last line). */
  readLine(): string {
    this.line++;
    const nl = this.text.indexOf('\n', this.pos);
    if (nl < 0) {
      this.eof = true;
      const rest = this.text.slice(this.pos);
      this.pos = this.text.length;
      return rest;
    }
    const line = this.text.slice(this.pos, nl + 1);
    this.pos = nl + 1;
    return line;
  }
}

/**
 * Parse INI text as go-ini does with its default options. Throws a FileError naming the line (but
 * not quoting it: it may hold a secret).
 */
export function parseIni(text: string): IniFile {
  const file = new IniFile();
  const r = new Reader(text);
  let section = file.getSection(DEFAULT_SECTION)!;
  let comment = '';
  let autoCount = 1;
  const fail = (line: number, what: string): FileError => new FileError(`invalid INI input: line ${line}: ${what}`);

  const readMultiline = (first: string, quote: string, startLine: number): string => {
    let val = first;
    for (;;) {
      const next = r.readLine();
      const pos = next.lastIndexOf(quote);
      if (pos > -1) {
        val += next.slice(0, pos);
        const c = cleanComment(next.slice(pos));
        if (c !== undefined) comment += trimSpace(c);
        return val;
      }
      val += next;
      if (r.eof) throw fail(startLine, `no closing ${quote} for the value`);
    }
  };

  const readContinuation = (first: string): string => {
    let val = first;
    for (;;) {
      const next = trimSpace(r.readLine());
      if (next.length === 0) return val;
      val += next;
      if (val[val.length - 1] !== '\\') return val;
      val = val.slice(0, -1);
    }
  };

  const readValue = (raw: string, lineNo: number): string => {
    let line = trimLeft(raw);
    if (line.length === 0) return '';
    let quote = '';
    if (line.length > 3 && line.startsWith('"""')) quote = '"""';
    else if (line[0] === '`') quote = '`';
    if (quote) {
      const body = line.slice(quote.length);
      const pos = body.lastIndexOf(quote);
      if (pos < 0) return readMultiline(body, quote, lineNo);
      return body.slice(0, pos);
    }
    line = trimSpace(line);
    if (line[line.length - 1] === '\\') return readContinuation(line.slice(0, -1));
    const c = indexAny(line, '#;');
    if (c > -1) {
      comment += line.slice(c);
      line = trimSpace(line.slice(0, c));
    }
    if (hasSurroundedQuote(line, "'") || hasSurroundedQuote(line, '"')) line = line.slice(1, -1);
    return line;
  };

  const readKeyName = (line: string, lineNo: number): { name: string; offset: number } => {
    let quote = '';
    if (line[0] === '"') quote = line.length > 6 && line.startsWith('"""') ? '"""' : '"';
    else if (line[0] === '`') quote = '`';
    if (quote) {
      const start = quote.length;
      const close = line.indexOf(quote, start);
      if (close < 0) throw fail(lineNo, `no closing ${quote} for the key`);
      const i = indexAny(line, KEY_VALUE_DELIMITERS, close + start);
      if (i < 0) throw fail(lineNo, 'no "=" or ":" after the key');
      return { name: trimSpace(line.slice(start, close)), offset: i + 1 };
    }
    const i = indexAny(line, KEY_VALUE_DELIMITERS);
    if (i < 0) throw fail(lineNo, 'neither a section, a comment nor key = value (no "=" or ":")');
    return { name: trimSpace(line.slice(0, i)), offset: i + 1 };
  };

  while (!r.eof) {
    let line = r.readLine();
    const lineNo = r.line;
    line = trimLeft(line);
    if (line.length === 0) continue;

    if (line[0] === '#' || line[0] === ';') {
      comment += line;
      continue;
    }

    if (line[0] === '[') {
      const close = line.lastIndexOf(']');
      if (close < 0) throw fail(lineNo, 'section header without "]"');
      const name = line.slice(1, close);
      if (name.length === 0) throw fail(lineNo, 'empty section name');
      section = file.section(name);
      const c = cleanComment(line.slice(close + 1));
      if (c !== undefined) comment += c;
      section.comment = trimSpace(comment);
      comment = '';
      autoCount = 1;
      continue;
    }

    const key0 = readKeyName(line, lineNo);
    const offset = key0.offset;
    let name = key0.name;
    if (name === '-') name = `#${autoCount++}`;
    const value = readValue(line.slice(offset), lineNo);
    if (name.length === 0) throw fail(lineNo, 'empty key name');
    const before = file.getKey(section, name);
    const key = file.setKey(section, name, value);
    if (before) key.replaced ??= before.line;
    key.line = lineNo;
    key.comment = trimSpace(comment);
    comment = '';
  }
  return file;
}

function byteLength(s: string): number {
  // Go's len: a byte that is not UTF-8 (kept as a lone surrogate, see util/gostring.ts) counts one
  return s.isWellFormed() ? Buffer.byteLength(s, 'utf8') : encodeGoBytes(s).length;
}

function commentLines(comment: string, trimPlain: boolean): string {
  let out = '';
  for (const line of comment.split('\n')) {
    if (line[0] === '#' || line[0] === ';') out += `${line[0]} ${trimSpace(line.slice(1))}\n`;
    else out += `; ${trimPlain ? trimSpace(line) : line}\n`;
  }
  return out;
}

/** Print an INI file as go-ini's WriteTo does with its default (pretty) settings. */
export function writeIni(file: IniFile): string {
  let out = '';
  file.sections.forEach((sec, i) => {
    if (sec.comment.length > 0) out += commentLines(sec.comment, false);
    if (i > 0 || sec.name.toUpperCase() !== DEFAULT_SECTION) out += `[${sec.name}]\n`;
    else if (sec.keys.length === 0) return;

    const names = sec.keys.map((k) => {
      if (k.name.includes('"') || indexAny(k.name, KEY_VALUE_DELIMITERS) >= 0) return `\`${k.name}\``;
      if (k.name.includes('`')) return `"""${k.name}"""`;
      // beyond go-ini (which writes them bare, so they read back as a comment or a section header and
      // the value is lost, e.g. the auto-numbered `#1` of a `- = v` line): quoted, read back as keys
      if (/^[#;[]/.test(k.name)) return `\`${k.name}\``;
      return k.name;
    });
    const align = Math.max(0, ...names.map(byteLength));

    sec.keys.forEach((k, j) => {
      if (k.comment.length > 0) out += commentLines(k.comment, true);
      const name = names[j]!;
      let val = k.value;
      if (/[\n`]/.test(val)) val = `"""${val}"""`;
      else if (/[#;]/.test(val)) val = `\`${val}\``;
      else if (trimSpace(val).length !== val.length) val = `"${val}"`;
      out += `${name}${' '.repeat(align - byteLength(name))} = ${val}\n`;
    });

    if (i < file.sections.length - 1) out += '\n';
  });
  return out;
}
