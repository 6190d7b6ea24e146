// Issue 10, file-system and process items: planted data keys, in-place write rules, stale temp
// files, signals to exec commands, advisory locks, `set` of the `sops` key, values in messages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { AGE_RECIPIENT, BIN, Sandbox, run, waitFor } from '../helpers/editing.js';
import { loadPlain, newMetadata, openEncrypted, sealTree } from '../../src/file/file.js';
import { formatFromPath } from '../../src/stores/index.js';

const PLAIN_SECRET = 'db_password: hunter2\n';

let sb: Sandbox;
before(() => {
  sb = new Sandbox('tsops-security-fs-');
});
after(() => sb.cleanup());

/** A file encrypted for the team's public age key with a data key the attacker chose. */
async function plant(name: string, plain: string, dataKey: Buffer, recipients = [AGE_RECIPIENT]): Promise<string> {
  const format = formatFromPath(name);
  const { tree, store } = await loadPlain(Buffer.from(plain), format, { filename: name });
  const metadata = newMetadata({
    keyGroups: [recipients.map((recipient) => ({ type: 'age' as const, recipient, enc: '' }))],
  });
  const p = sb.path(name);
  fs.writeFileSync(p, await sealTree(tree, metadata, store, { env: sb.env, dataKey }));
  return p;
}

async function dataKeyOf(file: string): Promise<Buffer> {
  return (await openEncrypted(fs.readFileSync(file), { format: formatFromPath(file), env: sb.env, filename: file }))
    .dataKey;
}

describe('planted data key', { concurrency: 2 }, () => {
  const chosen = Buffer.alloc(32, 0x41);

  test('encrypt --output onto a planted file makes a new data key', async () => {
    const target = await plant('planted.yaml', 'old: value\n', chosen);
    assert.deepEqual(await dataKeyOf(target), chosen);
    const src = sb.write('planted-src.yaml', 'db_password: hunter2\n');
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--output', target, src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.notDeepEqual(await dataKeyOf(target), chosen);
  });

  test('--reuse-from: only a file whose MAC verifies and whose keys are exactly the new ones', async () => {
    const src = sb.write('rf-src.yaml', 'db_password: hunter2\n');
    // exactly the same keys: the opt-in keeps the data key (the trust the help states)
    const same = await plant('rf-same.yaml', 'old: value\n', chosen);
    let r = await run(
      ['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', same, '--output', sb.path('rf-out1.yaml'), src],
      { env: sb.env, cwd: sb.dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await dataKeyOf(sb.path('rf-out1.yaml')), chosen);
    // an extra recipient in the planted file: not reused, with a warning
    const extra = await identityToRecipient(await generateIdentity());
    const more = await plant('rf-more.yaml', 'old: value\n', chosen, [AGE_RECIPIENT, extra]);
    r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', more, '--output', sb.path('rf-out2.yaml'), src], {
      env: sb.env,
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not reusing/);
    assert.notDeepEqual(await dataKeyOf(sb.path('rf-out2.yaml')), chosen);
    // a file whose MAC does not verify: refused, nothing written
    // (values of one version, MAC and date of another, both with the chosen key)
    const other = fs.readFileSync(await plant('rf-other.yaml', 'old: changed\n', chosen), 'utf8');
    const metaLine = (t: string, k: string) => t.split('\n').find((l) => l.trimStart().startsWith(`${k}: `))!;
    let mixed = fs.readFileSync(same, 'utf8');
    for (const k of ['mac', 'lastmodified']) mixed = mixed.replace(metaLine(mixed, k), metaLine(other, k));
    const tampered = sb.write('rf-tampered.yaml', mixed);
    r = await run(
      ['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', tampered, '--output', sb.path('rf-out3.yaml'), src],
      { env: sb.env, cwd: sb.dir },
    );
    assert.equal(r.code, 51, r.stderr);
    assert.match(r.stderr, /MAC/);
    assert.ok(!fs.existsSync(sb.path('rf-out3.yaml')));
  });

  test('the help of --reuse-from states the trust it implies', async () => {
    const r = await run(['encrypt', '--help'], { env: sb.env, cwd: sb.dir });
    assert.match(r.stdout.replace(/\s+/g, ' '), /whoever wrote that file chose its data key/);
  });
});

