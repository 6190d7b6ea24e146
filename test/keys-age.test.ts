// The age key source: wrap/unwrap, every identity source sops reads, SSH recipients, messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Decrypter } from 'age-encryption';
import { source, clearAgeIdentityCache } from '../src/keys/age/client.js';
import { parseAgeRecipients } from '../src/keys/age/key.js';

const ageRecipientsFromString = (s: string) => parseAgeRecipients(s).map((k) => k.recipient);
import type { AgeKey, KeyContext } from '../src/keys/types.js';
import { SopsError, ExitCode } from '../src/errors.js';
import { bech32Encode } from '../src/keys/age/bech32.js';
import { shlexSplit } from '../src/keys/age/shlex.js';
import { parseSshPrivateKey, sshKeyTag } from '../src/keys/age/ssh-keys.js';
import { sshIdentity } from '../src/keys/age/ssh-stanzas.js';
import { ed25519SeedToX25519Secret, ed25519ToX25519Public, x25519Base } from '../src/keys/age/x25519.js';
import { oracleAvailable, sopsDecrypt, closeOracle } from './helpers/sops-oracle.js';
import { ROOT } from './helpers/fixtures.js';

// Published test identities (getsops/sops age/keysource_test.go).
const ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';
const OTHER_ID = 'AGE-SECRET-KEY-1432K5YRNSC44GC4986NXMX6GVZ52WTMT9C79CLUVWYY4DKDHD5JSNDP4MC';
const OTHER_RECIPIENT = 'age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep';
// Written by Go age (sops's test data): "data" for ID, and for the SSH key below.
const GO_ENC = `-----BEGIN AGE ENCRYPTED FILE-----
YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBvY2t2NkdLUGRvY3l2OGNy
MVJWcUhCOEZrUG8yeCtnRnhxL0I5NFk4YjJFCmE4SVQ3MEdyZkFqRWpSa2F0NVhF
VDUybzBxdS9nSGpHSVRVMUI0UEVqZkkKLS0tIGJjeGhNQ0Y5L2VZRVVYSm90djFF
bzdnQ3UwTGljMmtrbWNMV1MxYkFzUFUK4xjOZOTGdcbzuwUY/zeBXhcF+Md3e5PQ
EylloI7MNGbadPGb
-----END AGE ENCRYPTED FILE-----`;
const GO_SSH_RECIPIENT = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+Wi8WZw2bXfBpcs/WECttCzP39OkenS6pHWHWGFJvN Test';
const GO_SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACA/lovFmcNm13waXLP1hArbQsz9/TpHp0uqR1h1hhSbzQAAAIgCXDMIAlwz
CAAAAAtzc2gtZWQyNTUxOQAAACA/lovFmcNm13waXLP1hArbQsz9/TpHp0uqR1h1hhSbzQ
AAAEBJdWTJ8dC0OnMcwy4gQ96sp6KG8GE9EiyhFGhKldKiST+Wi8WZw2bXfBpcs/WECttC
zP39OkenS6pHWHWGFJvNAAAABFRlc3QB
-----END OPENSSH PRIVATE KEY-----
`;
const GO_SSH_ENC = `-----BEGIN AGE ENCRYPTED FILE-----
YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNzaC1lZDI1NTE5IDJjd0R4dyB2R3Ns
VUNHaXBiTEJaNU5BMFFQZUpCYWJqODFyTTZ4WWZoRVpUd2M2aTBFCkduUFJHb1U2
K3RqWVQrLzE4anZKZ3h2T3c2MFpZTHlGaHprcElXenByWTAKLS0tIG56MHFSZERl
em9PWmRMMTY4aytYTnVZN04yeER5Z2E3TWxWT3JTZWR2ekUKp/HZLy4MzQqoszGk
+P0hSPPNhOhvFwv4AqCw1+A+WyeHGQPq
-----END AGE ENCRYPTED FILE-----`;
// FiloSottile/age cmd/age/testdata: the header of rsa.age (ssh-rsa stanza, written by Go age) and its key.
const GO_RSA_HEADER = `age-encryption.org/v1
-> ssh-rsa jw/33g
xv12FD3f2d7snIcuXBznTOWAlgCovW1Dqttk9uljWKy3GtRZ3t8jEWkQEOYkOk0M
EHA6sHWfdPLdlS3DjQYjcaLFvwh3+XVKYNzP9MhLg8P8xvxVkn4aiCKd8ivEisp0
bKGi4g/TJz/JKUg1SGbqDg966to0P5AWrkwAD7OMykQToqo56flrKXgFPleSWVWu
umiwbxFYs7ltbRYvjzdpIj9l30lXkzrADP3RrrvTu/qT0IN3PMi3bOqm0kKz0vkd
p4NpxKmfqQXavU+YZiyQL637V3cbKIAEJ1qmpkd2Tr2oUhfD5IgAoT1nC5tCIzRb
DkPwM4k2FJgVX0KKvW3i0+k5tve4XWg82vq2OCj8+sl3A8cLX3g5zhh53DovUBVm
qDU2HWf++3q9kUy1al0sFb2es4ih+tK74nPjBJZtX0n+4lMngz557+XuYnzZ2OkW
QEq3b7Trdidw7Ak9S14tdXhj8oy7J1jdHsQ8/wehAc1v8MuBb1O7LxVIFxzBEBCA

