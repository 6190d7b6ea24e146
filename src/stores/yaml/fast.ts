/**
 * The fast YAML reader: one pass over the lines of a file written in the shapes sops files have —
 * block maps and sequences (also `- key: value` items and sequences at their key's indentation),
 * one-line plain, single- and double-quoted scalars, block scalars, comments — straight into the
 * tree, without the `yaml` package's CST. Comments are placed by the full reader's rules
 * (comments.ts), from the same marks the full reader's builder records. Anything else (anchors,
 * aliases, tags, flow collections, multi-line scalars, block scalars in a file with comments,
 * several documents, directives, tabs, unusual escapes, any structure it is not sure of, and every
 * error) makes it give up, and the file is read by the full reader (load.ts), which decides. So it
 * only ever returns the tree the full reader would build; the go-yaml differential test runs its
 * corpus through both readers to keep it so.
 */
import type { ListNode, MapNode, Node, Tree } from '../../tree/types.js';
import { applyInserts, Placer } from './comments.js';
import { Lines } from './lines.js';
import { type Container, type Mark, MarkKind, type Seq } from './marks.js';
import { resolvePlain } from './resolve.js';
import { blockScalarValue } from './scan.js';
import { flatCopy } from '../strings.js';

/** Thrown when the fast reader is not sure: the caller reads the file with the full reader. */
const GIVE_UP = Symbol('give up');

/** Characters that send the whole file to the full reader (tabs, CR, YAML 1.1 breaks). */
const WHOLE_FILE = /[\t\r\u0085\u2028\u2029]/;

interface Frame {
  /** the column of its keys or dashes */
  col: number;
  map: MapNode | null;
  list: ListNode | null;
  /** a sequence at its key's column (`key:\n- a`): a key line at that column ends it */
  indentless: boolean;
  /** keys seen (duplicates go to the full reader, which reports them) */
  seen: Set<string> | null;
  /** the container of the map or list, for comment placement (files with comments) */
  c: Container | null;
}

/** Nesting the fast reader takes; deeper files go to the full reader. */
const MAX_FRAMES = 500;

/**
 * The tree of `src` (without a BOM), or null when the file needs the full reader. One document,
 * a map at its root. `ascii`: the text is all ASCII (only a tab or CR can send it away whole).
 */
export function fastParse(src: string, ascii = false): Tree | null {
  if (ascii ? src.includes('\t') || src.includes('\r') : WHOLE_FILE.test(src)) return null;
  try {
    return new FastReader(src).read();
  } catch (e) {
    if (e === GIVE_UP) return null;
    throw e;
  }
}

function giveUp(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a private sentinel, caught in fastParse
  throw GIVE_UP;
}

/** A first character that a plain scalar cannot start with (or that starts another kind of node). */
function isIndicator(c: number): boolean {
  switch (c) {
    case 0x2c: // ,
    case 0x5b: // [
    case 0x5d: // ]
    case 0x7b: // {
    case 0x7d: // }
    case 0x23: // #
    case 0x26: // &
    case 0x2a: // *
    case 0x21: // !
    case 0x7c: // |
    case 0x3e: // >
    case 0x27: // '
    case 0x22: // "
    case 0x25: // %
    case 0x40: // @
    case 0x60: // `
    case 0x2d: // - (`-1` is plain, but rare enough in keys; values check it below)
    case 0x3f: // ?
    case 0x3a: // :
      return true;
  }
  return false;
}

class FastReader {
  private pos = 0;
  private readonly stack: Frame[] = [];
  /** a map entry or list item whose value is on the following lines (and its mark, with comments) */
  private pending: { frame: Frame; index: number; col: number; mark: Mark | null } | null = null;
  /** with comments: the marks of keys, values and dashes and the comments, in document order */
  private readonly seq: Seq | null;
  private comments = 0;
  private rootC: Container | null = null;
  /** each key once, as a string of its own (keys repeat across maps; a view would keep the text alive) */
  private readonly keys = new Map<string, string>();

  constructor(private readonly src: string) {
    this.seq = src.includes('#') ? [] : null;
  }

  /** A new container (files with comments). */
  private container(node: MapNode | ListNode, parent: Frame | null, index: number): Container | null {
    if (!this.seq) return null;
    return { node, parent: parent ? parent.c : null, parentIndex: index, firstOff: -1, flow: false };
  }

  private mark(kind: MarkKind, off: number, end: number, frame: Frame, i: number, empty?: boolean): Mark | null {
    const seq = this.seq;
    if (!seq) return null;
    const c = frame.c!;
    if (c.firstOff < 0 && (kind === MarkKind.Key || kind === MarkKind.Dash)) c.firstOff = off;
    const m: Mark = empty === undefined ? { kind, off, end, c, i } : { kind, off, end, c, i, empty };
    seq.push(m);
    return m;
  }

