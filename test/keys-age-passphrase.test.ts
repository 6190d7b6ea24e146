// Passphrase-protected keys for age, as a user holds them: real `ssh-keygen -N` keys (OpenSSH
// ed25519 and RSA, legacy PEM RSA) and identity files encrypted by Debian's `age -p`, opened by
// `tsops decrypt` in a real terminal (tmux) where the passphrase is typed; without a terminal; with
// a wrong passphrase. The passphrase never shows on the screen, in messages or in arguments; files
// tsops writes for these keys are read by the real sops library (with the same keys unprotected).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { BIN, Sandbox, run } from './helpers/editing.js';
import { loadPlain, newMetadata, sealTree } from '../src/file/file.js';
import { TmuxTerminal, have } from './helpers/terminal.js';
import { closeOracle, oracleAvailable, sopsDecrypt } from './helpers/sops-oracle.js';
import { bech32Encode } from '../src/keys/age/bech32.js';
import { ed25519ToX25519Public } from '../src/keys/age/x25519.js';
import { parseSshPrivateKey, SshKeyEncryptedError, WrongPassphraseError } from '../src/keys/age/ssh-keys.js';

const PASS = 'tr0ub4dor &3 wörds';
const WRONG = 'not-the-passphrase';
const PLAIN = 'user: admin\npassword: s3cr3t-value\n';
const AGE_PLAIN_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_PLAIN_RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

const tools = have('tmux') && have('ssh-keygen');

