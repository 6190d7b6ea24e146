// `tsops rotate` and the legacy `-r`: a new data key, every value re-encrypted, --add-*/--rm-* keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox, decryptFile, encryptFile, run } from './helpers/editing.js';
import { ageGroups, encValues, newAgePair, sopsMeta, type AgePair } from './helpers/keymgmt.js';
import { openEncrypted } from '../src/file/file.js';
import { changeKeys } from '../src/ops/rotate.js';
import { keyString, matchesRemoval } from '../src/ops/key-specs.js';
import type { MasterKey } from '../src/keys/types.js';

let sb: Sandbox;
let second: AgePair;
let oracle = false;
let oracleWhy = '';

const PLAIN =
  'db:\n    user: admin\n    password: hunter2\nport: 5432\nratio: 1.5\nenabled: true\n# a comment\nlist:\n    - one\n    - two\n';

before(async () => {
  sb = new Sandbox('tsops-rotate-test-');
  second = await newAgePair();
  oracle = await oracleAvailable();
  if (!oracle) oracleWhy = `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
});

after(async () => {
  await closeOracle();
  sb.cleanup();
});

async function dataKeyOf(text: string, identity = AGE_IDENTITY): Promise<Buffer> {
  const o = await openEncrypted(Buffer.from(text), { format: 'yaml', env: { SOPS_AGE_KEY: identity } });
  return o.dataKey;
}

test('rotate: a new data key and a new ciphertext for every value; the values stay the same', async (t) => {
  const file = await encryptFile(sb, 'r1.yaml', PLAIN);
  const before = fs.readFileSync(file, 'utf8');
  const r = await run(['rotate', file], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'without --in-place the file is untouched');
  const after = r.stdout;
  const oldEnc = encValues(before);
  const newEnc = encValues(after);
  assert.equal(newEnc.length, oldEnc.length);
  assert.ok(newEnc.length >= 8);
  for (const v of newEnc) assert.ok(!oldEnc.includes(v), `ciphertext reused: ${v}`);
  assert.notDeepEqual(await dataKeyOf(after), await dataKeyOf(before));
  assert.notEqual(sopsMeta(after).mac, sopsMeta(before).mac);
  const out = sb.write('r1.rotated.yaml', after);
  assert.equal(await decryptFile(sb, out), await decryptFile(sb, file));
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(after, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
  assert.deepEqual(JSON.parse(real.output), {
    db: { user: 'admin', password: 'hunter2' },
    port: 5432,
    ratio: 1.5,
    enabled: true,
    list: ['one', 'two'],
  });
});

test('rotate -i --add-age, then --rm-age: the recipients change and each key opens what it should', async (t) => {
  const file = await encryptFile(sb, 'r2.yaml', PLAIN);
  const original = await decryptFile(sb, file);
  let r = await run(['rotate', '-i', '--add-age', second.recipient, file], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  let text = fs.readFileSync(file, 'utf8');
  assert.deepEqual(ageGroups(text), [[AGE_RECIPIENT, second.recipient]]);
  // the new identity alone decrypts
  r = await run(['decrypt', file], { env: { ...sb.env, SOPS_AGE_KEY: second.identity }, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, original);

  r = await run(['rotate', '--in-place', '--rm-age', AGE_RECIPIENT, file], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  text = fs.readFileSync(file, 'utf8');
  assert.deepEqual(ageGroups(text), [[second.recipient]]);
  const [old, now] = await Promise.all([
    run(['decrypt', file], { env: sb.env, cwd: sb.dir }),
    run(['decrypt', file], { env: { ...sb.env, SOPS_AGE_KEY: second.identity }, cwd: sb.dir }),
  ]);
  assert.equal(old.code, 128, 'the removed key no longer opens the file');
  assert.equal(now.code, 0, now.stderr);
  assert.equal(now.stdout, original);
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(text, 'yaml', { SOPS_AGE_KEY: second.identity });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
});

test('legacy -r with --output; --add-age of a key already there is not added twice', async () => {
  const file = await encryptFile(sb, 'r3.yaml', PLAIN);
  const dest = sb.path('r3.out.yaml');
  const r = await run(['-r', '--add-age', AGE_RECIPIENT, '--output', dest, file], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /already a master key/);
  const text = fs.readFileSync(dest, 'utf8');
  assert.deepEqual(ageGroups(text), [[AGE_RECIPIENT]]);
  assert.notDeepEqual(encValues(text), encValues(fs.readFileSync(file, 'utf8')));
  assert.equal(await decryptFile(sb, dest), await decryptFile(sb, file));
});

test('rotate: sops exit codes for misuse, and nothing is written', async () => {
  const file = await encryptFile(sb, 'r4.yaml', PLAIN);
  const before = fs.readFileSync(file, 'utf8');
  const o = { env: sb.env, cwd: sb.dir };
  const [both, addMissing, legacyMissing, none, rmAll, rmUnknown, badRecipient, noKey] = await Promise.all([
    run(['rotate', '-i', '--output', sb.path('x.yaml'), file], o),
    run(['rotate', '--add-age', second.recipient, sb.path('missing.yaml')], o),
    run(['-r', sb.path('missing.yaml')], o),
    run(['rotate'], o),
    // removing the only key would leave nobody able to decrypt
    run(['rotate', '-i', '--rm-age', AGE_RECIPIENT, file], o),
    // a key the file does not have: rotated anyway (to standard output), with a warning
    run(['rotate', '--rm-age', second.recipient, file], o),
    // an invalid recipient is refused before anything happens
    run(['rotate', '-i', '--add-age', 'age1notarecipient', file], o),
    // no key at hand
    run(['rotate', '-i', file], { ...o, env: { ...sb.env, SOPS_AGE_KEY: second.identity } }),
  ]);
  assert.equal(both.code, 8);
  assert.match(both.stderr, /both --output and --in-place/);
  assert.equal(addMissing.code, 49);
  assert.match(addMissing.stderr, /cannot add or remove keys on non-existent file/);
  assert.equal(legacyMissing.code, 100);
  assert.equal(none.code, 100);
  assert.equal(rmAll.code, 111, rmAll.stderr);
  assert.match(rmAll.stderr, /without master keys/);
  assert.equal(rmUnknown.code, 0, rmUnknown.stderr);
  assert.match(rmUnknown.stderr, /not a master key of the file/);
  assert.notEqual(badRecipient.code, 0);
  assert.match(badRecipient.stderr, /invalid age recipient/);
  assert.equal(noKey.code, 128);
  assert.equal(fs.readFileSync(file, 'utf8'), before);
  assert.equal(fs.existsSync(sb.path('x.yaml')), false);
});

test('rotate keeps the file format, --output-type converts, and dotenv works too', async (t) => {
  const env = await encryptFile(sb, 'r5.env', 'USER=admin\nPASSWORD=hunter2\n');
  const before = fs.readFileSync(env, 'utf8');
  const r = await run(['rotate', env], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  const dataEnc = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('sops_'))
      .join('\n')
      .match(/ENC\[[^\]]*\]/g) ?? ([] as string[]);
  assert.equal(dataEnc(r.stdout).length, 2);
  for (const v of dataEnc(r.stdout)) assert.ok(!dataEnc(before).includes(v), 'every value has a new ciphertext');
  const out = sb.write('r5.rotated.env', r.stdout);
  assert.equal(await decryptFile(sb, out), 'USER=admin\nPASSWORD=hunter2\n');
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(r.stdout, 'dotenv', { SOPS_AGE_KEY: AGE_IDENTITY });
  assert.equal(real.error, '');
  assert.deepEqual(JSON.parse(real.output), { USER: 'admin', PASSWORD: 'hunter2' });
});

test('changeKeys: first group gets the new keys, removal from all groups, empty groups dropped', () => {
  const age = (recipient: string): MasterKey => ({ type: 'age', recipient, enc: 'x' });
  const m = { keyGroups: [[age('a')], [age('b'), age('c')], [age('d')]], shamirThreshold: 3 };
  const notes = changeKeys(m, { add: [age('e')], remove: [age('d'), age('b'), age('zz')] });
  assert.deepEqual(
    m.keyGroups.map((g) => g.map((k) => (k as { recipient: string }).recipient)),
    [['a', 'e'], ['c']],
  );
  assert.equal(m.shamirThreshold, 2);
  assert.equal(notes.length, 2);
  assert.match(notes[0]!, /zz is not a master key/);
  assert.equal(m.keyGroups[0]![1]!.enc, '');
  // KMS keys are removed by ARN, Azure keys by vault and name when no version is given
  const kms: MasterKey = {
    type: 'kms',
    arn: 'arn:aws:kms:us-east-1:1:key/k',
    role: 'arn:aws:iam::1:role/r',
    context: { a: 'b' },
    enc: '',
  };
  assert.ok(matchesRemoval({ type: 'kms', arn: 'arn:aws:kms:us-east-1:1:key/k', enc: '' }, kms));
  assert.ok(!matchesRemoval({ type: 'kms', arn: 'arn:aws:kms:us-east-1:1:key/other', enc: '' }, kms));
  const az: MasterKey = { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: 'abc', enc: '' };
  assert.ok(
    matchesRemoval({ type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net/', name: 'k', version: '', enc: '' }, az),
  );
  assert.ok(
    !matchesRemoval(
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: 'other', enc: '' },
      az,
    ),
  );
  assert.equal(keyString(az), 'https://v.vault.azure.net/keys/k/abc');
  assert.equal(
    keyString({ type: 'hc_vault', vaultAddress: 'https://vault:8200', enginePath: 'transit', keyName: 'dev', enc: '' }),
    'https://vault:8200/v1/transit/keys/dev',
  );
});
