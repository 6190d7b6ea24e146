// The AWS KMS key source (src/keys/kms/), with the real AWS SDK clients talking to the loopback
// KMS/STS stand-in in test/servers/aws-kms.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { source, stsSessionName } from '../src/keys/kms/client.js';
import { parseKmsArns, parseEncryptionContext, kmsRegion } from '../src/keys/kms/key.js';
import type { KeyContext, KmsKey } from '../src/keys/types.js';
import { keyToPlain, parseMetadata } from '../src/metadata/metadata.js';
import { ExitCode, SopsError } from '../src/errors.js';
import type { Plain } from '../src/tree/types.js';
import { closedPortUrl, startAwsServer, type AwsServer, type AwsServerOptions } from './servers/aws-kms.js';
import { sopsFailure } from './helpers/failures.js';

const ARN = 'arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::111122223333:role/sops-decrypt';
const ENV_ID = 'AKIDENVEXAMPLE0001';
const ENV_SECRET = 'env-secret-access-key';
const PROFILE_ID = 'AKIDPROFILETEAM001';
const PROFILE_SECRET = 'profile-secret-access-key';

const servers: AwsServer[] = [];
const tmpDirs: string[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function server(opts: AwsServerOptions = {}): Promise<AwsServer> {
  const s = await startAwsServer({ credentials: { [ENV_ID]: ENV_SECRET, [PROFILE_ID]: PROFILE_SECRET }, ...opts });
  servers.push(s);
  return s;
}

/** A context whose environment holds only what the test gives (never the developer's AWS setup). */
function ctx(env: Record<string, string>): KeyContext {
  return {
    env: {
      AWS_CONFIG_FILE: path.join(os.tmpdir(), 'tsops-no-such-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(os.tmpdir(), 'tsops-no-such-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
    log: () => {},
  };
}

const envCreds = { AWS_ACCESS_KEY_ID: ENV_ID, AWS_SECRET_ACCESS_KEY: ENV_SECRET };
const kmsKey = (extra: Partial<KmsKey> = {}): KmsKey => ({ type: 'kms', arn: ARN, enc: '', ...extra });

/** The error a promise rejects with (it must reject). */
const failure = (p: Promise<unknown>) => sopsFailure(p);

test('wrap and unwrap round-trip through KMS, in the region of the ARN, signed with the env credentials', async () => {
  const srv = await server();
  const c = ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url });
  const dataKey = crypto.randomBytes(32);
  const k = kmsKey();
  k.enc = await source.wrap(k, dataKey, c);
  assert.match(k.enc, /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'standard padded base64');
  assert.ok(!k.enc.includes(dataKey.toString('base64')));
  const back = await source.unwrap(k, c);
  assert.deepEqual(back, dataKey);

  assert.deepEqual(
    srv.calls.map((x) => [x.service, x.action, x.status]),
    [
      ['kms', 'Encrypt', 200],
      ['kms', 'Decrypt', 200],
    ],
  );
  for (const call of srv.calls) {
    assert.equal(call.accessKeyId, ENV_ID);
    assert.equal(call.region, 'eu-west-3');
    assert.equal(call.keyId, ARN, 'Decrypt names the key as sops does');
    assert.equal(call.encryptionContext, undefined);
  }
});

test('the session token in the environment is sent along with the env credentials', async () => {
  const srv = await startAwsServer();
  servers.push(srv);
  const c = ctx({ ...envCreds, AWS_SESSION_TOKEN: 'env-session-token', AWS_ENDPOINT_URL: srv.url });
  await source.wrap(kmsKey(), crypto.randomBytes(32), c);
  assert.equal(srv.calls[0]!.sessionToken, 'env-session-token');
});

test('the encryption context is bound to the ciphertext: the same context decrypts, another fails', async () => {
  const srv = await server();
  const c = ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url });
  const dataKey = crypto.randomBytes(32);
  const k = kmsKey({ context: { Environment: 'production', AppName: 'antiFraud' } });
  k.enc = await source.wrap(k, dataKey, c);
  assert.deepEqual(srv.calls[0]!.encryptionContext, { Environment: 'production', AppName: 'antiFraud' });
  assert.deepEqual(
    await source.unwrap({ ...k, context: { AppName: 'antiFraud', Environment: 'production' } }, c),
    dataKey,
  );

  const wrong = await failure(source.unwrap({ ...k, context: { Environment: 'staging', AppName: 'antiFraud' } }, c));
  assert.equal(wrong.code, ExitCode.CouldNotRetrieveKey);
  assert.match(
    wrong.message,
    new RegExp(`^kms ${ARN.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: InvalidCiphertextException: `),
  );
  const none = await failure(source.unwrap({ ...k, context: undefined }, c));
  assert.match(none.message, /InvalidCiphertextException/);
});

