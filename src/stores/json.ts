/**
 * The JSON store: sops's JSON files, read and written as sops 3.x does (`stores/json`).
 *
 * Reading keeps key order and number text: integers within int64 are `int` (exact, beyond 2^53
 * too), other numbers `float` with their source text. Writing follows Go: `encoding/json` string
 * escaping (`<`, `>`, `&`, U+2028 and U+2029 escaped), `json.Indent` layout with a tab (or
 * `--indent N` spaces), `": "` after keys, empty `{}` / `[]` kept on one line, a final newline.
 */
import { FileError } from '../errors.js';
import {
  entry,
  fromPlain,
  toPlain,
  type MapNode,
  type Node,
  type Plain,
  type Scalar,
  type Tree,
} from '../tree/types.js';
import { decodeGoBytes, decodeUtf8GoJson } from '../util/gostring.js';
import { OutBuf } from './outbuf.js';
import { flatSlice } from './strings.js';
import type { Store, StoreOptions } from './types.js';

const SOPS_KEY = 'sops';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// Reading

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function describe(src: string, i: number): string {
  if (i >= src.length) return 'end of input';
  const c = src[i]!;
  return c === "'" ? `character '\\''` : `character ${JSON.stringify(c).replace(/^"|"$/g, "'")}`;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** The run of a string literal that needs no look: no quote, backslash or control character. */
// eslint-disable-next-line no-control-regex -- control characters end the fast run (they are errors)
const STRING_BODY = /[^"\\\u0000-\u001f]*/y;
/** Integers this short are within int64 and are their own canonical text (except `-0`). */
const SHORT_INT = /^-?[0-9]{1,18}$/;

/** A small JSON parser that keeps key order, duplicate keys and number text. */
class JsonParser {
  private i = 0;
  /** Strings made now are copies, not slices that keep the whole text alive (keys, the metadata). */
  private flat = false;
  constructor(private readonly src: string) {}

  private ws(): void {
    const s = this.src;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.i = i;
  }

  private fail(what: string): never {
    throw new JsonSyntaxError(`invalid ${describe(this.src, this.i)} ${what}`, this.i);
  }

  /**
   * The top-level object. Anything but white space after it is refused, as sops's encrypted-file
   * path (json.Unmarshal) refuses it: sops's plain path (a token decoder) would drop it silently.
   */
  top(): MapNode {
    this.ws();
    if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
    const c = this.src[this.i];
    if (c !== '{') {
      let what: string;
      if (c === '[') what = 'arrays or other types. Got delimiter [ instead';
      else {
        // the value itself is not shown (it may be a secret): only its JSON type
        const v = this.value();
        const type =
          v.kind === 'list'
            ? 'array'
            : v.kind === 'scalar'
              ? v.type === 'str'
                ? 'string'
                : v.type === 'bool'
                  ? 'boolean'
                  : 'number'
              : v.kind;
        what = `other JSON types. Got a ${type} instead`;
      }
      throw new FileError(
        `SOPS only supports JSON files with a top-level object (starting with '{'), not ${what}. ` +
          'To encrypt this file, wrap it in an object, e.g., {"data": [...]}',
      );
    }
    const doc = this.object(true);
    this.ws();
    if (this.i < this.src.length) this.fail('after top-level value');
    return doc;
  }

  private value(): Node {
    this.ws();
    const s = this.src;
    const c = s.charCodeAt(this.i);
    switch (c) {
      case 123: // {
        return this.object();
      case 91: // [
        return this.array();
      case 34: // "
        return { kind: 'scalar', type: 'str', text: this.string() };
      case 116: // t
        return this.word('true', { kind: 'scalar', type: 'bool', text: 'true' });
      case 102: // f
        return this.word('false', { kind: 'scalar', type: 'bool', text: 'false' });
      case 110: // n
        return this.word('null', { kind: 'null' });
      default:
        if (c === 45 || (c >= 48 && c <= 57)) return this.number();
        if (this.i >= s.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
        return this.fail('looking for beginning of value');
    }
  }

  private word(w: string, v: Node): Node {
    if (this.src.startsWith(w, this.i)) {
      this.i += w.length;
      return v;
    }
    for (let k = 0; k < w.length; k++) {
      if (this.src[this.i] !== w[k]) {
        if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
        this.fail(`in literal ${w} (expecting '${w[k]}')`);
      }
      this.i++;
    }
    return v;
  }

  private number(): Scalar {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.src);
    if (!m || m[0] === '-') {
      this.i += m ? 1 : 0;
      return this.fail('in numeric literal');
    }
    const text = m[0];
    this.i += text.length;
    if (SHORT_INT.test(text) && text !== '-0') return { kind: 'scalar', type: 'int', text };
    if (/^-?[0-9]+$/.test(text)) {
      const v = BigInt(text);
      if (v >= INT64_MIN && v <= INT64_MAX) return { kind: 'scalar', type: 'int', text: v.toString() };
    }
    if (!Number.isFinite(Number(text))) {
      // (the number is not shown: it may be a secret)
      throw new JsonSyntaxError('strconv.ParseFloat: a number is out of range', this.i - text.length);
    }
    return { kind: 'scalar', type: 'float', text };
  }

  private string(): string {
    const s = this.src;
    const start = this.i + 1;
    // the usual string: no escape, no control character
    STRING_BODY.lastIndex = start;
    STRING_BODY.test(s);
    let i = STRING_BODY.lastIndex;
    if (s.charCodeAt(i) === 34) {
      this.i = i + 1;
      return this.flat ? flatSlice(s, start, i) : s.slice(start, i);
    }
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (c === 92) {
        escaped = true;
        i += 2;
        continue;
      }
      if (c < 32 || Number.isNaN(c)) {
        this.i = i;
        if (Number.isNaN(c)) throw new JsonSyntaxError('unexpected end of JSON input', i);
        this.fail('in string literal');
      }
      i++;
    }
    this.i = i + 1;
    if (!escaped) return this.flat ? flatSlice(s, start, i) : s.slice(start, i);
    try {
      // a \u escape of a lone surrogate reads as U+FFFD in Go
      return (JSON.parse(s.slice(start - 1, i + 1)) as string).toWellFormed();
    } catch {
      // find the bad escape for the message
      for (let j = start; j < i; j++) {
        if (s.charCodeAt(j) === 92) {
          const e = s[j + 1]!;
          if (e === 'u') {
            if (!/^[0-9a-fA-F]{4}$/.test(s.slice(j + 2, j + 6))) {
              this.i = j + 2;
              this.fail('in \\u hexadecimal character escape');
            }
            j += 5;
          } else if (!'"\\/bfnrt'.includes(e)) {
            this.i = j + 1;
            this.fail('in string escape code');
          } else j++;
        }
      }
      this.i = start;
      return this.fail('in string literal');
    }
  }

  private object(top = false): MapNode {
    this.i++; // {
    const m: MapNode = { kind: 'map', items: [] };
    this.ws();
    if (this.src[this.i] === '}') {
      this.i++;
      return m;
    }
    for (;;) {
      this.ws();
      if (this.src[this.i] !== '"') {
        if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
        this.fail('looking for beginning of object key string');
      }
      const flat = this.flat;
      this.flat = true;
      const key = this.string();
      this.flat = flat;
      this.ws();
      if (this.src[this.i] !== ':') {
        if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
        this.fail('after object key');
      }
      this.i++;
      // the metadata is kept after the file's text is dropped: none of it may hold on to that text
      if (top && key === SOPS_KEY) this.flat = true;
      m.items.push(entry(key, this.value()));
      this.flat = flat;
      this.ws();
      const c = this.src[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return m;
      }
      if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
      this.fail('after object key:value pair');
    }
  }

  private array(): Node {
    this.i++; // [
    const items: Node[] = [];
    this.ws();
    if (this.src[this.i] === ']') {
      this.i++;
      return { kind: 'list', items };
    }
    for (;;) {
      items.push(this.value());
      this.ws();
      const c = this.src[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return { kind: 'list', items };
      }
      if (this.i >= this.src.length) throw new JsonSyntaxError('unexpected end of JSON input', this.i);
      this.fail('after array element');
    }
  }
}

function lineCol(src: string, off: number): string {
  let line = 1;
  let start = 0;
  for (let i = src.indexOf('\n'); i !== -1 && i < off; i = src.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return `line ${line}, column ${off - start + 1}`;
}

/** Parse a JSON document into a one-document tree (the top level must be an object). */
export function parseJson(data: Buffer | string): Tree {
  // invalid UTF-8 reads as Go's encoding/json reads it: one U+FFFD per invalid byte
  let src = typeof data === 'string' ? data : decodeUtf8GoJson(data);
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  try {
    return { docs: [new JsonParser(src).top()] };
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new FileError(`Could not unmarshal input data: ${e.message} at ${lineCol(src, e.offset)}`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

const HEX = '0123456789abcdef';
// characters Go's encoding/json escapes: controls, ", \, <, >, &, U+2028, U+2029, lone surrogates
// eslint-disable-next-line no-control-regex -- Go escapes these control characters in JSON strings
const GO_ESCAPE = /["\\<>&\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

/** A JSON string literal as Go's `json.Marshal` writes it. */
export function goJsonString(s: string): string {
  if (!GO_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | null = null;
    if (c < 0x20) {
      switch (c) {
        case 8:
          rep = '\\b';
          break;
        case 9:
          rep = '\\t';
          break;
        case 10:
          rep = '\\n';
          break;
        case 12:
          rep = '\\f';
          break;
        case 13:
          rep = '\\r';
          break;
        default:
          rep = '\\u00' + HEX[c >> 4]! + HEX[c & 15]!;
      }
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (c === 0x3c) rep = '\\u003c';
    else if (c === 0x3e) rep = '\\u003e';
    else if (c === 0x26) rep = '\\u0026';
    else if (c === 0x2028) rep = '\\u2028';
    else if (c === 0x2029) rep = '\\u2029';
    else if (c >= 0xd800 && c <= 0xdfff) {
      // a valid pair passes; a lone surrogate stands for a byte that is not UTF-8 (gostring.ts),
      // which Go's json.Marshal writes as the escape \ufffd
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      rep = '\\ufffd';
    }
    if (rep !== null) {
      out += s.slice(last, i) + rep;
      last = i + 1;
    }
  }
  return out + s.slice(last) + '"';
}

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** Go's `json.Marshal` of a float64. */
export function goJsonFloat(f: number): string {
  if (!Number.isFinite(f))
    throw new FileError(
      `Error marshaling to json: json: unsupported value: ${f > 0 ? '+Inf' : f < 0 ? '-Inf' : 'NaN'}`,
      4,
    );
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const abs = Math.abs(f);
  if (abs < 1e-6 || abs >= 1e21) {
    // shortest digits in %e form, exponent at least two digits, then e-07 → e-7
    const [mant, exp] = f.toExponential().split('e') as [string, string];
    const sign = exp[0] === '-' ? '-' : '+';
    const digits = exp.replace(/^[+-]/, '');
    let e = digits.length < 2 ? '0' + digits : digits;
    if (sign === '-' && e.length === 2 && e[0] === '0') e = e[1]!;
    return `${mant}e${sign}${e}`;
  }
  // %f with the shortest digits
  const s = String(f);
  if (!s.includes('e')) return s;
  const [mant, expS] = s.split('e') as [string, string];
  const exp = Number(expS);
  const neg = mant.startsWith('-');
  const [int, frac = ''] = mant.replace('-', '').split('.') as [string, string?];
  const digits = int + frac;
  const point = int.length + exp;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = digits.slice(0, point) + '.' + digits.slice(point);
  return (neg ? '-' : '') + out;
}

function scalarJson(v: Scalar): string {
  switch (v.type) {
    case 'int':
    case 'int64':
      return v.text;
    case 'float': {
      if (JSON_NUMBER.test(v.text)) return v.text;
      return goJsonFloat(
        Number(v.text === '+Inf' || v.text === 'Inf' ? Infinity : v.text === '-Inf' ? -Infinity : v.text),
      );
    }
    case 'bool':
      return v.text === 'true' ? 'true' : 'false';
    default:
      return goJsonString(v.raw ? decodeGoBytes(v.raw) : v.text);
  }
}

/**
 * An upper bound on the bytes `write` prints for `n` (before escapes, which are rare and only
 * make the output buffer grow): UTF-8 is at most 3 bytes per UTF-16 unit.
 */
function sizeBound(n: Node, indentLen: number, depth: number): number {
  switch (n.kind) {
    case 'null':
      return 4;
    case 'scalar':
      return 3 * (n.raw ? n.raw.length : n.text.length) + 24;
    case 'list':
    case 'map': {
      const line = 3 + (depth + 1) * indentLen;
      let total = 2 + line;
      for (const it of n.items) {
        if (it.kind === 'comment') continue;
        if (it.kind === 'entry') total += line + 3 * it.key.length + 4 + sizeBound(it.value, indentLen, depth + 1);
        else total += line + sizeBound(it, indentLen, depth + 1);
      }
      return total;
    }
  }
}

/** Write a node in Go's `json.Indent` layout; `nl` is a newline plus the current indentation. */
function write(n: Node, out: OutBuf, indent: string, nl: string): void {
  switch (n.kind) {
    case 'null':
      out.add('null');
      return;
    case 'scalar':
      out.add(scalarJson(n));
      return;
    case 'list': {
      let first = true;
      const inner = nl + indent;
      for (const it of n.items) {
        if (it.kind === 'comment') continue;
        out.add(first ? '[' + inner : ',' + inner);
        first = false;
        write(it, out, indent, inner);
      }
      out.add(first ? '[]' : nl + ']');
      return;
    }
    case 'map': {
      let first = true;
      const inner = nl + indent;
      const open = '{' + inner;
      const next = ',' + inner;
      for (const it of n.items) {
        if (it.kind === 'comment') continue;
        const v = it.value;
        // a leaf goes out with its key in one piece
        const head = (first ? open : next) + goJsonString(it.key) + ': ';
        first = false;
        if (v.kind === 'scalar') out.add(head + scalarJson(v));
        else {
          out.add(head);
          write(v, out, indent, inner);
        }
      }
      out.add(first ? '{}' : nl + '}');
      return;
    }
  }
}

/** The indentation string: a tab by default, `indent` spaces when given (sops's `--indent`). */
export function jsonIndent(opts: StoreOptions | undefined): string {
  const n = opts?.indent;
  if (n === undefined || n === -1) return '\t';
  if (n < -1) throw new FileError('JSON Indentation parameter smaller than -1 is not accepted');
  return ' '.repeat(n);
}

/** Print a node as sops's JSON store prints it, then `tail`. */
function printJson(n: Node, indent: string, tail = ''): Buffer {
  const out = new OutBuf(sizeBound(n, indent.length, 0) + tail.length);
  write(n, out, indent, '\n');
  out.add(tail);
  return out.bytes();
}

/** Take the `sops` entry out of a loaded tree. */
export function extractMetadata(tree: Tree): Plain | undefined {
  const doc = tree.docs[0];
  if (!doc) return undefined;
  let metadata: Plain | undefined;
  let found = false;
  doc.items = doc.items.filter((it) => {
    if (it.kind !== 'entry' || it.key !== SOPS_KEY) return true;
    if (found) throw new FileError(`Found duplicate ${SOPS_KEY} entry`);
    found = true;
    if (it.value.kind !== 'map') throw new FileError(`Found ${SOPS_KEY} entry that is not a mapping`);
    metadata = toPlain(it.value);
    return false;
  });
  return metadata;
}

/** The JSON store (sops's `stores/json`). */
export function createJsonStore(opts?: StoreOptions): Store {
  const indent = () => jsonIndent(opts);
  return {
    format: 'json',
    loadPlain(data: Buffer): Tree {
      return parseJson(data);
    },
    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined } {
      const tree = parseJson(data);
      const metadata = extractMetadata(tree);
      return { tree, metadata };
    },
    emitPlain(tree: Tree): Buffer {
      const doc = tree.docs[0] ?? { kind: 'map', items: [] };
      return printJson(doc, indent(), '\n');
    },
    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      const doc = tree.docs[0] ?? { kind: 'map', items: [] };
      const withMeta: MapNode = { kind: 'map', items: [...doc.items, entry(SOPS_KEY, fromPlain(metadata))] };
      return printJson(withMeta, indent(), '\n');
    },
    emitValue(node: Node): Buffer {
      return printJson(node, indent());
    },
  };
}
