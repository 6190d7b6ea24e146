// HuaweiCloud KMS keys (src/keys/hckms/, sops 3.12+): metadata kept and written as sops writes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHckmsSource } from '../src/keys/hckms/client.js';
import type { HckmsKey, KeyContext } from '../src/keys/types.js';
import { startHckmsServer, type HckmsServer } from './servers/hckms.js';
import { closedPort, sopsFailure } from './helpers/failures.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox, encryptFile, run } from './helpers/editing.js';
import { newAgePair } from './helpers/keymgmt.js';
import { encrypt, setValue } from '../src/api.js';
import { parseMetadata, metadataToPlain } from '../src/metadata/metadata.js';
import { parseHckmsKeyId } from '../src/keys/hckms/key.js';
import YAML from 'yaml';

const sb = new Sandbox('tsops-hckms-');
after(() => sb.cleanup());

const K1 = 'tr-west-1:0d0466b0-e727-4d9c-b35d-f84bb474a37f';
const K2 = 'ap-southeast-1:5a6b7c8d-1111-2222-3333-444455556666';

/** The hckms block as sops 3.12+ writes it (entries' fields sorted: created_at, enc, key_id). */
const HCKMS_BLOCK = [
  '    hckms:',
  `        - created_at: "2026-01-02T03:04:05Z"`,
  `          enc: AAAAAQABAAAAAFZmQ2hSbk5NYkx3cjZ0b2FpQmVQc0E9PQ==`,
  `          key_id: ${K1}`,
  `        - created_at: "2026-01-02T03:04:05Z"`,
  `          enc: QkJCQmNpcGhlcnRleHQtb2YtdGhlLXNlY29uZC1rZXk=`,
  `          key_id: ${K2}`,
].join('\n');

/** A future key type tsops does not know: kept as written too. */
const FUTURE_BLOCK = ['    zz_future_kms:', '        - enc: c3RpbGwtaGVyZQ==', '          thing: x'].join('\n');

/** Insert lines right after `sops:` (the metadata's keys are sorted; hckms sorts after gcp/hc_vault). */
function withBlocks(text: string, ...blocks: string[]): string {
  return text.replace(/^sops:\n/m, `sops:\n${blocks.join('\n')}\n`);
}

function hckmsLines(text: string, header = '    hckms:'): string {
  const lines = text.split('\n');
  const at = lines.indexOf(header);
  assert.ok(at >= 0, `no ${header.trim()} block in:\n${text}`);
  const indent = /^ */.exec(header)![0].length;
  const out = [header];
  for (const l of lines.slice(at + 1)) {
    if ((/^ */.exec(l)![0].length <= indent && !l.startsWith(' '.repeat(indent) + '-')) || l === '') break;
    out.push(l);
  }
  return out.join('\n');
}

test('a sops 3.12+ file: `set` with age keeps the hckms entries (and unknown key lists) byte for byte', async () => {
  const file = await encryptFile(sb, 'a.yaml', 'a: 1\nb: two\n');
  const original = withBlocks(fs.readFileSync(file, 'utf8'), HCKMS_BLOCK, FUTURE_BLOCK);
  fs.writeFileSync(file, original);
  // the file as tsops reads it: the block sorted into place
  const r = await run(['set', file, '["a"]', '42'], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  const after = fs.readFileSync(file, 'utf8');
  assert.notEqual(after, original);
  assert.equal(hckmsLines(after), HCKMS_BLOCK);
  assert.equal(hckmsLines(after, '    zz_future_kms:'), FUTURE_BLOCK);
  const d = await run(['decrypt', file], { env: sb.env });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, 'a: 42\nb: two\n');
});

