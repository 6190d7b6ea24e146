/**
 * The command line flag for flag as sops 3.13 has it: the exit code of every failure sops's CLI
 * reports (one table), the contradictory flag combinations it refuses before touching a file,
 * short flags, help/completion/version, output format from the file name, sops's log and error
 * lines that clients grep, and a closed output pipe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures.js';

const BIN = join(ROOT, 'bin', 'tsops');
const AGE_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_R = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

let dir: string;
let home: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsops-surface-'));
  home = mkdtempSync(join(tmpdir(), 'tsops-surface-home-'));
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

function run(
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Buffer; cwd?: string; shell?: string } = {},
): Run {
  const env = { PATH: process.env.PATH ?? '', HOME: home, ...opts.env };
  const r = opts.shell
    ? spawnSync('/bin/sh', ['-c', opts.shell], {
        cwd: opts.cwd ?? dir,
        env: { ...env, TSOPS: `${process.execPath} ${BIN}` },
        input: opts.input,
        timeout: 60_000,
      })
    : spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir, env, input: opts.input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

const withKey = { SOPS_AGE_KEY: AGE_ID };

function write(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

function encrypted(name: string, text: string): string {
  const p = write(name, text);
  const r = run(['encrypt', '--age', AGE_R, '-i', p]);
  assert.equal(r.code, 0, r.stderr);
  return p;
}

describe('exit codes: every one sops 3.13 defines that its CLI produces, with the case that produces it', () => {
  // sops's cmd/sops/codes. Not listed: 4 ErrorDumpingTree, 21/23 encrypting MAC/tree (need a
  // failing cipher), 61 ConfigFileNotFound and 111 NoEncryptionKeyFound (defined, not returned by
  // the 3.13 CLI), 85 KeyboardInterrupt (a signal), 202 FailedToCompareVersions (tsops never asks the
  // network about versions).
  const cases: { code: number; name: string; args: () => string[]; env?: Record<string, string>; message?: RegExp }[] =
    [
      {
        code: 1,
        name: 'ErrorGeneric: no keys and no .sops.yaml',
        args: () => ['encrypt', write('g/plain.yaml', 'a: 1\n')],
        message: /^config file not found, or has no creation rules, and no keys provided through command line options/,
      },
      {
        code: 1,
        name: 'ErrorGeneric: --value-file with --value-stdin',
        args: () => ['set', '--value-file', '--value-stdin', encrypted('g/vf.yaml', 'a: 1\n'), '["a"]'],
        message: /^Error: cannot use both --value-file and --value-stdin/,
      },
      {
        code: 1,
        name: 'ErrorGeneric: decrypting a file that is not encrypted',
        args: () => ['decrypt', write('g/notenc.yaml', 'a: 1\n')],
        env: withKey,
        message: /sops metadata not found/,
      },
      {
        code: 2,
        name: 'CouldNotReadInputFile: a folder',
        args: () => (mkdirSync(join(dir, 'afolder'), { recursive: true }), ['decrypt', join(dir, 'afolder')]),
      },
      {
        code: 3,
        name: 'CouldNotWriteOutputFile: --output into a missing folder',
        args: () => ['decrypt', '--output', join(dir, 'missing', 'out.yaml'), encrypted('w.yaml', 'a: 1\n')],
        env: withKey,
      },
      {
        code: 6,
        name: 'ErrorInvalidKMSEncryptionContextFormat',
        args: () => ['encrypt', '--age', AGE_R, '--encryption-context', 'nocolon', write('ctx.yaml', 'a: 1\n')],
        message: /encryption context/i,
      },
      {
        code: 7,
        name: 'ErrorInvalidSetFormat: bad index',
        args: () => ['set', encrypted('s.yaml', 'a: 1\n'), 'a', '"x"'],
        env: withKey,
        message: /^Invalid set index format/,
      },
      {
        code: 8,
        name: 'ErrorConflictingParameters: -i with --output',
        args: () => ['decrypt', '-i', '--output', join(dir, 'x.yaml'), encrypted('c.yaml', 'a: 1\n')],
        env: withKey,
        message: /^Error: cannot operate on both --output and --in-place$/m,
      },
      // sops 3.13.2's DecryptTree: a MAC that does not decrypt is a MacMismatch (51), not ErrorDecryptingMac (24)
      {
        code: 51,
        name: 'MacMismatch: the MAC ciphertext changed',
        args: () => ['decrypt', tamper('m24.yaml', /^( {4}mac: ENC\[AES256_GCM,data:)[^,]*/m, '$1AAAA')],
        env: withKey,
      },
      {
        code: 25,
        name: 'ErrorDecryptingTree: a value ciphertext changed',
        args: () => ['decrypt', tamper('t25.yaml', /^(a: ENC\[AES256_GCM,data:)[^,]*/m, '$1AAAA')],
        env: withKey,
      },
      {
        code: 49,
        name: 'CannotChangeKeysFromNonExistentFile',
        args: () => ['rotate', '--add-age', AGE_R, join(dir, 'nothere.yaml')],
      },
      {
        code: 51,
        name: 'MacMismatch: an unencrypted value changed',
        args: () => ['decrypt', tamper('m51.yaml', /^b_unencrypted: x$/m, 'b_unencrypted: y')],
        env: withKey,
      },
      {
        code: 91,
        name: 'InvalidTreePathFormat: --extract',
        args: () => ['decrypt', '--extract', 'a', encrypted('x91.yaml', 'a: 1\n')],
        env: withKey,
      },
      {
        code: 100,
        name: 'NoFileSpecified: no arguments at all',
        args: () => [],
        message: /^Error: no file specified$/m,
      },
      {
        code: 100,
        name: 'NoFileSpecified: a missing file',
        args: () => ['decrypt', join(dir, 'nothere.yaml')],
        message: /^Error: cannot operate on non-existent file ".*nothere\.yaml"$/m,
      },
      {
        code: 112,
        name: 'DuplicateDecryptionKeyType',
        args: () => ['decrypt', '--decryption-order', 'age,pgp,age', encrypted('d.yaml', 'a: 1\n')],
        env: withKey,
        message: /^Duplicate decryption key type: age$/m,
      },
      {
        code: 128,
        name: 'CouldNotRetrieveKey: no identity',
        args: () => ['decrypt', encrypted('k.yaml', 'a: 1\n')],
        env: { SOPS_AGE_KEY_FILE: join(dir, 'no-keys.txt') },
      },
      {
        code: 200,
        name: 'FileHasNotBeenModified: edit, editor changes nothing',
        args: () => [encrypted('e200.yaml', 'a: 1\n')],
        env: { ...withKey, EDITOR: 'true', SOPS_EDITOR: 'true' },
      },
      {
        code: 201,
        name: 'NoEditorFound',
        args: () => [encrypted('e201.yaml', 'a: 1\n')],
        env: { ...withKey, PATH: join(dir, 'empty-path') },
      },
      {
        code: 203,
        name: 'FileAlreadyEncrypted',
        args: () => ['encrypt', '--age', AGE_R, encrypted('ae.yaml', 'a: 1\n')],
      },
    ];

  function tamper(name: string, re: RegExp, by: string): string {
    const p = encrypted(name, 'a: 1\nb_unencrypted: x\n');
    const text = readFileSync(p, 'utf8');
    assert.match(text, re);
    writeFileSync(p, text.replace(re, by));
    return p;
  }

  for (const c of cases) {
    test(`${c.code} ${c.name}`, () => {
      const r = run(c.args(), { env: c.env });
      assert.equal(r.code, c.code, `stderr: ${r.stderr}`);
      if (c.message) assert.match(r.stderr, c.message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line on stderr: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/, 'no stack trace');
    });
  }
});

