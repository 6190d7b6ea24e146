// Minimal Git diffs: edit, set, unset and `encrypt --reuse-from` an existing version keep the
// exact ciphertext of every value whose path and plaintext did not change; only the changed
// values, `mac` and `lastmodified` differ line by line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import {
  AGE_IDENTITY,
  AGE_RECIPIENT,
  REPLACE_EDITOR,
  Sandbox,
  changedLines,
  decryptFile,
  encryptFile,
  run,
} from './helpers/editing.js';
import { keyChange, SingleUseIvStash } from '../src/file/reuse.js';
import { IvStash } from '../src/tree/crypt.js';
import type { AgeKey } from '../src/keys/types.js';

let sb: Sandbox;
let oracle = false;
let oracleWhy = '';

before(async () => {
  sb = new Sandbox('tsops-diff-test-');
  oracle = await oracleAvailable();
  if (!oracle) oracleWhy = `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
});

after(async () => {
  await closeOracle();
  sb.cleanup();
});

// CLI runs take about 0.4 s each (node start-up): the tests run concurrently
describe('minimal diffs', { concurrency: 3 }, () => {
  interface Case {
    format: 'yaml' | 'json' | 'dotenv' | 'ini';
    name: string;
    plain: string;
    /** The changed value's text before and after, and the key on its line. */
    from: string;
    to: string;
    key: RegExp;
    /** The metadata lines that change: mac and lastmodified. */
    meta: RegExp[];
  }

  const CASES: Case[] = [
    {
      format: 'yaml',
      name: 'd.yaml',
      plain:
        '# top comment\ndb:\n    user: admin\n    password: hunter2\n    hosts:\n        - a.example\n        - b.example\nport: 5432\nflag: true\nratio: 0.5\n',
      from: 'hunter2',
      to: 'hunter3',
      key: /^\s+password: ENC\[/,
      meta: [/^\s+mac: ENC\[/, /^\s+lastmodified: /],
    },
    {
      format: 'json',
      name: 'd.json',
      plain:
        '{\n\t"db": {\n\t\t"user": "admin",\n\t\t"password": "hunter2",\n\t\t"hosts": ["a.example", "b.example"]\n\t},\n\t"port": 5432,\n\t"flag": true\n}\n',
      from: 'hunter2',
      to: 'hunter3',
      key: /^\s+"password": "ENC\[/,
      meta: [/^\s+"mac": "ENC\[/, /^\s+"lastmodified": /],
    },
    {
      format: 'dotenv',
      name: 'd.env',
      plain: '# comment\nUSER=admin\nPASSWORD=hunter2\nHOST=db.example\n',
      from: 'hunter2',
      to: 'hunter3',
      key: /^PASSWORD=ENC\[/,
      meta: [/^sops_mac=ENC\[/, /^sops_lastmodified=/],
    },
    {
      format: 'ini',
      name: 'd.ini',
      plain: '[db]\nuser     = admin\npassword = hunter2\n\n[web]\nhost = example.org\n',
      from: 'hunter2',
      to: 'hunter3',
      key: /^password\s*=\s*ENC\[/,
      meta: [/^mac\s*=\s*ENC\[/, /^lastmodified\s*=/],
    },
  ];

  function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...sb.env, ...extra };
  }

  /**
   * Only the value's line, mac and lastmodified changed (lastmodified only when the second changed
   * since the previous version); the value's line and mac always change.
   */
  function assertMinimal(before: string, after: string, key: RegExp, meta: RegExp[]): void {
    const changed = changedLines(before, after);
    const show = `changed lines:\n${changed.join('\n')}`;
    for (const l of changed) assert.ok(key.test(l) || meta.some((m) => m.test(l)), `unexpected change: ${l}\n${show}`);
    assert.equal(changed.filter((l) => key.test(l)).length, 1, show);
    assert.ok(
      changed.some((l) => meta[0]!.test(l)),
      `the mac changed\n${show}`,
    );
  }

  async function checkOracle(content: string, format: Case['format'], expect: string): Promise<void> {
    if (format === 'ini' || !oracle) return;
    const real = await sopsDecrypt(content, format, { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(real.error, '');
    assert.equal(real.ok, true);
    assert.ok(real.output.includes(expect), real.output);
  }

  for (const c of CASES) {
    test(`edit ${c.format}: only the edited value, mac and lastmodified change`, async () => {
      const file = await encryptFile(sb, c.name, c.plain, `edit-${c.name}`);
      const before = fs.readFileSync(file, 'utf8');
      const editor = sb.editor(`r-${c.format}.mjs`, REPLACE_EDITOR);
      const r = await run([file], { env: env({ EDITOR: editor, FROM: c.from, TO: c.to }), cwd: sb.dir });
      assert.equal(r.code, 0, r.stderr);
      const after = fs.readFileSync(file, 'utf8');
      assertMinimal(before, after, c.key, c.meta);
      assert.ok((await decryptFile(sb, file)).includes(c.to));
      await checkOracle(after, c.format, c.to);
    });

    test(`set ${c.format}: only the set value, mac and lastmodified change`, async () => {
      const file = await encryptFile(sb, c.name, c.plain, `set-${c.name}`);
      const before = fs.readFileSync(file, 'utf8');
      const p =
        c.format === 'dotenv' ? '["PASSWORD"]' : c.format === 'ini' ? '["db"]["password"]' : '["db"]["password"]';
      const r = await run(['set', file, p, JSON.stringify(c.to)], { env: env(), cwd: sb.dir });
      assert.equal(r.code, 0, r.stderr);
      const after = fs.readFileSync(file, 'utf8');
      assertMinimal(before, after, c.key, c.meta);
      await checkOracle(after, c.format, c.to);
    });

    test(`encrypt --reuse-from F --output F on ${c.format}: unchanged values keep their ciphertext`, async () => {
      const file = await encryptFile(sb, c.name, c.plain, `reenc-${c.name}`);
      const before = fs.readFileSync(file, 'utf8');
      const src = sb.write(`p2-${c.name}`, c.plain.replace(c.from, c.to));
      const r = await run(
        ['encrypt', '--age', AGE_RECIPIENT, '--filename-override', file, '--reuse-from', file, '--output', file, src],
        { env: env(), cwd: sb.dir },
      );
      assert.equal(r.code, 0, r.stderr);
      const after = fs.readFileSync(file, 'utf8');
      assertMinimal(before, after, c.key, c.meta);
      await checkOracle(after, c.format, c.to);
    });
  }

  test('unset yaml: the removed value goes, every other line but mac and lastmodified stays', async (t) => {
    const file = await encryptFile(sb, 'u.yaml', 'a: one\nb: two\nc: three\n');
    const before = fs.readFileSync(file, 'utf8').split('\n');
    const r = await run(['unset', file, '["b"]'], { env: env(), cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    const afterText = fs.readFileSync(file, 'utf8');
    const after = afterText.split('\n');
    const gone = before.filter((l) => !after.includes(l));
    const added = after.filter((l) => !before.includes(l));
    const meta = (l: string) => /^\s+(mac: ENC\[|lastmodified: )/.test(l);
    assert.ok(gone.some((l) => l.startsWith('b: ENC[')));
    assert.ok(
      gone.every((l) => l.startsWith('b: ENC[') || meta(l)),
      gone.join('\n'),
    );
    assert.ok(added.length >= 1 && added.every(meta), added.join('\n'));
    assert.equal(after.length, before.length - 1);
    if (!oracle) return t.skip(oracleWhy);
    const real = await sopsDecrypt(afterText, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(real.ok, true, real.error);
    assert.deepEqual(JSON.parse(real.output), { a: 'one', c: 'three' });
  });

  test('encrypt --no-reuse: every value gets a new ciphertext', async () => {
    const plain = 'a: one\nb: two\n';
    const file = await encryptFile(sb, 'nr.yaml', plain, 'noreuse.yaml');
    const before = fs.readFileSync(file, 'utf8');
    const src = sb.write('nr-src.yaml', plain);
    const r = await run(['encrypt', '--no-reuse', '--age', AGE_RECIPIENT, '--output', file, src], {
      env: env(),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    const after = fs.readFileSync(file, 'utf8');
    const changed = changedLines(before, after);
    assert.ok(changed.some((l) => l.startsWith('a: ENC[')) && changed.some((l) => l.startsWith('b: ENC[')));
  });

  test('encrypt --reuse-from OLD to standard output keeps the unchanged ciphertexts', async () => {
    const file = await encryptFile(sb, 'rf.yaml', 'a: one\nb: two\n', 'reusefrom.yaml');
    const before = fs.readFileSync(file, 'utf8');
    const src = sb.write('rf-src.yaml', 'a: one\nb: TWO\n');
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', file, src], { env: env(), cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assertMinimal(before, r.stdout, /^b: ENC\[/, [/^\s+mac: ENC\[/, /^\s+lastmodified: /]);
    // a --reuse-from file that cannot be opened is an error
    const bad = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', src, src], { env: env(), cwd: sb.dir });
    assert.notEqual(bad.code, 0);
  });

  test('encrypt --reuse-from: reused only with exactly the same keys; a key added or removed starts afresh', async (t) => {
    const other = await identityToRecipient(await generateIdentity());
    const file = await encryptFile(sb, 'keys.yaml', 'a: one\nb: two\n', 'keychange.yaml');
    const v1 = fs.readFileSync(file, 'utf8');
    const src = sb.write('keys-src.yaml', 'a: one\nb: two\n');
    const valueLines = (s: string) => s.split('\n').filter((l) => /^[ab]: ENC\[/.test(l));
    // add a recipient: a new data key, with a warning
    let r = await run(['encrypt', '--age', `${AGE_RECIPIENT},${other}`, '--reuse-from', file, '--output', file, src], {
      env: env(),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not reusing .*keychange\.yaml.*new data key/);
    const v2 = fs.readFileSync(file, 'utf8');
    assert.ok(v2.includes(other));
    const [a1, b1] = valueLines(v1);
    const [a2, b2] = valueLines(v2);
    assert.notEqual(a2, a1);
    assert.notEqual(b2, b1);
    assert.match(await decryptFile(sb, file), /^b: two$/m);
    // same keys: kept
    r = await run(['encrypt', '--age', `${other},${AGE_RECIPIENT}`, '--reuse-from', file, '--output', file, src], {
      env: env(),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const v3 = fs.readFileSync(file, 'utf8');
    assert.deepEqual(valueLines(v3), valueLines(v2));
    // remove it again: a new data key, so every value changes
    r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', file, '--output', file, src], {
      env: env(),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    const v4 = fs.readFileSync(file, 'utf8');
    assert.ok(!v4.includes(other));
    const [a4, b4] = valueLines(v4);
    assert.notEqual(a4, a2);
    assert.notEqual(b4, b2);
    if (!oracle) return t.skip(oracleWhy);
    for (const v of [v2, v4]) {
      const real = await sopsDecrypt(v, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
      assert.equal(real.ok, true, real.error);
    }
  });

  test('encrypt --output onto a file tsops cannot open just encrypts afresh', async () => {
    const dest = sb.write('plain-dest.yaml', 'not: encrypted\n');
    const src = sb.write('fresh-src.yaml', 'a: one\n');
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--output', dest, src], { env: env(), cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(await decryptFile(sb, dest), /^a: one$/m);
    // and without the identity at hand (encrypt-only users) as well
    const r2 = await run(['encrypt', '--age', AGE_RECIPIENT, '--output', dest, src], {
      env: { ...env(), SOPS_AGE_KEY: '' },
      cwd: sb.dir,
    });
    assert.equal(r2.code, 0, r2.stderr);
  });

  test('keyChange: keep, rewrap only for added keys, rotate otherwise', () => {
    const k = (recipient: string): AgeKey => ({ type: 'age', recipient, enc: 'x' });
    const one = { keyGroups: [[k('A'), k('B')]], shamirThreshold: 0 };
    assert.equal(keyChange(one, { keyGroups: [[k('B'), k('A')]], shamirThreshold: 0 }), 'keep');
    assert.equal(keyChange(one, { keyGroups: [[k('A'), k('B'), k('C')]], shamirThreshold: 0 }), 'rewrap');
    assert.equal(keyChange(one, { keyGroups: [[k('A')]], shamirThreshold: 0 }), 'rotate');
    assert.equal(keyChange(one, { keyGroups: [[k('A')], [k('B')]], shamirThreshold: 0 }), 'rotate');
    const two = { keyGroups: [[k('A')], [k('B')]], shamirThreshold: 2 };
    assert.equal(keyChange(two, { keyGroups: [[k('A')], [k('B')]], shamirThreshold: 0 }), 'keep');
    assert.equal(keyChange(two, { keyGroups: [[k('A'), k('C')], [k('B')]], shamirThreshold: 2 }), 'rewrap');
    assert.equal(
      keyChange(
        { ...two, keyGroups: [[k('A')], [k('B')], [k('C')]] },
        { keyGroups: [[k('A')], [k('B')], [k('C')]], shamirThreshold: 3 },
      ),
      'rotate',
    );
  });

  test('SingleUseIvStash hands each IV out once', () => {
    const inner = new IvStash();
    const iv = Buffer.alloc(32, 7);
    inner.put('a:', 'str', Buffer.from('x'), iv);
    inner.put('b:', 'str', Buffer.from('y'), iv); // a damaged file: the same IV twice
    const s = new SingleUseIvStash(inner);
    assert.deepEqual(s.get('a:', 'str', Buffer.from('x')), iv);
    assert.equal(s.get('a:', 'str', Buffer.from('x')), undefined);
    assert.equal(s.get('b:', 'str', Buffer.from('y')), undefined);
    assert.equal(s.get('c:', 'str', Buffer.from('z')), undefined);
  });
});
