/**
 * Comment placement: go-yaml's head / line / foot comment rules, flattened as sops flattens them
 * into comment items of the tree.
 */
import type { Comment } from '../../tree/types.js';
import { Lines } from './lines.js';
import { type CommentTok, type Container, type Insert, isMark, type Mark, MarkKind, type Seq } from './marks.js';

export class Placer {
  readonly inserts = new Map<Container, Insert>();
  constructor(
    private readonly lines: Lines,
    private readonly root: Container,
  ) {}

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
        this.before(p.c, p.i, { kind: 'comment', text, inline: true });
        return;
      case MarkKind.Item:
        this.before(p.c, p.i, { kind: 'comment', text, inline: true });
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
export function applyInserts(c: Container, ins: Insert): void {
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
