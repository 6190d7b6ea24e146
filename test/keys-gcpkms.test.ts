/**
 * The GCP Cloud KMS key source, driven through the real @google-cloud/kms client (gRPC by default,
 * REST when asked) against the loopback KMS in ./servers/gcp-kms.ts, with the real Google auth
 * library producing the credentials (static token, self-signed service-account JWT, and an
 * external-account token exchange with a loopback STS).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { SopsError } from '../src/errors.js';
import { gcpKmsSettings, source } from '../src/keys/gcpkms/client.js';
import { parseGcpKmsIds } from '../src/keys/gcpkms/key.js';
import type { GcpKmsKey, KeyContext } from '../src/keys/types.js';
import { keyToPlain, metadataToPlain, parseMetadata } from '../src/metadata/metadata.js';
import { startGcpKmsServer, startStsServer, type GcpKmsServer } from './servers/gcp-kms.js';
import { selfSignedCert } from './servers/tls-cert.js';

const KEY_A = 'projects/tsops-test/locations/global/keyRings/sops/cryptoKeys/key-a';
const KEY_B = 'projects/tsops-test/locations/europe-west1/keyRings/sops/cryptoKeys/key-b';
const KEY_DENIED = 'projects/tsops-test/locations/global/keyRings/sops/cryptoKeys/no-access';
const TOKEN = 'ya29.loopback-test-token';

const dir = mkdtempSync(join(tmpdir(), 'tsops-gcpkms-'));
// gRPC's own TLS trust store, read by @grpc/grpc-js when it loads (the SDK loads on first use,
// after this): lets the default, TLS transport reach the loopback server's self-signed cert.
const tlsCert = selfSignedCert();
writeFileSync(join(dir, 'roots.pem'), tlsCert.cert);
process.env['GRPC_DEFAULT_SSL_ROOTS_FILE_PATH'] = join(dir, 'roots.pem');

// A service account with a locally made key, as a credentials JSON.
const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SA_EMAIL = 'tsops-test@tsops-test.iam.gserviceaccount.com';
const saJson = JSON.stringify({
  type: 'service_account',
  project_id: 'tsops-test',
  private_key_id: 'loopback-key-1',
  private_key: sa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  client_email: SA_EMAIL,
  client_id: '100000000000000000001',
  // Not called: with the KMS client's scopes the auth library signs its own JWT (verified by the
  // loopback server against the public key) instead of asking a token endpoint.
  token_uri: 'http://127.0.0.1:9/token',
});

let kms: GcpKmsServer;

before(async () => {
  kms = await startGcpKmsServer({
    tokens: [TOKEN, 'sts-issued-token'],
    serviceAccounts: { [SA_EMAIL]: sa.publicKey },
    keys: [KEY_A, KEY_B, KEY_DENIED],
    deny: [KEY_DENIED],
    rest: true,
  });
});

after(async () => {
  await kms?.close();
  rmSync(dir, { recursive: true, force: true });
});

function key(resourceId: string, enc = ''): GcpKmsKey {
  return { type: 'gcp_kms', resourceId, enc };
}

/** A context reaching the loopback server over plaintext gRPC; `extra` adds or removes (undefined) variables. */
function ctx(extra: Record<string, string | undefined> = {}, endpoint = kms.endpoint): KeyContext {
  const env: NodeJS.ProcessEnv = {
    SOPS_GCP_KMS_ENDPOINT: endpoint,
    TSOPS_GCP_KMS_INSECURE: '1',
    TSOPS_GCP_KMS_TIMEOUT: '5',
    GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN,
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) Reflect.deleteProperty(env, k);
    else env[k] = v;
  }
  return { env, log: () => {} };
}

function callsSince(n: number) {
  return kms.calls.slice(n);
}

