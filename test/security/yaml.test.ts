// Issue 10, YAML items: alias bombs, invalid UTF-8, sub-second timestamps, !!binary values, empty
// files, malformed YAML on the encrypted-file fast path, messages that never echo a value, and
// ±Inf in the MAC (checked against the real sops decrypt library and go-yaml v3.0.1).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decrypt, decryptData, encrypt } from '../../src/api.js';
import { ExitCode, SopsError } from '../../src/errors.js';
import { createYamlStore } from '../../src/stores/yaml.js';
import { AGE_IDENTITY, AGE_RECIPIENT } from '../helpers/editing.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from '../helpers/sops-oracle.js';
import { closeGoyaml, goyaml, goyamlUnavailableReason } from '../goyaml/oracle.js';
import { encryptValue, parseEncrypted, decryptParsed } from '../../src/aes/cipher.js';
import { macAad } from '../../src/metadata/metadata.js';

const env = { SOPS_AGE_KEY: AGE_IDENTITY } as NodeJS.ProcessEnv;
const store = createYamlStore();
const goSkip = goyamlUnavailableReason() ?? false;

after(async () => {
  closeGoyaml();
  await closeOracle();
});

/** The message of what `f` throws (it must throw). */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('expected an error');
}

/** 24 levels of 10 aliases each: 10^24 nodes once expanded. */
function aliasBomb(): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 24; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return lines.join('\n') + '\n';
}

test("an alias bomb is refused at once with go-yaml's one line, on both load paths", () => {
  const bomb = Buffer.from(aliasBomb());
  for (const load of [() => store.loadPlain(bomb), () => store.loadEncrypted(bomb)]) {
    const msg = thrown(load);
    assert.match(msg, /^Error unmarshaling input YAML: document contains excessive aliasing at line \d+, column \d+$/);
  }
});

test('go-yaml agrees: the bomb is refused, moderate aliasing is accepted', { skip: goSkip }, () => {
  const moderate =
    ['base: &b {a: 1, b: 2, c: [1, 2, 3]}', ...Array.from({ length: 60 }, (_, i) => `k${i}: *b`)].join('\n') + '\n';
  const [bomb, ok] = goyaml([
    { mode: 'value', body: aliasBomb() },
    { mode: 'value', body: moderate },
  ]);
  assert.match(bomb!.error ?? '', /document contains excessive aliasing/);
  assert.equal(ok!.error, undefined);
  assert.equal(store.loadPlain(Buffer.from(moderate)).docs[0]!.items.length, 61);
});

test("invalid UTF-8 and control characters are refused with go-yaml's words, never turned into U+FFFD", () => {
  const cases: Array<[number[], RegExp]> = [
    [[0x61, 0x3a, 0x20, 0xff, 0x0a], /invalid leading UTF-8 octet/],
    [[0x61, 0x3a, 0x20, 0xc3, 0x0a], /invalid trailing UTF-8 octet/],
    [[0x61, 0x3a, 0x20, 0xc3], /incomplete UTF-8 octet sequence/],
    [[0x61, 0x3a, 0x20, 0xc0, 0xaf, 0x0a], /invalid length of a UTF-8 sequence/],
    [[0x61, 0x3a, 0x20, 0xed, 0xa0, 0x80, 0x0a], /invalid (Unicode character|length)/],
    [[0x61, 0x3a, 0x20, 0x01, 0x0a], /control characters are not allowed/],
  ];
  for (const [b, re] of cases) {
    for (const load of [() => store.loadPlain(Buffer.from(b)), () => store.loadEncrypted(Buffer.from(b))]) {
      const msg = thrown(load);
      assert.match(msg, re, JSON.stringify(b));
      assert.doesNotMatch(msg, /\uFFFD/);
    }
  }
  // valid UTF-8 (and a leading BOM) still reads
  assert.equal(store.loadPlain(Buffer.from('\uFEFFa: ünï 日本 😀\n')).docs[0]!.items.length, 1);
});

test('go-yaml agrees on the invalid UTF-8 it refuses', { skip: goSkip }, () => {
  const answers = goyaml(
    [
      [0x61, 0x3a, 0x20, 0xff, 0x0a],
      [0x61, 0x3a, 0x20, 0xc3],
      [0x61, 0x3a, 0x20, 0x01, 0x0a],
    ].map((b) => ({ mode: 'sops', body: Buffer.from(b) })),
  );
  assert.deepEqual(
    answers.map((a) => a.error),
    [
      'yaml: invalid leading UTF-8 octet',
      'yaml: incomplete UTF-8 octet sequence',
      'yaml: control characters are not allowed',
    ],
  );
});