test('a role is assumed through STS as sops@<hostname> and its temporary credentials sign the KMS call', async () => {
  const srv = await server();
  const c = ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url });
  const dataKey = crypto.randomBytes(32);
  const k = kmsKey({ role: ROLE });
  k.enc = await source.wrap(k, dataKey, c);
  assert.deepEqual(await source.unwrap(k, c), dataKey);

  assert.deepEqual(
    srv.calls.map((x) => `${x.service}:${x.action}:${x.status}`),
    ['sts:AssumeRole:200', 'kms:Encrypt:200', 'sts:AssumeRole:200', 'kms:Decrypt:200'],
  );
  assert.equal(srv.issued.length, 2);
  for (const i of [0, 1]) {
    const assume = srv.calls[2 * i]!;
    const use = srv.calls[2 * i + 1]!;
    assert.equal(assume.accessKeyId, ENV_ID, 'STS is called with the base credentials');
    assert.equal(assume.region, 'eu-west-3');
    assert.equal(assume.roleArn, ROLE);
    assert.equal(assume.roleSessionName, stsSessionName());
    assert.match(assume.roleSessionName, /^sops@/);
    assert.equal(use.accessKeyId, srv.issued[i]!.accessKeyId, 'KMS is called with the assumed role');
    assert.equal(use.sessionToken, srv.issued[i]!.sessionToken);
  }
});

test('a role STS refuses gives one line naming the key, the role and the STS error', async () => {
  const srv = await server({ denyRoles: [ROLE] });
  const e = await failure(
    source.wrap(kmsKey({ role: ROLE }), crypto.randomBytes(32), ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url })),
  );
  assert.ok(e.message.startsWith(`kms ${ARN}+${ROLE}: could not assume the role ${ROLE}: AccessDenied: `), e.message);
  assert.ok(!srv.calls.some((x) => x.service === 'kms'), 'KMS is not called');
});

test('AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL_STS take precedence over AWS_ENDPOINT_URL', async () => {
  const kmsSrv = await startAwsServer();
  const stsSrv = await startAwsServer();
  servers.push(kmsSrv, stsSrv);
  const c = ctx({
    ...envCreds,
    AWS_ENDPOINT_URL: await closedPortUrl(),
    AWS_ENDPOINT_URL_KMS: kmsSrv.url,
    AWS_ENDPOINT_URL_STS: stsSrv.url,
  });
  await source.wrap(kmsKey({ role: ROLE }), crypto.randomBytes(32), c);
  assert.deepEqual(
    stsSrv.calls.map((x) => x.action),
    ['AssumeRole'],
  );
  assert.deepEqual(
    kmsSrv.calls.map((x) => x.action),
    ['Encrypt'],
  );
  assert.equal(kmsSrv.calls[0]!.accessKeyId, stsSrv.issued[0]!.accessKeyId);
});

function awsFiles(): { AWS_CONFIG_FILE: string; AWS_SHARED_CREDENTIALS_FILE: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-kms-aws-'));
  tmpDirs.push(dir);
  const config = path.join(dir, 'config');
  const credentials = path.join(dir, 'credentials');
  fs.writeFileSync(config, '[default]\nregion = us-east-1\n\n[profile team]\nregion = us-east-1\n');
  fs.writeFileSync(
    credentials,
    `[team]\naws_access_key_id = ${PROFILE_ID}\naws_secret_access_key = ${PROFILE_SECRET}\n`,
  );
  return { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };
}

