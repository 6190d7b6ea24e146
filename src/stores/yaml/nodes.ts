/**
 * go-yaml-like nodes, built from the tree as sops's YAML store builds them: comment items become
 * head/line/foot comments, every scalar gets the style go-yaml gives it when sops encodes it.
 */
import type { Comment, Node, Scalar } from '../../tree/types.js';
import { canBePlainString, yamlFloatText } from './resolve.js';
import { type Analysis, analyze, selectStyle, Style } from './style.js';

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

export type YNode = YScalar | YMap | YSeq;

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
  return {
    kind: 'scalar',
    value: s,
    style: selectStyle(Style.Plain, a, s, 0, false),
    analysis: a,
    tag: '',
    head: '',
    line: '',
    foot: '',
  };
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
    kind: 'scalar',
    value,
    style: selectStyle(requested, a, value, 0, false),
    analysis: a,
    tag: 'tag:yaml.org,2002:binary',
    head: '',
    line: '',
    foot: '',
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

export function toYNode(n: Node): YNode {
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
