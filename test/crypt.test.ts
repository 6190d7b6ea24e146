import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { encryptValue, decryptParsed, parseEncrypted, isEncryptedValue } from '../src/aes/cipher.js';
import { decryptTree, encryptTree, IvStash, macBytes } from '../src/tree/crypt.js';
import { formatFloat, fromPlain, toPlain, type MapNode, type Tree } from '../src/tree/types.js';
import { parseTreePath, getAtPath } from '../src/tree/path.js';
import { macAad, metadataToPlain, parseMetadata, formatTimestamp } from '../src/metadata/metadata.js';
import { splitKey, combineShares } from '../src/shamir/shamir.js';

const key = randomBytes(32);

function tree(plain: Record<string, unknown>): Tree {
  return { docs: [fromPlain(plain as never) as MapNode] };
}

test('cipher: sops layout, 32-byte IV, AAD binds the value to its path', () => {
  const enc = encryptValue('hello', 'str', key, 'a:b:');
  assert.match(enc, /^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:str\]$/);
  const v = parseEncrypted(enc);
  assert.equal(v.iv.length, 32);
  assert.equal(v.tag.length, 16);
  assert.equal(decryptParsed(v, key, 'a:b:').toString(), 'hello');
  assert.throws(() => decryptParsed(v, key, 'a:c:'), /authentication failed/);
  assert.throws(() => decryptParsed(v, randomBytes(32), 'a:b:'), /authentication failed/);
  assert.ok(isEncryptedValue(enc));
  assert.throws(() => parseEncrypted('ENC[nope]'), /not in sops's encrypted format/);
});

test('formatFloat matches Go strconv.FormatFloat(f, "f", -1, 64)', () => {
  assert.equal(formatFloat(1), '1');
  assert.equal(formatFloat(1.5), '1.5');
  assert.equal(formatFloat(1e21), '1000000000000000000000');
  assert.equal(formatFloat(1.234e-7), '0.0000001234');
  assert.equal(formatFloat(-2.5e-3), '-0.0025');
  assert.equal(formatFloat(123456789012345680000), '123456789012345680000');
  assert.equal(formatFloat(0.1 + 0.2), '0.30000000000000004');
});

test('MAC bytes are sops ToBytes: bool True/False, float canonical', () => {
  assert.equal(macBytes({ kind: 'scalar', type: 'bool', text: 'true' }).toString(), 'True');
  assert.equal(macBytes({ kind: 'scalar', type: 'float', text: '1.0' }).toString(), '1');
  assert.equal(macBytes({ kind: 'scalar', type: 'int', text: '42' }).toString(), '42');
});

test('encrypt/decrypt tree round trip keeps types; MAC is SHA-512 of leaves in order', () => {
  const t = tree({ a: 'x', b: { c: 1, d: [true, 2.5, 'y'] }, e: '', f: null });
  const mac = encryptTree(t, key, { unencryptedSuffix: '_unencrypted' });
  const expected = createHash('sha512')
    .update('x')
    .update('1')
    .update('True')
    .update('2.5')
    .update('y')
    .digest('hex')
    .toUpperCase();
  assert.equal(mac, expected);
  const enc = toPlain(t.docs[0]!) as Record<string, any>;
  assert.ok(isEncryptedValue(enc.a));
  assert.equal(enc.e, '', 'empty strings stay empty');
  assert.equal(enc.f, null);
  assert.match(enc.b.c, /type:int\]$/);
  assert.match(enc.b.d[0], /type:bool\]$/);
  // list items use their parent key's path
  assert.equal(decryptParsed(parseEncrypted(enc.b.d[2]), key, 'b:d:').toString(), 'y');
  const mac2 = decryptTree(t, key, { unencryptedSuffix: '_unencrypted' });
  assert.equal(mac2, mac);
  assert.deepEqual(toPlain(t.docs[0]!), { a: 'x', b: { c: 1, d: [true, 2.5, 'y'] }, e: '', f: null });
});

test('scope: suffixes and regexes decide what is encrypted', () => {
  const cases: Array<[Record<string, string>, string[]]> = [
    [{ unencryptedSuffix: '_unencrypted' }, ['a', 'pw_secret', 'public']],
    [{ encryptedSuffix: '_secret' }, ['pw_secret']],
    [{ unencryptedRegex: '^pub' }, ['a', 'a_unencrypted', 'pw_secret']],
    [{ encryptedRegex: '^pw' }, ['pw_secret']],
  ];
  for (const [scope, encrypted] of cases) {
    const t = tree({ a: 'x', a_unencrypted: 'y', pw_secret: 'z', public: 'p' });
    encryptTree(t, key, scope);
    const out = toPlain(t.docs[0]!) as Record<string, string>;
    const got = Object.keys(out).filter((k) => isEncryptedValue(out[k]!));
    assert.deepEqual(got, encrypted, JSON.stringify(scope));
  }
});

test('comment regexes: encrypted_comment_regex encrypts only values after a matching comment', () => {
  const t: Tree = {
    docs: [
      {
        kind: 'map',
        items: [
          { kind: 'comment', text: ' sops:enc' },
          { kind: 'entry', key: 'secret', value: { kind: 'scalar', type: 'str', text: 's' } },
          { kind: 'entry', key: 'plain', value: { kind: 'scalar', type: 'str', text: 'p' } },
        ],
      },
    ],
  };
  encryptTree(t, key, { encryptedCommentRegex: 'sops:enc' });
  const [comment, secret, plain] = t.docs[0]!.items;
  assert.equal(comment?.kind === 'comment' && comment.text, ' sops:enc', 'the marker comment stays readable');
  assert.ok(secret?.kind === 'entry' && secret.value.kind === 'scalar' && isEncryptedValue(secret.value.text));
  assert.ok(plain?.kind === 'entry' && plain.value.kind === 'scalar' && plain.value.text === 'p');
});