test("a key's aws_profile is read from the shared files named in the environment, ahead of env credentials", async () => {
  const srv = await server();
  const c = ctx({ ...envCreds, ...awsFiles(), AWS_ENDPOINT_URL: srv.url });
  const dataKey = crypto.randomBytes(32);
  const k = kmsKey({ awsProfile: 'team' });
  k.enc = await source.wrap(k, dataKey, c);
  assert.deepEqual(await source.unwrap(k, c), dataKey);
  assert.deepEqual(
    srv.calls.map((x) => x.accessKeyId),
    [PROFILE_ID, PROFILE_ID],
  );
  assert.deepEqual(
    srv.calls.map((x) => x.status),
    [200, 200],
  );
});

test('without a key profile, AWS_PROFILE selects the profile (default chain)', async () => {
  const srv = await server();
  const c = ctx({ ...awsFiles(), AWS_PROFILE: 'team', AWS_ENDPOINT_URL: srv.url });
  await source.wrap(kmsKey(), crypto.randomBytes(32), c);
  assert.equal(srv.calls[0]!.accessKeyId, PROFILE_ID);
});

test('a profile missing from the shared files is a clear error, and KMS is not called', async () => {
  const srv = await server();
  const e = await failure(
    source.wrap(
      kmsKey({ awsProfile: 'nope' }),
      crypto.randomBytes(32),
      ctx({ ...awsFiles(), AWS_ENDPOINT_URL: srv.url }),
    ),
  );
  assert.ok(e.message.startsWith(`kms ${ARN}: could not load AWS credentials: `), e.message);
  assert.match(e.message, /nope/);
  assert.equal(srv.calls.length, 0);
});

test('a key KMS refuses gives one line: the key, the error code and the message', async () => {
  const srv = await server({ denyKeys: [ARN] });
  const e = await failure(
    source.wrap(kmsKey(), crypto.randomBytes(32), ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url })),
  );
  assert.ok(e.message.startsWith(`kms ${ARN}: AccessDeniedException: User is not authorized`), e.message);
  assert.equal(srv.calls.length, 1, 'an access error is not retried');
});

test('wrong credentials are reported with the service error', async () => {
  const srv = await server();
  const e = await failure(
    source.wrap(
      kmsKey(),
      crypto.randomBytes(32),
      ctx({ AWS_ACCESS_KEY_ID: ENV_ID, AWS_SECRET_ACCESS_KEY: 'wrong', AWS_ENDPOINT_URL: srv.url }),
    ),
  );
  assert.ok(e.message.startsWith(`kms ${ARN}: InvalidSignatureException: `), e.message);
});

test('an unreachable endpoint fails with a clear error after a bounded number of attempts', async () => {
  const e = await failure(
    source.unwrap(
      kmsKey({ enc: Buffer.from('blob').toString('base64') }),
      ctx({ ...envCreds, AWS_ENDPOINT_URL: await closedPortUrl() }),
    ),
  );
  assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
  assert.ok(e.message.startsWith(`kms ${ARN}: `), e.message);
  assert.match(e.message, /ECONNREFUSED/);
  assert.match(e.message, /\(3 attempts\)$/);
});

test('a service slower than the timeout fails with a timeout error after maxAttempts attempts', async () => {
  const srv = await server({ delayMs: 10_000 });
  const c = ctx({ ...envCreds, AWS_ENDPOINT_URL: srv.url, TSOPS_KMS_TIMEOUT_MS: '150' });
  const e = await failure(source.wrap(kmsKey(), crypto.randomBytes(32), c));
  assert.equal(e.message, `kms ${ARN}: no answer within 150 ms (3 attempts)`);
  assert.equal(srv.calls.length, 3);
  assert.ok(
    srv.calls.every((x) => x.status === 0),
    'none was answered',
  );

  const two = await failure(
    source.wrap(kmsKey(), crypto.randomBytes(32), { ...c, env: { ...c.env, AWS_MAX_ATTEMPTS: '2' } }),
  );
  assert.match(two.message, /no answer within 150 ms \(2 attempts\)$/);
  assert.equal(srv.calls.length, 5);
});

