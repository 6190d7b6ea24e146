// The INI store (src/stores/ini.ts, on the go-ini emulation in src/stores/goini.ts), against the INI
// files real sops wrote (the real-sops oracle does not read INI: their MACs are checked here instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { createIniStore } from '../src/stores/ini.js';
import { FileError, SopsError, ExitCode } from '../src/errors.js';
import { macAad, metadataToPlain, parseMetadata } from '../src/metadata/metadata.js';
import { decryptTree } from '../src/tree/crypt.js';
import { decryptParsed, parseEncrypted } from '../src/aes/cipher.js';
import {
  entry,
  map,
  str,
  toPlain,
  type Comment,
  type MapEntry,
  type Node,
  type Plain,
  type Tree,
} from '../src/tree/types.js';
import { fixture } from './helpers/fixtures.js';

const store = createIniStore();
const load = (s: string | Buffer): Tree => store.loadPlain(typeof s === 'string' ? Buffer.from(s) : s);
const emit = (t: Tree): string => store.emitPlain(t).toString('utf8');
const c = (text: string): Comment => ({ kind: 'comment', text });
const section = (name: string, items: Array<MapEntry | Comment>): MapEntry => entry(name, map(items));
const tree = (...sections: Array<MapEntry | Comment>): Tree => ({ docs: [map(sections)] });
const sc = (type: 'int' | 'float' | 'bool', text: string): Node => ({ kind: 'scalar', type, text });

async function decryptFixture(name: string): Promise<{ tree: Tree; metadata: Plain }> {
  const { tree: t, metadata } = store.loadEncrypted(fixture(name));
  assert.ok(metadata);
  const md = parseMetadata(metadata);
  const pgp = md.keyGroups[0]!.find((k) => k.type === 'pgp');
  assert.ok(pgp);
  const keys = await openpgp.readPrivateKeys({
    armoredKeys: fixture('keys/sops_functional_tests_key.asc').toString('utf8'),
  });
  const { data } = await openpgp.decrypt({
    message: await openpgp.readMessage({ armoredMessage: pgp.enc }),
    decryptionKeys: keys,
    format: 'binary',
  });
  const key = Buffer.from(data);
  const mac = decryptTree(t, key, md.scope);
  assert.equal(mac, decryptParsed(parseEncrypted(md.mac), key, macAad(md.lastModified)).toString(), `MAC of ${name}`);
  return { tree: t, metadata };
}

test('format is ini', () => {
  assert.equal(store.format, 'ini');
});

// sops's own TestDecodeIni input
const SOPS_EXAMPLE = `
; last modified 1 April 2001 by John Doe
[owner]
name=John Doe
organization=Acme Widgets Inc.

[database]
; use IP address in case network name resolution is not working
server=192.0.2.62     
port=143
file="payroll.dat"
`;

test('sections become maps; DEFAULT is always there; comments as sops places them', () => {
  assert.deepEqual(
    load(SOPS_EXAMPLE),
    tree(
      section('DEFAULT', []),
      section('owner', [
        c('last modified 1 April 2001 by John Doe'),
        entry('name', str('John Doe')),
        entry('organization', str('Acme Widgets Inc.')),
      ]),
      section('database', [
        entry('server', str('192.0.2.62')),
        c('use IP address in case network name resolution is not working'),
        entry('port', str('143')),
        entry('file', str('payroll.dat')),
      ]),
    ),
  );
  assert.equal(
    emit(load(SOPS_EXAMPLE)),
    [
      '; last modified 1 April 2001 by John Doe',
      '[owner]',
      'name         = John Doe',
      'organization = Acme Widgets Inc.',
      '',
      '[database]',
      '; use IP address in case network name resolution is not working',
      'server = 192.0.2.62',
      'port   = 143',
      'file   = payroll.dat',
      '',
    ].join('\n'),
  );
});

