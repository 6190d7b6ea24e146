// SOPS_HC_VAULT_ALLOWLIST (sops 3.13): which Vault servers a file's hc_vault entries may send the
// Vault token to. A refused server must not see a single connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createVaultSource } from '../src/keys/hcvault/client.js';
import { parseVaultUri, vaultAllowlistProblem } from '../src/keys/hcvault/key.js';
import type { KeyContext } from '../src/keys/types.js';
import { startVaultServer, type VaultServer } from './servers/vault.js';

let srv: VaultServer;
let home: string;
const src = createVaultSource({ retryDelayMs: 5, maxRetries: 0 });
const ctx = (env: NodeJS.ProcessEnv): KeyContext => ({
  env: { HOME: home, VAULT_TOKEN: srv.token, ...env },
  log: () => {},
});

before(async () => {
  srv = await startVaultServer();
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-vault-allow-'));
});
after(async () => {
  await srv.close();
  fs.rmSync(home, { recursive: true, force: true });
});

test('the allowlist rule: all (default), none, prefixes of the address with a slash added', () => {
  const a = 'https://vault.example.com:8200';
  for (const allowed of [
    undefined,
    '',
    'all',
    ' all ',
    'https://vault.example.com:8200/',
    'https://vault.example.com:8200',
    'https://vault.example.com',
    'http://x/, https://vault.example.com:8200/',
  ]) {
    assert.equal(
      vaultAllowlistProblem(a, allowed === undefined ? {} : { SOPS_HC_VAULT_ALLOWLIST: allowed }),
      undefined,
      String(allowed),
    );
  }
  assert.equal(
    vaultAllowlistProblem(`${a}/`, { SOPS_HC_VAULT_ALLOWLIST: `${a}/` }),
    undefined,
    'a trailing slash in the file changes nothing',
  );
  for (const refused of [
    'none',
    'https://vault.example.com:8200/v1/',
    'https://vault.example.com:82/',
    'http://vault.example.com:8200/',
    'https://other/',
    ',',
    ' , ',
  ]) {
    assert.match(
      vaultAllowlistProblem(a, { SOPS_HC_VAULT_ALLOWLIST: refused }) ?? '',
      /SOPS_HC_VAULT_ALLOWLIST/,
      refused,
    );
  }
  // with the slash, a prefix names one server: a look-alike host is not allowed
  assert.notEqual(
    vaultAllowlistProblem('https://vault.example.com.evil.test', {
      SOPS_HC_VAULT_ALLOWLIST: 'https://vault.example.com/',
    }),
    undefined,
  );
  assert.notEqual(
    vaultAllowlistProblem('https://vault.example.com:8201', {
      SOPS_HC_VAULT_ALLOWLIST: 'https://vault.example.com:8200/',
    }),
    undefined,
  );
});

test('a Vault outside the allowlist receives no connection at all, for wrap and unwrap', async () => {
  const key = parseVaultUri(`${srv.url}/v1/transit/keys/sops`);
  const port = new URL(srv.url).port;
  const connections = srv.connections;
  const calls = srv.calls.length;
  for (const list of ['none', `http://localhost:${port}/`, 'https://127.0.0.1/', `http://127.0.0.1:${port}0/`]) {
    await assert.rejects(
      src.wrap({ ...key }, crypto.randomBytes(32), ctx({ SOPS_HC_VAULT_ALLOWLIST: list })),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /refused: .*SOPS_HC_VAULT_ALLOWLIST/);
        assert.ok(!e.message.includes(srv.token), 'the token is not in the message');
        return true;
      },
    );
    await assert.rejects(
      src.unwrap({ ...key, enc: 'vault:v1:AAAA' }, ctx({ SOPS_HC_VAULT_ALLOWLIST: list })),
      /SOPS_HC_VAULT_ALLOWLIST/,
    );
  }
  assert.equal(srv.connections, connections, 'no TCP connection reached the server');
  assert.equal(srv.calls.length, calls);
});

test('a Vault inside the allowlist works', async () => {
  const key = parseVaultUri(`${srv.url}/v1/transit/keys/sops`);
  for (const list of [`${srv.url}/`, srv.url, `https://elsewhere/,${srv.url}/`, 'all']) {
    const dataKey = crypto.randomBytes(32);
    const k = { ...key, enc: await src.wrap({ ...key }, dataKey, ctx({ SOPS_HC_VAULT_ALLOWLIST: list })) };
    assert.deepEqual(await src.unwrap(k, ctx({ SOPS_HC_VAULT_ALLOWLIST: list })), dataKey, list);
  }
});

test('a redirect to a server outside the allowlist is not followed', async () => {
  // a standby node that sends clients to another address (the real Vault here, not allowed)
  const standby = http.createServer((req, res) => {
    res.writeHead(307, { location: `${srv.url}${req.url ?? '/'}` });
    res.end();
  });
  await new Promise<void>((r) => standby.listen(0, '127.0.0.1', () => r()));
  const standbyUrl = `http://127.0.0.1:${(standby.address() as AddressInfo).port}`;
  try {
    const key = parseVaultUri(`${standbyUrl}/v1/transit/keys/sops`);
    const connections = srv.connections;
    await assert.rejects(
      src.wrap(key, crypto.randomBytes(32), ctx({ SOPS_HC_VAULT_ALLOWLIST: `${standbyUrl}/` })),
      /refused to follow the redirect to .*SOPS_HC_VAULT_ALLOWLIST/,
    );
    assert.equal(srv.connections, connections);
    // allowed, the same redirect is followed
    await src.wrap(key, crypto.randomBytes(32), ctx({ SOPS_HC_VAULT_ALLOWLIST: `${standbyUrl}/,${srv.url}/` }));
    assert.ok(srv.connections > connections);
  } finally {
    standby.closeAllConnections();
    await new Promise<void>((r) => standby.close(() => r()));
  }
});

test('tsops decrypt: a file naming a Vault outside the allowlist fails with exit 128 before any connection', async () => {
  const { run } = await import('./helpers/editing.js');
  const dir = fs.mkdtempSync(path.join(home, 'cli-'));
  const env = { PATH: process.env['PATH'] ?? '', HOME: home, VAULT_TOKEN: srv.token };
  const file = path.join(dir, 'secret.yaml');
  fs.writeFileSync(file, 'password: hunter2\n');
  const enc = await run(['encrypt', '--hc-vault-transit', `${srv.url}/v1/transit/keys/cli`, file], { env });
  assert.equal(enc.code, 0, enc.stderr);
  const encFile = path.join(dir, 'secret.enc.yaml');
  fs.writeFileSync(encFile, enc.stdout);
  const connections = srv.connections;
  const refused = await run(['decrypt', encFile], {
    env: { ...env, SOPS_HC_VAULT_ALLOWLIST: 'https://vault.example.com/' },
  });
  assert.equal(refused.code, 128, refused.stderr);
  assert.match(refused.stderr, /SOPS_HC_VAULT_ALLOWLIST/);
  assert.doesNotMatch(refused.stdout + refused.stderr, /hunter2/);
  assert.equal(srv.connections, connections, 'the Vault saw no connection');
  const ok = await run(['decrypt', encFile], { env: { ...env, SOPS_HC_VAULT_ALLOWLIST: `${srv.url}/` } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'password: hunter2\n');
});