describe('contradictory flags are refused before any file is touched', () => {
  test('decrypt -i --output (sops exit 8): the encrypted file stays, no output file appears', () => {
    const p = encrypted('io.yaml', 'secret: hunter2\n');
    const before = readFileSync(p);
    const out = join(dir, 'io-out.yaml');
    for (const args of [
      ['decrypt', '-i', '--output', out, p],
      ['-d', '-i', '--output', out, p],
      ['encrypt', '--age', AGE_R, '-i', '--output', out, p],
    ]) {
      const r = run(args, { env: withKey });
      assert.equal(r.code, 8, `${args.join(' ')}: ${r.stderr}`);
      assert.deepEqual(readFileSync(p), before, 'the file is unchanged');
      assert.throws(() => readFileSync(out), /ENOENT/);
    }
  });

  test('-i with standard input, and encrypt from standard input without --filename-override (8)', () => {
    assert.equal(run(['decrypt', '-i'], { input: 'x' }).code, 8);
    const enc = run(['encrypt', '--age', AGE_R, '--input-type', 'yaml'], { input: 'a: 1\n' });
    assert.equal(enc.code, 8);
    assert.match(enc.stderr, /^Error: must specify --filename-override when reading from stdin$/m);
    const ok = run(['encrypt', '--age', AGE_R, '--filename-override', 'x.yaml'], { input: 'a: 1\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^a: ENC\[/m);
  });

  test('missing file on encrypt, decrypt, -e, -d, -r: exit 100 with the absolute path', () => {
    const missing = join(dir, 'no-such.yaml');
    for (const args of [
      ['encrypt', '--age', AGE_R, missing],
      ['decrypt', missing],
      ['-e', '--age', AGE_R, missing],
      ['-d', missing],
      ['-r', missing],
    ]) {
      const r = run(args);
      assert.equal(r.code, 100, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `Error: cannot operate on non-existent file ${JSON.stringify(missing)}\n`);
    }
  });
});

describe('flags as sops spells them', () => {
  test('-a, -p, -k short flags on encrypt, edit and the legacy form', () => {
    const p = write('short.yaml', 'a: 1\n');
    const sub = run(['encrypt', '-a', AGE_R, p]);
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, new RegExp(`recipient: ${AGE_R}`));
    const legacy = run(['-e', '-a', AGE_R, p]);
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stdout, new RegExp(`recipient: ${AGE_R}`));
    // -p and -k reach the PGP and KMS parsers (an invalid value is reported as such, not as an unknown flag)
    for (const [flag, what] of [
      ['-p', 'not-a-fingerprint'],
      ['-k', 'not-an-arn'],
    ] as const) {
      const r = run(['encrypt', flag, what, p]);
      assert.doesNotMatch(r.stderr, /unknown option/, `${flag}: ${r.stderr}`);
    }
    const help = run(['edit', '--help']);
    assert.match(help.stdout, /-a, --age/);
    assert.match(help.stdout, /-p, --pgp/);
    assert.match(help.stdout, /-k, --kms/);
  });

  test('sops global flags are accepted where sops accepts them, with no network', () => {
    const p = encrypted('glob.yaml', 'a: 1\n');
    for (const args of [
      ['--disable-version-check', 'decrypt', p],
      ['--disable-version-check', '-d', p],
      ['--check-for-updates', '-d', p],
      ['--enable-local-keyservice', '-d', p],
      ['decrypt', '--enable-local-keyservice', p],
    ]) {
      const r = run(args, { env: withKey });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, 'a: 1\n');
    }
    const env = run(['-d', p], { env: { ...withKey, SOPS_DISABLE_VERSION_CHECK: '1' } });
    assert.equal(env.code, 0, env.stderr);
    // a key type sops does not know in --decryption-order is passed over (warned), not refused
    const order = run(['decrypt', '--decryption-order', 'nosuch,age', p], { env: withKey });
    assert.equal(order.code, 0, order.stderr);
    assert.match(order.stderr, /level=warning msg=.*nosuch/);
  });

  test('--keyservice: the local keys are asked first, so a remote key service is only a fallback', () => {
    const p = encrypted('ks.yaml', 'a: 1\n');
    // nothing listens on port 1: had the remote been asked first, this would report it
    const r = run(['decrypt', '--keyservice', 'tcp://127.0.0.1:1', p], { env: withKey });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a: 1\n');
    assert.equal(r.stderr, '');
  });
});

