/**
 * The YAML printer: a tree to go-yaml-like nodes to the events go-yaml's encoder produces to text.
 */
import type { MapNode, Node } from '../../tree/types.js';
import { Emitter, Ev, type Event } from './emitter.js';
import { ByteSink, fastPrintDocument } from './fastprint.js';
import { toYNode, type YNode } from './nodes.js';

function nodeEvents(n: YNode, tail: string, emit: (e: Event) => void): void {
  switch (n.kind) {
    case 'scalar':
      emit({
        t: Ev.Scalar,
        value: n.value,
        style: n.style,
        analysis: n.analysis,
        tag: n.tag,
        head: n.head,
        line: n.line,
        foot: n.foot,
        tail,
      });
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

/**
 * Print documents as printYamlDocuments does, as bytes: one document without comments through the
 * fast printer (fastprint.ts), with `tail` (the `sops` metadata, which has block scalars and is
 * small) printed by the full printer after it; anything else by the full printer.
 */
export function printYamlBytes(docs: MapNode[], opts: YamlPrintOptions = {}, tail?: MapNode): Buffer {
  const indent = opts.indent ?? 4;
  if (docs.length === 1) {
    const sink = new ByteSink();
    if (fastPrintDocument(docs[0]!, indent, sink)) {
      if (tail) sink.write(printYamlDocuments([tail], opts));
      return sink.result();
    }
  }
  const all = tail ? docs.map((d): MapNode => ({ kind: 'map', items: [...d.items, ...tail.items] })) : docs;
  return Buffer.from(printYamlDocuments(all, opts), 'utf8');
}