test('a bad timeout setting, a malformed ARN and a malformed enc are clear errors', async () => {
  const c = ctx({ ...envCreds, AWS_ENDPOINT_URL: await closedPortUrl() });
  const t = await failure(
    source.wrap(kmsKey(), crypto.randomBytes(32), { ...c, env: { ...c.env, TSOPS_KMS_TIMEOUT_MS: 'soon' } }),
  );
  assert.match(t.message, /^TSOPS_KMS_TIMEOUT_MS must be a whole number/);
  const a = await failure(source.wrap(kmsKey({ arn: 'arn:aws:kms:us-east-1:key/x' }), crypto.randomBytes(32), c));
  assert.match(a.message, /^kms arn:aws:kms:us-east-1:key\/x: no valid KMS key ARN found/);
  const b = await failure(source.unwrap(kmsKey({ enc: 'not base64!' }), c));
  assert.equal(b.message, `kms ${ARN}: the encrypted data key is not valid base64`);
});

test('parseKmsArns reads the --kms / SOPS_KMS_ARN list', () => {
  const ctxMap = { a: 'b' };
  const keys = parseKmsArns(
    ` ${ARN}, arn:aws:kms:us-west-2:361527076523:key/5052f06a+arn:aws:iam::361527076523:role/hiera-sops-prod ,,` +
      'arn:aws-cn:kms:cn-north-1:123456789012:alias/x+arn:aws-cn:iam::123456789012:role/r',
    ctxMap,
    'team',
  );
  assert.deepEqual(keys, [
    { type: 'kms', arn: ARN, enc: '', context: { a: 'b' }, awsProfile: 'team' },
    {
      type: 'kms',
      arn: 'arn:aws:kms:us-west-2:361527076523:key/5052f06a',
      role: 'arn:aws:iam::361527076523:role/hiera-sops-prod',
      enc: '',
      context: { a: 'b' },
      awsProfile: 'team',
    },
    {
      type: 'kms',
      arn: 'arn:aws-cn:kms:cn-north-1:123456789012:alias/x',
      role: 'arn:aws-cn:iam::123456789012:role/r',
      enc: '',
      context: { a: 'b' },
      awsProfile: 'team',
    },
  ]);
  assert.notEqual(keys[0]!.context, ctxMap, 'each key has its own copy');
  assert.notEqual(keys[0]!.context, keys[1]!.context);
  assert.deepEqual(parseKmsArns(''), []);
  assert.deepEqual(parseKmsArns(ARN), [{ type: 'kms', arn: ARN, enc: '', awsProfile: '' }]);
  assert.deepEqual(
    parseKmsArns(ARN, {}),
    [{ type: 'kms', arn: ARN, enc: '', awsProfile: '' }],
    'an empty context is no context',
  );
  assert.equal(kmsRegion(keys[1]!.arn), 'us-west-2');
  assert.equal(kmsRegion(keys[2]!.arn), 'cn-north-1');
  assert.equal(kmsRegion('alias/x'), undefined);
});

test('parseEncryptionContext reads key:value,key2:value2 and rejects anything else with exit code 6', () => {
  assert.deepEqual(parseEncryptionContext('Environment:production,AppName:antiFraud'), {
    Environment: 'production',
    AppName: 'antiFraud',
  });
  assert.deepEqual(parseEncryptionContext('k:'), { k: '' });
  // sops's ParseKMSContext gives nil for "": no context at all (an earlier copy gave {})
  assert.equal(parseEncryptionContext(''), undefined);
  for (const bad of ['a', 'a:b:c', 'a:b,', ',a:b', 'a:b,c']) {
    assert.throws(
      () => parseEncryptionContext(bad),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorInvalidKMSEncryptionContextFormat &&
        /invalid KMS encryption context format/.test(e.message),
      bad,
    );
  }
});

test('the STS session name is sops@ and the hostname cleaned as sops cleans it, at most 64 characters', () => {
  assert.equal(stsSessionName('some-hostname'), 'sops@somehostname');
  assert.equal(stsSessionName('ip-10-0-0-1.ec2.internal'), 'sops@ip10001.ec2.internal');
  assert.equal(stsSessionName('a'.repeat(100)), `sops@${'a'.repeat(59)}`);
  assert.equal(stsSessionName('a'.repeat(100)).length, 64);
});