--- QdCY4BN4vwp5jb+AFsyoHkvKW+EneZsZjPURH2tCF18
`;
const GO_RSA_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABlwAAAAdzc2gtcn
NhAAAAAwEAAQAAAYEA1C04rdClHoW4oG4bEGmaNqFy4DLoPJ0358w4XH+XBM3TiWcheouW
kUG6m1yDmHk0t0oaaf4hOnetKovdyQQX73gGaq++rSu5VSvH7LbwABoG6PS/UbuZ4Vl9B0
5WVDqHVE9hNK4AHqBc373GU2mo8z5opKxEprmiS3HSd3K2wiMqL5E8XPOSm0p/isuYK57X
VUexl73tB7iIMLklxjcjtP4REMoQhHKOMOdy2Q15dw5cYG+drtEArBRYkCZmd0Vp2ws9pj
YzPVaOSkbdqSeLu+JVbH1wrwKhuBrA3eVlwjUTWkO4FHcNXkp773Mt4cXhKizTfbR2hQox
Lsj31301Xd7dEpV63sqDW1e+a2L2dhemi8cjDMrPuW6Z19Lbti0quAb4+cSLAaJI4BHd1F
8o9XhK7EHVCdIIIQDKVzo1WyEsDwBjL1LB9rpxm4732sZyue0uygFzmM544QX+WsiJXgHP
uC1Q/ynjLRm6ZMl16MwvY8B/XGQWxlOAbRJQG84fAAAFmEwAjV1MAI1dAAAAB3NzaC1yc2
EAAAGBANQtOK3QpR6FuKBuGxBpmjahcuAy6DydN+fMOFx/lwTN04lnIXqLlpFBuptcg5h5
NLdKGmn+ITp3rSqL3ckEF+94Bmqvvq0ruVUrx+y28AAaBuj0v1G7meFZfQdOVlQ6h1RPYT
SuAB6gXN+9xlNpqPM+aKSsRKa5oktx0ndytsIjKi+RPFzzkptKf4rLmCue11VHsZe97Qe4
iDC5JcY3I7T+ERDKEIRyjjDnctkNeXcOXGBvna7RAKwUWJAmZndFadsLPaY2Mz1WjkpG3a
kni7viVWx9cK8CobgawN3lZcI1E1pDuBR3DV5Ke+9zLeHF4Sos0320doUKMS7I99d9NV3e
3RKVet7Kg1tXvmti9nYXpovHIwzKz7lumdfS27YtKrgG+PnEiwGiSOAR3dRfKPV4SuxB1Q
nSCCEAylc6NVshLA8AYy9Swfa6cZuO99rGcrntLsoBc5jOeOEF/lrIiV4Bz7gtUP8p4y0Z
umTJdejML2PAf1xkFsZTgG0SUBvOHwAAAAMBAAEAAAGBAKytAOu0Wi009sTZ1vzMdMzxJ+
R+ibKK4Oysr1HYJLesKvQwEncBE1C0BYJbEF4OhnCExmpsf+5tZ2iw25a01iX1sIMy9CNK
6lH+h36Gg1wR0n3Ucb+6xck4YyCHCIsT9v8OezW8Riympe8RK07HNtB/gfpCmLx3ZzWvNH
Ix0bq9k5+Su2WKdU4cmyACAZ2+b9DfwBCWaUlXTL8abzuZtF2gR5M6X6bq8/2o3zb2WFwk
O9nf/JxBTCK/jDQEjG+U9MyGxZIW5DeG1nNFtOzJoT8krIkeSOjQ5XQrkjCw+yihSCWMG+
s+SKO77u30SO7OCENsFIXpUzpt6+JmazlXjLW/OdYNooQMHtqCZzVMRgxiy3gDGF35YvgV
VnP5gVEW9HEZ0kD+x4Rl2kB6bV7jMi8BXrazQ1EmTasJFg1pv6iRJWzY1JoP2kRfgiHGL6
OqgrXakqo3hMJuz+JRU2/hlF13743MiIxpcbaaRqURoWuNRLHitVWE35/XVCez0C6OwQAA
AMEAoh106+3JbiZI19iRICR247IoOLpSSed98eQj+l3OYfJ86cQipSjxdSPWcP58yyyElY
d9q6K16sDTLAlRJzF7MFxSc80JY6RgFq/Sy4Jm0/Z10wwJhTgOkxq6IynzLnO7goRirE31
jxGif4nI2IYEQvv6MOD8TWA4axxGMw2StYB6P4R5peozf81oR6m79ERIDSkrm0RYYn931r
gVuxvo3ABVxMtg1lV80LJMayy87Oi8BehGBxMBgsKtQaH8+5h7AAAAwQD+8lJpBcrrHQKk
3o2XAZxB5Fool4f2iuZWTxA1vq0/TCUcEodrdWfLuDeVbDsFemW0vBSkKzf4NlZSs2DAKl
YWT6y18eyDyJXn0TNVTeO3F5mkkX5spqbjDcESSs3whIuDqXU++3sII7iMzGw50tDP4Dw6
TViEVM3anpeqlAbkciR5o9IJx3nRcGh81Bs4gticcRF0vqiJoAhNlSZXR1XMjevwt68i+4
RKPPQsTM7uJLm236VUhDivO1OJcBTLW7MAAADBANUNqH+//G4gIruBO3BsIvbzDw0DgRam
R1tqqn4g53boiv1RPtUJ2GbkCsisy5pU+JdTN7ekFEF8KWuunjImkfVyAiTFsHHmOoXV3Z
EX0mNDXOlKOP2YAIMrDt5CkPdEh6qQG21LCZXTWmwheZ9iN2vOl/fKqUW9lqd/kTe6WsON
hIpZhs2+oz54Riq1ZwzO9NkcYrvZoDKbDopL1r2ibw0mkgCJrxpWi0Yt2Iooh4GXXqP5C9
T8hrZCbrVJkjKd5QAAABtmaWxpcHBvQEJpc3Ryb21hdGgtTTEubG9jYWwBAgMEBQY=
-----END OPENSSH PRIVATE KEY-----
`;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-age-test-'));
after(async () => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
  await closeOracle();
});

