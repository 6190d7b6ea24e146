/**
 * A generated corpus of YAML documents for the go-yaml differential test: every scalar spelling
 * sops depends on (ints in all bases, floats, bools, nulls, timestamps, quoted and tagged forms),
 * every block-scalar indicator in every place (end of file with and without a final newline,
 * mid-file, in lists, nested), anchors, aliases, merge keys, duplicate keys, flow collections,
 * comments, several documents, and some malformed input. Deterministic: the same seed gives the
 * same documents.
 */

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plain scalars: each resolves to one type in go-yaml v3 (or stays a string). */
export const PLAIN_SCALARS: readonly string[] = [
  // ints, every base and sign, with underscores, at and beyond the 64-bit limits
  '0',
  '1',
  '-1',
  '+1',
  '007',
  '08',
  '09',
  '0o17',
  '0O17',
  '-0o17',
  '+0o17',
  '0o8',
  '0x1F',
  '0X1f',
  '-0x10',
  '+0x10',
  '0xg',
  '0b101',
  '0B11',
  '-0b101',
  '+0b1',
  '0b2',
  '1_000',
  '1__0',
  '1_',
  '_1',
  '0x_1f',
  '0o_17',
  '0b_1',
  '-1_000',
  '+1_0',
  '9223372036854775807',
  '9223372036854775808',
  '18446744073709551615',
  '18446744073709551616',
  '-9223372036854775808',
  '-9223372036854775809',
  '0x7fffffffffffffff',
  '0x8000000000000000',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '-0x8000000000000000',
  '0b1111111111111111111111111111111111111111111111111111111111111111',
  '-0b1000000000000000000000000000000000000000000000000000000000000000',
  '0o1777777777777777777777',
  '-0o1000000000000000000000',
  '00',
  '0_',
  '-0',
  '+0',
  '0x',
  '0o',
  '0b',
  '-0b',
  '-0o',
  '01234567',
  '012345678',
  // floats
  '0.1',
  '1.0',
  '1.',
  '-1.',
  '1e3',
  '1E3',
  '1e+3',
  '1e-3',
  '-1.5e-3',
  '+1.5E+3',
  '.5',
  '-.5',
  '+.5',
  '.5e1',
  '1_0.5',
  '1_0e1_0',
  '.inf',
  '.Inf',
  '.INF',
  '+.inf',
  '+.Inf',
  '+.INF',
  '-.inf',
  '-.Inf',
  '-.INF',
  '.nan',
  '.NaN',
  '.NAN',
  '.nAn',
  '.iNf',
  'nan',
  'inf',
  'Infinity',
  '-Infinity',
  'NaN',
  '1e400',
  '-1e400',
  '1e-400',
  '0x1p3',
  '1e',
  'e1',
  '0.0',
  '-0.0',
  '1.5_',
  '123456789012345678901234567890',
  '0.1e-2',
  '1e1_0',
  '.e1',
  '._5',
  '0.5.1',
  // bools (YAML 1.2 core in go-yaml v3; the YAML 1.1 words stay strings)
  'true',
  'True',
  'TRUE',
  'false',
  'False',
  'FALSE',
  'tRUE',
  'yes',
  'Yes',
  'YES',
  'no',
  'No',
  'on',
  'On',
  'ON',
  'off',
  'Off',
  'y',
  'Y',
  'n',
  'N',
  // nulls
  '~',
  'null',
  'Null',
  'NULL',
  'nULL',
  'nil',
  // timestamps
  '2001-12-14',
  '2001-12-14T21:59:43.10-05:00',
  '2001-12-14t21:59:43.10Z',
  '2001-12-14 21:59:43.10',
  '2001-12-14 21:59:43.10 -5',
  '2001-1-2',
  '2001-02-29',
  '2000-02-29',
  '1900-02-29',
  '2001-12-14T21:59:43Z',
  '2001-12-14T21:59:43.123456789Z',
  '2001-12-14T21:59:43.1234567891Z',
  '2001-12-14T21:59:43,5Z',
  '2001-12-14T25:00:00Z',
  '2001-12-14T21:59:43+01:00',
  '2001-12-14T21:59:43+00:00',
  '2001-12-14T21:59:43-00:00',
  '2001-12-14T1:2:3Z',
  '2001-12-14T21:59:43.000Z',
  '2001-12-14T21:59:43.100Z',
  '2001-13-01',
  '20011-12-14',
  '2001-12-14T21:59:43.5+0100',
  '2001-12-14 21:59:43',
  '2001-12-14 1:2:3.5',
  '2001-12-14T21:59:43',
  '2001-12-14T21:59Z',
  '2001-12-14t21:59:43+05:30',
  '1999-12-31T23:59:60Z',
  '2001-12-14 21:59:43.10Z',
  '2001-12-14T21:59:43.10+24:00',
  '0001-01-01',
  '9999-12-31T23:59:59.999999999Z',
  // strings that look close to the above
  'abc',
  'foo bar',
  'x-1',
  '1.2.3',
  '+',
  '-x',
  '.',
  '..',
  '...x',
  '12abc',
  '1 2',
  'a#b',
  'true!',
  'Yes.',
  '~~',
  'null1',
  '1.5.',
  '+-1',
  '1e3e3',
  '$x',
  'ÅÄÖ',
  '日本',
  '😀',
  '1:20',
  '1:20:30',
  '-1:20',
  '190:20:30.15',
  'a:b',
  'http://x/y',
  '@x'.slice(1),
  '0x1.8p1',
  '1_000_',
  '+.',
  '-.',
  '.1.',
  '2001-12-14x',
  '2001-12',
  'TRUE1',
  'y1',
  'o',
  '=',
  '<<',
];

