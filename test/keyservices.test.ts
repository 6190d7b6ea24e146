/**
 * Cloud key services end to end: whole files through the library API and the CLI with the real SDK
 * clients (AWS KMS, GCP Cloud KMS, Azure Key Vault) and tsops's Vault client, against the loopback
 * servers in ./servers; mixed key groups with Shamir thresholds; how many service calls a decrypt
 * makes and whether they overlap; the KMS encryption context; and the real sops (the oracle) reading
 * the files tsops wrote, its key-service calls answered by the same loopback servers.
 *
 * Every service is reached the way a user reaches it, with no test-only switch in tsops:
 *  - AWS: AWS_ENDPOINT_URL and static credentials;
 *  - GCP: SOPS_GCP_KMS_ENDPOINT over TLS (gRPC roots from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH), a token;
 *  - Azure: the vault is `https://tsops.vault.azure.net`, reached through HTTPS_PROXY (a loopback
 *    CONNECT proxy that sends *.vault.azure.net and login.microsoftonline.com to the loopback Key
 *    Vault, whose certificate Node trusts through NODE_EXTRA_CA_CERTS);
 *  - Vault: the file's vault_address and VAULT_TOKEN.
 * Those process-wide settings are why the library API runs in a child process (helpers/api-worker).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import YAML from 'yaml';
import { ExitCode } from '../src/errors.js';
import { ApiError, startApiWorker, type ApiWorker } from './helpers/api-worker.js';
import {
  closeOracle,
  oracleAvailable,
  oracleUnavailableReason,
  sopsDecrypt,
  type OracleFormat,
  type OracleServices,
} from './helpers/sops-oracle.js';
import { closedPortUrl, startAwsServer, type AwsServer } from './servers/aws-kms.js';
import { startAzureKvServer, type AzureKvServer } from './servers/azure-kv.js';
import { startConnectProxy, type ConnectProxy } from './servers/connect-proxy.js';
import { startGcpKmsServer, type GcpKmsServer } from './servers/gcp-kms.js';
import { recordingObserver } from './servers/observe.js';
import { selfSignedCert } from './servers/tls-cert.js';
import { startVaultServer, type VaultServer } from './servers/vault.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'tsops');
const FIXTURES = path.join(ROOT, 'fixtures', 'sops-3.13.2');

// The age test identity published in getsops/sops (age/keysource_test.go).
const AGE_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_R = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

const KMS_ARN = 'arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::111122223333:role/sops-decrypt';
const AWS_ID = 'AKIDKEYSERVICES0001';
const AWS_SECRET = 'keyservices-secret-access-key';
const GCP_KEY = 'projects/tsops-test/locations/global/keyRings/sops/cryptoKeys/key-a';
const GCP_TOKEN = 'ya29.keyservices-loopback-token';
const AZ_VAULT = 'https://tsops.vault.azure.net';
const SA_EMAIL = 'oracle@tsops-test.iam.gserviceaccount.com';

// kms entries with CiphertextBlobs the real AWS KMS returned: the example `sops.kms` entries of the
// sops README (mozilla/sops, 2015; created_at 1441570389.775376 and 1441570391.925734), written here
// in the layout sops 3.x writes (arn, aws_profile, created_at as RFC 3339, enc).
const README_KMS = [
  {
    arn: 'arn:aws:kms:us-east-1:656532927350:key/920aff2e-c5f1-4040-943a-047fa387b27e',
    created_at: '2015-09-06T20:13:09Z',
    enc: 'CiC6yCOtzsnFhkfdIslYZ0bAf//gYLYCmIu87B3sy/5yYxKnAQEBAgB4usgjrc7JxYZH3SLJWGdGwH//4GC2ApiLvOwd7Mv+cmMAAAB+MHwGCSqGSIb3DQEHBqBvMG0CAQAwaAYJKoZIhvcNAQcBMB4GCWCGSAFlAwQBLjARBAxn6jfG4e44/phCddICARCAOzfGN/7WlU0MouQRXv22Pix46dSocMH1K7Xf47WqF1rCEcuN1aMVBj+IxwOgOVxVsr0Kze4lnMqPm1Hm',
  },
  {
    arn: 'arn:aws:kms:ap-southeast-1:656532927350:key/9006a8aa-0fa6-4c14-930e-a2dfb916de1d',
    created_at: '2015-09-06T20:13:11Z',
    enc: 'CiBdfsKZbRNf/Li8Tf2SjeSdP76DineB1sbPjV0TV+meTxKnAQEBAgB4XX7CmW0TX/y4vE39ko3knT++g4p3gdbGz41dE1fpnk8AAAB+MHwGCSqGSIb3DQEHBqBvMG0CAQAwaAYJKoZIhvcNAQcBMB4GCWCGSAFlAwQBLjARBAxGzsadorzSGbp73+ECARCAO0hc3cYxgNF2OU5TfTj8iyt/S6DTKDO+gwcHc3sy3ELQ/pUjSFJScYOQmqYpvsznhZ4YjHQWDdbRawNx',
  },
] as const;

const observer = recordingObserver();
let dir: string;
let home: string;
let cert: { cert: string; key: string };
let aws: AwsServer;
let vault: VaultServer;
let gcp: GcpKmsServer;
let azure: AzureKvServer;
let azVersion: string;
let proxy: ConnectProxy;
let api: ApiWorker;
/** The process environment of the API worker and of every CLI run. */
let processEnv: NodeJS.ProcessEnv;
let saJson: string;
/** The data key of fixtures/sops-3.13.2/example.yaml, recovered with the PGP test key. */
let exampleDataKey: Buffer;
let haveOracle = false;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-keyservices-'));
  home = path.join(dir, 'home');
  fs.mkdirSync(home);
  cert = selfSignedCert([
    '127.0.0.1',
    'localhost',
    'cloudkms.googleapis.com',
    '*.vault.azure.net',
    'login.microsoftonline.com',
  ]);
  const roots = path.join(dir, 'roots.pem');
  fs.writeFileSync(roots, cert.cert);

  const doc = YAML.parseDocument(fs.readFileSync(path.join(FIXTURES, 'example.yaml'), 'utf8'));
  const decryptionKeys = await openpgp.readPrivateKeys({
    armoredKeys: fs.readFileSync(path.join(FIXTURES, 'keys', 'sops_functional_tests_key.asc'), 'utf8'),
  });
  const message = await openpgp.readMessage({ armoredMessage: doc.getIn(['sops', 'pgp', 0, 'enc']) as string });
  exampleDataKey = Buffer.from(
    (await openpgp.decrypt({ message, decryptionKeys, format: 'binary' })).data as Uint8Array,
  );

  const sa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  saJson = JSON.stringify({
    type: 'service_account',
    project_id: 'tsops-test',
    private_key_id: 'loopback-1',
    private_key: sa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: SA_EMAIL,
    client_id: '100000000000000000002',
    token_uri: 'http://127.0.0.1:9/token', // not used: the Go client signs its own JWT
  });

  // allSettled, so that after() closes every server that did start even when another one fails
  // (with Promise.all a failed start left the others listening and the test file never exited).
  const started = await Promise.allSettled([
    startAwsServer({
      observer,
      recorded: [{ ciphertextBlob: README_KMS[0].enc, keyId: README_KMS[0].arn, plaintext: exampleDataKey }],
    }),
    startVaultServer({ observer }),
    startGcpKmsServer({ tls: cert, tokens: [GCP_TOKEN], serviceAccounts: { [SA_EMAIL]: sa.publicKey }, observer }),
    startAzureKvServer({ tls: cert, observer }),
  ] as const);
  if (started[0].status === 'fulfilled') aws = started[0].value;
  if (started[1].status === 'fulfilled') vault = started[1].value;
  if (started[2].status === 'fulfilled') gcp = started[2].value;
  if (started[3].status === 'fulfilled') azure = started[3].value;
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  azVersion = azure.addKeyVersion('sops');
  const azPort = Number(new URL(azure.url).port);
  proxy = await startConnectProxy({ '*.vault.azure.net:443': azPort, 'login.microsoftonline.com:443': azPort });
  processEnv = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HTTPS_PROXY: proxy.url,
    NO_PROXY: '127.0.0.1,localhost',
    NODE_EXTRA_CA_CERTS: roots,
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: roots,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  api = startApiWorker(processEnv);
  haveOracle = await oracleAvailable();
});