let homes = 0;
/** A fresh, empty HOME (so nothing of the user's leaks in) plus the given variables. */
function isolated(extra: Record<string, string> = {}): { env: NodeJS.ProcessEnv; home: string } {
  const home = path.join(tmpRoot, `home-${++homes}`);
  fs.mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = { HOME: home, USERPROFILE: home, APPDATA: path.join(home, 'AppData'), ...extra };
  if (process.env.PATH) env.PATH = process.env.PATH;
  return { env, home };
}

const ctx = (env: NodeJS.ProcessEnv): KeyContext => ({ env, log: () => {} });
const ageKey = (recipient: string, enc = ''): AgeKey => ({ type: 'age', recipient, enc });
const dataKey = () => randomBytes(32);

function writeFile(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

async function roundTrip(recipient: string, env: NodeJS.ProcessEnv, key = dataKey()): Promise<void> {
  const enc = await source.wrap(ageKey(recipient), key, ctx({}));
  const got = await source.unwrap(ageKey(recipient, enc), ctx(env));
  assert.deepEqual(got, key);
}

async function unwrapError(key: AgeKey, env: NodeJS.ProcessEnv): Promise<SopsError> {
  try {
    await source.unwrap(key, ctx(env));
  } catch (e) {
    assert.ok(e instanceof SopsError, `expected a SopsError, got ${String(e)}`);
    return e;
  }
  assert.fail('unwrap succeeded');
}

function wire(...parts: Buffer[]): Buffer {
  return Buffer.concat(
    parts.map((p) => Buffer.concat([Buffer.from([0, 0, (p.length >> 8) & 0xff, p.length & 0xff]), p])),
  );
}

function mpint(b64url: string): Buffer {
  const b = Buffer.from(b64url, 'base64url');
  return b[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), b]) : b;
}