// --- writing files -----------------------------------------------------------------------------------

const ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

/** Run tsops as the user `nobody` (only when the tests run as root). */
function runAs(
  uid: number,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...sb.env, HOME: cwd },
      cwd,
      uid,
      gid: uid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** A folder `nobody` may use (the sandbox is root's 0700). */
function sharedDir(name: string, owner = NOBODY): string {
  fs.chmodSync(sb.dir, 0o711);
  const d = sb.path(name);
  fs.mkdirSync(d);
  fs.chownSync(d, owner, owner);
  return d;
}

describe('in-place writes', { concurrency: 2 }, () => {
  const PLAIN = 'db_password: hunter2\n';

  test('a second hard link never keeps the plaintext after encrypt -i', async () => {
    const a = sb.write('hl-a.yaml', PLAIN);
    const b = sb.path('hl-b.yaml');
    fs.linkSync(a, b);
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '-i', a], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    const other = fs.readFileSync(b, 'utf8');
    assert.ok(!other.includes('hunter2'), other);
    assert.equal(other, fs.readFileSync(a, 'utf8'));
    assert.equal(fs.statSync(a).ino, fs.statSync(b).ino);
    assert.equal(fs.statSync(a).nlink, 2);
    // and shrinking in place truncates: decrypt -i gives exactly the plaintext through both links
    const d = await run(['decrypt', '-i', b], { env: sb.env, cwd: sb.dir });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(fs.readFileSync(a, 'utf8'), PLAIN);
  });

  test('a dangling symlink --output is written through: the link stays, its target is created', async () => {
    const src = sb.write('sl-src.yaml', PLAIN);
    fs.mkdirSync(sb.path('sl-real'));
    const link = sb.path('sl-link.yaml');
    fs.symlinkSync('sl-real/target.yaml', link);
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--output', link, src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.match(fs.readFileSync(sb.path('sl-real/target.yaml'), 'utf8'), /db_password: ENC\[/);
    // an existing target, through a chain of two links: replaced, both links kept
    const link2 = sb.path('sl-link2.yaml');
    fs.symlinkSync('sl-link.yaml', link2);
    const r2 = await run(['decrypt', '--output', link2, sb.path('sl-real/target.yaml')], { env: sb.env, cwd: sb.dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink() && fs.lstatSync(link2).isSymbolicLink());
    assert.equal(fs.readFileSync(sb.path('sl-real/target.yaml'), 'utf8'), PLAIN);
  });

  test('a read-only file is not written by a user without write permission (as sops: EACCES)', async (t) => {
    if (!ROOT && process.getuid) {
      const f = sb.write('ro-user.yaml', PLAIN);
      fs.chmodSync(f, 0o444);
      const r = await run(['encrypt', '--age', AGE_RECIPIENT, '-i', f], { env: sb.env, cwd: sb.dir });
      assert.equal(r.code, 3, r.stderr);
      assert.equal(fs.readFileSync(f, 'utf8'), PLAIN);
      return;
    }
    if (!ROOT) return t.skip('needs POSIX users');
    const d = sharedDir('ro');
    const f = join(d, 'ro.yaml');
    fs.writeFileSync(f, PLAIN, { mode: 0o444 });
    fs.chownSync(f, NOBODY, NOBODY);
    const r = await runAs(NOBODY, ['encrypt', '--age', AGE_RECIPIENT, '-i', f], d);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /permission denied/);
    assert.equal(fs.readFileSync(f, 'utf8'), PLAIN);
    assert.equal(fs.statSync(f).mode & 0o777, 0o444);
  });

  test('root writes a read-only file (as sops) and keeps its mode, owner and group', async (t) => {
    if (!ROOT) return t.skip('runs as root only');
    const f = sb.write('own.yaml', PLAIN);
    fs.chmodSync(f, 0o440);
    fs.chownSync(f, NOBODY, NOBODY);
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '-i', f], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    const st = fs.statSync(f);
    assert.match(fs.readFileSync(f, 'utf8'), /db_password: ENC\[/);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [NOBODY, NOBODY, 0o440]);
  });

  test('a writable file in a folder the user may not create files in is written in place (as sops)', async (t) => {
    if (!ROOT) return t.skip('runs as root only (to act as another user)');
    const d = sharedDir('nodir', 0);
    fs.chmodSync(d, 0o755);
    const f = join(d, 'w.yaml');
    fs.writeFileSync(f, PLAIN, { mode: 0o644 });
    fs.chownSync(f, NOBODY, NOBODY);
    const r = await runAs(NOBODY, ['encrypt', '--age', AGE_RECIPIENT, '-i', f], '/');
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(f, 'utf8'), /db_password: ENC\[/);
  });
});

