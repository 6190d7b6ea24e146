// The clean/smudge filter through the real git: plaintext work tree, encrypted index and history,
// a clean `git status` after checkout, one-value changes as one-value diffs, and no plaintext in the
// index when the key is missing. One repository per scenario.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Repo, configureDrivers } from './helpers/gitrepo.js';
import { clean, smudge } from '../src/git/filter.js';
import { AGE_RECIPIENT } from './helpers/editing.js';
import { FIXTURES, fixture } from './helpers/fixtures.js';
import { decryptData, setValue } from '../src/api.js';
import { mergeEncrypted } from '../src/git/merge.js';
import { formatFromPath } from '../src/stores/index.js';

/** The real sops files of every format, and the key that opens them (OpenPGP.js, no gpg). */
const SOPS_FILES = [
  'comments.enc.yaml',
  'format.enc.env',
  'format.enc.ini',
  'format.enc.json',
  'format.enc.yaml',
  'example.txt',
];
const PGP_ENV = { TSOPS_PGP_PRIVATE_KEYS: `${FIXTURES}/keys/sops_functional_tests_key.asc`, HOME: '/nonexistent' };

const PLAIN = 'db:\n    user: admin\n    password: hunter2\n# a comment\napi: key1\nport: 5432\n';
const ATTRS = '*.enc.yaml diff=tsops merge=tsops filter=tsops\n';

function filteredRepo(prefix: string): Repo {
  const repo = new Repo(prefix);
  configureDrivers(repo, ATTRS);
  repo.ok('add', '.sops.yaml', '.gitattributes');
  repo.ok('commit', '-q', '-m', 'setup');
  return repo;
}

/** The lines of `b` that differ from `a` at the same position (equal line counts). */
function changed(a: string, b: string): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  assert.equal(x.length, y.length, `line counts differ:\n${a}\n---\n${b}`);
  return y.filter((l, i) => l !== x[i]);
}