/** Quoted and tagged spellings: `%s` stands for one of a few texts. */
const QUOTED: readonly string[] = ["'%s'", '"%s"', '!!str %s', '! %s', '!custom %s', '!<tag:yaml.org,2002:str> %s'];
const QUOTE_TEXTS: readonly string[] = [
  '123',
  'true',
  'null',
  '~',
  '',
  '1e3',
  '2001-12-14',
  'yes',
  'a b',
  '.inf',
  '0x10',
];

/** Scalars with explicit tags or escapes, written as they appear after `key: `. */
export const TAGGED_SCALARS: readonly string[] = [
  '!!int 0x10',
  '!!int 10',
  '!!int "10"',
  "!!int '0o17'",
  '!!int 1_0',
  '!!float 1',
  '!!float 1.5',
  '!!float .inf',
  '!!float -.inf',
  '!!float "1e3"',
  '!!float .nan',
  '!!bool true',
  '!!bool "false"',
  '!!null ~',
  '!!null null',
  '!!null ""',
  '!!null',
  '!!str',
  '!!timestamp 2001-12-14',
  '!!timestamp 2001-12-14T21:59:43.5Z',
  '!!timestamp "2001-12-14 21:59:43"',
  '!!binary U0VDUkVUWFla',
  '!!binary "U0VDUkVUWFla"',
  '!!binary c2VjcmV0',
  '!!binary /+8=',
  '!!binary ""',
  '!!binary AAECAwQF',
  '!!binary |\n  U0VDUk\n  VUWFla',
  '!!binary >\n  U0VDUkVU\n  WFla',
  '!!str 0x10',
  '!!str ~',
  '!!str true',
  '!!str 2001-12-14',
  '!!int -0b101',
  '!!int 9223372036854775807',
  '!!float 9223372036854775808',
  '!!int +0o17',
  '"\\n\\t\\u00e9\\x41\\U0001F600\\0\\/\\ \\_\\N\\L\\P\\e\\a\\b\\v\\f\\r"',
  '"a\\\nb"',
  '"a\n  b\n\n  c"',
  "'it''s'",
  "'a\n  b\n\n  c'",
  '"\\"q\\""',
  '"#x"',
  "'#x'",
  '"  lead and trail  "',
  '"tab\there"',
  '"\\u2028\\u2029"',
  '"<>&"',
  '"ÅÄÖ 日本 😀"',
  'a  #comment',
  'a # comment',
  'a#b # c',
  'plain\n  continued\n\n  lines',
  'x\n   y',
];

/** Block-scalar headers: both styles × chomping × explicit indentation, with and without a comment. */
function headers(): string[] {
  const out = new Set<string>();
  for (const style of ['|', '>']) {
    for (const chomp of ['', '-', '+']) {
      out.add(style + chomp);
      for (const ind of ['1', '2', '4']) out.add(style + ind + chomp).add(style + chomp + ind);
    }
  }
  return [...out];
}
export const BLOCK_HEADERS: readonly string[] = headers();