after(async () => {
  observer.release();
  await closeOracle();
  await api?.close();
  await Promise.all([aws?.close(), vault?.close(), gcp?.close(), azure?.close(), proxy?.close()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** What every key service needs, as a user sets it (no age identity: add SOPS_AGE_KEY when wanted). */
function services(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOME: home,
    AWS_ACCESS_KEY_ID: AWS_ID,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_ENDPOINT_URL: aws.url,
    AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    VAULT_TOKEN: vault.token,
    SOPS_GCP_KMS_ENDPOINT: `localhost:${gcp.endpoint.split(':')[1]}`, // (a name: grpc-js warns when TLS names an IP)
    GOOGLE_OAUTH_ACCESS_TOKEN: GCP_TOKEN,
    TSOPS_GCP_KMS_TIMEOUT: '20',
    AZURE_TENANT_ID: azure.tenantId,
    AZURE_CLIENT_ID: azure.clientId,
    AZURE_CLIENT_SECRET: azure.clientSecret,
    ...extra,
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run bin/tsops with the key-service environment (and `extra`), in the temp dir. */
function cli(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { ...processEnv, ...services(extra) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

function write(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

/** The error an API call rejects with (it must reject, with a one-line message). */
async function apiFailure(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(
    () => assert.fail('expected the call to fail'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof ApiError, `expected an API error, got ${String(e)}`);
  assert.doesNotMatch(e.message, /\n/, 'one line');
  return e;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// --- the files' metadata ----------------------------------------------------------------------------

type Fields = Record<string, unknown>;

/** The sops metadata of a YAML/JSON/binary file. */
function sopsSection(text: string, format: 'yaml' | 'json' | 'binary'): Fields {
  const doc = (format === 'yaml' ? YAML.parse(text) : JSON.parse(text)) as { sops?: Fields };
  assert.ok(doc.sops, 'the file has a sops section');
  return doc.sops;
}

/** Entry `i` of key list `type` (single key group), with its fields in file order. */
function entry(text: string, format: string, type: string, i = 0): Fields {
  if (format === 'yaml' || format === 'json' || format === 'binary') {
    const list = sopsSection(text, format)[type] as Fields[] | undefined;
    assert.ok(Array.isArray(list) && list[i], `sops.${type}[${i}] is there`);
    return list[i];
  }
  // dotenv: sops_<type>__list_<i>__map_<field>=…; INI: <type>__list_<i>__map_<field> = … in [sops]
  const prefix = `${format === 'dotenv' ? 'sops_' : ''}${type}__list_${i}__map_`;
  const lines = format === 'ini' ? text.slice(text.indexOf('[sops]')).split('\n') : text.split('\n');
  const out: Fields = {};
  for (const line of lines) {
    const m = new RegExp(`^${escape(prefix)}(\\w+?)\\s*=\\s*(.*)$`).exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  assert.ok(Object.keys(out).length, `${prefix}* lines are there`);
  return out;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const STD_B64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** sops's exact layout of one entry of each key type: its fields, sorted, and the shape of each. */
function assertLayout(type: 'kms' | 'gcp_kms' | 'azure_kv' | 'hc_vault', e: Fields, want: Fields): void {
  const fields: Record<typeof type, string[]> = {
    kms: ['arn', 'aws_profile', 'created_at', 'enc'],
    gcp_kms: ['created_at', 'enc', 'resource_id'],
    azure_kv: ['created_at', 'enc', 'name', 'vault_url', 'version'],
    hc_vault: ['created_at', 'enc', 'engine_path', 'key_name', 'vault_address'],
  };
  const expected = [...fields[type], ...Object.keys(want).filter((k) => !fields[type].includes(k))].sort();
  assert.deepEqual(Object.keys(e), expected, `${type} entry fields, in sops's order`);
  for (const [k, v] of Object.entries(want)) assert.deepEqual(e[k], v, `${type}.${k}`);
  assert.match(String(e['created_at']), RFC3339);
  const enc = String(e['enc']);
  if (type === 'kms' || type === 'gcp_kms') assert.match(enc, STD_B64, 'standard padded base64');
  if (type === 'azure_kv') assert.match(enc, /^[A-Za-z0-9_-]{300,}$/, 'unpadded base64url (RSA-2048 ciphertext)');
  if (type === 'hc_vault') assert.match(enc, /^vault:v1:[A-Za-z0-9+/=]+$/);
}

// --- 1. whole files, every service, library API and CLI ---------------------------------------------

const YAML_TEXT = `db:
    user: admin
    password: hunter2 ✓
    port: 5432
replicas:
    - eu-west-3
    - us-east-1
enabled: true
ratio: 0.25
`;
const JSON_TEXT = `{"api": {"token": "t0k3n", "retries": 3}, "hosts": ["a", "b"], "debug": false}`;
const DOTENV_TEXT = 'DB_PASSWORD=hunter2\nAPI_TOKEN=abc=def\n';
const INI_TEXT = '[db]\npassword = hunter2\nuser = admin\n';
const BINARY_TEXT = '-----BEGIN TEST KEY-----\nbm90IGEgcmVhbCBrZXk=\n-----END TEST KEY-----\n';

interface ServiceCase {
  type: 'kms' | 'gcp_kms' | 'azure_kv' | 'hc_vault';
  key: () => Record<string, unknown>;
  /** The fields sops writes besides created_at/enc. */
  layout: () => Fields;
  /** Another format; INI is compared as text (its tree carries go-ini's empty DEFAULT section). */
  other: { format: 'json' | 'dotenv' | 'ini' | 'binary'; text: string; data: unknown };
  cliFlag: () => string[];
  /** Decrypt calls this service received so far. */
  decrypts: () => number;
}

const CASES: ServiceCase[] = [
  {
    type: 'kms',
    key: () => ({ type: 'kms', arn: KMS_ARN, enc: '' }),
    layout: () => ({ arn: KMS_ARN, aws_profile: '' }),
    other: { format: 'json', text: JSON_TEXT, data: JSON.parse(JSON_TEXT) },
    cliFlag: () => ['--kms', KMS_ARN],
    decrypts: () => aws.calls.filter((c) => c.action === 'Decrypt').length,
  },
  {
    type: 'gcp_kms',
    key: () => ({ type: 'gcp_kms', resourceId: GCP_KEY, enc: '' }),
    layout: () => ({ resource_id: GCP_KEY }),
    other: { format: 'dotenv', text: DOTENV_TEXT, data: { DB_PASSWORD: 'hunter2', API_TOKEN: 'abc=def' } },
    cliFlag: () => ['--gcp-kms', GCP_KEY],
    decrypts: () => gcp.calls.filter((c) => c.method === 'Decrypt').length,
  },
  {
    type: 'azure_kv',
    key: () => ({ type: 'azure_kv', vaultUrl: AZ_VAULT, name: 'sops', version: '', enc: '' }),
    layout: () => ({ vault_url: AZ_VAULT, name: 'sops', version: azVersion }),
    other: { format: 'ini', text: INI_TEXT, data: { db: { password: 'hunter2', user: 'admin' } } },
    cliFlag: () => ['--azure-kv', `${AZ_VAULT}/keys/sops`],
    decrypts: () =>
      azure.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/decrypt') && c.authorization).length,
  },
  {
    type: 'hc_vault',
    key: () => ({ type: 'hc_vault', vaultAddress: vault.url, enginePath: 'transit', keyName: 'sops', enc: '' }),
    layout: () => ({ vault_address: vault.url, engine_path: 'transit', key_name: 'sops' }),
    other: { format: 'binary', text: BINARY_TEXT, data: { data: BINARY_TEXT } },
    cliFlag: () => ['--hc-vault-transit', `${vault.url}/v1/transit/keys/sops`],
    decrypts: () => vault.calls.filter((c) => c.path === '/v1/transit/decrypt/sops').length,
  },
];

/** Files written by the tests below, read again by the real-sops tests. */
const written = new Map<string, { text: string; format: OracleFormat; data: unknown }>();

describe('whole files through each key service', () => {
  for (const c of CASES) {
    test(`${c.type}: library API round trip in YAML and ${c.other.format}, in sops's layout`, async () => {
      for (const [format, text, data] of [
        ['yaml', YAML_TEXT, YAML.parse(YAML_TEXT)],
        [c.other.format, c.other.text, c.other.data],
      ] as const) {
        const before = c.decrypts();
        const enc = await api.encrypt(text, { format, keyGroups: [[c.key()]], env: services() });
        assert.doesNotMatch(enc, /hunter2|t0k3n|bm90IGEgcmVhbCBrZXk/, 'no plaintext in the file');
        if (format === 'yaml' || format === 'json' || format === 'binary') {
          const sops = sopsSection(enc, format);
          assert.deepEqual(
            Object.keys(sops),
            [c.type, 'lastmodified', 'mac', 'unencrypted_suffix', 'version'],
            'sops keys, sorted',
          );
          assert.equal((sops[c.type] as unknown[]).length, 1);
        }
        assertLayout(c.type, entry(enc, format, c.type), c.layout());
        if (format === 'ini') {
          const back = await api.decrypt(enc, { format, env: services() });
          assert.equal(
            back.replace(/ +=/g, ' ='),
            text,
            'the INI file decrypts to its text (keys padded as go-ini pads them)',
          );
        } else {
          assert.deepEqual(await api.decryptData(enc, { format, env: services() }), data);
        }
        assert.equal(c.decrypts(), before + 1, 'one decrypt call to the service');
        if (format !== 'ini') written.set(`${c.type}.${format}`, { text: enc, format: format, data });
      }
    });
  }

  test('the CLI encrypts and decrypts with each service (--kms, --gcp-kms, --azure-kv, --hc-vault-transit)', async () => {
    await Promise.all(
      CASES.map(async (c) => {
        const plain = write(`cli-${c.type}.yaml`, YAML_TEXT);
        const enc = await cli(['encrypt', ...c.cliFlag(), plain]);
        assert.equal(enc.code, 0, `${c.type} encrypt: ${enc.stderr}`);
        assertLayout(c.type, entry(enc.stdout, 'yaml', c.type), c.layout());
        const file = write(`cli-${c.type}.enc.yaml`, enc.stdout);
        const dec = await cli(['decrypt', file]);
        assert.equal(dec.code, 0, `${c.type} decrypt: ${dec.stderr}`);
        assert.deepEqual(YAML.parse(dec.stdout), YAML.parse(YAML_TEXT), c.type);
      }),
    );
  });

  test("Azure: the decrypt permission alone is enough, as for sops (the SDK's key lookup may be refused)", async () => {
    const f = written.get('azure_kv.yaml');
    assert.ok(f);
    azure.denied.add('get');
    try {
      const n = azure.calls.length;
      const dec = await cli(['decrypt', write('azure-noget.enc.yaml', f.text)]);
      assert.equal(dec.code, 0, dec.stderr);
      assert.deepEqual(YAML.parse(dec.stdout), f.data);
      assert.ok(
        azure.calls.slice(n).some((c) => c.path.endsWith('/decrypt') && c.authorization),
        'decrypted by the vault',
      );
    } finally {
      azure.denied.clear();
    }
  });

  test('the CLI adds a service key to an age file (rotate --add-kms) and the file then opens with KMS alone', async () => {
    const plain = write('rotate.yaml', YAML_TEXT);
    const enc = await cli(['encrypt', '--age', AGE_R, '--in-place', plain]);
    assert.equal(enc.code, 0, enc.stderr);
    const rot = await cli(['rotate', '--in-place', '--add-kms', KMS_ARN, plain], { SOPS_AGE_KEY: AGE_ID });
    assert.equal(rot.code, 0, rot.stderr);
    const text = fs.readFileSync(plain, 'utf8');
    assertLayout('kms', entry(text, 'yaml', 'kms'), { arn: KMS_ARN, aws_profile: '' });
    const dec = await cli(['decrypt', plain]); // no age identity: only KMS can open it
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(YAML.parse(dec.stdout), YAML.parse(YAML_TEXT));
  });
});

// --- 2. mixed key groups -----------------------------------------------------------------------------

const ageKey = () => ({ type: 'age', recipient: AGE_R, enc: '' });
const kmsKey = (extra: Record<string, unknown> = {}) => ({ type: 'kms', arn: KMS_ARN, enc: '', ...extra });
const vaultKey = () => ({ type: 'hc_vault', vaultAddress: vault.url, enginePath: 'transit', keyName: 'sops', enc: '' });
const gcpKey = () => ({ type: 'gcp_kms', resourceId: GCP_KEY, enc: '' });
const azKey = () => ({ type: 'azure_kv', vaultUrl: AZ_VAULT, name: 'sops', version: '', enc: '' });
const vaultUri = () => `${vault.url}/v1/transit/keys/sops`;

/** Undo every deny. */
function allowAll(): void {
  aws.denied.clear();
  vault.deny = false;
  gcp.deny(GCP_KEY, false);
  azure.denied.clear();
}

describe('mixed key groups', () => {
  let threeGroups: string;
  let serviceGroup: string;
  const data = YAML.parse(YAML_TEXT);

  before(async () => {
    threeGroups = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[ageKey()], [kmsKey()], [vaultKey()]],
      shamirThreshold: 2,
      env: services(),
    });
    serviceGroup = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[gcpKey(), azKey()], [ageKey()]],
      env: services(),
    });
    written.set('mixed.yaml', { text: threeGroups, format: 'yaml', data });
  });
  after(allowAll);

  test("[age] [kms] [hc_vault] with threshold 2: key_groups in sops's layout", () => {
    const sops = sopsSection(threeGroups, 'yaml');
    assert.deepEqual(Object.keys(sops), [
      'key_groups',
      'lastmodified',
      'mac',
      'shamir_threshold',
      'unencrypted_suffix',
      'version',
    ]);
    assert.equal(sops['shamir_threshold'], 2);
    const groups = sops['key_groups'] as Array<Record<string, Fields[]>>;
    assert.deepEqual(
      groups.map((g) => Object.keys(g)),
      [['age'], ['kms'], ['hc_vault']],
    );
    assertLayout('kms', groups[1]!['kms']![0]!, { arn: KMS_ARN, aws_profile: '' });
    assertLayout('hc_vault', groups[2]!['hc_vault']![0]!, {
      vault_address: vault.url,
      engine_path: 'transit',
      key_name: 'sops',
    });
  });

  test('any two of the three groups open the file', async () => {
    allowAll();
    vault.deny = true; // age + kms
    assert.deepEqual(await api.decryptData(threeGroups, { env: services({ SOPS_AGE_KEY: AGE_ID }) }), data);
    allowAll();
    aws.denied.add(KMS_ARN); // age + vault
    assert.deepEqual(await api.decryptData(threeGroups, { env: services({ SOPS_AGE_KEY: AGE_ID }) }), data);
    allowAll(); // kms + vault, no age identity
    assert.deepEqual(await api.decryptData(threeGroups, { env: services() }), data);
  });

  test('one group is not enough: one message names every group, key and reason', async () => {
    allowAll();
    aws.denied.add(KMS_ARN);
    vault.deny = true;
    const e = await apiFailure(api.decryptData(threeGroups, { env: services({ SOPS_AGE_KEY: AGE_ID }) }));
    assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
    assert.match(e.message, /1 of 3 key groups opened, 2 needed/);
    assert.match(e.message, /group 1: opened/);
    assert.match(
      e.message,
      new RegExp(`group 2: kms ${escape(KMS_ARN)}: AccessDeniedException: User is not authorized`),
    );
    assert.match(e.message, new RegExp(`group 3: hc_vault ${escape(vaultUri())}: .*permission denied`));

    // No group at all: age has no identity, KMS is unreachable, Vault says no.
    const none = await apiFailure(
      api.decryptData(threeGroups, {
        env: services({ AWS_ENDPOINT_URL: await closedPortUrl(), AWS_MAX_ATTEMPTS: '1' }),
      }),
    );
    assert.equal(none.code, ExitCode.CouldNotRetrieveKey);
    assert.match(none.message, /0 of 3 key groups opened, 2 needed/);
    assert.match(none.message, new RegExp(`group 1: age ${escape(AGE_R)}: `));
    assert.match(none.message, new RegExp(`group 2: kms ${escape(KMS_ARN)}: .*(ECONNREFUSED|connect)`, 'i'));
    assert.match(none.message, /group 3: hc_vault .*permission denied/);
  });

  test('through the CLI the same failure exits with 128 and one line', async () => {
    allowAll();
    aws.denied.add(KMS_ARN);
    vault.deny = true;
    const file = write('mixed.enc.yaml', threeGroups);
    const r = await cli(['decrypt', file], { SOPS_AGE_KEY: AGE_ID });
    assert.equal(r.code, 128, r.stderr);
    assert.equal(r.stdout, '');
    const msg = r.stderr.trim();
    assert.doesNotMatch(msg, /\n/, 'one line');
    assert.doesNotMatch(msg, /^\s+at /m, 'no stack');
    assert.match(msg, new RegExp(`kms ${escape(KMS_ARN)}: AccessDeniedException`));
    assert.match(msg, new RegExp(`hc_vault ${escape(vaultUri())}: .*permission denied`));
    allowAll();
    const ok = await cli(['decrypt', file]); // kms + vault
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(YAML.parse(ok.stdout), data);
  });

  test('[gcp_kms + azure_kv] [age] without threshold: both groups needed; the second key of a group is a fallback', async () => {
    const sops = sopsSection(serviceGroup, 'yaml');
    assert.equal(sops['shamir_threshold'], 2, 'no threshold given: sops writes the number of groups (all needed)');
    const groups = sops['key_groups'] as Array<Record<string, Fields[]>>;
    assert.deepEqual(
      groups.map((g) => Object.keys(g)),
      [['azure_kv', 'gcp_kms'], ['age']],
    );
    assertLayout('gcp_kms', groups[0]!['gcp_kms']![0]!, { resource_id: GCP_KEY });
    assertLayout('azure_kv', groups[0]!['azure_kv']![0]!, { vault_url: AZ_VAULT, name: 'sops', version: azVersion });

    allowAll();
    const gcpBefore = CASES[1]!.decrypts();
    const azBefore = CASES[2]!.decrypts();
    assert.deepEqual(await api.decryptData(serviceGroup, { env: services({ SOPS_AGE_KEY: AGE_ID }) }), data);
    assert.equal(CASES[1]!.decrypts() - gcpBefore, 1);
    assert.equal(CASES[2]!.decrypts() - azBefore, 0, 'the group opened with its first key: Azure not asked');

    gcp.deny(GCP_KEY);
    assert.deepEqual(await api.decryptData(serviceGroup, { env: services({ SOPS_AGE_KEY: AGE_ID }) }), data);
    assert.equal(CASES[2]!.decrypts() - azBefore, 1, 'GCP said no: Azure opened the group');

    azure.denied.add('decrypt');
    const e = await apiFailure(api.decryptData(serviceGroup, { env: services({ SOPS_AGE_KEY: AGE_ID }) }));
    assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
    assert.match(e.message, /1 of 2 key groups opened, 2 needed/);
    assert.match(e.message, new RegExp(`group 1: gcp_kms ${escape(GCP_KEY)}: .*PERMISSION_DENIED`));
    assert.match(e.message, new RegExp(`azure_kv ${escape(AZ_VAULT)}/keys/sops/${azVersion}: .*403`));
    assert.match(e.message, /group 2: opened/);

    allowAll();
    const noAge = await apiFailure(api.decryptData(serviceGroup, { env: services() }));
    assert.match(noAge.message, /1 of 2 key groups opened, 2 needed/);
    assert.match(noAge.message, new RegExp(`group 2: age ${escape(AGE_R)}: `));
  });
});

// --- 3. how many calls, and whether they overlap -----------------------------------------------------

const DECRYPT_CALL = /^(aws:kms:Decrypt|vault:(PUT|POST) \/v1\/transit\/decrypt\/sops|gcp:Decrypt)$/;

describe('service calls of a decrypt', () => {
  let file: string;
  before(async () => {
    allowAll();
    file = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[kmsKey()], [vaultKey()], [gcpKey()]],
      shamirThreshold: 2,
      env: services(),
    });
  });
  after(() => observer.release());

  test('one call per group, all groups asked at once: every request arrives before any answer', async () => {
    const mark = observer.events.length;
    // Hold the three decrypts until all three arrived (a client that asks one group at a time never
    // gets there: its first call is answered after the fallback, before the second one is made).
    observer.holdUntil(DECRYPT_CALL, 3, 15_000);
    assert.deepEqual(await api.decryptData(file, { env: services() }), YAML.parse(YAML_TEXT));
    const events = observer.events.slice(mark).filter((e) => DECRYPT_CALL.test(`${e.service}:${e.what}`));
    const arrived = events.filter((e) => e.phase === 'arrived');
    assert.deepEqual(
      arrived.map((e) => e.service).sort(),
      ['aws', 'gcp', 'vault'],
      'exactly one decrypt per group, none asked twice',
    );
    const firstAnswer = events.findIndex((e) => e.phase === 'answered');
    const lastArrival = events.map((e) => e.phase).lastIndexOf('arrived');
    assert.ok(
      firstAnswer > lastArrival,
      `the second and third requests were sent before the first answer: ${events.map((e) => `${e.service}:${e.phase}`).join(' ')}`,
    );
  });

  test('it stops when the threshold is met: a slow third group is not waited for', async () => {
    const f = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[ageKey()], [kmsKey()], [vaultKey()]],
      shamirThreshold: 2,
      env: services(),
    });
    const mark = observer.events.length;
    observer.holdUntil(/^vault:(PUT|POST) \/v1\/transit\/decrypt\//, Number.MAX_SAFE_INTEGER, 20_000);
    try {
      assert.deepEqual(await api.decryptData(f, { env: services({ SOPS_AGE_KEY: AGE_ID }) }), YAML.parse(YAML_TEXT));
      const now = observer.events.slice(mark);
      assert.ok(
        !now.some((e) => e.service === 'vault' && e.phase === 'answered'),
        'returned while Vault was still holding its answer',
      );
      assert.equal(
        now.filter((e) => e.service === 'aws' && e.what === 'kms:Decrypt' && e.phase === 'arrived').length,
        1,
      );
      assert.ok(
        now.filter((e) => e.service === 'vault' && e.phase === 'arrived').length <= 1,
        'Vault asked at most once',
      );
    } finally {
      observer.release();
    }
  });
});

// --- 4. the KMS encryption context -------------------------------------------------------------------

describe('KMS encryption context', () => {
  test('--encryption-context is stored, sent on decrypt, and an edited context fails clearly', async () => {
    allowAll();
    const plain = write('ctx.yaml', YAML_TEXT);
    const enc = await cli([
      'encrypt',
      '--kms',
      KMS_ARN,
      '--encryption-context',
      'Environment:production,App:web',
      plain,
    ]);
    assert.equal(enc.code, 0, enc.stderr);
    assertLayout('kms', entry(enc.stdout, 'yaml', 'kms'), {
      arn: KMS_ARN,
      aws_profile: '',
      context: { App: 'web', Environment: 'production' },
    });
    written.set('kms-context.yaml', { text: enc.stdout, format: 'yaml', data: YAML.parse(YAML_TEXT) });
    const file = write('ctx.enc.yaml', enc.stdout);

    const edited = enc.stdout.replace(/Environment: production/, 'Environment: staging');
    assert.notEqual(edited, enc.stdout);
    const n = aws.calls.length;
    const [dec, bad] = await Promise.all([
      cli(['decrypt', file]),
      cli(['decrypt', write('ctx-edited.enc.yaml', edited)]),
    ]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(YAML.parse(dec.stdout), YAML.parse(YAML_TEXT));
    const contexts = aws.calls
      .slice(n)
      .filter((c) => c.action === 'Decrypt')
      .map((c) => [c.encryptionContext, c.status]);
    assert.deepEqual(
      contexts.sort((a, b) => Number(a[1]) - Number(b[1])),
      [
        [{ App: 'web', Environment: 'production' }, 200],
        [{ App: 'web', Environment: 'staging' }, 400],
      ],
      'each decrypt sent the context its file holds',
    );
    assert.equal(bad.code, ExitCode.CouldNotRetrieveKey, bad.stderr);
    assert.doesNotMatch(bad.stderr.trim(), /\n/);
    assert.match(bad.stderr, new RegExp(`kms ${escape(KMS_ARN)}: InvalidCiphertextException`));

    // Through the library API: without the context the blob does not open either.
    const doc = YAML.parseDocument(enc.stdout);
    doc.deleteIn(['sops', 'kms', 0, 'context']);
    const e = await apiFailure(api.decryptData(doc.toString(), { env: services() }));
    assert.equal(e.code, ExitCode.CouldNotRetrieveKey);
    assert.match(e.message, /InvalidCiphertextException/);
  });
});

// --- 6. a kms entry the real sops and the real AWS KMS wrote ----------------------------------------

/** fixtures/sops-3.13.2/example.yaml (real sops) with its pgp entries swapped for the README's kms entries. */
function exampleWithReadmeKms(): string {
  const doc = YAML.parseDocument(fs.readFileSync(path.join(FIXTURES, 'example.yaml'), 'utf8'));
  doc.deleteIn(['sops', 'pgp']);
  doc.setIn(
    ['sops', 'kms'],
    README_KMS.map((k) => ({ arn: k.arn, aws_profile: '', created_at: k.created_at, enc: k.enc })),
  );
  return doc.toString();
}

test("a kms entry in sops's exact layout, with a CiphertextBlob from the real AWS KMS, opens the real sops file", async () => {
  allowAll();
  const text = exampleWithReadmeKms();
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected', 'example.yaml.json'), 'utf8')) as unknown;
  const n = aws.calls.length;
  assert.deepEqual(JSON.parse(JSON.stringify(await api.decryptData(text, { env: services() }))), expected);
  const calls = aws.calls.slice(n);
  assert.deepEqual(
    calls.map((c) => [c.action, c.keyId, c.region, c.status]),
    [['Decrypt', README_KMS[0].arn, 'us-east-1', 200]],
    'the first entry opened it; the second was not asked',
  );
  written.set('readme-kms.yaml', { text, format: 'yaml', data: expected });
});

// --- 5. the real sops reads tsops's files ------------------------------------------------------------

describe("the real sops (v3.9.2 library) reads tsops's cloud-key files", () => {
  const oracleEnv = () => ({
    SOPS_AGE_KEY: AGE_ID,
    VAULT_TOKEN: vault.token,
    GOOGLE_CREDENTIALS: saJson,
    AZURE_TENANT_ID: azure.tenantId,
    AZURE_CLIENT_ID: azure.clientId,
    AZURE_CLIENT_SECRET: azure.clientSecret,
  });
  const oracleServices = (): OracleServices => {
    const azPort = Number(new URL(azure.url).port);
    return {
      aws: aws.url,
      vault: vault.url,
      tunnels: {
        'cloudkms.googleapis.com:443': Number(gcp.endpoint.split(':')[1]),
        'tsops.vault.azure.net:443': azPort,
        'login.microsoftonline.com:443': azPort,
      },
      ca: cert.cert,
    };
  };

  async function realSops(name: string): Promise<void> {
    const f = written.get(name);
    assert.ok(f, `${name} was written by an earlier test`);
    const r = await sopsDecrypt(f.text, f.format, oracleEnv(), oracleServices());
    assert.ok(r.ok, `real sops refused ${name}: ${r.error}`);
    const got = f.format === 'binary' ? { data: r.output } : (JSON.parse(r.output) as unknown);
    assert.deepEqual(got, JSON.parse(JSON.stringify(f.data)), name);
  }

  for (const name of [
    'kms.yaml',
    'kms.json',
    'kms-context.yaml',
    'hc_vault.yaml',
    'hc_vault.binary',
    'gcp_kms.yaml',
    'gcp_kms.dotenv',
    'azure_kv.yaml',
    'mixed.yaml',
    'readme-kms.yaml',
  ]) {
    test(name, async (t) => {
      if (!haveOracle)
        return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`);
      allowAll();
      await realSops(name);
    });
  }

  test('kms with a role: the real sops assumes it through STS and decrypts with the temporary credentials', async (t) => {
    if (!haveOracle) return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`);
    allowAll();
    const enc = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[kmsKey({ role: ROLE, context: { Team: 'payments' } })]],
      env: services(),
    });
    assertLayout('kms', entry(enc, 'yaml', 'kms'), {
      arn: KMS_ARN,
      aws_profile: '',
      role: ROLE,
      context: { Team: 'payments' },
    });
    const n = aws.calls.length;
    const r = await sopsDecrypt(enc, 'yaml', oracleEnv(), oracleServices());
    assert.ok(r.ok, r.error);
    assert.deepEqual(JSON.parse(r.output), YAML.parse(YAML_TEXT));
    const [assume, decrypt] = aws.calls.slice(n);
    assert.equal(assume?.action, 'AssumeRole');
    assert.equal(assume?.roleArn, ROLE);
    assert.match(assume?.roleSessionName ?? '', /^sops@/);
    assert.equal(decrypt?.action, 'Decrypt');
    assert.ok(
      aws.issued.some((i) => i.accessKeyId === decrypt?.accessKeyId),
      "Decrypt signed with the role's temporary credentials",
    );
    assert.deepEqual(decrypt?.encryptionContext, { Team: 'payments' });
  });

  test('hc_vault at a non-loopback address: the real sops reaches it through VAULT_PROXY_ADDR', async (t) => {
    if (!haveOracle) return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`);
    allowAll();
    // tsops reaches the vault named in the file through VAULT_AGENT_ADDR, the real sops through its proxy.
    const key = {
      type: 'hc_vault',
      vaultAddress: 'http://vault.tsops.test:8200',
      enginePath: 'team/transit',
      keyName: 'app',
      enc: '',
    };
    const enc = await api.encrypt(YAML_TEXT, {
      format: 'yaml',
      keyGroups: [[key]],
      env: services({ VAULT_AGENT_ADDR: vault.url }),
    });
    assertLayout('hc_vault', entry(enc, 'yaml', 'hc_vault'), {
      vault_address: 'http://vault.tsops.test:8200',
      engine_path: 'team/transit',
      key_name: 'app',
    });
    const n = vault.calls.length;
    const r = await sopsDecrypt(enc, 'yaml', oracleEnv(), oracleServices());
    assert.ok(r.ok, r.error);
    assert.deepEqual(JSON.parse(r.output), YAML.parse(YAML_TEXT));
    const call = vault.calls.slice(n).find((c) => c.path === '/v1/team/transit/decrypt/app');
    assert.ok(call, 'the real sops called the transit decrypt endpoint');
    assert.equal(call.headers.host, 'vault.tsops.test:8200', 'addressed to the vault the file names');
  });

  test('the real sops refuses a file whose KMS encryption context was edited', async (t) => {
    if (!haveOracle) return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`);
    allowAll();
    const f = written.get('kms-context.yaml');
    assert.ok(f);
    const n = aws.calls.length;
    const r = await sopsDecrypt(
      f.text.replace(/Environment: production/, 'Environment: staging'),
      'yaml',
      oracleEnv(),
      oracleServices(),
    );
    assert.equal(r.ok, false);
    // The Lambda reports only the summary line of sops's error; the service's answer shows why.
    assert.match(r.error, /Error getting data key/);
    assert.deepEqual(
      aws.calls.slice(n).map((c) => [c.action, c.error, c.encryptionContext]),
      [['Decrypt', 'InvalidCiphertextException', { App: 'web', Environment: 'staging' }]],
    );
  });
});
