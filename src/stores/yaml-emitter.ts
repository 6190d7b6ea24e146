/**
 * The YAML printer: writes a tsops tree exactly as sops 3.x writes it through go-yaml v3.
 *
 * Two layers, mirroring sops:
 *  - `treeToNode` turns the tree into go-yaml-like nodes the way sops's YAML store does: comment
 *    items before an entry become the head comment of its key (or of the collection, before the
 *    first entry), inline comments become the line comment of the value, comments after the last
 *    entry become the foot comment of the last key (or item); every scalar gets the style go-yaml
 *    gives it when sops encodes it (`Node.Encode`: plain, single-quoted, double-quoted or literal).
 *  - `Emitter` is a port of the block-style parts of go-yaml's emitter (libyaml's state machine as
 *    adapted by go-yaml v3: 4-space default indentation, sequences indented under their key,
 *    head/line/foot comments, no line folding), fed with the events go-yaml's encoder produces.
 */
import type { Comment, MapNode, Node, Scalar, Tree } from '../tree/types.js';
import { canBePlainString, yamlFloatText } from './yaml-scalars.js';

// ---------------------------------------------------------------------------------------------
// Scalar analysis and style selection (yaml_emitter_analyze_scalar / select_scalar_style)

const enum Style {
  Plain = 1,
  Single = 2,
  Double = 3,
  Literal = 4,
}

interface Analysis {
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

const isBreakCode = (c: number) => c === 0x0a || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029;
/** go-yaml's is_printable, per code point. */
const isPrintable = (c: number) =>
  c === 0x0a || (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff);

/** Strings made only of these characters need no per-character analysis. */
const SIMPLE = /^[A-Za-z0-9_./=+()$^~;<][A-Za-z0-9_ ./=+()$@^~;<>-]*$/;

const SIMPLE_ANALYSIS: Analysis = { multiline: false, flowPlain: true, blockPlain: true, single: true, block: true };

function analyze(value: string): Analysis {
  if (value.length === 0) return { multiline: false, flowPlain: false, blockPlain: true, single: true, block: false };
  if (SIMPLE.test(value) && value.charCodeAt(value.length - 1) !== 32 && !value.startsWith('...')) return SIMPLE_ANALYSIS;
  let blockInd = false;
  let flowInd = false;
  let lineBreaks = false;
  let special = false;
  let tabs = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let prevSpace = false;
  let prevBreak = false;
  if (value.startsWith('---') || value.startsWith('...')) {
    blockInd = true;
    flowInd = true;
  }
  let precededByWs = true;
  const n = value.length;
  for (let i = 0; i < n; ) {
    const c = value.codePointAt(i)!;
    const w = c > 0xffff ? 2 : 1;
    const next = i + w < n ? value.charCodeAt(i + w) : -1;
    const followedByWs = next === -1 || next === 32 || next === 9;
    if (i === 0) {
      switch (c) {
        case 35: case 44: case 91: case 93: case 123: case 125: case 38: case 42: case 33: case 124: case 62:
        case 39: case 34: case 37: case 64: case 96: // # , [ ] { } & * ! | > ' " % @ `
          flowInd = true;
          blockInd = true;
          break;
        case 63: case 58: // ? :
          flowInd = true;
          if (followedByWs) blockInd = true;
          break;
        case 45: // -
          if (followedByWs) {
            flowInd = true;
            blockInd = true;
          }
          break;
      }
    } else {
      switch (c) {
        case 44: case 63: case 91: case 93: case 123: case 125: // , ? [ ] { }
          flowInd = true;
          break;
        case 58: // :
          flowInd = true;
          if (followedByWs) blockInd = true;
          break;
        case 35: // #
          if (precededByWs) {
            flowInd = true;
            blockInd = true;
          }
          break;
      }
    }
    if (c === 9) tabs = true;
    else if (!isPrintable(c)) special = true;
    if (c === 32) {
      if (i === 0) leadingSpace = true;
      if (i + w === n) trailingSpace = true;
      if (prevBreak) breakSpace = true;
      prevSpace = true;
      prevBreak = false;
    } else if (isBreakCode(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i + w === n) trailingBreak = true;
      if (prevSpace) spaceBreak = true;
      prevSpace = false;
      prevBreak = true;
    } else {
      prevSpace = false;
      prevBreak = false;
    }
    precededByWs = c === 32 || c === 9 || isBreakCode(c);
    i += w;
  }
  const a: Analysis = { multiline: lineBreaks, flowPlain: true, blockPlain: true, single: true, block: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) a.flowPlain = a.blockPlain = false;
  if (trailingSpace) a.block = false;
  if (breakSpace) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || tabs || special) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || special) a.block = false;
  if (lineBreaks) a.flowPlain = a.blockPlain = false;
  if (flowInd) a.flowPlain = false;
  if (blockInd) a.blockPlain = false;
  return a;
}