describe('stale temp files', () => {
  test('a temp file a killed run left beside the target is removed by the next write, and said', async () => {
    const enc = await plant('st-enc.yaml', PLAIN_SECRET, Buffer.alloc(32, 7));
    const out = sb.path('st-out.yaml');
    // a process that is gone, and one that is alive (this test)
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    const stale = sb.write(`.st-out.yaml.tsops-${dead.pid}-0123456789ab.tmp`, 'db_password: hun');
    const live = sb.write(`.st-out.yaml.tsops-${process.pid}-0123456789ab.tmp`, 'x');
    const unrelated = sb.write(`.st-out.yaml.other-${dead.pid}.tmp`, 'x');
    const r = await run(['decrypt', '--output', out, enc], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(stale));
    assert.match(
      r.stderr,
      new RegExp(`removed .*\\.st-out\\.yaml\\.tsops-${dead.pid}-0123456789ab\\.tmp.*interrupted`),
    );
    assert.ok(fs.existsSync(live) && fs.existsSync(unrelated));
    assert.equal(fs.readFileSync(out, 'utf8'), PLAIN_SECRET);
  });
});

describe('advisory lock', () => {
  test('8 parallel sets on one file keep all 8 keys', async () => {
    const file = await plant('lock-8.yaml', 'start: 0\n', Buffer.alloc(32, 9));
    const runs = Array.from({ length: 8 }, (_, i) =>
      run(['set', file, `["k${i}"]`, `"v${i}"`], { env: sb.env, cwd: sb.dir }),
    );
    const results = await Promise.all(runs);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const opened = await openEncrypted(fs.readFileSync(file), { format: 'yaml', env: sb.env, filename: file });
    const keys = opened.tree.docs[0]!.items.flatMap((it) => (it.kind === 'entry' ? [it.key] : []));
    assert.deepEqual(keys.sort(), ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'start']);
    assert.ok(!fs.existsSync(sb.path('.lock-8.yaml.tsops-lock')));
  });

  test('a lock held by a live process makes set wait, then fail with one line; a dead holder is stale', async () => {
    const file = await plant('lock-held.yaml', 'a: 1\n', Buffer.alloc(32, 10));
    const lock = sb.path('.lock-held.yaml.tsops-lock');
    fs.writeFileSync(lock, `${process.pid} ${os.hostname()}\n`);
    const before = fs.readFileSync(file, 'utf8');
    const r = await run(['set', file, '["b"]', '2'], { env: { ...sb.env, TSOPS_LOCK_TIMEOUT: '0.3' }, cwd: sb.dir });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`being changed by tsops process ${process.pid}`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
    assert.ok(fs.existsSync(lock), 'the holder keeps its lock');
    // the holder is gone: the lock is stale, removed with a note, and set goes on
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((res) => dead.on('close', res));
    fs.writeFileSync(lock, `${dead.pid} ${os.hostname()}\n`);
    const r2 = await run(['set', file, '["b"]', '2'], { env: { ...sb.env, TSOPS_LOCK_TIMEOUT: '0.3' }, cwd: sb.dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /removed .*tsops-lock, a stale lock/);
    assert.ok(!fs.existsSync(lock));
  });
});

describe('set of the metadata key', { concurrency: 2 }, () => {
  const cases: Array<[string, string, string]> = [
    ['meta.yaml', 'a: 1\n', '["sops"]'],
    ['meta2.yaml', 'a: 1\n', '["sops"]["mac"]'],
    ['meta.json', '{"a": 1}\n', '["sops"]'],
    ['meta.env', 'A=1\n', '["sops_mac"]'],
    ['meta2.env', 'A=1\n', '["sops_version"]'],
    ['meta.ini', '[s]\na = 1\n', '["sops"]["mac"]'],
  ];
  for (const [name, plain, path] of cases) {
    test(`set ${path} in ${name} is refused with exit 7, the file unchanged`, async () => {
      const file = await plant(name, plain, Buffer.alloc(32, 11));
      const before = fs.readFileSync(file, 'utf8');
      const value = path.split('[').length > 2 || name.endsWith('.env') ? '"x"' : '{"mac": "x"}';
      const r = await run(['set', file, path, value], { env: sb.env, cwd: sb.dir });
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /sops metadata/);
      assert.equal(fs.readFileSync(file, 'utf8'), before);
    });
  }
});

