// The real-sops oracle (test/helpers/sops-oracle.ts) on files the real sops 3.13.2 encrypted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { oracleAvailable, oracleUnavailableReason, sopsDecrypt, closeOracle } from './helpers/sops-oracle.js';
import { ROOT } from './helpers/fixtures.js';

const root = ROOT;
const fixtures = [
  path.join(root, 'fixtures', 'sops-3.13.2'),
  path.join(root, '..', 'shared', 'fixtures', 'sops-3.13.2'),
].find((d) => fs.existsSync(path.join(d, 'format.enc.yaml')));
const fixture = (name: string) => fs.readFileSync(path.join(fixtures!, name));

let available = false;
let skipReason = '';
let gnupghome: string | undefined;
let env: Record<string, string> = {};

before(async () => {
  if (!fixtures) {
    skipReason = 'fixtures/sops-3.13.2 not found';
    return;
  }
  available = await oracleAvailable();
  if (!available) {
    skipReason = `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
    return;
  }
  gnupghome = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-oracle-gnupg-'));
  fs.chmodSync(gnupghome, 0o700);
  execFileSync('gpg', ['--batch', '--import', path.join(fixtures, 'keys', 'sops_functional_tests_key.asc')], {
    env: { ...process.env, GNUPGHOME: gnupghome },
    stdio: 'pipe',
  });
  env = { GNUPGHOME: gnupghome };
});

after(async () => {
  await closeOracle();
  if (gnupghome) {
    try {
      execFileSync('gpgconf', ['--homedir', gnupghome, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      /* no agent */
    }
    fs.rmSync(gnupghome, { recursive: true, force: true });
  }
});

test('real sops decrypts format.enc.yaml', async (t) => {
  if (!available) return t.skip(skipReason);
  const r = await sopsDecrypt(fixture('format.enc.yaml'), 'yaml', env);
  assert.equal(r.error, '');
  assert.equal(r.ok, true);
  assert.deepEqual(JSON.parse(r.output), { foo: 'bar' });
});

test('real sops refuses a value whose ciphertext was changed', async (t) => {
  if (!available) return t.skip(skipReason);
  const text = fixture('format.enc.yaml').toString('utf8');
  const m = /^foo: ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),/m.exec(text);
  assert.ok(m?.[1], 'fixture has an encrypted value');
  const data = m[1];
  const tampered = data[0] === 'A' ? `B${data.slice(1)}` : `A${data.slice(1)}`;
  const r = await sopsDecrypt(text.replace(`data:${data},`, `data:${tampered},`), 'yaml', env);
  assert.equal(r.ok, false);
  assert.match(r.error, /decrypt/i);
});

test('real sops refuses a file without a MAC', async (t) => {
  if (!available) return t.skip(skipReason);
  const r = await sopsDecrypt(fixture('no_mac.yaml'), 'yaml', env);
  assert.equal(r.ok, false);
  assert.match(r.error, /integrity|MAC/);
});

test('real sops reads the json, dotenv and binary fixtures as recorded in expected/', async (t) => {
  if (!available) return t.skip(skipReason);
  for (const [name, format] of [
    ['format.enc.json', 'json'],
    ['format.enc.env', 'dotenv'],
    ['example.yaml', 'yaml'],
  ] as const) {
    const r = await sopsDecrypt(fixture(name), format, env);
    assert.equal(r.ok, true, `${name}: ${r.error}`);
    assert.deepEqual(
      JSON.parse(r.output),
      JSON.parse(fixture(path.join('expected', `${name}.json`)).toString('utf8')),
      name,
    );
  }
  const bin = await sopsDecrypt(fixture('example.txt'), 'binary', env);
  assert.equal(bin.ok, true, bin.error);
  assert.equal(bin.output, fixture(path.join('expected', 'example.txt.out')).toString('utf8'));
});

test('without the key, real sops cannot decrypt', async (t) => {
  if (!available) return t.skip(skipReason);
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-oracle-nokey-'));
  fs.chmodSync(empty, 0o700);
  try {
    const r = await sopsDecrypt(fixture('format.enc.yaml'), 'yaml', { GNUPGHOME: empty });
    assert.equal(r.ok, false);
    assert.match(r.error, /data key/); // sops 3.9: "Error getting data key: 0 successful groups required, got 0"
  } finally {
    await closeOracle(); // the Lambda for this environment may have started a gpg-agent there
    try {
      execFileSync('gpgconf', ['--homedir', empty, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      /* no agent */
    }
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