function selectStyle(style: Style, a: Analysis, value: string, flowLevel: number, simpleKey: boolean): Style {
  if (simpleKey && a.multiline) style = Style.Double;
  if (style === Style.Plain) {
    if ((flowLevel > 0 && !a.flowPlain) || (flowLevel === 0 && !a.blockPlain)) style = Style.Single;
    if (value.length === 0 && (flowLevel > 0 || simpleKey)) style = Style.Single;
  }
  if (style === Style.Single && !a.single) style = Style.Double;
  if (style === Style.Literal && (!a.block || flowLevel > 0 || simpleKey)) style = Style.Double;
  return style;
}

// ---------------------------------------------------------------------------------------------
// go-yaml-like nodes, built from the tree as sops builds them

interface YScalar {
  kind: 'scalar';
  value: string;
  /** The style go-yaml's Node.Encode gave the value (before the context is known). */
  style: Style;
  analysis: Analysis;
  /** `tag:yaml.org,2002:binary` for raw bytes that are not UTF-8, `…:merge` for a plain `<<`; '' otherwise. */
  tag: string;
  head: string;
  line: string;
  foot: string;
}

interface YMap {
  kind: 'map';
  content: YNode[]; // key, value, key, value...
  head: string;
  line: string;
  foot: string;
}

interface YSeq {
  kind: 'seq';
  content: YNode[];
  head: string;
  line: string;
  foot: string;
}

type YNode = YScalar | YMap | YSeq;

const joinComments = (cs: string[]) => '#' + cs.join('\n#');

function addHead(n: YNode, cs: string[]): void {
  if (cs.length === 0) return;
  const c = joinComments(cs);
  n.head = n.head ? `${c}\n${n.head}` : c;
}
function addFoot(n: YNode, cs: string[]): void {
  if (cs.length === 0) return;
  const c = joinComments(cs);
  n.foot = n.foot ? `${n.foot}\n${c}` : c;
}
function addLine(n: YNode, cs: string[]): void {
  if (cs.length === 0) return;
  const c = joinComments(cs);
  n.line = n.line ? `${n.line}\n${c}` : c;
}

/** A string scalar, styled as go-yaml's encoder styles a Go string (stringv) at the document root. */
function stringNode(s: string): YScalar {
  const a = analyze(s);
  let requested: Style;
  if (s.includes('\n')) requested = Style.Literal;
  else if (canBePlainString(s)) requested = Style.Plain;
  else requested = Style.Double;
  const style = selectStyle(requested, a, s, 0, false);
  // go-yaml reads a plain `<<` back as a merge key, and then writes its tag
  const tag = s === '<<' && style === Style.Plain ? 'tag:yaml.org,2002:merge' : '';
  return { kind: 'scalar', value: s, style, analysis: a, tag, head: '', line: '', foot: '' };
}

function plainNode(s: string): YScalar {
  const a = analyze(s);
  return { kind: 'scalar', value: s, style: selectStyle(Style.Plain, a, s, 0, false), analysis: a, tag: '', head: '', line: '', foot: '' };
}

/** go-yaml's base64 layout for `!!binary` values: 70-character lines when there is more than one. */
function binaryNode(raw: Buffer): YScalar {
  const b64 = raw.toString('base64');
  let value = b64;
  if (b64.length >= 70) {
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
    value = lines.join('\n') + '\n';
  }
  const a = analyze(value);
  const requested = value.includes('\n') ? Style.Literal : Style.Plain;
  return {
    kind: 'scalar', value, style: selectStyle(requested, a, value, 0, false), analysis: a,
    tag: 'tag:yaml.org,2002:binary', head: '', line: '', foot: '',
  };
}

