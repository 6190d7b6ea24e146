// The PGP key source: gpg as sops runs it, the OpenPGP.js fallback, and messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import * as openpgp from 'openpgp';
import { source } from '../src/keys/pgp/client.js';
import { parsePgpFingerprints } from '../src/keys/pgp/key.js';

const pgpFingerprintsFromString = (s: string) => parsePgpFingerprints(s).map((k) => k.fp);
import type { KeyContext, PgpKey } from '../src/keys/types.js';
import { ExitCode } from '../src/errors.js';
import { decryptParsed, parseEncrypted } from '../src/aes/cipher.js';
import { oracleAvailable, sopsDecrypt, closeOracle } from './helpers/sops-oracle.js';
import { FIXTURES } from './helpers/fixtures.js';
import { sopsFailure } from './helpers/failures.js';

const FP1 = 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'; // rsa2048
const FP2 = 'D7229043384BCC60326C6FB9D8720D957C3D3074'; // rsa1024

const KEYS = path.join(FIXTURES, 'keys', 'sops_functional_tests_key.asc');
const FORMAT = fs.readFileSync(path.join(FIXTURES, 'format.enc.yaml'), 'utf8');
const FORMAT_ENC = (parse(FORMAT) as { sops: { pgp: Array<{ enc: string; fp: string }> } }).sops.pgp[0]!.enc;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-pgp-test-'));
const NO_GPG = path.join(tmpRoot, 'no-such-gpg');
const homes: string[] = [];

