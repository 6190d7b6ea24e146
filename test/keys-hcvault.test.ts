// HashiCorp Vault transit keys (src/keys/hcvault/) against the loopback Vault in servers/vault.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES } from './helpers/fixtures.js';
import * as openpgp from 'openpgp';
import YAML from 'yaml';
import { createVaultSource } from '../src/keys/hcvault/client.js';
import { parseVaultUri, parseVaultUris, vaultKeyUri } from '../src/keys/hcvault/key.js';
import type { KeyContext, VaultKey } from '../src/keys/types.js';
import { formatTimestamp, keyToPlain, parseMetadata } from '../src/metadata/metadata.js';
import type { Plain } from '../src/tree/types.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { startVaultServer, type VaultServer } from './servers/vault.js';
import { closedPort, failure } from './helpers/failures.js';

let srv: VaultServer;
let home: string; // an empty HOME, so no real ~/.vault-token is read
const logs: string[] = [];
const src = createVaultSource({ retryDelayMs: 5 });

function ctx(env: NodeJS.ProcessEnv): KeyContext {
  return { env: { HOME: home, ...env }, log: (m) => logs.push(m) };
}

function keyFor(url: string, engine = 'transit', name = 'sops'): VaultKey {
  return { type: 'hc_vault', vaultAddress: url, enginePath: engine, keyName: name, enc: '' };
}

before(async () => {
  srv = await startVaultServer();
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-vault-home-'));
});

after(async () => {
  await closeOracle();
  await srv.close();
  fs.rmSync(home, { recursive: true, force: true });
});

test('parseVaultUris splits URIs as sops does', () => {
  assert.deepEqual(parseVaultUri('https://vault.example.com:8200/v1/transit/keys/keyName'), {
    type: 'hc_vault',
    vaultAddress: 'https://vault.example.com:8200',
    enginePath: 'transit',
    keyName: 'keyName',
    enc: '',
  });
  // engine paths with slashes; a trailing slash; the address exactly as written (default port kept)
  const [a, b] = parseVaultUris('http://127.0.0.1:8200/v1/team/a/transit/keys/k1,,https://vault:443/v1/sops/keys/k2/');
  assert.equal(a!.enginePath, 'team/a/transit');
  assert.equal(a!.keyName, 'k1');
  assert.equal(a!.vaultAddress, 'http://127.0.0.1:8200');
  assert.equal(b!.vaultAddress, 'https://vault:443');
  assert.equal(b!.enginePath, 'sops');
  assert.equal(b!.keyName, 'k2');
  assert.equal(vaultKeyUri(a!), 'http://127.0.0.1:8200/v1/team/a/transit/keys/k1');
  assert.deepEqual(parseVaultUris(''), []);
  assert.throws(
    () => parseVaultUri('https://vault.example.com/prefix/v1/transit/keys/k'),
    /prefixed URL is not supported/,
  );
  assert.throws(() => parseVaultUri('https://vault.example.com:8200/v1/transit'), /not seem to be formatted correctly/);
  assert.throws(() => parseVaultUri('vault.example.com:8200/v1/transit/keys/k'), /missing scheme/);
});

test('round trip: encrypt and decrypt through the transit API', async () => {
  const dataKey = crypto.randomBytes(32);
  const key = keyFor(srv.url);
  const env = { VAULT_TOKEN: srv.token };
  const before = srv.calls.length;
  key.enc = await src.wrap(key, dataKey, ctx(env));
  assert.match(key.enc, /^vault:v1:[A-Za-z0-9+/=]+$/);
  const enc = srv.calls[before]!;
  assert.equal(enc.method, 'PUT'); // as sops's Vault client (see the real-sops test below)
  assert.equal(enc.path, '/v1/transit/encrypt/sops');
  assert.equal(enc.token, srv.token);
  assert.equal(enc.vaultRequest, 'true');
  assert.equal(enc.namespace, '');
  assert.deepEqual(enc.body, { plaintext: dataKey.toString('base64') });
  assert.deepEqual(await src.unwrap(key, ctx(env)), dataKey);
  const dec = srv.calls[before + 1]!;
  assert.equal(dec.path, '/v1/transit/decrypt/sops');
  assert.deepEqual(dec.body, { ciphertext: key.enc });
});

