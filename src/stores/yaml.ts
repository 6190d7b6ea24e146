/**
 * The YAML store: sops's YAML files, read and written as sops 3.x (go-yaml v3) does.
 *
 * Reading uses the `yaml` package's parser (its CST, plus its composer to report malformed input)
 * and gives values sops's types (go-yaml's resolution rules, see yaml-scalars.ts: timestamps are
 * `time` values, as in sops ≥ 3.10). Comments become `Comment` items placed where sops puts them
 * (go-yaml's head/line/foot comment rules, flattened as sops flattens them; a comment on the line
 * of a scalar value is marked `inline`, as sops 3.13 keeps it there). Aliases are expanded into
 * copies, tags dropped after typing the value. Writing goes through yaml-emitter.ts, a port of
 * go-yaml's emitter, so encrypted files come out byte for byte as sops writes them.
 */
import { Composer, CST, Parser } from 'yaml';
import { FileError } from '../errors.js';
import {
  entry, fromPlain, getEntry, toPlain,
  type Comment, type ListNode, type MapNode, type Node, type Plain, type Scalar, type Tree,
} from '../tree/types.js';
import type { Store, StoreOptions } from './types.js';
import { printYamlDocuments, printYamlValue } from './yaml-emitter.js';
import { blockScalarValue, doubleQuotedError, goBase64, goParseInt, isTimestamp, resolvePlain, timestampRFC3339 } from './yaml-scalars.js';

/** The metadata key of every sops document. */
const SOPS_KEY = 'sops';

// ---------------------------------------------------------------------------------------------
// Positions

