// src/util/tty.ts in a real terminal (tmux): the secret is read with echo off and never shown, the
// terminal's mode is restored (also after Ctrl-C), confirm's choices, and the one-line failure
// without a terminal.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox } from './helpers/editing.js';
import { TmuxTerminal, have } from './helpers/terminal.js';
import { ROOT } from './helpers/fixtures.js';
import { NoTerminalError, confirm, hasTerminal, message, promptSecret } from '../src/util/tty.js';

const TTY_MODULE = path.join(ROOT, 'dist', 'src', 'util', 'tty.js');
const SCRIPT = `
import fs from 'node:fs';
import { promptSecret, confirm, message } from ${JSON.stringify(TTY_MODULE)};
message('a message for the user');
const s = await promptSecret('Secret please:', 'the test secret');
fs.writeFileSync(process.env.OUT, s);
const c = await confirm('Sure?', 'yes', 'no');
const d = await confirm('Go on?', 'ok');
fs.appendFileSync(process.env.OUT, '|' + c + '|' + d);
`;

describe('tty: prompts on the terminal', () => {
  const sb = new Sandbox('tsops-tty-');
  after(() => sb.cleanup());
  const script = sb.write('prompt.mjs', SCRIPT);

  test('promptSecret reads without echo, edits with Backspace, restores the mode; confirm answers', async (t) => {
    if (!have('tmux')) return t.skip('tmux is not installed');
    const out = sb.path('out-1');
    const term = new TmuxTerminal(sb.dir, 'ok', { ...sb.env, OUT: out, TERM: 'xterm' });
    // standard input not the terminal: the prompt must use /dev/tty (and node's own reset of its
    // standard streams at exit cannot hide a mode left raw)
    term.start([process.execPath, script], `</dev/null; stty -a | grep -o -- '-\\?echo ' | head -1`);
    try {
      await term.waitScreen('Secret please:');
      assert.match(term.screen(), /a message for the user/);
      term.type('hunter2-wörx', false);
      term.tmux('send-keys', 'BSpace');
      term.type('d');
      await term.waitScreen('(press [1] for "yes" or [2] for "no")');
      term.type('7', false); // not a choice: asked again (ignored)
      term.type('2', false);
      await term.waitScreen('Go on? (press enter for "ok")');
      term.tmux('send-keys', 'Enter');
      assert.equal(await term.exitCode(), '0');
      assert.equal(fs.readFileSync(out, 'utf8'), 'hunter2-wörd|false|true');
      const screen = term.screen();
      assert.ok(!screen.includes('hunter'), `the secret was echoed:\n${screen}`);
      assert.match(screen, /^echo\s*$/m, 'echo is on again after the prompt');
    } finally {
      term.close();
    }
  });

  test('Ctrl-C at the prompt: the mode is restored and the process ends by SIGINT (130)', async (t) => {
    if (!have('tmux')) return t.skip('tmux is not installed');
    const out = sb.path('out-2');
    const term = new TmuxTerminal(sb.dir, 'ctrlc', { ...sb.env, OUT: out, TERM: 'xterm' });
    term.start([
      'sh',
      '-c',
      `'${process.execPath}' '${script}' </dev/null; echo "status=$?"; stty -a | grep -o -- '-\\?echo ' | head -1`,
    ]);
    try {
      await term.waitScreen('Secret please:');
      term.type('abc', false);
      term.tmux('send-keys', 'C-c');
      await term.exitCode();
      const screen = term.screen();
      assert.match(screen, /status=130/);
      assert.match(screen, /^echo\s*$/m, 'echo is on again');
      assert.equal(fs.existsSync(out), false);
    } finally {
      term.close();
    }
  });

  test('without a terminal: NoTerminalError, one line naming what was asked for', () => {
    // a new session (setsid): no controlling terminal; standard input a pipe
    const r = spawnSync(
      'setsid',
      [
        process.execPath,
        '--input-type=module',
        '-e',
        `import { promptSecret, hasTerminal } from ${JSON.stringify(TTY_MODULE)};
         console.log('has=' + hasTerminal());
         try { await promptSecret('Secret:', 'the passphrase of KEYFILE'); } catch (e) { console.log(e.name + ': ' + e.message); }`,
      ],
      { input: '', encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^has=false$/m);
    assert.match(
      r.stdout,
      /^NoTerminalError: cannot ask for the passphrase of KEYFILE: no terminal \(\/dev\/tty is not available and standard input is not a terminal\)$/m,
    );
    assert.ok(!r.stdout.includes('Secret:'), 'no prompt printed');
  });

  test('the module exports', () => {
    assert.equal(typeof promptSecret, 'function');
    assert.equal(typeof confirm, 'function');
    assert.equal(typeof message, 'function');
    assert.equal(typeof hasTerminal(), 'boolean');
    assert.ok(new NoTerminalError('x') instanceof Error);
  });
});
