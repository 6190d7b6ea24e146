/**
 * The YAML emitter: writes events exactly as sops 3.x writes them through go-yaml v3.
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
import { type Analysis, isBreakCode, isPrintable, selectStyle, SIMPLE_ANALYSIS, Style } from './style.js';

export const enum Ev {
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

export interface Event {
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
export class Emitter {
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
    this.out += s;
    this.column += s.length;
  }

  private putBreak(): void {
    this.out += '\n';
    this.column = 0;
    this.indention = true;
  }

  /** write_break for one break character. */
  private writeBreak(c: string): void {
    if (c === '\n') {
      this.putBreak();
    } else {
      this.out += c;
      this.column = 0;
      this.indention = true;
    }
  }

  private writeIndent(): void {
    const indent = this.indent < 0 ? 0 : this.indent;
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    if (this.footIndent === indent) this.putBreak();
    if (this.column < indent) {
      this.out += ' '.repeat(indent - this.column);
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

  private emitNode(ev: Event, _root: boolean, simpleKey: boolean): void {
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
export function escapeDouble(value: string): string {
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
      case 0x00:
        out += '\\0';
        break;
      case 0x07:
        out += '\\a';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0b:
        out += '\\v';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x1b:
        out += '\\e';
        break;
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x85:
        out += '\\N';
        break;
      case 0xa0:
        out += '\\_';
        break;
      case 0x2028:
        out += '\\L';
        break;
      case 0x2029:
        out += '\\P';
        break;
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
