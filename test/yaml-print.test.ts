// The fast YAML printer (src/stores/yaml/fastprint.ts) against the full printer (nodes.ts +
// emitter.ts, the port of go-yaml's emitter that the go-yaml encode test checks): every tree of the
// go-yaml differential corpus (with and without its comments), sops-shaped trees with awkward
// strings and keys, and the real sops fixtures print to the same bytes at every indentation, and
// the fast printer takes nearly all comment-free documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteSink, fastPrintDocument } from '../src/stores/yaml/fastprint.js';
import { parseYaml } from '../src/stores/yaml/load.js';
import { printYamlBytes, printYamlDocuments } from '../src/stores/yaml/print.js';
import { createYamlStore } from '../src/stores/yaml.js';
import { entry, fromPlain, type ListNode, type MapNode, type Node, type Scalar, type Tree } from '../src/tree/types.js';
import { generateCorpus, PLAIN_SCALARS, rng } from './goyaml/corpus.js';
import { fixtureYamlTexts } from './helpers/fixtures.js';

function withoutComments(n: Node): Node {
  if (n.kind === 'map')
    return {
      kind: 'map',
      items: n.items
        .filter((i) => i.kind !== 'comment')
        .map((e) => ({ ...e, value: withoutComments((e as { value: Node }).value) })),
    };
  if (n.kind === 'list')
    return { kind: 'list', items: n.items.filter((i) => i.kind !== 'comment').map((x) => withoutComments(x)) };
  return n;
}

function trees(): Tree[] {
  const out: Tree[] = [];
  const texts = [...generateCorpus(20261206, 1500), ...fixtureYamlTexts()];
  for (const text of texts) {
    let t: Tree;
    try {
      t = parseYaml(text);
    } catch {
      continue;
    }
    out.push(t, { docs: t.docs.map((d) => withoutComments(d) as MapNode) });
  }
  return out;
}

/** Strings the printer must quote, escape, or write as block scalars. */
const AWKWARD = [
  '',
  ' ',
  ' lead',
  'trail ',
  'a\nb',
  'a\nb\n',
  'a\n\nb\n\n',
  '\n',
  '\n\n',
  '\nlead',
  ' \nx',
  'x \ny',
  'line\n  indented\n',
  'tab\there',
  'cr\rhere',
  'nel\u0085x',
  'ls\u2028x',
  "it's",
  'say "hi"',
  'back\\slash',
  '#hash',
  'a #b',
  'a: b',
  'a:b',
  '- x',
  '-x',
  '? x',
  ':x',
  '[x]',
  '{x}',
  'x, y',
  '*a',
  '&a',
  '!t',
  '|x',
  '>x',
  '%x',
  '@x',
  '`x`',
  '---',
  '...',
  '--- x',
  '<<',
  '\u00e9t\u00e9',
  '\u{1F600}',
  '\ufeffbom',
  'ctl\u0001x',
  'del\u007fx',
  'x'.repeat(129),
  'x'.repeat(128),
  'ENC[AES256_GCM,data:aGVsbG8=,iv:aXY=,tag:dGFn,type:str]',
  ...PLAIN_SCALARS,
];

function scalarOf(r: () => number, s: string): Scalar {
  const x = r();
  if (x < 0.05) return { kind: 'scalar', type: 'int', text: String(Math.floor(r() * 1e6) - 5e5) };
  if (x < 0.1)
    return {
      kind: 'scalar',
      type: 'float',
      text: ['1.5', '2', '1e21', '+Inf', '-Inf', 'NaN', '0.000001'][Math.floor(r() * 7)]!,
    };
  if (x < 0.13) return { kind: 'scalar', type: 'bool', text: r() < 0.5 ? 'true' : 'false' };
  if (x < 0.15) return { kind: 'scalar', type: 'time', text: '2024-01-02T03:04:05Z' };
  if (x < 0.16) return { kind: 'scalar', type: 'str', text: 'bytes', raw: Buffer.from([0xff, 0x00, 0x41]) };
  return { kind: 'scalar', type: 'str', text: s };
}