const BLOCK_LINES: readonly string[] = [
  'line',
  'two words',
  'x #notcomment',
  '- item',
  'key: value',
  '"quoted"',
  'trailing  ',
  '日本',
  '{a: b}',
  '* star',
  '  more indented',
  '   deeper',
  '',
];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The lines of a block scalar's content at `indent` spaces (blank lines may carry spaces). */
function blockContent(r: () => number, indent: number, explicit: number | null): string[] {
  const n = 1 + Math.floor(r() * 4);
  const lines: string[] = [];
  const pad = ' '.repeat(explicit ?? indent);
  for (let i = 0; i < n; i++) {
    let l = pick(r, BLOCK_LINES);
    if (i === 0 && l.startsWith(' ') && explicit === null) l = l.trimStart(); // the first line sets the indentation
    if (i === 0 && l === '') l = 'first';
    if (l === '') lines.push(r() < 0.3 ? ' '.repeat(Math.floor(r() * (indent + 2))) : '');
    else lines.push(pad + l);
  }
  // trailing blank lines, some with spaces
  const trail = Math.floor(r() * 3);
  for (let i = 0; i < trail; i++) lines.push(r() < 0.5 ? '' : ' '.repeat(1 + Math.floor(r() * (indent + 2))));
  return lines;
}

/** A block scalar after `prefix` (`key:` or `-`), content at `indent`. */
function blockScalar(r: () => number, prefix: string, indent: number): string[] {
  let h = pick(r, BLOCK_HEADERS);
  const m = /\d/.exec(h);
  // an explicit indentation counts from the parent's indentation: keep it >= 1 relative
  let explicit: number | null = null;
  if (m) {
    const base = indent - 2 >= 0 ? indent - 2 : 0;
    explicit = base + Number(m[0]);
    if (explicit <= base) explicit = base + 1;
    h = h.replace(/\d/, String(explicit - base));
  }
  const comment = r() < 0.15 ? ' # header comment' : '';
  return [`${prefix} ${h}${comment}`, ...blockContent(r, indent, explicit)];
}

function scalarText(r: () => number): string {
  const x = r();
  if (x < 0.55) return pick(r, PLAIN_SCALARS);
  if (x < 0.75) return pick(r, QUOTED).replace('%s', pick(r, QUOTE_TEXTS).replace(/'/g, "''"));
  const t = pick(r, TAGGED_SCALARS);
  return t;
}

/** Indent every line after the first of a multi-line scalar text by `n` more spaces. */
const reindent = (t: string, n: number) =>
  t
    .split('\n')
    .map((l, i) => (i === 0 || l === '' ? l : ' '.repeat(n) + l))
    .join('\n');

let keyCounter = 0;
const newKey = (r: () => number) => {
  keyCounter++;
  const k = r() < 0.1 ? pick(r, ['"quoted key"', "'k:x'", '1', 'true', '~', '? explicit']) : `k${keyCounter}`;
  return k === '? explicit' ? `k${keyCounter}` : k;
};

/** Lines of a block map at `indent`, `depth` levels deep at most. */
function blockMap(r: () => number, indent: number, depth: number, anchors: string[]): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const key = newKey(r);
    const x = r();
    if (r() < 0.08) out.push(`${pad}# a comment ${i}`);
    if (x < 0.45) {
      out.push(`${pad}${key}: ${reindent(scalarText(r), indent + 2)}`);
    } else if (x < 0.62) {
      out.push(...blockScalar(r, `${pad}${key}:`, indent + 2));
    } else if (x < 0.72 && depth > 0) {
      const a = r() < 0.3 ? `a${keyCounter}` : '';
      out.push(`${pad}${key}:${a ? ` &${a}` : ''}`, ...blockMap(r, indent + 2, depth - 1, anchors));
      if (a) anchors.push(a); // (after its content: no alias inside its own anchor)
    } else if (x < 0.82 && depth > 0) {
      out.push(`${pad}${key}:`, ...blockSeq(r, indent + (r() < 0.5 ? 0 : 2), depth - 1, anchors));
    } else if (x < 0.88) {
      out.push(`${pad}${key}: ${flow(r, 2)}`);
    } else if (x < 0.94 && anchors.length) {
      const a = pick(r, anchors);
      out.push(r() < 0.5 ? `${pad}${key}: *${a}` : `${pad}<<: *${a}`);
      if (out[out.length - 1]!.includes('<<')) out.push(`${pad}${key}: after-merge`);
    } else {
      const a = `s${keyCounter}`;
      anchors.push(a);
      out.push(
        `${pad}${key}: &${a} ${pick(
          r,
          PLAIN_SCALARS.filter((s) => !s.startsWith('<') && s !== '=' && !s.startsWith('@')),
        )}`,
      );
    }
    if (r() < 0.05) out.push(`${pad}${key}-dup: x`, `${pad}${key}-dup: y`); // a duplicate key
    if (r() < 0.05) out.push('');
  }
  return out;
}