test("go-ini's reading rules: delimiters, quotes, inline comments, continuations, repeats", () => {
  const text = [
    'top = level',
    '[s] ; about s',
    'colon: v',
    'inline = value ; note',
    'hash = a#b',
    'dq = "  spaced  "',
    "sq = 'x'",
    'inner = a "b" c',
    'bt = `a;b`',
    'tq = """line1',
    'line2""" # after',
    'cont = one\\',
    '   two\\',
    '  three',
    '- = first',
    '- = second',
    'dup = 1',
    'empty =',
    '"quoted key" = q',
    '[t]',
    'x = 1',
    '[s]',
    'dup = 2',
    '',
  ].join('\n');
  assert.deepEqual(
    load(text),
    tree(
      section('DEFAULT', [entry('top', str('level'))]),
      section('s', [
        c('about s'),
        entry('colon', str('v')),
        entry('inline', str('value')),
        c('note'),
        entry('hash', str('a')),
        c('b'),
        entry('dq', str('  spaced  ')),
        entry('sq', str('x')),
        entry('inner', str('a "b" c')),
        entry('bt', str('a;b')),
        entry('tq', str('line1\nline2')),
        c('after'),
        entry('cont', str('onetwothree')),
        entry('#1', str('first')),
        entry('#2', str('second')),
        entry('dup', str('1')),
        entry('empty', str('')),
        entry('quoted key', str('q')),
      ]),
      section('t', [entry('x', str('1'))]),
      // a repeated section header starts a section of its own (sops >= 3.9: non-unique sections)
      section('s', [entry('dup', str('2'))]),
    ),
  );
});

test('CRLF line ends and byte order marks are read as go-ini reads them', () => {
  const crlf = load('; c\r\n[s]\r\na = 1\r\nb = """x\r\ny"""\r\n');
  assert.deepEqual(crlf.docs[0]!.items[1], section('s', [c('c'), entry('a', str('1')), entry('b', str('x\r\ny'))]));
  const bom = load(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[s]\na = 1\n')]));
  assert.deepEqual(toPlain(bom.docs[0]!), { DEFAULT: {}, s: { a: '1' } });
});

test('values and keys are quoted on output so that they read back', () => {
  const t = tree(
    section('DEFAULT', []),
    section('v', [
      entry('k1', str('has #hash')),
      entry('k2', str('has;semi')),
      entry('k3', str(' lead')),
      entry('k4', str('trail ')),
      entry('k5', str('multi\nline')),
      entry('k6', str('back`tick')),
      entry('k7', str('')),
    ]),
    section('k', [
      entry('a=b', str('x')),
      entry('c:d', str('x')),
      entry('q"uote', str('x')),
      entry('b`tick', str('x')),
      entry('ü', str('x')),
    ]),
  );
  const pad = (k: string, n: number) => k + ' '.repeat(n - Buffer.byteLength(k));
  assert.equal(
    emit(t),
    [
      '[v]',
      'k1 = `has #hash`',
      'k2 = `has;semi`',
      'k3 = " lead"',
      'k4 = "trail "',
      'k5 = """multi',
      'line"""',
      'k6 = """back`tick"""',
      'k7 = ',
      '',
      '[k]',
      `${pad('`a=b`', 12)} = x`,
      `${pad('`c:d`', 12)} = x`,
      `${pad('`q"uote`', 12)} = x`,
      '"""b`tick""" = x',
      `${pad('ü', 12)} = x`, // padded by bytes, as go-ini does
      '',
    ].join('\n'),
  );
  assert.deepEqual(load(emit(t)), t);
});

test('keys before any section are written first without a header; a DEFAULT elsewhere keeps its header', () => {
  assert.equal(emit(load('a=1\n[s]\nb=2\n')), 'a = 1\n\n[s]\nb = 2\n');
  // sops >= 3.9 writes sections in tree order: DEFAULT elsewhere than first gets its header
  assert.equal(
    emit(tree(section('s', [entry('b', str('2'))]), section('DEFAULT', [entry('a', str('1'))]))),
    '[s]\nb = 2\n\n[DEFAULT]\na = 1\n',
  );
  assert.equal(emit(tree(section('DEFAULT', []))), '');
  assert.equal(emit(tree()), '');
});

test('comments are written as sops writes them', () => {
  const t = tree(
    c('a top-level comment has no place in INI'),
    section('s', [
      c('c0'),
      c('c1 (dropped: no key before it)'),
      entry('k1', str('v')),
      c('c2 (replaced)'),
      c(' c3'),
      entry('k2', str('v')),
    ]),
    section('t', [c(' leading space'), entry('k', str('v')), c('two\nlines')]),
    section('u', [c('# already marked'), entry('k', str('v')), c('; marked too')]),
  );
  assert.equal(
    emit(t),
    [
      '; c0',
      '[s]',
      '; c3',
      'k1 = v',
      'k2 = v',
      '',
      ';  leading space',
      '[t]',
      '; two',
      '; lines',
      'k = v',
      '',
      '# already marked',
      '[u]',
      '; marked too',
      'k = v',
      '',
    ].join('\n'),
  );
});

test('non-string values are written as sops 3.13 prints them; maps, lists and non-sections are errors', () => {
  const t = tree(
    section('s', [
      entry('i', sc('int', '5')),
      entry('f', sc('float', '1')),
      entry('g', sc('float', '1e-7')),
      entry('b', sc('bool', 'false')),
      entry('n', { kind: 'null' }),
    ]),
  );
  assert.equal(emit(t), '[s]\ni = 5\nf = 1.0\ng = 1E-07\nb = false\nn = \n');
  const bad: Tree[] = [
    tree(entry('top', str('s3cr3t'))),
    tree(section('s', [entry('nested', map([entry('x', str('s3cr3t'))]))])),
    tree(section('s', [entry('list', { kind: 'list', items: [str('s3cr3t')] })])),
    tree(section('', [])),
  ];
  for (const b of bad) {
    assert.throws(
      () => emit(b),
      (e: unknown) => {
        assert.ok(e instanceof SopsError);
        assert.equal(e.code, ExitCode.ErrorDumpingTree);
        assert.doesNotMatch(e.message, /s3cr3t/);
        return true;
      },
    );
  }
});

test('malformed INI is a FileError naming the line, never quoting it', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['[s]\na = 1\njunk s3cr3t\n', 3, /no "=" or ":"/],
    ['[unclosed s3cr3t\n', 1, /"\]"/],
    ['[]\n', 1, /empty section name/],
    ['= s3cr3t\n', 1, /empty key name/],
    ['`k s3cr3t = v\n', 1, /closing/],
    ['a = """s3cr3t\nmore\n', 1, /closing/],
  ];
  for (const [text, line, what] of cases) {
    assert.throws(
      () => load(text),
      (e: unknown) => {
        assert.ok(e instanceof FileError, text);
        assert.equal(e.code, ExitCode.CouldNotReadInputFile);
        assert.match(e.message, new RegExp(`line ${line}:`));
        assert.match(e.message, what);
        assert.doesNotMatch(e.message, /s3cr3t/);
        return true;
      },
    );
  }
});

