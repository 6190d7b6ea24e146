// HTTPS_PROXY / HTTP_PROXY / NO_PROXY for every key service client, as sops's Go clients read them
// (net/http's ProxyFromEnvironment; gRPC-go for GCP). Each service's real client talks to its
// loopback server through a loopback CONNECT proxy that counts the tunnels. Names like `kms.test`
// are resolved by the proxy only (it connects to 127.0.0.1), so a call that works went through it.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dns from 'node:dns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { noProxyMatches, proxyFor } from '../src/keys/proxy.js';
import { source as kmsSource } from '../src/keys/kms/client.js';
import { createVaultSource } from '../src/keys/hcvault/client.js';
import { parseVaultUri } from '../src/keys/hcvault/key.js';
import { source as gcpSource } from '../src/keys/gcpkms/client.js';
import type { KeyContext, KmsKey } from '../src/keys/types.js';
import { startConnectProxy, type ConnectProxy } from './servers/connect-proxy.js';
import { startAwsServer, type AwsServer } from './servers/aws-kms.js';
import { startVaultServer, type VaultServer } from './servers/vault.js';
import { startGcpKmsServer, type GcpKmsServer } from './servers/gcp-kms.js';
import { selfSignedCert } from './servers/tls-cert.js';

const dir = mkdtempSync(join(os.tmpdir(), 'tsops-proxy-'));

/**
 * A second name for this machine's loopback, from /etc/hosts (the host name usually is one), for
 * the direct (NO_PROXY) cases: Go never proxies `localhost` or 127.x, whatever NO_PROXY says.
 */
async function loopbackAlias(): Promise<string | undefined> {
  const name = os.hostname().toLowerCase();
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || name === 'localhost') return undefined;
  try {
    const { address } = await dns.promises.lookup(name, { family: 4 });
    return address.startsWith('127.') ? name : undefined;
  } catch {
    return undefined;
  }
}
const alias = await loopbackAlias();

const cert = selfSignedCert([
  'kms.test',
  'vault.test',
  'gcpkms.test',
  '127.0.0.1',
  'localhost',
  ...(alias ? [alias] : []),
]);
const roots = join(dir, 'roots.pem');
writeFileSync(roots, cert.cert);
// gRPC's trust store, read when @grpc/grpc-js loads (on first GCP use, after this line)
process.env['GRPC_DEFAULT_SSL_ROOTS_FILE_PATH'] = roots;

const TOKEN = 'ya29.proxy-test-token';
const GCP_KEY = 'projects/p/locations/global/keyRings/r/cryptoKeys/k';
const ARN = 'arn:aws:kms:us-east-1:111122223333:key/proxy-test';

let proxy: ConnectProxy;
let aws: AwsServer;
let vault: VaultServer;
let gcp: GcpKmsServer;
const fronts: tls.Server[] = [];
let awsTls = 0;
let vaultTls = 0;

/** A TLS front for a plain-HTTP loopback server (the certificate names the *.test hosts). */
async function tlsFront(toPort: number): Promise<number> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (sock) => {
    const up = net.connect(toPort, '127.0.0.1');
    sock.pipe(up).pipe(sock);
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  fronts.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  [aws, vault, gcp] = await Promise.all([
    startAwsServer(),
    startVaultServer(),
    startGcpKmsServer({ tls: cert, tokens: [TOKEN] }),
  ]);
  awsTls = await tlsFront(Number(new URL(aws.url).port));
  vaultTls = await tlsFront(Number(new URL(vault.url).port));
  const gcpPort = Number(gcp.endpoint.split(':').pop());
  const vaultPort = Number(new URL(vault.url).port);
  proxy = await startConnectProxy({
    'kms.test:443': awsTls,
    'vault.test:443': vaultTls,
    'vault.test:80': vaultPort,
    'gcpkms.test:443': gcpPort,
    ...(alias
      ? { [`${alias}:${awsTls}`]: awsTls, [`${alias}:${vaultTls}`]: vaultTls, [`${alias}:${gcpPort}`]: gcpPort }
      : {}),
  });
});

