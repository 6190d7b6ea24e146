// The JSON store: order and number text kept, output byte for byte as sops 3.13 writes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsonStore, goJsonFloat, goJsonString, parseJson } from '../src/stores/json.js';
import { FileError } from '../src/errors.js';
import { toPlain, type Comment, type Node, type Tree } from '../src/tree/types.js';
import { fixture } from './helpers/fixtures.js';

const store = createJsonStore();

function show(n: Node | Comment): string {
  switch (n.kind) {
    case 'comment':
      return `#${JSON.stringify(n.text)}`;
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
const showDoc = (t: Tree) => show(t.docs[0]!);

test('format.enc.json (sops 3.13) is written back byte for byte', () => {
  const data = fixture('format.enc.json');
  const { tree, metadata } = store.loadEncrypted(data);
  assert.match(showDoc(tree), /^\{foo: str\(ENC\[AES256_GCM,data:fvD\/,.*type:str\]\)\}$/);
  const m = metadata as { [k: string]: unknown };
  assert.equal(m['version'], '3.13.1');
  assert.equal((m['pgp'] as Array<{ fp: string }>)[0]!.fp, 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4');
  assert.deepEqual(store.emitEncrypted(tree, metadata!), data);
});

test('example.json (sops 3.5) loads; written back it only gains the final newline sops 3.13 adds', () => {
  const data = fixture('example.json');
  const { tree, metadata } = store.loadEncrypted(data);
  assert.deepEqual(Object.keys(toPlain(tree.docs[0]!) as object), [
    'firstName',
    'lastName',
    'age',
    'address',
    'phoneNumbers',
    'anEmptyValue',
  ]);
  assert.equal((metadata as { kms: unknown }).kms, null);
  assert.deepEqual(store.emitEncrypted(tree, metadata!), Buffer.concat([data, Buffer.from('\n')]));
});

test('numbers: int64 integers exactly (beyond 2^53 too), everything else float with its text', () => {
  const t = parseJson(
    '{"a": 1, "b": -0, "c": 9007199254740993, "d": 9223372036854775807, "e": -9223372036854775808, "f": 9223372036854775808, "g": 1.0, "h": 1e3, "i": -2.5E-7, "j": 0.1}',
  );
  assert.equal(
    showDoc(t),
    '{a: int(1), b: int(0), c: int(9007199254740993), d: int(9223372036854775807), e: int(-9223372036854775808), f: float(9223372036854775808), g: float(1.0), h: float(1e3), i: float(-2.5E-7), j: float(0.1)}',
  );
  assert.equal(
    store.emitPlain(t).toString('utf8'),
    '{\n\t"a": 1,\n\t"b": 0,\n\t"c": 9007199254740993,\n\t"d": 9223372036854775807,\n\t"e": -9223372036854775808,\n\t"f": 9223372036854775808,\n\t"g": 1.0,\n\t"h": 1e3,\n\t"i": -2.5E-7,\n\t"j": 0.1\n}\n',
  );
  assert.throws(() => parseJson('{"x": 1e400}'), /a number is out of range at line 1, column 7/);
});

test('floats from other formats print as Go prints a float64', () => {
  const f = (text: string): Tree => ({
    docs: [{ kind: 'map', items: [{ kind: 'entry', key: 'x', value: { kind: 'scalar', type: 'float', text } }] }],
  });
  const out = (text: string) => store.emitPlain(f(text)).toString('utf8');
  assert.equal(out('.5'), '{\n\t"x": 0.5\n}\n');
  assert.equal(out('+1.5'), '{\n\t"x": 1.5\n}\n');
  assert.equal(out('1.'), '{\n\t"x": 1\n}\n');
  assert.throws(() => out('NaN'), /unsupported value: NaN/);
  assert.equal(goJsonFloat(1e21), '1e+21');
  assert.equal(goJsonFloat(1e20), '100000000000000000000');
  assert.equal(goJsonFloat(1.5e-7), '1.5e-7');
  assert.equal(goJsonFloat(0.000001), '0.000001');
  assert.equal(goJsonFloat(-1234567890), '-1234567890');
});

test('strings are escaped as Go escapes them', () => {
  assert.equal(goJsonString('<a href="x">&amp;</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e"');
  assert.equal(goJsonString('\u2028\u2029'), '"\\u2028\\u2029"');
  assert.equal(goJsonString('tab\tnl\ncr\r\b\f\u0001\u001f\u007f'), '"tab\\tnl\\ncr\\r\\b\\f\\u0001\\u001f\u007f"');
  assert.equal(goJsonString('ünï 日本 😀 back\\slash /'), '"ünï 日本 😀 back\\\\slash /"');
  // a lone surrogate stands for a byte that is not UTF-8: Go's json.Marshal writes the escape
  assert.equal(goJsonString('lone \ud800 surrogate'), '"lone \\ufffd surrogate"');
  const t = parseJson('{"k\\u003c": "\\u00e9\\n\\"q\\"", "e": "\\ud83d\\ude00"}');
  assert.equal(showDoc(t), '{k<: str(é\n"q"), e: str(😀)}');
});

test('layout: tab or --indent spaces, ": ", empty collections on one line, order kept, comments dropped', () => {
  const t = parseJson('{"z": {"b": [], "a": {}}, "a": [1, {"x": null, "y": [true, false]}], "s": ""}');
  t.docs[0]!.items.splice(1, 0, { kind: 'comment', text: ' dropped' });
  assert.equal(
    store.emitPlain(t).toString('utf8'),
    '{\n\t"z": {\n\t\t"b": [],\n\t\t"a": {}\n\t},\n\t"a": [\n\t\t1,\n\t\t{\n\t\t\t"x": null,\n\t\t\t"y": [\n\t\t\t\ttrue,\n\t\t\t\tfalse\n\t\t\t]\n\t\t}\n\t],\n\t"s": ""\n}\n',
  );
  assert.equal(
    createJsonStore({ indent: 2 }).emitPlain(t).toString('utf8'),
    '{\n  "z": {\n    "b": [],\n    "a": {}\n  },\n  "a": [\n    1,\n    {\n      "x": null,\n      "y": [\n        true,\n        false\n      ]\n    }\n  ],\n  "s": ""\n}\n',
  );
  assert.equal(
    createJsonStore({ indent: 0 }).emitPlain(parseJson('{"a": [1]}')).toString('utf8'),
    '{\n"a": [\n1\n]\n}\n',
  );
  assert.throws(() => createJsonStore({ indent: -2 }).emitPlain(t), /smaller than -1/);
  assert.equal(store.emitPlain(parseJson('{}')).toString('utf8'), '{}\n');
});

test('emitEncrypted appends the metadata last; emitValue prints one value without a final newline', () => {
  const t = parseJson('{"a": "ENC[x]"}');
  const out = store.emitEncrypted(t, {
    lastmodified: '2026-01-01T00:00:00Z',
    mac: 'ENC[m]',
    pgp: [{ enc: '-----BEGIN PGP MESSAGE-----\n\nx\n-----END PGP MESSAGE-----', fp: 'AB' }],
    version: '3.13.2',
  });
  assert.equal(
    out.toString('utf8'),
    '{\n\t"a": "ENC[x]",\n\t"sops": {\n\t\t"lastmodified": "2026-01-01T00:00:00Z",\n\t\t"mac": "ENC[m]",\n\t\t"pgp": [\n\t\t\t{\n\t\t\t\t"enc": "-----BEGIN PGP MESSAGE-----\\n\\nx\\n-----END PGP MESSAGE-----",\n\t\t\t\t"fp": "AB"\n\t\t\t}\n\t\t],\n\t\t"version": "3.13.2"\n\t}\n}\n',
  );
  const back = store.loadEncrypted(out);
  assert.equal(showDoc(back.tree), '{a: str(ENC[x])}');
  assert.equal((back.metadata as { version: string }).version, '3.13.2');
  const v = parseJson('{"l": [1, "two", {"k": []}]}').docs[0]!.items[0] as { value: Node };
  assert.equal(store.emitValue(v.value).toString('utf8'), '[\n\t1,\n\t"two",\n\t{\n\t\t"k": []\n\t}\n]');
});

test('round trips: a varied corpus prints back to the same text and tree', () => {
  const corpus = [
    '{"a": 1, "b": [1, 2.5, "x", null, true, false, [], {}], "c": {"d": {"e": "ünïcödé 😀 <&>"}}, "big": 123456789012345678}',
    '{"multi": "line 1\\nline 2\\n", "empty": "", "nested": [[[]]], "dup": 1, "dup": 2}',
  ];
  for (const src of corpus) {
    const t = parseJson(src);
    const out = store.emitPlain(t);
    assert.equal(showDoc(parseJson(out)), showDoc(t));
    assert.deepEqual(store.emitPlain(parseJson(out)), out);
  }
});

test('output larger than its size estimate (escapes) and long strings print whole', () => {
  // `<` is one byte read and six written (\u003c): the output outgrows the store's estimate
  const lt = '<'.repeat(200_000);
  const long = 'ü'.repeat(70_000) + '😀';
  const t = parseJson(JSON.stringify({ [lt]: lt, long, k_longer_than_13_characters: [long, 1] }));
  const out = store.emitPlain(t).toString('utf8');
  const want = `{\n\t${goJsonString(lt)}: ${goJsonString(lt)},\n\t"long": "${long}",\n\t"k_longer_than_13_characters": [\n\t\t"${long}",\n\t\t1\n\t]\n}\n`;
  assert.equal(out.length, want.length);
  assert.ok(out === want);
});

test('malformed JSON is a FileError saying what and where; the top level must be an object', () => {
  const cases: Array<[string, RegExp]> = [
    ['{"a": }', /invalid character '}' looking for beginning of value at line 1, column 7/],
    ['{"a": 1,\n "b" 2}', /invalid character '2' after object key at line 2, column 6/],
    ['{"a": [1 2]}', /after array element at line 1, column 10/],
    ['{"a": tru}', /in literal true/],
    ['{"a": "x', /unexpected end of JSON input/],
    ['{"a": "\\q"}', /in string escape code/],
    ['', /unexpected end of JSON input/],
    ['{"a": 01}', /after object key:value pair/],
    ['[1, 2]', /top-level object.*not arrays/],
    ['"text"', /top-level object.*not other JSON types/],
  ];
  for (const [src, re] of cases) {
    assert.throws(
      () => store.loadPlain(Buffer.from(src)),
      (e: unknown) => {
        assert.ok(e instanceof FileError, `${JSON.stringify(src)}: ${String(e)}`);
        assert.match(e.message, re, JSON.stringify(src));
        return true;
      },
    );
  }
  assert.throws(() => store.loadEncrypted(Buffer.from('{"sops": {}, "sops": {}}')), /duplicate sops/);
  assert.throws(() => store.loadEncrypted(Buffer.from('{"sops": []}')), /not a mapping/);
  assert.equal(store.loadEncrypted(Buffer.from('{"a": 1}')).metadata, undefined);
});
