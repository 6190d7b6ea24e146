// Azure Key Vault keys (src/keys/azkv/) with the real @azure/keyvault-keys and @azure/identity
// clients against the loopback Key Vault + token endpoint in servers/azure-kv.ts (HTTPS on
// 127.0.0.1, trusted through an https.Agent passed to both SDK pipelines).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import YAML from 'yaml';
import { createAzureKvSource, type AzureKvOptions } from '../src/keys/azkv/client.js';
import { azureKeyUrl, parseAzureKeyUrl, parseAzureKeyUrls } from '../src/keys/azkv/key.js';
import type { AzureKvKey, KeyContext } from '../src/keys/types.js';
import { keyToPlain, parseMetadata } from '../src/metadata/metadata.js';
import type { Plain } from '../src/tree/types.js';
import { startAzureKvServer, type AzureKvServer } from './servers/azure-kv.js';
import { closedPort, failure } from './helpers/failures.js';

let srv: AzureKvServer;
let agent: https.Agent;
let v1: string;

/**
 * A source for the loopback server. The vault is on 127.0.0.1, not *.vault.azure.net, so the SDK's
 * challenge-resource check must be off; the authority host is local, so instance discovery (a call
 * to login.microsoftonline.com) must be off too.
 */
function source(extra: AzureKvOptions = {}) {
  return createAzureKvSource({
    agent,
    disableChallengeResourceVerification: true,
    disableInstanceDiscovery: true,
    maxRetries: 1,
    retryDelayMs: 5,
    timeoutMs: 10_000,
    ...extra,
  });
}

function ctx(env: NodeJS.ProcessEnv = {}): KeyContext {
  return {
    env: {
      AZURE_TENANT_ID: srv.tenantId,
      AZURE_CLIENT_ID: srv.clientId,
      AZURE_CLIENT_SECRET: srv.clientSecret,
      AZURE_AUTHORITY_HOST: srv.url,
      ...env,
    },
    log: () => {},
  };
}

before(async () => {
  srv = await startAzureKvServer();
  agent = new https.Agent({ ca: srv.ca });
  v1 = srv.addKeyVersion('sops');
});

after(async () => {
  agent.destroy();
  await srv.close();
});

test('parseAzureKeyUrls reads key URLs with and without a version', () => {
  assert.deepEqual(parseAzureKeyUrl(' https://my.vault.azure.net/keys/sops/0123abcd '), {
    type: 'azure_kv',
    vaultUrl: 'https://my.vault.azure.net',
    name: 'sops',
    version: '0123abcd',
    enc: '',
  });
  const [a, b] = parseAzureKeyUrls('https://a.vault.azure.net/keys/k1,https://b.vault.azure.net/keys/k2/');
  assert.equal(a!.name, 'k1');
  assert.equal(a!.version, '');
  assert.equal(b!.vaultUrl, 'https://b.vault.azure.net');
  assert.equal(b!.version, '');
  assert.deepEqual(parseAzureKeyUrls(''), []);
  assert.equal(azureKeyUrl({ ...a!, version: 'v9' }), 'https://a.vault.azure.net/keys/k1/v9');
  assert.throws(() => parseAzureKeyUrl('http://my.vault.azure.net/keys/sops/1'), /could not parse/);
  assert.throws(() => parseAzureKeyUrl('https://my.vault.azure.net/secrets/sops'), /could not parse/);
  assert.throws(() => parseAzureKeyUrl('https://my.vault.azure.net/keys/sops/1/extra'), /could not parse/);
  assert.throws(() => parseAzureKeyUrls('https://a.vault.azure.net/keys/k1,'), /could not parse ""/);
});