async function rejection(p: Promise<unknown>): Promise<SopsError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SopsError, `expected a SopsError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return e;
  }
  assert.fail('expected a rejection');
}

test('parseGcpKmsIds: comma-separated, spaces dropped, empty items skipped, bad IDs refused', () => {
  assert.deepEqual(parseGcpKmsIds(`${KEY_A}, ${KEY_B},`), [key(KEY_A), key(KEY_B)]);
  assert.deepEqual(parseGcpKmsIds(''), []);
  assert.deepEqual(parseGcpKmsIds(' projects/p /locations/l/keyRings/r/cryptoKeys/k'), [
    key('projects/p/locations/l/keyRings/r/cryptoKeys/k'),
  ]);
  assert.throws(
    () => parseGcpKmsIds(`${KEY_A},projects/p/locations/l/keyRings/r`),
    (e: Error) =>
      e instanceof SopsError && /invalid GCP KMS resource ID "projects\/p\/locations\/l\/keyRings\/r"/.test(e.message),
  );
  assert.throws(() => parseGcpKmsIds(`${KEY_A}/cryptoKeyVersions/1`), SopsError);
});

test('settings: endpoint, universe domain, transport, insecure only on loopback, timeout', () => {
  assert.deepEqual(gcpKmsSettings({}), { transport: 'grpc', insecure: false, timeoutMs: 10_000, attempts: 3 });
  assert.deepEqual(gcpKmsSettings({ SOPS_GCP_KMS_UNIVERSE_DOMAIN: 'example.com' }).endpoint, {
    host: 'cloudkms.example.com',
    port: 443,
  });
  const both = gcpKmsSettings({
    SOPS_GCP_KMS_UNIVERSE_DOMAIN: 'example.com',
    SOPS_GCP_KMS_ENDPOINT: 'kms.internal:8443',
  });
  assert.deepEqual(both.endpoint, { host: 'kms.internal', port: 8443 });
  assert.equal(both.universeDomain, 'example.com');
  assert.deepEqual(gcpKmsSettings({ SOPS_GCP_KMS_ENDPOINT: '[::1]:9000', TSOPS_GCP_KMS_INSECURE: 'true' }).endpoint, {
    host: '[::1]',
    port: 9000,
  });
  assert.equal(gcpKmsSettings({ SOPS_GCP_KMS_CLIENT_TYPE: 'REST' }).transport, 'rest');
  assert.equal(gcpKmsSettings({ TSOPS_GCP_KMS_TIMEOUT: '0.25' }).timeoutMs, 250);
  assert.throws(
    () => gcpKmsSettings({ SOPS_GCP_KMS_CLIENT_TYPE: 'http' }),
    /SOPS_GCP_KMS_CLIENT_TYPE must be grpc or rest/,
  );
  assert.throws(
    () => gcpKmsSettings({ SOPS_GCP_KMS_ENDPOINT: 'http://x:1/' }),
    /SOPS_GCP_KMS_ENDPOINT must be host:port/,
  );
  assert.throws(
    () => gcpKmsSettings({ SOPS_GCP_KMS_ENDPOINT: 'kms.example.com:443', TSOPS_GCP_KMS_INSECURE: '1' }),
    /loopback/,
  );
  assert.throws(() => gcpKmsSettings({ TSOPS_GCP_KMS_INSECURE: '1' }), /loopback/);
  assert.throws(() => gcpKmsSettings({ TSOPS_GCP_KMS_TIMEOUT: 'soon' }), /TSOPS_GCP_KMS_TIMEOUT/);
});

test('round trip over gRPC with GOOGLE_OAUTH_ACCESS_TOKEN', async () => {
  const n = kms.calls.length;
  const dataKey = randomBytes(32);
  const k = key(KEY_A);
  k.enc = await source.wrap(k, dataKey, ctx());
  assert.match(k.enc, /^[A-Za-z0-9+/]+={0,2}$/);
  const ciphertext = Buffer.from(k.enc, 'base64');
  assert.ok(ciphertext.length > dataKey.length && !ciphertext.includes(dataKey));
  assert.deepEqual(await source.unwrap(k, ctx()), dataKey);
  assert.deepEqual(
    callsSince(n).map((c) => [c.method, c.transport, c.name, c.authorization, c.status]),
    [
      ['Encrypt', 'grpc', KEY_A, `Bearer ${TOKEN}`, 'OK'],
      ['Decrypt', 'grpc', KEY_A, `Bearer ${TOKEN}`, 'OK'],
    ],
  );
});

test('concurrent calls on one client: a failing key does not disturb the others; logs hold no token', async () => {
  const logs: string[] = [];
  const c = { ...ctx(), log: (m: string) => logs.push(m) };
  const dataKey = randomBytes(32);
  const [a, denied, b] = await Promise.allSettled([
    source.wrap(key(KEY_A), dataKey, c),
    source.wrap(key(KEY_DENIED), dataKey, c),
    source.wrap(key(KEY_B), dataKey, c),
  ]);
  assert.equal(a.status, 'fulfilled');
  assert.equal(b.status, 'fulfilled');
  assert.equal(denied.status, 'rejected');
  assert.deepEqual(await source.unwrap(key(KEY_B, b.value), c), dataKey);
  assert.ok(logs.some((l) => l.includes(KEY_A)));
  assert.ok(logs.every((l) => !l.includes(TOKEN)));
});

test('a ciphertext of one key does not decrypt under another', async () => {
  const dataKey = randomBytes(32);
  const enc = await source.wrap(key(KEY_A), dataKey, ctx());
  const n = kms.calls.length;
  const e = await rejection(source.unwrap(key(KEY_B, enc), ctx()));
  assert.match(
    e.message,
    /^GCP KMS Decrypt with projects\/tsops-test\/locations\/europe-west1\/keyRings\/sops\/cryptoKeys\/key-b failed: INVALID_ARGUMENT \(code 3\): Decryption failed/,
  );
  assert.equal(callsSince(n).length, 1, 'a permanent error is not retried');
  // A tampered ciphertext fails the same way.
  const bad = Buffer.from(enc, 'base64');
  bad[bad.length - 1]! ^= 1;
  await assert.rejects(source.unwrap(key(KEY_A, bad.toString('base64')), ctx()), /INVALID_ARGUMENT/);
});

test('a denied key fails with PERMISSION_DENIED, naming the key; an unknown key with NOT_FOUND', async () => {
  const n = kms.calls.length;
  const e = await rejection(source.wrap(key(KEY_DENIED), randomBytes(32), ctx()));
  assert.equal(
    e.message,
    `GCP KMS Encrypt with ${KEY_DENIED} failed: PERMISSION_DENIED (code 7): Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '${KEY_DENIED}' (or it may not exist).`,
  );
  assert.equal(callsSince(n).length, 1);
  const unknown = 'projects/tsops-test/locations/global/keyRings/sops/cryptoKeys/missing';
  await assert.rejects(
    source.wrap(key(unknown), randomBytes(32), ctx()),
    (err: Error) => err.message.includes(unknown) && /NOT_FOUND \(code 5\)/.test(err.message),
  );
});

test('bad credentials fail with UNAUTHENTICATED and a hint, without a retry', async () => {
  const n = kms.calls.length;
  const e = await rejection(source.wrap(key(KEY_A), randomBytes(32), ctx({ GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.wrong' })));
  assert.match(
    e.message,
    /^GCP KMS Encrypt with \S+key-a failed: UNAUTHENTICATED \(code 16\): Request had invalid authentication credentials\..*check the credentials/,
  );
  assert.ok(!e.message.includes('ya29.wrong'), 'the token is not echoed');
  assert.equal(callsSince(n).length, 1);
});

test('transient failures are retried, at most 3 tries in all', async () => {
  const dataKey = randomBytes(32);
  let n = kms.calls.length;
  kms.failNext(2);
  const enc = await source.wrap(key(KEY_A), dataKey, ctx());
  assert.deepEqual(
    callsSince(n).map((c) => c.status),
    ['UNAVAILABLE', 'UNAVAILABLE', 'OK'],
  );
  assert.deepEqual(await source.unwrap(key(KEY_A, enc), ctx()), dataKey);

  n = kms.calls.length;
  kms.failNext(3);
  const e = await rejection(source.unwrap(key(KEY_A, enc), ctx()));
  assert.equal(
    e.message,
    `GCP KMS Decrypt with ${KEY_A} failed after 3 attempts: UNAVAILABLE (code 14): The service is currently unavailable.`,
  );
  assert.equal(callsSince(n).length, 3);
});

test('a slow service times out (DEADLINE_EXCEEDED) after the bounded tries', { timeout: 15_000 }, async () => {
  const slow = await startGcpKmsServer({ delayMs: 3_000 });
  try {
    const e = await rejection(
      source.wrap(key(KEY_A), randomBytes(32), ctx({ TSOPS_GCP_KMS_TIMEOUT: '0.1' }, slow.endpoint)),
    );
    assert.match(
      e.message,
      new RegExp(`^GCP KMS Encrypt with ${KEY_A} failed after 3 attempts: DEADLINE_EXCEEDED \\(code 4\\)`),
    );
    assert.equal(slow.calls.length, 3);
  } finally {
    await slow.close();
  }
});

test('an unreachable endpoint fails with UNAVAILABLE, naming the key', { timeout: 15_000 }, async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const e = await rejection(
    source.unwrap(
      key(KEY_A, Buffer.from('x').toString('base64')),
      ctx({ TSOPS_GCP_KMS_TIMEOUT: '2' }, `127.0.0.1:${port}`),
    ),
  );
  assert.match(
    e.message,
    new RegExp(
      `^GCP KMS Decrypt with ${KEY_A} failed after 3 attempts: UNAVAILABLE \\(code 14\\): .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`,
    ),
  );
});

test('GOOGLE_CREDENTIALS as JSON: a service account signs its own JWT, which the server verifies', async () => {
  const n = kms.calls.length;
  const dataKey = randomBytes(32);
  // GOOGLE_CREDENTIALS comes before GOOGLE_OAUTH_ACCESS_TOKEN, as in sops.
  const c = ctx({ GOOGLE_CREDENTIALS: saJson, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.not-used' });
  const enc = await source.wrap(key(KEY_B), dataKey, c);
  assert.deepEqual(await source.unwrap(key(KEY_B, enc), c), dataKey);
  const calls = callsSince(n);
  assert.deepEqual(
    calls.map((x) => [x.status, x.principal]),
    [
      ['OK', SA_EMAIL],
      ['OK', SA_EMAIL],
    ],
  );
  assert.match(calls[0]!.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
});

test('GOOGLE_CREDENTIALS as a path: an external account trades its subject token at a loopback STS', async () => {
  const sts = await startStsServer('subject-token-from-idp', 'sts-issued-token');
  try {
    writeFileSync(join(dir, 'subject-token'), 'subject-token-from-idp');
    const credFile = join(dir, 'external-account.json');
    writeFileSync(
      credFile,
      JSON.stringify({
        type: 'external_account',
        audience: '//iam.googleapis.com/projects/100/locations/global/workloadIdentityPools/pool/providers/loopback',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: sts.tokenUrl,
        credential_source: { file: join(dir, 'subject-token') },
      }),
    );
    const n = kms.calls.length;
    const dataKey = randomBytes(32);
    const c = ctx({ GOOGLE_CREDENTIALS: credFile, GOOGLE_OAUTH_ACCESS_TOKEN: undefined });
    const enc = await source.wrap(key(KEY_A), dataKey, c);
    assert.deepEqual(await source.unwrap(key(KEY_A, enc), c), dataKey);
    assert.deepEqual(
      callsSince(n).map((x) => [x.status, x.authorization]),
      [
        ['OK', 'Bearer sts-issued-token'],
        ['OK', 'Bearer sts-issued-token'],
      ],
    );
    assert.ok(sts.exchanges.length >= 1 && sts.exchanges.every((t) => t === 'subject-token-from-idp'));

    // The STS refusing the subject token is reported as such (another credential file: clients,
    // and the tokens they hold, are kept per credentials).
    writeFileSync(join(dir, 'stale-subject-token'), 'stale-token');
    const staleFile = join(dir, 'external-account-stale.json');
    writeFileSync(
      staleFile,
      JSON.stringify({
        ...JSON.parse(readFileSync(credFile, 'utf8')),
        credential_source: { file: join(dir, 'stale-subject-token') },
      }),
    );
    const e = await rejection(
      source.wrap(key(KEY_A), dataKey, ctx({ GOOGLE_CREDENTIALS: staleFile, GOOGLE_OAUTH_ACCESS_TOKEN: undefined })),
    );
    assert.match(e.message, new RegExp(`^GCP KMS Encrypt with ${KEY_A} failed.*invalid_grant`));
  } finally {
    await sts.close();
  }
});

test('Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS names a service-account file', async () => {
  const file = join(dir, 'adc.json');
  writeFileSync(file, saJson);
  const n = kms.calls.length;
  const dataKey = randomBytes(32);
  const c = ctx({ GOOGLE_OAUTH_ACCESS_TOKEN: undefined, GOOGLE_APPLICATION_CREDENTIALS: file });
  const enc = await source.wrap(key(KEY_A), dataKey, c);
  assert.deepEqual(await source.unwrap(key(KEY_A, enc), c), dataKey);
  assert.deepEqual(
    callsSince(n).map((x) => x.principal),
    [SA_EMAIL, SA_EMAIL],
  );
  const missing = await rejection(
    source.wrap(
      key(KEY_A),
      dataKey,
      ctx({ GOOGLE_OAUTH_ACCESS_TOKEN: undefined, GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'nope.json') }),
    ),
  );
  assert.match(missing.message, /GOOGLE_APPLICATION_CREDENTIALS does not exist/);
});

test('GOOGLE_CREDENTIALS that is neither a file nor JSON is refused without echoing it', async () => {
  const n = kms.calls.length;
  const e = await rejection(
    source.wrap(key(KEY_A), randomBytes(32), ctx({ GOOGLE_CREDENTIALS: 'secret-looking-value' })),
  );
  assert.match(e.message, /GOOGLE_CREDENTIALS \(neither an existing file nor JSON\) does not hold JSON credentials/);
  assert.ok(!e.message.includes('secret-looking-value'));
  assert.equal(callsSince(n).length, 0);
});

test('bad input is refused before any call: invalid resource ID, enc not base64', async () => {
  const n = kms.calls.length;
  const e1 = await rejection(source.wrap(key('projects/p/keyRings/r'), randomBytes(32), ctx()));
  assert.match(e1.message, /no valid GCP KMS resource ID in "projects\/p\/keyRings\/r"/);
  const e2 = await rejection(source.unwrap(key(KEY_A, 'not base64!'), ctx()));
  assert.match(e2.message, /encrypted data key for GCP KMS key \S+key-a is not valid base64/);
  assert.equal(callsSince(n).length, 0);
});

test('the default transport: gRPC over TLS, credentials sent as gRPC call credentials', async () => {
  const secure = await startGcpKmsServer({ tls: tlsCert, tokens: [TOKEN] });
  try {
    const dataKey = randomBytes(32);
    // By name (the certificate names localhost too): TLS server names cannot be IP addresses.
    const c = ctx({ TSOPS_GCP_KMS_INSECURE: undefined }, secure.endpoint.replace('127.0.0.1', 'localhost'));
    const enc = await source.wrap(key(KEY_A), dataKey, c);
    assert.deepEqual(await source.unwrap(key(KEY_A, enc), c), dataKey);
    assert.deepEqual(
      secure.calls.map((x) => [x.method, x.authorization]),
      [
        ['Encrypt', `Bearer ${TOKEN}`],
        ['Decrypt', `Bearer ${TOKEN}`],
      ],
    );
  } finally {
    await secure.close();
  }
});

test('SOPS_GCP_KMS_CLIENT_TYPE=rest: the same calls over the REST binding', async () => {
  const n = kms.calls.length;
  const dataKey = randomBytes(32);
  const c = ctx({ SOPS_GCP_KMS_CLIENT_TYPE: 'rest' }, kms.restEndpoint);
  const enc = await source.wrap(key(KEY_A), dataKey, c);
  assert.deepEqual(await source.unwrap(key(KEY_A, enc), c), dataKey);
  // A ciphertext made over REST decrypts over gRPC: the same service.
  assert.deepEqual(await source.unwrap(key(KEY_A, enc), ctx()), dataKey);
  assert.deepEqual(
    callsSince(n).map((x) => [x.method, x.transport, x.authorization]),
    [
      ['Encrypt', 'rest', `Bearer ${TOKEN}`],
      ['Decrypt', 'rest', `Bearer ${TOKEN}`],
      ['Decrypt', 'grpc', `Bearer ${TOKEN}`],
    ],
  );
  const e = await rejection(source.wrap(key(KEY_DENIED), dataKey, c));
  assert.match(
    e.message,
    new RegExp(
      `^GCP KMS Encrypt with ${KEY_DENIED} failed: PERMISSION_DENIED \\(code 7, HTTP 403\\): Permission 'cloudkms`,
    ),
  );
});

