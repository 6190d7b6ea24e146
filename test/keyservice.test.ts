// sops's key service: `tsops keyservice` servers (separate processes holding the keys) and tsops
// clients (holding none) over unix sockets and TCP on 127.0.0.1, for age, PGP (the real gpg) and AWS
// KMS (the real SDK against the loopback KMS); the protocol's bytes against sops's keyservice.proto.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fromJSON, loadSync } from '@grpc/proto-loader';
import { decrypt, encrypt } from '../src/api.js';
import type { KeyServices, MasterKey } from '../src/keys/types.js';
import { keyServicesFrom } from '../src/keyservice/index.js';
import { targetOf } from '../src/keyservice/client.js';
import { KEYSERVICE_PROTO, LOADER_OPTIONS, keyFromProto, keyToProto } from '../src/keyservice/proto.js';
import { FIXTURES, ROOT } from './helpers/fixtures.js';
import { startAwsServer, type AwsServer } from './servers/aws-kms.js';

const BIN = path.join(ROOT, 'bin', 'tsops');
const AGE_KEYS = path.join(ROOT, 'fixtures', 'demo', 'keys.txt');
const AGE_RECIPIENT = 'age1rjwtrlxchak4vm9h6q4933lmflr7k8x4vrsz92qszwm9y00zjp9q4x7ra4';
const PGP_FP = 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4';
const PGP_KEYS = path.join(FIXTURES, 'keys', 'sops_functional_tests_key.asc');
const ARN = 'arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const AWS_ID = 'AKIDKEYSERVICESRV01';
const AWS_SECRET = 'keyservice-server-secret';

const hasGpg = spawnSync('gpg', ['--version'], { stdio: 'ignore' }).status === 0;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-keyservice-'));
const mkdir = (name: string) => {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { mode: 0o700 });
  return d;
};

// --- the protocol ---------------------------------------------------------------------------------

/** The methods of a package definition (what a gRPC client and server use to encode). */
function methodsOf(def: ReturnType<typeof fromJSON>) {
  return def['KeyService'] as unknown as Record<
    'Encrypt' | 'Decrypt',
    { path: string; requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown }
  >;
}