const hasSshKeygen = (() => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
})();

function sshKeygen(file: string, type: 'ed25519' | 'rsa', passphrase = ''): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  execFileSync(
    'ssh-keygen',
    ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', passphrase, '-C', 'test@tsops', '-f', file],
    { stdio: 'ignore' },
  );
  return fs.readFileSync(`${file}.pub`, 'utf8').trim();
}

// --- recipients ------------------------------------------------------------------------------------

test('ageRecipientsFromString trims, splits on commas and keeps recipients as given', () => {
  assert.deepEqual(ageRecipientsFromString(`  ${RECIPIENT}  , ${OTHER_RECIPIENT} ,  ${GO_SSH_RECIPIENT}   `), [
    RECIPIENT,
    OTHER_RECIPIENT,
    GO_SSH_RECIPIENT,
  ]);
  assert.deepEqual(ageRecipientsFromString(''), []);
  assert.deepEqual(ageRecipientsFromString(`${RECIPIENT},`), [RECIPIENT]);
});

test('plugin recipients parse as sops 3.10+ parses them; wrapping without the plugin names the plugin it needs', async () => {
  const plugin = 'age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t';
  // an earlier copy of the parser refused plugin recipients while the one in production accepted them
  assert.deepEqual(ageRecipientsFromString(`${RECIPIENT},${plugin}`), [RECIPIENT, plugin]);
  await assert.rejects(
    source.wrap({ type: 'age', recipient: plugin, enc: '' }, Buffer.alloc(32, 1), { env: {}, log: () => {} }),
    (e: unknown) => e instanceof SopsError && /^age plugin age-plugin-yubikey not found in PATH/.test(e.message),
  );
});

test('ageRecipientsFromString rejects malformed recipients with a clear message', () => {
  const bad = RECIPIENT.slice(0, -1) + (RECIPIENT.endsWith('n') ? 'm' : 'n');
  assert.throws(
    () => ageRecipientsFromString(`${RECIPIENT},${bad}`),
    (e: unknown) => e instanceof SopsError && e.message.includes(bad) && /checksum/.test(e.message),
  );
  assert.throws(() => ageRecipientsFromString('age1short'), /invalid age recipient "age1short"/);
  assert.throws(() => ageRecipientsFromString('pgp-key-here'), /unknown age recipient type/);
  assert.throws(() => ageRecipientsFromString('ssh-dss AAAAB3NzaC1kc3MAAAA'), /unsupported SSH key type "ssh-dss"/);
  assert.throws(() => ageRecipientsFromString('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA'), /invalid SSH recipient/);
  // a secret key given by mistake is refused without being echoed
  assert.throws(
    () => ageRecipientsFromString(ID),
    (e: unknown) =>
      e instanceof SopsError && /identity \(secret key\)/.test(e.message) && !e.message.includes(ID.slice(16)),
  );
});

// --- wrap ------------------------------------------------------------------------------------------

