// `tsops groups add/delete` (Shamir key groups) and `tsops filestatus`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { sopsDecrypt } from './helpers/sops-oracle.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox, encryptFile, run } from './helpers/editing.js';
import {
  ageGroups,
  dataPart,
  setUpKeyTest,
  sopsMeta,
  tearDownKeyTest,
  type AgePair,
  type KeyTestSetup,
} from './helpers/keymgmt.js';

let sb: Sandbox;
let second: AgePair;
let third: AgePair;
let oracle = false;
let oracleWhy = '';

let setup: KeyTestSetup | undefined;

before(async () => {
  setup = await setUpKeyTest('tsops-groups-test-');
  ({ sb, second, third, oracle, oracleWhy } = setup);
});

after(() => tearDownKeyTest(setup));

const PLAIN = 'user: admin\npassword: hunter2\n';

test('groups add -i: a second group; both groups needed; values, MAC and lastmodified unchanged', async (t) => {
  const file = await encryptFile(sb, 'g1.yaml', PLAIN);
  const before = fs.readFileSync(file, 'utf8');
  let r = await run(['groups', 'add', '--file', file, '--age', second.recipient], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'without -i the result is printed');
  assert.deepEqual(ageGroups(r.stdout), [[AGE_RECIPIENT], [second.recipient]]);

  r = await run(['groups', 'add', '-f', file, '--age', second.recipient, '-i'], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  const now = fs.readFileSync(file, 'utf8');
  assert.deepEqual(ageGroups(now), [[AGE_RECIPIENT], [second.recipient]]);
  assert.equal(sopsMeta(now).shamir_threshold, 2);
  assert.equal(dataPart(now), dataPart(before));
  assert.equal(sopsMeta(now).mac, sopsMeta(before).mac);
  assert.equal(sopsMeta(now).lastmodified, sopsMeta(before).lastmodified);
  const both = `${AGE_IDENTITY}\n${second.identity}`;
  const [one, two] = await Promise.all([
    run(['decrypt', file], { env: sb.env, cwd: sb.dir }),
    run(['decrypt', file], { env: { ...sb.env, SOPS_AGE_KEY: both }, cwd: sb.dir }),
  ]);
  assert.equal(one.code, 128, 'one group alone is not enough');
  assert.equal(two.code, 0, two.stderr);
  assert.equal(two.stdout, PLAIN);
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(now, 'yaml', { SOPS_AGE_KEY: both });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
  assert.deepEqual(JSON.parse(real.output), { user: 'admin', password: 'hunter2' });
});

test('groups add with a threshold, then groups delete back to one group', async (t) => {
  const file = await encryptFile(sb, 'g2.yaml', PLAIN);
  const before = fs.readFileSync(file, 'utf8');
  const both = `${AGE_IDENTITY}\n${second.identity}`;
  let r = await run(['groups', 'add', '-f', file, '-i', '--age', second.recipient], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  // a third group, any 2 of the 3 needed
  r = await run(
    ['groups', 'add', '-f', file, '-i', '--age', third.recipient, '--shamir-secret-sharing-threshold', '2'],
    { env: { ...sb.env, SOPS_AGE_KEY: both }, cwd: sb.dir },
  );
  assert.equal(r.code, 0, r.stderr);
  let now = fs.readFileSync(file, 'utf8');
  assert.deepEqual(ageGroups(now), [[AGE_RECIPIENT], [second.recipient], [third.recipient]]);
  assert.equal(sopsMeta(now).shamir_threshold, 2);
  r = await run(['decrypt', file], {
    env: { ...sb.env, SOPS_AGE_KEY: `${second.identity}\n${third.identity}` },
    cwd: sb.dir,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, PLAIN);
  if (oracle) {
    const real = await sopsDecrypt(now, 'yaml', { SOPS_AGE_KEY: `${second.identity}\n${third.identity}` });
    assert.equal(real.error, '');
    assert.equal(real.ok, true);
  }

  // delete group 2 (the third key), then group 1 (the second key)
  r = await run(['groups', 'delete', '-f', file, '-i', '2'], { env: { ...sb.env, SOPS_AGE_KEY: both }, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ageGroups(fs.readFileSync(file, 'utf8')), [[AGE_RECIPIENT], [second.recipient]]);
  // down to one group: sops wants the threshold lowered explicitly
  r = await run(['groups', 'delete', '--file', file, '--in-place', '1'], {
    env: { ...sb.env, SOPS_AGE_KEY: both },
    cwd: sb.dir,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Shamir threshold is 2, but we only have 1 key groups/);
  r = await run(['groups', 'delete', '--file', file, '--in-place', '--shamir-secret-sharing-threshold', '1', '1'], {
    env: { ...sb.env, SOPS_AGE_KEY: both },
    cwd: sb.dir,
  });
  assert.equal(r.code, 0, r.stderr);
  now = fs.readFileSync(file, 'utf8');
  assert.deepEqual(ageGroups(now), [[AGE_RECIPIENT]]);
  assert.equal(dataPart(now), dataPart(before));
  const [one, other] = await Promise.all([
    run(['decrypt', file], { env: sb.env, cwd: sb.dir }),
    run(['decrypt', file], { env: { ...sb.env, SOPS_AGE_KEY: second.identity }, cwd: sb.dir }),
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, PLAIN);
  assert.equal(other.code, 128);
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(now, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
});

test('groups: misuse is refused before any key is used, and nothing is written', async () => {
  const file = await encryptFile(sb, 'g3.yaml', PLAIN);
  const r0 = await run(['groups', 'add', '-f', file, '-i', '--age', second.recipient], { env: sb.env, cwd: sb.dir });
  assert.equal(r0.code, 0, r0.stderr);
  const before = fs.readFileSync(file, 'utf8');
  const o = { env: sb.env, cwd: sb.dir };
  const [range, impossible, noIndex, badIndex, noKeys, positional, noFile, thresholdOne] = await Promise.all([
    run(['groups', 'delete', '-f', file, '-i', '5'], o),
    run(['groups', 'delete', '-f', file, '-i', '--shamir-secret-sharing-threshold', '2', '0'], o),
    run(['groups', 'delete', '-f', file, '-i'], o),
    run(['groups', 'delete', '-f', file, '-i', 'one'], o),
    run(['groups', 'add', '-f', file, '-i'], o),
    run(['groups', 'add', '-f', file, '-i', '--age', third.recipient, 'extra'], o),
    run(['groups', 'add', '--age', third.recipient], o),
    run(['groups', 'add', '-f', file, '-i', '--age', third.recipient, '--shamir-secret-sharing-threshold', '1'], o),
  ]);
  assert.equal(range.code, 1);
  assert.match(range.stderr, /there is no key group 5: the file has 2 key groups/);
  assert.equal(impossible.code, 1);
  assert.match(impossible.stderr, /Shamir threshold is 2, but we only have 1 key groups/);
  assert.equal(noIndex.code, 1);
  assert.match(noIndex.stderr, /exactly one positional argument \(index\) required/);
  assert.equal(badIndex.code, 1);
  assert.match(badIndex.stderr, /failed to parse \[index\] argument/);
  assert.equal(noKeys.code, 111);
  assert.equal(positional.code, 1);
  assert.match(positional.stderr, /no positional arguments allowed/);
  assert.equal(noFile.code, 100);
  // one policy for every command (src/shamir/threshold.ts): sops's words, then the one-group advice
  assert.equal(thresholdOne.code, 1);
  assert.match(
    thresholdOne.stderr,
    /^Could not generate data key: \[could not split data key into parts for Shamir: threshold must be at least 2\] .*put all the keys in one key group/,
  );
  for (const r of [range, impossible, badIndex]) assert.ok(!r.stderr.includes('could not decrypt'), r.stderr);
  assert.equal(fs.readFileSync(file, 'utf8'), before);
});

test('filestatus: encrypted, plain, missing', async () => {
  const enc = await encryptFile(sb, 'fs.yaml', PLAIN);
  const plain = sb.write('plain-fs.yaml', PLAIN);
  const env = await encryptFile(sb, 'fs.env', 'A=1\n');
  const noMac = sb.write('nomac.yaml', fs.readFileSync(enc, 'utf8').replace(/^ {4}mac: .*$/m, '    mac: ""'));
  const o = { env: sb.env, cwd: sb.dir };
  const [e, p, d, n, missing, bad, none] = await Promise.all([
    run(['filestatus', enc], o),
    run(['filestatus', plain], o),
    run(['filestatus', env], o),
    run(['filestatus', noMac], o),
    run(['filestatus', sb.path('missing.yaml')], o),
    run(['filestatus', '--input-type', 'json', plain], o),
    run(['filestatus'], o),
  ]);
  assert.deepEqual([e.code, e.stdout], [0, '{"encrypted":true}\n'], e.stderr);
  assert.deepEqual([p.code, p.stdout], [0, '{"encrypted":false}\n'], p.stderr);
  assert.deepEqual([d.code, d.stdout], [0, '{"encrypted":true}\n'], d.stderr);
  assert.deepEqual([n.code, n.stdout], [0, '{"encrypted":false}\n'], `sops: no MAC, not encrypted ${n.stderr}`);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /cannot check file status/);
  assert.equal(bad.code, 1, 'a file that does not parse in its format is an error');
  assert.equal(none.code, 100);
});