describe('the protocol is sops keyservice.proto', () => {
  const inCode = methodsOf(fromJSON(KEYSERVICE_PROTO, LOADER_OPTIONS));
  const shipped = methodsOf(loadSync(path.join(ROOT, 'src', 'keyservice', 'keyservice.proto'), LOADER_OPTIONS));

  test('no package: the methods are /KeyService/Encrypt and /KeyService/Decrypt, as sops calls them', () => {
    assert.equal(inCode.Encrypt.path, '/KeyService/Encrypt');
    assert.equal(inCode.Decrypt.path, '/KeyService/Decrypt');
    assert.equal(shipped.Encrypt.path, '/KeyService/Encrypt');
  });

  test('requests encode to the bytes sops proto defines (computed by hand from its field numbers)', () => {
    // EncryptRequest{key: Key{age_key(6): AgeKey{recipient(1): "age1x"}}, plaintext(2): 01 02}
    const enc = { key: { age_key: { recipient: 'age1x' } }, plaintext: Buffer.from([1, 2]) };
    const encBytes = '0a09' + '3207' + '0a05' + Buffer.from('age1x').toString('hex') + '12020102';
    // DecryptRequest{key: Key{pgp_key(2): PgpKey{fingerprint(1): "F"}}, ciphertext(2): "enc"}
    const dec = { key: { pgp_key: { fingerprint: 'F' } }, ciphertext: Buffer.from('enc') };
    const decBytes = '0a05' + '1203' + '0a0146' + '1203' + Buffer.from('enc').toString('hex');
    // KmsKey{arn(1): "a", role(2): "r", context(3): {"k": "v"}, aws_profile(4): "p"} in Key.kms_key(1)
    const kms = { key: { kms_key: { arn: 'a', role: 'r', context: { k: 'v' }, aws_profile: 'p' } } };
    const kmsKey = '0a0161' + '120172' + '1a06' + '0a016b' + '120176' + '220170';
    const kmsBytes = '0a13' + '0a11' + kmsKey;
    for (const m of [inCode, shipped]) {
      assert.equal(m.Encrypt.requestSerialize(enc).toString('hex'), encBytes);
      assert.equal(m.Decrypt.requestSerialize(dec).toString('hex'), decBytes);
      assert.equal(m.Decrypt.requestSerialize(kms).toString('hex'), kmsBytes);
    }
  });

  test('every key type: field numbers 1-7 of Key, and the same bytes from the shipped .proto', () => {
    const keys: MasterKey[] = [
      { type: 'kms', enc: '', arn: ARN, role: 'arn:aws:iam::1:role/r', context: { a: 'b' }, awsProfile: 'p' },
      { type: 'pgp', enc: '', fp: PGP_FP },
      { type: 'gcp_kms', enc: '', resourceId: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' },
      { type: 'azure_kv', enc: '', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: 'v1' },
      { type: 'hc_vault', enc: '', vaultAddress: 'https://vault:8200', enginePath: 'transit', keyName: 'k' },
      { type: 'age', enc: '', recipient: AGE_RECIPIENT },
    ];
    keys.forEach((k, i) => {
      const req = { key: keyToProto(k), ciphertext: Buffer.from('x') };
      const bytes = inCode.Decrypt.requestSerialize(req);
      assert.deepEqual(bytes, shipped.Decrypt.requestSerialize(req), k.type);
      // the Key message's first tag: field i+1, length-delimited
      assert.equal(bytes[2], ((i + 1) << 3) | 2, k.type);
      // and back: the server's reading of it is the key sent
      const back = shipped.Decrypt.requestDeserialize(bytes) as { key: Parameters<typeof keyFromProto>[0] };
      assert.deepEqual(keyFromProto(back.key), k);
    });
    // hckms_key is field 7 (sops 3.12)
    const h = shipped.Decrypt.requestSerialize({ key: { hckms_key: { key_id: 'id' } } });
    assert.equal(h.toString('hex'), '0a06' + '3a04' + '0a026964');
  });

  test('a request without a key, or with no key type, is refused as sops refuses it', () => {
    assert.throws(() => keyFromProto(undefined), /Must provide a key/);
    assert.throws(() => keyFromProto({}), /Must provide a key/);
  });
});

describe('client settings, as sops reads its flags', () => {
  test('SOPS_KEYSERVICE is comma-separated and the flags come after it; local is on unless disabled', () => {
    assert.deepEqual(keyServicesFrom({}), { local: true, remote: [] });
    assert.deepEqual(keyServicesFrom({ SOPS_KEYSERVICE: 'tcp://a:1, unix:///s' }, { keyservice: ['tcp://b:2'] }), {
      local: true,
      remote: ['tcp://a:1', 'unix:///s', 'tcp://b:2'],
    });
    for (const [v, want] of [
      ['false', false],
      ['0', false],
      ['F', false],
      ['', false],
      ['true', true],
      ['1', true],
    ] as const) {
      assert.equal(keyServicesFrom({ SOPS_ENABLE_LOCAL_KEYSERVICE: v }).local, want, v);
    }
    assert.equal(
      keyServicesFrom({ SOPS_ENABLE_LOCAL_KEYSERVICE: 'false' }, { enableLocalKeyservice: true }).local,
      true,
    );
    assert.throws(() => keyServicesFrom({ SOPS_ENABLE_LOCAL_KEYSERVICE: 'nope' }), /SOPS_ENABLE_LOCAL_KEYSERVICE/);
  });

  test('URIs: tcp://host:port and unix:///path, as sops dials them', () => {
    assert.equal(targetOf('tcp://127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(targetOf('tcp://[::1]:5000'), '[::1]:5000');
    assert.equal(targetOf('unix:///tmp/sops.sock'), 'unix:/tmp/sops.sock');
    assert.throws(() => targetOf('udp://x:1'), /unknown network udp/);
  });
});

// --- client and server processes ------------------------------------------------------------------

interface Served {
  proc: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  stdout: () => string;
  /** Resolves when standard output has grown to contain `text` `count` times. */
  waitOut: (text: string, count: number) => Promise<void>;
  /** Resolves when standard error contains `text`. */
  waitErr: (text: string) => Promise<void>;
}

const running: Served[] = [];

function serve(args: string[], env: NodeJS.ProcessEnv): Promise<Served> {
  const proc = spawn(process.execPath, [BIN, 'keyservice', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  const outWaiters: (() => void)[] = [];
  const errWaiters: (() => void)[] = [];
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of outWaiters.splice(0)) w();
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of errWaiters.splice(0)) w();
  });
  return new Promise<Served>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keyservice did not start: ${err}`)), 60_000);
    proc.stderr.on('data', () => {
      const m = /msg="Listening on ([^"]+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        const s: Served = {
          proc,
          url: m[1]!,
          stderr: () => err,
          stdout: () => out,
          waitOut: (text, count) =>
            new Promise((res) => {
              const check = () => {
                if (out.split(text).length - 1 >= count) res();
                else outWaiters.push(check);
              };
              check();
            }),
          waitErr: (text) =>
            new Promise((res) => {
              const check = () => {
                if (err.includes(text)) res();
                else errWaiters.push(check);
              };
              check();
            }),
        };
        running.push(s);
        resolve(s);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keyservice exited with ${String(code)}: ${err}`));
    });
  });
}

