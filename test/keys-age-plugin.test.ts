// age plugins (sops 3.10+): the stanza codec, the recipient-v1 / identity-v1 client against the test
// plugin test/age-plugin/age-plugin-tsopstest (written from the C2SP age-plugin spec; its "wrap" is
// not encryption), the user requests (msg, confirm, request-public, request-secret) through an
// injected UI, on a real terminal (tmux) and without one, failures as one line, and the real client:
// Debian's `age` CLI decrypts what tsops wrote and tsops opens what `age -r age1tsopstest1… -a` wrote.
// (The sops 3.9.2 oracle predates age plugins, so `age` is the real-client check here.)
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from './helpers/fixtures.js';
import { Sandbox, run, BIN, AGE_IDENTITY, AGE_RECIPIENT } from './helpers/editing.js';
import { have, TmuxTerminal } from './helpers/terminal.js';
import { source, clearAgeIdentityCache } from '../src/keys/age/client.js';
import { bech32Encode } from '../src/keys/age/bech32.js';
import { decodeB64, encodeStanza, StanzaError, StanzaParser, type AgeStanza } from '../src/keys/age/stanza.js';
import { PluginError, unwrapFileKey, wrapFileKey, type PluginUI } from '../src/keys/age/plugin.js';
import { dearmor, parseAgeFile } from '../src/keys/age/native.js';
import type { AgeKey, KeyContext } from '../src/keys/types.js';
import { SopsError } from '../src/errors.js';

const PLUGIN_DIR = path.join(ROOT, 'test', 'age-plugin');
const sb = new Sandbox('tsops-plugin-');
const env: NodeJS.ProcessEnv = { ...sb.env, PATH: `${PLUGIN_DIR}${path.delimiter}${process.env.PATH ?? ''}` };
delete env.SOPS_AGE_KEY;
let ID = '';
let RECIPIENT = '';
let idFile = '';
const logFile = sb.path('plugin.log');

before(() => {
  const gen = execFileSync(path.join(PLUGIN_DIR, 'age-plugin-tsopstest'), ['--generate'], { env }).toString();
  RECIPIENT = /# recipient: (age1tsopstest1\S+)/.exec(gen)![1]!;
  ID = /^(AGE-PLUGIN-TSOPSTEST-1\S+)$/m.exec(gen)![1]!;
  idFile = sb.write('plugin-id.txt', gen);
  env.SOPS_AGE_KEY_FILE = idFile;
});
after(() => sb.cleanup());

const ctx = (extra: NodeJS.ProcessEnv = {}): KeyContext => ({ env: { ...env, ...extra }, log: () => {} });
const ageKey = (recipient: string, enc = ''): AgeKey => ({ type: 'age', recipient, enc });

/** The lines of a message, without the "waiting on NAME plugin..." notice a slow machine may add. */
const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => !/waiting on \S+ plugin\.\.\./.test(l));

/** The runs the test plugin logged since the last call. */
function pluginRuns(): {
  argv: string[];
  cwd: string;
  sopsAgeKeyInEnv: boolean;
  received: string[];
  answers: string[][];
  publicValue?: string;
}[] {
  if (!fs.existsSync(logFile)) return [];
  const runs = fs.readFileSync(logFile, 'utf8').trim().split('\n');
  fs.rmSync(logFile);
  return runs.map((l) => JSON.parse(l));
}

describe('stanza codec', () => {
  test('bodies of every length round-trip; full 64-column lines end with an empty line', () => {
    for (const n of [0, 1, 2, 47, 48, 49, 96, 200]) {
      const s: AgeStanza = { type: 'x', args: ['a', 'b+/='], body: randomBytes(n) };
      const text = encodeStanza(s);
      const body = text.split('\n').slice(1, -1);
      assert.ok(body.every((l) => l.length <= 64));
      assert.ok(body[body.length - 1]!.length < 64, `n=${n}`);
      const p = new StanzaParser();
      let out: AgeStanza | undefined;
      for (const l of text.split('\n').slice(0, -1)) out = p.line(l);
      assert.deepEqual(out, s);
      assert.equal(p.inStanza, false);
    }
  });

  test('non-canonical base64, long lines, bad arguments are refused', () => {
    assert.equal(decodeB64('AB'), null, 'non-zero trailing bits');
    assert.equal(decodeB64('AA=='), null, 'padding');
    assert.deepEqual(decodeB64('AA'), Buffer.from([0]));
    const p = new StanzaParser();
    p.line('-> t');
    assert.throws(() => p.line('A'.repeat(65)), StanzaError);
    assert.throws(() => new StanzaParser().line('-> a  b'), StanzaError);
    assert.throws(() => new StanzaParser().line('not a stanza'), StanzaError);
    assert.throws(() => encodeStanza({ type: 'a b', args: [], body: Buffer.alloc(0) }), StanzaError);
  });
});