function newGnupgHome(importKeys: boolean): string {
  const home = fs.mkdtempSync(path.join(tmpRoot, 'gnupg-'));
  fs.chmodSync(home, 0o700);
  homes.push(home);
  if (importKeys)
    execFileSync('gpg', ['--batch', '--import', KEYS], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' });
  return home;
}

const hasGpg = (() => {
  try {
    execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const noGpg = !hasGpg && 'gpg not installed';

let gnupghome = '';
before(() => {
  if (hasGpg) gnupghome = newGnupgHome(true);
});
after(async () => {
  for (const home of homes) {
    try {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      /* no agent was started */
    }
  }
  fs.rmSync(tmpRoot, { recursive: true, force: true });
  await closeOracle();
});

function gpgEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { GNUPGHOME: gnupghome, HOME: tmpRoot, ...extra };
  if (process.env.PATH) env.PATH = process.env.PATH;
  return env;
}
const ctx = (env: NodeJS.ProcessEnv): KeyContext => ({ env, log: () => {} });
const pgpKey = (fp: string, enc = ''): PgpKey => ({ type: 'pgp', fp, enc });

const failure = (p: Promise<unknown>) => sopsFailure(p, { oneLine: false });

function assertArmored(enc: string): void {
  assert.match(enc, /^-----BEGIN PGP MESSAGE-----\n[\s\S]+\n-----END PGP MESSAGE-----$/);
}

// --- fingerprints ----------------------------------------------------------------------------------

test('parsePgpFingerprints: comma-separated, spaces removed, kept as given', () => {
  assert.deepEqual(pgpFingerprintsFromString(`${FP1}, ${FP2}`), [FP1, FP2]);
  assert.deepEqual(pgpFingerprintsFromString('FBC7 B9E2 A4F9 289A C0C1  D484 3D16 CEE4 A273 81B4'), [FP1]);
  assert.deepEqual(pgpFingerprintsFromString('fbc7b9e2a4f9289ac0c1d4843d16cee4a27381b4,'), [
    'fbc7b9e2a4f9289ac0c1d4843d16cee4a27381b4',
  ]);
  assert.deepEqual(pgpFingerprintsFromString(''), []);
});

// --- gpg -------------------------------------------------------------------------------------------

test('gpg decrypts the data key real sops wrote, which decrypts the file', { skip: noGpg }, async () => {
  const key = await source.unwrap(pgpKey(FP1, FORMAT_ENC), ctx(gpgEnv()));
  assert.equal(key.length, 32);
  const foo = /^foo: (ENC\[.*\])$/m.exec(FORMAT)![1]!;
  assert.equal(decryptParsed(parseEncrypted(foo), key, 'foo:').toString('utf8'), 'bar');
});

test(
  'gpg round trip with an imported, uncertified key; the data key never in argv',
  { skip: (noGpg || process.platform === 'win32') && 'needs gpg and a POSIX shell' },
  async () => {
    const log = path.join(tmpRoot, 'argv.log');
    const wrapper = path.join(tmpRoot, 'gpg-wrapper.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec gpg "$@"\n`, { mode: 0o755 });
    const env = gpgEnv({ SOPS_GPG_EXEC: wrapper });
    const key = randomBytes(32);
    const enc = await source.wrap(pgpKey(FP1), key, ctx(env));
    assertArmored(enc);
    assert.deepEqual(await source.unwrap(pgpKey(FP1, enc), ctx(env)), key);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(calls, [
      `--no-default-recipient --yes --encrypt -a -r ${FP1} --trusted-key 3D16CEE4A27381B4 --no-encrypt-to`,
      '-d',
    ]);
    const argv = calls.join(' ');
    for (const form of [key.toString('hex'), key.toString('base64'), key.toString('latin1')])
      assert.ok(!argv.includes(form));
  },
);

test("a missing secret key: gpg's reason in one line, exit code 128", { skip: noGpg }, async () => {
  const empty = newGnupgHome(false);
  const e = await failure(source.unwrap(pgpKey(FP1, FORMAT_ENC), ctx({ ...gpgEnv(), GNUPGHOME: empty })));
  assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
  assert.match(
    e.message,
    new RegExp(`^could not decrypt the data key with PGP key ${FP1}: gpg: .*No secret key.*\\(exit status 2\\)$`),
  );
  assert.ok(!e.message.includes('\n'));
});

test('wrapping to a key gpg does not have', { skip: noGpg }, async () => {
  const fp = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';
  const e = await failure(source.wrap(pgpKey(fp), randomBytes(32), ctx(gpgEnv())));
  assert.match(
    e.message,
    /^could not encrypt the data key to PGP key ABCDEF0123456789ABCDEF0123456789ABCDEF01: gpg: .*No public key/,
  );
});

test(
  'a gpg that hangs is stopped by the timeout',
  { skip: process.platform === 'win32' && 'needs a POSIX shell' },
  async () => {
    const slow = path.join(tmpRoot, 'slow-gpg.sh');
    fs.writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const env = { PATH: process.env.PATH ?? '', SOPS_GPG_EXEC: slow, TSOPS_GPG_TIMEOUT: '0.3' };
    const e = await failure(source.unwrap(pgpKey(FP1, FORMAT_ENC), ctx(env)));
    assert.match(e.message, /timed out after 0\.3 s/);
  },
);

test('without gpg and without key files: a message saying what to install or set', async () => {
  const e = await failure(source.unwrap(pgpKey(FP1, FORMAT_ENC), ctx({ SOPS_GPG_EXEC: NO_GPG })));
  assert.match(e.message, /GnuPG was not found .*from SOPS_GPG_EXEC.*set TSOPS_PGP_PRIVATE_KEYS/);
  const w = await failure(source.wrap(pgpKey(FP1), randomBytes(32), ctx({ SOPS_GPG_EXEC: NO_GPG })));
  assert.match(w.message, /GnuPG was not found .*set TSOPS_PGP_PUBLIC_KEYS/);
});

// --- OpenPGP.js fallback ---------------------------------------------------------------------------

test('OpenPGP.js decrypts what real sops wrote, without gpg', async () => {
  const key = await source.unwrap(
    pgpKey(FP1, FORMAT_ENC),
    ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PRIVATE_KEYS: KEYS }),
  );
  const foo = /^foo: (ENC\[.*\])$/m.exec(FORMAT)![1]!;
  assert.equal(decryptParsed(parseEncrypted(foo), key, 'foo:').toString('utf8'), 'bar');
});

test('OpenPGP.js wraps what gpg unwraps (2048- and 1024-bit keys)', { skip: noGpg }, async () => {
  for (const fp of [FP1, FP2]) {
    const key = randomBytes(32);
    const enc = await source.wrap(
      pgpKey(fp),
      key,
      ctx({
        SOPS_GPG_EXEC: NO_GPG,
        TSOPS_PGP_PUBLIC_KEYS: `${path.join(tmpRoot, 'missing.asc')}${path.delimiter}${KEYS}`,
      }),
    );
    assertArmored(enc);
    assert.deepEqual(await source.unwrap(pgpKey(fp, enc), ctx(gpgEnv())), key);
  }
});

test('gpg wraps what OpenPGP.js unwraps', { skip: noGpg }, async () => {
  const key = randomBytes(33);
  const enc = await source.wrap(pgpKey(FP2), key, ctx(gpgEnv()));
  assert.deepEqual(
    await source.unwrap(pgpKey(FP2, enc), ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PRIVATE_KEYS: KEYS })),
    key,
  );
});