after(async () => {
  await proxy?.close();
  for (const f of fronts) await new Promise<void>((r) => f.close(() => r()));
  await Promise.all([aws?.close(), vault?.close(), gcp?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (env: NodeJS.ProcessEnv): KeyContext => ({ env: { HOME: dir, ...env }, log: () => {} });
const tunnels = () => proxy.connects.length;

describe('which proxy, as Go chooses it', () => {
  const u = (s: string) => new URL(s);
  test('HTTPS_PROXY before https_proxy, HTTP_PROXY for http://, no scheme means http://', () => {
    assert.equal(
      proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'http://a:1', https_proxy: 'http://b:2' })?.host,
      'a:1',
    );
    assert.equal(proxyFor(u('https://kms.test'), { https_proxy: 'http://b:2' })?.host, 'b:2');
    assert.equal(
      proxyFor(u('https://kms.test'), { HTTPS_PROXY: '', https_proxy: 'http://b:2' })?.host,
      'b:2',
      'an empty variable does not count',
    );
    assert.equal(
      proxyFor(u('https://kms.test'), { HTTP_PROXY: 'http://a:1' }),
      undefined,
      'HTTP_PROXY is not for https',
    );
    assert.equal(proxyFor(u('http://vault.test'), { HTTP_PROXY: 'http://a:1' })?.host, 'a:1');
    assert.equal(proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'proxy.corp:3128' })?.href, 'http://proxy.corp:3128/');
    assert.throws(
      () => proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'socks5://p:1080' }),
      /socks5 proxies are not supported/,
    );
  });

  test('never for localhost or loopback IPs', () => {
    for (const h of ['https://localhost:8200', 'https://127.0.0.1', 'https://127.9.9.9:1', 'https://[::1]:443']) {
      assert.equal(proxyFor(u(h), { HTTPS_PROXY: 'http://p:1' }), undefined, h);
    }
  });

  test('NO_PROXY: *, domains with their subdomains, leading dot or *. for subdomains only, IPs, CIDRs, ports', () => {
    const cases: Array<[string, string, string, boolean]> = [
      ['*', 'anything.example', '443', true],
      ['example.com', 'example.com', '443', true],
      ['example.com', 'kms.example.com', '443', true],
      ['example.com', 'notexample.com', '443', false],
      ['.example.com', 'example.com', '443', false],
      ['.example.com', 'a.example.com', '443', true],
      ['*.example.com', 'example.com', '443', false],
      ['*.example.com', 'a.example.com', '443', true],
      [' Example.COM ', 'kms.example.com', '443', true],
      ['example.com:8443', 'example.com', '443', false],
      ['example.com:8443', 'example.com', '8443', true],
      ['10.0.0.0/8', '10.1.2.3', '443', true],
      ['10.0.0.0/8', '11.1.2.3', '443', false],
      ['10.1.2.3', '10.1.2.3', '443', true],
      ['10.1.2.3:80', '10.1.2.3', '443', false],
      ['[fd00::1]:443', 'fd00::1', '443', true],
      ['fd00::/8', 'fd12::5', '443', true],
      ['a.test,,b.test', 'b.test', '443', true],
    ];
    for (const [list, host, port, excluded] of cases)
      assert.equal(noProxyMatches(list, host, port), excluded, `${list} / ${host}:${port}`);
    assert.equal(
      proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'kms.test', no_proxy: '' }),
      undefined,
    );
    assert.equal(proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'http://p:1', no_proxy: '.test' }), undefined);
    assert.ok(
      proxyFor(u('https://kms.test'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'other.test', no_proxy: 'kms.test' }),
      'NO_PROXY wins over no_proxy',
    );
  });
});