  /** A comment from `#` at `off` to the line's end. */
  private comment(off: number, end: number): void {
    if (!this.seq) giveUp(); // (a `#` in a file without one: cannot be)
    this.seq.push({ off, text: this.src.slice(off + 1, end) });
    this.comments++;
  }

  /** Where a comment starts in `[i, end)` of a plain scalar (a `#` after a space), or `end`. */
  private commentStart(i: number, end: number): number {
    if (!this.seq) return end;
    const h = this.src.indexOf(' #', i);
    return h >= 0 && h < end ? h + 1 : end;
  }

  read(): Tree {
    const src = this.src;
    const n = src.length;
    let root: MapNode | null = null;
    while (this.pos < n) {
      const start = this.pos;
      let end = src.indexOf('\n', start);
      if (end < 0) end = n;
      this.pos = end + 1;
      let i = start;
      while (i < end && src.charCodeAt(i) === 0x20) i++;
      if (i === end) continue; // a blank line
      if (src.charCodeAt(i) === 0x23) {
        this.comment(i, end); // a comment line: no part of the structure
        continue;
      }
      const col = i - start;
      if (col === 0) {
        const c = src.charCodeAt(i);
        // document markers and directives
        if (c === 0x25) giveUp();
        if ((c === 0x2d || c === 0x2e) && src.startsWith(c === 0x2d ? '---' : '...', i)) giveUp();
      }
      if (root === null) {
        if (this.isDash(i, end)) giveUp(); // a sequence document: the full reader refuses it
        root = { kind: 'map', items: [] };
        this.rootC = this.container(root, null, 0);
        this.stack.push({ col, map: root, list: null, indentless: false, seen: new Set(), c: this.rootC });
        this.keyLine(this.stack[0]!, i, end);
        continue;
      }
      this.line(col, i, end);
    }
    if (root === null) giveUp();
    this.resolvePending(-1, false);
    if (this.comments > 0) {
      // placed as the full reader places them (load.ts)
      const placer = new Placer(new Lines(src), this.rootC!);
      placer.place(this.seq!);
      for (const [c, ins] of placer.inserts) applyInserts(c, ins);
    }
    return { docs: [root] };
  }

  private isDash(i: number, end: number): boolean {
    return this.src.charCodeAt(i) === 0x2d && (i + 1 === end || this.src.charCodeAt(i + 1) === 0x20);
  }

