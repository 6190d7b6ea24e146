// `tsops exec-env` and `tsops exec-file`: values in the environment, the plaintext through a FIFO or
// a private temporary file, the command's exit status passed on, the temporary folder always removed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, encryptFile, run, start, waitFor } from './helpers/editing.js';
import { newAgePair, type AgePair } from './helpers/keymgmt.js';
import { envFromTree } from '../src/ops/exec.js';
import { fromPlain, type MapNode } from '../src/tree/types.js';

let sb: Sandbox;
let file: string;
let other: AgePair;

const PLAIN = 'FOO: bar\nRATIO: 1.5\nCOUNT: 3\nWHOLE: 2.0\nFLAG: true\nSPACED: two words\n';

before(async () => {
  sb = new Sandbox('tsops-exec-test-');
  file = await encryptFile(sb, 'app.yaml', PLAIN);
  other = await newAgePair();
});

after(() => {
  sb.cleanup();
});

test('exec-env: the values in the environment, formatted as sops does; the exit status passed on', async () => {
  const o = { env: { ...sb.env, OUTER: 'kept' }, cwd: sb.dir };
  const [status, values, noValueInArgs] = await Promise.all([
    run(['exec-env', file, 'test "$FOO" = bar && exit 7'], o),
    run(['exec-env', file, 'printf "%s|" "$FOO" "$RATIO" "$COUNT" "$WHOLE" "$FLAG" "$SPACED" "$OUTER"'], o),
    run(['exec-env', file, 'cat /proc/$PPID/cmdline /proc/$$/cmdline | tr "\\0" " "'], o),
  ]);
  assert.equal(status.code, 7, status.stderr);
  assert.equal(values.code, 0, values.stderr);
  assert.equal(values.stdout, 'bar|1.5|3|2.0|true|two words|kept|');
  assert.equal(noValueInArgs.code, 0, noValueInArgs.stderr);
  assert.ok(
    !noValueInArgs.stdout.includes('bar') && !noValueInArgs.stdout.includes('two words'),
    'no value in a command line',
  );
});

test("exec-env --pristine: only the file's values", async () => {
  const r = await run(['exec-env', '--pristine', file, 'env'], { env: { ...sb.env, OUTER: 'gone' }, cwd: sb.dir });
  assert.equal(r.code, 0, r.stderr);
  const names = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.slice(0, l.indexOf('=')));
  for (const k of ['FOO', 'RATIO', 'COUNT', 'WHOLE', 'FLAG', 'SPACED']) assert.ok(names.includes(k), k);
  assert.ok(!names.includes('OUTER') && !names.includes('HOME') && !names.includes('SOPS_AGE_KEY'), r.stdout);
});