describe(
  'age: passphrase-protected SSH keys and identity files',
  { skip: !tools && 'tmux or ssh-keygen missing' },
  () => {
    const sb = new Sandbox('tsops-pass-');
    const home = sb.env.HOME!;
    // no identity but the ones each test names
    const baseEnv: NodeJS.ProcessEnv = { ...sb.env, TERM: 'xterm' };
    delete baseEnv.SOPS_AGE_KEY;
    let n = 0;

    /** ssh-keygen; `rounds`: its bcrypt KDF rounds (-a; default 16 as for users, fewer to keep tests fast). */
    function keygen(file: string, type: 'ed25519' | 'rsa', passphrase: string, pem = false, rounds = 16): string {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      execFileSync(
        'ssh-keygen',
        [
          '-q',
          '-t',
          type,
          ...(type === 'rsa' ? ['-b', '2048'] : []),
          ...(pem ? ['-m', 'PEM'] : ['-a', String(rounds)]),
          '-N',
          passphrase,
          '-C',
          'test@tsops',
          '-f',
          file,
        ],
        { stdio: 'ignore' },
      );
      return fs.readFileSync(`${file}.pub`, 'utf8').trim();
    }

    /** Encrypt PLAIN for key groups of age RECIPIENTS (in-process; no identity needed). */
    async function encryptFor(recipients: string | string[][], name: string, threshold = 0): Promise<string> {
      const groups = typeof recipients === 'string' ? [recipients.split(',')] : recipients;
      const { tree, store } = await loadPlain(Buffer.from(PLAIN), 'yaml', { filename: `${name}.yaml` });
      const metadata = newMetadata({
        keyGroups: groups.map((g) => g.map((recipient) => ({ type: 'age' as const, recipient, enc: '' }))),
        shamirThreshold: threshold,
      });
      return sb.write(`${name}.enc.yaml`, await sealTree(tree, metadata, store, { env: baseEnv }));
    }

    /** `tsops decrypt FILE` in a terminal; stdout goes to a file, the screen shows prompts and stderr. */
    function decryptInTerminal(file: string, env: NodeJS.ProcessEnv): { term: TmuxTerminal; out: string } {
      const id = `t${++n}`;
      const out = sb.path(`${id}.out`);
      const term = new TmuxTerminal(sb.dir, id, env);
      term.start([process.execPath, BIN, 'decrypt', file], `> '${out}'`);
      return { term, out };
    }

    /** `tsops decrypt FILE` without a controlling terminal (a new session) and with stdin a pipe. */
    function decryptWithoutTerminal(
      file: string,
      env: NodeJS.ProcessEnv,
    ): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [BIN, 'decrypt', file], { env, detached: true, stdio: 'pipe' });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        child.stdin.end();
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    }

    function assertNoSecretShown(text: string): void {
      assert.ok(!text.includes(PASS) && !text.includes('tr0ub4dor'), `the passphrase was shown:\n${text}`);
      assert.ok(!text.includes(WRONG), `the wrong passphrase was shown:\n${text}`);
    }

    // keys, made once
    const edFile = path.join(home, '.ssh', 'id_ed25519');
    const rsaFile = sb.path('keys', 'id_rsa_openssh');
    const pemFile = sb.path('keys', 'id_rsa_pem');
    let edPub = '';
    let rsaPub = '';
    let pemPub = '';
    const ageRaw = sb.path('keys', 'age-raw.txt');
    const ageEnc = sb.path('keys', 'keys.age');
    let ageRecipient = '';

    before(async () => {
      edPub = keygen(edFile, 'ed25519', PASS, false, 4);
      rsaPub = keygen(rsaFile, 'rsa', PASS, false, 2);
      pemPub = keygen(pemFile, 'rsa', PASS, true);
      if (have('age') && have('age-keygen')) {
        execFileSync('age-keygen', ['-o', ageRaw], { stdio: 'ignore' });
        ageRecipient = /public key: (age1\S+)/.exec(fs.readFileSync(ageRaw, 'utf8'))![1]!;
        // age -p asks for the passphrase on the terminal (twice): type it there
        const term = new TmuxTerminal(sb.dir, 'agep', baseEnv);
        term.start(['age', '-p', '-a', '-o', ageEnc, ageRaw]);
        try {
          await term.waitScreen('Enter passphrase');
          term.type(PASS);
          await term.waitScreen('Confirm passphrase');
          term.type(PASS);
          assert.equal(await term.exitCode(), '0', term.screen());
        } finally {
          term.close();
        }
        assert.match(fs.readFileSync(ageEnc, 'utf8'), /^-----BEGIN AGE ENCRYPTED FILE-----/);
      }
    });
    after(async () => {
      await closeOracle();
      sb.cleanup();
    });

    test('ssh-keygen keys parse as locked, open with the passphrase, refuse a wrong one', async () => {
      for (const f of [edFile, rsaFile, pemFile]) {
        let locked;
        try {
          parseSshPrivateKey(fs.readFileSync(f, 'utf8'));
        } catch (e) {
          assert.ok(e instanceof SshKeyEncryptedError, String(e));
          locked = e.locked;
        }
        assert.ok(locked, `${f} parsed without a passphrase`);
        await assert.rejects(locked.unlock(WRONG), WrongPassphraseError);
        const key = await locked.unlock(PASS);
        const pub = fs.readFileSync(`${f}.pub`, 'utf8').split(' ')[1]!;
        assert.equal(key.publicKey.blob.toString('base64'), pub);
      }
    });

    test('~/.ssh/id_ed25519: the passphrase is asked on the terminal, once, and never shown', async () => {
      // two key groups that both need this key (its ssh-ed25519 recipient and the age recipient
      // ssh-to-age derives from it), threshold 2: one prompt opens both
      const edKey = Buffer.from(edPub.split(' ')[1]!, 'base64').subarray(-32);
      const derived = bech32Encode('age', ed25519ToX25519Public(edKey));
      const file = await encryptFor([[edPub], [derived]], 'groups', 2);
      assert.equal((fs.readFileSync(file, 'utf8').match(/recipient:/g) ?? []).length, 2);

      const { term, out } = decryptInTerminal(file, baseEnv);
      try {
        await term.waitScreen(`Enter passphrase for "${edFile}":`);
        term.type(PASS);
        assert.equal(await term.exitCode(), '0', term.screen());
        assert.equal(fs.readFileSync(out, 'utf8'), PLAIN);
        const screen = term.screen();
        assert.equal(screen.split('Enter passphrase').length - 1, 1, `asked more than once:\n${screen}`);
        assertNoSecretShown(screen);
      } finally {
        term.close();
      }
    });

    test('SOPS_AGE_SSH_PRIVATE_KEY_FILE (RSA): a wrong passphrase is one clear error, exit 128', async () => {
      const file = await encryptFor(rsaPub, 'rsa-wrong');
      const env = { ...baseEnv, SOPS_AGE_SSH_PRIVATE_KEY_FILE: rsaFile };
      const { term, out } = decryptInTerminal(file, env);
      try {
        await term.waitScreen(`Enter passphrase for "${rsaFile}":`);
        term.type(WRONG);
        assert.equal(await term.exitCode(), '128', term.screen());
        const screen = term.screen();
        assert.match(
          screen.replace(/\n/g, ''), // lines wrap at the terminal's width
          /SOPS_AGE_SSH_PRIVATE_KEY_FILE=\S+ \(passphrase-protected ssh-rsa key: wrong passphrase\)/,
        );
        assert.equal(fs.readFileSync(out, 'utf8'), '');
        assertNoSecretShown(screen);
      } finally {
        term.close();
      }
    });

    test('legacy PEM RSA key (ssh-keygen -m PEM): asked for and opened', async () => {
      const file = await encryptFor(pemPub, 'pem');
      const { term, out } = decryptInTerminal(file, { ...baseEnv, SOPS_AGE_SSH_PRIVATE_KEY_FILE: pemFile });
      try {
        await term.waitScreen(`Enter passphrase for "${pemFile}":`);
        term.type(PASS);
        assert.equal(await term.exitCode(), '0', term.screen());
        assert.equal(fs.readFileSync(out, 'utf8'), PLAIN);
        assertNoSecretShown(term.screen());
      } finally {
        term.close();
      }
    });

    test('not asked when the file is not for the protected key; asked keys never block other identities', async () => {
      // ~/.ssh/id_ed25519 is protected, the file is for a plain age key: no prompt at all
      const file = await encryptFor(AGE_PLAIN_RECIPIENT, 'plain-age');
      const { term, out } = decryptInTerminal(file, { ...baseEnv, SOPS_AGE_KEY: AGE_PLAIN_ID });
      try {
        assert.equal(await term.exitCode(), '0', term.screen());
        assert.equal(fs.readFileSync(out, 'utf8'), PLAIN);
        assert.doesNotMatch(term.screen(), /passphrase/i);
      } finally {
        term.close();
      }
    });

    test('without a terminal: one line naming the key file; other identities still decrypt', async () => {
      const file = await encryptFor(edPub, 'no-tty');
      const r = await decryptWithoutTerminal(file, baseEnv);
      assert.equal(r.code, 128, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        /~\/\.ssh\/id_ed25519 \(passphrase-protected ssh-ed25519 key: no terminal to ask for its passphrase\)/,
      );
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      // the same file with a second recipient whose key is at hand: decrypted, nothing asked
      const both = await encryptFor(`${edPub},${AGE_PLAIN_RECIPIENT}`, 'no-tty-both');
      const ok = await decryptWithoutTerminal(both, { ...baseEnv, SOPS_AGE_KEY: AGE_PLAIN_ID });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, PLAIN);
    });

    test('an age -p identity file as SOPS_AGE_KEY_FILE: asked for and opened', async (t) => {
      if (!ageRecipient) return t.skip('age (Debian package age) is not installed');
      const file = await encryptFor(ageRecipient, 'agefile');
      const { term, out } = decryptInTerminal(file, { ...baseEnv, SOPS_AGE_KEY_FILE: ageEnc });
      try {
        await term.waitScreen("Enter passphrase for identity 'SOPS_AGE_KEY_FILE':");
        term.type(PASS);
        assert.equal(await term.exitCode(), '0', term.screen());
        assert.equal(fs.readFileSync(out, 'utf8'), PLAIN);
        assertNoSecretShown(term.screen());
      } finally {
        term.close();
      }
    });

    test('the default keys file encrypted with age -p: the prompt names its path; a wrong passphrase fails', async (t) => {
      if (!ageRecipient) return t.skip('age (Debian package age) is not installed');
      const keys = path.join(home, '.config', 'sops', 'age', 'keys.txt');
      fs.mkdirSync(path.dirname(keys), { recursive: true });
      fs.copyFileSync(ageEnc, keys);
      try {
        const file = await encryptFor(ageRecipient, 'agedefault');
        const { term, out } = decryptInTerminal(file, baseEnv);
        try {
          await term.waitScreen(`Enter passphrase for identity '${keys}':`);
          term.type(WRONG);
          assert.equal(await term.exitCode(), '128', term.screen());
          assert.equal(fs.readFileSync(out, 'utf8'), '');
          const screen = term.screen();
          assert.match(
            screen.replace(/\n/g, ''),
            /keys\.txt \(passphrase-protected age identity file: wrong passphrase\)/,
          );
          assertNoSecretShown(screen);
        } finally {
          term.close();
        }
      } finally {
        fs.rmSync(keys);
      }
    });

    test('a file tsops wrote for an age -p identity is read by the real sops (with the identity unprotected)', async (t) => {
      // (the oracle is sops 3.9.2, which has no SSH identities: SSH files are checked against Go age's
      // stanzas in keys-age.test.ts)
      if (!ageRecipient) return t.skip('age (Debian package age) is not installed');
      if (!(await oracleAvailable())) return t.skip('sops oracle not available');
      const af = await encryptFor(ageRecipient, 'oracle-age');
      const id = fs
        .readFileSync(ageRaw, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
      const a = await sopsDecrypt(fs.readFileSync(af), 'yaml', { SOPS_AGE_KEY: id });
      assert.ok(a.ok, a.error);
      assert.deepEqual(JSON.parse(a.output), { user: 'admin', password: 's3cr3t-value' });
    });
  },
);

test('decrypt --help names the identity sources and the passphrase prompts', async () => {
  const r = await run(['decrypt', '--help'], { env: process.env });
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['SOPS_AGE_SSH_PRIVATE_KEY_FILE', '~/.ssh/id_ed25519', 'SOPS_AGE_KEY_FILE', 'age -p', '/dev/tty']) {
    assert.ok(r.stdout.includes(s), `decrypt --help does not mention ${s}`);
  }
  assert.match(r.stdout.replace(/\s+/g, ' '), /Enter passphrase for identity 'SOPS_AGE_KEY_FILE':/);
});