// sops 3.13.2's layout for a file with one GCP KMS key (keys sorted, timestamps quoted).
const SOPS_SECTION = `sops:
    gcp_kms:
        - created_at: "2025-08-06T18:55:05Z"
          enc: CiQAmLCYE3cqNb2NVJyiwN1+FV3s3AvMS/gaDx5Pzbm0y+OOFDcSSQBVz0m5kfpApNK3XOCQqYLPcXL4zZWu6mLe3UM63Qj0Wn+NJ1cZs+C01DzqaBoCvSi9fJ6q8kJ1EpvFhIwEi8ddn1Hd3vQtPr0=
          resource_id: projects/my-project/locations/global/keyRings/sops/cryptoKeys/sops-key
    lastmodified: "2025-08-06T18:55:05Z"
    mac: ENC[AES256_GCM,data:GCWOyMJo56xAfC4he5zJUuQr,iv:V1kH6xaXDIb8NHYNm4A5ilTInizW7gw8nWhINZh9OJs=,tag:u+JwZ5osXC6FHdytwvRwvw==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.13.2
`;

test('a gcp_kms entry in sops layout is read by parseMetadata and written back identically', () => {
  const plain = YAML.parse(SOPS_SECTION).sops;
  const m = parseMetadata(plain);
  assert.deepEqual(m.keyGroups, [
    [
      {
        type: 'gcp_kms',
        resourceId: 'projects/my-project/locations/global/keyRings/sops/cryptoKeys/sops-key',
        enc: plain.gcp_kms[0].enc,
        createdAt: '2025-08-06T18:55:05Z',
      },
    ],
  ]);
  const entry = keyToPlain(m.keyGroups[0]![0]!);
  assert.equal(JSON.stringify(entry), JSON.stringify(plain.gcp_kms[0]), 'same keys, same order, same values');
  assert.equal(JSON.stringify(metadataToPlain(m)), JSON.stringify(plain));
  // What wrap produces fits the same slot: base64 that unwrap reads back.
  assert.match(entry['enc'] as string, /^[A-Za-z0-9+/]+={0,2}$/);
});

test('a key wrapped here survives the metadata round trip and unwraps', async () => {
  const dataKey = randomBytes(32);
  const [k] = parseGcpKmsIds(KEY_B);
  k!.enc = await source.wrap(k!, dataKey, ctx());
  k!.createdAt = '2025-01-02T03:04:05Z';
  const text = YAML.stringify({
    sops: { gcp_kms: [keyToPlain(k!)], lastmodified: '2025-01-02T03:04:05Z', mac: '', version: '3.13.2' },
  });
  const back = parseMetadata(YAML.parse(text).sops).keyGroups[0]![0] as GcpKmsKey;
  assert.deepEqual(back, k);
  assert.deepEqual(await source.unwrap(back, ctx()), dataKey);
});