test('round trip: challenge, sign-in, RSA-OAEP-256 encrypt and decrypt', async () => {
  const src = source();
  const dataKey = crypto.randomBytes(32);
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`);
  const n = srv.calls.length;
  key.enc = await src.wrap(key, dataKey, ctx());
  assert.match(key.enc, /^[A-Za-z0-9_-]+$/); // unpadded base64url
  assert.equal(Buffer.from(key.enc, 'base64url').length, 256); // one RSA-2048 block
  const calls = srv.calls.slice(n);
  // The SDK's challenge flow: an unauthenticated request, a token from the authority host, a retry.
  assert.equal(calls[0]!.authorization, '');
  assert.ok(calls[0]!.path.startsWith('/keys/sops'));
  const token = calls.find((c) => c.path === `/${srv.tenantId}/oauth2/v2.0/token`);
  assert.ok(token, 'a token request');
  assert.equal((token.body as Record<string, string>)['client_id'], srv.clientId);
  assert.equal((token.body as Record<string, string>)['scope'], 'https://vault.azure.net/.default');
  const enc = calls.find((c) => c.path.endsWith('/encrypt'));
  assert.ok(enc, 'an encrypt request');
  assert.equal(enc.path, `/keys/sops/${v1}/encrypt`);
  assert.match(enc.authorization, /^Bearer \S+$/);
  assert.deepEqual(enc.body, { alg: 'RSA-OAEP-256', value: dataKey.toString('base64url') });
  assert.ok(!calls.some((c) => c.path.endsWith('/wrapkey')));

  assert.deepEqual(await src.unwrap(key, ctx()), dataKey);
  const dec = srv.calls.slice(n).find((c) => c.path.endsWith('/decrypt'));
  assert.equal(dec!.path, `/keys/sops/${v1}/decrypt`);
  assert.deepEqual(dec!.body, { alg: 'RSA-OAEP-256', value: key.enc });
});

test('a key URL without version is pinned to the current version when it wraps', async () => {
  const src = source();
  srv.addKeyVersion('rotating');
  const current = srv.addKeyVersion('rotating');
  const key = parseAzureKeyUrl(`${srv.url}/keys/rotating`);
  const n = srv.calls.length;
  const dataKey = crypto.randomBytes(32);
  key.enc = await src.wrap(key, dataKey, ctx());
  assert.equal(key.version, current);
  const paths = srv.calls.slice(n).map((c) => `${c.method} ${c.path}`);
  assert.ok(paths.includes('GET /keys/rotating/'), 'the version is looked up');
  assert.ok(paths.includes(`POST /keys/rotating/${current}/encrypt`));
  assert.equal(keyToPlain(key)['version'], current);
  // after a rotation the pinned version still decrypts
  const newer = srv.addKeyVersion('rotating');
  assert.notEqual(newer, current);
  assert.deepEqual(await source().unwrap(key, ctx()), dataKey);
  assert.equal(srv.calls.at(-1)!.path, `/keys/rotating/${current}/decrypt`);
});

test('a wrong client secret: one line naming the key and the sign-in error', async () => {
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`);
  const msg = await failure(source().wrap(key, crypto.randomBytes(32), ctx({ AZURE_CLIENT_SECRET: 'not-the-secret' })));
  assert.equal(
    msg,
    `failed to encrypt sops data key with Azure Key Vault key '${srv.url}/keys/sops/${v1}': ` +
      'Azure sign-in failed: invalid_client: AADSTS7000215: Invalid client secret provided.',
  );
  assert.ok(!msg.includes('not-the-secret'));
});

test("denied by the vault: 403 and the service's message", async () => {
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`);
  const src = source();
  key.enc = await src.wrap(key, crypto.randomBytes(32), ctx());
  srv.denied.add('get').add('decrypt');
  try {
    const msg = await failure(src.unwrap(key, ctx()));
    assert.match(
      msg,
      /^failed to decrypt sops data key with Azure Key Vault key '.*\/keys\/sops\/[0-9a-f]+': 403 Forbidden: .*does not have keys decrypt permission/,
    );
  } finally {
    srv.denied.clear();
  }
});

test('an unknown key and a damaged enc name the key', async () => {
  const missing = parseAzureKeyUrl(`${srv.url}/keys/nokey`);
  const msg = await failure(source().wrap(missing, crypto.randomBytes(32), ctx()));
  assert.equal(
    msg,
    `failed to look up the current version of Azure Key Vault key '${srv.url}/keys/nokey/': 404 KeyNotFound: A key with (name/id) nokey was not found in this key vault.`,
  );
  const damaged = {
    ...parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`),
    enc: crypto.randomBytes(256).toString('base64url'),
  };
  assert.match(
    await failure(source().unwrap(damaged, ctx())),
    /keys\/sops\/[0-9a-f]+': 400 BadParameter: Error decrypting the ciphertext\.$/,
  );
  assert.match(await failure(source().unwrap({ ...damaged, enc: 'not base64!' }, ctx())), /enc is not base64url$/);
});