test('emitValue: a string as it is, anything else as JSON (sops uses encoding/json)', () => {
  assert.equal(store.emitValue(str('a\nb')).toString(), 'a\nb');
  assert.equal(store.emitValue(sc('int', '5')).toString(), '5');
  assert.equal(store.emitValue(sc('float', '1.5')).toString(), '1.5');
  assert.equal(store.emitValue(sc('bool', 'true')).toString(), 'true');
  assert.equal(store.emitValue({ kind: 'null' }).toString(), 'null');
  assert.equal(
    store.emitValue({ kind: 'list', items: [sc('int', '1'), str('a<b\u0008')] }).toString(),
    '[1,"a\\u003cb\\u0008"]',
  );
});

test('format.enc.ini (sops 3.13.2): loaded, written back byte for byte, and its MAC verifies', async () => {
  const data = fixture('format.enc.ini');
  const { tree: t, metadata } = store.loadEncrypted(data);
  assert.deepEqual(
    t.docs[0]!.items.map((e) => e.kind === 'entry' && e.key),
    ['DEFAULT', 'foo'],
  );
  const md = metadata as { [k: string]: Plain };
  assert.deepEqual(Object.keys(md).sort(), ['lastmodified', 'mac', 'pgp', 'unencrypted_suffix', 'version']);
  const enc = (md['pgp'] as Array<{ [k: string]: string }>)[0]!['enc']!;
  assert.match(enc, /^-----BEGIN PGP MESSAGE-----\n\n[^]*\n-----END PGP MESSAGE-----$/);

  assert.ok(store.emitEncrypted(t, metadata!).equals(data));
  assert.ok(store.emitEncrypted(t, metadataToPlain(parseMetadata(metadata!))).equals(data));

  const dec = await decryptFixture('format.enc.ini');
  assert.equal(emit(dec.tree), '[foo]\nbar = baz\n');
});

test('format-2.enc.ini (sops 3.13.1, metadata with a """ multi-line value) reads the same and is written the 3.13.2 way', async () => {
  const data = fixture('format-2.enc.ini');
  const { tree: t, metadata } = store.loadEncrypted(data);
  const enc = ((metadata as any).pgp as Array<{ [k: string]: string }>)[0]!['enc']!;
  assert.match(enc, /^-----BEGIN PGP MESSAGE-----\n\n[^]*\n-----END PGP MESSAGE-----$/);
  // sops 3.13.2 writes newlines in metadata as \n, on one line
  const expected = data.toString('utf8').replace(/"""([^]*?)"""/, (_m, inner: string) => inner.replaceAll('\n', '\\n'));
  assert.notEqual(expected, data.toString('utf8'));
  assert.equal(store.emitEncrypted(t, metadata!).toString('utf8'), expected);
  // and that reads back to the same metadata
  assert.deepEqual(store.loadEncrypted(Buffer.from(expected)).metadata, metadata);

  const dec = await decryptFixture('format-2.enc.ini');
  assert.equal(emit(dec.tree), '[foo]\nbar = baz\n');
});

