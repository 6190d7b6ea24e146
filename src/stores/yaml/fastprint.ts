/**
 * The fast YAML printer: a document without comments, straight from the tree to text, with what
 * the full printer (nodes.ts + emitter.ts, go-yaml's emitter) writes for it, byte for byte — without
 * building go-yaml-like nodes, events or one string per piece. It writes block maps and sequences,
 * empty ones as `{}` / `[]`, plain, single- and double-quoted scalars on one line and literal block
 * scalars whose only line breaks are `\n`. Anything else (comments, raw bytes that are not UTF-8,
 * keys go-yaml writes as `? key`, the merge key `<<`, quoted scalars with line breaks) makes it
 * give up, and the full printer prints the document. test/yaml-print.test.ts compares the two.
 */
import type { ListNode, MapNode, Node, Scalar } from '../../tree/types.js';
import { escapeDouble } from './emitter.js';
import { canBePlainString, yamlFloatText } from './resolve.js';
import { analyze, isBreakCode, selectStyle, Style } from './style.js';

/** Thrown when the fast printer is not sure: the caller prints with the full printer. */
const GIVE_UP = Symbol('give up');

function giveUp(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a private sentinel, caught in fastPrint
  throw GIVE_UP;
}

/** Output pieces are joined into strings of about this many characters, then written out as bytes. */
const CHUNK = 1 << 16;

/**
 * Bytes written one piece after another into one buffer that grows in place: a resizable
 * ArrayBuffer (its pages are committed as it grows, nothing is copied), so the output never exists
 * twice; where one cannot be made, pieces are kept and joined at the end.
 */
/** A resizable ArrayBuffer (ES2024, in Node 20; not in this project's TypeScript lib). */
interface Resizable extends ArrayBuffer {
  readonly maxByteLength: number;
  resize(n: number): void;
}
const ResizableBuffer = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;

export class ByteSink {
  private ab: Resizable | null = null;
  private len = 0;
  private readonly pieces: Buffer[] = [];

  /** `resizable: false` (for tests): the pieces, joined at the end. */
  constructor(resizable = true) {
    try {
      this.ab = resizable ? new ResizableBuffer(0, { maxByteLength: 2 ** 31 - 1 }) : null;
    } catch {
      this.ab = null;
    }
  }

  write(s: string): void {
    const ab = this.ab;
    if (!ab) {
      this.pieces.push(Buffer.from(s, 'utf8'));
      return;
    }
    const need = this.len + s.length * 3;
    if (need > ab.byteLength) {
      if (need > ab.maxByteLength) throw new RangeError('the YAML output is too large');
      ab.resize(Math.min(ab.maxByteLength, Math.max(need, ab.byteLength + (ab.byteLength >> 3), 1 << 20)));
    }
    this.len += Buffer.from(ab, this.len, ab.byteLength - this.len).write(s, 0, 'utf8');
  }

  /** Everything written, as one Buffer. */
  result(): Buffer {
    const ab = this.ab;
    if (!ab) return Buffer.concat(this.pieces);
    ab.resize(this.len);
    return Buffer.from(ab, 0, this.len);
  }
}

/** Line breaks other than `\n`: a literal or quoted scalar with one goes to the full printer. */
const OTHER_BREAKS = /[\r\u0085\u2028\u2029]/;