describe('the test plugin through the age key source', () => {
  /** What the first test wrapped (the later ones reuse it: fewer plugin runs). */
  const wrapped = { enc: '', dataKey: Buffer.alloc(0) };

  test('wrap (recipient-v1) and unwrap (identity-v1): the enc block holds the plugin stanza', async () => {
    const dataKey = randomBytes(32);
    const enc = await source.wrap(ageKey(RECIPIENT), dataKey, ctx({ TSOPSTEST_LOG: logFile }));
    Object.assign(wrapped, { enc, dataKey });
    assert.match(enc, /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const file = parseAgeFile(dearmor(enc)!)!;
    assert.deepEqual(
      file.stanzas.map((s) => s.type),
      ['tsopstest'],
    );
    await clearAgeIdentityCache();
    assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), ctx({ TSOPSTEST_LOG: logFile })), dataKey);
    const [wrapRun, unwrapRun] = pluginRuns();
    // secrets over the pipe only: argv is the state machine, SOPS_AGE_KEY is not passed on
    assert.deepEqual(wrapRun!.argv, ['--age-plugin=recipient-v1']);
    assert.deepEqual(unwrapRun!.argv, ['--age-plugin=identity-v1']);
    assert.equal(wrapRun!.cwd, fs.realpathSync(os.tmpdir()));
    assert.match(wrapRun!.received.join(' '), /^add-recipient grease-[0-9a-f]+ wrap-file-key extension-labels done$/);
    assert.match(unwrapRun!.received.join(' '), /^add-identity grease-[0-9a-f]+ recipient-stanza done$/);
  });

  test('SOPS_AGE_KEY is not in the plugin environment; plugin identities in SOPS_AGE_KEY work', async () => {
    await clearAgeIdentityCache();
    const e = ctx({ SOPS_AGE_KEY: `${AGE_IDENTITY}\n${ID}`, SOPS_AGE_KEY_FILE: undefined, TSOPSTEST_LOG: logFile });
    assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, wrapped.enc), e), wrapped.dataKey);
    assert.equal(pluginRuns()[0]!.sopsAgeKeyInEnv, false);
  });

  test('an X25519 key that opens the file: the plugin is not started', async () => {
    const dataKey = randomBytes(32);
    const enc = await source.wrap(ageKey(AGE_RECIPIENT), dataKey, ctx());
    await clearAgeIdentityCache();
    const e = ctx({ SOPS_AGE_KEY: `${ID}\n${AGE_IDENTITY}`, TSOPSTEST_LOG: logFile });
    assert.deepEqual(await source.unwrap(ageKey(AGE_RECIPIENT, enc), e), dataKey);
    assert.deepEqual(pluginRuns(), []);
  });

  test('another plugin identity: no file key, so "no identity matches"', async () => {
    const other = bech32Encode('age-plugin-tsopstest-', randomBytes(32)).toUpperCase();
    await clearAgeIdentityCache();
    await assert.rejects(
      source.unwrap(ageKey(RECIPIENT, wrapped.enc), ctx({ SOPS_AGE_KEY: other, SOPS_AGE_KEY_FILE: undefined })),
      (e: unknown) =>
        e instanceof SopsError &&
        /no age identity matches recipient age1tsopstest1\S+: tried .*SOPS_AGE_KEY \(1 identity, 1 for an age plugin\)/.test(
          e.message,
        ) &&
        !e.message.includes(other.slice(25)),
    );
  });

  test('commands the client does not know are answered "unsupported"', async () => {
    const dataKey = randomBytes(32);
    const e = ctx({ TSOPSTEST_UNKNOWN: '1', TSOPSTEST_LOG: logFile });
    const enc = await source.wrap(ageKey(RECIPIENT), dataKey, e);
    await clearAgeIdentityCache();
    assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), e), dataKey);
    assert.deepEqual(
      pluginRuns().map((r) => r.answers[0]),
      [['unsupported'], ['unsupported']],
    );
  });
});

