/**
 * The tree walk in two phases (src/tree/crypt.ts: queue a chunk of leaves, run the batched AES-GCM
 * engine, put back and MAC in order) behaves as the one-by-one walk: same texts, MAC, types, raw
 * bytes, comments, IV reuse, and the same error for the first failing value in document order, at
 * chunk boundaries and on both engine paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decryptParsed, encryptValue, parseEncrypted } from '../src/aes/cipher.js';
import { tuning } from '../src/aes/gcm-batch.js';
import { decryptTree, encryptTree, IvStash, pathAad } from '../src/tree/crypt.js';
import type { Comment, MapNode, Node, Scalar, Tree } from '../src/tree/types.js';
import type { Scope } from '../src/scope/scope.js';
import { ExitCode, SopsError } from '../src/errors.js';

const key = randomBytes(32);
const sc = (type: Scalar['type'], text: string, raw?: Buffer): Scalar => ({
  kind: 'scalar',
  type,
  text,
  ...(raw && { raw }),
});
const cm = (text: string): Comment => ({ kind: 'comment', text });

function sample(n: number): Tree {
  const items: MapNode['items'] = [cm(' top')];
  for (let i = 0; i < n; i++) {
    const list: Array<Node | Comment> = [sc('str', `é${i}`), cm(` in list ${i}`), sc('bool', i % 2 ? 'true' : 'false')];
    items.push(
      { kind: 'entry', key: `k${i}`, value: sc('str', 'v'.repeat(i % 40)) },
      { kind: 'entry', key: `n${i}_unencrypted`, value: sc('int', String(i)) },
      { kind: 'entry', key: `f${i}`, value: sc('float', `${i}.5`) },
      { kind: 'entry', key: `t${i}`, value: sc('time', '2024-01-02T03:04:05Z') },
      { kind: 'entry', key: `r${i}`, value: sc('str', Buffer.of(0xff, i).toString('utf8'), Buffer.of(0xff, i)) },
      { kind: 'entry', key: `l${i}`, value: { kind: 'list', items: list } },
      { kind: 'entry', key: `z${i}`, value: { kind: 'null' } },
    );
  }
  return {
    docs: [
      { kind: 'map', items },
      { kind: 'map', items: [{ kind: 'entry', key: 'second', value: sc('str', 'doc') }] },
    ],
  };
}

/** Run `fn` with the engine on every batch (small 0) or never, and chunks of `chunk` leaves. */
function withTuning<T>(small: number, chunk: number, fn: () => T): T {
  const saved = { ...tuning };
  Object.assign(tuning, { small, chunk });
  try {
    return fn();
  } finally {
    Object.assign(tuning, saved);
  }
}

const CONFIGS: Array<[string, number, number]> = [
  ['engine, chunks of 3', 0, 3],
  ['engine, one chunk', 0, 1 << 20],
  ['node GCM, chunks of 5', 1 << 30, 5],
];
const SCOPES: Scope[] = [
  { unencryptedSuffix: '_unencrypted' },
  { unencryptedSuffix: '_unencrypted', macOnlyEncrypted: true },
];

test('two-phase walk: same MAC and plaintext whatever the path and chunking; each value opens with node GCM', () => {
  for (const scope of SCOPES) {
    const macs = new Set<string>();
    for (const [name, small, chunk] of CONFIGS) {
      const t = sample(12);
      const plain = JSON.stringify(t);
      const mac = withTuning(small, chunk, () => encryptTree(t, key, scope));
      // every encrypted value is node's GCM with its key path as AAD
      const enc = t.docs[0]!.items;
      const k0 = enc[1]!;
      assert.ok(k0.kind === 'entry' && k0.value.kind === 'scalar');
      assert.equal(k0.value.text, '', 'an empty string stays empty');
      const l3 = enc.find((e) => e.kind === 'entry' && e.key === 'l3');
      assert.ok(l3?.kind === 'entry' && l3.value.kind === 'list');
      const [s, c] = l3.value.items as [Scalar, Comment];
      assert.equal(decryptParsed(parseEncrypted(s.text), key, 'l3:').toString(), 'é3', name);
      assert.equal(decryptParsed(parseEncrypted(c.text), key, 'l3:').toString(), ' in list 3');
      const mac2 = withTuning(small, chunk, () =>
        decryptTree(t, key, scope, undefined, () => assert.fail('no warning')),
      );
      assert.equal(mac2, mac, name);
      assert.ok(JSON.stringify(t) === plain, `${name}: the tree is as before`);
      macs.add(mac);
    }
    assert.equal(macs.size, 1);
  }
});