test('exec-env: refusals (missing command, nested values, --same-process with --background, --user)', async () => {
  const nested = await encryptFile(sb, 'nested.yaml', 'db:\n    password: hunter2\n');
  const o = { env: sb.env, cwd: sb.dir };
  const [missing, complex, both, user, wrongKey, same] = await Promise.all([
    run(['exec-env', file], o),
    run(['exec-env', nested, 'true'], o),
    run(['exec-env', '--background', '--same-process', file, 'true'], o),
    run(['exec-env', '--user', 'nobody', file, 'true'], o),
    run(['exec-env', file, 'true'], { ...o, env: { ...sb.env, SOPS_AGE_KEY: other.identity } }),
    run(['exec-env', '--same-process', file, 'exit 4'], o),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing file to decrypt/);
  assert.equal(complex.code, 1);
  assert.match(complex.stderr, /cannot use complex value in environment: the value of "db" is a map/);
  assert.ok(!complex.stderr.includes('hunter2'));
  assert.equal(both.code, 8);
  assert.equal(user.code, 1);
  assert.match(user.stderr, /--user is not supported/);
  assert.equal(wrongKey.code, 128);
  assert.equal(same.code, 4, same.stderr);
});

test('envFromTree: text of non-strings, refusals name the key only', () => {
  const tree = (o: Record<string, unknown>) => ({ docs: [fromPlain(o as never) as MapNode] });
  assert.deepEqual(envFromTree(tree({ a: 1, b: 1e21, c: false, d: 'x=y', e: null, f: 0.000001 })), {
    a: '1',
    b: '1E+21',
    c: 'false',
    d: 'x=y',
    e: '',
    f: '1E-06',
  });
  assert.throws(
    () => envFromTree(tree({ 'a=b': 'secret' })),
    (e: Error) => /keys with '='/.test(e.message) && !e.message.includes('secret'),
  );
  assert.throws(
    () => envFromTree(tree({ k: 'sec\0ret' })),
    (e: Error) => /NUL byte/.test(e.message) && !e.message.includes('sec'),
  );
  assert.throws(
    () => envFromTree(tree({ l: ['secret'] })),
    (e: Error) => /is a list/.test(e.message) && !e.message.includes('secret'),
  );
});

/** A command that records `{}` (the path) into RECORD, then runs REST. */
function recording(record: string, rest: string): string {
  return `echo {} > ${JSON.stringify(record)}; ${rest}`;
}

test('exec-file: a FIFO in a private folder, {} replaced, exit status passed on, folder removed', async () => {
  const record = sb.path('fifo-path');
  const copy = sb.path('fifo-copy');
  const r = await run(
    [
      'exec-file',
      file,
      recording(record, `test -p {} || exit 9; stat -c %a "$(dirname {})" > ${copy}.mode; cat {} > ${copy}; exit 5`),
    ],
    { env: sb.env, cwd: sb.dir },
  );
  assert.equal(r.code, 5, r.stderr);
  assert.equal(fs.readFileSync(copy, 'utf8'), PLAIN);
  assert.equal(fs.readFileSync(`${copy}.mode`, 'utf8').trim(), '700');
  const p = fs.readFileSync(record, 'utf8').trim();
  assert.equal(path.basename(p), 'tmp-file');
  assert.equal(fs.existsSync(path.dirname(p)), false, 'the temporary folder is gone');
});

test('exec-file: a command that never opens the FIFO does not hang; --output-type and --filename', async () => {
  const record = sb.path('unread-path');
  const [unread, typed] = await Promise.all([
    run(['exec-file', file, recording(record, 'exit 0')], { env: sb.env, cwd: sb.dir }),
    run(['exec-file', '--output-type', 'dotenv', '--filename', 'app.env', file, 'basename {}; cat {}'], {
      env: sb.env,
      cwd: sb.dir,
    }),
  ]);
  assert.equal(unread.code, 0, unread.stderr);
  assert.equal(fs.existsSync(path.dirname(fs.readFileSync(record, 'utf8').trim())), false);
  assert.equal(typed.code, 0, typed.stderr);
  assert.equal(typed.stdout, 'app.env\nFOO=bar\nRATIO=1.5\nCOUNT=3\nWHOLE=2.0\nFLAG=true\nSPACED=two words\n');
});

test('exec-file: more than a pipe buffer through the FIFO, and a reader that stops early', async () => {
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = 32 + ((i * 7919) % 95);
  const enc = await encryptFile(sb, 'big.bin', big);
  const [all, head] = await Promise.all([
    run(['exec-file', enc, 'sha256sum < {}'], { env: sb.env, cwd: sb.dir }),
    run(['exec-file', enc, 'head -c 10 {}'], { env: sb.env, cwd: sb.dir }),
  ]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout.split(' ')[0], createHash('sha256').update(big).digest('hex'));
  assert.equal(head.code, 0, head.stderr);
  assert.equal(head.stdout, big.subarray(0, 10).toString('latin1'));
});

test('exec-file --no-fifo: a 0600 file in a 0700 folder, removed afterwards', async () => {
  const record = sb.path('file-path');
  const r = await run(
    [
      'exec-file',
      '--no-fifo',
      '--filename',
      'secrets.yaml',
      file,
      recording(record, 'test -f {} || exit 9; stat -c %a {} "$(dirname {})"; cat {}; cat {} >/dev/null'),
    ],
    { env: sb.env, cwd: sb.dir },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `600\n700\n${PLAIN}`);
  const p = fs.readFileSync(record, 'utf8').trim();
  assert.equal(path.basename(p), 'secrets.yaml');
  assert.equal(fs.existsSync(path.dirname(p)), false);
});

test('exec-file: refusals', async () => {
  const o = { env: sb.env, cwd: sb.dir };
  const [badName, bgFile] = await Promise.all([
    run(['exec-file', '--filename', '../escape', file, 'cat {}'], o),
    run(['exec-file', '--background', '--no-fifo', file, 'cat {}'], o),
  ]);
  assert.equal(badName.code, 1);
  assert.match(badName.stderr, /invalid --filename/);
  assert.equal(bgFile.code, 8);
  assert.equal(fs.existsSync(sb.path('escape')), false);
});

test('exec-file: SIGTERM is passed on to the command, and the temporary folder removed', async () => {
  const record = sb.path('sig-term');
  const { child, done } = start(['exec-file', '--no-fifo', file, recording(record, 'exec sleep 30')], {
    env: sb.env,
    cwd: sb.dir,
  });
  await waitFor(
    () => fs.existsSync(record) && fs.readFileSync(record, 'utf8').endsWith('\n'),
    30_000,
    'the command to start',
  );
  const p = fs.readFileSync(record, 'utf8').trim();
  assert.equal(fs.existsSync(p), true);
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 128 + 15, r.stderr);
  assert.equal(fs.existsSync(path.dirname(p)), false, 'the temporary folder is gone');
});

test('exec-file: on SIGINT the plaintext is removed at once, even while the command goes on', async () => {
  const record = sb.path('sig-int');
  // the command ignores SIGINT and waits until its file disappears
  const cmd = `trap '' INT; echo {} > ${JSON.stringify(record)}; while [ -e {} ]; do sleep 0.05; done; exit 3`;
  const { child, done } = start(['exec-file', '--no-fifo', file, cmd], { env: sb.env, cwd: sb.dir });
  await waitFor(
    () => fs.existsSync(record) && fs.readFileSync(record, 'utf8').endsWith('\n'),
    30_000,
    'the command to start',
  );
  const p = fs.readFileSync(record, 'utf8').trim();
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 3, 'the command saw its file vanish and ended with its own status');
  assert.equal(fs.existsSync(path.dirname(p)), false);
});

test('exec-file: the key is needed (an identity that does not match fails with 128, nothing run)', async () => {
  const marker = sb.path('ran');
  const r = await run(['exec-file', file, `touch ${marker}`], {
    env: { ...sb.env, SOPS_AGE_KEY: other.identity },
    cwd: sb.dir,
  });
  assert.equal(r.code, 128);
  assert.equal(fs.existsSync(marker), false);
});