describe('signals to exec commands', { concurrency: 2 }, () => {
  // the command is compound, so /bin/sh forks it instead of replacing itself with it
  const CHILD = `
import fs from 'node:fs';
const [marker, ready] = process.argv.slice(2);
process.on('SIGTERM', () => { fs.writeFileSync(marker, 'got TERM'); process.exit(0); });
fs.writeFileSync(ready, 'ready');
setTimeout(() => process.exit(3), 15000);
`;
  for (const cmd of ['exec-env', 'exec-file']) {
    test(`SIGTERM to tsops ${cmd} reaches the command, not just its shell`, async () => {
      const enc = await plant(`sig-${cmd}.yaml`, 'A: b\n', Buffer.alloc(32, 12));
      const script = sb.write(`sig-child-${cmd}.mjs`, CHILD);
      const marker = sb.path(`sig-marker-${cmd}`);
      const ready = sb.path(`sig-ready-${cmd}`);
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(script)} ${JSON.stringify(marker)} ${JSON.stringify(ready)}${cmd === 'exec-file' ? ' {}' : ''}; true`;
      // detached: no controlling terminal, as under CI or systemd
      const child = spawn(process.execPath, [BIN, cmd, enc, command], {
        env: sb.env,
        cwd: sb.dir,
        detached: true,
        stdio: 'ignore',
      });
      const closed = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      try {
        await waitFor(() => fs.existsSync(ready), 20_000, 'the command to start');
        child.kill('SIGTERM');
        await closed;
        await waitFor(() => fs.existsSync(marker), 5_000, 'the marker');
        assert.equal(fs.readFileSync(marker, 'utf8'), 'got TERM');
      } finally {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
});

describe('messages never show values', { concurrency: 2 }, () => {
  test('a YAML tag that does not fit its value: the value is not printed', async () => {
    const src = sb.write('tag.yaml', 'x: !!int SECRETXYZ\n');
    const r = await run(['encrypt', '--verbose', '--age', AGE_RECIPIENT, src], { env: sb.env, cwd: sb.dir });
    assert.notEqual(r.code, 0);
    assert.ok(!r.stderr.includes('SECRETXYZ'), r.stderr);
    assert.match(r.stderr, /cannot decode a !!str value as a !!int/);
  });

  test("a value that is not in sops's format: none of it is printed", async () => {
    const enc = fs.readFileSync(await plant('fmt.yaml', 'pw: x\n', Buffer.alloc(32, 13)), 'utf8');
    const file = sb.write(
      'fmt-bad.yaml',
      enc.replace(/^pw: ENC\[[^\]]*\]/m, 'pw: ENC[AES256_GCM,data:SECRETXYZSECRETXYZ]'),
    );
    const r = await run(['decrypt', '--verbose', file], { env: sb.env, cwd: sb.dir });
    assert.notEqual(r.code, 0);
    assert.ok(!r.stderr.includes('SECRETXYZ'), r.stderr);
  });

  test('--verbose shows no stack trace', async () => {
    const file = sb.write('stack.yaml', 'a: 1\npassword: hunter2: x\n');
    const r = await run(['decrypt', '--verbose', file], { env: sb.env, cwd: sb.dir });
    assert.notEqual(r.code, 0);
    assert.ok(!/^\s+at /m.test(r.stderr), r.stderr);
  });

  test('set with a value that is not JSON does not print it', async () => {
    const file = await plant('setjson.yaml', 'a: 1\n', Buffer.alloc(32, 14));
    const r = await run(['set', file, '["pw"]', 'SECRETXYZ'], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 7, r.stderr);
    assert.ok(!r.stderr.includes('SECRETXYZ'), r.stderr);
  });
});