test('two-phase walk: the IV stash keeps every unchanged ciphertext (values and comments)', () => {
  for (const [name, small, chunk] of CONFIGS) {
    withTuning(small, chunk, () => {
      const t = sample(6);
      encryptTree(t, key, SCOPES[0]!);
      const before = JSON.stringify(t);
      const stash = new IvStash();
      decryptTree(t, key, SCOPES[0]!, stash);
      encryptTree(t, key, SCOPES[0]!, stash);
      assert.ok(JSON.stringify(t) === before, `${name}: every ciphertext kept`);
    });
  }
});

/** A flat tree of values k0..k(n-1), encrypted, with `damage` applied to some leaves. */
function flat(n: number, damage: Record<number, (leaf: Scalar) => Scalar | Comment>): Tree {
  const items: MapNode['items'] = [];
  for (let i = 0; i < n; i++) {
    const aad = pathAad([`k${i}`]);
    let leaf: Scalar = sc('str', encryptValue(`value ${i}`, 'str', key, aad));
    const d = damage[i];
    if (d) {
      const r = d(leaf);
      if (r.kind === 'comment') {
        items.push(r);
        leaf = sc('str', encryptValue(`value ${i}`, 'str', key, aad));
      } else leaf = r;
    }
    items.push({ kind: 'entry', key: `k${i}`, value: leaf });
  }
  return { docs: [{ kind: 'map', items }] };
}

const malformed = (l: Scalar) => sc('str', l.text.replace('data:', 'data:!'));
const forged = (l: Scalar) => sc('str', l.text.replace(/tag:.{4}/, 'tag:AAAA'));
const wrongType = (l: Scalar) => sc('str', l.text.replace('type:str', 'type:int'));
const notStr = () => sc('int', '5');
const plainComment = () => cm(' not encrypted');

test('two-phase walk: the first failing value in document order is the error, whatever comes later', () => {
  const cases: Array<[Record<number, (l: Scalar) => Scalar | Comment>, RegExp, number]> = [
    [{ 3: malformed, 6: forged }, /the value at \["k3"\] is not an encrypted sops value/, 0],
    [{ 1: forged, 2: notStr }, /could not decrypt the value at \["k1"\]: authentication failed/, 0],
    [
      { 5: notStr, 7: malformed },
      /the value at \["k5"\] is not encrypted, but the file's settings say it should be/,
      0,
    ],
    [{ 2: wrongType, 4: forged }, /the value at \["k2"\] decrypted to text, which is not a valid int/, 0],
    [{ 1: plainComment, 4: plainComment, 6: forged, 8: plainComment }, /could not decrypt the value at \["k6"\]/, 2],
    [{ 9: forged }, /could not decrypt the value at \["k9"\]/, 0],
  ];
  for (const [name, small, chunk] of CONFIGS) {
    for (const [damage, message, warnings] of cases) {
      const t = flat(10, damage);
      const warned: string[] = [];
      assert.throws(
        () => withTuning(small, chunk, () => decryptTree(t, key, {}, undefined, (m) => warned.push(m))),
        (e: SopsError) => message.test(e.message) && e.code === ExitCode.ErrorDecryptingTree,
        `${name} ${message}`,
      );
      assert.equal(warned.length, warnings, `${name} ${message}`);
      assert.match(warned[0] ?? 'Found possibly unencrypted comment', /Found possibly unencrypted comment/);
    }
    // a comment that does not decrypt is kept as it is, with the warning, and the rest decrypts
    const t = flat(4, { 2: plainComment });
    const warned: string[] = [];
    withTuning(small, chunk, () => decryptTree(t, key, {}, undefined, (m) => warned.push(m)));
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /comment in the top level, kept as it is/);
    const items = t.docs[0]!.items;
    assert.deepEqual(items[2], cm(' not encrypted'));
    assert.deepEqual(items[4], { kind: 'entry', key: 'k3', value: sc('str', 'value 3') });
  }
});
