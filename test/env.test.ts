// The Node env loader: `loadEnv()` in-process (which file, dotenv's override rule, flat YAML/JSON,
// errors) and `node --import tsops/register` as a real child process of the built package (dist),
// with the demo age key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/fixtures.js';
import { Sandbox } from './helpers/editing.js';
import { encrypt } from '../src/api.js';
import { loadEnv } from '../src/env/env.js';
import { ExitCode, SopsError } from '../src/errors.js';

const DEMO_KEYS = path.join(ROOT, 'fixtures', 'demo', 'keys.txt');
const DEMO_RECIPIENT = 'age1rjwtrlxchak4vm9h6q4933lmflr7k8x4vrsz92qszwm9y00zjp9q4x7ra4';

let sb: Sandbox;
let keyEnv: NodeJS.ProcessEnv;

before(() => {
  sb = new Sandbox('tsops-env-test-');
  keyEnv = { ...sb.env, SOPS_AGE_KEY: undefined, SOPS_AGE_KEY_FILE: DEMO_KEYS };
});
after(() => sb.cleanup());

async function encFile(dir: string, name: string, plain: string, format?: 'dotenv' | 'yaml' | 'json'): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const text = await encrypt(plain, { filename: name, format, age: [DEMO_RECIPIENT], env: keyEnv });
  fs.writeFileSync(path.join(dir, name), text);
}

test('loadEnv: the default .env.enc (dotenv), existing variables win unless override; YAML/JSON flat files; errors', async () => {
  const dir = sb.path('app1');
  await encFile(dir, '.env.enc', 'DB_PASSWORD=hunter2\nAPI_TOKEN=t0k3n\nPORT=5432\n', 'dotenv');
  const target: NodeJS.ProcessEnv = { PORT: '8080' };
  const parsed = await loadEnv({ cwd: dir, env: keyEnv, target });
  assert.deepEqual(parsed, { DB_PASSWORD: 'hunter2', API_TOKEN: 't0k3n', PORT: '5432' });
  assert.deepEqual(target, { PORT: '8080', DB_PASSWORD: 'hunter2', API_TOKEN: 't0k3n' }, 'PORT was set: it stays');
  const over: NodeJS.ProcessEnv = { PORT: '8080' };
  await loadEnv({ cwd: dir, env: { ...keyEnv, TSOPS_ENV_OVERRIDE: '1' }, target: over });
  assert.equal(over['PORT'], '5432');

  await encFile(dir, 'conf.yaml', 'name: app\nreplicas: 3\nratio: 1.5\n');
  const y: NodeJS.ProcessEnv = {};
  await loadEnv({ cwd: dir, env: { ...keyEnv, TSOPS_ENV_FILE: 'conf.yaml' }, target: y });
  assert.deepEqual(y, { name: 'app', replicas: '3', ratio: '1.5' });
  await encFile(dir, 'nested.json', '{"db": {"password": "x"}}');
  await assert.rejects(loadEnv({ cwd: dir, env: keyEnv, path: 'nested.json', target: {} }), /complex value.*"db"/);

  // nothing named, no default file: nothing happens; a named file that is missing is an error
  assert.deepEqual(await loadEnv({ cwd: sb.path(), env: keyEnv, target: {} }), {});
  await assert.rejects(loadEnv({ cwd: dir, env: keyEnv, path: 'missing.env', target: {} }), (e: unknown) => {
    assert.ok(e instanceof SopsError);
    assert.equal(e.code, ExitCode.NoFileSpecified);
    return true;
  });
  // no key: sops's code, no value in the message
  const noKey = { ...sb.env, SOPS_AGE_KEY: undefined, SOPS_AGE_KEY_FILE: undefined };
  await assert.rejects(loadEnv({ cwd: dir, env: noKey, target: {} }), (e: unknown) => {
    assert.ok(e instanceof SopsError);
    assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
    assert.doesNotMatch(e.message, /hunter2/);
    return true;
  });
});

test('node --import tsops/register: the values are in process.env before the app runs (built package)', async () => {
  const dir = sb.path('app2');
  await encFile(dir, '.env.enc', 'DB_PASSWORD=hunter2\nGREETING=hello world\nHOME_SET=from-file\n', 'dotenv');
  // the app resolves `tsops` as an installed package: node_modules/tsops → the repository (dist/)
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'tsops'));
  fs.writeFileSync(
    path.join(dir, 'app.mjs'),
    'console.log(JSON.stringify({ p: process.env.DB_PASSWORD, g: process.env.GREETING, h: process.env.HOME_SET }));\n',
  );
  const node = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsops/register', 'app.mjs'], { cwd: dir, env, encoding: 'utf8' });

  const r = node({ ...keyEnv, HOME_SET: 'from-env' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { p: 'hunter2', g: 'hello world', h: 'from-env' });
  const o = node({ ...keyEnv, HOME_SET: 'from-env', TSOPS_ENV_OVERRIDE: '1' });
  assert.deepEqual(JSON.parse(o.stdout), { p: 'hunter2', g: 'hello world', h: 'from-file' });

  // no env file: a silent no-op
  fs.renameSync(path.join(dir, '.env.enc'), path.join(dir, 'prod.env'));
  const none = node(keyEnv);
  assert.equal(none.status, 0, none.stderr);
  assert.equal(none.stderr, '');
  assert.deepEqual(JSON.parse(none.stdout), {});
  // TSOPS_ENV_FILE names it
  const named = node({ ...keyEnv, TSOPS_ENV_FILE: 'prod.env' });
  assert.deepEqual(JSON.parse(named.stdout), { p: 'hunter2', g: 'hello world', h: 'from-file' });
  // no key: one line, sops's code, the app never runs
  const noKey = node({ ...sb.env, SOPS_AGE_KEY: undefined, TSOPS_ENV_FILE: 'prod.env' });
  assert.equal(noKey.status, ExitCode.CouldNotRetrieveKey);
  assert.equal(noKey.stdout, '');
  assert.match(noKey.stderr, /^tsops\/register: .+\n$/);
});
