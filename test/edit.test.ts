// `tsops edit` / `tsops FILE`, driven by scripted editors (a node script given as EDITOR), and once
// through a real terminal (tmux + vim) when those are installed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import {
  AGE_IDENTITY,
  AGE_RECIPIENT,
  BIN,
  REPLACE_EDITOR,
  Sandbox,
  decryptFile,
  encryptFile,
  run,
  start,
  waitFor,
} from './helpers/editing.js';
import { editorCommand } from '../src/cli/edit.js';
import { exampleTree } from '../src/ops/edit.js';

let sb: Sandbox;
let oracle = false;
let oracleWhy = '';

before(async () => {
  sb = new Sandbox('tsops-edit-test-');
  oracle = await oracleAvailable();
  if (!oracle) oracleWhy = `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
});

after(async () => {
  await closeOracle();
  sb.cleanup();
});

interface Case {
  format: 'yaml' | 'json' | 'dotenv' | 'ini' | 'binary';
  name: string;
  plain: string;
  from: string;
  to: string;
  /** What the decrypted file holds afterwards. */
  expect: string;
}

// CLI runs take about 0.4 s each (node start-up): the tests run concurrently
describe('edit', { concurrency: 3 }, () => {
  const CASES: Case[] = [
    {
      format: 'yaml',
      name: 'a.yaml',
      plain: 'db:\n    user: admin\n    password: hunter2\nport: 5432\n',
      from: 'hunter2',
      to: 'correct horse',
      expect: 'password: correct horse',
    },
    {
      format: 'json',
      name: 'a.json',
      plain: '{\n\t"db": {\n\t\t"user": "admin",\n\t\t"password": "hunter2"\n\t},\n\t"port": 5432\n}\n',
      from: 'hunter2',
      to: 'correct horse',
      expect: '"password": "correct horse"',
    },
    {
      format: 'dotenv',
      name: 'a.env',
      plain: 'USER=admin\nPASSWORD=hunter2\n',
      from: 'hunter2',
      to: 'correct horse',
      expect: 'PASSWORD=correct horse',
    },
    {
      format: 'ini',
      name: 'a.ini',
      plain: '[db]\nuser     = admin\npassword = hunter2\n',
      from: 'hunter2',
      to: 'correct_horse',
      expect: 'correct_horse',
    },
    {
      format: 'binary',
      name: 'a.bin',
      plain: 'line one\nsecret hunter2\n',
      from: 'hunter2',
      to: 'correct horse',
      expect: 'line one\nsecret correct horse\n',
    },
  ];

  function env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return { ...sb.env, ...extra };
  }

  for (const c of CASES) {
    test(`edit ${c.format}: the scripted editor's change is encrypted into the file`, async (t) => {
      const file = await encryptFile(sb, c.name, c.plain, `edit-${c.name}`);
      const mode = 0o640;
      fs.chmodSync(file, mode);
      const record = sb.path(`record-${c.format}`);
      const editor = sb.editor(`replace-${c.format}.mjs`, REPLACE_EDITOR);
      const r = await run([file], {
        env: env({ EDITOR: editor, FROM: c.from, TO: c.to, RECORD: record }),
        cwd: sb.dir,
      });
      assert.equal(r.code, 0, r.stderr);
      // the editor got a file with the same base name, in a private folder that is gone now
      const given = fs.readFileSync(record, 'utf8');
      assert.equal(path.basename(given), path.basename(file));
      assert.notEqual(path.dirname(given), path.dirname(file));
      assert.equal(fs.existsSync(path.dirname(given)), false, 'the temporary folder was removed');
      assert.equal(fs.statSync(file).mode & 0o777, mode, 'the mode is kept');
      const enc = fs.readFileSync(file, 'utf8');
      assert.ok(!enc.includes(c.to), 'the new value is encrypted');
      const out = await decryptFile(sb, file);
      if (c.format === 'binary') assert.equal(out, c.expect);
      else assert.ok(out.includes(c.expect), out);
      assert.ok(!out.includes(c.from));
      if (c.format === 'ini') return;
      if (!oracle) return t.skip(oracleWhy);
      const real = await sopsDecrypt(enc, c.format, { SOPS_AGE_KEY: AGE_IDENTITY });
      assert.equal(real.error, '');
      assert.equal(real.ok, true);
      assert.ok(real.output.includes(c.to), real.output);
    });
  }

  test('edit: no change leaves the file untouched with exit 200', async () => {
    const file = await encryptFile(sb, 'same.yaml', 'a: 1\nb: two\n');
    const before = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    const record = sb.path('record-same');
    const editor = sb.editor(
      'noop.mjs',
      `import fs from 'node:fs'; fs.writeFileSync(process.env.RECORD, process.argv.at(-1));`,
    );
    const r = await run(['edit', file], { env: env({ EDITOR: editor, RECORD: record }), cwd: sb.dir });
    assert.equal(r.code, 200);
    assert.match(r.stderr, /File has not changed, exiting\./);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.equal(fs.statSync(file).mtimeMs, mtime);
    assert.equal(fs.existsSync(path.dirname(fs.readFileSync(record, 'utf8'))), false);
  });

  test('edit: invalid syntax without a terminal waits for a byte on standard input and reopens the editor (sops); at end of input the file is left as it was', async () => {
    const file = await encryptFile(sb, 'bad.json', '{"a": "secret-value"}\n');
    const before = fs.readFileSync(file);
    const record = sb.path('record-bad');
    const editor = sb.editor(
      'break.mjs',
      `import fs from 'node:fs'; const f = process.argv.at(-1); fs.writeFileSync(process.env.RECORD, f); fs.writeFileSync(f, '{"a": ');`,
    );
    const r = await run([file], { env: env({ EDITOR: editor, RECORD: record }), cwd: sb.dir, input: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Press a key to return to the editor/);
    assert.match(r.stderr, /standard input ended/);
    assert.ok(!r.stderr.includes('secret-value'));
    assert.deepEqual(fs.readFileSync(file), before);
    assert.equal(fs.existsSync(path.dirname(fs.readFileSync(record, 'utf8'))), false);
    // a second try fixes the file: Enter on standard input reopens the editor
    const counter = sb.path('count-fix');
    const fixer = sb.editor(
      'fix.mjs',
      `import fs from 'node:fs'; const f = process.argv.at(-1); const n = fs.existsSync(process.env.COUNT) ? Number(fs.readFileSync(process.env.COUNT, 'utf8')) : 0; fs.writeFileSync(process.env.COUNT, String(n + 1)); fs.writeFileSync(f, n === 0 ? '{"a": ' : '{"a": "fixed"}');`,
    );
    const ok = await run([file], { env: env({ EDITOR: fixer, COUNT: counter }), cwd: sb.dir, input: '\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(fs.readFileSync(counter, 'utf8'), '2');
    assert.equal(await decryptFile(sb, file), '{\n\t"a": "fixed"\n}\n');
  });

  test('edit: SIGTERM while the editor runs removes the temporary folder and stops the editor', async () => {
    const file = await encryptFile(sb, 'sig.yaml', 'token: abc123\n');
    const before = fs.readFileSync(file);
    const record = sb.path('record-sig');
    const editor = sb.editor(
      'sleep.mjs',
      `import fs from 'node:fs';
  fs.writeFileSync(process.env.RECORD, JSON.stringify({ file: process.argv.at(-1), pid: process.pid }));
  setTimeout(() => {}, 60_000);`,
    );
    const { child, done } = start([file], { env: env({ EDITOR: editor, RECORD: record }), cwd: sb.dir });
    await waitFor(
      () => fs.existsSync(record) && fs.readFileSync(record, 'utf8').length > 0,
      20_000,
      'the editor to start',
    );
    const { file: tmp, pid } = JSON.parse(fs.readFileSync(record, 'utf8')) as { file: string; pid: number };
    assert.equal(fs.existsSync(tmp), true, 'the plaintext exists while the editor runs');
    assert.equal(fs.statSync(tmp).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(tmp)).mode & 0o777, 0o700);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 143);
    assert.equal(fs.existsSync(path.dirname(tmp)), false, 'the temporary folder is gone');
    assert.deepEqual(fs.readFileSync(file), before);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => !alive(), 10_000, 'the editor to stop');
  });

  test('edit: a file that does not exist is created from the example and the creation rule', async (t) => {
    const dir = sb.path('newproj');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, '.sops.yaml'),
      `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${AGE_RECIPIENT}\n`,
    );
    const file = path.join(dir, 'new.yaml');
    const record = sb.path('record-new');
    const editor = sb.editor(
      'new.mjs',
      `import fs from 'node:fs'; const f = process.argv.at(-1); const t = fs.readFileSync(f, 'utf8');
  fs.writeFileSync(process.env.RECORD, t); fs.writeFileSync(f, t.replace('example_value', 'my_value'));`,
    );
    const r = await run(['edit', 'new.yaml'], { env: env({ EDITOR: editor, RECORD: record }), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const template = fs.readFileSync(record, 'utf8');
    assert.match(template, /^hello: Welcome to SOPS! Edit this file as you please!$/m);
    assert.match(template, /^# Example comment$/m);
    assert.match(template, /^example_number: 1234\.56789$/m);
    const enc = fs.readFileSync(file, 'utf8');
    assert.ok(enc.includes(AGE_RECIPIENT));
    const out = await decryptFile(sb, file);
    assert.match(out, /^example_key: my_value$/m);
    assert.match(out, /^ {4}- example_value1$/m);
    if (!oracle) return t.skip(oracleWhy);
    const real = await sopsDecrypt(enc, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(real.ok, true, real.error);
    assert.equal(JSON.parse(real.output).example_key, 'my_value');
  });

  test('edit: a new file without any key to encrypt with fails before the editor runs', async () => {
    const dir = sb.path('nokeys');
    fs.mkdirSync(dir);
    const record = sb.path('record-nokeys');
    const editor = sb.editor('nokeys.mjs', `import fs from 'node:fs'; fs.writeFileSync(process.env.RECORD, 'ran');`);
    const r = await run(['edit', 'x.yaml'], { env: env({ EDITOR: editor, RECORD: record }), cwd: dir });
    assert.notEqual(r.code, 0);
    assert.equal(fs.existsSync(record), false);
    assert.equal(fs.existsSync(path.join(dir, 'x.yaml')), false);
  });

  test('edit --show-master-keys: the metadata is in the editor; the wrapped keys are kept', async () => {
    const file = await encryptFile(sb, 'keys.yaml', 'a: one\nb: two\n');
    const encBefore = fs.readFileSync(file, 'utf8');
    const record = sb.path('record-keys');
    const editor = sb.editor(
      'keys.mjs',
      `import fs from 'node:fs'; const f = process.argv.at(-1); const t = fs.readFileSync(f, 'utf8');
  fs.writeFileSync(process.env.RECORD, t); fs.writeFileSync(f, t.replace('b: two', 'b: three'));`,
    );
    const r = await run(['edit', '-s', file], { env: env({ EDITOR: editor, RECORD: record }), cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    const shown = fs.readFileSync(record, 'utf8');
    assert.match(shown, /^sops:$/m);
    assert.ok(shown.includes(AGE_RECIPIENT));
    assert.match(shown, /^a: one$/m, 'values are shown decrypted');
    const encAfter = fs.readFileSync(file, 'utf8');
    const ageEnc = (s: string) =>
      s.slice(s.indexOf('-----BEGIN AGE ENCRYPTED FILE-----'), s.indexOf('-----END AGE ENCRYPTED FILE-----'));
    assert.equal(ageEnc(encAfter), ageEnc(encBefore));
    assert.match(await decryptFile(sb, file), /^b: three$/m);
  });

  test('edit --ignore-mac opens a file whose MAC does not match and writes a valid one', async () => {
    const file = await encryptFile(sb, 'mac.yaml', 'a: one\nb: two\n');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^b: ENC.*\n/m, ''));
    const tampered = fs.readFileSync(file);
    const editor = sb.editor('mac.mjs', REPLACE_EDITOR);
    let r = await run([file], { env: env({ EDITOR: editor, FROM: 'one', TO: 'three' }), cwd: sb.dir });
    assert.equal(r.code, 51, r.stderr);
    assert.deepEqual(fs.readFileSync(file), tampered);
    r = await run(['edit', '--ignore-mac', file], {
      env: env({ EDITOR: editor, FROM: 'one', TO: 'three' }),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decryptFile(sb, file), 'a: three\n');
  });

  test('edit: SOPS_EDITOR wins over EDITOR and may carry arguments', async () => {
    const file = await encryptFile(sb, 'args.yaml', 'k: v1\n');
    const script = sb.write(
      'args.mjs',
      `import fs from 'node:fs'; const [flag, f] = process.argv.slice(2);
  if (flag !== '--wait') process.exit(9); fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('v1', 'v2'));`,
    );
    const r = await run([file], {
      env: env({ SOPS_EDITOR: `'${process.execPath}' "${script}" --wait`, EDITOR: 'false' }),
      cwd: sb.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(await decryptFile(sb, file), /^k: v2$/m);
  });

  test('edit: an editor that fails or cannot be found ends with exit 201, the file untouched', async () => {
    const file = await encryptFile(sb, 'fail.yaml', 'k: v\n');
    const before = fs.readFileSync(file);
    const failing = sb.editor('fail.mjs', 'process.exit(4);');
    let r = await run([file], { env: env({ EDITOR: failing }), cwd: sb.dir });
    assert.equal(r.code, 201);
    assert.match(r.stderr, /Could not run editor: exit status 4/);
    r = await run([file], { env: env({ EDITOR: path.join(sb.dir, 'no-such-editor') }), cwd: sb.dir });
    assert.equal(r.code, 201);
    r = await run([file], { env: { ...env({}), PATH: sb.path('empty-path') }, cwd: sb.dir });
    assert.equal(r.code, 201);
    assert.match(r.stderr, /vim, nano, vi/);
    assert.deepEqual(fs.readFileSync(file), before);
  });

  test('editorCommand splits like a shell and falls back to PATH', () => {
    assert.deepEqual(editorCommand({ EDITOR: 'code --wait' }), ['code', '--wait']);
    assert.deepEqual(editorCommand({ EDITOR: '\'my editor\' -n "a b"' }), ['my editor', '-n', 'a b']);
    assert.deepEqual(editorCommand({ SOPS_EDITOR: 'nvim', EDITOR: 'vim' }), ['nvim']);
    const bin = sb.path('fakebin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'nano'), '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(editorCommand({ PATH: bin }), [path.join(bin, 'nano')]);
    assert.throws(() => editorCommand({ PATH: sb.path('nothing-here') }), /no editor available/);
    assert.throws(() => editorCommand({ EDITOR: 'vim "unclosed' }), /invalid \$EDITOR/);
  });

  test('exampleTree: the examples sops starts new files from', () => {
    assert.equal(exampleTree('binary').docs[0]!.items.length, 1);
    const dotenv = exampleTree('dotenv').docs[0]!.items;
    assert.deepEqual(
      dotenv.map((i) => (i.kind === 'entry' ? i.key : '#')),
      ['#', 'hello', 'example_key', 'example_multiline'],
    );
    const ini = exampleTree('ini').docs[0]!.items[0]!;
    assert.equal(ini.kind === 'entry' && ini.key, 'Welcome!');
  });

  // --- a real terminal ----------------------------------------------------------------------------

  function have(cmd: string): boolean {
    return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  }

  /** tsops run in a detached tmux session; `status` receives its exit code. */
  class Terminal {
    readonly socket: string;
    readonly status: string;
    constructor(
      id: string,
      private readonly env: NodeJS.ProcessEnv,
    ) {
      this.socket = sb.path(`tmux-${id}.sock`);
      this.status = sb.path(`tmux-${id}.status`);
    }
    tmux(...args: string[]): string {
      return execFileSync('tmux', ['-S', this.socket, ...args], { env: this.env, stdio: 'pipe' }).toString('utf8');
    }
    start(args: string[]): void {
      const cmd = [process.execPath, BIN, ...args].map((a) => JSON.stringify(a)).join(' ');
      this.tmux(
        'new-session',
        '-d',
        '-x',
        '150',
        '-y',
        '30',
        'sh',
        '-c',
        `${cmd}; echo $? > ${JSON.stringify(this.status)}`,
      );
    }
    screen(): string {
      try {
        return this.tmux('capture-pane', '-p');
      } catch {
        return '';
      }
    }
    async exitCode(): Promise<string> {
      await waitFor(
        () => fs.existsSync(this.status) && fs.readFileSync(this.status, 'utf8').trim() !== '',
        20_000,
        'tsops to finish',
      );
      return fs.readFileSync(this.status, 'utf8').trim();
    }
    close(): void {
      try {
        this.tmux('kill-server');
      } catch {
        /* already gone */
      }
    }
  }

  test('edit in a real terminal: tmux + vim', async (t) => {
    if (!have('tmux') || !have('vim')) return t.skip('tmux or vim is not installed');
    const file = await encryptFile(sb, 'tty.yaml', 'user: admin\npassword: old-secret\n');
    const term = new Terminal('vim', { ...sb.env, EDITOR: 'vim -u NONE -i NONE -n', TERM: 'xterm' });
    term.start([file]);
    try {
      await waitFor(() => term.screen().includes('password: old-secret'), 20_000, 'vim to show the file');
      term.tmux('send-keys', ':%s/old-secret/new-secret/', 'Enter');
      term.tmux('send-keys', ':wq', 'Enter');
      assert.equal(await term.exitCode(), '0');
      assert.match(await decryptFile(sb, file), /^password: new-secret$/m);
      assert.ok(!fs.readFileSync(file, 'utf8').includes('new-secret'));
    } finally {
      term.close();
    }
  });

  // an editor that breaks the syntax on its first run and fixes it (and changes a value) on the next
  const TWICE_EDITOR = `
import fs from 'node:fs';
const f = process.argv.at(-1);
const n = fs.existsSync(process.env.COUNT) ? Number(fs.readFileSync(process.env.COUNT, 'utf8')) : 0;
fs.writeFileSync(process.env.COUNT, String(n + 1));
fs.writeFileSync(process.env.RECORD, f);
const t = fs.readFileSync(f, 'utf8');
fs.writeFileSync(f, n === 0 ? t + 'broken: [unclosed\\n' : t.replace(/broken[\\s\\S]*/, '').replace('old', 'new'));
`;

  for (const key of ['x', 'C-c']) {
    const abort = key === 'C-c';
    test(`edit in a terminal: invalid syntax asks for a key; ${abort ? 'Ctrl+C exits (130), the file untouched' : 'a key returns to the editor'}`, async (t) => {
      if (!have('tmux')) return t.skip('tmux is not installed');
      const id = abort ? 'ctrlc' : 'again';
      const file = await encryptFile(sb, `tty-${id}.yaml`, 'k: old\n');
      const before = fs.readFileSync(file);
      const count = sb.path(`count-${id}`);
      const record = sb.path(`record-${id}`);
      const term = new Terminal(id, {
        ...sb.env,
        EDITOR: sb.editor(`twice-${id}.mjs`, TWICE_EDITOR),
        COUNT: count,
        RECORD: record,
        TERM: 'xterm',
      });
      term.start([file]);
      try {
        await waitFor(
          () => term.screen().includes('Press a key to return to the editor, or Ctrl+C to exit.'),
          20_000,
          'the prompt',
        );
        assert.match(term.screen(), /Could not load tree, probably due to invalid syntax/);
        term.tmux('send-keys', key);
        const code = await term.exitCode();
        assert.equal(
          fs.existsSync(path.dirname(fs.readFileSync(record, 'utf8'))),
          false,
          'the temporary folder is gone',
        );
        if (abort) {
          assert.equal(code, '130');
          assert.equal(fs.readFileSync(count, 'utf8'), '1');
          assert.deepEqual(fs.readFileSync(file), before);
        } else {
          assert.equal(code, '0');
          assert.equal(fs.readFileSync(count, 'utf8'), '2');
          assert.equal(await decryptFile(sb, file), 'k: new\n');
        }
      } finally {
        term.close();
      }
    });
  }
});