class FastPrinter {
  private out = '';
  /** `\n` and the indentation of each column, made once */
  private readonly pads: string[] = [];
  /** the printed form of each key seen (keys repeat across maps) */
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly best: number,
    private readonly sink: ByteSink,
  ) {}

  private put(s: string): void {
    this.out += s;
    // (the last character stays: a literal block scalar may take back its final line break)
    if (this.out.length >= CHUNK) {
      this.sink.write(this.out.slice(0, -1));
      this.out = this.out.slice(-1);
    }
  }

  /** A line break and `col` spaces (go-yaml's write_indent after content). */
  private pad(col: number): string {
    let p = this.pads[col];
    if (p === undefined) this.pads[col] = p = '\n' + ' '.repeat(col);
    return p;
  }

  /** go-yaml's increase_indent for a block collection or scalar under a map key at `indent`. */
  private deeper(indent: number): number {
    return this.best * Math.floor((indent + this.best) / this.best);
  }

  /** Write out what is still held. */
  flush(): void {
    this.sink.write(this.out);
    this.out = '';
  }

  /** The root map (not empty), from the document's start. */
  root(m: MapNode): void {
    this.map(m, 0, true);
    this.put('\n');
  }

  /**
   * A block map at `indent`. `inline`: its first key goes where the output stands (the document's
   * start, or after a sequence's `-`, which the caller has padded).
   */
  private map(m: MapNode, indent: number, inline: boolean): void {
    const items = m.items;
    for (let i = 0, n = items.length; i < n; i++) {
      const e = items[i]!;
      if (e.kind !== 'entry') giveUp();
      if (!inline || i > 0) this.put(this.pad(indent));
      this.put(this.key(e.key));
      const v = e.value;
      switch (v.kind) {
        case 'scalar':
          this.put(' ');
          this.scalar(v, this.deeper(indent));
          break;
        case 'null':
          this.put(' null');
          break;
        case 'map':
          if (v.items.length === 0) this.put(' {}');
          else this.map(v, this.deeper(indent), false);
          break;
        case 'list':
          if (v.items.length === 0) this.put(' []');
          else this.list(v, this.deeper(indent), false);
          break;
      }
    }
  }

  /** A block sequence with its dashes at `indent`; `inline` as for map(). */
  private list(l: ListNode, indent: number, inline: boolean): void {
    const items = l.items;
    for (let i = 0, n = items.length; i < n; i++) {
      const v = items[i]!;
      if (!inline || i > 0) this.put(this.pad(indent));
      switch (v.kind) {
        case 'comment':
          return giveUp();
        case 'scalar':
          this.put('- ');
          this.scalar(v, indent + 2);
          break;
        case 'null':
          this.put('- null');
          break;
        case 'map':
          if (v.items.length === 0) this.put('- {}');
          else {
            this.put('- ');
            this.map(v, indent + 2, true);
          }
          break;
        case 'list':
          if (v.items.length === 0) this.put('- []');
          else {
            this.put('- ');
            this.list(v, indent + 2, true);
          }
          break;
      }
    }
  }

  /** A map key with its `:` (a simple key: on one line, at most 128 characters). */
  private key(k: string): string {
    let p = this.keys.get(k);
    if (p !== undefined) return p;
    // go-yaml writes a plain `<<` with the merge tag, and a long or multi-line key as `? key`
    if (k === '<<' || k.length > 128) giveUp();
    const a = analyze(k);
    if (a.multiline) giveUp();
    const requested = canBePlainString(k) ? Style.Plain : Style.Double;
    const style = selectStyle(selectStyle(requested, a, k, 0, false), a, k, 0, true);
    p = quoted(k, style) + ':';
    this.keys.set(k, p);
    return p;
  }

  /**
   * A scalar value after `key:` or `-` (and the space the caller put); `indent` is where the lines
   * of a literal block scalar go (go-yaml's indentation of the scalar).
   */
  private scalar(v: Scalar, indent: number): void {
    let s: string;
    let str = false;
    switch (v.type) {
      case 'int':
      case 'int64':
      case 'time':
        s = v.text;
        break;
      case 'float':
        s = yamlFloatText(v.text);
        break;
      case 'bool':
        s = v.text === 'true' ? 'true' : 'false';
        break;
      default:
        // raw bytes that are not UTF-8 are written as !!binary
        if (v.raw && !Buffer.from(v.raw.toString('utf8'), 'utf8').equals(v.raw)) giveUp();
        s = v.text;
        str = true;
    }
    const a = analyze(s);
    let style: Style;
    if (!str) style = Style.Plain;
    else if (s.includes('\n')) style = Style.Literal;
    else if (canBePlainString(s)) {
      if (s === '<<' && a.blockPlain) giveUp(); // written with the merge tag
      style = Style.Plain;
    } else style = Style.Double;
    style = selectStyle(selectStyle(style, a, s, 0, false), a, s, 0, false);
    if (style === Style.Literal) this.literal(s, indent);
    else this.put(quoted(s, style));
  }

  /** go-yaml's write_literal (see Emitter.writeLiteral), for a value whose line breaks are all `\n`. */
  private literal(value: string, indent: number): void {
    if (OTHER_BREAKS.test(value)) giveUp();
    let header = '|';
    const c0 = value.charCodeAt(0);
    if (c0 === 32 || c0 === 10) header += String(this.best);
    const n = value.length;
    // (a literal value holds a `\n`, so it is never empty)
    if (value.charCodeAt(n - 1) !== 10) header += '-';
    else if (n === 1 || value.charCodeAt(n - 2) === 10) header += '+';
    this.put(header);
    // a leading line break ends the header line first (see Emitter.writeLiteral)
    if (c0 === 10) this.put('\n');
    const lines = value.split('\n');
    let breaks = true;
    let atLineStart = c0 === 10; // after a break written here: no second break before the first line
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.length > 0) {
        if (breaks) this.put(atLineStart ? ' '.repeat(indent) : this.pad(indent));
        this.put(line);
        breaks = false;
        atLineStart = false;
      }
      if (i < lines.length - 1) {
        this.put('\n');
        breaks = true;
        atLineStart = true;
      }
    }
    // after a final line break the next key is written without another one: the caller's pad()
    // starts with `\n`, so the trailing break of the value is taken back here
    if (atLineStart) this.takeBackBreak();
  }

  /** Remove the `\n` just written (the next pad() writes it). */
  private takeBackBreak(): void {
    this.out = this.out.slice(0, -1);
  }
}

/** A one-line scalar in a style that is not Literal. */
function quoted(s: string, style: Style): string {
  switch (style) {
    case Style.Plain:
      return s;
    case Style.Single:
      for (let i = 0; i < s.length; i++) if (isBreakCode(s.charCodeAt(i))) giveUp();
      return `'${s.includes("'") ? s.replace(/'/g, "''") : s}'`;
    case Style.Double:
      return `"${escapeDouble(s)}"`;
    default:
      return giveUp();
  }
}

/**
 * Write one document (a map) into `sink` as the full printer writes it at indentation `indent`;
 * false when the fast printer does not take it (comments, an empty map, and the rest above), and
 * then `sink` may hold part of it: the caller starts again with a new one.
 */
export function fastPrintDocument(doc: MapNode, indent: number, sink: ByteSink): boolean {
  if (doc.items.length === 0) return false;
  const p = new FastPrinter(indent < 2 || indent > 9 ? 2 : indent, sink);
  try {
    p.root(doc);
  } catch (e) {
    if (e === GIVE_UP) return false;
    throw e;
  }
  p.flush();
  return true;
}

export type { Node };