test('hckms entries inside key_groups survive a rewrite; the metadata layout is sops 3.12+', async () => {
  const other = await newAgePair();
  const text = await encrypt('x: 1\n', {
    format: 'yaml',
    keyGroups: [
      [{ type: 'age', recipient: AGE_RECIPIENT, enc: '' }],
      [{ type: 'age', recipient: other.recipient, enc: '' }],
    ],
    shamirThreshold: 2,
  });
  // put an hckms entry into the second group as sops would write it
  const doc = YAML.parse(text) as { sops: { key_groups: Record<string, unknown>[] } };
  const meta = parseMetadata({
    ...doc.sops,
    key_groups: doc.sops.key_groups.map((g, i) =>
      i === 1 ? { ...g, hckms: [{ key_id: K1, created_at: '2026-01-02T03:04:05Z', enc: 'Y2lwaGVy' }] } : g,
    ),
  } as never);
  const g1 = meta.keyGroups[1]!;
  const hk = g1.find((k) => k.type === 'hckms');
  assert.ok(hk && hk.type === 'hckms');
  assert.equal(hk.region, 'tr-west-1');
  assert.equal(hk.keyUuid, '0d0466b0-e727-4d9c-b35d-f84bb474a37f');
  const plain = metadataToPlain(meta) as { key_groups: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(plain.key_groups[1]!), ['age', 'hckms']);
  const entry = (plain.key_groups[1]!['hckms'] as Record<string, unknown>[])[0]!;
  // sops 3.12+ (hckms provider MarshalKey / stores): key_id, created_at, enc — written sorted
  assert.deepEqual(Object.keys(entry), ['created_at', 'enc', 'key_id']);
  assert.deepEqual(entry, { created_at: '2026-01-02T03:04:05Z', enc: 'Y2lwaGVy', key_id: K1 });

  // through the library: set keeps the group's hckms entry
  const withHckms = text.replace(
    /(key_groups:\n(?:.*\n)*?)(\s+- age:\n(?:.*\n)*?)(\s+- age:)/,
    (_m, a: string, b: string, c: string) =>
      `${a}${b}${c.replace('- age:', `- hckms:\n              - created_at: "2026-01-02T03:04:05Z"\n                enc: Y2lwaGVy\n                key_id: ${K1}\n          age:`)}`,
  );
  assert.notEqual(withHckms, text, 'the test put an hckms entry into the file');
  const out = await setValue(withHckms, '["y"]', 2, {
    env: { ...sb.env, SOPS_AGE_KEY: `${AGE_IDENTITY}\n${other.identity}` },
  });
  const groups = (YAML.parse(out) as { sops: { key_groups: Record<string, unknown>[] } }).sops.key_groups;
  assert.deepEqual(groups[1]!['hckms'], [{ created_at: '2026-01-02T03:04:05Z', enc: 'Y2lwaGVy', key_id: K1 }]);
});

test('parseHckmsKeyId: REGION:KEY_UUID as sops parses it', () => {
  assert.deepEqual(parseHckmsKeyId(` ${K1} `), {
    type: 'hckms',
    keyId: K1,
    region: 'tr-west-1',
    keyUuid: '0d0466b0-e727-4d9c-b35d-f84bb474a37f',
    enc: '',
  });
  assert.throws(() => parseHckmsKeyId('tr-west-1'), /expected REGION:KEY_UUID/);
  assert.throws(() => parseHckmsKeyId(':abc'), /region is empty/);
  assert.throws(() => parseHckmsKeyId('tr-west-1: '), /key UUID is empty/);
});

// --- the key source against the loopback KMS (test/servers/hckms.ts) ---------------------------------

const UUID = '0d0466b0-e727-4d9c-b35d-f84bb474a37f';
const DENIED = '9f9f9f9f-0000-4000-8000-000000000001';
const AK = 'HPUAEXAMPLEAK0000001';
const SK = 'sk-secret-0123456789abcdefghijklmnopqrstuv';
const TMP_AK = 'HPUATEMPORARY0000002';
const TMP_SK = 'sk-temporary-secret-0000000000000000';
const TOKEN = 'security-token-abc';
let srv: HckmsServer;
let home: string;
const logs: string[] = [];
const src = createHckmsSource({ retryDelayMs: 5 });

before(async () => {
  srv = await startHckmsServer({
    credentials: { [AK]: { sk: SK }, [TMP_AK]: { sk: TMP_SK, securityToken: TOKEN } },
    denyKeys: [DENIED],
  });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-hckms-home-'));
});

after(async () => {
  await srv.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** The environment sops's Huawei SDK reads: credentials, project, the region's endpoint. */
function hcEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: home,
    HUAWEICLOUD_SDK_AK: AK,
    HUAWEICLOUD_SDK_SK: SK,
    HUAWEICLOUD_SDK_PROJECT_ID: srv.projectId,
    HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1: srv.url,
    ...extra,
  };
}

function ctx(env: NodeJS.ProcessEnv): KeyContext {
  return { env, log: (m) => logs.push(m) };
}