test('wrap writes the armored age file Go age writes, for a data key and a Shamir share', async () => {
  const { env } = isolated({ SOPS_AGE_KEY: ID });
  for (const key of [dataKey(), randomBytes(33)]) {
    const enc = await source.wrap(ageKey(RECIPIENT), key, ctx({}));
    const lines = enc.split('\n');
    assert.equal(lines[0], '-----BEGIN AGE ENCRYPTED FILE-----');
    assert.equal(lines.at(-2), '-----END AGE ENCRYPTED FILE-----');
    assert.equal(lines.at(-1), '', 'a trailing newline');
    const body = lines.slice(1, -2);
    body.slice(0, -1).forEach((l) => assert.equal(l.length, 64));
    assert.ok(body.at(-1)!.length > 0 && body.at(-1)!.length <= 64 && body.at(-1)!.length % 4 === 0);
    const header = Buffer.from(body.join(''), 'base64').toString('latin1');
    assert.match(header, /^age-encryption\.org\/v1\n-> X25519 [A-Za-z0-9+/]{43}\n/);
    assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), ctx(env)), key);
  }
});

test('wrap refuses a malformed recipient', async () => {
  await assert.rejects(
    source.wrap(ageKey('age1nope'), dataKey(), ctx({})),
    (e: unknown) => e instanceof SopsError && /invalid age recipient/.test(e.message),
  );
});

// --- identity sources ------------------------------------------------------------------------------

test('unwraps an age file written by Go age (sops test data)', async () => {
  const { env } = isolated({ SOPS_AGE_KEY: ID });
  assert.equal((await source.unwrap(ageKey(RECIPIENT, GO_ENC), ctx(env))).toString(), 'data');
});

test('SOPS_AGE_KEY: several identities, on lines or one line, with comments and blank lines', async () => {
  await roundTrip(
    RECIPIENT,
    isolated({ SOPS_AGE_KEY: `# created: 2024-01-01\n# public key: ${OTHER_RECIPIENT}\n${OTHER_ID}\n\n${ID}\n` }).env,
  );
  await roundTrip(RECIPIENT, isolated({ SOPS_AGE_KEY: `${OTHER_ID} ${ID}` }).env);
  await roundTrip(RECIPIENT, isolated({ SOPS_AGE_KEY: `${OTHER_ID}\r\n${ID}\r\n` }).env);
});

test('SOPS_AGE_KEY_FILE', async () => {
  const file = writeFile(path.join(tmpRoot, 'keyfile', 'keys.txt'), `# a comment\n${ID}\n`);
  await roundTrip(RECIPIENT, isolated({ SOPS_AGE_KEY_FILE: file }).env);
});

test('SOPS_AGE_KEY_CMD: split like sops (no shell), told the recipient, run once per recipient', async () => {
  const dir = path.join(tmpRoot, 'cmd dir');
  const counter = path.join(dir, 'runs');
  const script = writeFile(
    path.join(dir, 'print key.mjs'),
    `import fs from 'node:fs';
fs.appendFileSync(process.argv[2], process.env.SOPS_AGE_RECIPIENT + '\\n');
if (process.env.SOPS_AGE_RECIPIENT === process.argv[3]) console.log('# key\\n' + process.env.TEST_IDENTITY);`,
  );
  const cmd = `"${process.execPath}" '${script}' "${counter}" ${RECIPIENT}`;
  const { env } = isolated({ SOPS_AGE_KEY_CMD: cmd, TEST_IDENTITY: ID });
  const key = dataKey();
  const enc = await source.wrap(ageKey(RECIPIENT), key, ctx({}));
  assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), ctx(env)), key);
  assert.deepEqual(await source.unwrap(ageKey(RECIPIENT, enc), ctx(env)), key);
  assert.deepEqual(
    fs.readFileSync(counter, 'utf8').trim().split('\n'),
    [RECIPIENT],
    'run once, with SOPS_AGE_RECIPIENT set',
  );

  // for another recipient, the command prints nothing usable
  const otherEnc = await source.wrap(ageKey(OTHER_RECIPIENT), key, ctx({}));
  const e = await unwrapError(ageKey(OTHER_RECIPIENT, otherEnc), env);
  assert.match(e.message, /SOPS_AGE_KEY_CMD \(0 identities\)/);
  assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
});

