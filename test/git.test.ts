// `tsops git setup`, the diff driver (textconv) and the merge driver, driven through the real git in
// throwaway repositories (test/helpers/gitrepo.ts). One repository per scenario, few commits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { AGE_IDENTITY, AGE_RECIPIENT } from './helpers/editing.js';
import { Repo, TSOPS_COMMAND, configureDrivers, encryptNew, plaintextOf, reseal } from './helpers/gitrepo.js';
import { rotate, setValue, unsetValue, updateKeys } from '../src/api.js';
import { newAgePair } from './helpers/keymgmt.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { globsFor } from '../src/git/setup.js';
import { mergeTrees } from '../src/git/merge.js';
import { storeFor } from '../src/stores/index.js';

const BASE = 'db:\n    user: admin\n    password: one\n# c\napi: key1\nlist:\n    - a\n    - b\n';

let oracle = false;
before(async () => {
  oracle = await oracleAvailable();
});
after(async () => {
  await closeOracle();
});

const ATTRS = '*.enc.yaml diff=tsops merge=tsops\n';

/** A repository with the drivers and one committed sops file (app.enc.yaml) on main. */
async function repoWithFile(prefix: string, plain = BASE): Promise<Repo> {
  const repo = new Repo(prefix);
  configureDrivers(repo, ATTRS);
  await encryptNew(repo, 'app.enc.yaml', plain);
  repo.ok('add', '.');
  repo.ok('commit', '-q', '-m', 'base');
  return repo;
}

/** Change values of app.enc.yaml in-process, as `tsops set` does. */
async function setValues(repo: Repo, ...pairs: Array<[string, string | undefined]>): Promise<void> {
  let text = repo.read('app.enc.yaml');
  for (const [path, v] of pairs) {
    text =
      v === undefined
        ? await unsetValue(text, path, { format: 'yaml', env: repo.sb.env })
        : await setValue(text, path, v, { format: 'yaml', env: repo.sb.env });
  }
  repo.write('app.enc.yaml', text);
}

function values(enc: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of enc.matchAll(/^\s*-?\s*([\w]+)?:?\s*(ENC\[AES256_GCM[^\]]*\])/gm)) out.set(m[1] ?? m[2]!, m[2]!);
  return out;
}

describe('tsops git setup', () => {
  test('globs derived from path_regex cover at least the paths it matches', () => {
    assert.deepEqual(globsFor('\\.enc\\.yaml$'), ['*.enc.yaml']);
    assert.deepEqual(globsFor('.*\\.enc\\.(yaml|json)$'), ['*.enc.yaml', '*.enc.json']);
    assert.deepEqual(globsFor('\\.ya?ml$'), ['*.yaml', '*.yml']);
    assert.deepEqual(globsFor('^secrets/.*'), ['secrets/**']);
    assert.deepEqual(globsFor('^secrets/.*\\.yaml$'), ['secrets/**/*.yaml']);
    assert.deepEqual(globsFor('(dev|prod)/'), ['**/*dev/**', '**/*prod/**']);
    assert.deepEqual(globsFor('^[^/]*\\.env$'), ['/*.env']);
    assert.deepEqual(globsFor('\\.sops\\.'), ['*.sops.*', '*.sops.*/**']);
    // not simple: the caller writes the catch-all
    assert.equal(globsFor(undefined), undefined);
    assert.equal(globsFor('.*'), undefined);
    assert.equal(globsFor('(?i)secret'), undefined);
    assert.equal(globsFor('a\\d+\\.yaml'), undefined);
    assert.equal(globsFor('prod.*\\.yaml'), undefined);
  });

  test('--print writes nothing; setup writes once; a second run changes nothing', () => {
    const repo = new Repo('tsops-git-setup-', {
      rules: `creation_rules:\n  - path_regex: ^secrets/.*\\.ya?ml$\n    age: ${AGE_RECIPIENT}\n  - path_regex: (?i)odd\n    age: ${AGE_RECIPIENT}\n`,
    });
    try {
      const p = repo.tsops(['git', 'setup', '--print', '--filter', '--command', TSOPS_COMMAND]);
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, /^secrets\/\*\*\/\*\.yaml diff=tsops merge=tsops filter=tsops$/m);
      assert.match(p.stdout, /^\* diff=tsops merge=tsops$/m, 'the catch-all for the rule no glob expresses');
      assert.doesNotMatch(p.stdout, /^\* .*filter=tsops/m, 'the filter is never given to *');
      assert.match(p.stdout, /filter\.tsops\.required 'true'/);
      assert.match(p.stdout, /creation_rules\[1\].*not a simple/);
      assert.equal(fs.existsSync(repo.path('.gitattributes')), false);
      assert.equal(repo.git(['config', '--get', 'merge.tsops.driver']).status, 1);

      const first = repo.tsops(['git', 'setup', '--filter', '--command', TSOPS_COMMAND]);
      assert.equal(first.status, 0, first.stderr);
      const attrs = repo.read('.gitattributes');
      const config = repo.read('.git/config');
      assert.match(config, /driver = .* git merge-driver %O %A %B %P/);
      assert.equal(repo.ok('check-attr', 'filter', 'secrets/a/b.yaml').trim(), 'secrets/a/b.yaml: filter: tsops');
      assert.equal(repo.ok('check-attr', 'filter', '.sops.yaml').trim(), '.sops.yaml: filter: unspecified');
      assert.equal(repo.ok('check-attr', 'diff', 'other.txt').trim(), 'other.txt: diff: tsops');

      const second = repo.tsops(['git', 'setup', '--filter', '--command', TSOPS_COMMAND]);
      assert.equal(second.status, 0, second.stderr);
      assert.equal(second.stdout, 'nothing to change\n');
      assert.equal(repo.read('.gitattributes'), attrs);
      assert.equal(repo.read('.git/config'), config);
    } finally {
      repo.cleanup();
    }
  });
});