function blockSeq(r: () => number, indent: number, depth: number, anchors: string[]): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.45) out.push(`${pad}- ${reindent(scalarText(r), indent + 2)}`);
    else if (x < 0.62) out.push(...blockScalar(r, `${pad}-`, indent + 2));
    else if (x < 0.8 && depth > 0) {
      const m = blockMap(r, indent + 2, depth - 1, anchors);
      out.push(`${pad}- ${m[0]!.trimStart()}`, ...m.slice(1));
    } else if (x < 0.9) out.push(`${pad}- ${flow(r, 2)}`);
    else if (anchors.length) out.push(`${pad}- *${pick(r, anchors)}`);
    else out.push(`${pad}-`);
  }
  return out;
}

function flow(r: () => number, depth: number): string {
  const x = r();
  const scalars = PLAIN_SCALARS.filter((s) => !/[,:[\]{}#]|^[-?@=<]|^$/.test(s) && !s.includes(' '));
  const item = (): string =>
    depth > 0 && r() < 0.2 ? flow(r, depth - 1) : r() < 0.7 ? pick(r, scalars) : `"${pick(r, QUOTE_TEXTS)}"`;
  if (x < 0.1) return pick(r, ['[ ]', '{ }', '[]', '{}', '[  ]', '{\n  }', '[a, ]', '{a: 1, }', '[ a ]']);
  if (x < 0.55) {
    const n = Math.floor(r() * 4);
    return `[${Array.from({ length: n }, item).join(', ')}]`;
  }
  const n = Math.floor(r() * 4);
  return `{${Array.from({ length: n }, (_, i) => `f${i}: ${item()}`).join(', ')}}`;
}

/** Malformed documents go-yaml refuses. */
export const MALFORMED: readonly string[] = [
  'a: 1\nb: 2\nstray\n',
  'a: 1\nb:\n\tc: 2\n',
  'a:\n  b: 1\n    c: 2\n',
  'a: 1\n  b: 2\n',
  'a: "unterminated\n',
  "a: 'unterminated\n",
  'a: [1, 2\n',
  'a: {b: 1\n',
  'a: b: c\n',
  'a: 1\n- b\n',
  '- a\nb: 1\n',
  'a: *nope\n',
  'a: 1\na: 2\n',
  'a:\n  b: 1\n  b: 2\n',
  'a: !!int abc\n',
  'a: !!float abc\n',
  'a: !!bool yes\n',
  'a: !!null x\n',
  'a: !!binary "!!"\n',
  'a: |\n  x\n y\n',
  'a: |0\n  x\n',
  'a: |10\n  x\n',
  'a: |--\n  x\n',
  'a: >+-\n  x\n',
  '[1, 2]\n',
  '- a\n- b\n',
  'just a value\n',
  '"quoted value"\n',
  'a: 1\n...\nb\n',
  'a: @x\n',
  'a: `x\n',
  'a: %x\n',
  '%YAML 1.1\n--- \na: 1\n',
  '%YAML 2.0\n---\na: 1\n',
  'a:\n- 1\n - 2\n',
  'a: 1\n b\n',
  'a:\n  - b\n  c: 1\n',
  'a: {b: [}\n',
  'a: b\n  - c\n',
  'a:  |\n  x\n\tb\n',
  'a: 1\nb: 2\nc\n',
  'k: v\nnext: "x\n',
  'k: v\nlast: trunc"\n',
];

/** Whole documents around one generated body: several documents, comments, markers, final newline or not. */
export function generateCorpus(seed: number, count: number): string[] {
  const r = rng(seed);
  keyCounter = 0;
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const x = r();
    let text: string;
    if (x < 0.04) {
      text = pick(r, MALFORMED);
    } else {
      const parts: string[] = [];
      const ndocs = r() < 0.12 ? 2 + Math.floor(r() * 2) : 1;
      for (let d = 0; d < ndocs; d++) {
        const anchors: string[] = [];
        const lines = blockMap(r, 0, 3, anchors);
        if (d > 0 || r() < 0.1) lines.unshift(r() < 0.8 ? '---' : '--- # doc');
        if (r() < 0.05) lines.push('...');
        parts.push(lines.join('\n'));
      }
      text = parts.join('\n');
      if (r() < 0.05) text = `# leading comment\n${text}`;
      if (r() < 0.05) text = `${text}\n# trailing comment`;
    }
    // at end of file with and without a final newline, and with trailing blank lines
    const end = r();
    text = text.replace(/\n*$/, '');
    if (end < 0.4) text += '\n';
    else if (end < 0.5) text += '\n\n';
    else if (end < 0.55) text += '\n  \n';
    docs.push(text);
  }
  return docs;
}