function awkwardTree(seed: number): Tree {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const value = (depth: number): Node => {
    const x = r();
    if (depth > 0 && x < 0.15) return map(depth - 1);
    if (depth > 0 && x < 0.3) return list(depth - 1);
    if (x < 0.33) return { kind: 'null' };
    if (x < 0.35) return { kind: 'map', items: [] };
    if (x < 0.37) return { kind: 'list', items: [] };
    return scalarOf(r, pick(AWKWARD));
  };
  const list = (depth: number): ListNode => ({
    kind: 'list',
    items: Array.from({ length: 1 + Math.floor(r() * 3) }, () => value(depth)),
  });
  let k = 0;
  const map = (depth: number): MapNode => ({
    kind: 'map',
    items: Array.from({ length: 1 + Math.floor(r() * 4) }, () => ({
      kind: 'entry' as const,
      key: r() < 0.2 ? `${pick(AWKWARD)}${r() < 0.5 ? '' : k++}` : `key${k++}`,
      value: value(depth),
    })),
  });
  return { docs: [map(3)] };
}

function check(t: Tree, problems: string[]): boolean {
  let took = false;
  for (const indent of [4, 2, 3, 1, 9, 10]) {
    const full = Buffer.from(printYamlDocuments(t.docs, { indent }), 'utf8');
    const fast = printYamlBytes(t.docs, { indent });
    if (!fast.equals(full))
      problems.push(
        `indent ${indent}: full ${JSON.stringify(full.toString())}\n  fast ${JSON.stringify(fast.toString())}`,
      );
    if (indent === 4 && t.docs.length === 1 && fastPrintDocument(t.docs[0]!, indent, new ByteSink())) took = true;
  }
  return took;
}

test('fast YAML printer: the same bytes as the full printer for the corpus and the fixtures', () => {
  const problems: string[] = [];
  let took = 0;
  let plainDocs = 0;
  for (const t of trees()) {
    if (check(t, problems)) took++;
    if (t.docs.length === 1 && JSON.stringify(t).indexOf('"comment"') < 0 && t.docs[0]!.items.length) plainDocs++;
  }
  assert.deepEqual(problems.slice(0, 5), [], `${problems.length} differences`);
  // it takes the comment-free single documents, but for the few with what it leaves to the full printer
  assert.ok(took > plainDocs * 0.9, `the fast printer took ${took} of ${plainDocs}`);
});

test('fast YAML printer: the same bytes as the full printer for awkward strings, keys and nesting', () => {
  const problems: string[] = [];
  let took = 0;
  for (let seed = 1; seed <= 1500; seed++) if (check(awkwardTree(seed), problems)) took++;
  assert.deepEqual(problems.slice(0, 5), [], `${problems.length} differences`);
  assert.ok(took > 300, `the fast printer took ${took} of 1500`);
});

test('fast YAML printer: encrypted output (data, then the metadata by the full printer) is what the full printer writes', () => {
  const store = createYamlStore();
  const meta = {
    age: [{ recipient: 'age1xyz', enc: '-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n' }],
    lastmodified: '2024-01-01T00:00:00Z',
    mac: 'ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]',
    version: '3.13.2',
  };
  const sops = entry('sops', fromPlain(meta));
  for (let seed = 1; seed <= 300; seed++) {
    const t = awkwardTree(seed);
    const want = printYamlDocuments(t.docs.map((d): MapNode => ({ kind: 'map', items: [...d.items, sops] })));
    assert.equal(store.emitEncrypted(t, meta).toString('utf8'), want, `seed ${seed}`);
  }
});

test('fast YAML printer: the output buffer, growing in place or joined from pieces, holds every byte', () => {
  const pieces = ['a: b\n', 'é'.repeat(70000), '\u{1F600}', 'x'.repeat(3 << 20), '', 'end\n'];
  const want = Buffer.from(pieces.join(''), 'utf8');
  for (const resizable of [true, false]) {
    const sink = new ByteSink(resizable);
    for (const p of pieces) sink.write(p);
    assert.ok(sink.result().equals(want), `resizable ${resizable}`);
  }
});