test('SOPS_AGE_KEY_CMD failures are reported without echoing the command or a secret', async () => {
  const script = writeFile(
    path.join(tmpRoot, 'fail.mjs'),
    `console.error('vault says no to ' + process.env.TEST_IDENTITY); process.exit(3);`,
  );
  const { env } = isolated({ SOPS_AGE_KEY_CMD: `${process.execPath} ${script} ${ID}`, TEST_IDENTITY: ID });
  const e = await unwrapError(ageKey(RECIPIENT, GO_ENC), env);
  assert.match(e.message, /SOPS_AGE_KEY_CMD \(the command failed \(exit status 3\): vault says no to <redacted>\)/);
  assert.ok(!e.message.includes(ID.slice(16)));

  const missing = isolated({ SOPS_AGE_KEY_CMD: 'tsops-no-such-command --flag' }).env;
  assert.match(
    (await unwrapError(ageKey(RECIPIENT, GO_ENC), missing)).message,
    /SOPS_AGE_KEY_CMD \(command not found: "tsops-no-such-command"\)/,
  );
  const unclosed = isolated({ SOPS_AGE_KEY_CMD: `echo "${ID}` }).env;
  const u = await unwrapError(ageKey(RECIPIENT, GO_ENC), unclosed);
  assert.match(u.message, /unclosed double quote/);
  assert.ok(!u.message.includes(ID.slice(16)));
});

test('the default keys file under $XDG_CONFIG_HOME', async () => {
  const xdg = path.join(tmpRoot, 'xdg');
  writeFile(path.join(xdg, 'sops', 'age', 'keys.txt'), `${ID}\n`);
  await roundTrip(RECIPIENT, isolated({ XDG_CONFIG_HOME: xdg }).env);
});

test('the default keys file under the home directory', { skip: process.platform === 'win32' }, async () => {
  const { env, home } = isolated();
  const cfg =
    process.platform === 'darwin' ? path.join(home, 'Library', 'Application Support') : path.join(home, '.config');
  writeFile(path.join(cfg, 'sops', 'age', 'keys.txt'), `${OTHER_ID}\n${ID}\n`);
  await roundTrip(RECIPIENT, env);
});

test('identities are loaded once per environment', async () => {
  const file = writeFile(path.join(tmpRoot, 'cached', 'keys.txt'), `${ID}\n`);
  const { env } = isolated({ SOPS_AGE_KEY_FILE: file });
  await roundTrip(RECIPIENT, env);
  fs.rmSync(file);
  await roundTrip(RECIPIENT, env); // still loaded
  await clearAgeIdentityCache();
  assert.match(
    (await unwrapError(ageKey(RECIPIENT, GO_ENC), env)).message,
    /SOPS_AGE_KEY_FILE=\S+keys\.txt \(missing\)/,
  );
});

// --- failures --------------------------------------------------------------------------------------

test('a wrong identity gives a message naming the recipient and every place tried, and no secret', async () => {
  const { env } = isolated({ SOPS_AGE_KEY: OTHER_ID });
  const e = await unwrapError(ageKey(RECIPIENT, GO_ENC), env);
  assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
  assert.match(e.message, new RegExp(`^no age identity matches recipient ${RECIPIENT}: tried `));
  assert.match(e.message, /SOPS_AGE_KEY \(1 identity\)/);
  const cfg = process.platform === 'darwin' ? '~/Library/Application Support' : '~/.config';
  if (process.platform !== 'win32') {
    assert.ok(e.message.includes(`${cfg}/sops/age/keys.txt (missing)`), e.message);
    assert.ok(e.message.includes('~/.ssh/id_ed25519 (missing)'), e.message);
  }
  assert.match(e.message, /not set: .*SOPS_AGE_KEY_FILE/);
  assert.ok(!e.message.includes(OTHER_ID.slice(16)) && !e.message.includes(ID.slice(16)));
});

