/**
 * The library API has the operations the commands have: rotate, updateKeys, setValue/unsetValue,
 * addKeyGroup/deleteKeyGroup — in-process, on a file's content, with typed options.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  addKeyGroup,
  decrypt,
  decryptData,
  deleteKeyGroup,
  encrypt,
  PathNotFoundError,
  rotate,
  setValue,
  unsetValue,
  updateKeys,
  KeyRetrievalError,
} from '../src/index.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox } from './helpers/editing.js';
import { encValues, newAgePair, sopsMeta } from './helpers/keymgmt.js';

const env = (...identities: string[]) => ({ SOPS_AGE_KEY: identities.join('\n') });
const base = () => encrypt('a: 1\nb: two\n', { format: 'yaml', age: [AGE_RECIPIENT] });
const groupsOf = (text: string) =>
  (sopsMeta(text)['age'] as unknown[] | undefined)?.length ?? (sopsMeta(text)['key_groups'] as unknown[]).length;

test('rotate: a new data key, same plaintext; keys added and removed', async () => {
  const enc = await base();
  const other = await newAgePair();
  const rotated = await rotate(enc, {
    format: 'yaml',
    env: env(AGE_IDENTITY),
    add: { age: other.recipient },
    remove: { age: [AGE_RECIPIENT] },
  });
  assert.notDeepEqual(encValues(rotated), encValues(enc), 'every value encrypted again');
  assert.equal(await decrypt(rotated, { format: 'yaml', env: env(other.identity) }), 'a: 1\nb: two\n');
  await assert.rejects(decrypt(rotated, { format: 'yaml', env: env(AGE_IDENTITY) }), KeyRetrievalError);
});

test('setValue / unsetValue: one value changes, the others keep their ciphertext', async () => {
  const enc = await base();
  const set = await setValue(enc, '["c"]["d"]', [1, 'x'], { format: 'yaml', env: env(AGE_IDENTITY) });
  assert.deepEqual(await decryptData(set, { format: 'yaml', env: env(AGE_IDENTITY) }), {
    a: 1,
    b: 'two',
    c: { d: [1, 'x'] },
  });
  assert.deepEqual(encValues(set).slice(0, 2), encValues(enc), 'a and b keep their ciphertext');
  assert.equal(
    await setValue(set, ['a'], 1, { format: 'yaml', env: env(AGE_IDENTITY) }),
    set,
    'nothing to change: the input back',
  );
  const unset = await unsetValue(set, ['c'], { format: 'yaml', env: env(AGE_IDENTITY) });
  assert.equal(await decrypt(unset, { format: 'yaml', env: env(AGE_IDENTITY) }), 'a: 1\nb: two\n');
  await assert.rejects(unsetValue(unset, ['c'], { format: 'yaml', env: env(AGE_IDENTITY) }), PathNotFoundError);
  assert.equal(await unsetValue(unset, ['c'], { format: 'yaml', env: env(AGE_IDENTITY), idempotent: true }), unset);
});

test('addKeyGroup / deleteKeyGroup: the same data key, split across groups', async () => {
  const enc = await base();
  const other = await newAgePair();
  const two = await addKeyGroup(enc, { age: [other.recipient] }, { format: 'yaml', env: env(AGE_IDENTITY) });
  assert.equal((sopsMeta(two)['key_groups'] as unknown[]).length, 2);
  assert.deepEqual(encValues(two), encValues(enc), 'values keep their ciphertext');
  await assert.rejects(
    decrypt(two, { format: 'yaml', env: env(AGE_IDENTITY) }),
    KeyRetrievalError,
    'both groups are needed',
  );
  assert.equal(await decrypt(two, { format: 'yaml', env: env(AGE_IDENTITY, other.identity) }), 'a: 1\nb: two\n');
  const one = await deleteKeyGroup(two, 0, {
    format: 'yaml',
    env: env(AGE_IDENTITY, other.identity),
    shamirThreshold: 1,
  });
  assert.equal(groupsOf(one), 1);
  assert.equal(await decrypt(one, { format: 'yaml', env: env(other.identity) }), 'a: 1\nb: two\n');
});

test('updateKeys: a file follows its creation rule, in place', async () => {
  const sb = new Sandbox();
  try {
    const other = await newAgePair();
    fs.writeFileSync(sb.path('.sops.yaml'), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${other.recipient}\n`);
    const file = sb.write('s.yaml', await base());
    const lines: string[] = [];
    const r = await updateKeys([file], {
      yes: true,
      cwd: sb.dir,
      env: env(AGE_IDENTITY),
      report: (l) => lines.push(l),
    });
    assert.deepEqual(
      r.outcomes.map((x) => [path.basename(x.file), x.status]),
      [['s.yaml', 'updated']],
    );
    assert.ok(
      lines.some((l) => l.includes('synced with new keys')),
      lines.join('\n'),
    );
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(await decrypt(text, { format: 'yaml', env: env(other.identity) }), 'a: 1\nb: two\n');
    const again = await updateKeys([file], { yes: true, cwd: sb.dir, env: env(other.identity) });
    assert.equal(again.outcomes[0]!.status, 'up to date');
  } finally {
    sb.cleanup();
  }
});
