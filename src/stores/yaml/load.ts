/**
 * Loading: YAML bytes (checked as go-yaml's reader checks them) to one map per document, with
 * their comments placed; the full syntax check of the `yaml` Composer is optional (the fast path
 * for encrypted files skips it).
 */
import { isAscii } from 'node:buffer';
import { Composer, CST, Parser } from 'yaml';
import { FileError } from '../../errors.js';
import type { MapNode, Node, Tree } from '../../tree/types.js';
import { Builder, type Props } from './builder.js';
import { fastParse } from './fast.js';
import { applyInserts, Placer } from './comments.js';
import { Lines } from './lines.js';
import type { Container, Insert, Seq } from './marks.js';

function errorAt(lines: Lines, off: number, message: string): FileError {
  const msg = message
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/:$/, '');
  return new FileError(
    `Error unmarshaling input YAML: ${msg} at line ${lines.line(off) + 1}, column ${lines.col(off) + 1}`,
  );
}

/**
 * Parse YAML into the tree. `validate` runs the yaml Composer over the whole file to report
 * malformed YAML the CST parser accepts; it costs about a third of the parse, so files written by
 * sops/tsops skip it (their MAC catches any damage, and `check` is run then to name the YAML error).
 * `fast` first tries the fast reader (fast.ts), which reads the shapes sops writes in one pass and
 * leaves every other file to the full reader; `false` forces the full reader (for tests).
 */
export function parseYaml(src: string, validate = true, fast = true, ascii = false): Tree {
  if (fast) {
    // files in the shapes sops writes: one pass, no CST (anything else gives null)
    const tree = fastParse(src.charCodeAt(0) === 0xfeff ? src.slice(1) : src, ascii);
    if (tree) return tree;
  }
  try {
    return parseDocuments(src, validate);
  } catch (e) {
    // (the tree is built recursively: nesting go-yaml accepts can exceed the JavaScript stack)
    if (e instanceof RangeError) {
      const off = tooDeep(src);
      if (off >= 0) throw errorAt(new Lines(src), off, 'exceeded max depth of 10000');
      throw new FileError(
        'Error unmarshaling input YAML: the document nests deeper than tsops can read (go-yaml reads up to 10000 levels)',
      );
    }
    throw e;
  }
}

/** The offset of the first collection nested deeper than go-yaml's 10000 levels, or -1 (an iterative walk of the CST). */
function tooDeep(src: string): number {
  const stack: Array<[CST.Token | null | undefined, number]> = [];
  for (const tok of new Parser().parse(src)) if (tok.type === 'document') stack.push([tok.value, 0]);
  while (stack.length) {
    const [t, d] = stack.pop()!;
    if (!t || (t.type !== 'block-map' && t.type !== 'block-seq' && t.type !== 'flow-collection')) continue;
    if (d + 1 > 10_000) return t.offset;
    for (const it of t.items) stack.push([it.key, d + 1], [it.value, d + 1]);
  }
  return -1;
}

function parseDocuments(src: string, validate: boolean): Tree {
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
        if (content.kind === 'list')
          throw new FileError('Error unmarshaling input YAML: YAML documents that are sequences are not supported');
        if (content.kind === 'scalar')
          throw new FileError('Error unmarshaling input YAML: YAML documents that are values are not supported');
      } else {
        const s = builder.value(v, props, null, 0, true);
        if (s.kind !== 'null')
          throw new FileError('Error unmarshaling input YAML: YAML documents that are values are not supported');
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

/** Throw the first error the yaml Composer finds (bad indentation, unclosed flows, …). */
export function composeCheck(src: string, lines: Lines, tokens: Iterable<CST.Token>): void {
  const composer = new Composer({ schema: 'failsafe', uniqueKeys: false, strict: true });
  for (const doc of composer.compose(tokens, true, src.length)) {
    const err = doc.errors[0];
    if (err && /Maximum call stack/.test(err.message)) throw new RangeError(err.message);
    if (err) throw errorAt(lines, err.pos[0], err.message);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** What go-yaml's reader refuses: characters outside YAML's printable set (a BOM only first). */
// eslint-disable-next-line no-control-regex -- the control characters YAML does not allow in a document
const NOT_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|(?!^)\uFEFF/;

/**
 * The text of a YAML file, refused as go-yaml refuses it: invalid UTF-8 (never replaced by U+FFFD)
 * and control characters.
 */
export function decode(data: Buffer): string {
  return decodeText(data).src;
}

/**
 * decode(), and whether the file is all ASCII (isAscii, native and quick). (Such a file is still
 * decoded by the UTF-8 decoder: Node's latin1 decoding makes a large text an external string,
 * which cost 200 MB more peak RSS on a 1M-value decrypt.)
 */
export function decodeText(data: Buffer): { src: string; ascii: boolean } {
  let src: string;
  try {
    src = UTF8.decode(data);
  } catch {
    throw new FileError(`Error unmarshaling input YAML: ${utf8Problem(data)}`);
  }
  const ascii = isAscii(data);
  const bad = NOT_PRINTABLE.exec(src);
  if (bad) throw errorAt(new Lines(src), bad.index, 'control characters are not allowed');
  return { src, ascii };
}

/** go-yaml's reader message (and byte offset) for the first invalid UTF-8 sequence. */
function utf8Problem(b: Buffer): string {
  for (let i = 0; i < b.length;) {
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
    if (!(n === 1 || (n === 2 && v >= 0x80) || (n === 3 && v >= 0x800) || (n === 4 && v >= 0x10000)))
      return `invalid length of a UTF-8 sequence at byte ${i}`;
    if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return `invalid Unicode character at byte ${i}`;
    i += n;
  }
  return 'invalid UTF-8';
}