test('sub-second timestamps keep their fraction (RFC 3339 nanoseconds, as sops >= 3.10)', async () => {
  const src = 't: 2001-12-14T21:59:43.123456789Z\nu: 2001-12-14 21:59:43.10\nv: 2001-12-14T21:59:43,5+01:00\n';
  const t = store.loadPlain(Buffer.from(src)).docs[0]!;
  assert.deepEqual(
    t.items.map((i) => (i.kind === 'entry' && i.value.kind === 'scalar' ? `${i.value.type}:${i.value.text}` : '')),
    ['time:2001-12-14T21:59:43.123456789Z', 'time:2001-12-14T21:59:43.1Z', 'time:2001-12-14T21:59:43.5+01:00'],
  );
  const enc = await encrypt(src, { format: 'yaml', age: [AGE_RECIPIENT], env });
  assert.match(enc, /type:time\]/);
  assert.equal(
    await decrypt(enc, { format: 'yaml', env }),
    't: 2001-12-14T21:59:43.123456789Z\nu: 2001-12-14T21:59:43.1Z\nv: 2001-12-14T21:59:43.5+01:00\n',
  );
});

test('!!binary values are decoded whole (SECRETXYZ, not SECRETXY), and invalid base64 is refused', async () => {
  const src = 'a: !!binary U0VDUkVUWFla\nb: !!binary |\n  U0VDUk\n  VUWFla\n';
  const enc = await encrypt(src, { format: 'yaml', age: [AGE_RECIPIENT], env });
  assert.deepEqual(await decryptData(enc, { format: 'yaml', env }), { a: 'SECRETXYZ', b: 'SECRETXYZ' });
  for (const bad of ['a: !!binary U0VDUkVUWFl\n', 'a: !!binary "!!!!"\n', 'a: !!binary >\n  U0VDUkVU\n  WFla\n']) {
    assert.match(
      thrown(() => store.loadPlain(Buffer.from(bad))),
      /!!binary value contains invalid base64 data/,
      bad,
    );
  }
});

test('an empty YAML file is refused by encrypt as sops refuses it (exit code 92)', async () => {
  for (const src of ['', '\n', '# only a comment\n']) {
    await assert.rejects(encrypt(src, { format: 'yaml', age: [AGE_RECIPIENT], env }), (e: unknown) => {
      assert.ok(e instanceof SopsError);
      assert.equal(e.code, ExitCode.NeedAtLeastOneDocument);
      assert.match(e.message, /File cannot be completely empty, it must contain at least one document/);
      return true;
    });
  }
  // a document marker alone is one (empty) document, as in sops
  assert.match(await encrypt('---\n', { format: 'yaml', age: [AGE_RECIPIENT], env }), /^sops:/);
});

test('decrypt refuses malformed YAML that encrypt and go-yaml refuse (the fast path checks structure)', async () => {
  const enc = await encrypt('a: 1\nb:\n  c: secret\nd: [x, y]\n', { format: 'yaml', age: [AGE_RECIPIENT], env });
  const lines = enc.split('\n');
  const bIndex = lines.indexOf('b:');
  const damaged: Record<string, string> = {
    'stray trailing line': `${enc}stray\n`,
    'tab indentation': enc.replace('\n    c: ', '\n\tc: '),
    'over-indented key': [
      ...lines.slice(0, bIndex + 2),
      `      e: ${lines[bIndex + 1]!.trim().slice(3)}`,
      ...lines.slice(bIndex + 2),
    ].join('\n'),
    'truncated last line': enc.slice(0, enc.indexOf('lastmodified: "') + 20),
    'unclosed flow': enc.replace(/\nd:\n( {4}- .*\n)+/, '\nd: [ENC[x], ENC[y]\n'),
  };
  for (const [what, text] of Object.entries(damaged)) {
    const plainMsg = thrown(() => store.loadPlain(Buffer.from(text)));
    assert.match(plainMsg, /^Error unmarshaling input YAML: /, `${what}: encrypt refuses it`);
    await assert.rejects(decrypt(text, { format: 'yaml', env }), (e: unknown) => {
      assert.match((e as Error).message, /Error unmarshaling input YAML|could not parse/, what);
      assert.doesNotMatch((e as Error).message, /MAC/, what);
      return true;
    });
  }
});

test('go-yaml refuses the same damaged files', { skip: goSkip }, async () => {
  const enc = await encrypt('a: 1\nb:\n  c: secret\n', { format: 'yaml', age: [AGE_RECIPIENT], env });
  const texts = [
    `${enc}stray\n`,
    enc.replace('\n    c: ', '\n\tc: '),
    enc.slice(0, enc.indexOf('lastmodified: "') + 20),
  ];
  for (const a of goyaml(texts.map((body) => ({ mode: 'sops', body })))) assert.ok(a.error, 'go-yaml refuses');
});