test('an unreachable vault: a clear error after the bounded retries', async () => {
  const port = await closedPort();
  const key: AzureKvKey = { ...parseAzureKeyUrl(`https://127.0.0.1:${port}/keys/sops/${v1}`) };
  const msg = await failure(source().wrap(key, crypto.randomBytes(32), ctx()));
  assert.equal(
    msg,
    `failed to encrypt sops data key with Azure Key Vault key 'https://127.0.0.1:${port}/keys/sops/${v1}': connect ECONNREFUSED 127.0.0.1:${port}`,
  );
});

test('a vault that never answers: the operation ends at the timeout', async () => {
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`);
  const src = source({ timeoutMs: 400 });
  srv.hang = true;
  try {
    const msg = await failure(src.wrap(key, crypto.randomBytes(32), ctx()));
    assert.equal(
      msg,
      `failed to encrypt sops data key with Azure Key Vault key '${srv.url}/keys/sops/${v1}': no answer within 0.4 s`,
    );
  } finally {
    srv.hang = false;
  }
});

test('without disableChallengeResourceVerification the SDK refuses a vault outside vault.azure.net', async () => {
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops/${v1}`);
  const n = srv.calls.length;
  const msg = await failure(
    source({ disableChallengeResourceVerification: false }).wrap(key, crypto.randomBytes(32), ctx()),
  );
  assert.match(msg, /The challenge resource 'vault\.azure\.net' does not match the requested domain/);
  assert.ok(
    srv.calls.slice(n).every((c) => c.authorization === ''),
    'no token was sent',
  );
});

test("an azure_kv entry in sops's layout is read and written back unchanged", () => {
  const text = `sops:
    azure_kv:
        - created_at: "2025-03-04T05:06:07Z"
          enc: QXp1cmVLZXlWYXVsdGVuY3J5cHRlZGRhdGFrZXlfLV9leGFtcGxlX3ZhbHVlX2Zvcl90ZXN0cw
          name: sops-key
          vault_url: https://tsops-test.vault.azure.net
          version: 5f4b2c7d8e9a4b1c9d0e1f2a3b4c5d6e
    lastmodified: "2025-03-04T05:06:07Z"
    mac: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.13.2
`;
  const sops = (YAML.parse(text) as { sops: { [k: string]: Plain } }).sops;
  const md = parseMetadata(sops);
  const k = md.keyGroups[0]![0]!;
  assert.deepEqual(k, {
    type: 'azure_kv',
    vaultUrl: 'https://tsops-test.vault.azure.net',
    name: 'sops-key',
    version: '5f4b2c7d8e9a4b1c9d0e1f2a3b4c5d6e',
    enc: 'QXp1cmVLZXlWYXVsdGVuY3J5cHRlZGRhdGFrZXlfLV9leGFtcGxlX3ZhbHVlX2Zvcl90ZXN0cw',
    createdAt: '2025-03-04T05:06:07Z',
  });
  const entry = (sops['azure_kv'] as Plain[])[0];
  assert.equal(JSON.stringify(keyToPlain(k)), JSON.stringify(entry)); // same fields, same order
});

test('a key wrapped here survives the metadata round trip and unwraps', async () => {
  const src = source();
  const dataKey = crypto.randomBytes(32);
  const key = parseAzureKeyUrl(`${srv.url}/keys/sops`);
  key.enc = await src.wrap(key, dataKey, ctx());
  key.createdAt = '2025-06-01T00:00:00Z';
  const text = YAML.stringify({
    sops: { azure_kv: [keyToPlain(key)], lastmodified: '2025-06-01T00:00:00Z', mac: '', version: '3.13.2' },
  });
  assert.match(text, new RegExp(`version: ${v1}`));
  const back = parseMetadata((YAML.parse(text) as { sops: Plain }).sops).keyGroups[0]![0]!;
  assert.equal(back.type, 'azure_kv');
  assert.deepEqual(await src.unwrap(back, ctx()), dataKey);
});