test('an engine path with slashes is used as is', async () => {
  const key = parseVaultUri(`${srv.url}/v1/team/a/transit/keys/app`);
  const dataKey = crypto.randomBytes(32);
  key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: srv.token }));
  assert.equal(srv.calls.at(-1)!.path, '/v1/team/a/transit/encrypt/app');
  assert.deepEqual(await src.unwrap(key, ctx({ VAULT_TOKEN: srv.token })), dataKey);
});

test('the token comes from ~/.vault-token when VAULT_TOKEN is unset, and VAULT_TOKEN wins', async () => {
  const h = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-vault-home-'));
  try {
    fs.writeFileSync(path.join(h, '.vault-token'), `${srv.token}\n`, { mode: 0o600 });
    const key = keyFor(srv.url);
    await src.wrap(key, crypto.randomBytes(32), { env: { HOME: h }, log: () => {} });
    assert.equal(srv.calls.at(-1)!.token, srv.token);
    const msg = await failure(
      src.wrap(key, crypto.randomBytes(32), { env: { HOME: h, VAULT_TOKEN: 'hvs.other' }, log: () => {} }),
    );
    assert.equal(srv.calls.at(-1)!.token, 'hvs.other');
    assert.match(msg, /403 permission denied/);
  } finally {
    fs.rmSync(h, { recursive: true, force: true });
  }
});

test("a wrong token gives one line naming the key and Vault's error", async () => {
  const key = keyFor(srv.url);
  const msg = await failure(src.wrap(key, crypto.randomBytes(32), ctx({ VAULT_TOKEN: 'hvs.wrong' })));
  assert.equal(
    msg,
    `failed to encrypt sops data key with Vault transit key '${srv.url}/v1/transit/keys/sops': 403 permission denied`,
  );
  assert.ok(!msg.includes('hvs.wrong'));
});

test('no token at all: the error says where a token is looked for', async () => {
  const msg = await failure(src.wrap(keyFor(srv.url), crypto.randomBytes(32), ctx({})));
  assert.equal(srv.calls.at(-1)!.token, '');
  assert.match(msg, /403 permission denied \(no Vault token: set VAULT_TOKEN or write ~\/\.vault-token\)/);
});

test('denied decrypt, and a ciphertext Vault rejects, name the key', async () => {
  const key = keyFor(srv.url);
  key.enc = await src.wrap(key, crypto.randomBytes(32), ctx({ VAULT_TOKEN: srv.token }));
  srv.deny = true;
  try {
    const msg = await failure(src.unwrap(key, ctx({ VAULT_TOKEN: srv.token })));
    assert.match(
      msg,
      /^failed to decrypt sops data key with Vault transit key '.*\/v1\/transit\/keys\/sops': 403 permission denied$/,
    );
  } finally {
    srv.deny = false;
  }
  const bad = { ...key, enc: 'vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
  assert.match(
    await failure(src.unwrap(bad, ctx({ VAULT_TOKEN: srv.token }))),
    /400 cipher: message authentication failed$/,
  );
});

test('VAULT_NAMESPACE is sent as X-Vault-Namespace', async () => {
  const ns = await startVaultServer({ namespace: 'team-a/sub' });
  try {
    const key = keyFor(ns.url);
    const dataKey = crypto.randomBytes(32);
    key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: ns.token, VAULT_NAMESPACE: 'team-a/sub' }));
    assert.equal(ns.calls.at(-1)!.namespace, 'team-a/sub');
    assert.deepEqual(await src.unwrap(key, ctx({ VAULT_TOKEN: ns.token, VAULT_NAMESPACE: 'team-a/sub' })), dataKey);
    assert.equal(ns.calls.at(-1)!.namespace, 'team-a/sub');
    // without it the (namespaced) key is not found: denied
    assert.match(await failure(src.unwrap(key, ctx({ VAULT_TOKEN: ns.token }))), /403 permission denied/);
    assert.equal(ns.calls.at(-1)!.namespace, '');
  } finally {
    await ns.close();
  }
});