test('type errors never print the value (go-yaml quotes it; a file of secrets must not)', () => {
  for (const tag of ['!!int', '!!float', '!!bool', '!!null', '!!timestamp']) {
    const msg = thrown(() => store.loadPlain(Buffer.from(`a: ${tag} SECRETXYZ\n`)));
    assert.match(msg, new RegExp(tag === '!!timestamp' ? '!!timestamp' : `cannot decode a !!str value as a ${tag}`));
    assert.doesNotMatch(msg, /SECRETXYZ/);
    assert.doesNotMatch(
      thrown(() => store.loadEncrypted(Buffer.from(`a: ${tag} SECRETXYZ\n`))),
      /SECRETXYZ/,
    );
  }
});

test('±Inf hash as sops hashes them (+Inf / -Inf): flipping an unencrypted .inf breaks the MAC', async () => {
  const src = 'x_unencrypted: .inf\ny_unencrypted: -.inf\nz: .inf\nw: -.Inf\n';
  const enc = await encrypt(src, { format: 'yaml', age: [AGE_RECIPIENT], env });
  assert.equal(
    await decrypt(enc, { format: 'yaml', env }),
    'x_unencrypted: .inf\ny_unencrypted: -.inf\nz: .inf\nw: -.inf\n',
  );
  const flipped = enc.replace('x_unencrypted: .inf', 'x_unencrypted: -.inf');
  assert.notEqual(flipped, enc);
  await assert.rejects(decrypt(flipped, { format: 'yaml', env }), /MAC/);
  // the MAC is SHA-512 over sops's bytes of the values: +Inf -Inf +Inf -Inf
  const meta = store.loadEncrypted(Buffer.from(enc)).metadata as { mac: string; lastmodified: string };
  const key = await dataKeyOf(enc);
  const mac = decryptParsed(parseEncrypted(meta.mac), key, macAad(meta.lastmodified)).toString('utf8');
  assert.equal(mac, createHash('sha512').update('+Inf-Inf+Inf-Inf').digest('hex').toUpperCase());
});

/** The data key of an age-encrypted file (the test identity). */
async function dataKeyOf(enc: string): Promise<Buffer> {
  const meta = store.loadEncrypted(Buffer.from(enc)).metadata as { age: Array<{ enc: string }> };
  const age = await import('age-encryption');
  const d = new age.Decrypter();
  d.addIdentity(AGE_IDENTITY);
  return Buffer.from(await d.decrypt(age.armor.decode(meta.age[0]!.enc)));
}

