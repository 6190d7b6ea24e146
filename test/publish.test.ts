// `tsops publish`: destination_rules to S3 (real @aws-sdk/client-s3), GCS (real
// @google-cloud/storage) and Vault KV v1/v2, each against a loopback server of its wire protocol.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { AGE_RECIPIENT, Sandbox, encryptFile, run } from './helpers/editing.js';
import { newAgePair, type AgePair } from './helpers/keymgmt.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { openEncrypted } from '../src/file/file.js';
import { toPlain } from '../src/tree/types.js';
import { publish } from '../src/publish/publish.js';
import { startS3Server, type S3Server } from './servers/s3.js';
import { startGcsServer, type GcsServer } from './servers/gcs.js';
import { startVaultKvServer, type VaultKvServer } from './servers/vault-kv.js';

const AKID = 'AKIDPUBLISHTEST';
const SECRET = 'publish-test-secret-key';

describe('publish', () => {
  let sb: Sandbox;
  let s3: S3Server;
  let gcs: GcsServer;
  let kv: VaultKvServer;
  let second: AgePair;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sb = new Sandbox('tsops-publish-');
    [s3, gcs, kv, second] = await Promise.all([
      startS3Server({ credentials: { [AKID]: SECRET }, buckets: ['bkt'] }),
      startGcsServer({ buckets: ['gbkt'] }),
      startVaultKvServer({ mounts: { secret: 2, kv: 1 } }),
      newAgePair(),
    ]);
    env = {
      ...sb.env,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ACCESS_KEY_ID: AKID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'eu-west-1',
      AWS_MAX_ATTEMPTS: '1',
      STORAGE_EMULATOR_HOST: gcs.url,
      VAULT_ADDR: kv.url,
      VAULT_TOKEN: kv.token,
      VAULT_MAX_RETRIES: '0',
    };
    sb.write(
      '.sops.yaml',
      `creation_rules:
  - age: ${AGE_RECIPIENT}
destination_rules:
  - path_regex: s3/
    s3_bucket: bkt
    s3_prefix: secrets/
  - path_regex: s3re/
    s3_bucket: bkt
    s3_prefix: re/
    recreation_rule:
      age: ${second.recipient}
  - path_regex: gcs/
    gcs_bucket: gbkt
    gcs_prefix: g/
  - path_regex: kv2/
    vault_path: team/app
  - path_regex: kv1/
    vault_path: legacy/
    vault_kv_mount_name: kv
    vault_kv_version: 1
  - path_regex: nowhere/
    s3_prefix: only-a-prefix/
`,
    );
    for (const d of ['s3', 's3re', 'gcs', 'kv2', 'kv1', 'nowhere', 'other', 's3/tree', 's3/tree/sub'])
      fs.mkdirSync(sb.path(d), { recursive: true });
  });

  after(async () => {
    await Promise.all([s3?.close(), gcs?.close(), kv?.close(), closeOracle()]);
    sb?.cleanup();
  });

  const tsops = (args: string[], input?: string) => run(args, { env, cwd: sb.dir, ...(input ? { input } : {}) });

  it('S3: the encrypted file as it is, under s3_prefix + its name, signed with SigV4; the local file untouched', async () => {
    const file = await encryptFile(sb, 'x.yaml', 'db:\n    password: hunter2\n', 's3/app.yaml');
    const before = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    const r = await tsops(['publish', '--yes', 's3/app.yaml']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(s3.objects.get('bkt/secrets/app.yaml')?.body, before);
    const call = s3.calls.at(-1)!;
    assert.equal(call.accessKeyId, AKID);
    assert.equal(call.region, 'eu-west-1');
    assert.deepEqual(fs.readFileSync(file), before);
    assert.equal(fs.statSync(file).mtimeMs, mtime);
  });

  it("S3 with recreation_rule: encrypted again for the rule's key, which opens it (and real sops does)", async (t) => {
    await encryptFile(
      sb,
      'x.json',
      '{"api": {"key": "k-123"}, "n": 1.5, "token_unencrypted": "visible"}',
      's3re/app.json',
    );
    const r = await tsops(['publish', '-y', 's3re/app.json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^The following changes will be made to the file's key groups:\nGroup 1\n/);
    assert.ok(r.stdout.includes(`+++ ${second.recipient}`));
    assert.ok(r.stdout.includes(`--- ${AGE_RECIPIENT}`));
    const uploaded = s3.objects.get('bkt/re/app.json')!.body;
    assert.ok(!uploaded.toString().includes(AGE_RECIPIENT), 'only the recreation rule key');
    const opened = await openEncrypted(uploaded, { format: 'json', env: { SOPS_AGE_KEY: second.identity } });
    assert.deepEqual(toPlain(opened.tree.docs[0]!), { api: { key: 'k-123' }, n: 1.5, token_unencrypted: 'visible' });
    await assert.rejects(openEncrypted(uploaded, { format: 'json', env: { SOPS_AGE_KEY: sb.env['SOPS_AGE_KEY']! } }));
    assert.match(uploaded.toString(), /"token_unencrypted": "visible"/);
    if (!(await oracleAvailable())) return t.skip(`real-sops oracle not available: ${oracleUnavailableReason()}`);
    const real = await sopsDecrypt(uploaded, 'json', { SOPS_AGE_KEY: second.identity });
    assert.equal(real.error, '');
    assert.equal(real.ok, true);
    assert.deepEqual(JSON.parse(real.output), { api: { key: 'k-123' }, n: 1.5, token_unencrypted: 'visible' });
  });

  it('GCS: the encrypted file through the JSON API upload; --omit-extensions drops the extension', async () => {
    const file = await encryptFile(sb, 'x.env', 'USER=admin\nPASSWORD=hunter2\n', 'gcs/creds.env');
    const r = await tsops(['publish', '--yes', '--omit-extensions', 'gcs/creds.env']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(gcs.objects.get('gbkt/g/creds'), fs.readFileSync(file));
    assert.deepEqual(gcs.uploads, ['multipart']);
  });

  it('Vault KV v2: the decrypted values as the secret data; unchanged data writes no new version', async () => {
    await encryptFile(sb, 'x.yaml', 'db:\n    user: admin\n    port: 5432\nflags: [a, b]\nok: true\n', 'kv2/app.yaml');
    const r = await tsops(['publish', '--yes', 'kv2/app.yaml']);
    assert.equal(r.code, 0, r.stderr);
    const versions = kv.secrets.get('secret/team/app/app.yaml')!;
    assert.deepEqual(versions, [{ db: { user: 'admin', port: 5432 }, flags: ['a', 'b'], ok: true }]);
    const write = kv.calls.find((c) => c.method === 'PUT');
    assert.equal(write?.path, '/v1/secret/data/team/app/app.yaml');
    assert.equal(write?.token, kv.token);
    const again = await tsops(['publish', '--yes', 'kv2/app.yaml']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /Secret in secret\/data\/team\/app\/app\.yaml is already up-to-date\./);
    assert.equal(kv.secrets.get('secret/team/app/app.yaml')!.length, 1);
  });

  it('Vault KV v1: the values written to MOUNT/PATH/NAME; the question names the secret and "y" publishes', async () => {
    await encryptFile(sb, 'x.json', '{"password": "s3cret"}', 'kv1/db.json');
    const r = await tsops(['publish', 'kv1/db.json'], 'y\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `uploading ${sb.path('kv1', 'db.json')} to ${kv.url}/v1/kv/legacy/db.json ? (y/n): `);
    assert.deepEqual(kv.secrets.get('kv/legacy/db.json'), [{ password: 's3cret' }]);
  });

  it('"n" cancels: exit 1, nothing uploaded', async () => {
    await encryptFile(sb, 'x.yaml', 'a: 1\n', 's3/cancel.yaml');
    const r = await tsops(['publish', 's3/cancel.yaml'], 'n\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Publication of .*s3\/cancel\.yaml canceled\n$/);
    assert.equal(s3.objects.has('bkt/secrets/cancel.yaml'), false);
  });

  it('--recursive: every file of the folder, named relative to it; a folder without it is refused', async () => {
    await encryptFile(sb, 'x.yaml', 'a: 1\n', 's3/tree/one.yaml');
    await encryptFile(sb, 'x.json', '{"b": 2}', 's3/tree/sub/two.json');
    const no = await tsops(['publish', '--yes', 's3/tree']);
    assert.equal(no.code, 1);
    assert.equal(no.stderr, "can't operate on a directory without --recursive flag.\n");
    const r = await tsops(['publish', '--yes', '--recursive', '--omit-extensions', 's3/tree']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(s3.objects.get('bkt/secrets/one')?.body, fs.readFileSync(sb.path('s3/tree/one.yaml')));
    assert.deepEqual(s3.objects.get('bkt/secrets/sub/two')?.body, fs.readFileSync(sb.path('s3/tree/sub/two.json')));
    // asked per file: "n" skips that file with a line on standard output, the next one goes on
    s3.objects.clear();
    const asked = await tsops(['publish', '--recursive', 's3/tree'], 'n\ny\n');
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, /Publication of .*s3\/tree\/one\.yaml canceled\n/);
    assert.equal(asked.stdout.match(/\? \(y\/n\): /g)?.length, 2);
    assert.equal(s3.objects.has('bkt/secrets/one.yaml'), false);
    assert.ok(s3.objects.has('bkt/secrets/sub/two.json'));
  });

  it("no matching rule, or a rule without destination: sops's messages, exit 1", async () => {
    await encryptFile(sb, 'x.yaml', 'a: 1\n', 'other/x.yaml');
    const r = await tsops(['publish', '--yes', 'other/x.yaml']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error loading config: no matching destination found in config\n');
    await encryptFile(sb, 'x.yaml', 'a: 1\n', 'nowhere/x.yaml');
    const n = await tsops(['publish', '--yes', 'nowhere/x.yaml']);
    assert.equal(n.code, 1);
    assert.equal(n.stderr, 'no destination configured for this file\n');
    const plain = sb.write('s3/plain.yaml', 'a: 1\n');
    const p = await tsops(['publish', '--yes', plain]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /sops metadata not found/);
    assert.equal(p.stderr.trim().split('\n').length, 1);
  });

  it('a failing server: one line, exit 1, the local file as it was', async () => {
    const file = await encryptFile(sb, 'x.yaml', 'a: 1\n', 's3/denied.yaml');
    const before = fs.readFileSync(file);
    s3.denyWrites = true;
    kv.denyWrites = true;
    try {
      const r = await tsops(['publish', '--yes', 's3/denied.yaml']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^could not upload to s3:\/\/bkt\/secrets\/denied\.yaml: AccessDenied: Access Denied\n$/);
      assert.deepEqual(fs.readFileSync(file), before);
      await encryptFile(sb, 'x.yaml', 'a: 1\n', 'kv2/denied.yaml');
      const v = await tsops(['publish', '--yes', 'kv2/denied.yaml']);
      assert.equal(v.code, 1);
      assert.match(
        v.stderr,
        /could not write the Vault secret .*\/v1\/secret\/data\/team\/app\/denied\.yaml: 403 permission denied\n$/,
      );
      assert.equal(v.stderr.trim().split('\n').length, 1);
    } finally {
      s3.denyWrites = false;
      kv.denyWrites = false;
    }
  });

  it('the library: yes or a confirm callback; outcomes per file', async () => {
    await encryptFile(sb, 'x.yaml', 'k: v\n', 'kv2/lib.yaml');
    await assert.rejects(publish('kv2/lib.yaml', { cwd: sb.dir, env }), /yes: true or a confirm callback/);
    const asked: string[] = [];
    const out = await publish('kv2/lib.yaml', {
      cwd: sb.dir,
      env,
      confirm: (q) => {
        asked.push(q);
        return true;
      },
    });
    assert.equal(asked.length, 1);
    assert.deepEqual(out, [
      { file: 'kv2/lib.yaml', destination: `${kv.url}/v1/secret/data/team/app/lib.yaml`, status: 'published' },
    ]);
    assert.deepEqual(kv.secrets.get('secret/team/app/lib.yaml'), [{ k: 'v' }]);
  });
});
