// The YAML store: reading as sops (go-yaml v3) reads, printing byte for byte as sops 3.13 prints.
// Expected outputs marked "go-yaml" were produced by sops's YAML store logic running on go-yaml v3.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createYamlStore, parseYaml } from '../src/stores/yaml.js';
import { FileError } from '../src/errors.js';
import { encryptTree } from '../src/tree/crypt.js';
import { encryptValue } from '../src/aes/cipher.js';
import { formatTimestamp, macAad, metadataToPlain, SOPS_FORMAT_VERSION } from '../src/metadata/metadata.js';
import type { Comment, ListNode, MapNode, Node, Tree } from '../src/tree/types.js';
import { oracleAvailable, oracleUnavailableReason, sopsDecrypt, closeOracle } from './helpers/sops-oracle.js';
import { fixture } from './helpers/fixtures.js';

const store = createYamlStore();
const load = (s: string) => parseYaml(s);
const print = (t: Tree, indent?: number) =>
  createYamlStore(indent === undefined ? {} : { indent })
    .emitPlain(t)
    .toString('utf8');

/** A compact view of a tree: comments as #"text" (#i for inline), scalars as type(text). */
function show(n: Node | Comment): string {
  switch (n.kind) {
    case 'comment':
      return `#${(n as Comment & { inline?: boolean }).inline ? 'i' : ''}${JSON.stringify(n.text)}`;
    case 'null':
      return 'null';
    case 'scalar':
      return `${n.type}(${n.text})`;
    case 'list':
      return `[${n.items.map(show).join(', ')}]`;
    case 'map':
      return `{${n.items.map((i) => (i.kind === 'comment' ? show(i) : `${i.key}: ${show(i.value)}`)).join(', ')}}`;
  }
}
const showDocs = (t: Tree) => t.docs.map(show).join(' --- ');

after(async () => {
  await closeOracle();
});

// -------------------------------------------------------------------------------------------------
// sops 3.13 fixtures