const key = (uuid = UUID): HckmsKey => parseHckmsKeyId(`tr-west-1:${uuid}`);

test('round trip through EncryptData/DecryptData, signed SDK-HMAC-SHA256, as sops calls them', async () => {
  const dataKey = crypto.randomBytes(32);
  const k = key();
  const first = srv.calls.length;
  k.enc = await src.wrap(k, dataKey, ctx(hcEnv()));
  assert.match(k.enc, /^[A-Za-z0-9+/]+=*$/);
  const enc = srv.calls[first]!;
  assert.equal(enc.method, 'POST');
  assert.equal(enc.path, `/v1.0/${srv.projectId}/kms/encrypt-data`);
  assert.equal(enc.status, 200);
  assert.equal(enc.accessKey, AK);
  assert.equal(enc.projectIdHeader, srv.projectId);
  for (const h of ['content-type', 'host', 'x-project-id', 'x-sdk-date']) assert.ok(enc.signedHeaders.includes(h), h);
  // sops: key_id = the key UUID, plain_text = base64 of the data key, SYMMETRIC_DEFAULT
  assert.deepEqual(enc.body, {
    key_id: UUID,
    plain_text: dataKey.toString('base64'),
    encryption_algorithm: 'SYMMETRIC_DEFAULT',
  });
  const back = await src.unwrap(k, ctx(hcEnv()));
  assert.deepEqual(back, dataKey);
  const dec = srv.calls.at(-1)!;
  assert.equal(dec.path, `/v1.0/${srv.projectId}/kms/decrypt-data`);
  assert.deepEqual(dec.body, { cipher_text: k.enc, encryption_algorithm: 'SYMMETRIC_DEFAULT', key_id: UUID });
});

test('no project id: looked up in IAM by region name (HUAWEICLOUD_SDK_IAM_ENDPOINT), as the SDK does', async () => {
  const k = key();
  const first = srv.calls.length;
  const env = hcEnv({ HUAWEICLOUD_SDK_PROJECT_ID: '', HUAWEICLOUD_SDK_IAM_ENDPOINT: srv.url });
  k.enc = await src.wrap(k, Buffer.alloc(32, 7), ctx(env));
  const calls = srv.calls.slice(first);
  assert.deepEqual(
    calls.map((c) => [c.action, c.status]),
    [
      ['projects', 200],
      ['encrypt-data', 200],
    ],
  );
  assert.equal(calls[1]!.path, `/v1.0/${srv.projectId}/kms/encrypt-data`);
});

test('credentials from the [basic] section of ~/.huaweicloud/credentials, with a security token', async () => {
  const dir = path.join(home, '.huaweicloud');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'credentials'),
    `[basic]\nak = ${TMP_AK}\nsk = ${TMP_SK}\nproject_id = ${srv.projectId}\nsecurity_token = ${TOKEN}\n`,
  );
  try {
    const env = { HOME: home, HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1: srv.url };
    const k = key();
    k.enc = await src.wrap(k, Buffer.alloc(32, 1), ctx(env));
    const c = srv.calls.at(-1)!;
    assert.equal(c.accessKey, TMP_AK);
    assert.equal(c.securityToken, TOKEN);
    assert.ok(c.signedHeaders.includes('x-security-token'));
    assert.deepEqual(await src.unwrap(k, ctx(env)), Buffer.alloc(32, 1));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('failures are one line naming the key, never the secret key', async () => {
  const wrongSk = await sopsFailure(src.wrap(key(), Buffer.alloc(32), ctx(hcEnv({ HUAWEICLOUD_SDK_SK: 'wrong' }))));
  assert.match(
    wrongSk.message,
    /^hckms tr-west-1:0d0466b0-.*: failed to encrypt sops data key with HuaweiCloud KMS: HTTP 401 APIGW\.0301/,
  );
  assert.doesNotMatch(wrongSk.message, /wrong|sk-secret/);
  const denied = await sopsFailure(src.wrap(key(DENIED), Buffer.alloc(32), ctx(hcEnv())));
  assert.match(denied.message, /HTTP 403 KMS\.0205: access to key .* is denied/);
  const none = await sopsFailure(src.wrap(key(), Buffer.alloc(32), ctx({ HOME: home })));
  assert.match(none.message, /failed to get HuaweiCloud credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK/);
  const region = await sopsFailure(src.wrap(parseHckmsKeyId(`xx-nowhere-9:${UUID}`), Buffer.alloc(32), ctx(hcEnv())));
  assert.match(region.message, /invalid region "xx-nowhere-9".*HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_9/);
  const port = await closedPort();
  const first = srv.calls.length;
  const down = await sopsFailure(
    src.unwrap(
      { ...key(), enc: 'QUJD' },
      ctx(hcEnv({ HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1: `http://127.0.0.1:${port}`, TSOPS_HCKMS_MAX_ATTEMPTS: '2' })),
    ),
  );
  assert.equal(down.code, 128);
  assert.match(down.message, /ECONNREFUSED.*\(after 2 attempts\)$/);
  assert.equal(srv.calls.length, first);
});

test('a 5xx answer is retried', async () => {
  srv.options.failNext = 1;
  const first = srv.calls.length;
  const k = key();
  k.enc = await src.wrap(k, Buffer.alloc(32, 3), ctx(hcEnv()));
  assert.deepEqual(
    srv.calls.slice(first).map((c) => c.status),
    [500, 200],
  );
});

// --- the command line ------------------------------------------------------------------------------

const ID = `tr-west-1:${UUID}`;

function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...sb.env, ...hcEnv({ HOME: sb.env['HOME'] }), ...extra };
}