function isUtf8(raw: Buffer): boolean {
  return Buffer.from(raw.toString('utf8'), 'utf8').equals(raw);
}

function scalarNode(v: Scalar): YScalar {
  switch (v.type) {
    case 'int':
    case 'int64':
      return plainNode(v.text);
    case 'float':
      return plainNode(yamlFloatText(v.text));
    case 'bool':
      return plainNode(v.text === 'true' ? 'true' : 'false');
    case 'time':
      return plainNode(v.text);
    default:
      if (v.raw && !isUtf8(v.raw)) return binaryNode(v.raw);
      return stringNode(v.text);
  }
}

function toYNode(n: Node): YNode {
  switch (n.kind) {
    case 'null':
      return plainNode('null');
    case 'scalar':
      return scalarNode(n);
    case 'map': {
      const out: YMap = { kind: 'map', content: [], head: '', line: '', foot: '' };
      placeComments(out, n.items, (it) => {
        const key = stringNode(it.key);
        const value = toYNode(it.value);
        return { head: key, line: value, nodes: [key, value] };
      });
      return out;
    }
    case 'list': {
      const out: YSeq = { kind: 'seq', content: [], head: '', line: '', foot: '' };
      placeComments(out, n.items, (it) => {
        const item = toYNode(it);
        return { head: item, line: item, nodes: [item] };
      });
      return out;
    }
  }
}

/**
 * Fill a map or sequence, placing comments as go-yaml does: comments before the first entry are the
 * container's head, comments before any other entry that entry's head, inline ones (`key: value # c`)
 * the line comment of the value, and comments after the last entry its foot.
 */
function placeComments<I extends { kind: string }>(
  out: YMap | YSeq,
  items: ReadonlyArray<I | Comment>,
  entry: (it: I) => { head: YNode; line: YNode; nodes: YNode[] },
): void {
  let heads: string[] = [];
  let inlines: string[] = [];
  let last: YNode | undefined;
  for (const it of items) {
    if (it.kind === 'comment') {
      const c = it as Comment;
      (c.inline ? inlines : heads).push(c.text);
      continue;
    }
    if (!last) {
      addHead(out, heads);
      heads = [];
    }
    const e = entry(it as I);
    addHead(e.head, heads);
    heads = [];
    addLine(e.line, inlines);
    inlines = [];
    out.content.push(...e.nodes);
    last = e.head;
  }
  heads = heads.concat(inlines);
  if (heads.length > 0) {
    if (last) addFoot(last, heads);
    else addHead(out, heads);
  }
}

// ---------------------------------------------------------------------------------------------
// Events (what go-yaml's encoder hands its emitter)

const enum Ev {
  StreamStart,
  StreamEnd,
  DocStart,
  DocEnd,
  Scalar,
  SeqStart,
  SeqEnd,
  MapStart,
  MapEnd,
}

interface Event {
  t: Ev;
  value?: string;
  style?: Style;
  analysis?: Analysis;
  tag?: string;
  /** collection starts: no items (printed in flow style, `{}` / `[]`) */
  empty?: boolean;
  head?: string;
  line?: string;
  foot?: string;
  tail?: string;
}

// Emitter states
const enum St {
  StreamStart,
  FirstDocStart,
  DocStart,
  DocContent,
  DocEnd,
  FlowSeqFirstItem,
  FlowSeqTrailItem,
  FlowSeqItem,
  FlowMapFirstKey,
  FlowMapTrailKey,
  FlowMapKey,
  FlowMapSimpleValue,
  FlowMapValue,
  BlockSeqFirstItem,
  BlockSeqItem,
  BlockMapFirstKey,
  BlockMapKey,
  BlockMapSimpleValue,
  BlockMapValue,
  End,
}