describe('clean/smudge filter', () => {
  test('plaintext work tree, encrypted index; status clean after checkout; one value -> one value line', () => {
    const repo = filteredRepo('tsops-git-filter-');
    try {
      repo.write('app.enc.yaml', PLAIN);
      repo.write('notes.txt', 'not a secret\n');
      repo.ok('add', 'app.enc.yaml', 'notes.txt');
      const blob = repo.ok('cat-file', 'blob', ':app.enc.yaml');
      assert.match(blob, /^\s+password: ENC\[AES256_GCM/m);
      assert.match(blob, /^sops:/m);
      assert.doesNotMatch(blob, /hunter2|admin|key1/);
      assert.equal(repo.ok('cat-file', 'blob', ':notes.txt'), 'not a secret\n', 'no attribute: untouched');
      repo.ok('commit', '-q', '-m', 'secrets');
      assert.equal(repo.ok('status', '--porcelain'), '');

      // a checkout of another branch and back: the work tree is plaintext again, status clean
      repo.ok('checkout', '-q', '-b', 'other');
      repo.ok('rm', '-q', 'app.enc.yaml');
      repo.ok('commit', '-q', '-m', 'rm');
      repo.ok('checkout', '-q', 'main');
      assert.equal(repo.read('app.enc.yaml'), PLAIN);
      assert.equal(repo.ok('status', '--porcelain'), '');
      // git compares content again after a touch (racy stat): the clean filter gives the same blob
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(repo.path('app.enc.yaml'), later, later);
      assert.equal(repo.ok('status', '--porcelain'), '');
      assert.equal(repo.ok('diff', '--no-textconv', '--stat'), '');

      // one value changed: one data line, lastmodified and mac in the encrypted blob; one line decrypted
      repo.write('app.enc.yaml', PLAIN.replace('key1', 'key2'));
      repo.ok('add', 'app.enc.yaml');
      const after = repo.ok('cat-file', 'blob', ':app.enc.yaml');
      const lines = changed(blob, after);
      assert.equal(lines.length, 3, lines.join('\n'));
      assert.match(lines[0]!, /^api: ENC\[/);
      assert.match(lines[1]!, /lastmodified/);
      assert.match(lines[2]!, /mac: ENC\[/);
      const decrypted = repo.ok('diff', '--cached', '-U0');
      assert.deepEqual(
        decrypted.split('\n').filter((l) => /^[-+][^-+]/.test(l)),
        ['-api: key1', '+api: key2'],
      );
    } finally {
      repo.cleanup();
    }
  });

  test('no key: clean fails and the index never gets plaintext; smudge leaves the file encrypted', () => {
    const repo = filteredRepo('tsops-git-nokey-');
    try {
      repo.write('app.enc.yaml', PLAIN);
      repo.ok('add', 'app.enc.yaml');
      repo.ok('commit', '-q', '-m', 'secrets');
      const committed = repo.ok('cat-file', 'blob', ':app.enc.yaml');

      repo.write('app.enc.yaml', PLAIN.replace('hunter2', 'newsecret'));
      const add = repo.git(['add', 'app.enc.yaml'], { SOPS_AGE_KEY: '' });
      assert.notEqual(add.status, 0, 'git add must fail');
      assert.match(add.stderr, /could not decrypt the data key|no age identities/);
      assert.equal(
        repo.ok('cat-file', 'blob', ':app.enc.yaml'),
        committed,
        'the index still holds the encrypted version',
      );
      const all = repo.ok('cat-file', '--batch-all-objects', '--batch');
      assert.doesNotMatch(all, /newsecret|hunter2/, 'no object holds plaintext');

      // someone without the key checks the file out: it stays encrypted, checkout works, status clean
      repo.ok('checkout', '--', 'app.enc.yaml');
      fs.rmSync(repo.path('app.enc.yaml'));
      const co = repo.git(['checkout', '--', 'app.enc.yaml'], { SOPS_AGE_KEY: '' });
      assert.equal(co.status, 0, co.stderr);
      assert.match(co.stderr, /left encrypted in the work tree/);
      assert.equal(repo.read('app.enc.yaml'), committed);
      assert.equal(repo.git(['status', '--porcelain'], { SOPS_AGE_KEY: '' }).stdout, '');
    } finally {
      repo.cleanup();
    }
  });

  test('the library: files without a rule pass through; clean(smudge(x)) is x', async () => {
    const repo = new Repo('tsops-git-filterlib-');
    try {
      const o = { cwd: repo.dir, env: repo.sb.env, previous: Buffer.alloc(0) };
      const none = await clean(Buffer.from('a: 1\n'), 'plain.yaml', o);
      assert.equal(none.action, 'passed-through');
      assert.equal(none.output.toString(), 'a: 1\n');
      const first = await clean(Buffer.from(PLAIN), 'app.enc.yaml', o);
      assert.equal(first.action, 'encrypted');
      assert.ok(first.output.toString().includes(AGE_RECIPIENT));
      const again = await clean(Buffer.from(PLAIN), 'app.enc.yaml', { ...o, previous: first.output });
      assert.equal(again.action, 'unchanged');
      assert.ok(again.output.equals(first.output));
      const sm = await smudge(first.output, 'app.enc.yaml', o);
      assert.equal(sm.output.toString(), PLAIN);
      const through = await clean(first.output, 'app.enc.yaml', o);
      assert.equal(through.action, 'already-encrypted');
      // a rule's file with a broken index version: fails, never passes the plaintext on
      await assert.rejects(clean(Buffer.from(PLAIN), 'app.enc.yaml', { ...o, env: {}, previous: first.output }));
    } finally {
      repo.cleanup();
    }
  });

  test('real sops files of every format: clean(smudge(x)) gives x back byte for byte', async () => {
    for (const name of SOPS_FILES) {
      const data = fixture(name);
      const sm = await smudge(data, name, { env: PGP_ENV });
      assert.equal(sm.note, undefined, name);
      assert.doesNotMatch(sm.output.toString(), /ENC\[/, name);
      const back = await clean(sm.output, name, { env: PGP_ENV, previous: data, cwd: FIXTURES });
      assert.equal(back.action, 'unchanged', name);
      assert.ok(back.output.equals(data), name);
    }
  });
});

describe('merge of real sops files, every structured format', () => {
  for (const name of SOPS_FILES.filter((n) => n !== 'example.txt')) {
    test(name, async () => {
      const format = formatFromPath(name);
      const base = fixture(name);
      const o = { format, env: PGP_ENV };
      const plain = (await decryptData(base, o)) as Record<string, unknown>;
      const at = (k: string) => (format === 'ini' ? [Object.keys(plain)[0]!, k] : [k]);
      const ours = await setValue(base, at('tsops_ours'), 'o', o);
      const theirs = await setValue(base, at('tsops_theirs'), 't', o);
      const r = await mergeEncrypted(base, Buffer.from(ours), Buffer.from(theirs), { ...o, name });
      assert.ok('merged' in r, JSON.stringify('conflicts' in r ? r.conflicts : ''));
      const merged = (await decryptData(r.merged, o)) as Record<string, Record<string, unknown>>;
      const scope = format === 'ini' ? merged[Object.keys(plain)[0]!]! : merged;
      assert.equal(scope['tsops_ours'], 'o');
      assert.equal(scope['tsops_theirs'], 't');
      assert.deepEqual(
        Object.keys(merged).filter((k) => !k.startsWith('tsops_')),
        Object.keys(plain),
      );
    });
  }
});