test('CLI: encrypt --hckms / SOPS_HUAWEICLOUD_KMS_IDS, decrypt, rotate --add-hckms/--rm-hckms; nothing on stdout but the result', async () => {
  const plain = sb.write('c.yaml', 'pw: s3cret\n');
  const enc = await run(['encrypt', '--hckms', ID, plain], { env: cliEnv() });
  assert.equal(enc.code, 0, enc.stderr);
  const meta = (YAML.parse(enc.stdout) as { sops: Record<string, unknown> }).sops;
  const entries = meta['hckms'] as Record<string, unknown>[];
  assert.equal(entries.length, 1);
  assert.deepEqual(Object.keys(entries[0]!), ['created_at', 'enc', 'key_id']);
  assert.equal(entries[0]!['key_id'], ID);
  assert.match(String(entries[0]!['created_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const file = sb.write('c.enc.yaml', enc.stdout);
  const dec = await run(['decrypt', file], { env: cliEnv({ SOPS_AGE_KEY: '' }) });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout, 'pw: s3cret\n');

  const viaEnv = await run(['encrypt', plain], { env: cliEnv({ SOPS_HUAWEICLOUD_KMS_IDS: ID }) });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.match(viaEnv.stdout, new RegExp(`key_id: ${ID}`));

  // rotate: add an age key, then remove the hckms key (the age key alone opens it afterwards)
  const add = await run(['rotate', '-i', '--add-age', AGE_RECIPIENT, file], { env: cliEnv() });
  assert.equal(add.code, 0, add.stderr);
  const rm = await run(['rotate', '-i', '--rm-hckms', ID, file], { env: cliEnv() });
  assert.equal(rm.code, 0, rm.stderr);
  const after = fs.readFileSync(file, 'utf8');
  assert.doesNotMatch(after, /hckms/);
  const back = await run(['rotate', '-i', '--add-hckms', ID, file], { env: cliEnv() });
  assert.equal(back.code, 0, back.stderr);
  assert.match(fs.readFileSync(file, 'utf8'), /hckms:\n\s+- created_at/);
  const onlyHc = await run(['decrypt', file], { env: cliEnv({ SOPS_AGE_KEY: '' }) });
  assert.equal(onlyHc.stdout, 'pw: s3cret\n', onlyHc.stderr);

  // the SDK's own logger stays silent: a failing call prints one line on stderr, nothing on stdout
  const bad = await run(['decrypt', file], { env: cliEnv({ SOPS_AGE_KEY: '', HUAWEICLOUD_SDK_SK: 'nope' }) });
  assert.equal(bad.code, 128);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /APIGW\.0301/);
});

test('CLI: .sops.yaml key_groups with age + hckms and shamir_threshold 2; updatekeys; a denied key fails with exit 128', async () => {
  const dir = sb.path('proj');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, '.sops.yaml'),
    `creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [${AGE_RECIPIENT}]\n      - hckms:\n          - key_id: ${ID}\n`,
  );
  const plain = path.join(dir, 's.yaml');
  fs.writeFileSync(plain, 'k: v\n');
  const enc = await run(['encrypt', '-i', plain], { env: cliEnv(), cwd: dir });
  assert.equal(enc.code, 0, enc.stderr);
  const meta = (YAML.parse(fs.readFileSync(plain, 'utf8')) as { sops: Record<string, unknown> }).sops;
  assert.equal(meta['shamir_threshold'], 2);
  const groups = meta['key_groups'] as Record<string, unknown>[];
  assert.deepEqual(
    groups.map((g) => Object.keys(g).sort()),
    [['age'], ['hckms']],
  );
  const ok = await run(['decrypt', plain], { env: cliEnv(), cwd: dir });
  assert.equal(ok.stdout, 'k: v\n', ok.stderr);
  // both groups are needed: without the KMS there is one share only
  const port = await closedPort();
  const down = await run(['decrypt', plain], {
    env: cliEnv({ HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1: `http://127.0.0.1:${port}`, TSOPS_HCKMS_MAX_ATTEMPTS: '1' }),
    cwd: dir,
  });
  assert.equal(down.code, 128);
  assert.equal(down.stderr.trim().split('\n').length, 1, down.stderr);
  assert.match(down.stderr, /1 of 2 key groups opened, 2 needed.*hckms tr-west-1:.*ECONNREFUSED/);

  // updatekeys: the rule now names a second (denied) hckms key in that group
  fs.writeFileSync(
    path.join(dir, '.sops.yaml'),
    `creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [${AGE_RECIPIENT}]\n      - hckms:\n          - key_id: ${ID}\n          - key_id: tr-west-1:${DENIED}\n`,
  );
  const before = fs.readFileSync(plain);
  const up = await run(['updatekeys', '-y', plain], { env: cliEnv(), cwd: dir });
  assert.notEqual(up.code, 0);
  assert.match(up.stderr, /KMS\.0205/);
  assert.deepEqual(fs.readFileSync(plain), before, 'the file is left as it was');
  const other = sb.write('x.json', '{"a": 1}');
  const denied = await run(['encrypt', '--hckms', `tr-west-1:${DENIED}`, other], { env: cliEnv() });
  assert.notEqual(denied.code, 0);
  assert.equal(denied.stdout, '');
  assert.equal(denied.stderr.trim().split('\n').length, 1, denied.stderr);
  assert.match(denied.stderr, /hckms tr-west-1:9f9f9f9f-.*HTTP 403 KMS\.0205/);
});