class Lines {
  private starts: number[] | null = null;
  constructor(private readonly src: string) {}
  private index(): number[] {
    if (this.starts) return this.starts;
    const s = [0];
    let i = -1;
    while ((i = this.src.indexOf('\n', i + 1)) !== -1) s.push(i + 1);
    this.starts = s;
    return s;
  }
  /** 0-based line of an offset. */
  line(off: number): number {
    const s = this.index();
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  /** 0-based column of an offset. */
  col(off: number): number {
    return off - this.index()[this.line(off)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Comment placement data gathered while building the tree

interface Container {
  node: MapNode | ListNode;
  parent: Container | null;
  /** index of this container's item in the parent */
  parentIndex: number;
  /** offset of its first item (key or `-`), for its indentation */
  firstOff: number;
  flow: boolean;
}

const enum MarkKind {
  /** a map key (its value follows on later lines, or is empty) */
  Key,
  /** a map value written on the key's line or later: scalar, alias or flow collection */
  Val,
  /** a sequence `-` whose value is a block collection or empty */
  Dash,
  /** a sequence item: scalar, alias or flow collection */
  Item,
}

interface Mark {
  kind: MarkKind;
  off: number;
  end: number;
  c: Container;
  i: number;
  /** for Key/Dash: the value is empty (null) */
  empty?: boolean;
  /** for Val/Item: the flow collection the value is */
  child?: Container;
  /** where the content's line ends for inline comments, when not `end` (block scalar headers) */
  lineEnd?: number;
}

interface CommentTok {
  off: number;
  text: string;
}

type Seq = Array<Mark | CommentTok>;
const isMark = (x: Mark | CommentTok): x is Mark => (x as Mark).kind !== undefined;

interface Insert {
  before: Map<number, Comment[]>;
  after: Map<number, Comment[]>;
  end: Comment[];
}

// ---------------------------------------------------------------------------------------------
// Building the tree from the CST

type Props = { anchor?: string; tag?: string };

const TAG_PREFIX = 'tag:yaml.org,2002:';

function normTag(tag: string): string {
  if (tag.startsWith('!!')) return TAG_PREFIX + tag.slice(2);
  if (tag.startsWith('!<') && tag.endsWith('>')) return tag.slice(2, -1);
  return tag;
}

function cloneNode(n: Node): Node {
  switch (n.kind) {
    case 'null':
      return { kind: 'null' };
    case 'scalar':
      return { ...n };
    case 'list':
      return { kind: 'list', items: n.items.map((i) => (i.kind === 'comment' ? { ...i } : cloneNode(i))) };
    case 'map':
      return {
        kind: 'map',
        items: n.items.map((i) => (i.kind === 'comment' ? { ...i } : entry(i.key, cloneNode(i.value)))),
      };
  }
}

class Builder {
  private readonly anchors = new Map<string, Node>();
  private readonly anchorSizes = new Map<string, number>();
  /** nodes of the current document, and those of them that come from expanding aliases */
  private decodeCount = 1;
  private aliasCount = 0;
  /** marks and comments of the current document, in document order (only when tracking) */
  seq: Seq = [];
  /** comments inside flow collections, attached directly */
  readonly flowComments = new Map<Container, Insert>();
  private flowStack: Container[] = [];
  /** the container of the last document's root map */
  root: Container | null = null;

  constructor(
    private readonly src: string,
    private readonly lines: Lines,
    private readonly track: boolean,
  ) {}

  /** The column of an offset (cheap: no line index). */
  column(off: number): number {
    return off - (this.src.lastIndexOf('\n', off - 1) + 1);
  }

  fail(off: number, msg: string): never {
    throw new FileError(`Error unmarshaling input YAML: ${msg} at line ${this.lines.line(off) + 1}, column ${this.lines.col(off) + 1}`);
  }

  /** Scan source tokens (start/sep/end arrays): collect props, record comments. */
  scan(toks: CST.Token[] | undefined, props: Props, onDash?: (off: number) => void): void {
    if (!toks) return;
    for (const tok of toks) {
      const t = tok as CST.SourceToken;
      switch (t.type) {
        case 'comment':
          this.comment(t.offset, t.source.slice(1));
          break;
        case 'anchor':
          props.anchor = t.source.slice(1);
          break;
        case 'tag':
          props.tag = normTag(t.source);
          break;
        case 'seq-item-ind':
          onDash?.(t.offset);
          break;
        default:
          if ((tok as { type: string }).type === 'error') this.fail(t.offset, (tok as unknown as CST.ErrorToken).message);
      }
    }
  }

  comment(off: number, text: string): void {
    if (!this.track) return;
    const flow = this.flowStack[this.flowStack.length - 1];
    if (flow) {
      let ins = this.flowComments.get(flow);
      if (!ins) this.flowComments.set(flow, (ins = { before: new Map(), after: new Map(), end: [] }));
      const idx = flow.node.items.length;
      // before the next item (the rebuild puts `before` of a missing index at the end)
      let list = ins.before.get(idx);
      if (!list) ins.before.set(idx, (list = []));
      list.push({ kind: 'comment', text });
      return;
    }
    this.seq.push({ off, text });
  }

  mark(m: Mark): void {
    if (this.track && this.flowStack.length === 0) this.seq.push(m);
  }

  /** `n` was built from node number `start` on (its size, aliases expanded, is what an alias to it costs). */
  register(props: Props, n: Node, start = this.decodeCount - 1): Node {
    if (props.anchor !== undefined) {
      this.anchors.set(props.anchor, n);
      this.anchorSizes.set(props.anchor, this.decodeCount - start);
    }
    return n;
  }

  /** A value with no node of its own (an empty value): counted as go-yaml counts it. */
  private registerEmpty(props: Props, n: Node): Node {
    this.decodeCount++;
    return this.register(props, n);
  }

  /** Start counting a new document's nodes (go-yaml counts per document, the document node first). */
  newDocument(): void {
    this.decodeCount = 1;
    this.aliasCount = 0;
  }

  /**
   * go-yaml's guard against alias bombs (decode.go, allowedAliasRatio): past 1000 nodes and 100
   * aliased ones, at most 99% of the nodes (10% from 4,000,000 nodes on) may come from aliases.
   */
  private checkAliasing(off: number): void {
    const d = this.decodeCount;
    const a = this.aliasCount;
    if (a <= 100 || d <= 1000) return;
    const allowed = d <= 400_000 ? 0.99 : d >= 4_000_000 ? 0.1 : 0.99 - (0.89 * (d - 400_000)) / 3_600_000;
    if (a / d > allowed) this.fail(off, 'document contains excessive aliasing');
  }

  /** A scalar token's text, as go-yaml's scanner reads it. */
  scalarText(tok: CST.FlowScalar | CST.BlockScalar): string {
    if (tok.type === 'block-scalar') {
      const header = tok.props[0] as CST.SourceToken;
      const last = tok.props[tok.props.length - 1] as CST.SourceToken;
      const r = blockScalarValue(this.src, header.source, last.offset + last.source.length, tok.indent);
      if ('error' in r) return this.fail(r.off, r.error);
      return r.value;
    }
    if (tok.type === 'double-quoted-scalar' && tok.source.includes('\\')) {
      const bad = doubleQuotedError(tok.source);
      if (bad) this.fail(tok.offset + bad.at, bad.error);
    }
    return CST.resolveAsScalar(tok, true).value;
  }

  /** A scalar token's tree value. */
  scalar(tok: CST.FlowScalar | CST.BlockScalar, props: Props): Node {
    const value = this.scalarText(tok);
    const tag = props.tag;
    if (tag !== undefined && tag !== '!') return this.tagged(tok.offset, value, tag);
    // (the non-specific tag `!` leaves a plain scalar to the resolver, as go-yaml does)
    if (tok.type === 'scalar') return resolvePlain(value);
    return { kind: 'scalar', type: 'str', text: value };
  }

  /** A scalar with an explicit tag, as go-yaml decodes it into `interface{}`. */
  private tagged(off: number, value: string, tag: string): Node {
    switch (tag) {
      case TAG_PREFIX + 'str':
        return { kind: 'scalar', type: 'str', text: value };
      case TAG_PREFIX + 'timestamp': {
        if (isTimestamp(value)) return { kind: 'scalar', type: 'time', text: timestampRFC3339(value) };
        const v = resolvePlain(value);
        return this.fail(off, `cannot decode a !!${v.kind === 'null' ? 'null' : v.type} value as a !!timestamp`);
      }
      case TAG_PREFIX + 'binary': {
        const raw = goBase64(value);
        if (!raw) return this.fail(off, '!!binary value contains invalid base64 data');
        const text = raw.toString('utf8');
        return Buffer.from(text, 'utf8').equals(raw)
          ? { kind: 'scalar', type: 'str', text }
          : { kind: 'scalar', type: 'str', text, raw };
      }
      case TAG_PREFIX + 'null':
      case TAG_PREFIX + 'bool':
      case TAG_PREFIX + 'int':
      case TAG_PREFIX + 'float': {
        const v = resolvePlain(value);
        const want = tag.slice(TAG_PREFIX.length);
        const got = v.kind === 'null' ? 'null' : v.type;
        // (an integer beyond int64 is a float in tsops, but go-yaml's uint64 does not convert)
        const uint = got === 'float' && goParseInt(value.replace(/_/g, ''), true) !== null;
        if (got === want && !uint) return v;
        if (want === 'float' && got === 'int') return { kind: 'scalar', type: 'float', text: (v as Scalar).text };
        if (uint) return this.fail(off, `cannot decode a !!int value as a !!${want}`);
        // (go-yaml quotes the value here; a file of secrets must not have it printed)
        return this.fail(off, `cannot decode a !!${got} value as a !!${want}`);
      }
      default:
        // unknown tags: the value as a string
        return { kind: 'scalar', type: 'str', text: value };
    }
  }

  /** An empty value: null, or what its tag makes of the empty string. */
  empty(props: Props, off: number): Node {
    return props.tag === undefined || props.tag === '!' ? { kind: 'null' } : this.tagged(off, '', props.tag);
  }

  /** The text of a map key: keys are always strings (a non-string key keeps its source text). */
  key(tok: CST.Token | null | undefined, props: Props): string {
    this.decodeCount++;
    if (!tok) return '';
    switch (tok.type) {
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
      case 'block-scalar': {
        const text = this.scalarText(tok);
        if (tok.type === 'block-scalar') this.scan(tok.props, {});
        else this.scan(tok.end, {});
        if (props.anchor !== undefined) this.anchors.set(props.anchor, { kind: 'scalar', type: 'str', text });
        return text;
      }
      case 'alias': {
        const target = this.anchors.get(tok.source.slice(1));
        this.scan(tok.end, {});
        if (target && target.kind === 'scalar') return target.text;
        return tok.source;
      }
      case 'error':
        return this.fail(tok.offset, tok.message);
      default:
        return CST.stringify(tok).trim();
    }
  }

  /** A value token (with the props that precede it) as a tree node. */
  value(tok: CST.Token, props: Props, parent: Container | null, index: number, inMap: boolean): Node {
    const start = this.decodeCount++;
    switch (tok.type) {
      case 'alias': {
        const name = tok.source.slice(1);
        const target = this.anchors.get(name);
        if (!target) this.fail(tok.offset, `unknown anchor '${name}' referenced`);
        // (counted before copying: an alias bomb stops here, not in an out-of-memory abort)
        const size = this.anchorSizes.get(name) ?? 1;
        this.decodeCount += size;
        this.aliasCount += size;
        this.checkAliasing(tok.offset);
        if (parent) this.mark({ kind: inMap ? MarkKind.Val : MarkKind.Item, off: tok.offset, end: tok.offset + tok.source.length, c: parent, i: index });
        this.scan(tok.end, {});
        return cloneNode(target);
      }
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar': {
        const n = this.register(props, this.scalar(tok, props), start);
        if (parent) this.mark({ kind: inMap ? MarkKind.Val : MarkKind.Item, off: tok.offset, end: tok.offset + tok.source.length, c: parent, i: index });
        this.scan(tok.end, {});
        return n;
      }
      case 'block-scalar': {
        const n = this.register(props, this.scalar(tok, props), start);
        // a comment after the header is inline; later ones come after the content
        const last = tok.props[tok.props.length - 1];
        const contentStart = last ? last.offset + (last as CST.SourceToken).source.length : tok.offset;
        const trimmed = tok.source.trimEnd().length;
        const end = trimmed > 0 ? contentStart + trimmed - 1 : tok.offset;
        if (parent) this.mark({ kind: inMap ? MarkKind.Val : MarkKind.Item, off: tok.offset, end, lineEnd: tok.offset, c: parent, i: index });
        this.scan(tok.props, {});
        return n;
      }
      case 'block-map':
        return this.register(props, this.blockMap(tok, parent, index), start);
      case 'block-seq':
        return this.register(props, this.blockSeq(tok, parent, index), start);
      case 'flow-collection':
        return this.register(props, this.flow(tok, props, parent, index, inMap), start);
      default:
        return this.fail(tok.offset, `unexpected ${tok.type}`);
    }
  }

  private blockMap(tok: CST.BlockMap, parent: Container | null, index: number): MapNode {
    const m: MapNode = { kind: 'map', items: [] };
    const c: Container = { node: m, parent, parentIndex: index, firstOff: -1, flow: false };
    if (!parent) this.root = c;
    const seen = new Set<string>();
    let firstCol = -1;
    for (const it of tok.items) {
      const keyProps: Props = {};
      this.scan(it.start, keyProps);
      // an item made only of comments (after the last entry)
      if (!it.key && !it.sep && !it.value && !it.start.some((t) => t.type === 'explicit-key-ind')) continue;
      const i = m.items.length;
      const keyOff = it.key ? it.key.offset : (it.start.find((t) => t.type === 'explicit-key-ind')?.offset ?? it.start[0]?.offset ?? tok.offset);
      if (c.firstOff < 0) c.firstOff = keyOff;
      // every key of a block map at one column (an explicit key from its `?`)
      const colOff = it.start.find((t) => t.type === 'explicit-key-ind')?.offset ?? keyOff;
      if (m.items.length === 0) firstCol = this.column(colOff);
      else if (this.column(colOff) !== firstCol) this.fail(colOff, 'did not find expected key');
      const keyEnd = it.key && 'source' in it.key && typeof it.key.source === 'string' && it.key.type !== 'block-scalar'
        ? it.key.offset + it.key.source.length
        : keyOff;
      // the structure go-yaml checks that the CST leaves to the composer (cheap: the fast path relies on it)
      if (!it.start.some((t) => t.type === 'explicit-key-ind')) {
        if (!it.sep?.some((t) => t.type === 'map-value-ind')) this.fail(keyOff, "could not find expected ':'");
        const k = it.key as { type: string; source?: unknown } | null | undefined;
        if (k && typeof k.source === 'string' && k.type !== 'block-scalar' && k.source.includes('\n')) {
          this.fail(keyOff, 'mapping values are not allowed in this context');
        }
      }
      if (it.value && (it.value.type === 'block-map' || it.value.type === 'block-seq') && !it.sep?.some((t) => t.type === 'newline')) {
        this.fail(it.value.offset, it.value.type === 'block-map' ? 'mapping values are not allowed in this context' : 'block sequence entries are not allowed in this context');
      }
      const keyMarkPos = this.seq.length;
      const key = this.key(it.key, keyProps);
      if (seen.has(key)) this.fail(keyOff, `mapping key ${JSON.stringify(key)} already defined`);
      seen.add(key);
      const vProps: Props = {};
      const v = it.value;
      if (this.track && this.flowStack.length === 0) {
        // the key mark goes before any comment found inside the key token
        this.seq.splice(keyMarkPos, 0, { kind: MarkKind.Key, off: keyOff, end: keyEnd, c, i, empty: !v });
      }
      this.scan(it.sep, vProps);
      let value: Node;
      if (v) value = this.value(v, vProps, c, i, true);
      else value = this.registerEmpty(vProps, this.empty(vProps, keyOff));
      m.items.push(entry(key, value));
    }
    return m;
  }

  private blockSeq(tok: CST.BlockSequence, parent: Container | null, index: number): ListNode {
    const l: ListNode = { kind: 'list', items: [] };
    const c: Container = { node: l, parent, parentIndex: index, firstOff: -1, flow: false };
    for (const it of tok.items) {
      const i = l.items.length;
      const props: Props = {};
      if (!it.value && !it.start.some((t) => t.type === 'seq-item-ind')) {
        this.scan(it.start, props);
        continue;
      }
      this.scan(it.start, props, (off) => {
        if (c.firstOff < 0) c.firstOff = off;
        else if (this.column(off) !== this.column(c.firstOff)) this.fail(off, "did not find expected '-' indicator");
        this.mark({ kind: MarkKind.Dash, off, end: off + 1, c, i, empty: !it.value });
      });
      const value = it.value ? this.value(it.value, props, c, i, false) : this.registerEmpty(props, this.empty(props, tok.offset));
      l.items.push(value);
    }
    return l;
  }

  private flow(tok: CST.FlowCollection, _props: Props, parent: Container | null, index: number, inMap: boolean): Node {
    const isMap = tok.start.source === '{';
    const node: MapNode | ListNode = isMap ? { kind: 'map', items: [] } : { kind: 'list', items: [] };
    const c: Container = { node, parent, parentIndex: index, firstOff: tok.offset, flow: true };
    if (!parent) this.root = c;
    this.flowStack.push(c);
    const seen = new Set<string>();
    for (const it of tok.items) {
      const kp: Props = {};
      this.scan(it.start, kp);
      // nothing but spaces or comments (`[ ]`, `{a: 1, }`): no item
      if (it.key == null && it.value == null && !it.sep?.length && !it.start.some((t) => t.type !== 'space' && t.type !== 'comment' && t.type !== 'newline' && t.type !== 'comma')) continue;
      if (isMap || it.key !== undefined || it.sep) {
        const key = this.key(it.key, kp);
        if (isMap) {
          if (seen.has(key)) this.fail(it.key?.offset ?? tok.offset, `mapping key ${JSON.stringify(key)} already defined`);
          seen.add(key);
        }
        const vp: Props = {};
        this.scan(it.sep, vp);
        const value = it.value ? this.value(it.value, vp, c, node.items.length, true) : this.registerEmpty(vp, { kind: 'null' });
        if (isMap) (node as MapNode).items.push(entry(key, value));
        else (node as ListNode).items.push({ kind: 'map', items: [entry(key, value)] });
      } else {
        const value = it.value ? this.value(it.value, kp, c, node.items.length, false) : { kind: 'null' as const };
        (node as ListNode).items.push(value);
      }
    }
    // comments before the closing bracket
    let endOff = tok.offset + 1;
    let closed = false;
    const after: CST.SourceToken[] = [];
    for (const t of tok.end) {
      if (!closed) {
        if (t.type === 'flow-map-end' || t.type === 'flow-seq-end') {
          closed = true;
          endOff = t.offset + 1;
        } else if (t.type === 'comment') this.comment(t.offset, t.source.slice(1));
      } else after.push(t);
    }
    const want = isMap ? 'flow-map-end' : 'flow-seq-end';
    if (!closed || !tok.end.some((t) => t.type === want)) this.fail(closed ? endOff - 1 : tok.offset, `did not find expected ',' or '${isMap ? '}' : ']'}'`);
    this.flowStack.pop();
    if (parent) this.mark({ kind: inMap ? MarkKind.Val : MarkKind.Item, off: tok.offset, end: endOff, c: parent, i: index, child: c });
    this.scan(after, {});
    return node;
  }
}

// ---------------------------------------------------------------------------------------------
// Comment placement (go-yaml's head / line / foot comment rules, as sops flattens them)

class Placer {
  readonly inserts = new Map<Container, Insert>();
  constructor(private readonly lines: Lines, private readonly root: Container) {}

  private ins(c: Container): Insert {
    let x = this.inserts.get(c);
    if (!x) this.inserts.set(c, (x = { before: new Map(), after: new Map(), end: [] }));
    return x;
  }
  private before(c: Container, i: number, cm: Comment): void {
    const x = this.ins(c);
    let l = x.before.get(i);
    if (!l) x.before.set(i, (l = []));
    l.push(cm);
  }
  private after(c: Container, i: number, cm: Comment): void {
    const x = this.ins(c);
    let l = x.after.get(i);
    if (!l) x.after.set(i, (l = []));
    l.push(cm);
  }
  private end(c: Container, cm: Comment): void {
    this.ins(c).end.push(cm);
  }
  private endOf(c: Container, text: string): void {
    this.end(c, { kind: 'comment', text });
  }

  private indent(c: Container): number {
    return c.firstOff < 0 ? 0 : this.lines.col(c.firstOff);
  }

  /** The chain of containers from c up to the root. */
  private chain(c: Container): Container[] {
    const out: Container[] = [];
    for (let x: Container | null = c; x; x = x.parent) out.push(x);
    return out;
  }

  /**
   * Place every comment of one document. `docStart` is the offset of its `---`, and `prevRoot` the
   * root of the document before: go-yaml gives a comment block right under `---` and followed by
   * a blank line to the document before.
   */
  place(seq: Seq, docStart = -1, prevRoot: Container | null = null): void {
    let prev: Mark | null = null;
    let run: CommentTok[] = [];
    if (docStart >= 0 && prevRoot) {
      const L = this.lines;
      let k = 0;
      let line = L.line(docStart);
      while (k < seq.length && !isMark(seq[k]!) && L.line(seq[k]!.off) === line + 1) {
        line++;
        k++;
      }
      const next = seq[k];
      if (k > 0 && (!next || L.line(next.off) > line + 1)) {
        for (let j = 0; j < k; j++) this.endOf(prevRoot, (seq[j] as CommentTok).text);
        seq = seq.slice(k);
      }
    }
    for (const x of seq) {
      if (isMark(x)) {
        if (run.length) this.placeRun(prev, run, x);
        run = [];
        prev = x;
      } else run.push(x);
    }
    if (run.length) this.placeRun(prev, run, null);
  }

  private placeRun(p: Mark | null, run: CommentTok[], n: Mark | null): void {
    const L = this.lines;
    let k = 0;
    const pLine = p ? L.line(p.end) : -1;
    if (p && L.line(run[0]!.off) === L.line(p.lineEnd ?? p.end)) {
      this.inline(p, run[0]!.text, n);
      k = 1;
      if (k === run.length) return;
    }
    const rest = run.slice(k);
    if (!p) {
      // before the first content: heads of the first item
      for (const c of rest) this.head(n, c.text);
      return;
    }
    const cp = p.c;
    const nextIndent = cp.flow ? 0 : this.indent(cp);
    const tokenIsValue = p.kind === MarkKind.Key;
    const footLine = pLine + 1;
    let firstEmpty = L.line(rest[0]!.off) - pLine <= 1;
    let recentEmpty = false;
    let text: Array<{ line: number; col: number; text: string }> = [];
    let flushes = 0;
    const feet: Array<{ cs: string[]; col: number; prior: boolean }> = [];
    const flush = (dedentedBlank: boolean) => {
      feet.push({ cs: text.map((t) => t.text), col: text[0]!.col, prior: flushes === 0 && !dedentedBlank });
      flushes++;
      text = [];
    };
    const blankCheck = () => {
      if (!recentEmpty && text.length && firstEmpty) {
        const start = text[0]!;
        if ((start.line === footLine && !tokenIsValue) || start.col < nextIndent) flush(start.col < nextIndent);
      }
    };
    let prevLine = pLine;
    for (const c of rest) {
      const line = L.line(c.off);
      const col = L.col(c.off);
      if (line - prevLine > 1) {
        blankCheck();
        firstEmpty = false;
        recentEmpty = true;
      }
      if (text.length && col < nextIndent && col !== text[0]!.col) flush(false);
      text.push({ line, col, text: c.text });
      recentEmpty = false;
      prevLine = line;
    }
    if (n) {
      const line = L.line(n.off);
      const col = L.col(n.off);
      if (line - prevLine > 1) {
        blankCheck();
        firstEmpty = false;
        recentEmpty = true;
      }
      if (text.length && col < nextIndent && col !== text[0]!.col) flush(false);
    } else {
      blankCheck();
    }
    // feet: after the prior content, or (dedented) in the enclosing collection their column selects
    const chain = this.chain(cp);
    const stop = n ? this.commonAncestor(cp, n.c) : this.root;
    for (const f of feet) {
      if (f.prior) {
        for (const t of f.cs) this.after(cp, p.i, { kind: 'comment', text: t });
        continue;
      }
      let target = cp;
      let idx = p.i;
      for (let j = 0; j < chain.length; j++) {
        const x = chain[j]!;
        target = x;
        idx = j === 0 ? p.i : chain[j - 1]!.parentIndex;
        // (a sequence keeps a dedented foot only when it is indented deeper than its dashes)
        const ind = this.indent(x);
        if (x === stop || (!x.flow && (x.node.kind === 'list' ? ind < f.col : ind <= f.col))) break;
      }
      for (const t of f.cs) this.after(target, idx, { kind: 'comment', text: t });
    }
    // the rest: heads of the next item, or the end of the document
    if (n) {
      for (const t of text) this.head(n, t.text);
    } else {
      for (const t of text) this.end(this.root, { kind: 'comment', text: t.text });
    }
  }

  private commonAncestor(a: Container, b: Container): Container {
    const seen = new Set<Container>();
    for (let x: Container | null = a; x; x = x.parent) seen.add(x);
    for (let x: Container | null = b; x; x = x.parent) if (seen.has(x)) return x;
    return this.root;
  }

  private head(n: Mark | null, text: string): void {
    if (!n) this.end(this.root, { kind: 'comment', text });
    else this.before(n.c, n.i, { kind: 'comment', text });
  }

  /** A comment on the same line as the content before it. */
  private inline(p: Mark, text: string, n: Mark | null): void {
    switch (p.kind) {
      case MarkKind.Val:
        if (p.child) {
          // go-yaml gives it to the collection; sops puts it first inside
          const x = this.ins(p.child);
          let l = x.before.get(0);
          if (!l) x.before.set(0, (l = []));
          l.unshift({ kind: 'comment', text });
          return;
        }
        this.before(p.c, p.i, { kind: 'comment', text, inline: true } as Comment);
        return;
      case MarkKind.Item:
        this.before(p.c, p.i, { kind: 'comment', text, inline: true } as Comment);
        return;
      case MarkKind.Key:
        this.before(p.c, p.i, { kind: 'comment', text });
        return;
      case MarkKind.Dash:
        if (p.empty || !n) this.after(p.c, p.i, { kind: 'comment', text });
        else this.head(n, text);
        return;
    }
  }
}

/** Rebuild a container's items with its inserted comments. */
function applyInserts(c: Container, ins: Insert): void {
  const items = c.node.items as Array<unknown>;
  const out: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    const b = ins.before.get(i);
    if (b) out.push(...b);
    out.push(items[i]);
    const a = ins.after.get(i);
    if (a) out.push(...a);
  }
  for (const [i, b] of ins.before) if (i >= items.length) out.push(...b);
  for (const [i, a] of ins.after) if (i >= items.length) out.push(...a);
  out.push(...ins.end);
  (c.node as { items: unknown[] }).items = out;
}

// ---------------------------------------------------------------------------------------------
// Loading

function errorAt(lines: Lines, off: number, message: string): FileError {
  const msg = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '');
  return new FileError(`Error unmarshaling input YAML: ${msg} at line ${lines.line(off) + 1}, column ${lines.col(off) + 1}`);
}

/** Parse YAML text into one map per document, as sops's YAML store reads it. */
/**
 * Parse YAML into the tree. `validate` runs the yaml Composer over the whole file to report
 * malformed YAML the CST parser accepts; it costs about a third of the parse, so files written by
 * sops/tsops skip it (their MAC catches any damage, and `check` is run then to name the YAML error).
 */
export function parseYaml(src: string, validate = true): Tree {
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  const lines = new Lines(src);
  const tokens = Array.from(new Parser().parse(src));
  // the composer reports malformed YAML (the CST parser alone accepts almost anything)
  // (duplicate keys are checked while building: the composer's check is quadratic)
  if (validate) composeCheck(src, lines, tokens);
  const track = src.includes('#');
  const builder = new Builder(src, lines, track);
  const docs: MapNode[] = [];
  const placements: Array<{ seq: Seq; root: Container; docStart: number }> = [];
  let prevSeq: Seq | null = null;
  // comments outside any document: before the next one (or after the last)
  let pending: CST.SourceToken[] = [];
  let yamlDirective = false;
  for (const tok of tokens) {
    if (tok.type === 'error') throw errorAt(lines, tok.offset, tok.message);
    if (tok.type === 'directive') {
      // go-yaml v3.0.1 takes `%YAML 1.1` only, once per document
      const m = /^%YAML[ \t]+(\S+)/.exec(tok.source);
      if (m) {
        if (yamlDirective) throw errorAt(lines, tok.offset, 'found duplicate %YAML directive');
        if (m[1] !== '1.1') throw errorAt(lines, tok.offset, 'found incompatible YAML document');
        yamlDirective = true;
      }
      continue;
    }
    if (tok.type === 'comment') {
      pending.push(tok);
      continue;
    }
    if (tok.type === 'doc-end') {
      // comments after `...` belong to the document before
      if (prevSeq) {
        builder.seq = prevSeq;
        builder.scan(tok.end, {});
      }
      continue;
    }
    if (tok.type !== 'document') continue;
    yamlDirective = false;
    // comments before `---` belong to the document before
    let startToks = tok.start;
    const ds = tok.start.findIndex((t) => t.type === 'doc-start');
    const docStart = ds >= 0 ? tok.start[ds]!.offset : -1;
    if (ds > 0 && prevSeq) {
      builder.seq = prevSeq;
      builder.scan(tok.start.slice(0, ds), {});
      startToks = tok.start.slice(ds);
    }
    builder.seq = [];
    builder.root = null;
    builder.newDocument();
    builder.scan(pending, {});
    pending = [];
    const props: Props = {};
    const root: MapNode = { kind: 'map', items: [] };
    let rootC: Container = { node: root, parent: null, parentIndex: 0, firstOff: -1, flow: false };
    builder.scan(startToks, props);
    const v = tok.value;
    let content: Node | null = null;
    if (v) {
      if (v.type === 'block-map') {
        const m = builder.value(v, props, null, 0, true) as MapNode;
        content = m;
      } else if (v.type === 'block-seq' || (v.type === 'flow-collection' && v.start.source === '[')) {
        throw new FileError('Error unmarshaling input YAML: YAML documents that are sequences are not supported');
      } else if (v.type === 'flow-collection') {
        content = builder.value(v, props, null, 0, true);
      } else if (v.type === 'alias') {
        content = builder.value(v, props, null, 0, true);
        if (content.kind === 'list') throw new FileError('Error unmarshaling input YAML: YAML documents that are sequences are not supported');
        if (content.kind === 'scalar') throw new FileError('Error unmarshaling input YAML: YAML documents that are values are not supported');
      } else {
        const s = builder.value(v, props, null, 0, true);
        if (s.kind !== 'null') throw new FileError('Error unmarshaling input YAML: YAML documents that are values are not supported');
      }
    }
    builder.scan(tok.end, {});
    const doc: MapNode = content && content.kind === 'map' ? content : root;
    if (track) {
      const r = builder.root as Container | null;
      if (r && r.node === doc) rootC = r;
      else rootC.node = doc;
      placements.push({ seq: builder.seq, root: rootC, docStart });
    }
    prevSeq = builder.seq;
    docs.push(doc);
  }
  if (pending.length && prevSeq) {
    builder.seq = prevSeq;
    builder.scan(pending, {});
  }
  if (track) {
    const inserts: Array<Map<Container, Insert>> = [];
    placements.forEach(({ seq, root, docStart }, pi) => {
      const placer = new Placer(lines, root);
      placer.place(seq, docStart, pi > 0 ? placements[pi - 1]!.root : null);
      inserts.push(placer.inserts);
    });
    const all = new Map<Container, Insert>(builder.flowComments);
    for (const m of inserts) {
      for (const [c, ins] of m) {
        const prevIns = all.get(c);
        if (prevIns) {
          for (const [i, l] of ins.before) prevIns.before.set(i, [...l, ...(prevIns.before.get(i) ?? [])]);
          for (const [i, l] of ins.after) prevIns.after.set(i, [...(prevIns.after.get(i) ?? []), ...l]);
          prevIns.end.push(...ins.end);
        } else all.set(c, ins);
      }
    }
    for (const [c, ins] of all) applyInserts(c, ins);
  }
  return { docs };
}

// ---------------------------------------------------------------------------------------------
// The store

function yamlIndent(opts: StoreOptions | undefined): number {
  const n = opts?.indent;
  if (n === undefined || n === 0) return 4;
  if (n < 0) throw new FileError('YAML Negative indentation not accepted');
  return n;
}

/** Throw the first error the yaml Composer finds (bad indentation, unclosed flows, …). */
function composeCheck(src: string, lines: Lines, tokens: Iterable<CST.Token>): void {
  const composer = new Composer({ schema: 'failsafe', uniqueKeys: false, strict: true });
  for (const doc of composer.compose(tokens, true, src.length)) {
    const err = doc.errors[0];
    if (err) throw errorAt(lines, err.pos[0], err.message);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** What go-yaml's reader refuses: characters outside YAML's printable set (a BOM only first). */
const NOT_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|(?!^)\uFEFF/;

/**
 * The text of a YAML file, refused as go-yaml refuses it: invalid UTF-8 (never replaced by U+FFFD)
 * and control characters.
 */
function decode(data: Buffer): string {
  let src: string;
  try {
    src = UTF8.decode(data);
  } catch {
    throw new FileError(`Error unmarshaling input YAML: ${utf8Problem(data)}`);
  }
  const bad = NOT_PRINTABLE.exec(src);
  if (bad) throw errorAt(new Lines(src), bad.index, 'control characters are not allowed');
  return src;
}

/** go-yaml's reader message (and byte offset) for the first invalid UTF-8 sequence. */
function utf8Problem(b: Buffer): string {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : 0;
    if (n === 0) return `invalid leading UTF-8 octet at byte ${i}`;
    if (i + n > b.length) return `incomplete UTF-8 octet sequence at byte ${i}`;
    let v = n === 1 ? c : n === 2 ? c & 0x1f : n === 3 ? c & 0x0f : c & 0x07;
    for (let k = 1; k < n; k++) {
      const t = b[i + k]!;
      if ((t & 0xc0) !== 0x80) return `invalid trailing UTF-8 octet at byte ${i + k}`;
      v = (v << 6) + (t & 0x3f);
    }
    if (!(n === 1 || (n === 2 && v >= 0x80) || (n === 3 && v >= 0x800) || (n === 4 && v >= 0x10000))) return `invalid length of a UTF-8 sequence at byte ${i}`;
    if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return `invalid Unicode character at byte ${i}`;
    i += n;
  }
  return 'invalid UTF-8';
}

/** The YAML store (sops's `stores/yaml`). */
export function createYamlStore(opts?: StoreOptions): Store {
  const indent = () => yamlIndent(opts);
  return {
    format: 'yaml',
    loadPlain(data: Buffer): Tree {
      return parseYaml(decode(data));
    },
    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined } {
      const tree = parseYaml(decode(data), false);
      let metadata: Plain | undefined;
      tree.docs.forEach((doc, di) => {
        if (di === 0) {
          const meta = getEntry(doc, SOPS_KEY);
          if (meta) {
            if (meta.value.kind !== 'map') throw new FileError(`Found ${SOPS_KEY} entry that is not a mapping`);
            metadata = toPlain(meta.value);
          }
        }
        doc.items = doc.items.filter((it) => it.kind !== 'entry' || it.key !== SOPS_KEY);
      });
      return { tree, metadata };
    },
    check(data: Buffer): void {
      let src = decode(data);
      if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
      composeCheck(src, new Lines(src), new Parser().parse(src));
    },
    emitPlain(tree: Tree): Buffer {
      return Buffer.from(printYamlDocuments(tree.docs, { indent: indent() }), 'utf8');
    },
    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      const meta = fromPlain(metadata);
      const docs = (tree.docs.length ? tree.docs : [{ kind: 'map', items: [] } as MapNode]).map(
        (d): MapNode => ({ kind: 'map', items: [...d.items, entry(SOPS_KEY, meta)] }),
      );
      return Buffer.from(printYamlDocuments(docs, { indent: indent() }), 'utf8');
    },
    emitValue(node: Node): Buffer {
      return Buffer.from(printYamlValue(node), 'utf8');
    },
  };
}
