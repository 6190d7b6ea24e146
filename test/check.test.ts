// `tsops check`: each planted problem is found in a fixture repository (unencrypted file a rule names,
// malformed metadata, recipients drifted from the rule, too-old data key, plaintext value pasted in)
// and nothing in a clean one; Git-ignored files are skipped; --format json parses; exit codes 0/1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { AGE_RECIPIENT, Sandbox, run } from './helpers/editing.js';
import { newAgePair, type AgePair } from './helpers/keymgmt.js';
import { encrypt } from '../src/api.js';
import { checkPaths, parseDuration, type CheckProblem } from '../src/check/check.js';

let sb: Sandbox;
let other: AgePair;
const hasGit = spawnSync('git', ['--version']).status === 0;

before(async () => {
  sb = new Sandbox('tsops-check-test-');
  other = await newAgePair();
});
after(() => sb.cleanup());

const RULES = `creation_rules:\n  - path_regex: secrets/.*\\.(yaml|json|env)$\n    age: ${AGE_RECIPIENT}\n  - age: ${AGE_RECIPIENT}\n`;

/** A repository folder: .sops.yaml, a clean encrypted file in each format, and a README nobody encrypts. */
async function repo(name: string): Promise<string> {
  const dir = sb.path(name);
  fs.mkdirSync(path.join(dir, 'secrets'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.sops.yaml'), RULES);
  fs.writeFileSync(path.join(dir, 'README.md'), '# a project\npassword: not a secret file\n');
  fs.writeFileSync(path.join(dir, 'config.yaml'), 'plain: true\n'); // only the catch-all rule: not subject
  await put(dir, 'secrets/app.yaml', 'db:\n    password: hunter2\n    port_unencrypted: 5432\n');
  await put(dir, 'secrets/app.json', '{"token": "t0k3n"}\n');
  await put(dir, 'secrets/app.env', 'API_KEY=abc\n');
  return dir;
}

async function put(dir: string, rel: string, plain: string, age = [AGE_RECIPIENT]): Promise<string> {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, await encrypt(plain, { filename: rel, age, env: sb.env }));
  return p;
}

const kinds = (ps: CheckProblem[]) => ps.map((p) => `${p.file} ${p.kind}`).sort();

test('a clean repository: every rule-named file checked, no problem (also with --max-age)', async () => {
  const dir = await repo('clean');
  const r = await checkPaths([], { cwd: dir, git: false, maxAge: parseDuration('30d') });
  assert.deepEqual(r.problems, []);
  assert.equal(r.checked, 3);
});

test('each planted problem is found, with its fix', async () => {
  const dir = await repo('planted');
  // 1. a file a rule names, not encrypted
  fs.writeFileSync(path.join(dir, 'secrets/new.yaml'), 'password: oops\n');
  // 2. malformed metadata (lastmodified not a time)
  const bad = await put(dir, 'secrets/bad.yaml', 'a: 1\n');
  fs.writeFileSync(bad, fs.readFileSync(bad, 'utf8').replace(/lastmodified: .*/, 'lastmodified: yesterday'));
  // 3. recipients drifted from the rule (an extra recipient)
  await put(dir, 'secrets/drift.yaml', 'a: 1\n', [AGE_RECIPIENT, other.recipient]);
  // 4. a plaintext value pasted into an encrypted file
  const pasted = await put(dir, 'secrets/pasted.yaml', 'a: 1\n');
  fs.writeFileSync(pasted, fs.readFileSync(pasted, 'utf8').replace(/^a: /m, 'new_password: s3cret\na: '));
  const r = await checkPaths(['.'], { cwd: dir, git: false });
  assert.deepEqual(kinds(r.problems), [
    'secrets/bad.yaml invalid-metadata',
    'secrets/drift.yaml key-drift',
    'secrets/new.yaml not-encrypted',
    'secrets/pasted.yaml plaintext-value',
  ]);
  const by = (k: string) => r.problems.find((p) => p.kind === k)!;
  assert.equal(by('not-encrypted').fix, 'tsops encrypt -i secrets/new.yaml');
  assert.equal(by('key-drift').fix, 'tsops updatekeys secrets/drift.yaml');
  assert.match(by('key-drift').message, new RegExp(`extra age ${other.recipient}`));
  assert.match(by('invalid-metadata').message, /lastmodified/);
  assert.match(by('plaintext-value').message, /\["new_password"\]/);
  assert.doesNotMatch(JSON.stringify(r.problems), /s3cret|hunter2|oops/, 'no value is printed');
  // 5. a data key older than --max-age (measured 40 days from now)
  const later = new Date(Date.now() + 40 * 86_400_000);
  const old = await checkPaths(['secrets/app.yaml'], {
    cwd: dir,
    git: false,
    maxAge: parseDuration('30d'),
    now: later,
  });
  assert.deepEqual(kinds(old.problems), ['secrets/app.yaml old-data-key']);
  assert.equal(old.problems[0]!.fix, 'tsops rotate -i secrets/app.yaml');
  assert.match(old.problems[0]!.message, /at least 40 days old/);
  // the fix for the drift works, and then the file is clean
  const fixed = await run(['updatekeys', '-y', 'secrets/drift.yaml'], { env: sb.env, cwd: dir });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.deepEqual((await checkPaths(['secrets/drift.yaml'], { cwd: dir, git: false })).problems, []);
});

test(
  'in a Git work tree, ignored files are skipped (a decrypted copy); --no-git checks them',
  { skip: !hasGit },
  async () => {
    const dir = await repo('gitrepo');
    spawnSync('git', ['init', '-q', dir]);
    fs.writeFileSync(path.join(dir, '.gitignore'), 'secrets/*.dec.yaml\n');
    fs.writeFileSync(path.join(dir, 'secrets/app.dec.yaml'), 'db:\n    password: hunter2\n');
    assert.deepEqual((await checkPaths([], { cwd: dir })).problems, []);
    assert.deepEqual(kinds((await checkPaths([], { cwd: dir, git: false })).problems), [
      'secrets/app.dec.yaml not-encrypted',
    ]);
  },
);

test('the CLI: one line per problem, exit 1; --format json parses; clean is exit 0; a bad --max-age is a usage error', async () => {
  const dir = await repo('cli');
  fs.writeFileSync(path.join(dir, 'secrets/new.env'), 'TOKEN=x\n');
  const text = await run(['check', '--no-git'], { env: sb.env, cwd: dir });
  assert.equal(text.code, 1, text.stderr);
  assert.equal(
    text.stdout,
    'secrets/new.env: creation_rules[0] of ' +
      path.join(dir, '.sops.yaml') +
      ' says it is encrypted, but it has no sops metadata (fix: tsops encrypt -i secrets/new.env)\n',
  );
  assert.match(text.stderr, /4 files checked, 1 problem/);
  const json = await run(['check', '--no-git', '--format', 'json', 'secrets'], { env: sb.env, cwd: dir });
  assert.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout) as { checked: number; problems: CheckProblem[] };
  assert.equal(parsed.checked, 4);
  assert.deepEqual(
    parsed.problems.map((p) => p.kind),
    ['not-encrypted'],
  );
  const clean = await run(['check', '--no-git', 'secrets/app.yaml', 'README.md'], { env: sb.env, cwd: dir });
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(clean.stdout, '');
  const usage = await run(['check', '--max-age', 'soon'], { env: sb.env, cwd: dir });
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /invalid duration "soon"/);
});

test('parseDuration', () => {
  assert.equal(parseDuration('90d'), 90 * 86_400_000);
  assert.equal(parseDuration('1w3d'), 10 * 86_400_000);
  assert.equal(parseDuration('2160h'), 90 * 86_400_000);
  assert.throws(() => parseDuration('90'), /invalid duration/);
  assert.throws(() => parseDuration('0d'), /invalid duration/);
});