test('example.ini (sops 3.5.0): data written back byte for byte; metadata sorted, no blank line after the last section', async () => {
  const text = fixture('example.ini').toString('utf8');
  const { tree: t, metadata } = store.loadEncrypted(Buffer.from(text));
  const at = text.indexOf('[sops]\n');
  const dataPart = text.slice(0, at);
  const sopsLines = text
    .slice(at + '[sops]\n'.length)
    .split('\n')
    .filter((l) => l !== '');
  const key = (l: string) => l.slice(0, l.indexOf(' '));
  const sorted = [...sopsLines].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  assert.notDeepEqual(sorted, sopsLines); // sops 3.5.0 wrote them in Go's random map order
  const expected = `${dataPart}[sops]\n${sorted.join('\n')}\n`;
  assert.equal(store.emitEncrypted(t, metadata!).toString('utf8'), expected);
  assert.equal(store.emitEncrypted(t, metadataToPlain(parseMetadata(metadata!))).toString('utf8'), expected);

  const dec = await decryptFixture('example.ini');
  assert.equal(
    emit(dec.tree),
    [
      '; An example file for use with sops!',
      '[name]',
      'firstName = John',
      'lastName  = Smith',
      'age       = 25.4',
      '',
      '[address]',
      'city          = New York',
      'postalCode    = 10021-3100',
      'state         = NY',
      'streetAddress = 21 2nd Street',
      '',
      '[phoneNumbers]',
      'home   = 212 555-1234',
      'office = 646 555-4567',
      '',
      '[not private]',
      'notsecret_unencrypted = hi there!',
      '',
    ].join('\n'),
  );
});

test('the [sops] section: absent means no metadata; present, it leaves the tree; plain loads keep it', () => {
  const none = store.loadEncrypted(Buffer.from('[s]\na = 1\n'));
  assert.equal(none.metadata, undefined);
  const text = '[s]\na = 1\n\n[sops]\nversion = 3.13.2\n';
  const r = store.loadEncrypted(Buffer.from(text));
  assert.deepEqual(r.metadata, { version: '3.13.2' });
  assert.deepEqual(toPlain(r.tree.docs[0]!), { DEFAULT: {}, s: { a: '1' } });
  assert.deepEqual(toPlain(load(text).docs[0]!), { DEFAULT: {}, s: { a: '1' }, sops: { version: '3.13.2' } });
});

test('metadata with key groups, Shamir threshold and mac_only_encrypted round-trips through [sops]', () => {
  const md: Plain = {
    key_groups: [
      { age: [{ enc: 'A\nB\n', recipient: 'age1x' }] },
      { pgp: [{ created_at: '2026-01-01T00:00:00Z', enc: 'P', fp: 'F' }] },
    ],
    lastmodified: '2026-01-02T03:04:05Z',
    mac: 'ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]',
    mac_only_encrypted: true,
    shamir_threshold: 2,
    unencrypted_regex: '^x;y#z$',
    version: '3.13.2',
  };
  const out = store.emitEncrypted(tree(section('s', [entry('k', str('ENC[x]'))])), md).toString('utf8');
  const w = 'key_groups__list_1__map_pgp__list_0__map_created_at'.length;
  const line = (k: string, v: string) => `${k.padEnd(w)} = ${v}`;
  assert.equal(
    out,
    [
      '[s]',
      'k = ENC[x]',
      '',
      '[sops]',
      line('key_groups__list_0__map_age__list_0__map_enc', 'A\\nB\\n'),
      line('key_groups__list_0__map_age__list_0__map_recipient', 'age1x'),
      line('key_groups__list_1__map_pgp__list_0__map_created_at', '2026-01-01T00:00:00Z'),
      line('key_groups__list_1__map_pgp__list_0__map_enc', 'P'),
      line('key_groups__list_1__map_pgp__list_0__map_fp', 'F'),
      line('lastmodified', '2026-01-02T03:04:05Z'),
      line('mac', 'ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]'),
      line('mac_only_encrypted', 'true'),
      line('shamir_threshold', '2'),
      line('unencrypted_regex', '`^x;y#z$`'),
      line('version', '3.13.2'),
      '',
    ].join('\n'),
  );
  const back = store.loadEncrypted(Buffer.from(out)).metadata!;
  assert.deepEqual(back, md);
  assert.equal(parseMetadata(back).shamirThreshold, 2);
});