  /** The value of a pending entry or item, now that the next line's indentation is known. */
  private resolvePending(col: number, dash: boolean): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    let value: Node;
    const inMap = p.frame.map !== null;
    if (col > p.col || (inMap && dash && col === p.col)) {
      if (this.stack.length >= MAX_FRAMES) giveUp();
      if (dash) {
        const list: ListNode = { kind: 'list', items: [] };
        const c = this.container(list, p.frame, p.index);
        this.stack.push({ col, map: null, list, indentless: col === p.col, seen: null, c });
        value = list;
      } else {
        const map: MapNode = { kind: 'map', items: [] };
        const c = this.container(map, p.frame, p.index);
        this.stack.push({ col, map, list: null, indentless: false, seen: new Set(), c });
        value = map;
      }
      if (p.mark) p.mark.empty = false;
    } else value = { kind: 'null' };
    if (p.frame.map) (p.frame.map.items[p.index] as { value: Node }).value = value;
    else p.frame.list!.items[p.index] = value;
  }

  private line(col: number, i: number, end: number): void {
    const dash = this.isDash(i, end);
    this.resolvePending(col, dash);
    const stack = this.stack;
    let top = stack[stack.length - 1]!;
    while (top.col > col || (top.col === col && top.indentless && !dash)) {
      stack.pop();
      if (stack.length === 0) giveUp();
      top = stack[stack.length - 1]!;
    }
    if (top.col !== col) giveUp();
    if (top.map) {
      if (dash) giveUp();
      this.keyLine(top, i, end);
      return;
    }
    if (!dash) giveUp();
    this.item(top, i, end);
  }

  /** A sequence item: `- value`, `-` (value below), or `- key: value` (a map in the item). */
  private item(frame: Frame, i: number, end: number): void {
    const src = this.src;
    const list = frame.list!;
    let j = i + 1;
    while (j < end && src.charCodeAt(j) === 0x20) j++;
    const index = list.items.length;
    if (j === end || (src.charCodeAt(j) === 0x23 && j > i + 1)) {
      // `-` with its value below (or none), maybe a comment after it
      list.items.push({ kind: 'null' });
      const mark = this.mark(MarkKind.Dash, i, i + 1, frame, index, true);
      if (j < end) this.comment(j, end);
      this.pending = { frame, index, col: frame.col, mark };
      return;
    }
    if (this.isDash(j, end)) giveUp(); // `- - a`
    const c = src.charCodeAt(j);
    // a map in the item when the content is a key: a quoted scalar followed by `:`, or a plain one with `: `
    let isKey: boolean;
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(j, end);
      let k = q.end;
      while (k < end && src.charCodeAt(k) === 0x20) k++;
      isKey = k < end && src.charCodeAt(k) === 0x3a;
    } else isKey = this.keyEnd(j, end) >= 0;
    if (isKey) {
      if (this.stack.length >= MAX_FRAMES) giveUp();
      const map: MapNode = { kind: 'map', items: [] };
      list.items.push(map);
      this.mark(MarkKind.Dash, i, i + 1, frame, index, false);
      const f: Frame = {
        col: j - (i - frame.col),
        map,
        list: null,
        indentless: false,
        seen: new Set(),
        c: this.container(map, frame, index),
      };
      this.stack.push(f);
      this.keyLine(f, j, end);
      return;
    }
    this.mark(MarkKind.Dash, i, i + 1, frame, index, false);
    list.items.push(this.value(j, end, frame.col, frame, index, MarkKind.Item));
  }

  /** The offset of the `:` ending a plain key that starts at `i` (followed by a space or the line's end), or -1. */
  private keyEnd(i: number, end: number): number {
    const src = this.src;
    let k = src.indexOf(':', i);
    while (k >= 0 && k < end) {
      if (k + 1 === end || src.charCodeAt(k + 1) === 0x20) return k;
      k = src.indexOf(':', k + 1);
    }
    return -1;
  }

  /** `key: value` or `key:` (value below) in the map of `frame`. */
  private keyLine(frame: Frame, i: number, end: number): void {
    const src = this.src;
    const map = frame.map!;
    const c = src.charCodeAt(i);
    let key: string;
    let k: number; // the offset of the `:`
    let keyEndOff: number; // the offset after the key's text
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(i, end);
      key = q.text;
      k = q.end;
      while (k < end && src.charCodeAt(k) === 0x20) k++;
      if (k >= end || src.charCodeAt(k) !== 0x3a || (k + 1 < end && src.charCodeAt(k + 1) !== 0x20)) giveUp();
      keyEndOff = q.end;
    } else {
      if (isIndicator(c)) giveUp();
      k = this.keyEnd(i, end);
      if (k < 0) giveUp();
      // (a ` #` before the `:` starts a comment: not a key line)
      if (this.commentStart(i, k) < k) giveUp();
      let e = k;
      while (src.charCodeAt(e - 1) === 0x20) e--;
      key = src.slice(i, e);
      keyEndOff = e;
      // the merge key, and keys go-yaml refuses as too long for a simple key
      if (key === '<<' || k - i > 1000) giveUp();
    }
    let own = this.keys.get(key);
    if (own === undefined) this.keys.set(key, (own = flatCopy(key)));
    key = own;
    const seen = frame.seen!;
    if (seen.has(key)) giveUp(); // the full reader reports the duplicate
    seen.add(key);
    let v = k + 1;
    while (v < end && src.charCodeAt(v) === 0x20) v++;
    const index = map.items.length;
    if (v === end || (src.charCodeAt(v) === 0x23 && v > k + 1)) {
      // `key:` with its value below (or none), maybe a comment after it
      map.items.push({ kind: 'entry', key, value: { kind: 'null' } });
      const mark = this.mark(MarkKind.Key, i, keyEndOff, frame, index, true);
      if (v < end) this.comment(v, end);
      this.pending = { frame, index, col: frame.col, mark };
      return;
    }
    this.mark(MarkKind.Key, i, keyEndOff, frame, index, false);
    map.items.push({ kind: 'entry', key, value: this.value(v, end, frame.col, frame, index, MarkKind.Val) });
  }

  /**
   * A scalar value from `i` to the line's end or a comment (a block scalar: on the lines below,
   * deeper than `col`), the value of item `index` of `frame`, marked as `kind`.
   */
  private value(i: number, end: number, col: number, frame: Frame, index: number, kind: MarkKind): Node {
    const src = this.src;
    const c = src.charCodeAt(i);
    if (c === 0x7c || c === 0x3e) return this.block(i, end, col, frame, index, kind);
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(i, end);
      let k = q.end;
      while (k < end && src.charCodeAt(k) === 0x20) k++;
      this.mark(kind, i, q.end, frame, index);
      if (k !== end) {
        if (src.charCodeAt(k) !== 0x23 || k === q.end) giveUp();
        this.comment(k, end);
      }
      return { kind: 'scalar', type: 'str', text: q.text };
    }
    if (isIndicator(c)) {
      // `-`, `?` and `:` start a plain scalar when a non-space follows
      if (!(c === 0x2d || c === 0x3f || c === 0x3a) || i + 1 >= end || src.charCodeAt(i + 1) === 0x20) giveUp();
    }
    const h = this.commentStart(i, end);
    let e = h;
    while (src.charCodeAt(e - 1) === 0x20) e--;
    // `a: b: c` and `a: b:` are errors (the full reader reports them)
    const colon = src.indexOf(':', i);
    if (colon >= 0 && colon < e && (colon + 1 === e || this.keyEnd(i, e) >= 0)) giveUp();
    this.mark(kind, i, e, frame, index);
    if (h < end) this.comment(h, end);
    return resolvePlain(src.slice(i, e));
  }

  /**
   * A block scalar (`|`, `>`, with `-` or `+`, maybe a comment after): its content runs to the first
   * line that is not blank and less indented than its first line, which must be below the header and
   * deeper than `col`.
   */
  private block(i: number, end: number, col: number, frame: Frame, index: number, kind: MarkKind): Node {
    const src = this.src;
    const h = this.commentStart(i, end);
    let e = h;
    while (src.charCodeAt(e - 1) === 0x20) e--;
    const header = src.slice(i, e);
    if (!/^[|>][+-]?$/.test(header)) giveUp();
    const start = end + 1;
    const n = src.length;
    let p = start;
    while (p < n && src.charCodeAt(p) === 0x20) p++;
    const indent = p - start;
    if (p >= n || src.charCodeAt(p) === 0x0a || indent <= col) giveUp();
    // the end: the first line that is not blank and less indented than the first
    let line = start;
    while (line < n) {
      let nl = src.indexOf('\n', line);
      if (nl < 0) nl = n;
      let k = line;
      while (k < nl && src.charCodeAt(k) === 0x20) k++;
      if (k < nl && k - line < indent) break;
      line = nl + 1;
    }
    if (line > n) line = n;
    const r = blockScalarValue(src, header, start, col);
    if ('error' in r) giveUp();
    this.pos = line;
    if (this.seq) {
      // marked as the full reader marks it: from the header to the content's last character, the
      // header's line for a comment after it
      let t = line;
      while (t > start && /\s/.test(src[t - 1]!)) t--;
      const m = this.mark(kind, i, t > start ? t - 1 : i, frame, index);
      m!.lineEnd = i;
      if (h < end) this.comment(h, end);
    }
    return { kind: 'scalar', type: 'str', text: r.value };
  }

  /** A quoted scalar on one line starting at `i`: its text and the offset after the closing quote. */
  private quoted(i: number, end: number): { text: string; end: number } {
    const src = this.src;
    const q = src.charCodeAt(i);
    let text = '';
    let from = i + 1;
    if (q === 0x27) {
      for (;;) {
        const k = src.indexOf("'", from);
        if (k < 0 || k >= end) giveUp();
        text += src.slice(from, k);
        if (src.charCodeAt(k + 1) === 0x27) {
          text += "'";
          from = k + 2;
          continue;
        }
        return { text, end: k + 1 };
      }
    }
    for (let k = from; k < end; k++) {
      const c = src.charCodeAt(k);
      if (c === 0x22) return { text: text + src.slice(from, k), end: k + 1 };
      if (c !== 0x5c) continue;
      text += src.slice(from, k);
      const e = src.charCodeAt(k + 1);
      let w = 0; // hex digits of \x, \u, \U
      switch (e) {
        case 0x5c:
          text += '\\';
          break;
        case 0x22:
          text += '"';
          break;
        case 0x2f:
          text += '/';
          break;
        case 0x6e:
          text += '\n';
          break;
        case 0x74:
          text += '\t';
          break;
        case 0x72:
          text += '\r';
          break;
        case 0x30:
          text += '\0';
          break;
        case 0x78:
          w = 2;
          break;
        case 0x75:
          w = 4;
          break;
        case 0x55:
          w = 8;
          break;
        default:
          giveUp(); // the rarer escapes, and a line break: the full reader
      }
      if (w) {
        const hex = src.slice(k + 2, k + 2 + w);
        if (hex.length !== w || !/^[0-9a-fA-F]+$/.test(hex)) giveUp();
        const cp = parseInt(hex, 16);
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) giveUp();
        text += String.fromCodePoint(cp);
        k += w;
      }
      k++;
      from = k + 1;
    }
    return giveUp();
  }
}
