// The fast YAML reader (src/stores/yaml/fast.ts) against the full reader and go-yaml: every document
// of the go-yaml differential corpus (and variants of it without comments, which the fast reader
// takes more often), the malformed ones, sops-shaped documents and the real sops fixtures are read
// by both readers; whenever the fast reader takes a document, its tree must be exactly the full
// reader's (and go-yaml's), and it must never take a document either of them refuses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import { fastParse } from '../src/stores/yaml/fast.js';
import { parseYaml } from '../src/stores/yaml/load.js';
import { analyze, analyzeChars } from '../src/stores/yaml/style.js';
import type { Tree } from '../src/tree/types.js';
import { generateCorpus, MALFORMED, PLAIN_SCALARS, rng } from './goyaml/corpus.js';
import { closeGoyaml, firstDifference, goyaml, goyamlUnavailableReason, typedDocs } from './goyaml/oracle.js';
import { fixtureYamlTexts } from './helpers/fixtures.js';

after(() => closeGoyaml());

type Outcome = { tree: Tree } | { error: string };

function full(text: string): Outcome {
  try {
    return { tree: parseYaml(text, true, false) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Documents in the shapes sops writes: nested block maps and lists, every plain and quoted form,
 * block scalars; with `comments`, comment lines at every indentation and comments after values,
 * keys, dashes and block scalar headers.
 */
function sopsShaped(seed: number, count: number, comments = false): string[] {
  const r = rng(seed);
  const note = (s: string): string => (comments && r() < 0.25 ? `${s} #${pick(['', ' c', ' x: y', '#', ' # z '])}` : s);
  const noteLines = (indent: number): string[] =>
    comments && r() < 0.2
      ? Array.from(
          { length: 1 + Math.floor(r() * 2) },
          () => `${' '.repeat(pick([indent, 0, Math.max(0, indent - 2), indent + 2]))}# n${k}`,
        )
      : [];
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const plain = PLAIN_SCALARS.filter((s) => !s.includes('#') && !s.includes('\n'));
  const quoted = ['"a\\"b"', '"\\u00e9\\x41\\\\/"', "'it''s'", '"tab\\there"', '"\\U0001F600"', '""', "''", '"é"'];
  const scalar = (): string => {
    const x = r();
    if (x < 0.6) return pick(plain);
    if (x < 0.85) return pick(quoted);
    return `ENC[AES256_GCM,data:${Math.floor(r() * 1e9).toString(36)},iv:aXY=,tag:dGFn,type:str]`;
  };
  let k = 0;
  const map = (indent: number, depth: number): string[] => {
    const pad = ' '.repeat(indent);
    const out: string[] = [];
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n; i++) {
      const key =
        r() < 0.1
          ? pick(['"1%"', "'yes%'", '"a b%"', 'key with spaces%', 'k:x%']).replace('%', String(k++))
          : `k${k++}`;
      const x = r();
      out.push(...noteLines(indent));
      if (x < 0.5 || depth === 0) out.push(note(`${pad}${key}: ${scalar()}`));
      else if (x < 0.6)
        out.push(
          note(`${pad}${key}: ${pick(['|', '|-', '|+', '>', '>-'])}`),
          `${pad}  line one`,
          ...(r() < 0.3 ? ['', `${pad}    # not a comment`] : []),
          `${pad}  line two`,
          ...(r() < 0.3 ? ['', ''] : []),
        );
      else if (x < 0.65) out.push(note(`${pad}${key}:`));
      else if (x < 0.8) out.push(note(`${pad}${key}:`), ...map(indent + pick([2, 4]), depth - 1));
      else {
        const ind = indent + pick([0, 2, 4]);
        out.push(note(`${pad}${key}:`));
        const m = 1 + Math.floor(r() * 3);
        for (let j = 0; j < m; j++) {
          out.push(...noteLines(ind));
          const y = r();
          if (y < 0.5) out.push(note(`${' '.repeat(ind)}- ${scalar()}`));
          else if (y < 0.6) out.push(note(`${' '.repeat(ind)}-`));
          else {
            const sub = map(ind + 2, depth - 1);
            out.push(`${' '.repeat(ind)}- ${sub[0]!.trimStart()}`, ...sub.slice(1));
          }
        }
      }
      if (r() < 0.05) out.push('');
    }
    return out;
  };
  return Array.from(
    { length: count },
    () => [...noteLines(0), ...map(0, 3), ...noteLines(2)].join('\n') + (r() < 0.9 ? '\n' : ''),
  );
}

test('fast YAML reader: whatever it takes reads exactly as the full reader and go-yaml read it', () => {
  const corpus = generateCorpus(20261205, 2500);
  const uncommented = corpus.map((t) =>
    t
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n'),
  );
  const shaped = sopsShaped(14, 1500);
  const commented = sopsShaped(15, 1500, true);
  const texts = [...corpus, ...uncommented, ...MALFORMED, ...shaped, ...commented, ...fixtureYamlTexts()];
  const taken: Array<{ text: string; tree: Tree }> = [];
  const problems: string[] = [];
  for (const text of texts) {
    const fast = fastParse(text);
    // (an ASCII file's quick check for what sends it away whole decides the same)
    if (isAscii(Buffer.from(text)) && !isDeepStrictEqual(fastParse(text, true), fast))
      problems.push(`the ASCII check decides otherwise: ${JSON.stringify(text)}`);
    if (!fast) continue;
    const f = full(text);
    if ('error' in f)
      problems.push(`the full reader refuses (${f.error}), the fast one reads: ${JSON.stringify(text)}`);
    else if (!isDeepStrictEqual(fast, f.tree)) problems.push(`different trees: ${JSON.stringify(text)}`);
    else taken.push({ text, tree: fast });
  }
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
  // the fast reader is exercised: it takes nearly every sops-shaped document, and some of the corpus
  const shapedTaken = shaped.filter((t) => fastParse(t)).length;
  assert.ok(shapedTaken > shaped.length * 0.9, `the fast reader took ${shapedTaken} of ${shaped.length}`);
  // and nearly every commented one, with its comments
  const commentedTaken = commented.filter((t) => JSON.stringify(fastParse(t)).includes('"comment"')).length;
  assert.ok(commentedTaken > commented.length * 0.8, `the fast reader took ${commentedTaken} of ${commented.length}`);
  assert.ok(taken.length > shapedTaken + 200, `the fast reader took ${taken.length} documents`);
  if (goyamlUnavailableReason()) return;
  const answers = goyaml(taken.map(({ text }) => ({ mode: 'sops', body: text })));
  const diffs: string[] = [];
  taken.forEach(({ text, tree }, i) => {
    const go = answers[i]!;
    if (go.error !== undefined) diffs.push(`go-yaml refuses (${go.error}): ${JSON.stringify(text)}`);
    else {
      const goDocs = go.ok as ReturnType<typeof typedDocs>;
      const ts = typedDocs(tree);
      const d = goDocs.length === ts.length ? firstDifference(goDocs[0]!, ts[0]!) : 'document count';
      if (d) diffs.push(`${d}: ${JSON.stringify(text)}`);
    }
  });
  assert.deepEqual(diffs.slice(0, 10), [], `${diffs.length} differences from go-yaml`);
});

test('fast YAML reader: files it must leave to the full reader', () => {
  for (const text of [
    'a: &x 1\nb: *x\n',
    'a: !!str 1\n',
    'a: [1, 2]\n',
    'a: {b: 1}\n',
    '---\na: 1\n',
    'a: 1\n---\nb: 2\n',
    'a: b\n  c\n',
    'a: "multi\n  line"\n',
    'a:\tb\n',
    'a: 1\r\nb: 2\r\n',
    '<<: {a: 1}\n',
    '? a\n: b\n',
    'a: 1\na: 2\n',
    '- a\n',
    'a: |2\n   x\n',
    'a: "\\e"\n',
  ])
    assert.equal(fastParse(text), null, JSON.stringify(text));
});

test('YAML printer: the analysis of an encrypted value is the one go-yaml computes character by character', () => {
  const r = rng(7);
  const b64 = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))).toString('base64');
  const values = [
    'ENC[AES256_GCM,data:,iv:,tag:,type:str]',
    // what the quick check takes beyond sops's own values, and what it leaves to the full analysis
    'ENC[',
    'ENC[]',
    'ENC[a:b,c]',
    'ENC[a:',
    'ENC[a: b]',
    'ENC[a #b]',
    'ENC[a,b]]]',
    'ENC[_x_]',
    'ENC[a]\n',
    'ENC[é]',
    'ENC[a] ',
    'ENC[a\tb]',
  ];
  for (let i = 0; i < 200; i++)
    values.push(
      `ENC[AES256_GCM,data:${b64(i)},iv:${b64(32)},tag:${b64(16)},type:${['str', 'int', 'float', 'bool', 'comment'][i % 5]}]`,
    );
  for (const v of values) assert.deepEqual(analyze(v), analyzeChars(v), v);
});