// A sops 3.8.1 file's kms entry (from a real `sops --kms` run), and an entry with every field in
// the field order sops's stores package writes (arn, role, context, created_at, enc, aws_profile).
const SOPS_METADATA = `kms:
    - arn: arn:aws:kms:us-east-1:654654270281:key/0be9b8e7-ada8-45b3-84d8-075d66359205
      created_at: "2024-06-17T01:55:38Z"
      enc: AQICAHiCvIqgTXzQ2oe26RUr4Aml9dfI/ipc8iysDVNaOdrQ2AGUFtQshsDeNaln7oQh2ralAAAAfjB8BgkqhkiG9w0BBwagbzBtAgEAMGgGCSqGSIb3DQEHATAeBglghkgBZQMEAS4wEQQMKZqrEGi/JQ1iLpk+AgEQgDtCuGzeWJLtcU1vdXOGmtXbOaOTPyzHK4Rf99NohCOL4iGBUZm5G4L0Sv5agA70Qlx/f37ev9SpHDQg9Q==
      aws_profile: ""
    - arn: arn:aws:kms:us-west-2:361527076523:key/5052f06a-5d3f-489e-b86c-57201e06f31e
      role: arn:aws:iam::361527076523:role/hiera-sops-prod
      context:
        AppName: antiFraudService
        Environment: production
      created_at: "2024-06-17T01:55:38Z"
      enc: AQICAHgPdAvulU5/aXIXPDm3XYIFQRuoxDaKt3ktMkWdqy/j5wGyzF59tjmZ1APFs9g+Oy3iAAAAfjB8BgkqhkiG9w0BBwagbzBtAgEAMGgGCSqGSIb3DQEHATAeBglghkgBZQMEAS4wEQQMWWgyP6KfgQi31RpKAgEQgDv8z5Ol90xB3qgbFsi3NvIShwdvkqsXsL2b+3VX+dNW17ADoluGSUsjhye8PI/32BLRJpChh8L5oyaVTg==
      aws_profile: myprofile
gcp_kms: []
azure_kv: []
hc_vault: []
age: []
lastmodified: "2024-06-17T01:55:38Z"
mac: ENC[AES256_GCM,data:N6KNibwZ3nNY6X7U0zpScaUiePbAlEUXbhMfe6T5a1WAtfK/tgDMcUdEcZmHKmle6XJ5Asf9Lt/+vEFOvtnqPSKjZwIEQhB7N3F8vRcQ6VvwyORqN1gx9F8ew3xPFoIPTh9k77e0+Z9hCxQUiamekXRB+G/0u5diafV5ZojZeIk=,iv:W6Q5Rn5FEjzGk1+c1GbQo9dDOoGtw9FT92Dnc+8djis=,tag:eK7YdE9fhN3+YT2D0MERvg==,type:str]
pgp: []
encrypted_regex: ^(.*[Pp]ass.*|.*[Pp]wd.*|.*[Tt]oken.*)$
version: 3.8.1
`;

test("kms entries in sops's layout are parsed by parseMetadata and written back identically by keyToPlain", () => {
  const plain = YAML.parse(SOPS_METADATA) as { [k: string]: Plain };
  const entries = plain['kms'] as Plain[];
  const m = parseMetadata(plain);
  assert.equal(m.keyGroups.length, 1);
  const keys = m.keyGroups[0]!;
  assert.equal(keys.length, 2);
  const [a, b] = keys as KmsKey[];
  assert.equal(a!.type, 'kms');
  assert.equal(a!.arn, 'arn:aws:kms:us-east-1:654654270281:key/0be9b8e7-ada8-45b3-84d8-075d66359205');
  assert.equal(a!.createdAt, '2024-06-17T01:55:38Z');
  assert.equal(a!.role, undefined);
  assert.equal(a!.context, undefined);
  assert.equal(b!.role, 'arn:aws:iam::361527076523:role/hiera-sops-prod');
  assert.deepEqual(b!.context, { AppName: 'antiFraudService', Environment: 'production' });
  assert.equal(b!.awsProfile, 'myprofile');
  assert.equal(kmsRegion(b!.arn), 'us-west-2');
  assert.deepEqual(keyToPlain(a!), entries[0]);
  assert.deepEqual(keyToPlain(b!), entries[1]);
});
