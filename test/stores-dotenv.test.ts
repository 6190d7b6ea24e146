// The dotenv store (src/stores/dotenv.ts) and the shared metadata flattening (src/stores/flatten.ts),
// against the files real sops 3.13 wrote and, where it is available, the real sops decrypt library.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as openpgp from 'openpgp';
import { Encrypter, armor } from 'age-encryption';
import { createDotenvStore } from '../src/stores/dotenv.js';
import { flatten, flattenMetadata, unflatten, unflattenMetadata } from '../src/stores/flatten.js';
import { formatFloatG } from '../src/stores/scalar-text.js';
import { FileError, SopsError, ExitCode } from '../src/errors.js';
import { macAad, metadataToPlain, parseMetadata } from '../src/metadata/metadata.js';
import { decryptTree, encryptTree } from '../src/tree/crypt.js';
import { decryptParsed, encryptValue, parseEncrypted } from '../src/aes/cipher.js';
import { entry, map, str, toPlain, type Node, type Plain, type Tree } from '../src/tree/types.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { fixture } from './helpers/fixtures.js';

const store = createDotenvStore();
const load = (s: string): Tree => store.loadPlain(Buffer.from(s));
const emit = (t: Tree): string => store.emitPlain(t).toString('utf8');
const sc = (type: 'int' | 'float' | 'bool' | 'time', text: string): Node => ({ kind: 'scalar', type, text });

/** The data key of a fixture file, unwrapped with the PGP test key. */
async function fixtureDataKey(metadata: Plain): Promise<Buffer> {
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
  return Buffer.from(data);
}

test('format is dotenv', () => {
  assert.equal(store.format, 'dotenv');
});

test('lines split at the first "=", nothing trimmed or unquoted, comments kept, blank lines dropped', () => {
  const t = load('# top\nA=1\n\nfoo = bar\nQ="quoted" \nEQ=a=b=c\n#\nexport X=y\n=nokey\nEMPTY=\n');
  assert.deepEqual(t.docs, [
    map([
      { kind: 'comment', text: ' top' },
      entry('A', str('1')),
      entry('foo ', str(' bar')),
      entry('Q', str('"quoted" ')),
      entry('EQ', str('a=b=c')),
      { kind: 'comment', text: '' },
      entry('export X', str('y')),
      entry('', str('nokey')),
      entry('EMPTY', str('')),
    ]),
  ]);
});

test('only the two characters \\n are an escape: read as a newline, written back as \\n', () => {
  const t = load('M=line1\\nline2\\n\nT=a\\tb\\\\c\\"d\n');
  assert.deepEqual(toPlain(t.docs[0]!), { M: 'line1\nline2\n', T: 'a\\tb\\\\c\\"d' });
  assert.equal(emit(t), 'M=line1\\nline2\\n\nT=a\\tb\\\\c\\"d\n');
  // a newline from elsewhere (e.g. YAML) is written as \n too
  assert.equal(emit({ docs: [map([entry('K', str('x\ny'))])] }), 'K=x\\ny\n');
});

test('a plaintext file is written back byte for byte (no blank lines, final newline)', () => {
  const text = '# comment\nfoo =bar\n SPACED = v \nURL=https://x/?a=b#frag\nCRLF=v\r\n';
  assert.equal(emit(load(text)), text);
  // blank lines are dropped, a missing final newline is added
  assert.equal(emit(load('A=1\n\n\nB=2')), 'A=1\nB=2\n');
  assert.equal(emit(load('')), '');
});

test('a line that is neither a comment nor KEY=VALUE is a FileError naming the line, not its text', () => {
  for (const [text, line] of [
    ['A=1\nsecret-value\n', 2],
    [' # indented comment\n', 1],
    ['\r\n', 1],
  ] as const) {
    assert.throws(
      () => load(text),
      (e: unknown) => {
        assert.ok(e instanceof FileError);
        assert.equal(e.code, ExitCode.CouldNotReadInputFile);
        assert.match(e.message, new RegExp(`line ${line}\\b`));
        assert.doesNotMatch(e.message, /secret-value|indented/);
        return true;
      },
    );
  }
});

test('maps and lists cannot be written to dotenv', () => {
  for (const value of [map([entry('a', str('s3cr3t'))]), { kind: 'list', items: [str('s3cr3t')] } as Node]) {
    assert.throws(
      () => emit({ docs: [map([entry('K', value)])] }),
      (e: unknown) => {
        assert.ok(e instanceof SopsError);
        assert.equal(e.code, ExitCode.ErrorDumpingTree);
        assert.match(e.message, /complex value in dotenv file.*"K"/);
        assert.doesNotMatch(e.message, /s3cr3t/);
        return true;
      },
    );
  }
});