test("VAULT_ADDR does not redirect a key (the key's address wins, as in sops); VAULT_AGENT_ADDR does", async () => {
  const port = await closedPort();
  const n = srv.calls.length;
  await src.wrap(
    keyFor(srv.url),
    crypto.randomBytes(32),
    ctx({ VAULT_TOKEN: srv.token, VAULT_ADDR: `http://127.0.0.1:${port}` }),
  );
  assert.equal(srv.calls.length, n + 1);
  const elsewhere = keyFor(`http://127.0.0.1:${port}`);
  await src.wrap(elsewhere, crypto.randomBytes(32), ctx({ VAULT_TOKEN: srv.token, VAULT_AGENT_ADDR: srv.url }));
  assert.equal(srv.calls.length, n + 2);
});

test('an unreachable Vault: a clear error after the bounded retries', async () => {
  const port = await closedPort();
  const key = keyFor(`http://127.0.0.1:${port}`);
  const msg = await failure(
    src.wrap(key, crypto.randomBytes(32), ctx({ VAULT_TOKEN: srv.token, VAULT_MAX_RETRIES: '1' })),
  );
  assert.equal(
    msg,
    `failed to encrypt sops data key with Vault transit key 'http://127.0.0.1:${port}/v1/transit/keys/sops': connect ECONNREFUSED 127.0.0.1:${port} (after 2 attempts)`,
  );
});

test('a Vault that never answers: the per-attempt timeout ends the call', async () => {
  const n = srv.calls.length;
  srv.hang = true;
  try {
    const msg = await failure(
      src.wrap(
        keyFor(srv.url),
        crypto.randomBytes(32),
        ctx({ VAULT_TOKEN: srv.token, VAULT_CLIENT_TIMEOUT: '200ms', VAULT_MAX_RETRIES: '1' }),
      ),
    );
    assert.match(msg, /'.*\/v1\/transit\/keys\/sops': no answer within 0\.2 s \(after 2 attempts\)$/);
    assert.equal(srv.calls.length, n + 2);
  } finally {
    srv.hang = false;
  }
});

test('5xx answers are retried, a bounded number of times', async () => {
  const key = keyFor(srv.url);
  const n = srv.calls.length;
  srv.failNext = 2;
  const dataKey = crypto.randomBytes(32);
  key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: srv.token })); // default: 2 retries
  assert.equal(srv.calls.length, n + 3);
  srv.failNext = 5;
  try {
    const msg = await failure(src.unwrap(key, ctx({ VAULT_TOKEN: srv.token, VAULT_MAX_RETRIES: '1' })));
    assert.match(msg, /: 500 internal error$/);
    assert.equal(srv.failNext, 3);
  } finally {
    srv.failNext = 0;
  }
  assert.deepEqual(await src.unwrap(key, ctx({ VAULT_TOKEN: srv.token })), dataKey);
});

test('HTTPS: VAULT_CACERT is trusted; without it the certificate is refused', async () => {
  const tlsSrv = await startVaultServer({ tls: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-vault-ca-'));
  try {
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, tlsSrv.ca);
    const key = keyFor(tlsSrv.url);
    const dataKey = crypto.randomBytes(32);
    key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: tlsSrv.token, VAULT_CACERT: caFile }));
    assert.deepEqual(await src.unwrap(key, ctx({ VAULT_TOKEN: tlsSrv.token, VAULT_CACERT: caFile })), dataKey);
    const msg = await failure(src.unwrap(key, ctx({ VAULT_TOKEN: tlsSrv.token })));
    assert.match(msg, /self-signed certificate$/);
    assert.equal(tlsSrv.calls.length, 2);
  } finally {
    await tlsSrv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an hc_vault entry in sops's layout is read and written back unchanged", () => {
  const text = `sops:
    hc_vault:
        - created_at: "2025-02-08T10:57:10Z"
          enc: vault:v1:GfMHEeS6cn6ClD/K9EdIfSKyWDM87WS7uXZrVEKBt6IFBuVdXcdsT+Z6T3sCPFZKltMwqcOkiFyKROW+Q6Pc
          engine_path: team/sops
          key_name: firstkey
          vault_address: http://127.0.0.1:8200
    lastmodified: "2025-02-08T10:57:10Z"
    mac: ENC[AES256_GCM,data:2LtZ,iv:PGCs,tag:m49j,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.13.2
`;
  const sops = (YAML.parse(text) as { sops: { [k: string]: Plain } }).sops;
  const md = parseMetadata(sops);
  assert.equal(md.keyGroups.length, 1);
  const k = md.keyGroups[0]![0]!;
  assert.deepEqual(k, {
    type: 'hc_vault',
    vaultAddress: 'http://127.0.0.1:8200',
    enginePath: 'team/sops',
    keyName: 'firstkey',
    enc: 'vault:v1:GfMHEeS6cn6ClD/K9EdIfSKyWDM87WS7uXZrVEKBt6IFBuVdXcdsT+Z6T3sCPFZKltMwqcOkiFyKROW+Q6Pc',
    createdAt: '2025-02-08T10:57:10Z',
  });
  const entry = (sops['hc_vault'] as Plain[])[0];
  assert.equal(JSON.stringify(keyToPlain(k)), JSON.stringify(entry)); // same fields, same order
});