describe('AWS KMS (the real AWS SDK) through the proxy', () => {
  const key = (): KmsKey => ({ type: 'kms', arn: ARN, enc: '' });
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    AWS_ACCESS_KEY_ID: 'AKIDPROXYTEST',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_CA_BUNDLE: roots,
    AWS_MAX_ATTEMPTS: '1',
    TSOPS_KMS_TIMEOUT_MS: '5000',
    ...extra,
  });

  test('HTTPS_PROXY (and https_proxy): the SDK tunnels to kms.test', async () => {
    for (const v of ['HTTPS_PROXY', 'https_proxy']) {
      const before = tunnels();
      const dataKey = crypto.randomBytes(32);
      const k = key();
      k.enc = await kmsSource.wrap(k, dataKey, ctx(env({ AWS_ENDPOINT_URL_KMS: 'https://kms.test', [v]: proxy.url })));
      assert.deepEqual(
        await kmsSource.unwrap(k, ctx(env({ AWS_ENDPOINT_URL_KMS: 'https://kms.test', [v]: proxy.url }))),
        dataKey,
      );
      assert.deepEqual(proxy.connects.slice(before), ['kms.test:443', 'kms.test:443'], v);
    }
  });

  test(
    'NO_PROXY hosts are reached directly',
    { skip: alias ? false : 'no second loopback name in /etc/hosts' },
    async () => {
      const endpoint = `https://${alias}:${awsTls}`;
      const before = tunnels();
      await kmsSource.wrap(
        key(),
        crypto.randomBytes(32),
        ctx(env({ AWS_ENDPOINT_URL_KMS: endpoint, HTTPS_PROXY: proxy.url, NO_PROXY: `localhost,${alias}` })),
      );
      assert.equal(tunnels(), before, 'no tunnel for a NO_PROXY host');
      await kmsSource.wrap(
        key(),
        crypto.randomBytes(32),
        ctx(env({ AWS_ENDPOINT_URL_KMS: endpoint, HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost' })),
      );
      assert.deepEqual(
        proxy.connects.slice(before),
        [`${alias}:${awsTls}`],
        'the same host, not excluded, goes through the proxy',
      );
    },
  );

  test('the proxy credentials in the URL are sent as Proxy-Authorization', async () => {
    const before = proxy.authorizations.length;
    const withUser = proxy.url.replace('http://', 'http://team:p%40ss@');
    await kmsSource.wrap(
      key(),
      crypto.randomBytes(32),
      ctx(env({ AWS_ENDPOINT_URL_KMS: 'https://kms.test', HTTPS_PROXY: withUser })),
    );
    assert.deepEqual(proxy.authorizations.slice(before), [`Basic ${Buffer.from('team:p@ss').toString('base64')}`]);
  });
});

describe('Vault transit through the proxy', () => {
  const src = createVaultSource({ maxRetries: 0 });
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    VAULT_TOKEN: vault.token,
    VAULT_CACERT: roots,
    ...extra,
  });

  test('https:// addresses tunnel through HTTPS_PROXY (and https_proxy)', async () => {
    for (const v of ['HTTPS_PROXY', 'https_proxy']) {
      const before = tunnels();
      const k = parseVaultUri('https://vault.test/v1/transit/keys/proxied');
      const dataKey = crypto.randomBytes(32);
      k.enc = await src.wrap(k, dataKey, ctx(env({ [v]: proxy.url })));
      assert.deepEqual(await src.unwrap(k, ctx(env({ [v]: proxy.url }))), dataKey);
      assert.deepEqual(proxy.connects.slice(before), ['vault.test:443', 'vault.test:443'], v);
    }
  });

  test('http:// addresses go to HTTP_PROXY in absolute form, as Go sends them', async () => {
    const before = proxy.forwards.length;
    const k = parseVaultUri('http://vault.test/v1/transit/keys/plain');
    const dataKey = crypto.randomBytes(32);
    k.enc = await src.wrap(k, dataKey, ctx(env({ HTTP_PROXY: proxy.url })));
    assert.deepEqual(await src.unwrap(k, ctx(env({ http_proxy: proxy.url }))), dataKey);
    assert.deepEqual(proxy.forwards.slice(before), [
      'http://vault.test/v1/transit/encrypt/plain',
      'http://vault.test/v1/transit/decrypt/plain',
    ]);
  });

  test(
    'NO_PROXY hosts are reached directly',
    { skip: alias ? false : 'no second loopback name in /etc/hosts' },
    async () => {
      const k = parseVaultUri(`https://${alias}:${vaultTls}/v1/transit/keys/direct`);
      const before = tunnels();
      await src.wrap({ ...k }, crypto.randomBytes(32), ctx(env({ HTTPS_PROXY: proxy.url, NO_PROXY: alias! })));
      assert.equal(tunnels(), before);
      await src.wrap({ ...k }, crypto.randomBytes(32), ctx(env({ HTTPS_PROXY: proxy.url })));
      assert.deepEqual(proxy.connects.slice(before), [`${alias}:${vaultTls}`]);
    },
  );
});

describe('GCP Cloud KMS (gRPC, the real @google-cloud/kms) through the proxy', () => {
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN,
    TSOPS_GCP_KMS_TIMEOUT: '5',
    ...extra,
  });
  const key = () => ({ type: 'gcp_kms' as const, resourceId: GCP_KEY, enc: '' });

  test('HTTPS_PROXY in upper case is honoured (grpc-js alone reads only lower case)', async () => {
    const before = tunnels();
    const dataKey = crypto.randomBytes(32);
    const k = key();
    k.enc = await gcpSource.wrap(
      k,
      dataKey,
      ctx(env({ SOPS_GCP_KMS_ENDPOINT: 'gcpkms.test:443', HTTPS_PROXY: proxy.url })),
    );
    assert.deepEqual(
      await gcpSource.unwrap(k, ctx(env({ SOPS_GCP_KMS_ENDPOINT: 'gcpkms.test:443', HTTPS_PROXY: proxy.url }))),
      dataKey,
    );
    assert.ok(proxy.connects.slice(before).length >= 1);
    assert.ok(
      proxy.connects.slice(before).every((c) => c === 'gcpkms.test:443'),
      proxy.connects.slice(before).join(' '),
    );
    assert.equal(process.env['grpc_proxy'], undefined, 'the process environment is left as it was');
  });

  test(
    'NO_PROXY hosts are reached directly, even when no_proxy (lower case) says otherwise',
    { skip: alias ? false : 'no second loopback name in /etc/hosts' },
    async () => {
      const endpoint = `${alias}:${gcp.endpoint.split(':').pop()}`;
      const before = tunnels();
      await gcpSource.wrap(
        key(),
        crypto.randomBytes(32),
        ctx(env({ SOPS_GCP_KMS_ENDPOINT: endpoint, HTTPS_PROXY: proxy.url, NO_PROXY: alias! })),
      );
      assert.equal(tunnels(), before);
      await gcpSource.wrap(
        key(),
        crypto.randomBytes(32),
        ctx(env({ SOPS_GCP_KMS_ENDPOINT: endpoint, https_proxy: proxy.url })),
      );
      assert.ok(proxy.connects.slice(before).length >= 1);
      assert.ok(proxy.connects.slice(before).every((c) => c === endpoint));
    },
  );
});
