// The bundled CLI (scripts/bundle.mjs → dist/tsops.cjs with its code cache, and dist/tsops.mjs) and
// bin/tsops's choice between it and the compiled sources. The bundle is built into a temp folder, so
// the test never touches dist/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers/fixtures.js';

const AGE_IDENTITY = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

function esbuildInstalled(): boolean {
  return fs.existsSync(path.join(ROOT, 'node_modules', 'esbuild', 'package.json'));
}

/** A package layout in a temp folder: bin/ (the real one), package.json, node_modules linked. */
function layout(dir: string): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'bin', 'tsops'), path.join(dir, 'bin', 'tsops'));
  fs.copyFileSync(path.join(ROOT, 'bin', 'package.json'), path.join(dir, 'bin', 'package.json'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
}

function cleanEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(SOPS_|EDITOR$|VISUAL$|GNUPGHOME$|AWS_|GOOGLE_|AZURE_|VAULT_|XDG_|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), SOPS_AGE_KEY: AGE_IDENTITY };
}

describe('the bundled CLI', { skip: esbuildInstalled() ? false : 'esbuild is not installed' }, () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(dir, 'bin', 'tsops'), ...args], { env, cwd: dir, encoding: 'utf8' });

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-bundle-'));
    layout(dir);
    fs.mkdirSync(path.join(dir, 'home'));
    env = cleanEnv(path.join(dir, 'home'));
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle.mjs'), path.join(dir, 'dist')], {
      encoding: 'utf8',
    });
    assert.equal(b.status, 0, b.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'dist', 'tsops.cjs')), 'dist/tsops.cjs written');
    assert.ok(fs.existsSync(path.join(dir, 'dist', 'tsops.cjs.cache')), 'its code cache written');
    assert.ok(fs.existsSync(path.join(dir, 'dist', 'tsops.mjs')), 'dist/tsops.mjs written');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('encrypts and decrypts YAML and JSON, with the lazily loaded stores and age', () => {
    const cases: Array<[string, string]> = [
      ['a.yaml', 'name: tsops\nport: 8080\nratio: 1.5\nenabled: true\nlist:\n    - first\n    - second\n'],
      ['b.json', '{\n\t"name": "tsops",\n\t"n": 3\n}\n'],
    ];
    for (const [name, text] of cases) {
      const plain = path.join(dir, name);
      fs.writeFileSync(plain, text);
      const enc = run('encrypt', '--age', AGE_RECIPIENT, plain);
      assert.equal(enc.status, 0, enc.stderr);
      assert.match(enc.stdout, /ENC\[AES256_GCM,data:/);
      assert.ok(!enc.stdout.includes('tsops'), 'the value is encrypted');
      const encFile = path.join(dir, name.replace('.', '.enc.'));
      fs.writeFileSync(encFile, enc.stdout);
      const dec = run('decrypt', encFile);
      assert.equal(dec.status, 0, dec.stderr);
      assert.equal(dec.stdout, text);
    }
  });

  test("keeps sops's exit codes and one-line errors", () => {
    const r = run('decrypt', path.join(dir, 'missing.yaml'));
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const v = run('--version');
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^sops \d+\.\d+\.\d+ \(tsops \d/);
  });

  test('runs the one-file bundle with the code cache the build made', () => {
    const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'tsops'), '--version'], {
      env: { ...env, NODE_DEBUG: 'tsops' },
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /tsops\.cjs: code cache used/);
    // a cache that does not fit (other V8 flags) is refused by V8: the bundle still runs
    const other = spawnSync(process.execPath, ['--no-opt', path.join(dir, 'bin', 'tsops'), '--version'], {
      env: { ...env, NODE_DEBUG: 'tsops' },
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(other.status, 0, other.stderr);
    assert.match(other.stderr, /tsops\.cjs: code cache rejected/);
    assert.equal(other.stdout, r.stdout);
  });

  test('an age decryption loads no cloud SDK, OpenPGP.js, gRPC, regex engine or YAML library for a plain file', () => {
    const plain = path.join(dir, 'lazy.yaml');
    fs.writeFileSync(plain, 'a: 1\nb: [x, z]\n');
    const enc = run('encrypt', '--age', AGE_RECIPIENT, plain);
    assert.equal(enc.status, 0, enc.stderr);
    const encFile = path.join(dir, 'lazy.enc.yaml');
    fs.writeFileSync(encFile, enc.stdout);
    // every module Node loads, through require() or import
    const probe = path.join(dir, 'probe.cjs');
    fs.writeFileSync(
      probe,
      `const Module = require('node:module');\n` +
        `const load = Module._load;\n` +
        `Module._load = function (request, ...rest) { process.stderr.write('LOAD ' + request + '\\n'); return load.call(this, request, ...rest); };\n` +
        `Module.register('data:text/javascript,' + encodeURIComponent("export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\\\n'); return r; }"));\n`,
    );
    const r = spawnSync(process.execPath, ['--require', probe, path.join(dir, 'bin', 'tsops'), 'decrypt', encFile], {
      env,
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'a: 1\nb:\n    - x\n    - z\n');
    assert.match(r.stderr, /^LOAD .*tsops/m, 'the probe sees the loads');
    for (const heavy of [
      '@aws-sdk',
      '@smithy',
      '@azure',
      '@google-cloud',
      'google-gax',
      '@grpc',
      '@huaweicloud',
      'openpgp',
      're2js',
      'yaml/dist',
      'node:child_process',
    ])
      assert.ok(!r.stderr.includes(heavy), `${heavy} was loaded:\n${r.stderr}`);
  });

  test('loads no cloud SDK or OpenPGP.js at start: they are only imported dynamically', () => {
    const dist = path.join(dir, 'dist');
    const seen = new Set<string>();
    const staticImports = (file: string): string[] => {
      const src = fs.readFileSync(file, 'utf8');
      return [...src.matchAll(/(?:^|[;}\s])import\s*(?:[\w$*{}\s,]+from\s*)?["']([^"']+)["']/g)].map((m) => m[1]!);
    };
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
        else assert.match(spec, /^node:/, `${path.relative(dist, file)} imports ${spec} at start`);
      }
    };
    visit(path.join(dist, 'tsops.mjs'));
    assert.ok(seen.size > 1, 'the entry imports its shared chunks');
  });
});