test('non-string values are written as sops 3.13 prints them', () => {
  const t: Tree = {
    docs: [
      map([
        entry('I', sc('int', '-12')),
        entry('F1', sc('float', '1')),
        entry('F2', sc('float', '1.5')),
        entry('F3', sc('float', '200000')),
        entry('F4', sc('float', '-20000000000')),
        entry('F5', sc('float', '0.0000000002')),
        entry('F6', sc('float', '1234567')),
        entry('F7', sc('float', '0.0001')),
        entry('B', sc('bool', 'true')),
        entry('T', sc('time', '2025-01-02T03:04:05.25+00:00')),
        entry('T2', sc('time', '2025-01-02 03:04:05 -5')),
        entry('N', { kind: 'null' }),
      ]),
    ],
  };
  assert.equal(
    emit(t),
    [
      'I=-12',
      'F1=1.0',
      'F2=1.5',
      'F3=200000.0',
      'F4=-2E+10',
      'F5=2E-10',
      'F6=1.234567E+06',
      'F7=0.0001',
      'B=true',
      'T=2025-01-02T03:04:05Z',
      'T2=2025-01-02T03:04:05-05:00',
      'N=',
      '',
    ].join('\n'),
  );
});

test("Go's %G float format (the cases of sops's own TestValToString and more)", () => {
  const cases: Array<[number, string]> = [
    [1, '1'],
    [1.1, '1.1'],
    // eslint-disable-next-line no-loss-of-precision -- more digits than a double holds, on purpose
    [1.234567890123456789, '1.2345678901234567'],
    [2e5, '200000'],
    [-2e10, '-2E+10'],
    [2e-10, '2E-10'],
    [1.2345e100, '1.2345E+100'],
    [1.2345e-100, '1.2345E-100'],
    [0, '0'],
    [-0, '-0'],
    [0.00012, '0.00012'],
    [0.000012, '1.2E-05'],
    [999999, '999999'],
    [1e6, '1E+06'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
  ];
  for (const [f, want] of cases) assert.equal(formatFloatG(f), want, String(f));
});

test('emitValue prints a string as it is and refuses anything else, as sops does', () => {
  assert.equal(store.emitValue(str('a\nb')).toString(), 'a\nb');
  assert.throws(() => store.emitValue(sc('int', '1')), /only supports emitting strings, got int/);
  assert.throws(() => store.emitValue({ kind: 'list', items: [] }), /got \[\]interface \{\}/);
});

test('format.enc.env: loaded as sops reads it and written back byte for byte', async () => {
  const data = fixture('format.enc.env');
  const { tree, metadata } = store.loadEncrypted(data);
  assert.equal(tree.docs.length, 1);
  const items = tree.docs[0]!.items;
  assert.equal(items.length, 1);
  assert.equal(items[0]!.kind === 'entry' && items[0]!.key, 'foo '); // the space is part of the key
  const md = metadata as { [k: string]: Plain };
  assert.deepEqual(Object.keys(md).sort(), ['lastmodified', 'mac', 'pgp', 'unencrypted_suffix', 'version']);
  assert.equal(md['version'], '3.13.1');
  const pgp = (md['pgp'] as Array<{ [k: string]: string }>)[0]!;
  assert.equal(pgp['fp'], 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4');
  assert.match(pgp['enc']!, /^-----BEGIN PGP MESSAGE-----\n\n/); // \n read back as newlines
  assert.ok(!pgp['enc']!.includes('\\n'));

  assert.ok(store.emitEncrypted(tree, metadata!).equals(data));
  // also through the metadata module, as the CLI goes
  assert.ok(store.emitEncrypted(tree, metadataToPlain(parseMetadata(metadata!))).equals(data));

  // the tree is what sops encrypted: every value decrypts (with the key path `foo :`) and the MAC matches
  const key = await fixtureDataKey(metadata!);
  const parsed = parseMetadata(metadata!);
  const mac = decryptTree(tree, key, parsed.scope);
  assert.equal(mac, decryptParsed(parseEncrypted(parsed.mac), key, macAad(parsed.lastModified)).toString());
  assert.deepEqual(toPlain(tree.docs[0]!), { 'foo ': ' bar' });
  assert.equal(emit(tree), 'foo = bar\n');
});

test('a file without sops_ lines has no metadata; sops_ lines are taken out of the tree', () => {
  const plain = store.loadEncrypted(Buffer.from('A=1\n# c\n'));
  assert.equal(plain.metadata, undefined);
  assert.deepEqual(plain.tree.docs[0]!.items.length, 2);
  const r = store.loadEncrypted(Buffer.from('# c\nA=1\nsops_version=3.13.2\nB=2\n'));
  assert.deepEqual(toPlain(r.tree.docs[0]!), { A: '1', B: '2' });
  assert.equal(r.tree.docs[0]!.items[0]!.kind, 'comment');
  assert.deepEqual(r.metadata, { version: '3.13.2' });
});

test('metadata is flattened with __map_/__list_N_, sorted, non-strings as text, and read back', () => {
  const md: Plain = {
    encrypted_regex: '^(a|b)$',
    key_groups: [
      {
        age: [
          { enc: '-----BEGIN AGE ENCRYPTED FILE-----\nAAA\n-----END AGE ENCRYPTED FILE-----\n', recipient: 'age1x' },
        ],
      },
      {
        kms: [
          {
            arn: 'arn:aws:kms:1',
            aws_profile: '',
            context: { Env: 'prod', b: null },
            created_at: '2026-01-01T00:00:00Z',
            enc: 'Q0lQ',
          },
        ],
        pgp: [{ created_at: '2026-01-01T00:00:00Z', enc: 'x', fp: 'F1' }],
      },
    ],
    lastmodified: '2026-01-02T03:04:05Z',
    mac: 'ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]',
    mac_only_encrypted: true,
    shamir_threshold: 2,
    version: '3.13.2',
  };
  const out = store.emitEncrypted({ docs: [map([entry('A', str('ENC[x]'))])] }, md).toString();
  assert.equal(
    out,
    [
      'A=ENC[x]',
      'sops_encrypted_regex=^(a|b)$',
      'sops_key_groups__list_0__map_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nAAA\\n-----END AGE ENCRYPTED FILE-----\\n',
      'sops_key_groups__list_0__map_age__list_0__map_recipient=age1x',
      'sops_key_groups__list_1__map_kms__list_0__map_arn=arn:aws:kms:1',
      'sops_key_groups__list_1__map_kms__list_0__map_aws_profile=',
      'sops_key_groups__list_1__map_kms__list_0__map_context__map_Env=prod',
      'sops_key_groups__list_1__map_kms__list_0__map_created_at=2026-01-01T00:00:00Z',
      'sops_key_groups__list_1__map_kms__list_0__map_enc=Q0lQ',
      'sops_key_groups__list_1__map_pgp__list_0__map_created_at=2026-01-01T00:00:00Z',
      'sops_key_groups__list_1__map_pgp__list_0__map_enc=x',
      'sops_key_groups__list_1__map_pgp__list_0__map_fp=F1',
      'sops_lastmodified=2026-01-02T03:04:05Z',
      'sops_mac=ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]',
      'sops_mac_only_encrypted=true',
      'sops_shamir_threshold=2',
      'sops_version=3.13.2',
      '',
    ].join('\n'),
  );
  const back = store.loadEncrypted(Buffer.from(out)).metadata!;
  // the null context entry is not written; everything else comes back, typed as sops types it
  const expected = structuredClone(md) as any;
  delete expected.key_groups[1].kms[0].context.b;
  assert.deepEqual(back, expected);
  const parsed = parseMetadata(back);
  assert.equal(parsed.shamirThreshold, 2);
  assert.equal(parsed.scope.macOnlyEncrypted, true);
  assert.equal(parsed.keyGroups.length, 2);
  assert.deepEqual(metadataToPlain(parsed), metadataToPlain(parseMetadata(expected)));
});

test('mac_only_encrypted and shamir_threshold are decoded as sops decodes them', () => {
  const md = (s: string) => store.loadEncrypted(Buffer.from(s)).metadata as { [k: string]: Plain };
  assert.equal(md('sops_mac_only_encrypted=true\n')['mac_only_encrypted'], true);
  assert.equal(md('sops_mac_only_encrypted=True\n')['mac_only_encrypted'], false);
  assert.equal(md('sops_mac_only_encrypted=false\n')['mac_only_encrypted'], false);
  assert.equal(md('sops_shamir_threshold=002\n')['shamir_threshold'], 2);
  for (const bad of ['2.0', '', 'two', ' 2']) {
    assert.throws(
      () => md(`sops_shamir_threshold=${bad}\n`),
      (e: unknown) => e instanceof FileError && /shamir_threshold/.test(e.message),
    );
  }
});

test('flatten/unflatten: nested data, list holes, conflicts and bad indexes', () => {
  const data = { a: { b: [1, { c: 'x' }], e: [] }, f: 'g', h: {} };
  const flat = flatten(data);
  assert.deepEqual(
    [...flat],
    [
      ['a__map_b__list_0', 1],
      ['a__map_b__list_1__map_c', 'x'],
      ['f', 'g'],
    ],
  );
  assert.deepEqual(unflatten(flat), { a: { b: [1, { c: 'x' }] }, f: 'g' });
  assert.deepEqual(unflatten([['l__list_2', 'z']]), { l: [null, null, 'z'] });
  assert.deepEqual(
    unflatten([
      ['k', 'later'],
      ['k', 'last'],
    ]),
    { k: 'last' },
  );
  assert.throws(
    () =>
      unflatten([
        ['a__list_0', 'x'],
        ['a__map_b', 'y'],
      ]),
    FileError,
  );
  assert.throws(() => unflatten([['a__list_x', 'x']]), FileError);
  assert.throws(() => unflatten([['a__list_99999999', 'x']]), FileError);
  // sorted byte-wise (uppercase before lowercase, "_" between), newlines escaped
  assert.deepEqual(flattenMetadata({ b: 'x\ny', a_b: '1', aB: '2', a: '3' }), [
    ['a', '3'],
    ['aB', '2'],
    ['a_b', '1'],
    ['b', 'x\\ny'],
  ]);
  assert.deepEqual(unflattenMetadata([['a', 'x\\ny']]), { a: 'x\ny' });
  assert.throws(() => flattenMetadata('not a map'), FileError);
});

// ---------------------------------------------------------------------------------------------------
// Real sops reads what this store writes

const AGE_IDENTITY = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

after(async () => {
  await closeOracle();
});

/** Encrypt a plaintext dotenv file for the test age key, the way sops does, with this store. */
async function encryptDotenv(
  plaintext: string,
  layout: 'flat' | 'key_groups',
  macOnlyEncrypted: boolean,
): Promise<Buffer> {
  const tree = load(plaintext);
  const dataKey = crypto.randomBytes(32);
  const scope = macOnlyEncrypted
    ? { encryptedRegex: '^SECRET', macOnlyEncrypted: true }
    : { unencryptedSuffix: '_unencrypted' };
  const mac = encryptTree(tree, dataKey, scope);
  const e = new Encrypter();
  e.addRecipient(AGE_RECIPIENT);
  const age = [{ enc: armor.encode(await e.encrypt(dataKey)), recipient: AGE_RECIPIENT }];
  const lastmodified = '2026-01-02T03:04:05Z';
  const md: { [k: string]: Plain } = {
    ...(layout === 'flat' ? { age } : { key_groups: [{ age }] }),
    lastmodified,
    mac: encryptValue(mac, 'str', dataKey, lastmodified),
    ...(macOnlyEncrypted
      ? { encrypted_regex: '^SECRET', mac_only_encrypted: true }
      : { unencrypted_suffix: '_unencrypted' }),
    version: '3.13.2',
  };
  return store.emitEncrypted(tree, md);
}

test('real sops decrypts dotenv files written by this store (MAC verified)', async (t) => {
  if (!(await oracleAvailable()))
    return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown'}`);
  const env = { SOPS_AGE_KEY: AGE_IDENTITY };

  const a = await encryptDotenv(
    '# note\nFOO=bar\nMULTI=line1\\nline2\nEMPTY=\nPUBLIC_unencrypted=visible\n',
    'flat',
    false,
  );
  assert.match(a.toString(), /^sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\n/m);
  const ra = await sopsDecrypt(a, 'dotenv', env);
  assert.equal(ra.error, '');
  assert.equal(ra.ok, true);
  assert.equal(JSON.parse(ra.output).FOO, 'bar');
  assert.equal(JSON.parse(ra.output).PUBLIC_unencrypted, 'visible');

  // key_groups layout and mac_only_encrypted read back as a boolean: flipping it breaks the MAC
  const b = await encryptDotenv('SECRET_TOKEN=abc\nPLAIN=xyz\n', 'key_groups', true);
  assert.match(b.toString(), /^sops_key_groups__list_0__map_age__list_0__map_recipient=/m);
  const rb = await sopsDecrypt(b, 'dotenv', env);
  assert.equal(rb.error, '');
  assert.deepEqual(JSON.parse(rb.output), { PLAIN: 'xyz', SECRET_TOKEN: 'abc' });
  const flipped = await sopsDecrypt(
    b.toString().replace('sops_mac_only_encrypted=true', 'sops_mac_only_encrypted=false'),
    'dotenv',
    env,
  );
  assert.equal(flipped.ok, false);
  assert.match(flipped.error, /mac/i);
});