test('a key wrapped here survives the metadata round trip and unwraps', async () => {
  const dataKey = crypto.randomBytes(32);
  const key = parseVaultUri(`${srv.url}/v1/transit/keys/meta`);
  key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: srv.token }));
  key.createdAt = '2025-06-01T00:00:00Z';
  const text = YAML.stringify({
    sops: { hc_vault: [keyToPlain(key)], lastmodified: '2025-06-01T00:00:00Z', mac: '', version: '3.13.2' },
  });
  const back = parseMetadata((YAML.parse(text) as { sops: Plain }).sops).keyGroups[0]![0]!;
  assert.equal(back.type, 'hc_vault');
  assert.deepEqual(await src.unwrap(back, ctx({ VAULT_TOKEN: srv.token })), dataKey);
});

function fixturesDir(): string | undefined {
  return fs.existsSync(path.join(FIXTURES, 'format.enc.yaml')) ? FIXTURES : undefined;
}

test('real sops decrypts a file whose only key is an hc_vault key wrapped here', async (t) => {
  const fixtures = fixturesDir();
  if (!fixtures) return t.skip('fixtures/sops-3.13.2 not found');
  if (!(await oracleAvailable()))
    return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`);
  // The data key of a real sops file, from its PGP entry (the test key has no passphrase).
  const doc = YAML.parseDocument(fs.readFileSync(path.join(fixtures, 'format.enc.yaml'), 'utf8'));
  const armoredMessage = doc.getIn(['sops', 'pgp', 0, 'enc']) as string;
  const decryptionKeys = await openpgp.readPrivateKeys({
    armoredKeys: fs.readFileSync(path.join(fixtures, 'keys', 'sops_functional_tests_key.asc'), 'utf8'),
  });
  const { data } = await openpgp.decrypt({
    message: await openpgp.readMessage({ armoredMessage }),
    decryptionKeys,
    format: 'binary',
  });
  const dataKey = Buffer.from(data as Uint8Array);
  assert.equal(dataKey.length, 32);
  // Swap the PGP entry for an hc_vault one that tsops wrapped through the loopback Vault.
  const key = parseVaultUri(`${srv.url}/v1/team/sops/keys/oracle`);
  key.enc = await src.wrap(key, dataKey, ctx({ VAULT_TOKEN: srv.token }));
  key.createdAt = formatTimestamp(new Date());
  doc.deleteIn(['sops', 'pgp']);
  doc.setIn(['sops', 'hc_vault'], [keyToPlain(key)]);
  const n = srv.calls.length;
  const r = await sopsDecrypt(doc.toString(), 'yaml', { VAULT_TOKEN: srv.token, VAULT_NAMESPACE: 'oracle-ns' });
  assert.ok(r.ok, r.error);
  const expected = JSON.parse(
    fs.readFileSync(path.join(fixtures, 'expected', 'format.enc.yaml.json'), 'utf8'),
  ) as unknown;
  assert.deepEqual(JSON.parse(r.output), expected);
  // What real sops's Vault client sent, for comparison with ours.
  const call = srv.calls.slice(n).find((c) => c.path === '/v1/team/sops/decrypt/oracle');
  assert.ok(call, 'real sops called the transit decrypt endpoint');
  assert.equal(call.token, srv.token);
  assert.equal(call.namespace, 'oracle-ns');
  assert.equal(call.vaultRequest, 'true');
  assert.equal(call.method, 'PUT');
  assert.deepEqual(call.body, { ciphertext: key.enc });
});
