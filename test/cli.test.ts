/**
 * The command line as scripts, helm-secrets and CI call it: sops's words, flags, environment
 * variables and exit codes; .sops.yaml lookup; files untouched on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'tsops');
const AGE_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_R = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

let dir: string;
let home: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsops-cli-'));
  home = mkdtempSync(join(tmpdir(), 'tsops-cli-home-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { env?: Record<string, string>; input?: string | Buffer; cwd?: string } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? dir,
    env: { PATH: process.env.PATH ?? '', HOME: home, ...opts.env },
    input: opts.input,
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

const withKey = { SOPS_AGE_KEY: AGE_ID };

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

function encryptTo(name: string, text: string): string {
  const p = write(name, text);
  const r = run(['encrypt', '--age', AGE_R, '--in-place', p]);
  assert.equal(r.code, 0, r.stderr);
  return p;
}

describe('encrypt and decrypt', () => {
  test('subcommands, legacy -e/-d, and helm-secrets forms', () => {
    const p = write('a.yaml', 'password: hunter2\nport: 5432\n');
    const enc = run(['encrypt', '--age', AGE_R, p]);
    assert.equal(enc.code, 0, enc.stderr);
    assert.match(enc.stdout, /password: ENC\[AES256_GCM,/);
    assert.match(enc.stdout, /mac: ENC\[AES256_GCM,data:.*,type:str\]/, 'helm-secrets looks for mac.*,type:str]');
    assert.match(enc.stdout, /^sops:$/m, 'helm-secrets looks for sops:');
    const e = write('a.enc.yaml', enc.stdout);
    for (const args of [
      ['decrypt', e],
      ['-d', e],
      ['--decrypt', '--input-type', 'yaml', '--output-type', 'yaml', e],
      ['decrypt', '--input-type', 'yaml', '--output-type', 'yaml', '/dev/stdin'],
    ]) {
      const r = run(args, { env: withKey, input: readFileSync(e) });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, 'password: hunter2\nport: 5432\n', args.join(' '));
    }
    const legacy = run(['-e', '--age', AGE_R, p]);
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stdout, /password: ENC\[/);
  });

  test('--extract, --output, --output-type json, standard input', () => {
    const e = encryptTo('b.yaml', 'db:\n    user: admin\n    pass: s3cret\nlist:\n    - 1\n    - two\n');
    assert.equal(run(['decrypt', '--extract', '["db"]["pass"]', e], { env: withKey }).stdout, 's3cret');
    assert.equal(run(['-d', '--extract', '["db"]', e], { env: withKey }).stdout, 'user: admin\npass: s3cret\n');
    assert.equal(run(['-d', '--extract', '["list"][0]', e], { env: withKey }).stdout.trim(), '1');
    const bad = run(['-d', '--extract', '["nope"]', e], { env: withKey });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not found/);
    assert.equal(run(['-d', '--extract', 'db.pass', e], { env: withKey }).code, 91);
    const out = join(dir, 'b.out.json');
    const r = run(['-d', '--output-type', 'json', '--output', out, e], { env: withKey });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), {
      db: { user: 'admin', pass: 's3cret' },
      list: [1, 'two'],
    });
    const viaStdin = run(['encrypt', '--age', AGE_R, '--input-type', 'json', '--filename-override', 'k.json'], {
      input: '{"k":"v"}',
    });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.equal(
      run(['decrypt', '--input-type', 'json'], { env: withKey, input: viaStdin.stdout }).stdout,
      '{\n\t"k": "v"\n}\n',
    );
    assert.equal(run(['decrypt'], { env: withKey, input: viaStdin.stdout }).code, 100, 'stdin needs a type');
  });

  test('--in-place keeps the mode and writes atomically', () => {
    const p = write('mode.yaml', 'a: b\n');
    chmodSync(p, 0o640);
    assert.equal(run(['encrypt', '--age', AGE_R, '-i', p]).code, 0);
    assert.equal(statSync(p).mode & 0o777, 0o640);
    assert.match(readFileSync(p, 'utf8'), /a: ENC\[/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tsops-')),
      [],
      'no temp files left',
    );
    assert.equal(run(['decrypt', '-i', p], { env: withKey }).code, 0);
    assert.equal(readFileSync(p, 'utf8'), 'a: b\n');
    assert.equal(statSync(p).mode & 0o777, 0o640);
  });
});

describe('failures: one line, sops exit code, nothing changed', () => {
  test('already encrypted → 203', () => {
    const e = encryptTo('c.yaml', 'a: b\n');
    const before = readFileSync(e);
    const r = run(['encrypt', '--age', AGE_R, '-i', e]);
    assert.equal(r.code, 203);
    assert.match(r.stderr, /already encrypted/);
    assert.deepEqual(readFileSync(e), before);
  });

  test('no identity → 128, naming the key tried', () => {
    const e = encryptTo('d.yaml', 'a: b\n');
    const r = run(['decrypt', e]);
    assert.equal(r.code, 128);
    assert.match(r.stderr, new RegExp(AGE_R));
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  });

  test('wrong MAC → 51 unless --ignore-mac; tampered value → 25', () => {
    const e = encryptTo('e.yaml', 'a: b\nc: d\n');
    const text = readFileSync(e, 'utf8');
    const swapped = write('e2.yaml', text.replace(/^c: .*\n/m, ''));
    const r = run(['decrypt', swapped], { env: withKey });
    assert.equal(r.code, 51, r.stderr);
    assert.match(r.stderr, /MAC mismatch/);
    assert.equal(run(['decrypt', '--ignore-mac', swapped], { env: withKey }).stdout, 'a: b\n');
    const flipped = write(
      'e3.yaml',
      text.replace(/(a: ENC\[AES256_GCM,data:)(.)/, (_m, p: string, ch: string) => p + (ch === 'A' ? 'B' : 'A')),
    );
    assert.equal(run(['decrypt', flipped], { env: withKey }).code, 25);
  });

  test('malformed input names the file; missing file → 100 (sops); not a sops file', () => {
    const bad = write('bad.yaml', 'a: [unclosed\n');
    const r = run(['encrypt', '--age', AGE_R, '-i', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad\.yaml/);
    assert.equal(readFileSync(bad, 'utf8'), 'a: [unclosed\n');
    const badJson = write('bad.json', '{"a": }');
    const j = run(['encrypt', '--age', AGE_R, badJson]);
    assert.notEqual(j.code, 0);
    assert.match(j.stderr, /bad\.json/);
    assert.equal(run(['decrypt', join(dir, 'missing.yaml')]).code, 100);
    // an encrypted file damaged by hand: the fast load skips the full YAML check, the failure runs it
    const damaged = encryptTo('damaged.yaml', 'db:\n    host: h\n    port: 1\n');
    const text = readFileSync(damaged, 'utf8').replace('\n    port:', '\n     port:');
    writeFileSync(damaged, text);
    const dm = run(['decrypt', damaged], { env: withKey });
    assert.equal(dm.code, 2, dm.stderr);
    assert.match(dm.stderr, /damaged\.yaml: could not parse the yaml file: .*line \d+/);
    const plain = write('plain.yaml', 'a: b\n');
    const np = run(['decrypt', plain], { env: withKey });
    assert.notEqual(np.code, 0);
    assert.match(np.stderr, /sops metadata not found/);
  });

  test('no keys and no config → the message sops prints, exit 1; unknown format → clear error', () => {
    const p = write('nokeys/x.yaml', 'a: b\n');
    const r = run(['encrypt', p], { cwd: join(dir, 'nokeys') });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^config file not found, or has no creation rules, and no keys provided through command line options/,
    );
    assert.match(r.stderr, /--age/);
    assert.match(run(['decrypt', '--input-type', 'toml', p]).stderr, /input-type/);
  });

  test('--shamir-secret-sharing-threshold: one parser for every command, as Go parses an int flag', () => {
    const p = write('threshold/x.yaml', 'a: b\n');
    const enc = encryptTo('threshold/e.yaml', 'a: b\n');
    for (const args of [
      ['encrypt', '--age', AGE_R, '--shamir-secret-sharing-threshold', 'two', p],
      ['groups', 'add', '--file', enc, '--age', AGE_R, '--shamir-secret-sharing-threshold', 'two'],
      ['updatekeys', '-y', '--shamir-secret-sharing-threshold', 'two', enc],
    ]) {
      const r = run(args, { env: withKey });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(
        r.stderr,
        /^invalid value "two" for flag --shamir-secret-sharing-threshold: parse error/,
        args.join(' '),
      );
    }
    // Go syntax: 0x1 is 1; with one key group nothing is split, as sops
    const ok = run(['encrypt', '--age', AGE_R, '--shamir-secret-sharing-threshold', '0x1', p], { env: withKey });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('--help explains the commands and flags', () => {
    const r = run(['--help']);
    assert.equal(r.code, 0);
    for (const w of ['encrypt', 'decrypt', '--age', '--extract', '--in-place']) assert.match(r.stdout, new RegExp(w));
    const d = run(['decrypt', '--help']);
    assert.match(d.stdout, /--ignore-mac/);
  });
});

describe('.sops.yaml lookup and rules from the command line', () => {
  test('rule chosen by path relative to the config; nested folders; first match wins', () => {
    const proj = join(dir, 'proj');
    mkdirSync(join(proj, 'prod', 'deep'), { recursive: true });
    mkdirSync(join(proj, 'dev'), { recursive: true });
    writeFileSync(
      join(proj, '.sops.yaml'),
      `creation_rules:\n  - path_regex: ^prod/\n    age: ${AGE_R}\n    encrypted_regex: ^secret$\n  - path_regex: dev/.*\\.yaml$\n    age: ${AGE_R}\n`,
    );
    writeFileSync(join(proj, 'prod', 'deep', 'x.yaml'), 'secret: s\nplain: p\n');
    const fromSub = run(['encrypt', 'x.yaml'], { cwd: join(proj, 'prod', 'deep') });
    assert.equal(fromSub.code, 0, fromSub.stderr);
    assert.match(fromSub.stdout, /plain: p/);
    assert.match(fromSub.stdout, /encrypted_regex: \^secret\$/);
    writeFileSync(join(proj, 'dev', 'y.yaml'), 'secret: s\nplain: p\n');
    const fromRoot = run(['encrypt', 'dev/y.yaml'], { cwd: proj });
    assert.equal(fromRoot.code, 0, fromRoot.stderr);
    assert.match(fromRoot.stdout, /plain: ENC\[/);
    // the file's folder is searched even when the working directory is elsewhere (sops issue 242)
    const fromElsewhere = run(['encrypt', join(proj, 'prod', 'deep', 'x.yaml')], { cwd: dir });
    assert.equal(fromElsewhere.code, 0, fromElsewhere.stderr);
    writeFileSync(join(proj, 'other.yaml'), 'a: b\n');
    const none = run(['encrypt', 'other.yaml'], { cwd: proj });
    assert.equal(none.code, 1); // sops: error loading config: no matching creation rules found
    assert.match(none.stderr, /^error loading config: no matching creation rules found .*no creation rule/);
  });

  test('--config and SOPS_CONFIG; stdin with --filename-override', () => {
    const cfg = write(
      'cfgs/custom.yaml',
      `creation_rules:\n  - path_regex: \\.json$\n    age: ${AGE_R}\n    unencrypted_suffix: _pub\n`,
    );
    const p = write('cfg-target/v.json', '{"a_pub": "x", "b": "y"}');
    const viaFlag = run(['encrypt', '--config', cfg, p]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.match(viaFlag.stdout, /"a_pub": "x"/);
    const viaEnv = run(['encrypt', p], { env: { SOPS_CONFIG: cfg } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const viaStdin = run(['encrypt', '--config', cfg, '--filename-override', 'x.json'], { input: '{"k_pub": "1"}' });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.match(viaStdin.stdout, /"k_pub": "1"/);
  });

  test('a typo in .sops.yaml: ignored as sops ignores it, with a loud warning naming the closest key; an error with TSOPS_STRICT_CONFIG=1 and in `config check`', () => {
    // behaviour change (issue 9): sops accepts this file (the rule matches every file), so tsops does too
    const proj = join(dir, 'typo');
    mkdirSync(proj, { recursive: true });
    writeFileSync(join(proj, '.sops.yaml'), `creation_rules:\n  - path_regx: ^prod/\n    age: ${AGE_R}\n`);
    writeFileSync(join(proj, 'x.yaml'), 'a: b\n');
    const r = run(['encrypt', 'x.yaml'], { cwd: proj });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ENC\[AES256_GCM/);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => l.includes('path_regx')).length, 2, r.stderr);
    assert.match(
      r.stderr,
      /^warning: creation_rules\[0\] of \S+\.sops\.yaml has no path_regex, so it matches EVERY file .*instead of path_regx\?$/m,
    );
    assert.match(
      r.stderr,
      /^warning: unknown key path_regx in creation_rules\[0\] of \S+ \(did you mean path_regex\?\)/m,
    );
    const strict = run(['encrypt', 'x.yaml'], { cwd: proj, env: { TSOPS_STRICT_CONFIG: '1' } });
    assert.equal(strict.code, 5);
    assert.equal(strict.stdout, '');
    assert.match(strict.stderr, /path_regx/);
    const check = run(['config', 'check'], { cwd: proj });
    assert.equal(check.code, 5);
    assert.match(check.stdout, /^warning: creation_rules\[0\] .* has no path_regex/m);
    assert.match(check.stdout, /^warning: unknown key path_regx/m);
    assert.match(check.stderr, /2 problems/);
    writeFileSync(join(proj, 'good.yaml'), `creation_rules:\n  - path_regex: ^prod/\n    age: ${AGE_R}\n`);
    const good = run(['config', 'check', '--config', 'good.yaml'], { cwd: proj });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /good\.yaml: no problems/);
    assert.equal(run(['config', 'check'], { cwd: '/' }).code, 61);
  });
});

describe('lazy loading', () => {
  test('an age-only decrypt loads no age library, no PGP code and no cloud SDK', () => {
    const e = encryptTo('lazy.yaml', 'a: b\n');
    const probe = write(
      'probe.mjs',
      `import { decryptFile } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};\n` +
        `import { createRequire } from 'node:module';\n` +
        `const out = await decryptFile(${JSON.stringify(e)});\n` +
        `const loaded = Object.keys(createRequire(import.meta.url).cache);\n` +
        `process.stdout.write(JSON.stringify({ out, loaded }));\n`,
    );
    const loader = write(
      'trace.mjs',
      `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n`,
    );
    const reg = write(
      'register.mjs',
      `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + loader)});\n`,
    );
    const r = spawnSync(process.execPath, ['--import', reg, probe], {
      env: { PATH: process.env.PATH ?? '', HOME: home, ...withKey },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).out, 'a: b\n');
    const urls =
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('LOAD '))
        .join('\n') +
      '\n' +
      (JSON.parse(r.stdout) as { loaded: string[] }).loaded.join('\n');
    assert.match(urls, /\/keys\/age\/client\.js/, 'the trace sees the age key source');
    // X25519 age runs on node:crypto: not even the age library loads
    for (const heavy of [
      'age-encryption',
      '@noble',
      'openpgp',
      '@aws-sdk',
      '@google-cloud',
      '@azure',
      'google-gax',
      '/keys/age/plugin',
      '@huaweicloud',
      '/keys/pgp/client',
      '/keys/pgp/gpg',
      '/keys/pgp/openpgp',
      '/keys/kms/client',
      '/keys/gcpkms/client',
      '/keys/azkv/client',
      '/keys/hcvault/client',
      '/keys/hckms/client',
    ]) {
      assert.ok(!urls.includes(heavy), `${heavy} was loaded`);
    }
  });
});