/** A port of go-yaml v3's emitter, restricted to what sops's trees need (no anchors, no canonical mode). */
class Emitter {
  private out = '';
  private column = 0;
  private whitespace = true;
  private indention = true;
  private footIndent = -1;
  private readonly bestIndent: number;
  private state = St.StreamStart;
  private readonly states: St[] = [];
  private indent = -1;
  private readonly indents: number[] = [];
  private flowLevel = 0;
  private simpleKeyContext = false;
  private headComment = '';
  private lineComment = '';
  private footComment = '';
  private tailComment = '';
  private keyLineComment = '';
  // the scalar being written
  private sValue = '';
  private sAnalysis: Analysis = SIMPLE_ANALYSIS;
  private sStyle = Style.Plain;
  private tagHandle = '';
  private tagSuffix = '';

  constructor(indent: number) {
    this.bestIndent = indent < 2 || indent > 9 ? 2 : indent;
  }

  result(): string {
    return this.out;
  }

  // --- output primitives

  private put(s: string): void {
    this.out += (s);
    this.column += s.length;
  }

  private putBreak(): void {
    this.out += ('\n');
    this.column = 0;
    this.indention = true;
  }

  /** write_break for one break character. */
  private writeBreak(c: string): void {
    if (c === '\n') {
      this.putBreak();
    } else {
      this.out += (c);
      this.column = 0;
      this.indention = true;
    }
  }

  private writeIndent(): void {
    const indent = this.indent < 0 ? 0 : this.indent;
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    if (this.footIndent === indent) this.putBreak();
    if (this.column < indent) {
      this.out += (' '.repeat(indent - this.column));
      this.column = indent;
    }
    this.whitespace = true;
    this.footIndent = -1;
  }