describe('diff driver (textconv)', () => {
  test('git log -p shows decrypted values, for every name and format; no key: encrypted, never a failure', async () => {
    const repo = await repoWithFile('tsops-git-diff-');
    try {
      // a YAML sops file whose name says nothing, and a binary-format one
      repo.write('.gitattributes', ATTRS + 'creds diff=tsops\n*.bin diff=tsops\n');
      await encryptNew(repo, 'creds.yaml', 'token: t1\n');
      fs.renameSync(repo.path('creds.yaml'), repo.path('creds'));
      await encryptNew(repo, 'blob.bin', 'raw secret bytes v1\n');
      repo.ok('add', '.');
      repo.ok('commit', '-q', '-m', 'more');
      await setValues(repo, ['["api"]', 'key2']);
      await reseal(repo, 'creds', 'token: t2\n', 'yaml');
      await reseal(repo, 'blob.bin', 'raw secret bytes v2\n');
      repo.ok('commit', '-q', '-a', '-m', 'change');

      const log = repo.ok('log', '-p', '-1');
      assert.match(log, /^-api: key1$/m);
      assert.match(log, /^\+api: key2$/m);
      assert.match(log, /^-token: t1$/m);
      assert.match(log, /^\+token: t2$/m);
      assert.match(log, /^-raw secret bytes v1$/m);
      assert.match(log, /^\+raw secret bytes v2$/m);
      assert.doesNotMatch(log, /ENC\[/, 'no ciphertext: every file was decrypted');

      // without the key: the encrypted text, a note on stderr, and the diff still works
      const nokey = repo.git(['log', '-p', '-1', '--', 'app.enc.yaml'], { SOPS_AGE_KEY: '' });
      assert.equal(nokey.status, 0, nokey.stderr);
      assert.match(nokey.stdout, /^\+api: ENC\[AES256_GCM/m);
      assert.match(nokey.stderr, /the diff shows the encrypted content/);
    } finally {
      repo.cleanup();
    }
  });
});

describe('merge driver', () => {
  test('changes to different values on two branches merge with no conflict; real sops reads the result', async (t) => {
    const repo = await repoWithFile('tsops-git-merge-');
    try {
      const base = repo.read('app.enc.yaml');
      repo.ok('checkout', '-q', '-b', 'feat');
      await reseal(
        repo,
        'app.enc.yaml',
        'db:\n    user: admin\n    host: h\n    password: two\n# c\napi: key1\nlist:\n    - a\n    - b\n',
      );
      repo.ok('commit', '-q', '-a', '-m', 'feat');
      repo.ok('checkout', '-q', 'main');
      await reseal(repo, 'app.enc.yaml', BASE.replace('key1', 'key2') + 'zeta: z\n');
      repo.ok('commit', '-q', '-a', '-m', 'main');
      const ours = repo.read('app.enc.yaml');
      const m = repo.git(['merge', '--no-edit', 'feat']);
      assert.equal(m.status, 0, m.stdout + m.stderr);
      assert.equal(repo.ok('status', '--porcelain'), '');
      const merged = repo.read('app.enc.yaml');
      assert.equal(
        await plaintextOf(repo, 'app.enc.yaml'),
        'db:\n    user: admin\n    host: h\n    password: two\n# c\napi: key2\nlist:\n    - a\n    - b\nzeta: z\n',
      );
      // ours' ciphertext is kept for what ours has unchanged (and the base's where nobody changed it)
      assert.equal(values(merged).get('api'), values(ours).get('api'));
      assert.equal(values(merged).get('zeta'), values(ours).get('zeta'));
      assert.equal(values(merged).get('user'), values(base).get('user'));
      if (oracle) {
        const real = await sopsDecrypt(merged, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
        assert.equal(real.error, '');
        assert.equal(real.ok, true);
        for (const v of ['two', 'key2', 'h', 'admin', 'z']) assert.ok(real.output.includes(v), real.output);
      } else t.diagnostic(`real-sops oracle not available: ${oracleUnavailableReason() ?? ''}`);
    } finally {
      repo.cleanup();
    }
  });

  test('the same value changed on both sides: a conflict naming the path, the file stays encrypted', async () => {
    const repo = await repoWithFile('tsops-git-conflict-');
    try {
      repo.ok('checkout', '-q', '-b', 'feat');
      await setValues(repo, ['["db"]["password"]', 'theirs-secret'], ['["list"][1]', 'bb']);
      repo.ok('commit', '-q', '-a', '-m', 'feat');
      repo.ok('checkout', '-q', 'main');
      await setValues(repo, ['["db"]["password"]', 'ours-secret'], ['["api"]', undefined]);
      repo.ok('commit', '-q', '-a', '-m', 'main');
      const ours = repo.read('app.enc.yaml');
      const m = repo.git(['merge', '--no-edit', 'feat']);
      assert.notEqual(m.status, 0);
      const out = m.stdout + m.stderr;
      assert.match(out, /\["db"\]\["password"\]: changed differently on both sides/);
      assert.doesNotMatch(out, /secret/, 'no value in the message');
      assert.doesNotMatch(out, /\["list"\]/, 'the list item only theirs changed is no conflict');
      assert.match(repo.ok('status', '--porcelain'), /^UU app\.enc\.yaml$/m);
      assert.equal(repo.read('app.enc.yaml'), ours, 'left as ours, encrypted');
    } finally {
      repo.cleanup();
    }
  });

  test('deleted on one side, changed on the other: a conflict', async () => {
    const repo = await repoWithFile('tsops-git-delete-');
    try {
      repo.ok('checkout', '-q', '-b', 'feat');
      await setValues(repo, ['["api"]', 'changed']);
      repo.ok('commit', '-q', '-a', '-m', 'feat');
      repo.ok('checkout', '-q', 'main');
      await setValues(repo, ['["api"]', undefined]);
      repo.ok('commit', '-q', '-a', '-m', 'main');
      const m = repo.git(['merge', '--no-edit', 'feat']);
      assert.notEqual(m.status, 0);
      assert.match(m.stdout + m.stderr, /\["api"\]: deleted by ours, changed by theirs/);
    } finally {
      repo.cleanup();
    }
  });

  test('rotate on one side, updatekeys on the other: a conflict, never dropped', async () => {
    const repo = await repoWithFile('tsops-git-keys-');
    try {
      const other = await newAgePair();
      repo.ok('checkout', '-q', '-b', 'feat');
      repo.write('.sops.yaml', repo.read('.sops.yaml').replace(AGE_RECIPIENT, `${AGE_RECIPIENT},${other.recipient}`));
      await updateKeys([repo.path('app.enc.yaml')], { yes: true, env: repo.sb.env, cwd: repo.dir });
      assert.ok(repo.read('app.enc.yaml').includes(other.recipient));
      repo.ok('commit', '-q', '-a', '-m', 'updatekeys');
      repo.ok('checkout', '-q', 'main');
      repo.write('app.enc.yaml', await rotate(repo.read('app.enc.yaml'), { format: 'yaml', env: repo.sb.env }));
      repo.ok('commit', '-q', '-a', '-m', 'rotate');
      const ours = repo.read('app.enc.yaml');
      const m = repo.git(['merge', '--no-edit', 'feat']);
      assert.notEqual(m.status, 0);
      assert.match(
        m.stdout + m.stderr,
        /key changes on both sides: ours has a new data key \(rotate\), theirs has other keys/,
      );
      assert.equal(repo.read('app.enc.yaml'), ours);
    } finally {
      repo.cleanup();
    }
  });

  test("only theirs changed the keys: the merge keeps theirs' keys and ours' values", async () => {
    const repo = await repoWithFile('tsops-git-theirkeys-');
    try {
      const other = await newAgePair();
      repo.ok('checkout', '-q', '-b', 'feat');
      const rotated = await rotate(repo.read('app.enc.yaml'), {
        format: 'yaml',
        env: repo.sb.env,
        add: { age: [other.recipient] },
      });
      repo.write('app.enc.yaml', rotated);
      repo.ok('commit', '-q', '-a', '-m', 'rotate and add a key');
      repo.ok('checkout', '-q', 'main');
      await setValues(repo, ['["api"]', 'key2']);
      repo.ok('commit', '-q', '-a', '-m', 'main');
      const m = repo.git(['merge', '--no-edit', 'feat']);
      assert.equal(m.status, 0, m.stdout + m.stderr);
      const merged = repo.read('app.enc.yaml');
      assert.ok(merged.includes(other.recipient), 'the key theirs added is kept');
      assert.equal(values(merged).get('user'), values(rotated).get('user'), "theirs' data key and ciphertext");
      assert.match(await plaintextOf(repo, 'app.enc.yaml', { SOPS_AGE_KEY: other.identity }), /^api: key2$/m);
    } finally {
      repo.cleanup();
    }
  });

  test('TSOPS_MERGE_CONFLICT_COPY=1: a 0600 decrypted copy with markers inside .git; resolve encrypts it', async () => {
    const repo = await repoWithFile('tsops-git-copy-');
    try {
      repo.ok('checkout', '-q', '-b', 'feat');
      await setValues(repo, ['["db"]["password"]', 'theirs'], ['["list"][0]', 'A']);
      repo.ok('commit', '-q', '-a', '-m', 'feat');
      repo.ok('checkout', '-q', 'main');
      await setValues(repo, ['["db"]["password"]', 'ours']);
      repo.ok('commit', '-q', '-a', '-m', 'main');
      const m = repo.git(['merge', '--no-edit', 'feat'], { TSOPS_MERGE_CONFLICT_COPY: '1' });
      assert.notEqual(m.status, 0);
      assert.match(m.stdout + m.stderr, /tsops git resolve app\.enc\.yaml/);
      const copy = repo.path('.git/tsops-conflicts/app.enc.yaml');
      assert.equal(fs.statSync(copy).mode & 0o777, 0o600);
      assert.equal(
        fs.readFileSync(copy, 'utf8'),
        'db:\n    user: admin\n<<<<<<< ours\n    password: ours\n=======\n    password: theirs\n>>>>>>> theirs\n# c\napi: key1\nlist:\n    - A\n    - b\n',
      );
      fs.writeFileSync(copy, 'db:\n    user: admin\n    password: both\n# c\napi: key1\nlist:\n    - A\n    - b\n');
      const r = repo.tsops(['git', 'resolve', 'app.enc.yaml']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(fs.existsSync(copy), false);
      assert.match(repo.read('app.enc.yaml'), /password: ENC\[/);
      assert.match(await plaintextOf(repo, 'app.enc.yaml'), /password: both\n[^]*- A\n/);
      repo.ok('add', 'app.enc.yaml');
      repo.ok('commit', '-q', '-m', 'merged');
    } finally {
      repo.cleanup();
    }
  });
});

describe('tree merge', () => {
  test('theirs new keys land after their predecessor, with their comments; ours order is kept', async () => {
    const yaml = await storeFor('yaml');
    const t = (s: string) => yaml.loadPlain(Buffer.from(s));
    const base = t('a: 1\nb: 2\nc: 3\n');
    const ours = t('c: 3\na: 1\nb: 2\n');
    const theirs = t('a: 1\n# new\nx: 9\nb: 2\nc: 4\n');
    const r = mergeTrees(base, ours, theirs);
    assert.deepEqual(r.conflicts, []);
    assert.equal(yaml.emitPlain(r.tree).toString(), 'c: 4\na: 1\n# new\nx: 9\nb: 2\n');
  });

  test('lists of the same length merge item by item; otherwise as one value', async () => {
    const yaml = await storeFor('yaml');
    const t = (s: string) => yaml.loadPlain(Buffer.from(s));
    const same = mergeTrees(t('l: [1, 2, 3]\n'), t('l: [9, 2, 3]\n'), t('l: [1, 2, 8]\n'));
    assert.deepEqual(same.conflicts, []);
    assert.equal(yaml.emitPlain(same.tree).toString(), 'l:\n    - 9\n    - 2\n    - 8\n');
    const grown = mergeTrees(t('l: [1]\n'), t('l: [1, 2]\n'), t('l: [1, 3]\n'));
    assert.deepEqual(
      grown.conflicts.map((c) => c.where),
      ['["l"]'],
    );
  });
});
