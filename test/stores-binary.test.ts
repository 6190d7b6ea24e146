// The binary store (any file as one `data` string in a JSON envelope), and choosing a store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createBinaryStore } from '../src/stores/binary.js';
import { formatFromPath, storeFor } from '../src/stores/index.js';
import { FileError } from '../src/errors.js';
import type { Scalar, Tree } from '../src/tree/types.js';
import { fixture } from './helpers/fixtures.js';

const store = createBinaryStore();
const dataOf = (t: Tree) => t.docs[0]!.items[0] as { key: string; value: Scalar };

test('example.txt (a sops binary file) loads: data and metadata; written back in the JSON layout', () => {
  const data = fixture('example.txt');
  const { tree, metadata } = store.loadEncrypted(data);
  const e = dataOf(tree);
  assert.equal(e.key, 'data');
  assert.match(e.value.text, /^ENC\[AES256_GCM,data:p6kOd9e7KO.*,type:str\]$/);
  assert.equal((metadata as { version: string }).version, '3.5.0');
  assert.equal((metadata as { pgp: unknown[] }).pgp.length, 2);
  // sops 3.13 ends the file with a newline; the rest is unchanged
  assert.deepEqual(store.emitEncrypted(tree, metadata!), Buffer.concat([data, Buffer.from('\n')]));
});

test('any bytes round trip: text as a string, other bytes kept raw', () => {
  const text = Buffer.from('line 1\nline 2 ünïcödé 😀\n', 'utf8');
  const t1 = store.loadPlain(text);
  assert.equal(dataOf(t1).value.text, 'line 1\nline 2 ünïcödé 😀\n');
  assert.equal(dataOf(t1).value.raw, undefined);
  assert.deepEqual(store.emitPlain(t1), text);

  const bin = Buffer.concat([randomBytes(512), Buffer.from([0xff, 0xfe, 0x80])]);
  const t2 = store.loadPlain(bin);
  assert.ok(dataOf(t2).value.raw, 'raw bytes kept');
  assert.deepEqual(store.emitPlain(t2), bin);

  const empty = store.loadPlain(Buffer.alloc(0));
  assert.equal(dataOf(empty).value.text, '');
  assert.deepEqual(store.emitPlain(empty), Buffer.alloc(0));
});

test('the encrypted layout is the JSON one with data and sops', () => {
  const t = store.loadPlain(Buffer.from('x'));
  dataOf(t).value.text = 'ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]';
  const out = store
    .emitEncrypted(t, { lastmodified: '2026-01-01T00:00:00Z', mac: 'ENC[m]', version: '3.13.2' })
    .toString('utf8');
  assert.equal(
    out,
    '{\n\t"data": "ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]",\n\t"sops": {\n\t\t"lastmodified": "2026-01-01T00:00:00Z",\n\t\t"mac": "ENC[m]",\n\t\t"version": "3.13.2"\n\t}\n}\n',
  );
  assert.equal(
    createBinaryStore({ indent: 4 }).emitEncrypted(t, { version: '3.13.2' }).toString('utf8').split('\n')[1],
    '    "data": "ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]",',
  );
});

test('errors: no data, data not a string, several documents, extracting a value', () => {
  const noData: Tree = { docs: [{ kind: 'map', items: [] }] };
  assert.throws(() => store.emitPlain(noData), /no binary data found/);
  const notString: Tree = {
    docs: [{ kind: 'map', items: [{ kind: 'entry', key: 'data', value: { kind: 'list', items: [] } }] }],
  };
  assert.throws(() => store.emitPlain(notString), /does not have a string value/);
  assert.throws(() => store.emitPlain({ docs: [] }), /exactly one/);
  assert.throws(
    () => store.emitValue({ kind: 'null' }),
    (e: unknown) => e instanceof FileError && /not structured/.test(e.message),
  );
  assert.throws(() => store.loadEncrypted(Buffer.from('not json')), FileError);
});

test('formatFromPath follows sops: .yaml/.yml, .json, .env, .ini, else binary', () => {
  assert.equal(formatFromPath('secrets.yaml'), 'yaml');
  assert.equal(formatFromPath('dir.json/secrets.yml'), 'yaml');
  assert.equal(formatFromPath('a.json'), 'json');
  assert.equal(formatFromPath('.env'), 'dotenv');
  assert.equal(formatFromPath('prod.env'), 'dotenv');
  assert.equal(formatFromPath('app.ini'), 'ini');
  assert.equal(formatFromPath('a.YAML'), 'binary');
  assert.equal(formatFromPath('a.yaml.bak'), 'binary');
  assert.equal(formatFromPath('key.pem'), 'binary');
});

test('storeFor loads the store of each format', async () => {
  for (const f of ['yaml', 'json', 'binary', 'dotenv', 'ini'] as const) {
    const s = await storeFor(f, { indent: 2 });
    assert.equal(s.format, f);
  }
  const yaml = await storeFor('yaml', { indent: 2 });
  assert.equal(yaml.emitPlain(yaml.loadPlain(Buffer.from('a:\n    - 1\n'))).toString('utf8'), 'a:\n  - 1\n');
});
