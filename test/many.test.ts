// Many files per call (sops issues 945, 1204): `encrypt -i` / `decrypt -i` / `rotate -i` over several
// files and folders (--recursive), all or nothing unless --keep-going, a per-file report, a progress
// line, sops's code of the first failure, and one key-service round trip per distinct data key
// (counted on the loopback AWS KMS server); without -i, sops's warning and the first file only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AGE_RECIPIENT, Sandbox, run } from './helpers/editing.js';
import { newAgePair } from './helpers/keymgmt.js';
import { startAwsServer, type AwsServer } from './servers/aws-kms.js';
import { decrypt, encrypt } from '../src/api.js';
import { ExitCode } from '../src/errors.js';

let sb: Sandbox;
let kms: AwsServer;
const ARN = 'arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
let kmsEnv: NodeJS.ProcessEnv;

before(async () => {
  sb = new Sandbox('tsops-many-test-');
  kms = await startAwsServer();
  kmsEnv = {
    ...sb.env,
    AWS_ENDPOINT_URL: kms.url,
    AWS_ACCESS_KEY_ID: 'AKIDMANYFILES00001',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
});
after(async () => {
  await kms.close();
  sb.cleanup();
});

/** A project folder with a catch-all age rule and the given plaintext files. */
function project(name: string, files: Record<string, string>): string {
  const dir = sb.path(name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${AGE_RECIPIENT}\n`);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel), 'utf8');
const snapshot = (dir: string, rels: string[]) => rels.map((r) => read(dir, r));

const PLAIN: Record<string, string> = {
  'a.yaml': 'a: 1\n',
  'b.json': '{\n\t"b": "two"\n}\n',
  'c.env': 'C=three\n',
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`conf/f${i}.yaml`, `k${i}: v${i}\n`])),
};

test('3 files and a folder round-trip: encrypt -i --recursive, rotate -i, decrypt -i; per-file report and progress', async () => {
  const dir = project('roundtrip', PLAIN);
  const names = Object.keys(PLAIN);
  const enc = await run(['encrypt', '-i', '--recursive', 'a.yaml', 'b.json', 'c.env', 'conf'], {
    env: sb.env,
    cwd: dir,
  });
  assert.equal(enc.code, 0, enc.stderr);
  assert.match(enc.stderr, /^encrypt: 13 encrypted$/m);
  assert.match(enc.stderr, /^ {2}conf\/f9\.yaml: encrypted$/m);
  assert.match(
    enc.stderr,
    /^\[1\/13\] a\.yaml$/m,
    'a progress line when many files (not a terminal: every 25th and the last)',
  );
  assert.match(enc.stderr, /^\[13\/13\] conf\/f9\.yaml$/m);
  for (const n of names) {
    const text = read(dir, n);
    assert.match(text, /ENC\[AES256_GCM/, n);
    assert.equal(await decrypt(text, { filename: n, env: sb.env }), PLAIN[n], n);
  }
  const before = read(dir, 'a.yaml');
  const rot = await run(['rotate', '-i', '--recursive', '.'], { env: sb.env, cwd: dir });
  assert.equal(rot.code, 0, rot.stderr);
  assert.match(rot.stderr, /^rotate: 13 rotated, 1 skipped$/m); // (.sops.yaml is not a sops file)
  assert.notEqual(read(dir, 'a.yaml'), before);
  const dec = await run(['decrypt', '-i', '--recursive', 'a.yaml', 'b.json', 'c.env', 'conf'], {
    env: sb.env,
    cwd: dir,
  });
  assert.equal(dec.code, 0, dec.stderr);
  for (const n of names) assert.equal(read(dir, n), PLAIN[n], n);
});

test('a failing file touches nothing (planning or decryption); --keep-going does the rest and reports; exit = first failure code', async () => {
  const other = await newAgePair();
  const dir = project('failing', {});
  for (const n of ['a.yaml', 'b.yaml'])
    fs.writeFileSync(
      path.join(dir, n),
      await encrypt(`${n[0]}: 1\n`, { filename: n, age: [AGE_RECIPIENT], env: sb.env }),
    );
  fs.writeFileSync(path.join(dir, 'plain.yaml'), 'not: encrypted\n');
  fs.writeFileSync(
    path.join(dir, 'foreign.yaml'),
    await encrypt('x: 1\n', { filename: 'foreign.yaml', age: [other.recipient], env: sb.env }),
  );
  const all = ['a.yaml', 'b.yaml', 'plain.yaml', 'foreign.yaml'];
  const start = snapshot(dir, all);

  // a file that is not a sops file: found while planning, before anything is decrypted
  const plan = await run(['decrypt', '-i', 'a.yaml', 'plain.yaml', 'b.yaml'], { env: sb.env, cwd: dir });
  assert.equal(plan.code, ExitCode.ErrorGeneric, plan.stderr);
  assert.match(plan.stderr, /plain\.yaml: failed: .*sops metadata not found/);
  assert.deepEqual(snapshot(dir, all), start);
  // a file whose key we lack: found while decrypting, before anything is written
  const key = await run(['decrypt', '-i', 'a.yaml', 'foreign.yaml', 'b.yaml'], { env: sb.env, cwd: dir });
  assert.equal(key.code, ExitCode.CouldNotRetrieveKey, key.stderr);
  assert.match(key.stderr, /^decrypt: 0 decrypted, 1 failed, 2 not touched$/m);
  assert.deepEqual(snapshot(dir, all), start);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('tsops')),
    [],
    'no lock or temp file left',
  );
  // a missing file
  const missing = await run(['decrypt', '-i', 'a.yaml', 'nope.yaml'], { env: sb.env, cwd: dir });
  assert.equal(missing.code, ExitCode.NoFileSpecified, missing.stderr);
  assert.deepEqual(snapshot(dir, all), start);

  const kept = await run(['decrypt', '-i', '--keep-going', 'a.yaml', 'plain.yaml', 'foreign.yaml', 'b.yaml'], {
    env: sb.env,
    cwd: dir,
  });
  assert.equal(kept.code, ExitCode.ErrorGeneric, 'the code of the first failure (plain.yaml)');
  assert.match(kept.stderr, /^decrypt: 2 decrypted, 2 failed$/m);
  assert.match(kept.stderr, /^ {2}foreign\.yaml: failed: /m);
  assert.equal(read(dir, 'a.yaml'), 'a: 1\n');
  assert.equal(read(dir, 'b.yaml'), 'b: 1\n');
  assert.equal(read(dir, 'foreign.yaml'), start[3]);
});

test('one KMS round trip per distinct data key (decrypt -i and rotate -i over a file, its copy and another)', async () => {
  const dir = project('kms', {});
  const enc = (plain: string, name: string) =>
    encrypt(plain, { filename: name, keyGroups: [[{ type: 'kms', arn: ARN, enc: '' }]], env: kmsEnv });
  const a = await enc('a: 1\n', 'a.yaml');
  fs.writeFileSync(path.join(dir, 'a.yaml'), a);
  fs.writeFileSync(path.join(dir, 'a-copy.yaml'), a); // the same data key, wrapped the same way
  fs.writeFileSync(path.join(dir, 'c.yaml'), await enc('c: 3\n', 'c.yaml'));
  const count = (action: string) => kms.calls.filter((c) => c.action === action).length;

  const d0 = count('Decrypt');
  const e0 = count('Encrypt');
  const rot = await run(['rotate', '-i', 'a.yaml', 'a-copy.yaml', 'c.yaml'], { env: kmsEnv, cwd: dir });
  assert.equal(rot.code, 0, rot.stderr);
  assert.equal(count('Decrypt') - d0, 2, 'two distinct data keys: two unwraps');
  assert.equal(count('Encrypt') - e0, 3, 'every rotated file gets its own new data key');

  fs.writeFileSync(path.join(dir, 'a-copy.yaml'), read(dir, 'a.yaml')); // share a data key again
  const d1 = count('Decrypt');
  const dec = await run(['decrypt', '-i', 'a.yaml', 'a-copy.yaml', 'c.yaml'], { env: kmsEnv, cwd: dir });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(count('Decrypt') - d1, 2);
  assert.equal(read(dir, 'a-copy.yaml'), 'a: 1\n');
  assert.equal(read(dir, 'c.yaml'), 'c: 3\n');
});

test("without -i several files get sops's warning and only the first is used; a folder with -i needs --recursive", async () => {
  const dir = project('first', {});
  fs.writeFileSync(
    path.join(dir, 'a.yaml'),
    await encrypt('a: 1\n', { filename: 'a.yaml', age: [AGE_RECIPIENT], env: sb.env }),
  );
  fs.writeFileSync(path.join(dir, 'b.yaml'), 'b: 2\n');
  const r = await run(['decrypt', 'a.yaml', 'b.yaml'], { env: sb.env, cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'a: 1\n');
  assert.match(r.stderr, /More than one positional argument provided\. Only the first one will be used!/);
  fs.mkdirSync(path.join(dir, 'sub'));
  const folder = await run(['decrypt', '-i', 'sub'], { env: sb.env, cwd: dir });
  assert.equal(folder.code, 1);
  assert.match(folder.stderr, /can't operate on a directory without --recursive flag/);
});