  private writeIndicator(ind: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.put(ind);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  private writeComment(comment: string): void {
    if (!/[\n\r\u0085\u2028\u2029]/.test(comment)) {
      this.put(comment.charCodeAt(0) === 35 ? comment : `# ${comment}`);
      this.indention = false;
      this.putBreak();
      this.whitespace = true;
      return;
    }
    let breaks = false;
    let pound = false;
    for (const ch of comment) {
      if (isBreakCode(ch.codePointAt(0)!)) {
        this.writeBreak(ch);
        breaks = true;
        pound = false;
      } else {
        if (breaks) this.writeIndent();
        if (!pound) {
          if (ch !== '#') this.put('# ');
          pound = true;
        }
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
    if (!breaks) this.putBreak();
    this.whitespace = true;
  }

  private processHeadComment(): void {
    if (this.tailComment) {
      this.writeIndent();
      this.writeComment(this.tailComment);
      this.tailComment = '';
      this.footIndent = this.indent < 0 ? 0 : this.indent;
    }
    if (!this.headComment) return;
    this.writeIndent();
    this.writeComment(this.headComment);
    this.headComment = '';
  }

  private processLineComment(): void {
    if (!this.lineComment) return;
    if (!this.whitespace) this.put(' ');
    this.writeComment(this.lineComment);
    this.lineComment = '';
  }

  private processFootComment(): void {
    if (!this.footComment) return;
    this.writeIndent();
    this.writeComment(this.footComment);
    this.footComment = '';
    this.footIndent = this.indent < 0 ? 0 : this.indent;
  }

  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent);
    if (this.indent < 0) {
      this.indent = flow ? this.bestIndent : 0;
    } else if (!indentless) {
      if (this.states[this.states.length - 1] === St.BlockSeqItem) this.indent += 2;
      else this.indent = this.bestIndent * Math.floor((this.indent + this.bestIndent) / this.bestIndent);
    }
  }

  private popIndent(): void {
    this.indent = this.indents.pop()!;
  }

  private popState(): void {
    this.state = this.states.pop()!;
  }

  // --- events

  emit(ev: Event): void {
    // analyze_event
    this.tagHandle = '';
    this.tagSuffix = '';
    if (ev.head) this.headComment = ev.head;
    if (ev.line) this.lineComment = ev.line;
    if (ev.foot) this.footComment = ev.foot;
    if (ev.tail) this.tailComment = ev.tail;
    if (ev.t === Ev.Scalar) {
      if (ev.tag) {
        this.tagHandle = '!!';
        this.tagSuffix = ev.tag.slice('tag:yaml.org,2002:'.length);
      }
      this.sValue = ev.value!;
      this.sAnalysis = ev.analysis!;
    }
    this.stateMachine(ev);
  }

  private stateMachine(ev: Event): void {
    switch (this.state) {
      case St.StreamStart:
        return this.emitStreamStart(ev);
      case St.FirstDocStart:
        return this.emitDocumentStart(ev, true);
      case St.DocStart:
        return this.emitDocumentStart(ev, false);
      case St.DocContent:
        return this.emitDocumentContent(ev);
      case St.DocEnd:
        return this.emitDocumentEnd(ev);
      case St.FlowSeqFirstItem:
        return this.emitFlowSequenceItem(ev, true, false);
      case St.FlowSeqTrailItem:
        return this.emitFlowSequenceItem(ev, false, true);
      case St.FlowSeqItem:
        return this.emitFlowSequenceItem(ev, false, false);
      case St.FlowMapFirstKey:
        return this.emitFlowMappingKey(ev, true, false);
      case St.FlowMapTrailKey:
        return this.emitFlowMappingKey(ev, false, true);
      case St.FlowMapKey:
        return this.emitFlowMappingKey(ev, false, false);
      case St.FlowMapSimpleValue:
        return this.emitFlowMappingValue(ev, true);
      case St.FlowMapValue:
        return this.emitFlowMappingValue(ev, false);
      case St.BlockSeqFirstItem:
        return this.emitBlockSequenceItem(ev, true);
      case St.BlockSeqItem:
        return this.emitBlockSequenceItem(ev, false);
      case St.BlockMapFirstKey:
        return this.emitBlockMappingKey(ev, true);
      case St.BlockMapKey:
        return this.emitBlockMappingKey(ev, false);
      case St.BlockMapSimpleValue:
        return this.emitBlockMappingValue(ev, true);
      case St.BlockMapValue:
        return this.emitBlockMappingValue(ev, false);
      case St.End:
        throw new Error('yaml emitter: expected nothing after STREAM-END');
    }
  }

  private emitStreamStart(ev: Event): void {
    if (ev.t !== Ev.StreamStart) throw new Error('yaml emitter: expected STREAM-START');
    this.indent = -1;
    this.column = 0;
    this.whitespace = true;
    this.indention = true;
    this.footIndent = -1;
    this.state = St.FirstDocStart;
  }

  private emitDocumentStart(ev: Event, first: boolean): void {
    if (ev.t === Ev.DocStart) {
      if (!first) {
        this.writeIndent();
        this.writeIndicator('---', true, false, false);
        this.writeIndent();
      }
      if (this.headComment) {
        this.processHeadComment();
        this.putBreak();
      }
      this.state = St.DocContent;
      return;
    }
    if (ev.t === Ev.StreamEnd) {
      this.state = St.End;
      return;
    }
    throw new Error('yaml emitter: expected DOCUMENT-START or STREAM-END');
  }

  private emitDocumentContent(ev: Event): void {
    this.states.push(St.DocEnd);
    this.processHeadComment();
    this.emitNode(ev, true, false);
    this.processLineComment();
    this.processFootComment();
  }

  private emitDocumentEnd(ev: Event): void {
    if (ev.t !== Ev.DocEnd) throw new Error('yaml emitter: expected DOCUMENT-END');
    this.footIndent = 0;
    this.processFootComment();
    this.footIndent = -1;
    this.writeIndent();
    this.state = St.DocStart;
  }

  private emitFlowSequenceItem(ev: Event, first: boolean, trail: boolean): void {
    if (first) {
      this.writeIndicator('[', true, true, false);
      this.increaseIndent(true, false);
      this.flowLevel++;
    }
    if (ev.t === Ev.SeqEnd) {
      this.flowLevel--;
      this.popIndent();
      if (this.column === 0) this.writeIndent();
      this.writeIndicator(']', false, false, false);
      this.processLineComment();
      this.processFootComment();
      this.popState();
      return;
    }
    if (!first && !trail) this.writeIndicator(',', false, false, false);
    this.processHeadComment();
    if (this.column === 0) this.writeIndent();
    const trailing = () => this.lineComment.length + this.footComment.length + this.tailComment.length > 0;
    this.states.push(trailing() ? St.FlowSeqTrailItem : St.FlowSeqItem);
    this.emitNode(ev, false, false);
    if (trailing()) this.writeIndicator(',', false, false, false);
    this.processLineComment();
    this.processFootComment();
  }

  private emitFlowMappingKey(ev: Event, first: boolean, trail: boolean): void {
    if (first) {
      this.writeIndicator('{', true, true, false);
      this.increaseIndent(true, false);
      this.flowLevel++;
    }
    if (ev.t === Ev.MapEnd) {
      if (this.headComment.length + this.footComment.length + this.tailComment.length > 0 && !first && !trail) {
        this.writeIndicator(',', false, false, false);
      }
      this.processHeadComment();
      this.flowLevel--;
      this.popIndent();
      this.writeIndicator('}', false, false, false);
      this.processLineComment();
      this.processFootComment();
      this.popState();
      return;
    }
    if (!first && !trail) this.writeIndicator(',', false, false, false);
    this.processHeadComment();
    if (this.column === 0) this.writeIndent();
    if (this.checkSimpleKey(ev)) {
      this.states.push(St.FlowMapSimpleValue);
      this.emitNode(ev, false, true);
      return;
    }
    this.writeIndicator('?', true, false, false);
    this.states.push(St.FlowMapValue);
    this.emitNode(ev, false, false);
  }

  private emitFlowMappingValue(ev: Event, simple: boolean): void {
    if (simple) this.writeIndicator(':', false, false, false);
    else this.writeIndicator(':', true, false, false);
    const trailing = () => this.lineComment.length + this.footComment.length + this.tailComment.length > 0;
    this.states.push(trailing() ? St.FlowMapTrailKey : St.FlowMapKey);
    this.emitNode(ev, false, false);
    if (trailing()) this.writeIndicator(',', false, false, false);
    this.processLineComment();
    this.processFootComment();
  }

  private emitBlockSequenceItem(ev: Event, first: boolean): void {
    if (first) this.increaseIndent(false, false);
    if (ev.t === Ev.SeqEnd) {
      this.popIndent();
      this.popState();
      return;
    }
    this.processHeadComment();
    this.writeIndent();
    this.writeIndicator('-', true, false, true);
    this.states.push(St.BlockSeqItem);
    this.emitNode(ev, false, false);
    this.processLineComment();
    this.processFootComment();
  }

  private emitBlockMappingKey(ev: Event, first: boolean): void {
    if (first) this.increaseIndent(false, false);
    this.processHeadComment();
    if (ev.t === Ev.MapEnd) {
      this.popIndent();
      this.popState();
      return;
    }
    this.writeIndent();
    if (this.lineComment) {
      this.keyLineComment = this.lineComment;
      this.lineComment = '';
    }
    if (this.checkSimpleKey(ev)) {
      this.states.push(St.BlockMapSimpleValue);
      this.emitNode(ev, false, true);
      return;
    }
    this.writeIndicator('?', true, false, true);
    this.states.push(St.BlockMapValue);
    this.emitNode(ev, false, false);
  }

  private emitBlockMappingValue(ev: Event, simple: boolean): void {
    if (simple) {
      this.writeIndicator(':', false, false, false);
    } else {
      this.writeIndent();
      this.writeIndicator(':', true, false, true);
    }
    if (this.keyLineComment) {
      if (ev.t === Ev.Scalar) {
        if (!this.lineComment) {
          this.lineComment = this.keyLineComment;
          this.keyLineComment = '';
        }
      } else if (ev.t === Ev.MapStart || ev.t === Ev.SeqStart) {
        [this.lineComment, this.keyLineComment] = [this.keyLineComment, this.lineComment];
        this.processLineComment();
        [this.lineComment, this.keyLineComment] = [this.keyLineComment, this.lineComment];
      }
    }
    this.states.push(St.BlockMapKey);
    this.emitNode(ev, false, false);
    this.processLineComment();
    this.processFootComment();
  }

  private checkSimpleKey(ev: Event): boolean {
    switch (ev.t) {
      case Ev.Scalar:
        if (this.sAnalysis.multiline) return false;
        return this.tagHandle.length + this.tagSuffix.length + this.sValue.length <= 128;
      case Ev.SeqStart:
      case Ev.MapStart:
        return ev.empty === true;
      default:
        return false;
    }
  }

  private emitNode(ev: Event, root: boolean, simpleKey: boolean): void {
    this.simpleKeyContext = simpleKey;
    switch (ev.t) {
      case Ev.Scalar:
        return this.emitScalar(ev);
      case Ev.SeqStart:
        this.state = this.flowLevel > 0 || ev.empty ? St.FlowSeqFirstItem : St.BlockSeqFirstItem;
        return;
      case Ev.MapStart:
        this.state = this.flowLevel > 0 || ev.empty ? St.FlowMapFirstKey : St.BlockMapFirstKey;
        return;
      default:
        throw new Error('yaml emitter: expected SCALAR, SEQUENCE-START or MAPPING-START');
    }
  }

  private emitScalar(ev: Event): void {
    this.sStyle = selectStyle(ev.style!, this.sAnalysis, this.sValue, this.flowLevel, this.simpleKeyContext);
    if (this.tagHandle) {
      if (!this.whitespace) this.put(' ');
      this.put(this.tagHandle + this.tagSuffix);
      this.whitespace = false;
      this.indention = false;
    }
    this.increaseIndent(true, false);
    switch (this.sStyle) {
      case Style.Plain:
        this.writePlain(this.sValue);
        break;
      case Style.Single:
        this.writeSingleQuoted(this.sValue);
        break;
      case Style.Double:
        this.writeDoubleQuoted(this.sValue);
        break;
      case Style.Literal:
        this.writeLiteral(this.sValue);
        break;
    }
    this.popIndent();
    this.popState();
  }

  // --- scalar writers

  private writePlain(value: string): void {
    if (value.length > 0 && !this.whitespace) this.put(' ');
    // plain scalars never contain line breaks here (the analysis forbids it)
    this.put(value);
    if (value.length > 0) this.whitespace = false;
    this.indention = false;
  }

  private writeSingleQuoted(value: string): void {
    this.writeIndicator("'", true, false, false);
    if (!/[\n\r\u0085\u2028\u2029]/.test(value)) {
      this.put(value.includes("'") ? value.replace(/'/g, "''") : value);
    } else {
      let breaks = false;
      for (const ch of value) {
        const c = ch.codePointAt(0)!;
        if (c === 32) {
          this.put(ch);
        } else if (isBreakCode(c)) {
          if (!breaks && ch === '\n') this.putBreak();
          this.writeBreak(ch);
          breaks = true;
        } else {
          if (breaks) this.writeIndent();
          if (ch === "'") this.put("'");
          this.put(ch);
          this.indention = false;
          breaks = false;
        }
      }
    }
    this.writeIndicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeDoubleQuoted(value: string): void {
    this.writeIndicator('"', true, false, false);
    this.put(escapeDouble(value));
    this.writeIndicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeLiteral(value: string): void {
    this.writeIndicator('|', true, false, false);
    // block scalar hints
    const c0 = value.charCodeAt(0);
    if (c0 === 32 || isBreakCode(c0)) this.writeIndicator(String(this.bestIndent), false, false, false);
    let chomp = '';
    if (value.length === 0) {
      chomp = '-';
    } else {
      const last = value.charCodeAt(value.length - 1);
      if (!isBreakCode(last)) chomp = '-';
      else if (value.length === 1) {
        chomp = '+';
      } else if (isBreakCode(value.charCodeAt(value.length - 2))) {
        chomp = '+';
      }
    }
    if (chomp) this.writeIndicator(chomp, false, false, false);
    this.processLineComment();
    // go-yaml lets a leading line break end the header line, which loses it: end the line first
    if (isBreakCode(c0) && this.column > 0) this.putBreak();
    this.whitespace = true;
    let breaks = true;
    if (!/[\r\u0085\u2028\u2029]/.test(value)) {
      const lines = value.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.length > 0) {
          if (breaks) this.writeIndent();
          this.put(line);
          this.indention = false;
          breaks = false;
        }
        if (i < lines.length - 1) {
          this.putBreak();
          breaks = true;
        }
      }
      return;
    }
    for (const ch of value) {
      if (isBreakCode(ch.codePointAt(0)!)) {
        this.writeBreak(ch);
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

const NEEDS_ESCAPE = /[^\x20-\x21\x23-\x5b\x5d-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;

/** The body of a go-yaml double-quoted scalar (no line folding: go-yaml v3 sets no width). */
function escapeDouble(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  // go-yaml's is_bom looks at the start of the value: after a leading BOM, everything is escaped
  const bom = value.charCodeAt(0) === 0xfeff;
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (!bom && isPrintable(c) && !isBreakCode(c) && c !== 0x22 && c !== 0x5c) {
      out += ch;
      continue;
    }
    switch (c) {
      case 0x00: out += '\\0'; break;
      case 0x07: out += '\\a'; break;
      case 0x08: out += '\\b'; break;
      case 0x09: out += '\\t'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0b: out += '\\v'; break;
      case 0x0c: out += '\\f'; break;
      case 0x0d: out += '\\r'; break;
      case 0x1b: out += '\\e'; break;
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x85: out += '\\N'; break;
      case 0xa0: out += '\\_'; break;
      case 0x2028: out += '\\L'; break;
      case 0x2029: out += '\\P'; break;
      default: {
        const hex = c.toString(16).toUpperCase();
        if (c <= 0xff) out += '\\x' + hex.padStart(2, '0');
        else if (c <= 0xffff) out += '\\u' + hex.padStart(4, '0');
        else out += '\\U' + hex.padStart(8, '0');
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// go-yaml's encoder: nodes to events

function nodeEvents(n: YNode, tail: string, emit: (e: Event) => void): void {
  switch (n.kind) {
    case 'scalar':
      emit({ t: Ev.Scalar, value: n.value, style: n.style, analysis: n.analysis, tag: n.tag, head: n.head, line: n.line, foot: n.foot, tail });
      return;
    case 'seq':
      emit({ t: Ev.SeqStart, empty: n.content.length === 0, head: n.head });
      for (const c of n.content) nodeEvents(c, '', emit);
      emit({ t: Ev.SeqEnd, line: n.line, foot: n.foot });
      return;
    case 'map': {
      emit({ t: Ev.MapStart, empty: n.content.length === 0, head: n.head, tail });
      // a key's foot comment is written after its value: it travels as the next key's tail
      let keyTail = '';
      for (let i = 0; i + 1 < n.content.length; i += 2) {
        let k = n.content[i]!;
        const foot = k.foot;
        if (foot) k = { ...k, foot: '' };
        nodeEvents(k, keyTail, emit);
        keyTail = foot;
        nodeEvents(n.content[i + 1]!, '', emit);
      }
      emit({ t: Ev.MapEnd, tail: keyTail, line: n.line, foot: n.foot });
    }
  }
}

/** YAML options: sops's `--indent` (go-yaml's SetIndent; default 4, and 2 when outside 2..9). */
export interface YamlPrintOptions {
  indent?: number;
}

/** Print documents (each a map) as sops's YAML store prints them. */
export function printYamlDocuments(docs: MapNode[], opts: YamlPrintOptions = {}): string {
  const e = new Emitter(opts.indent ?? 4);
  const emit = (ev: Event) => e.emit(ev);
  emit({ t: Ev.StreamStart });
  for (const doc of docs) {
    emit({ t: Ev.DocStart });
    nodeEvents(toYNode(doc), '', emit);
    emit({ t: Ev.DocEnd });
  }
  emit({ t: Ev.StreamEnd });
  return e.result();
}

/** Print one value as go-yaml's Marshal prints it (what sops shows for `--extract`). */
export function printYamlValue(node: Node): string {
  const e = new Emitter(4);
  const emit = (ev: Event) => e.emit(ev);
  emit({ t: Ev.StreamStart });
  emit({ t: Ev.DocStart });
  nodeEvents(toYNode(node), '', emit);
  emit({ t: Ev.DocEnd });
  emit({ t: Ev.StreamEnd });
  return e.result();
}

/** @internal for tests: print a tree. */
export function printYamlTree(tree: Tree, opts: YamlPrintOptions = {}): string {
  return printYamlDocuments(tree.docs, opts);
}