test('format.enc.yaml (sops 3.13) loads and is written back byte for byte', () => {
  const data = fixture('format.enc.yaml');
  const { tree, metadata } = store.loadEncrypted(data);
  assert.equal(
    showDocs(tree),
    '{foo: str(ENC[AES256_GCM,data:8CvE,iv:tjchf/lmMpXDOA1tLE/N4oY9IqJIzfQ/7NlvQlDUtoA=,tag:1aFCHIRp3j/VPNcCEsE95A==,type:str])}',
  );
  const m = metadata as { [k: string]: unknown };
  assert.equal(m['lastmodified'], '2026-05-22T20:16:23Z');
  assert.equal(m['version'], '3.13.1');
  const pgp = m['pgp'] as Array<{ [k: string]: string }>;
  assert.equal(pgp[0]!['fp'], 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4');
  assert.match(pgp[0]!['enc']!, /^-----BEGIN PGP MESSAGE-----\n\nwcBMA.*\n-----END PGP MESSAGE-----$/s);
  assert.deepEqual(store.emitEncrypted(tree, metadata!), data);
});

test('example.yaml (comments, lists, nested maps, suffix) is written back byte for byte', () => {
  const data = fixture('example.yaml');
  const { tree, metadata } = store.loadEncrypted(data);
  const doc = tree.docs[0]!;
  assert.ok(!doc.items.some((i) => i.kind === 'entry' && i.key === 'sops'));
  const nested = (
    (((doc.items[5] as { value: MapNode }).value.items[0] as { value: MapNode }).value.items[0] as { value: MapNode })
      .value.items[0] as { value: MapNode }
  ).value;
  assert.equal(nested.items.filter((i) => i.kind === 'comment').length, 3);
  assert.deepEqual(store.emitEncrypted(tree, metadata!), data);
});

test('older sops files load: quoted timestamps, `-   ` lists, unencrypted comments', () => {
  for (const name of ['comments.enc.yaml', 'multiple_keys.yaml', 'no_mac.yaml']) {
    const { tree, metadata } = store.loadEncrypted(fixture(name));
    assert.ok(metadata && typeof metadata === 'object', name);
    assert.equal(typeof (metadata as { [k: string]: unknown })['lastmodified'], 'string', name);
    assert.ok(tree.docs[0]!.items.length > 0, name);
  }
  const { tree, metadata } = store.loadEncrypted(fixture('comments.enc.yaml'));
  assert.match(
    showDocs(tree),
    /^\{#"ENC\[AES256_GCM,data:IYA\+.*type:comment\]", lorem: str\(ENC.*\), #"ENC\[.*dolor: str\(ENC/,
  );
  assert.deepEqual((metadata as { kms: unknown }).kms, []);
  // re-emitted in the sops 3.13 layout, which loads back to the same tree
  const again = store.loadEncrypted(store.emitEncrypted(tree, metadata!));
  assert.equal(showDocs(again.tree), showDocs(tree));
  assert.deepEqual(again.metadata, metadata);
});

test('a file without metadata loads with metadata undefined', () => {
  const { tree, metadata } = store.loadEncrypted(Buffer.from('a: 1\n'));
  assert.equal(metadata, undefined);
  assert.equal(showDocs(tree), '{a: int(1)}');
});

// -------------------------------------------------------------------------------------------------
// Reading: types

test('scalars get sops types (go-yaml v3 rules)', () => {
  const t = load(
    [
      'int: 42',
      'neg: -17',
      'hex: 0x1F',
      'oct: 0o17',
      'old_oct: 017',
      'plus: +5',
      'under: 1_000',
      'max: 9223372036854775807',
      'min: -9223372036854775808',
      'big: 9223372036854775808',
      'bigger: 1e400',
      'float: 1.5',
      'one: 1.0',
      'exp: 1.5e+3',
      'dot: .5',
      'eight: 08',
      'inf: .inf',
      'ninf: -.Inf',
      'nan: .NaN',
      't: true',
      'f: False',
      'yes: yes',
      'n: null',
      'tilde: ~',
      'empty:',
      'q: "123"',
      "s: 'true'",
      'ts: 2001-12-14t21:59:43.10-05:00',
      'date: 2002-12-14',
      'notdate: 2002-02-30',
      'bin: !!binary aGVsbG8=',
      'tagged: !!str 12',
      'tint: !!int "7"',
      'custom: !foo bar',
      'lit: |\n  x\n  y',
    ].join('\n') + '\n',
  );
  assert.equal(
    showDocs(t),
    '{' +
      [
        'int: int(42)',
        'neg: int(-17)',
        'hex: int(31)',
        'oct: int(15)',
        'old_oct: int(15)',
        'plus: int(5)',
        'under: int(1000)',
        'max: int(9223372036854775807)',
        'min: int(-9223372036854775808)',
        'big: float(9223372036854775808)',
        'bigger: str(1e400)',
        'float: float(1.5)',
        'one: float(1.0)',
        'exp: float(1.5e+3)',
        'dot: float(.5)',
        'eight: float(08)',
        'inf: float(+Inf)',
        'ninf: float(-Inf)',
        'nan: float(NaN)',
        't: bool(true)',
        'f: bool(false)',
        'yes: str(yes)',
        'n: null',
        'tilde: null',
        'empty: null',
        'q: str(123)',
        's: str(true)',
        'ts: time(2001-12-14T21:59:43.1-05:00)',
        'date: time(2002-12-14T00:00:00Z)',
        'notdate: str(2002-02-30)',
        'bin: str(hello)',
        'tagged: str(12)',
        'tint: int(7)',
        'custom: str(bar)',
        'lit: str(x\ny\n)',
      ].join(', ') +
      '}',
  );
});

test('keys are strings: a non-string key keeps its text', () => {
  assert.equal(showDocs(load('1: a\ntrue: b\n1.5: c\n~: d\n')), '{1: str(a), true: str(b), 1.5: str(c), ~: str(d)}');
});

test('aliases are expanded into independent copies; merge keys stay plain keys', () => {
  const t = load('base: &b {x: 1, l: [1, 2]}\ncopy: *b\ns: &s hi\nr: *s\nm:\n  <<: *b\n');
  assert.equal(
    showDocs(t),
    '{base: {x: int(1), l: [int(1), int(2)]}, copy: {x: int(1), l: [int(1), int(2)]}, s: str(hi), r: str(hi), m: {<<: {x: int(1), l: [int(1), int(2)]}}}',
  );
  const doc = t.docs[0]!;
  const base = (doc.items[0] as { value: MapNode }).value;
  const copy = (doc.items[1] as { value: MapNode }).value;
  assert.notEqual(base, copy);
  assert.notEqual((base.items[1] as { value: ListNode }).value, (copy.items[1] as { value: ListNode }).value);
});

test('documents: several, empty, and none', () => {
  assert.equal(showDocs(load('a: 1\n---\nb: 2\n')), '{a: int(1)} --- {b: int(2)}');
  assert.equal(showDocs(load('---\n')), '{}');
  assert.equal(load('').docs.length, 0);
  assert.equal(showDocs(load('--- {a: 1}\n...\n')), '{a: int(1)}');
});

// -------------------------------------------------------------------------------------------------
// Reading: comments (placements checked against sops's YAML store on go-yaml v3)

const commentCases: Array<[string, string]> = [
  [
    '# head\na: 1 # inline\n# between\nb:\n  # nested head\n  x: 1\n  # nested foot\n# top foot?\nc: 2\n\n# after blank\n\nd: 3\n# end\n',
    '{#" head", #i" inline", a: int(1), #" between", b: {#" nested head", x: int(1), #" nested foot"}, #" top foot?", c: int(2), #" after blank", d: int(3), #" end"}',
  ],
  ['l:\n- a # in\n#c\n- b\n#c2\nk: 1 # x\n', '{l: [#i" in", str(a), #"c", str(b)], #"c2", #i" x", k: int(1)}'],
  ['l:\n  - a\n  # c in list?\n# c at 0\nk: 1\n', '{l: [str(a), #" c in list?"], #" c at 0", k: int(1)}'],
  ['a: # on key\n  b: 1\nc:\n  - # on item\n    x: 1\n', '{#" on key", a: {b: int(1)}, c: [{#" on item", x: int(1)}]}'],
  ['l:\n  - a\n # c1\nk: 1\n', '{l: [str(a), #" c1"], k: int(1)}'],
  ['a:\n  b:\n    c: 1\n    # c4\n  # c2\n # c1\nd: 1\n', '{a: {b: {c: int(1), #" c4"}, #" c2"}, #" c1", d: int(1)}'],
  ['a:\n  - x: 1\n  # foot of list\nb: 3\n', '{a: [{x: int(1), #" foot of list"}], b: int(3)}'],
  ['a:\n  - - 1\n    # f\n  - 2\nb: 3\n', '{a: [[int(1), #" f"], int(2)], b: int(3)}'],
  ['a: [1, 2] # flow\nb: {x: 1} # f2\n', '{a: [#" flow", int(1), int(2)], b: {#" f2", x: int(1)}}'],
  ['a: | # hdr\n  text\nb: 1\n', '{#i" hdr", a: str(text\n), b: int(1)}'],
  ['a: 1\n# between docs\n---\nb: 2\n', '{a: int(1), #" between docs"} --- {b: int(2)}'],
  ['a: 1\n---\n# doc2 head\nb: 2\n', '{a: int(1)} --- {#" doc2 head", b: int(2)}'],
  ['x:\n  a: 1\n  # c\n\nb: 2\n', '{x: {a: int(1), #" c"}, b: int(2)}'],
  ['a: # c\nb: 1\n', '{#" c", a: null, b: int(1)}'],
];

test('comments land where sops puts them', () => {
  for (const [src, want] of commentCases) assert.equal(showDocs(load(src)), want, JSON.stringify(src));
});

// -------------------------------------------------------------------------------------------------
// Printing (expected outputs from sops's YAML store on go-yaml v3)

const printCases: Array<[string, string]> = [
  [
    '# head\na: 1 # inline\n# between\nb:\n  # nested head\n  x: 1\n  # nested foot\n# before c\nc: 2\n# end\n',
    '# head\na: 1 # inline\n# between\nb:\n    # nested head\n    x: 1\n    # nested foot\n# before c\nc: 2\n# end\n',
  ],
  [
    'list:\n- a # item\n# between items\n- b\n# after list\nk: v\n',
    'list:\n    - a # item\n    # between items\n    - b\n# after list\nk: v\n',
  ],
  [
    'outer:\n  - x: 1\n    # in map\n    y: 2\n    # foot of map\n  # foot of list\n  - z\n',
    'outer:\n    - x: 1\n      # in map\n      "y": 2\n      # foot of map\n    # foot of list\n    - z\n',
  ],
  ['a: # on key\n  b: 1\nc:\n  - # on dash\n    x: 1\n', '# on key\na:\n    b: 1\nc:\n    # on dash\n    - x: 1\n'],
  [
    'users:\n  - name: alice\n    roles: [admin, dev]\n  - name: bob\n    roles: []\nempty_map: {}\nempty_list: []\nempty_str: ""\nnull_value:\ntilde: ~\n',
    'users:\n    - name: alice\n      roles:\n        - admin\n        - dev\n    - name: bob\n      roles: []\nempty_map: {}\nempty_list: []\nempty_str: ""\nnull_value: null\ntilde: null\n',
  ],
  [
    'plain: hello world\nnum_str: "123"\nbool_str: "true"\nyes_str: "yes"\nnull_str: "null"\ncolon: "a: b"\nhash: "a #b"\nlead: " x"\ntrail: "x "\ndash: "- x"\nquote: "it\'s"\ndq: \'say "hi"\'\nstar: "*x"\nts: "2026-05-22T20:16:20Z"\nsexagesimal: "1:20"\nhex_str: "0x1F"\ndots: "..."\n',
    'plain: hello world\nnum_str: "123"\nbool_str: "true"\nyes_str: "yes"\nnull_str: "null"\ncolon: \'a: b\'\nhash: \'a #b\'\nlead: \' x\'\ntrail: \'x \'\ndash: \'- x\'\nquote: it\'s\ndq: say "hi"\nstar: \'*x\'\nts: "2026-05-22T20:16:20Z"\nsexagesimal: "1:20"\nhex_str: "0x1F"\ndots: \'...\'\n',
  ],
  [
    'lit: |\n  line 1\n  line 2\nstrip: |-\n  no newline\nkeep: |+\n  kept\n\nfolded: >\n  folded\n  text\nquoted_nl: "a\\nb"\nspace_nl: "a \\nb"\ntab: "a\\tb"\n',
    'lit: |\n    line 1\n    line 2\nstrip: no newline\nkeep: |+\n    kept\n\nfolded: |\n    folded text\nquoted_nl: |-\n    a\n    b\nspace_nl: "a \\nb"\ntab: "a\\tb"\n',
  ],
  [
    'unicode: ünïcödé\ncjk: 日本語\nemoji: "😀 smile"\nnbsp: "a\\u00a0b"\nls: "a\\u2028b"\nctrl: "\\x01"\n',
    // go-yaml writes U+2028 as a line break in single quotes, and indents what follows it
    'unicode: ünïcödé\ncjk: 日本語\nemoji: "\\U0001F600 smile"\nnbsp: a\u00a0b\nls: \'a\u2028    b\'\nctrl: "\\x01"\n',
  ],
  [
    '"123": numeric key\n"true": bool key\n"a b": spaced\n"k: v": colon key\n? "' + 'k'.repeat(130) + '"\n: long key\n',
    '"123": numeric key\n"true": bool key\na b: spaced\n\'k: v\': colon key\n? ' + 'k'.repeat(130) + '\n: long key\n',
  ],
  ['a: 1\n---\nb: 2\n---\n# c\nc: 3\n', 'a: 1\n---\nb: 2\n---\n# c\nc: 3\n'],
  [
    'base: &b {x: 1, y: [1, 2]}\ncopy: *b\nscalar: &s hello\nref: *s\n',
    'base:\n    x: 1\n    "y":\n        - 1\n        - 2\ncopy:\n    x: 1\n    "y":\n        - 1\n        - 2\nscalar: hello\nref: hello\n',
  ],
];

test('plain output is what sops prints (quoting, block scalars, comments, lists under keys)', () => {
  for (const [src, want] of printCases) assert.equal(print(load(src)), want, JSON.stringify(src));
});

test('numbers print as decimals; a float always reads back as a float', () => {
  const t = load(
    'int: 0x1F\nbig: 9223372036854775807\nf: 1.0\ne: 1.5e+3\nd: .5\ninf: .inf\nninf: -.inf\nnan: .nan\nt: True\nn: ~\n',
  );
  assert.equal(
    print(t),
    'int: 31\nbig: 9223372036854775807\nf: 1.0\ne: 1.5e+3\nd: .5\ninf: .inf\nninf: -.inf\nnan: .nan\nt: true\n"n": null\n',
  );
  const sopsFloat: Tree = {
    docs: [
      {
        kind: 'map',
        items: [{ kind: 'entry', key: 'number', value: { kind: 'scalar', type: 'float', text: '1234567890' } }],
      },
    ],
  };
  assert.equal(print(sopsFloat), 'number: 1234567890.0\n');
  assert.equal(showDocs(load(print(sopsFloat))), '{number: float(1234567890.0)}');
});

test('--indent changes the indentation (2..9; go-yaml uses 2 otherwise); negative is refused', () => {
  const src = 'a:\n  b: [1, {c: x}]\n  s: |\n    l1\n    l2\n';
  assert.equal(print(load(src), 2), 'a:\n  b:\n    - 1\n    - c: x\n  s: |\n    l1\n    l2\n');
  assert.equal(print(load(src), 1), print(load(src), 2));
  assert.equal(print(load(src), 0), print(load(src)));
  assert.equal(
    print(load(src), 6),
    'a:\n      b:\n            - 1\n            - c: x\n      s: |\n            l1\n            l2\n',
  );
  assert.throws(() => createYamlStore({ indent: -1 }).emitPlain(load(src)), FileError);
});

test('a leading line break in a block string is kept (go-yaml would drop it)', () => {
  const t = load('a: "\\nlead"\nb: "\\n\\nx\\n"\n');
  const out = print(t);
  assert.equal(out, 'a: |4-\n\n    lead\nb: |4\n\n\n    x\n');
  assert.equal(showDocs(load(out)), showDocs(t));
});

test('round trips: a varied corpus loads back to the same tree', () => {
  // (not the U+2028 case, which go-yaml cannot read back either, nor a comment after `- ` on a
  // line of its own, which sops moves before the item)
  const corpus = [
    ...printCases.map(([s]) => s).filter((s) => !s.includes('u2028') && !s.includes('on dash')),
    ...commentCases.map(([s]) => s).filter((s) => !s.includes('on item')),
    'n: [0, -1, 1.25, 1e-7, 9223372036854775807, -9223372036854775808, true, false, null, ""]\n',
    'deep:\n  a:\n    b:\n      c:\n        - - - x\n          - {}\n          - []\n',
    'ctl: "\\0\\a\\b\\e\\x7f\\u0085\\ufeff"\nbom: "\\ufeffx"\nlong: "' + 'word '.repeat(40) + 'end"\n',
    'multi: "line 1\\nline 2\\n\\n  indented\\n"\ntrailing_spaces: "a  \\nb"\n',
  ];
  for (const src of corpus) {
    const t = load(src);
    for (const indent of [undefined, 2, 8]) {
      const out = print(t, indent);
      assert.equal(showDocs(load(out)), showDocs(t), `${JSON.stringify(src)} (indent ${indent})`);
      assert.equal(print(load(out), indent), out, `${JSON.stringify(src)}: printing is stable`);
    }
  }
});

test('emitEncrypted writes the metadata into every document; loadEncrypted reads it from the first', () => {
  const t = load('a: 1\n---\nb: 2\n');
  const meta = { lastmodified: '2026-01-01T00:00:00Z', mac: 'ENC[x]', version: '3.13.2' };
  const out = store.emitEncrypted(t, meta).toString('utf8');
  assert.equal(
    out,
    'a: 1\nsops:\n    lastmodified: "2026-01-01T00:00:00Z"\n    mac: ENC[x]\n    version: 3.13.2\n---\nb: 2\nsops:\n    lastmodified: "2026-01-01T00:00:00Z"\n    mac: ENC[x]\n    version: 3.13.2\n',
  );
  const back = store.loadEncrypted(Buffer.from(out));
  assert.deepEqual(back.metadata, meta);
  assert.equal(showDocs(back.tree), '{a: int(1)} --- {b: int(2)}');
});

test('emitValue prints one value as sops --extract does', () => {
  const t = load('l: [a, 1, {k: v}]\nm: {x: [], y: "2"}\nn: 5\n').docs[0]!;
  const v = (i: number) => store.emitValue((t.items[i] as { value: Node }).value).toString('utf8');
  assert.equal(v(0), '- a\n- 1\n- k: v\n');
  assert.equal(v(1), 'x: []\n"y": "2"\n');
  assert.equal(v(2), '5\n');
});

// -------------------------------------------------------------------------------------------------
// Errors

test('malformed YAML is a FileError saying what and where', () => {
  const cases: Array<[string, RegExp]> = [
    ['a: b: c\n', /line 1, column \d+/],
    ['a:\n  - b\n c: d\n', /line 3, column 1/],
    ["a: 'unclosed\n", /line \d+/],
    ['a: [1, 2\n', /line \d+/],
    ['a: 1\na: 2\n', /mapping key "a" already defined at line 2, column 1/],
    ['\ta: 1\n', /[Tt]ab/],
    ['a: "bad \\q"\n', /escape/],
    ['a: *nowhere\n', /unknown anchor 'nowhere'/],
    ['a: !!int abc\n', /cannot decode a !!str value as a !!int at line 1/],
  ];
  for (const [src, re] of cases) {
    assert.throws(
      () => store.loadPlain(Buffer.from(src)),
      (e: unknown) => {
        assert.ok(e instanceof FileError, `${JSON.stringify(src)}: ${String(e)}`);
        assert.match(e.message, re, JSON.stringify(src));
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      },
    );
  }
});

test('the top level must be a map', () => {
  assert.throws(() => store.loadPlain(Buffer.from('- a\n- b\n')), /sequences are not supported/);
  assert.throws(() => store.loadPlain(Buffer.from('[1]\n')), /sequences are not supported/);
  assert.throws(() => store.loadPlain(Buffer.from('just text\n')), /values are not supported/);
  assert.throws(() => store.loadEncrypted(Buffer.from('a: 1\nsops: 3\n')), /sops entry that is not a mapping/);
});

// -------------------------------------------------------------------------------------------------
// Real sops reads what this store writes

// (no timestamps here: the oracle's sops predates `type:time`, added in sops 3.10)
test('real sops decrypts a file this store wrote (comments, lists, types, multi-line)', async (t) => {
  if (!(await oracleAvailable()))
    return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown'}`);
  const identity = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
  const recipient = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';
  const src = [
    '# top comment',
    'name: tsops # inline',
    'db:',
    '    # nested comment',
    '    user: admin',
    '    port: 5432',
    '    ratio: 0.75',
    '    enabled: true',
    '    none: null',
    'list:',
    '    - a',
    '    # list comment',
    '    - 2',
    '    - k: v',
    '      # foot',
    'multi: |',
    '    line 1',
    '    line 2',
    'quoted: "123"',
    'empty: ""',
    'plain_unencrypted: visible',
    '',
  ].join('\n');
  const tree = store.loadPlain(Buffer.from(src));
  const key = randomBytes(32);
  const scope = { unencryptedSuffix: '_unencrypted' };
  const mac = encryptTree(tree, key, scope);
  const lastModified = formatTimestamp(new Date());
  const age = await import('age-encryption');
  const enc = new age.Encrypter();
  enc.addRecipient(recipient);
  const wrapped = age.armor.encode(await enc.encrypt(new Uint8Array(key)));
  const metadata = metadataToPlain({
    keyGroups: [[{ type: 'age', recipient, enc: wrapped }]],
    shamirThreshold: 0,
    lastModified,
    mac: encryptValue(mac, 'str', key, macAad(lastModified)),
    version: SOPS_FORMAT_VERSION,
    scope,
  });
  const file = store.emitEncrypted(tree, metadata);
  assert.match(file.toString('utf8'), /^#ENC\[AES256_GCM,.*type:comment\]\n/);
  assert.match(file.toString('utf8'), /\nlist:\n {4}- ENC\[.*\n {4}#ENC\[.*type:comment\]\n {4}- ENC/);
  const r = await sopsDecrypt(file, 'yaml', { SOPS_AGE_KEY: identity });
  assert.equal(r.error, '');
  assert.equal(r.ok, true);
  assert.deepEqual(JSON.parse(r.output), {
    name: 'tsops',
    db: { user: 'admin', port: 5432, ratio: 0.75, enabled: true, none: null },
    list: ['a', 2, { k: 'v' }],
    multi: 'line 1\nline 2\n',
    quoted: '123',
    empty: '',
    plain_unencrypted: 'visible',
  });
});
