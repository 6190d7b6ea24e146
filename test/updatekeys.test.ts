// `tsops updatekeys`: the key groups follow the .sops.yaml rule; values, MAC and lastmodified stay;
// folders are searched, each file is reported, failures do not stop the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { sopsDecrypt } from './helpers/sops-oracle.js';
import { AGE_IDENTITY, AGE_RECIPIENT, BIN, Sandbox, encryptFile, run } from './helpers/editing.js';
import {
  ageGroups,
  dataPart,
  setUpKeyTest,
  sopsMeta,
  tearDownKeyTest,
  type AgePair,
  type KeyTestSetup,
} from './helpers/keymgmt.js';
import { diffKeyGroups, formatChanges } from '../src/ops/updatekeys.js';
import type { MasterKey } from '../src/keys/types.js';

let sb: Sandbox;
let second: AgePair;
let third: AgePair;
let oracle = false;
let oracleWhy = '';

let setup: KeyTestSetup | undefined;

before(async () => {
  setup = await setUpKeyTest('tsops-updatekeys-test-');
  ({ sb, second, third, oracle, oracleWhy } = setup);
});

after(() => tearDownKeyTest(setup));

/** A project folder with its own .sops.yaml (age recipients of one rule). */
function project(name: string, recipients: string[]): string {
  const dir = sb.path(name);
  fs.mkdirSync(dir, { recursive: true });
  setRule(dir, recipients);
  return dir;
}