describe('bin/tsops', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-bin-'));
    layout(dir);
    fs.mkdirSync(path.join(dir, 'dist', 'src', 'cli'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'dist', 'tsops.cjs'),
      `exports.main = async function (argv) { process.stdout.write('bundle ' + argv.join(' ')); return 7; };\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'dist', 'src', 'cli', 'main.js'),
      `export async function main(argv) { process.stdout.write('sources ' + argv.join(' ')); return 7; }\n`,
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (bin = path.join(dir, 'bin', 'tsops')) =>
    spawnSync(process.execPath, [bin, 'decrypt', 'x'], { encoding: 'utf8' });
  const setTimes = (bundle: number, sources: number) => {
    fs.utimesSync(path.join(dir, 'dist', 'tsops.cjs'), bundle, bundle);
    fs.utimesSync(path.join(dir, 'dist', 'src', 'cli', 'main.js'), sources, sources);
  };

  test('runs the bundle when it is at least as new as the compiled sources, with the exit code of main()', () => {
    setTimes(2_000_000, 1_000_000);
    const r = run();
    assert.equal(r.stdout, 'bundle decrypt x');
    assert.equal(r.status, 7);
  });

  test('a stale or foreign code cache is not used', () => {
    setTimes(2_000_000, 1_000_000);
    const cache = path.join(dir, 'dist', 'tsops.cjs.cache');
    fs.writeFileSync(cache, 'not a V8 code cache');
    try {
      fs.utimesSync(cache, 3_000_000, 3_000_000);
      assert.equal(run().stdout, 'bundle decrypt x', 'V8 refuses it');
      fs.utimesSync(cache, 1_000_000, 1_000_000);
      assert.equal(run().stdout, 'bundle decrypt x', 'older than the bundle: not read');
    } finally {
      fs.rmSync(cache);
    }
  });

  test('a copy of bin/tsops without bin/package.json (an ES module there) runs the same way', () => {
    setTimes(2_000_000, 1_000_000);
    const other = path.join(dir, 'other-bin');
    fs.mkdirSync(other, { recursive: true });
    fs.copyFileSync(path.join(dir, 'bin', 'tsops'), path.join(other, 'tsops'));
    const r = run(path.join(other, 'tsops'));
    assert.equal(r.stdout, 'bundle decrypt x', r.stderr);
    assert.equal(r.status, 7);
  });

  test('runs the compiled sources when they were rebuilt after the bundle', () => {
    setTimes(1_000_000, 2_000_000);
    assert.equal(run().stdout, 'sources decrypt x');
  });

  test('runs the compiled sources when there is no bundle', () => {
    fs.rmSync(path.join(dir, 'dist', 'tsops.cjs'));
    assert.equal(run().stdout, 'sources decrypt x');
  });
});