describe('user requests', () => {
  const asked: string[] = [];
  const ui = (answers: { secret?: string; public?: string; yes?: boolean; fail?: boolean }): PluginUI => ({
    message: (t) => void asked.push(`msg ${t}`),
    requestValue: (prompt, secret, plugin) => {
      asked.push(`${secret ? 'secret' : 'public'} ${plugin} ${prompt}`);
      if (answers.fail) {
        return Promise.reject(new Error(`cannot ask for the secret age-plugin-${plugin} asks for: no terminal`));
      }
      return Promise.resolve((secret ? answers.secret : answers.public) ?? '');
    },
    confirm: (prompt, yes, no) => {
      asked.push(`confirm ${prompt} [${yes}|${no}]`);
      return Promise.resolve(answers.yes ?? true);
    },
  });

  test('msg, confirm, request-public and request-secret reach the UI; the answers reach the plugin', async () => {
    asked.length = 0;
    const e = {
      ...env,
      TSOPSTEST_MSG: 'touch your key\x1b[31m',
      TSOPSTEST_CONFIRM: '1',
      TSOPSTEST_PUBLIC: '1',
      TSOPSTEST_PIN: '4711',
      TSOPSTEST_LOG: logFile,
    };
    const fileKey = randomBytes(16);
    const stanzas = await wrapFileKey(RECIPIENT, fileKey, { env: e, ui: ui({ secret: '4711', public: 'Ann' }) });
    assert.deepEqual(await unwrapFileKey(ID, stanzas, { env: e, ui: ui({ secret: '4711', public: 'Ann' }) }), fileKey);
    assert.deepEqual(asked.filter((a) => !a.includes('waiting on')).slice(0, 4), [
      'msg age: tsopstest plugin: touch your key [31m', // control characters never reach the terminal
      'confirm Really use the tsopstest key? [Go on|Stop]',
      'public tsopstest Your name:',
      'secret tsopstest Enter the tsopstest PIN:',
    ]);
    const runs = pluginRuns();
    assert.equal(runs[0]!.publicValue, 'Ann');
    assert.deepEqual(runs[0]!.answers, [['ok'], ['ok', 'yes'], ['ok'], ['ok'], ['ok']]);
  });

  test('a wrong PIN, a "no", an unanswerable request: one line each', async () => {
    const e = { ...env, TSOPSTEST_PIN: '4711' };
    await assert.rejects(wrapFileKey(RECIPIENT, randomBytes(16), { env: e, ui: ui({ secret: '0000' }) }), {
      message: 'age-plugin-tsopstest: wrong PIN',
    });
    await assert.rejects(
      wrapFileKey(RECIPIENT, randomBytes(16), { env: { ...env, TSOPSTEST_CONFIRM: '1' }, ui: ui({ yes: false }) }),
      { message: 'age-plugin-tsopstest: the user said stop' },
    );
    // the plugin is answered "fail", gives up; the reason shown is why the user could not be asked
    await assert.rejects(wrapFileKey(RECIPIENT, randomBytes(16), { env: e, ui: ui({ fail: true }) }), {
      message: 'cannot ask for the secret age-plugin-tsopstest asks for: no terminal',
    });
  });

  test('a plugin that stays silent is ended after the timeout and reaped; so is one that reports an error', async () => {
    const pidFile = sb.path('plugin.pid');
    const gone = () => {
      // (a machine so slow that the plugin's script had not started is ended all the same)
      if (!fs.existsSync(pidFile)) return;
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      fs.rmSync(pidFile);
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the plugin process is gone');
    };
    const e = { ...env, TSOPSTEST_PIDFILE: pidFile };
    await assert.rejects(
      wrapFileKey(RECIPIENT, randomBytes(16), { env: { ...e, TSOPSTEST_HANG: '1' }, timeoutMs: 2000 }),
      (err: unknown) =>
        err instanceof PluginError && /^age-plugin-tsopstest did not answer within 2000 ms$/.test(err.message),
    );
    gone();
    await assert.rejects(unwrapFileKey(ID, [], { env: { ...e, TSOPSTEST_ERROR: 'broken' } }), {
      message: 'age-plugin-tsopstest: broken',
    });
    gone();
  });
});