function setRule(dir: string, recipients: string[], extra = ''): void {
  fs.writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${recipients.join(',')}\n${extra}`);
}

/** Encrypt for the first key only, into DIR/REL. */
async function secret(dir: string, rel: string, plain: string): Promise<string> {
  const tmp = await encryptFile(sb, path.basename(rel), plain, `tmp-${path.basename(dir)}-${path.basename(rel)}`);
  const dest = path.join(dir, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.renameSync(tmp, dest);
  return dest;
}

test('updatekeys -y over a folder: new recipient added, values/MAC/lastmodified unchanged, per-file report', async (t) => {
  const dir = project('p1', [AGE_RECIPIENT]);
  const a = await secret(dir, 'a.yaml', 'password: hunter2\nport: 5432\n');
  const b = await secret(dir, 'sub/b.yaml', 'token: abc\n');
  const env = await secret(dir, 'sub/c.env', 'USER=admin\nPASSWORD=hunter2\n');
  const json = await secret(dir, 'd.json', '{"api": {"key": "k-123"}, "n": 1.5}');
  const hidden = await secret(dir, 'node_modules/pkg/c.yaml', 'x: y\n');
  fs.mkdirSync(path.join(dir, '.git'));
  fs.copyFileSync(a, path.join(dir, '.git', 'a.yaml'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'just notes about sops\n');
  const before = new Map([a, b, env, json, hidden].map((f) => [f, fs.readFileSync(f, 'utf8')]));
  setRule(dir, [AGE_RECIPIENT, second.recipient]);

  const r = await run(['updatekeys', '-y', dir], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /The following changes will be made to the file's groups:\nGroup 1\n {4}age1lzd99/);
  assert.ok(r.stdout.includes(`+++ ${second.recipient}`));
  assert.match(r.stderr, /p1\/a\.yaml: updated/);
  assert.match(r.stderr, /p1\/sub\/b\.yaml: updated/);
  assert.match(r.stderr, /p1\/notes\.txt: skipped: not a sops file/);
  assert.match(r.stderr, /p1\/sub\/c\.env: updated/);
  assert.match(r.stderr, /p1\/d\.json: updated/);
  assert.match(r.stderr, /4 updated/);
  assert.ok(!r.stderr.includes('node_modules') && !r.stderr.includes('.git'), r.stderr);
  assert.equal(fs.readFileSync(hidden, 'utf8'), before.get(hidden), 'node_modules is not searched');

  for (const f of [a, b]) {
    const old = before.get(f)!;
    const now = fs.readFileSync(f, 'utf8');
    assert.equal(dataPart(now), dataPart(old), 'every value keeps its ciphertext');
    assert.equal(sopsMeta(now).mac, sopsMeta(old).mac);
    assert.equal(sopsMeta(now).lastmodified, sopsMeta(old).lastmodified);
    assert.deepEqual(ageGroups(now), [[AGE_RECIPIENT, second.recipient]]);
    // the key that stays keeps its wrapped data key
    const enc = (text: string) => (sopsMeta(text).age as Array<{ enc: string }>)[0]!.enc;
    assert.equal(enc(now), enc(old));
  }
  // dotenv and JSON: the values, MAC and lastmodified lines are the same
  const envLines = (t: string) => t.split('\n').filter((l) => !l.startsWith('sops_age_'));
  assert.deepEqual(envLines(fs.readFileSync(env, 'utf8')), envLines(before.get(env)!));
  const jsonNow = fs.readFileSync(json, 'utf8');
  const jsonOld = before.get(json)!;
  assert.equal(jsonNow.slice(0, jsonNow.indexOf('"sops"')), jsonOld.slice(0, jsonOld.indexOf('"sops"')));
  for (const k of ['mac', 'lastmodified']) assert.equal(JSON.parse(jsonNow).sops[k], JSON.parse(jsonOld).sops[k]);
  // the new identity alone decrypts
  const dec = await run(['decrypt', a], { env: { ...sb.env, SOPS_AGE_KEY: second.identity }, cwd: sb.dir });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, 'password: hunter2\nport: 5432\n');

  // a second run has nothing to do
  const again = await run(['updatekeys', '-y', a], { env: sb.env, cwd: sb.dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /already up to date/);
  assert.equal(again.stdout, '');

  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(fs.readFileSync(b, 'utf8'), 'yaml', { SOPS_AGE_KEY: second.identity });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
  assert.deepEqual(JSON.parse(real.output), { token: 'abc' });
  const [realEnv, realJson] = await Promise.all([
    sopsDecrypt(fs.readFileSync(env, 'utf8'), 'dotenv', { SOPS_AGE_KEY: second.identity }),
    sopsDecrypt(fs.readFileSync(json, 'utf8'), 'json', { SOPS_AGE_KEY: second.identity }),
  ]);
  assert.equal(realEnv.error, '');
  assert.deepEqual(JSON.parse(realEnv.output), { USER: 'admin', PASSWORD: 'hunter2' });
  assert.equal(realJson.error, '');
  assert.deepEqual(JSON.parse(realJson.output), { api: { key: 'k-123' }, n: 1.5 });
});

test('updatekeys reads y/n from piped standard input as sops does; end of input without an answer changes nothing', async () => {
  const dir = project('p2', [AGE_RECIPIENT]);
  const a = await secret(dir, 'a.yaml', 'k: v\n');
  const before = fs.readFileSync(a);
  setRule(dir, [AGE_RECIPIENT, second.recipient]);
  let r = await run(['updatekeys', a], { env: sb.env, cwd: sb.dir, input: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /standard input ended.*--yes/);
  assert.ok(r.stdout.includes(`+++ ${second.recipient}`), 'the changes are shown');
  assert.deepEqual(fs.readFileSync(a), before);
  r = await run(['updatekeys', a], { env: sb.env, cwd: sb.dir, input: 'n\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readFileSync(a), before);
  r = await run(['updatekeys', a], { env: sb.env, cwd: sb.dir, input: 'y\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ageGroups(fs.readFileSync(a, 'utf8')), [[AGE_RECIPIENT, second.recipient]]);
});

test(
  'updatekeys asks on the terminal: n leaves the file, y updates it',
  { skip: !hasScript() && 'the script command (util-linux) is not installed' },
  async () => {
    const dir = project('p3', [AGE_RECIPIENT]);
    const a = await secret(dir, 'a.yaml', 'k: v\n');
    const before = fs.readFileSync(a);
    setRule(dir, [AGE_RECIPIENT, second.recipient]);
    const viaTerminal = (answer: string) =>
      spawnSync(
        'script',
        [
          '-qec',
          `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} updatekeys ${JSON.stringify(a)}`,
          '/dev/null',
        ],
        {
          env: sb.env,
          cwd: sb.dir,
          input: answer,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    let r = viaTerminal('maybe\nn\n');
    assert.equal(r.status, 0, r.stdout);
    assert.equal(
      r.stdout.split('Is this okay? (y/n):').length - 1,
      2,
      'asked again after an answer that is not y or n',
    );
    assert.match(r.stdout, /left unchanged/);
    assert.deepEqual(fs.readFileSync(a), before);
    r = viaTerminal('y\n');
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /synced with new keys/);
    assert.deepEqual(ageGroups(fs.readFileSync(a, 'utf8')), [[AGE_RECIPIENT, second.recipient]]);
  },
);

function hasScript(): boolean {
  return spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
}

test('updatekeys: a removed recipient, a failure in the middle, and exit 1 at the end', async (t) => {
  const dir = project('p4', [AGE_RECIPIENT, second.recipient]);
  // encrypted for the rule's two keys
  const r0 = await run(
    [
      'encrypt',
      '--age',
      `${AGE_RECIPIENT},${second.recipient}`,
      '--output',
      path.join(dir, 'a.yaml'),
      sb.write('p4.yaml', 'a: 1\n'),
    ],
    { env: sb.env, cwd: sb.dir },
  );
  assert.equal(r0.code, 0, r0.stderr);
  // a file none of our keys opens
  const r1 = await run(
    ['encrypt', '--age', third.recipient, '--output', path.join(dir, 'b.yaml'), sb.write('p4b.yaml', 'b: 2\n')],
    { env: sb.env, cwd: sb.dir },
  );
  assert.equal(r1.code, 0, r1.stderr);
  const c = await secret(dir, 'c.yaml', 'c: 3\n');
  const bBefore = fs.readFileSync(path.join(dir, 'b.yaml'));
  setRule(dir, [second.recipient]);

  const r = await run(['updatekeys', '--yes', path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml'), c], {
    env: sb.env,
    cwd: sb.dir,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stdout.includes(`--- ${AGE_RECIPIENT}`));
  assert.match(r.stderr, /p4\/b\.yaml: failed: could not decrypt the data key/);
  assert.match(r.stderr, /p4\/a\.yaml: updated/);
  assert.match(r.stderr, /p4\/c\.yaml: updated/, 'the files after the failure are still done');
  assert.match(r.stderr, /failed updating 1 of 3 file/);
  assert.match(r.stderr, /tsops rotate/, 'a hint to rotate after removing a key');
  assert.deepEqual(fs.readFileSync(path.join(dir, 'b.yaml')), bBefore);
  for (const f of ['a.yaml', 'c.yaml'])
    assert.deepEqual(ageGroups(fs.readFileSync(path.join(dir, f), 'utf8')), [[second.recipient]]);
  const [old, now] = await Promise.all([
    run(['decrypt', c], { env: sb.env, cwd: sb.dir }),
    run(['decrypt', c], { env: { ...sb.env, SOPS_AGE_KEY: second.identity }, cwd: sb.dir }),
  ]);
  assert.equal(old.code, 128);
  assert.equal(now.code, 0, now.stderr);
  assert.equal(now.stdout, 'c: 3\n');
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(fs.readFileSync(c, 'utf8'), 'yaml', { SOPS_AGE_KEY: second.identity });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
});

test('updatekeys: key_groups and shamir_threshold from the rule (new shares, same data key)', async (t) => {
  const dir = project('p5', [AGE_RECIPIENT]);
  const a = await secret(dir, 'a.yaml', 'k: v\nnum: 2\n');
  const before = fs.readFileSync(a, 'utf8');
  const rule = (threshold: number) =>
    fs.writeFileSync(
      path.join(dir, '.sops.yaml'),
      `creation_rules:\n  - shamir_threshold: ${threshold}\n    key_groups:\n      - age: [${AGE_RECIPIENT}]\n      - age: [${second.recipient}]\n`,
    );
  // sops cannot split a key with threshold 1 (and cannot decrypt from a single share)
  rule(1);
  let r = await run(['updatekeys', '-y', a], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 1, 'as sops: the data key cannot be split (exit 1)');
  assert.match(r.stderr, /threshold must be at least 2\] .*put all the keys in one key group/);
  assert.equal(fs.readFileSync(a, 'utf8'), before);

  rule(2);
  r = await run(['updatekeys', '-y', a], { env: sb.env, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\+\+\+ shamir_threshold: 2\nGroup 1\n {4}age1lzd99\S+\nGroup 2\n\+\+\+ age1/);
  const now = fs.readFileSync(a, 'utf8');
  assert.equal(dataPart(now), dataPart(before));
  assert.equal(sopsMeta(now).shamir_threshold, 2);
  assert.deepEqual(ageGroups(now), [[AGE_RECIPIENT], [second.recipient]]);
  // both groups needed now
  const both = `${AGE_IDENTITY}\n${second.identity}`;
  const [one, two] = await Promise.all([
    run(['decrypt', a], { env: sb.env, cwd: sb.dir }),
    run(['decrypt', a], { env: { ...sb.env, SOPS_AGE_KEY: both }, cwd: sb.dir }),
  ]);
  assert.equal(one.code, 128, 'one share is not enough');
  assert.equal(two.code, 0, two.stderr);
  assert.equal(two.stdout, 'k: v\nnum: 2\n');
  if (!oracle) return t.skip(oracleWhy);
  const real = await sopsDecrypt(now, 'yaml', { SOPS_AGE_KEY: both });
  assert.equal(real.error, '');
  assert.equal(real.ok, true);
  assert.deepEqual(JSON.parse(real.output), { k: 'v', num: 2 });
});

test('updatekeys: no file, no config, no matching rule', async () => {
  const lone = sb.path('lone');
  fs.mkdirSync(lone);
  const a = await secret(lone, 'a.yaml', 'k: v\n');
  const [none, noConfig, noRule] = await Promise.all([
    run(['updatekeys'], { env: sb.env, cwd: lone }),
    run(['updatekeys', '-y', a], { env: sb.env, cwd: lone }),
    run(
      [
        'updatekeys',
        '-y',
        '--config',
        sb.write('norule.yaml', 'creation_rules:\n  - path_regex: nothing-matches\n    age: ' + AGE_RECIPIENT + '\n'),
        a,
      ],
      { env: sb.env, cwd: lone },
    ),
  ]);
  assert.equal(none.code, 100);
  assert.match(none.stderr, /no file specified/);
  assert.notEqual(noConfig.code, 0);
  assert.match(noConfig.stderr, /config file not found/);
  assert.notEqual(noRule.code, 0);
  assert.match(noRule.stderr, /no matching creation rules/);
});

test("diffKeyGroups / formatChanges: sops's listing", () => {
  const age = (recipient: string): MasterKey => ({ type: 'age', recipient, enc: '' });
  const diffs = diffKeyGroups([[age('a'), age('b')], [age('x')]], [[age('b'), age('c')]]);
  assert.equal(diffs.length, 2);
  assert.equal(
    formatChanges(diffs, 2, 1),
    "The following changes will be made to the file's groups:\n+++ shamir_threshold: 1\n--- shamir_threshold: 2\nGroup 1\n    b\n+++ c\n--- a\nGroup 2\n--- x\n",
  );
  const reordered = diffKeyGroups([[age('a'), age('b')]], [[age('b'), age('a')]]);
  assert.equal(reordered[0]!.orderChanged, true);
  assert.match(formatChanges(reordered, 0, 0), /Key order changed in group 1\n$/);
  assert.equal(diffKeyGroups([[age('a')]], [[age('a')]])[0]!.orderChanged, false);
});
