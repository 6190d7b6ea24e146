// Issue 10, config/scope items: scope regexes come from a file's unauthenticated metadata (and from
// .sops.yaml), so they run on a linear-time RE2 engine (re2js), as sops's Go regexp: no pattern can
// hang tsops, and every valid RE2 pattern works.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { decryptData, encrypt } from '../../src/api.js';
import { matchRule, parseConfig, ruleToEncryptionSettings } from '../../src/config/config.js';
import { ROOT } from '../helpers/fixtures.js';
import { closeOracle, oracleAvailable, sopsDecrypt } from '../helpers/sops-oracle.js';

let home: string;
let id: string;
let recipient: string;
const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: home, SOPS_AGE_KEY: id });

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'tsops-security-config-'));
  id = await generateIdentity();
  recipient = await identityToRecipient(id);
});
after(async () => {
  rmSync(home, { recursive: true, force: true });
  await closeOracle();
});

const EVIL_KEY = `${'a'.repeat(32)}!`;

/** Run `body` (an ES module script given the library as `api`) in a child process; a hang is a failure. */
function inChild(body: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const script = `const api = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'api.js'))});\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: env(),
    timeout: 60_000,
    encoding: 'utf8',
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('ReDoS: scope regexes run in linear time', () => {
  test("unencrypted_regex ^(a+)+$ planted in a file's metadata, with a key of 32 a and !, decrypts (it hung a backtracking engine)", async () => {
    const plain = `${EVIL_KEY}: secret\nother: value\n`;
    const enc = await encrypt(plain, { format: 'yaml', age: [recipient], env: env() });
    // the scope is outside the MAC: anyone who can write the file can change it
    const planted = enc.replace('unencrypted_suffix: _unencrypted', 'unencrypted_regex: ^(a+)+$');
    assert.notEqual(planted, enc);
    const r = inChild(`
      const data = await api.decryptData(${JSON.stringify(planted)}, { format: 'yaml', env: process.env });
      process.stdout.write(JSON.stringify(data));
    `);
    assert.equal(r.signal, null, 'the child was killed: decryption did not finish');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { [EVIL_KEY]: 'secret', other: 'value' });
  });

  test('the same regex from .sops.yaml / the API encrypts promptly and as Go matches it', () => {
    const r = inChild(`
      const text = await api.encrypt(${JSON.stringify(`${EVIL_KEY}: secret\naaaa: plain\n`)}, { format: 'yaml', age: [${JSON.stringify(recipient)}], scope: { unencryptedRegex: '^(a+)+$' }, env: process.env });
      const data = await api.decryptData(text, { format: 'yaml', env: process.env });
      process.stdout.write(JSON.stringify({ text, data }));
    `);
    assert.equal(r.signal, null, 'the child was killed: encryption did not finish');
    assert.equal(r.status, 0, r.stderr);
    const { text, data } = JSON.parse(r.stdout) as { text: string; data: unknown };
    assert.match(text, /^a{32}!: ENC\[AES256_GCM,/m, 'no match: encrypted');
    assert.match(text, /^aaaa: plain$/m, 'a match: left plain');
    assert.deepEqual(data, { [EVIL_KEY]: 'secret', aaaa: 'plain' });
  });
});

describe('valid RE2 that the old translation refused', () => {
  const patterns: Array<[string, Record<string, string>, string[]]> = [
    // [encrypted_regex, plaintext, keys expected encrypted]
    ['(?i:pass)', { db_PASSWORD: 's1', user: 'u' }, ['db_PASSWORD']],
    ['^x(?U)y+', { xyy: 's2', y: 'p' }, ['xyy']],
    ['^[[:^alpha:]]', { '1st': 's3', second: 'p' }, ['1st']],
  ];

  test('in .sops.yaml: path_regex and scope regexes compile and select as Go', () => {
    const cfg = parseConfig(
      `creation_rules:\n  - path_regex: (?i:\\.YAML)$\n    encrypted_regex: (?i:pass)\n    age: ${recipient}\n  - path_regex: '[[:^alpha:]]\\.json$'\n    unencrypted_regex: (?U)^pub\n    age: ${recipient}\n`,
      '/repo/.sops.yaml',
    );
    const yaml = matchRule(cfg, '/repo/app.Yaml');
    assert.equal(yaml?.index, 0);
    assert.deepEqual(ruleToEncryptionSettings(yaml.rule).scope, { encryptedRegex: '(?i:pass)' });
    assert.equal(matchRule(cfg, '/repo/app1.json')?.index, 1);
    assert.equal(matchRule(cfg, '/repo/app.json'), undefined);
  });

  for (const [re, plain, encrypted] of patterns) {
    test(`in a file's metadata: encrypted_regex ${re} encrypts, decrypts, and real sops reads it`, async (t) => {
      const text = await encrypt(JSON.stringify(plain), {
        format: 'json',
        age: [recipient],
        scope: { encryptedRegex: re },
        env: env(),
      });
      const parsed = JSON.parse(text) as Record<string, unknown> & { sops: Record<string, unknown> };
      assert.equal(parsed.sops['encrypted_regex'], re);
      for (const k of Object.keys(plain)) {
        assert.equal(String(parsed[k]).startsWith('ENC['), encrypted.includes(k), `${re}: ${k}`);
      }
      assert.deepEqual(await decryptData(text, { format: 'json', env: env() }), plain);
      if (!(await oracleAvailable())) return t.skip('real sops unavailable');
      const real = await sopsDecrypt(text, 'json', env());
      assert.ok(real.ok, real.error);
      assert.deepEqual(JSON.parse(real.output), plain);
    });
  }
});