function stop(s: Served, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return Promise.resolve(s.proc.exitCode);
  return new Promise((resolve) => {
    s.proc.once('exit', (code) => resolve(code));
    s.proc.kill(signal);
  });
}

function tsops(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let kms: AwsServer;
let serverEnv: NodeJS.ProcessEnv;
let clientEnv: NodeJS.ProcessEnv;
let withKeys: Served; // unix socket, holds age, PGP and KMS
let overTcp: Served; // 127.0.0.1, any free port, holds the same keys
let keyless: Served; // unix socket, holds no key
const gnupgHomes: string[] = [];

const noAws = {
  AWS_CONFIG_FILE: path.join(tmp, 'no-aws-config'),
  AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'no-aws-credentials'),
  AWS_EC2_METADATA_DISABLED: 'true',
};

before(async () => {
  kms = await startAwsServer({ credentials: { [AWS_ID]: AWS_SECRET } });
  const serverGnupg = mkdir('server-gnupg');
  const clientGnupg = mkdir('client-gnupg');
  gnupgHomes.push(serverGnupg, clientGnupg);
  if (hasGpg) {
    execFileSync('gpg', ['--batch', '--import', PGP_KEYS], {
      env: { ...process.env, GNUPGHOME: serverGnupg },
      stdio: 'ignore',
    });
  }
  const base = { PATH: process.env.PATH ?? '', ...noAws };
  serverEnv = {
    ...base,
    HOME: mkdir('server-home'),
    SOPS_AGE_KEY_FILE: AGE_KEYS,
    GNUPGHOME: serverGnupg,
    AWS_ACCESS_KEY_ID: AWS_ID,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_ENDPOINT_URL: kms.url,
  };
  // the client holds no key: no age identity, an empty gpg home, no AWS credentials
  clientEnv = { ...base, HOME: mkdir('client-home'), GNUPGHOME: clientGnupg };
  [withKeys, overTcp, keyless] = await Promise.all([
    serve(['--network', 'unix', '--address', path.join(tmp, 'keys.sock')], serverEnv),
    serve(['--net', 'tcp', '--addr', '127.0.0.1:0'], serverEnv),
    serve(['--network', 'unix', '--address', path.join(tmp, 'keyless.sock')], {
      ...base,
      HOME: mkdir('keyless-home'),
      GNUPGHOME: mkdir('keyless-gnupg'),
    }),
  ]);
});

after(async () => {
  await Promise.all(running.map((s) => stop(s, 'SIGKILL')));
  await kms.close();
  for (const home of gnupgHomes) spawnSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
  fs.rmSync(tmp, { recursive: true, force: true });
});

const only = (url: string): KeyServices => ({ local: false, remote: [url] });

const KEYS: Record<string, MasterKey> = {
  age: { type: 'age', enc: '', recipient: AGE_RECIPIENT },
  pgp: { type: 'pgp', enc: '', fp: PGP_FP },
  kms: { type: 'kms', enc: '', arn: ARN, context: { app: 'tsops' } },
};