test('OpenPGP.js: keys not in the files, and passphrase-protected keys, are reported', async () => {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'locked' }],
    passphrase: 'hunter2 hunter2',
    format: 'armored',
  });
  const pub = path.join(tmpRoot, 'locked.pub.asc');
  const priv = path.join(tmpRoot, 'locked.sec.asc');
  fs.writeFileSync(pub, publicKey);
  fs.writeFileSync(priv, privateKey);
  const fp = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
  const enc = await source.wrap(
    pgpKey(fp),
    randomBytes(32),
    ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PUBLIC_KEYS: pub }),
  );
  assertArmored(enc);

  const locked = await failure(
    source.unwrap(pgpKey(fp, enc), ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PRIVATE_KEYS: priv })),
  );
  assert.match(locked.message, /passphrase-protected/);
  assert.match(locked.message, /GnuPG was not found/);
  assert.ok(!locked.message.includes('hunter2'));

  const publicOnly = await failure(
    source.unwrap(pgpKey(fp, enc), ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PRIVATE_KEYS: pub })),
  );
  assert.match(
    publicOnly.message,
    /no matching secret key for key ID [0-9A-F]{16} in TSOPS_PGP_PRIVATE_KEYS: \S+locked\.pub\.asc \(1 key\)/,
  );

  const notThere = await failure(
    source.wrap(pgpKey(FP1), randomBytes(32), ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PUBLIC_KEYS: pub })),
  );
  assert.match(
    notThere.message,
    new RegExp(`no public key ${FP1} in the key files: \\S+locked\\.pub\\.asc \\(1 key\\)`),
  );
});

test('with key files set, a key they lack still goes through gpg', { skip: noGpg }, async () => {
  const other = path.join(tmpRoot, 'only-key2.asc');
  const armored = execFileSync('gpg', ['--armor', '--export', FP2], {
    env: { ...process.env, GNUPGHOME: gnupghome },
  }).toString();
  fs.writeFileSync(other, armored);
  const key = randomBytes(32);
  const enc = await source.wrap(pgpKey(FP1), key, ctx(gpgEnv({ TSOPS_PGP_PUBLIC_KEYS: other })));
  assert.deepEqual(await source.unwrap(pgpKey(FP1, enc), ctx(gpgEnv({ TSOPS_PGP_PRIVATE_KEYS: other }))), key);
});

// --- real sops -------------------------------------------------------------------------------------

test('real sops decrypts the fixture with its data key re-wrapped by OpenPGP.js', async (t) => {
  if (!hasGpg || !(await oracleAvailable())) return t.skip('needs gpg and the real-sops oracle');
  const key = await source.unwrap(
    pgpKey(FP1, FORMAT_ENC),
    ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PRIVATE_KEYS: KEYS }),
  );
  const enc = await source.wrap(pgpKey(FP1), key, ctx({ SOPS_GPG_EXEC: NO_GPG, TSOPS_PGP_PUBLIC_KEYS: KEYS }));
  const indented = enc
    .split('\n')
    .map((l) => (l ? `            ${l}` : l))
    .join('\n');
  const file = FORMAT.replace(/enc: \|-\n[\s\S]*?-----END PGP MESSAGE-----/, `enc: |-\n${indented}`);
  assert.notEqual(file, FORMAT);
  const r = await sopsDecrypt(file, 'yaml', { GNUPGHOME: gnupghome });
  assert.equal(r.error, '');
  assert.deepEqual(JSON.parse(r.output), { foo: 'bar' });
});
