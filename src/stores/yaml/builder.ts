/**
 * Building the tree from the `yaml` package's CST, as go-yaml reads it for sops: scalars typed by
 * go-yaml's resolver, tags applied, aliases expanded into copies (counted against go-yaml's alias
 * ratio), the structure checks the CST leaves to the composer, and the marks that comment
 * placement needs.
 */
import { CST } from 'yaml';
import { FileError } from '../../errors.js';
import { entry, type ListNode, type MapNode, type Node, type Scalar } from '../../tree/types.js';
import { Lines } from './lines.js';
import { type Container, type Insert, type Mark, MarkKind, type Seq } from './marks.js';
import { goParseInt, isTimestamp, resolvePlain, timestampRFC3339 } from './resolve.js';
import { blockScalarValue, doubleQuotedError, goBase64 } from './scan.js';

export type Props = { anchor?: string; tag?: string };

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

/** The deepest nesting go-yaml reads. */
const MAX_DEPTH = 10_000;

export class Builder {
  private readonly anchors = new Map<string, Node>();
  private readonly anchorSizes = new Map<string, number>();
  /** nodes of the current document, and those of them that come from expanding aliases */
  private decodeCount = 1;
  private aliasCount = 0;
  /** collections open around the current node */
  private depth = 0;
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
    throw new FileError(
      `Error unmarshaling input YAML: ${msg} at line ${this.lines.line(off) + 1}, column ${this.lines.col(off) + 1}`,
    );
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
          if ((tok as { type: string }).type === 'error')
            this.fail(t.offset, (tok as unknown as CST.ErrorToken).message);
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
        if (parent)
          this.mark({
            kind: inMap ? MarkKind.Val : MarkKind.Item,
            off: tok.offset,
            end: tok.offset + tok.source.length,
            c: parent,
            i: index,
          });
        this.scan(tok.end, {});
        return cloneNode(target);
      }
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar': {
        const n = this.register(props, this.scalar(tok, props), start);
        if (parent)
          this.mark({
            kind: inMap ? MarkKind.Val : MarkKind.Item,
            off: tok.offset,
            end: tok.offset + tok.source.length,
            c: parent,
            i: index,
          });
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
        if (parent)
          this.mark({
            kind: inMap ? MarkKind.Val : MarkKind.Item,
            off: tok.offset,
            end,
            lineEnd: tok.offset,
            c: parent,
            i: index,
          });
        this.scan(tok.props, {});
        return n;
      }
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        // go-yaml's limit (max_indents / max_flow_level)
        if (++this.depth > MAX_DEPTH) this.fail(tok.offset, `exceeded max depth of ${MAX_DEPTH}`);
        const n =
          tok.type === 'block-map'
            ? this.blockMap(tok, parent, index)
            : tok.type === 'block-seq'
              ? this.blockSeq(tok, parent, index)
              : this.flow(tok, props, parent, index, inMap);
        this.depth--;
        return this.register(props, n, start);
      }
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
      if (!it.key && !it.sep && !it.start.some((t) => t.type === 'explicit-key-ind')) continue;
      const i = m.items.length;
      const keyOff = it.key
        ? it.key.offset
        : (it.start.find((t) => t.type === 'explicit-key-ind')?.offset ?? it.start[0]?.offset ?? tok.offset);
      if (c.firstOff < 0) c.firstOff = keyOff;
      // every key of a block map at one column (an explicit key from its `?`)
      const colOff = it.start.find((t) => t.type === 'explicit-key-ind')?.offset ?? keyOff;
      if (m.items.length === 0) firstCol = this.column(colOff);
      else if (this.column(colOff) !== firstCol) this.fail(colOff, 'did not find expected key');
      const keyEnd =
        it.key && 'source' in it.key && typeof it.key.source === 'string' && it.key.type !== 'block-scalar'
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
      if (
        it.value &&
        (it.value.type === 'block-map' || it.value.type === 'block-seq') &&
        !it.sep.some((t) => t.type === 'newline')
      ) {
        this.fail(
          it.value.offset,
          it.value.type === 'block-map'
            ? 'mapping values are not allowed in this context'
            : 'block sequence entries are not allowed in this context',
        );
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
      const value = it.value
        ? this.value(it.value, props, c, i, false)
        : this.registerEmpty(props, this.empty(props, tok.offset));
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
      if (
        it.key == null &&
        it.value == null &&
        !it.sep?.length &&
        !it.start.some((t) => t.type !== 'space' && t.type !== 'comment' && t.type !== 'newline' && t.type !== 'comma')
      )
        continue;
      if (isMap || it.key !== undefined || it.sep) {
        const key = this.key(it.key, kp);
        if (isMap) {
          if (seen.has(key))
            this.fail(it.key?.offset ?? tok.offset, `mapping key ${JSON.stringify(key)} already defined`);
          seen.add(key);
        }
        const vp: Props = {};
        this.scan(it.sep, vp);
        const value = it.value
          ? this.value(it.value, vp, c, node.items.length, true)
          : this.registerEmpty(vp, { kind: 'null' });
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
    if (!closed || !tok.end.some((t) => t.type === want))
      this.fail(closed ? endOff - 1 : tok.offset, `did not find expected ',' or '${isMap ? '}' : ']'}'`);
    this.flowStack.pop();
    if (parent)
      this.mark({
        kind: inMap ? MarkKind.Val : MarkKind.Item,
        off: tok.offset,
        end: endOff,
        c: parent,
        i: index,
        child: c,
      });
    this.scan(after, {});
    return node;
  }
}