describe('a client without keys wraps and unwraps through a key service that has them', () => {
  for (const transport of ['unix', 'tcp'] as const) {
    for (const [name, key] of Object.entries(KEYS)) {
      test(`${name} over ${transport}`, { skip: name === 'pgp' && !hasGpg && 'gpg not installed' }, async () => {
        const url = transport === 'unix' ? withKeys.url : overTcp.url;
        assert.match(url, transport === 'unix' ? /^unix:\/\/\// : /^tcp:\/\/127\.0\.0\.1:\d+$/);
        const o = { format: 'yaml' as const, env: clientEnv, keyServices: only(url) };
        const enc = await encrypt('secret: value\n', { ...o, keyGroups: [[{ ...key }]] });
        assert.equal(await decrypt(enc, o), 'secret: value\n');
        // the client really holds no key: with its own keys only, the same file does not open
        await assert.rejects(decrypt(enc, { ...o, keyServices: { local: true, remote: [] } }), { code: 128 });
      });
    }
  }
  test('the server logged each request by its key, never the data', () => {
    const log = withKeys.stderr();
    assert.match(log, /Served encrypt request using age key with recipient age1rjwt/);
    assert.match(log, /Served decrypt request using AWS KMS key with ARN arn:aws:kms:eu-west-3/);
    assert.doesNotMatch(log, /secret: value|value/);
  });
});

describe('the command line', () => {
  let ageFile = '';
  before(async () => {
    ageFile = path.join(tmp, 'age.enc.yaml');
    const enc = await encrypt('a: 1\n', {
      format: 'yaml',
      age: [AGE_RECIPIENT],
      env: serverEnv,
      keyServices: { local: true, remote: [] },
    });
    fs.writeFileSync(ageFile, enc);
  });

  test('a server without the key refuses; the client says so in one line, exit 128', async () => {
    const r = tsops(['decrypt', '--enable-local-keyservice=false', '--keyservice', keyless.url, ageFile], clientEnv);
    assert.equal(r.code, 128, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /rpc error: code = Unknown desc = .*age/);
    assert.ok(r.stderr.includes(keyless.url), r.stderr);
    await keyless.waitErr('Failed decrypt request using age key');
  });

  test('local disabled: the local key is never used, even when it would have worked', () => {
    const local = { ...clientEnv, SOPS_AGE_KEY_FILE: AGE_KEYS };
    const works = tsops(['decrypt', '--keyservice', keyless.url, ageFile], local);
    assert.equal(works.code, 0, works.stderr);
    assert.equal(works.stdout, 'a: 1\n');
    const refused = tsops(['decrypt', '--enable-local-keyservice=false', '--keyservice', keyless.url, ageFile], local);
    assert.equal(refused.code, 128, refused.stderr);
    assert.equal(refused.stdout, '');
    const none = tsops(['-d', '--enable-local-keyservice=0', ageFile], local);
    assert.equal(none.code, 128, none.stderr);
    assert.match(none.stderr, /local key service is disabled/);
  });

  test('SOPS_KEYSERVICE and SOPS_ENABLE_LOCAL_KEYSERVICE: each service in turn until one succeeds', () => {
    const env = {
      ...clientEnv,
      SOPS_KEYSERVICE: `${keyless.url},${withKeys.url}`,
      SOPS_ENABLE_LOCAL_KEYSERVICE: 'false',
    };
    const r = tsops(['decrypt', ageFile], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a: 1\n');
  });
});

describe('--prompt', () => {
  test('each request waits for y or n on the server; n is refused with PermissionDenied', async () => {
    const asking = await serve(
      ['--network', 'unix', '--address', path.join(tmp, 'prompt.sock'), '--prompt'],
      serverEnv,
    );
    const o = { format: 'yaml' as const, env: clientEnv, keyServices: only(asking.url) };
    const encrypting = encrypt('k: v\n', { ...o, age: [AGE_RECIPIENT] });
    await asking.waitOut('Received encrypt request using age key with recipient age1rjwt', 1);
    assert.match(asking.stdout(), /Respond to request\? \(y\/n\): $/);
    asking.proc.stdin.write('y\n');
    const enc = await encrypting;
    const decrypting = decrypt(enc, o);
    await asking.waitOut('Respond to request?', 2);
    asking.proc.stdin.write('n\n');
    await assert.rejects(decrypting, (e: Error) => {
      assert.match(e.message, /rpc error: code = PermissionDenied desc = Request rejected by user/);
      return true;
    });
    assert.equal(await stop(asking), 0);
  });
});

describe('the server stops cleanly', () => {
  test('SIGTERM: exit 0, the socket removed; a socket left by a killed server is taken over', async () => {
    const sock = path.join(tmp, 'stop.sock');
    const s = await serve(['--network', 'unix', '--address', sock], serverEnv);
    assert.ok(fs.statSync(sock).isSocket());
    assert.equal(await stop(s, 'SIGTERM'), 0);
    assert.match(s.stderr(), /Caught signal terminated: shutting down/);
    assert.equal(fs.existsSync(sock), false);
    const killed = await serve(['--network', 'unix', '--address', sock], serverEnv);
    await stop(killed, 'SIGKILL');
    assert.ok(fs.statSync(sock).isSocket(), 'SIGKILL leaves the socket');
    const again = await serve(['--network', 'unix', '--address', sock], serverEnv);
    assert.match(again.stderr(), /stale socket/);
    assert.equal(await stop(again, 'SIGINT'), 0);
    assert.equal(fs.existsSync(sock), false);
  });

  test('an address in use: one line, exit 1', () => {
    const r = tsops(['keyservice', '--network', 'unix', '--address', path.join(tmp, 'keys.sock')], serverEnv);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error running keyservice: listen unix .*keys\.sock: .*address already in use/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

test('an age-only decrypt loads no gRPC code', () => {
  const probe = path.join(tmp, 'trace.mjs');
  fs.writeFileSync(
    probe,
    `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n`,
  );
  const reg = path.join(tmp, 'register.mjs');
  fs.writeFileSync(reg, `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + probe)});\n`);
  const file = path.join(tmp, 'trace.enc.yaml');
  fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, 'fixtures', 'demo', 'secrets.enc.yaml')));
  const r = spawnSync(process.execPath, ['--import', reg, BIN, 'decrypt', file], {
    env: { ...clientEnv, SOPS_AGE_KEY_FILE: AGE_KEYS },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^LOAD /m);
  for (const heavy of ['@grpc', 'protobufjs', '/keyservice/client', '/keyservice/server'])
    assert.ok(!r.stderr.includes(heavy), `${heavy} was loaded`);
});