test('module trace: an hckms decrypt loads the hckms client and the Huawei SDK core; an age-only one loads neither', async () => {
  const { execFile } = await import('node:child_process');
  const { ROOT } = await import('./helpers/fixtures.js');
  const hcFile = sb.write(
    'trace-hc.yaml',
    (await run(['encrypt', '--hckms', ID, sb.write('t.yaml', 'a: 1\n')], { env: cliEnv() })).stdout,
  );
  const ageFile = await encryptFile(sb, 'trace-age.yaml', 'a: 1\n');
  const loader = sb.write(
    'trace.mjs',
    `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n`,
  );
  const reg = sb.write(
    'register.mjs',
    `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + loader)});\n`,
  );
  const probe = sb.write(
    'probe.mjs',
    `import { decryptFile } from ${JSON.stringify(path.join(ROOT, 'dist', 'src', 'index.js'))};\n` +
      `import { createRequire } from 'node:module';\n` +
      `const out = await decryptFile(process.argv[2]);\n` +
      `process.stdout.write(JSON.stringify({ out, loaded: Object.keys(createRequire(import.meta.url).cache) }));\n`,
  );
  // asynchronous: the loopback KMS runs in this process
  const trace = (file: string, env: NodeJS.ProcessEnv) =>
    new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', reg, probe, file], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        const parsed = JSON.parse(stdout) as { out: string; loaded: string[] };
        assert.equal(parsed.out, 'a: 1\n');
        resolve(`${stderr}\n${parsed.loaded.join('\n')}`);
      });
    });
  const hc = await trace(hcFile, cliEnv({ SOPS_AGE_KEY: '' }));
  assert.match(hc, /\/keys\/hckms\/client\.js/);
  assert.match(hc, /@huaweicloud\/huaweicloud-sdk-core/);
  const onlyAge = await trace(ageFile, sb.env);
  assert.doesNotMatch(onlyAge, /hckms\/client|@huaweicloud/);
});