test('no identities at all, and a malformed identity line', async () => {
  const none = await unwrapError(ageKey(RECIPIENT, GO_ENC), isolated().env);
  assert.match(none.message, /^no age identities found to decrypt the data key for age1lzd/);

  const secretish = 'AGE-SECRET-KEY-1NOTAVALIDKEYBUTSECRETLOOKING';
  const file = writeFile(path.join(tmpRoot, 'bad', 'keys.txt'), `${ID}\n${secretish}\n`);
  const bad = await unwrapError(ageKey(RECIPIENT, GO_ENC), isolated({ SOPS_AGE_KEY_FILE: file }).env);
  assert.match(bad.message, /SOPS_AGE_KEY_FILE=\S+ \(unusable: line 2 is a malformed age identity/);
  assert.ok(!bad.message.includes('NOTAVALIDKEY'));

  const plugin = await unwrapError(
    ageKey(RECIPIENT, GO_ENC),
    isolated({ SOPS_AGE_KEY: 'AGE-PLUGIN-YUBIKEY-1XYZ' }).env,
  );
  assert.match(plugin.message, /SOPS_AGE_KEY \(unusable: line 1 is a malformed age plugin identity/);
  assert.ok(!plugin.message.includes('XYZ'));
});

test('a malformed encrypted data key', async () => {
  const { env } = isolated({ SOPS_AGE_KEY: ID });
  const e = await unwrapError(ageKey(RECIPIENT, 'not age'), env);
  assert.match(e.message, /not a valid armored age file/);
  const empty = await unwrapError(ageKey(RECIPIENT, ''), env);
  assert.match(empty.message, /no encrypted data key/);
});

// --- SSH keys --------------------------------------------------------------------------------------

test('ssh-ed25519: decrypts a stanza Go age wrote (sops test data)', async () => {
  const file = writeFile(path.join(tmpRoot, 'go-ssh', 'id'), GO_SSH_KEY);
  const { env } = isolated({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: file });
  assert.equal((await source.unwrap(ageKey(GO_SSH_RECIPIENT, GO_SSH_ENC), ctx(env))).toString(), 'data');
});

test('ssh-rsa: unwraps the file key of a stanza Go age wrote (age test data)', async () => {
  const d = new Decrypter();
  const key = parseSshPrivateKey(GO_RSA_KEY);
  assert.equal(sshKeyTag(key.publicKey.blob), 'jw/33g');
  d.addIdentity(sshIdentity(key));
  // resolves only when the unwrapped file key also verifies the header's HMAC
  assert.equal((await d.decryptHeader(new TextEncoder().encode(GO_RSA_HEADER))).length, 16);
});

test('ssh-ed25519 round trip (node-generated PKCS#8 key; SOPS_AGE_SSH_PRIVATE_KEY_FILE)', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const recipient = `ssh-ed25519 ${wire(Buffer.from('ssh-ed25519'), x).toString('base64')} me@host`;
  const file = writeFile(
    path.join(tmpRoot, 'pem-ed', 'key'),
    privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  );
  await roundTrip(recipient, isolated({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: file }).env);
});

test('ssh-rsa round trip (node-generated PKCS#1 key)', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const recipient = `ssh-rsa ${wire(Buffer.from('ssh-rsa'), mpint(jwk.e!), mpint(jwk.n!)).toString('base64')}`;
  const file = writeFile(
    path.join(tmpRoot, 'pem-rsa', 'key'),
    privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
  );
  await roundTrip(recipient, isolated({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: file }).env);
});

test(
  'ssh-keygen keys in ~/.ssh/id_ed25519 and ~/.ssh/id_rsa',
  { skip: !hasSshKeygen && 'ssh-keygen not installed' },
  async () => {
    const { env, home } = isolated();
    const ed = sshKeygen(path.join(home, '.ssh', 'id_ed25519'), 'ed25519');
    const rsa = sshKeygen(path.join(home, '.ssh', 'id_rsa'), 'rsa');
    const key = dataKey();
    await roundTrip(ed, env, key);
    await roundTrip(rsa, env, key);
    // the age recipient ssh-to-age derives from the Ed25519 key is decrypted by the same key file
    const seed = (
      parseSshPrivateKey(fs.readFileSync(path.join(home, '.ssh', 'id_ed25519'), 'utf8')) as { seed: Buffer }
    ).seed;
    const derived = bech32Encode('age', ed25519ToX25519Public(Buffer.from(ed.split(' ')[1]!, 'base64').subarray(-32)));
    assert.deepEqual(
      x25519Base(ed25519SeedToX25519Secret(seed)),
      ed25519ToX25519Public(Buffer.from(ed.split(' ')[1]!, 'base64').subarray(-32)),
    );
    await roundTrip(derived, env, key);
  },
);