describe('the CLI', () => {
  const plain = sb.write('s.yaml', 'password: hunter2\n');
  /** A file for the plugin recipient alone, written by `tsops encrypt`. */
  let file = '';
  before(async () => {
    const enc = await run(['encrypt', '--age', RECIPIENT, plain], { env });
    assert.equal(enc.code, 0, enc.stderr);
    file = sb.write('plugin.enc.yaml', enc.stdout);
  });

  test('a file for an X25519 and a plugin recipient opens with either identity', async () => {
    const enc = await run(['encrypt', '--age', `${AGE_RECIPIENT},${RECIPIENT}`, plain], { env });
    assert.equal(enc.code, 0, enc.stderr);
    const both = sb.write('both.enc.yaml', enc.stdout);
    const withPlugin = await run(['decrypt', both], { env: { ...env, TSOPSTEST_LOG: logFile } });
    assert.equal(withPlugin.stdout, 'password: hunter2\n', withPlugin.stderr);
    // as in sops, each age entry of the file is tried with every identity: the plugin sees the
    // X25519 entry first (not its stanza: no file key) and then its own
    assert.deepEqual(
      pluginRuns().map((r) => r.answers.length),
      [0, 1],
    );
    const withX25519 = await run(['decrypt', both], {
      env: { ...env, SOPS_AGE_KEY_FILE: undefined, SOPS_AGE_KEY: AGE_IDENTITY, TSOPSTEST_LOG: logFile },
    });
    assert.equal(withX25519.stdout, 'password: hunter2\n', withX25519.stderr);
    assert.deepEqual(pluginRuns(), [], 'the X25519 key opened it: no plugin started');
  });

  test('a plugin not in PATH, a plugin error, a plugin that dies: one line, exit code, plugin stderr passed on', async () => {
    const nosuch = bech32Encode('age1nosuch', randomBytes(32));
    const missing = await run(['encrypt', '--age', nosuch, plain], { env });
    assert.equal(missing.code, 128);
    assert.equal(lines(missing.stderr).length, 1, missing.stderr);
    assert.match(missing.stderr, /age plugin age-plugin-nosuch not found in PATH/);

    const failing = await run(['encrypt', '--age', RECIPIENT, plain], {
      env: { ...env, TSOPSTEST_ERROR: 'the token is locked' },
    });
    assert.equal(failing.code, 128);
    assert.equal(lines(failing.stderr).length, 1, failing.stderr);
    assert.match(failing.stderr, /age-plugin-tsopstest: the token is locked$/m);

    const dies = await run(['decrypt', file], { env: { ...env, TSOPSTEST_EXIT: '3' } });
    assert.equal(dies.code, 128);
    assert.deepEqual(
      lines(dies.stderr).map((l) => l.replace(/^.*?(age-plugin-tsopstest)/, '$1')),
      [
        'age-plugin-tsopstest: exiting early on purpose',
        'age-plugin-tsopstest exited (exit status 3) before finishing',
      ],
    );
  });

  test('request-secret without a terminal: one line, no hang', async () => {
    // detached: a new session without a controlling terminal, so /dev/tty cannot be opened
    const child = spawn(process.execPath, [BIN, 'decrypt', file], {
      env: { ...env, TSOPSTEST_PIN: '4711' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 128);
    assert.equal(lines(stderr).length, 1, stderr);
    assert.match(stderr, /cannot ask for the secret age-plugin-tsopstest asks for: no terminal/);
  });

  test('request-secret on a real terminal (tmux): the PIN typed there opens the file, never echoed', async (t) => {
    if (!have('tmux')) return t.skip('tmux is not installed');
    const out = sb.path('tty.out');
    const term = new TmuxTerminal(sb.dir, 'pin', { ...env, TSOPSTEST_PIN: '4711', TSOPSTEST_MSG: 'hello there' });
    try {
      term.start([process.execPath, BIN, 'decrypt', file], `> '${out}'`);
      await term.waitScreen('Enter the tsopstest PIN:');
      assert.match(term.screen(), /tsopstest plugin: hello there/);
      term.type('4711');
      assert.equal(await term.exitCode(), '0');
      assert.equal(fs.readFileSync(out, 'utf8'), 'password: hunter2\n');
      assert.ok(!term.screen().includes('4711'), 'the PIN is not echoed');
    } finally {
      term.close();
    }
  });
});

describe('the real age CLI (Debian age 1.1.1) with the same plugin', () => {
  const haveAge = have('age');

  test('age -d -i IDENTITY_FILE decrypts the enc block tsops wrote', async (t) => {
    if (!haveAge) return t.skip('age is not installed');
    const dataKey = randomBytes(32);
    const enc = await source.wrap(ageKey(RECIPIENT), dataKey, ctx());
    const out = execFileSync('age', ['-d', '-i', idFile], { input: enc, env });
    assert.deepEqual(out, dataKey);
  });

  test('tsops opens an enc block made by age -r age1tsopstest1… -a', async (t) => {
    if (!haveAge) return t.skip('age is not installed');
    const dataKey = randomBytes(32);
    const enc = execFileSync('age', ['-r', RECIPIENT, '-a'], { input: dataKey, env }).toString();
    await clearAgeIdentityCache();
    assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), ctx()), dataKey);
  });
});