describe('help, completion and version', () => {
  test('help, help COMMAND, h; an unknown topic exits 3', () => {
    const top = run(['help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^Usage: tsops/m);
    assert.match(top.stdout, /encrypt/);
    const h = run(['h', 'decrypt']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^Usage: tsops decrypt/m);
    assert.match(run(['help', 'groups', 'add']).stdout, /^Usage: tsops groups add/m);
    const bad = run(['help', 'nope']);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /No help topic for 'nope'/);
  });

  test('completion bash|zsh|fish print scripts built from the real flags; bash completes commands', () => {
    const bash = run(['completion', 'bash']);
    assert.equal(bash.code, 0);
    assert.match(bash.stdout, /complete .*-F _tsops_complete tsops/);
    assert.equal(spawnSync('bash', ['-n'], { input: bash.stdout }).status, 0, 'valid bash');
    // drive the completion function as bash would
    const script = `${bash.stdout}\nCOMP_WORDS=(tsops dec); COMP_CWORD=1; _tsops_complete; echo "\${COMPREPLY[*]}"\nCOMP_WORDS=(tsops encrypt --filename-o); COMP_CWORD=2; _tsops_complete; echo "\${COMPREPLY[*]}"`;
    const out = spawnSync('bash', ['-c', script]).stdout.toString();
    assert.deepEqual(out.trim().split('\n'), ['decrypt', '--filename-override']);
    const zsh = run(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef tsops/);
    assert.match(zsh.stdout, /'exec-env:/);
    const fish = run(['completion', 'fish']);
    assert.match(fish.stdout, /complete -c tsops -n '__fish_seen_subcommand_from encrypt' -l age -s a/);
    const bad = run(['completion', 'tcsh']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unsupported shell/);
  });

  test('--version in sops shape: awk $2 is the sops version, Ansible-style ^sops X.Y.Z matches', () => {
    for (const args of [
      ['--version'],
      ['-v'],
      ['--version', '--disable-version-check'],
      ['--disable-version-check', '--version'],
      ['--version', '--check-for-updates'],
    ]) {
      const r = run(args);
      assert.equal(r.code, 0, args.join(' '));
      const first = r.stdout.split('\n')[0] ?? '';
      assert.match(first, /^sops (\d+)\.(\d+)\.(\d+) \(tsops \d+\.\d+\.\d+\)$/, args.join(' '));
      assert.equal(first.split(' ')[1], '3.13.2');
    }
    const piped = run([], { shell: "$TSOPS --version --disable-version-check | awk '{print $2}'" });
    assert.equal(piped.stdout, '3.13.2\n');
  });
});

describe('formats, messages and pipes as clients meet them', () => {
  test('output format comes from the file name, not from --input-type (sops: JSON for a name without extension)', () => {
    const r = run(
      ['encrypt', '--age', AGE_R, '--input-type', 'yaml', '--filename-override', 'test_yaml', '/dev/stdin'],
      { input: 'k: v\n' },
    );
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { k: string; sops: unknown };
    assert.match(data.k, /^ENC\[AES256_GCM,/);
    // and the file decrypts again by its name alone (Ansible's sops_encrypt writes such files twice)
    const p = write('test_yaml', r.stdout);
    const back = run(['decrypt', '--output-type', 'yaml', p], { env: withKey });
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout, 'k: v\n');
  });

  test('--verbose prints sops log lines tools grep (Data key recovered successfully), never values', () => {
    const p = encrypted('verbose.yaml', 'password: hunter2\n');
    const r = run(['--verbose', '-d', p], { env: withKey });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^\[SOPS\]\t time="[^"]+" level=info msg="Data key recovered successfully"$/m);
    assert.doesNotMatch(r.stderr, /hunter2/);
    assert.doesNotMatch(run(['-d', p], { env: withKey }).stderr, /Data key recovered/);
  });

  test('stores: indent in .sops.yaml applies to decrypt output too', () => {
    const sub = join(dir, 'indent');
    write(
      'indent/.sops.yaml',
      `creation_rules:\n  - age: ${AGE_R}\nstores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n`,
    );
    const y = write('indent/a.yaml', 'a:\n    b: 1\n');
    assert.equal(run(['encrypt', '-i', y], { cwd: sub }).code, 0);
    const dy = run(['decrypt', y], { env: withKey, cwd: sub });
    assert.equal(dy.stdout, 'a:\n  b: 1\n', dy.stderr);
    const j = write('indent/a.json', '{"a": {"b": 1}}');
    assert.equal(run(['encrypt', '-i', j], { cwd: sub }).code, 0);
    const dj = run(['decrypt', j], { env: withKey, cwd: sub });
    assert.equal(dj.stdout, '{\n   "a": {\n      "b": 1\n   }\n}\n', dj.stderr);
  });

  test('a closed output pipe ends quietly, with the status of a tool stopped by SIGPIPE', () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => `k${i}: value number ${i}`).join('\n');
    const p = encrypted('big.yaml', `${lines}\n`);
    const r = run([], {
      env: withKey,
      shell: `$TSOPS decrypt ${p} | head -1; echo "status=\${PIPESTATUS:-}"`,
      input: '',
    });
    assert.match(r.stdout, /^k0: value number 0\n/);
    assert.equal(r.stderr, '', 'no stack trace, no message');
    const status = run([], {
      env: withKey,
      shell: `set +e; { $TSOPS decrypt ${p}; echo $? > ${join(dir, 'status')}; } | head -1 >/dev/null`,
    });
    assert.equal(status.stderr, '');
    assert.equal(readFileSync(join(dir, 'status'), 'utf8').trim(), '141');
  });
});