test('mac_only_encrypted starts the hash with SHA-256("sops") and skips plaintext values', () => {
  const t = tree({ a: 'x', b_unencrypted: 'y' });
  const mac = encryptTree(t, key, { unencryptedSuffix: '_unencrypted', macOnlyEncrypted: true });
  const init = createHash('sha256').update('sops').digest();
  assert.equal(mac, createHash('sha512').update(init).update('x').digest('hex').toUpperCase());
});

test('IV stash keeps the ciphertext of unchanged values', () => {
  const t = tree({ a: 'x', b: 'y' });
  encryptTree(t, key, {});
  const before = toPlain(t.docs[0]!) as Record<string, string>;
  const stash = new IvStash();
  decryptTree(t, key, {}, stash);
  (t.docs[0]!.items[1] as { value: { text: string } }).value.text = 'changed';
  encryptTree(t, key, {}, stash);
  const after = toPlain(t.docs[0]!) as Record<string, string>;
  assert.equal(after.a, before.a);
  assert.notEqual(after.b, before.b);
});

test('tampering: a flipped ciphertext byte or a renamed key fails to decrypt', () => {
  const t = tree({ a: 'secret-value' });
  encryptTree(t, key, {});
  const entry = t.docs[0]!.items[0] as { key: string; value: { text: string } };
  const good = entry.value.text;
  const v = parseEncrypted(good);
  v.data[0]! ^= 1;
  entry.value.text = `ENC[AES256_GCM,data:${v.data.toString('base64')},iv:${v.iv.toString('base64')},tag:${v.tag.toString('base64')},type:str]`;
  assert.throws(() => decryptTree(t, key, {}), /could not decrypt the value at \["a"\]/);
  entry.value.text = good;
  entry.key = 'b';
  assert.throws(() => decryptTree(t, key, {}), /could not decrypt the value at \["b"\]/);
});

test('tree paths', () => {
  assert.deepEqual(parseTreePath('["a"][0]["b c"]'), ['a', 0, 'b c']);
  assert.deepEqual(parseTreePath(''), []);
  assert.throws(() => parseTreePath('a.b'), /invalid tree path/);
  const t = tree({ a: [{ b: 'x' }] });
  assert.deepEqual(toPlain(getAtPath(t.docs[0]!, ['a', 0, 'b'])), 'x');
  assert.throws(() => getAtPath(t.docs[0]!, ['a', 3]), /out of bounds/);
  assert.throws(() => getAtPath(t.docs[0]!, ['z']), /not found/);
});

test('metadata: sops layout, sorted keys, one group flat, several under key_groups', () => {
  const m = parseMetadata({
    age: [{ recipient: 'age1x', enc: 'E' }],
    lastmodified: '2024-01-01T00:00:00Z',
    mac: 'ENC[x]',
    pgp: [{ fp: 'AB', enc: 'P', created_at: '2024-01-01T00:00:00Z' }],
    unencrypted_suffix: '_unencrypted',
    version: '3.13.2',
  });
  assert.equal(m.keyGroups.length, 1);
  assert.equal(m.keyGroups[0]!.length, 2);
  const p = metadataToPlain(m);
  assert.deepEqual(Object.keys(p), ['age', 'lastmodified', 'mac', 'pgp', 'unencrypted_suffix', 'version']);
  assert.deepEqual(Object.keys((p.pgp as any[])[0]), ['created_at', 'enc', 'fp']);
  m.keyGroups.push([{ type: 'age', recipient: 'age1y', enc: 'F' }]);
  m.shamirThreshold = 2;
  const q = metadataToPlain(m);
  assert.deepEqual(Object.keys(q), [
    'key_groups',
    'lastmodified',
    'mac',
    'shamir_threshold',
    'unencrypted_suffix',
    'version',
  ]);
  assert.equal(parseMetadata(q).keyGroups.length, 2);
  // old files: empty lists and nulls
  const t = '2017-01-01T00:00:00Z';
  assert.equal(
    parseMetadata({ kms: null, gcp_kms: [], pgp: [{ fp: 'A', enc: 'x', created_at: t }], lastmodified: t, mac: '' })
      .keyGroups[0]!.length,
    1,
  );
});

test('MAC additional data: lastmodified re-printed as RFC 3339', () => {
  assert.equal(macAad('2024-05-01T10:00:00Z'), '2024-05-01T10:00:00Z');
  assert.equal(macAad('2024-05-01T10:00:00.123+00:00'), '2024-05-01T10:00:00Z');
  assert.equal(macAad('2024-05-01T10:00:00+02:00'), '2024-05-01T10:00:00+02:00');
  assert.match(formatTimestamp(new Date()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('shamir: any threshold-sized subset recovers the key, shares carry x last', async () => {
  const secret = randomBytes(32);
  const shares = await splitKey(secret, 3, 2);
  assert.equal(shares.length, 3);
  assert.ok(shares.every((s) => s.length === 33));
  assert.equal(new Set(shares.map((s) => s[32])).size, 3);
  for (const pair of [
    [0, 1],
    [0, 2],
    [1, 2],
  ]) {
    assert.deepEqual(await combineShares(pair.map((i) => shares[i]!)), secret);
  }
  assert.notDeepEqual(
    await combineShares([shares[0]!, shares[0]!.map((b, i) => (i === 32 ? b ^ 0xff : b)) as Buffer]).catch(() =>
      Buffer.alloc(0),
    ),
    secret,
  );
  const one = await splitKey(secret, 2, 1);
  assert.deepEqual(await combineShares([one[1]!]), secret);
  await assert.rejects(() => splitKey(secret, 2, 3), /threshold/);
});