test(
  'a passphrase-protected SSH key the file is not for is reported, never asked for',
  { skip: !hasSshKeygen && 'ssh-keygen not installed' },
  async () => {
    // (asking, in a terminal, is tested in keys-age-passphrase.test.ts)
    const file = path.join(tmpRoot, 'enc-ssh', 'id');
    sshKeygen(file, 'ed25519', 'correct horse');
    const other = sshKeygen(path.join(tmpRoot, 'enc-ssh', 'other'), 'ed25519');
    const enc = await source.wrap(ageKey(other), dataKey(), ctx({}));
    const e = await unwrapError(ageKey(other, enc), isolated({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: file }).env);
    assert.match(e.message, /SOPS_AGE_SSH_PRIVATE_KEY_FILE=\S+ \(passphrase-protected ssh-ed25519 key\)/);
    assert.ok(!e.message.includes('correct horse'));
  },
);

test('the wrong SSH key', async () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const recipient = `ssh-ed25519 ${wire(Buffer.from('ssh-ed25519'), x).toString('base64')}`;
  const enc = await source.wrap(ageKey(recipient), dataKey(), ctx({}));
  const file = writeFile(path.join(tmpRoot, 'wrong-ssh', 'id'), GO_SSH_KEY);
  const e = await unwrapError(ageKey(recipient, enc), isolated({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: file }).env);
  assert.match(
    e.message,
    /^no age identity matches recipient ssh-ed25519 AAAA\S+…\S+: tried SOPS_AGE_SSH_PRIVATE_KEY_FILE=\S+ \(ssh-ed25519 key\)/,
  );
});

// --- helpers ---------------------------------------------------------------------------------------

test('shlexSplit splits like google/shlex', () => {
  assert.deepEqual(shlexSplit(`op read "op://vault/age key/private" --no-newline`), [
    'op',
    'read',
    'op://vault/age key/private',
    '--no-newline',
  ]);
  assert.deepEqual(shlexSplit(`a 'b c' d\\ e "f\\"g" h#i # comment`), ['a', 'b c', 'd e', 'f"g', 'h#i']);
  assert.deepEqual(shlexSplit('  '), []);
  assert.throws(() => shlexSplit(`a 'b`), /unclosed single quote/);
});

// --- real sops -------------------------------------------------------------------------------------

test('real sops decrypts a file whose age data key tsops wrapped', async (t) => {
  const fixture = [path.join(ROOT, 'fixtures', 'sops-3.13.2', 'format.enc.yaml')].find((f) => fs.existsSync(f));
  if (!fixture || !(await oracleAvailable())) return t.skip('real-sops oracle or fixture not available');
  // the fixture's data key, recovered with the PGP test key through the openpgp fallback
  const { source: pgp } = await import('../src/keys/pgp/client.js');
  const { parse } = await import('yaml');
  const text = fs.readFileSync(fixture, 'utf8');
  const pgpEnc = (parse(text) as { sops: { pgp: Array<{ enc: string }> } }).sops.pgp[0]!.enc;
  const keys = path.join(path.dirname(fixture), 'keys', 'sops_functional_tests_key.asc');
  const key = await pgp.unwrap(
    { type: 'pgp', fp: 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4', enc: pgpEnc },
    ctx({ TSOPS_PGP_PRIVATE_KEYS: keys, SOPS_GPG_EXEC: path.join(tmpRoot, 'no-gpg') }),
  );
  const enc = await source.wrap(ageKey(RECIPIENT), key, ctx({}));
  const indented = enc
    .split('\n')
    .map((l) => (l ? `            ${l}` : l))
    .join('\n');
  const ageFile = text.replace(
    / {4}pgp:\n[\s\S]*?fp: \S+\n/,
    `    age:\n        - recipient: ${RECIPIENT}\n          enc: |\n${indented}`,
  );
  assert.notEqual(ageFile, text);
  const ok = await sopsDecrypt(ageFile, 'yaml', { SOPS_AGE_KEY: ID });
  assert.equal(ok.error, '');
  assert.deepEqual(JSON.parse(ok.output), { foo: 'bar' });
  const wrong = await sopsDecrypt(ageFile, 'yaml', { SOPS_AGE_KEY: OTHER_ID });
  assert.equal(wrong.ok, false);
});