test('real sops verifies the MAC of a file with .inf and -.inf values, and refuses the flipped one', async (t) => {
  if (!(await oracleAvailable()))
    return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown'}`);
  const enc = await encrypt('x_unencrypted: .inf\ny_unencrypted: -.inf\nname: v\n', {
    format: 'yaml',
    age: [AGE_RECIPIENT],
    env,
  });
  const good = await sopsDecrypt(enc, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
  // (sops verifies the MAC and decrypts; only the oracle's JSON output cannot hold +Inf)
  assert.ok(good.ok || /unsupported value: \+Inf/.test(good.error), good.error);
  assert.doesNotMatch(good.error, /integrity|mac/i, good.error);
  const bad = await sopsDecrypt(enc.replace('y_unencrypted: -.inf', 'y_unencrypted: .inf'), 'yaml', {
    SOPS_AGE_KEY: AGE_IDENTITY,
  });
  assert.equal(bad.ok, false);
  assert.match(bad.error, /Failed to verify data integrity/);
});

test('tsops opens a file whose MAC sops computed over +Inf/-Inf (both ways)', async () => {
  // written as sops writes it: the MAC over Go's FormatFloat(±Inf) bytes, encrypted with lastmodified
  const enc = await encrypt('x_unencrypted: .inf\ny_unencrypted: -.inf\n', {
    format: 'yaml',
    age: [AGE_RECIPIENT],
    env,
  });
  const key = await dataKeyOf(enc);
  const meta = store.loadEncrypted(Buffer.from(enc)).metadata as { mac: string; lastmodified: string };
  const sopsMac = createHash('sha512').update('+Inf-Inf').digest('hex').toUpperCase();
  const rewritten = enc.replace(meta.mac, encryptValue(Buffer.from(sopsMac), 'str', key, macAad(meta.lastmodified)));
  assert.equal(await decrypt(rewritten, { format: 'yaml', env }), 'x_unencrypted: .inf\ny_unencrypted: -.inf\n');
});

test("nesting: beyond go-yaml's 10000 levels is refused with its words; deep nesting never prints a stack error", () => {
  const tooDeep = Buffer.from('a: ' + '['.repeat(10_001) + ']'.repeat(10_001) + '\n');
  for (const load of [() => store.loadPlain(tooDeep), () => store.loadEncrypted(tooDeep)]) {
    assert.match(thrown(load), /^Error unmarshaling input YAML: exceeded max depth of 10000 at line 1, column \d+$/);
  }
  let block = '';
  for (let i = 0; i < 3000; i++) block += ' '.repeat(i) + `k${i}:\n`;
  for (const text of [block, 'a: ' + '['.repeat(3000) + ']'.repeat(3000) + '\n']) {
    for (const load of [() => store.loadPlain(Buffer.from(text)), () => store.loadEncrypted(Buffer.from(text))]) {
      try {
        load();
      } catch (e) {
        // (tsops's recursive reader stops before go-yaml's limit: one clear line, no stack trace text)
        assert.match(
          (e as Error).message,
          /^Error unmarshaling input YAML: the document nests deeper than tsops can read/,
        );
      }
    }
  }
});

test("nesting up to go-yaml's 10000 levels encrypts and decrypts (YAML flow and block, JSON)", async () => {
  // (levels count the top-level map: `a: [[1]]` nests 3 deep)
  for (const levels of [5_000, 10_000]) {
    const n = levels - 1;
    const printed = 'a:\n    ' + '- '.repeat(n) + '1\n';
    for (const src of ['a: ' + '['.repeat(n) + '1' + ']'.repeat(n) + '\n', 'a:\n' + '- '.repeat(n) + '1\n']) {
      const enc = await encrypt(src, { format: 'yaml', age: [AGE_RECIPIENT], env });
      assert.equal(await decrypt(enc, { format: 'yaml', env }), printed);
      assert.equal(await decrypt(Buffer.from(enc), { format: 'yaml', env }), printed);
    }
  }
  // block and flow maps (their printed form grows with the square of the depth: 2,500 levels)
  let block = '';
  for (let i = 0; i < 2_499; i++) block += ' '.repeat(i) + `k${i}:\n`;
  block += ' '.repeat(2_499) + 'v: x\n';
  const blockEnc = await encrypt(block, { format: 'yaml', age: [AGE_RECIPIENT], env });
  assert.equal(
    await decrypt(blockEnc, { format: 'yaml', env }),
    block.replace(/^ +/gm, (s) => '    '.repeat(s.length)),
  );
  const flow = '{' + Array.from({ length: 2_499 }, (_, i) => `k${i}: {`).join('') + 'v: x' + '}'.repeat(2_500) + '\n';
  const flowEnc = await encrypt(flow, { format: 'yaml', age: [AGE_RECIPIENT], env });
  assert.equal(await decrypt(flowEnc, { format: 'yaml', env }), await decrypt(blockEnc, { format: 'yaml', env }));
  // JSON: 10000 levels
  const json = '{"a": ' + '['.repeat(9_999) + '1' + ']'.repeat(9_999) + '}';
  const jsonEnc = await encrypt(json, { format: 'json', age: [AGE_RECIPIENT], env });
  let v: unknown = (JSON.parse(await decrypt(jsonEnc, { format: 'json', env })) as { a: unknown }).a;
  let depth = 1;
  while (Array.isArray(v)) {
    assert.equal(v.length, 1);
    v = v[0];
    depth++;
  }
  assert.deepEqual([depth, v], [10_000, 1]);
});

test('the CLI encrypts and decrypts a file nested 10000 levels', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const nodePath = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(nodePath.join(tmpdir(), 'tsops-deep-'));
  try {
    const n = 9_999;
    const file = nodePath.join(dir, 'deep.yaml');
    writeFileSync(file, 'a: ' + '['.repeat(n) + '1' + ']'.repeat(n) + '\n');
    const bin = new URL('../../../bin/tsops', import.meta.url).pathname;
    const run = (args: string[]) =>
      spawnSync(process.execPath, [bin, ...args], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
    const enc = run(['encrypt', '--age', AGE_RECIPIENT, '--in-place', file]);
    assert.equal(enc.status, 0, enc.stderr);
    const dec = run(['decrypt', file]);
    assert.equal(dec.status, 0, dec.stderr);
    assert.equal(dec.stdout, 'a:\n    ' + '- '.repeat(n) + '1\n');
    writeFileSync(file, 'a: ' + '['.repeat(n + 1) + ']'.repeat(n + 1) + '\n');
    const refused = run(['encrypt', '--age', AGE_RECIPIENT, file]);
    assert.equal(refused.status, ExitCode.CouldNotReadInputFile, refused.stderr);
    assert.match(refused.stderr, /exceeded max depth of 10000 at line 1, column \d+\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real sops decrypts (MAC verified) a file tsops encrypted with 10000 levels of nesting', async (t) => {
  if (!(await oracleAvailable()))
    return t.skip(`real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown'}`);
  const n = 9_999;
  const enc = await encrypt('a: ' + '['.repeat(n) + '1' + ']'.repeat(n) + '\n', {
    format: 'yaml',
    age: [AGE_RECIPIENT],
    env,
  });
  const r = await sopsDecrypt(enc, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
  assert.ok(r.ok, r.error);
});
