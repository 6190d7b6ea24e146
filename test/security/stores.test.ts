// Issue 10, store and metadata items: never lose a value (JSON trailing values, bytes that are not
// UTF-8, dotenv keys that cannot be written, INI repeated keys and sections, binary files), metadata
// sops refuses, and messages that never echo a value.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { decryptBytes, encrypt } from '../../src/api.js';
import { SopsError } from '../../src/errors.js';
import { encryptValue, parseEncrypted } from '../../src/aes/cipher.js';
import { parseMetadata } from '../../src/metadata/metadata.js';
import { decryptTree } from '../../src/tree/crypt.js';
import { createDotenvStore } from '../../src/stores/dotenv.js';
import { createIniStore } from '../../src/stores/ini.js';
import { createJsonStore, parseJson } from '../../src/stores/json.js';
import { createBinaryStore } from '../../src/stores/binary.js';
import type { Scalar, Tree } from '../../src/tree/types.js';
import { loadPlain, newMetadata, sealTree } from '../../src/file/file.js';
import type { Format } from '../../src/stores/types.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox, run } from '../helpers/editing.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from '../helpers/sops-oracle.js';

const env = { SOPS_AGE_KEY: AGE_IDENTITY } as NodeJS.ProcessEnv;
const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** The first scalar at a top-level key (and, for INI, a key of a section). */
function leaf(t: Tree, key: string, sub?: string): Scalar {
  let it = t.docs[0]!.items.find((i) => i.kind === 'entry' && i.key === key);
  if (sub !== undefined && it?.kind === 'entry' && it.value.kind === 'map')
    it = it.value.items.find((i) => i.kind === 'entry' && i.key === sub);
  assert.ok(it && it.kind === 'entry' && it.value.kind === 'scalar', `no scalar at ${key}`);
  return it.value;
}

/** Encrypt for the age test key, as bytes (the API's `encrypt` returns text). */
async function encryptBytes(plain: string | Buffer, format: Format, dataKey?: Buffer): Promise<Buffer> {
  const { tree, store } = await loadPlain(Buffer.from(plain), format, {});
  return sealTree(tree, newMetadata({ keyGroups: [[{ type: 'age', recipient: AGE_RECIPIENT, enc: '' }]] }), store, {
    env,
    dataKey,
  });
}

function throwsCode(f: () => unknown, code: number, re: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SopsError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

let sb: Sandbox;
let haveOracle = false;
before(async () => {
  sb = new Sandbox('tsops-security-stores-');
  haveOracle = await oracleAvailable();
});
after(async () => {
  await closeOracle();
  sb.cleanup();
});

describe('JSON: a second top-level value', () => {
  test('is refused, plain and encrypted, as Go json.Unmarshal refuses it (sops drops it on encrypt)', () => {
    const store = createJsonStore();
    for (const text of ['{"a":1} {"b":2}', '{"a":1}\n{"b":"secret"}\n', '{"a":1}}', '{"a":1} x']) {
      throwsCode(() => store.loadPlain(Buffer.from(text)), 2, /after top-level value/);
      throwsCode(() => store.loadEncrypted(Buffer.from(text)), 2, /after top-level value/);
    }
    // white space after the object is fine
    assert.equal(leaf(store.loadPlain(Buffer.from('{"a":"1"} \n\t\r\n')), 'a').text, '1');
  });

  test('the message does not echo the second value', () => {
    assert.throws(
      () => parseJson(Buffer.from('{"a":1} {"b":"SECRETXYZ"}')),
      (e: Error) => !e.message.includes('SECRETXYZ'),
    );
  });
});

describe('bytes that are not UTF-8', () => {
  test('JSON reads them as Go encoding/json does: U+FFFD per invalid byte, lone surrogate escapes too', () => {
    const t = parseJson(
      bytes(
        '{"a":"x',
        [0xe2, 0x82],
        'y","b":"',
        [0xf0, 0x9f, 0x98],
        '","c":"\\ud800y","d":"\\udc80\\ud800","k',
        [0xff],
        '":"v"}',
      ),
    );
    assert.equal(leaf(t, 'a').text, 'x\ufffd\ufffdy'); // Node's own decoder would give one U+FFFD
    assert.equal(leaf(t, 'b').text, '\ufffd\ufffd\ufffd');
    assert.equal(leaf(t, 'c').text, '\ufffdy');
    assert.equal(leaf(t, 'd').text, '\ufffd\ufffd');
    assert.equal(leaf(t, 'k\ufffd').text, 'v');
  });

  test('JSON writes a value that is not UTF-8 as Go json.Marshal does: \\ufffd per invalid byte', () => {
    const t: Tree = {
      docs: [
        {
          kind: 'map',
          items: [
            {
              kind: 'entry',
              key: 'a',
              value: { kind: 'scalar', type: 'str', text: '', raw: bytes('a', [0xe2, 0x82], 'b', [0xff]) },
            },
          ],
        },
      ],
    };
    assert.equal(createJsonStore().emitPlain(t).toString(), '{\n\t"a": "a\\ufffd\\ufffdb\\ufffd"\n}\n');
  });

  const dotenv = bytes('PLAIN=ok\nBIN=a', [0xff, 0xfe], 'b', [0xe2, 0x82], '\\nz\nKEY', [0xc3], '=v\n');

  test('dotenv keeps the bytes, as sops (Go strings): read, written back, encrypted and decrypted', async (t) => {
    const store = createDotenvStore();
    const tree = store.loadPlain(dotenv);
    assert.deepEqual(leaf(tree, 'BIN').raw, bytes('a', [0xff, 0xfe], 'b', [0xe2, 0x82], '\nz'));
    assert.deepEqual(store.emitPlain(tree), dotenv);
    const enc = await encryptBytes(dotenv, 'dotenv');
    assert.deepEqual(await decryptBytes(enc, { format: 'dotenv', env }), dotenv);
    if (!haveOracle) return t.skip(`real sops unavailable: ${oracleUnavailableReason()}`);
    // the real sops verifies the MAC over the same bytes and reads the key (AAD) as bytes too
    const r = await sopsDecrypt(enc, 'dotenv', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.ok(r.ok, r.error);
  });

  test('INI keeps the bytes, as sops (go-ini reads Go strings)', async () => {
    const ini = bytes('[s]\nk = a', [0xff], 'b\n');
    const store = createIniStore();
    const t = store.loadPlain(ini);
    assert.deepEqual(leaf(t, 's', 'k').raw, bytes('a', [0xff], 'b'));
    assert.deepEqual(store.emitPlain(t), ini);
    const enc = await encrypt(ini, { format: 'ini', age: [AGE_RECIPIENT], env });
    assert.deepEqual(await decryptBytes(enc, { format: 'ini', env }), ini);
  });

  test('edit keeps untouched values that are not UTF-8 byte for byte, ciphertext included', async () => {
    const file = sb.write('bytes.env', await encryptBytes(dotenv, 'dotenv'));
    const before = fs.readFileSync(file, 'latin1');
    const editor = sb.editor(
      'edit-plain.mjs',
      `import fs from 'node:fs'; const f = process.argv.at(-1); fs.writeFileSync(f, Buffer.concat([fs.readFileSync(f), Buffer.from('NEW=1\\n')]));`,
    );
    const r = await run([file], { env: { ...sb.env, EDITOR: editor }, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    const line = (text: string, key: string) => text.split('\n').find((l) => l.startsWith(`${key}=`));
    const after = fs.readFileSync(file, 'latin1');
    assert.ok(line(before, 'BIN')?.startsWith('BIN=ENC['));
    assert.equal(line(after, 'BIN'), line(before, 'BIN'));
    assert.deepEqual(
      await decryptBytes(fs.readFileSync(file), { format: 'dotenv', env }),
      Buffer.concat([dotenv, Buffer.from('NEW=1\n')]),
    );
  });

  test('the binary store keeps every byte', async () => {
    const samples = [
      Buffer.alloc(0),
      bytes([0xef, 0xbb, 0xbf], 'bom\r\n'),
      bytes([0, 1, 2, 0xff, 0xfe, 0xe2, 0x82]),
      Buffer.from('SECRETXYZ'),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) & 0xff)),
    ];
    for (const b of samples) {
      assert.deepEqual(createBinaryStore().emitPlain(createBinaryStore().loadPlain(b)), b);
      const enc = await encrypt(b, { format: 'binary', age: [AGE_RECIPIENT], env });
      assert.deepEqual(await decryptBytes(enc, { format: 'binary', env }), b);
    }
  });
});

describe('dotenv keys that cannot be written', () => {
  const one = (key: string): Tree => ({
    docs: [{ kind: 'map', items: [{ kind: 'entry', key, value: { kind: 'scalar', type: 'str', text: 'SECRETXYZ' } }] }],
  });

  test('a key with a newline, "=" or a leading "#" is refused (it would read back as something else)', () => {
    const store = createDotenvStore();
    for (const key of ['a\nb', 'a=b', '#a']) {
      throwsCode(() => store.emitPlain(one(key)), 4, /cannot write the dotenv key/);
      throwsCode(() => store.emitEncrypted(one(key), { version: '3.13.2' }), 4, /cannot write the dotenv key/);
      assert.throws(
        () => store.emitPlain(one(key)),
        (e: Error) => !e.message.includes('SECRETXYZ'),
      );
    }
    assert.equal(store.emitPlain(one('A_B c')).toString(), 'A_B c=SECRETXYZ\n');
  });

  test('a comment of several lines is written as several comment lines', () => {
    const t: Tree = { docs: [{ kind: 'map', items: [{ kind: 'comment', text: ' one\n two' }] }] };
    assert.equal(createDotenvStore().emitPlain(t).toString(), '# one\n# two\n');
  });

  test('converting to dotenv with such a key fails before writing anything', async () => {
    const src = sb.write('newline-key.json', '{"a\\nb": "SECRETXYZ"}\n');
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--output-type', 'dotenv', src], {
      env: sb.env,
      cwd: sb.dir,
    });
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(!r.stderr.includes('SECRETXYZ'));
  });
});

describe('INI repeats', () => {
  test('a key repeated in a section is refused in a plaintext file (go-ini would keep only the last value)', () => {
    const store = createIniStore();
    throwsCode(
      () => store.loadPlain(Buffer.from('[s]\npassword = SECRETXYZ\nother = 1\npassword = two\n')),
      2,
      /line 4: the key "password" repeats line 2 in section "s"/,
    );
    assert.throws(
      () => store.loadPlain(Buffer.from('[s]\np = SECRETXYZ\np = 2\n')),
      (e: Error) => !e.message.includes('SECRETXYZ'),
    );
    // the same key in two sections is fine
    store.loadPlain(Buffer.from('[a]\np = 1\n[b]\np = 2\n'));
  });

  test('a tree with a key twice in one section is not written to INI (one value would be lost)', () => {
    const t: Tree = {
      docs: [
        {
          kind: 'map',
          items: [
            {
              kind: 'entry',
              key: 's',
              value: {
                kind: 'map',
                items: [
                  { kind: 'entry', key: 'k', value: { kind: 'scalar', type: 'str', text: '1' } },
                  { kind: 'entry', key: 'k', value: { kind: 'scalar', type: 'str', text: '2' } },
                ],
              },
            },
          ],
        },
      ],
    };
    throwsCode(() => createIniStore().emitPlain(t), 4, /appears twice/);
  });

  test('auto-numbered keys (`- = v`) and keys starting with "#", ";" or "[" read back as keys, not comments', async () => {
    const ini = '[s]\n- = SECRET1\n- = SECRET2\n`;k` = v\n`[k` = w\n';
    const store = createIniStore();
    const t = store.loadPlain(Buffer.from(ini));
    const back = store.loadPlain(store.emitPlain(t));
    assert.deepEqual(back, t);
    const enc = await encryptBytes(ini, 'ini');
    const dec = (await decryptBytes(enc, { format: 'ini', env })).toString();
    assert.deepEqual(store.loadPlain(Buffer.from(dec)), t);
    assert.match(dec, /^`#1` = SECRET1$/m);
    const nl: Tree = {
      docs: [
        {
          kind: 'map',
          items: [
            {
              kind: 'entry',
              key: 's',
              value: {
                kind: 'map',
                items: [{ kind: 'entry', key: 'a\nb', value: { kind: 'scalar', type: 'str', text: 'v' } }],
              },
            },
          ],
        },
      ],
    };
    throwsCode(() => store.emitPlain(nl), 4, /holds a newline/);
  });

  test('repeated sections are kept apart, read and written, encrypted and decrypted (sops >= 3.9)', async () => {
    const wg =
      '[Interface]\nPrivateKey = SECRET0\n\n[Peer]\nPublicKey  = p1\nAllowedIPs = 10.0.0.1/32\n\n[Peer]\nPublicKey  = p2\nAllowedIPs = 10.0.0.2/32\n';
    const store = createIniStore();
    const t = store.loadPlain(Buffer.from(wg));
    assert.deepEqual(
      t.docs[0]!.items.map((i) => (i.kind === 'entry' ? i.key : '#')),
      ['DEFAULT', 'Interface', 'Peer', 'Peer'],
    );
    assert.equal(store.emitPlain(t).toString(), wg);
    const enc = await encrypt(wg, { format: 'ini', age: [AGE_RECIPIENT], env });
    assert.equal((enc.match(/^\[Peer\]$/gm) ?? []).length, 2);
    assert.equal((await decryptBytes(enc, { format: 'ini', env })).toString(), wg);
  });
});

describe('metadata sops refuses', () => {
  const T = '2024-05-01T10:00:00Z';
  const base = () =>
    ({ age: [{ recipient: AGE_RECIPIENT, enc: 'E' }], lastmodified: T, mac: '', version: '3.13.2' }) as Record<
      string,
      unknown
    >;
  const refused = (md: Record<string, unknown>, re: RegExp) => throwsCode(() => parseMetadata(md as never), 1, re);

  test('two scope selectors (any two of the six), exit 1 as sops (stores.Metadata.ToInternal)', () => {
    refused(
      { ...base(), unencrypted_suffix: '_u', encrypted_regex: '^a' },
      /cannot use more than one of .* in the same file/,
    );
    refused({ ...base(), encrypted_suffix: '_e', unencrypted_comment_regex: 'x' }, /cannot use more than one/);
    refused({ ...base(), encrypted_comment_regex: 'x', unencrypted_comment_regex: 'y' }, /cannot use more than one/);
    assert.equal(
      parseMetadata({ ...base(), encrypted_regex: '^a', mac_only_encrypted: true }).scope.encryptedRegex,
      '^a',
    );
  });

  test('lastmodified and created_at must parse as Go time.Parse(RFC3339) parses them', () => {
    for (const bad of [
      '',
      'x',
      '2024-05-01 10:00:00Z',
      '2024-05-01t10:00:00Z',
      '2024-05-01T10:00:00z',
      '2024-13-01T10:00:00Z',
      '2023-02-29T10:00:00Z',
      '2024-05-01T24:00:00Z',
      '2024-05-01T10:00:60Z',
      '2024-05-01T10:00:00',
      '2024-05-01T10:00:00+0200',
      '2024-05-01T10:00:00.Z',
    ]) {
      refused({ ...base(), lastmodified: bad }, /lastmodified .* is not an RFC 3339 time/);
      refused(
        { ...base(), pgp: [{ fp: 'AB', enc: 'P', created_at: bad }] },
        /pgp\[0\]\.created_at .* is not an RFC 3339 time/,
      );
    }
    const { lastmodified, ...none } = base();
    refused(none, /lastmodified/);
    for (const good of [
      '2024-02-29T10:00:00Z',
      '2024-05-01T10:00:00.123456789Z',
      '2024-05-01T10:00:00,5+02:00',
      '2024-05-01T10:00:00-00:00',
    ]) {
      assert.equal(parseMetadata({ ...base(), lastmodified: good }).lastModified, good);
    }
  });

  test('through the CLI: a tampered file is refused with exit 1 and nothing printed', async () => {
    const enc = JSON.parse((await encryptBytes('{"a": "SECRETXYZ"}', 'json')).toString());
    const cases: Array<(m: Record<string, unknown>) => void> = [
      (m) => (m['encrypted_regex'] = '^zzz'),
      (m) => (m['lastmodified'] = '2024-05-01 10:00:00Z'),
    ];
    for (const [i, tamper] of cases.entries()) {
      const doc = structuredClone(enc);
      tamper(doc.sops);
      const f = sb.write(`meta-${i}.json`, JSON.stringify(doc));
      const r = await run(['decrypt', f], { env: sb.env, cwd: sb.dir });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /invalid sops metadata/);
    }
  });
});

describe('encrypted values sops cannot read', () => {
  const key = Buffer.alloc(32, 7);

  test('the type runs to the last "]", as sops\'s regex reads it: junk after "type:" is refused', () => {
    const v = encryptValue('SECRETXYZ', 'str', key, 'a:');
    assert.equal(parseEncrypted(v).type, 'str');
    assert.equal(parseEncrypted(`${v}trailing`).type, 'str'); // sops ignores what follows the last "]"
    assert.equal(parseEncrypted(v.replace('type:str]', 'type:str]x]')).type, 'str]x');
    assert.equal(parseEncrypted(v.replace('type:str]', 'type:str junk]')).type, 'str junk');
    const tree: Tree = {
      docs: [
        {
          kind: 'map',
          items: [
            {
              kind: 'entry',
              key: 'a',
              value: { kind: 'scalar', type: 'str', text: v.replace('type:str]', 'type:str]x]') },
            },
          ],
        },
      ],
    };
    throwsCode(() => decryptTree(tree, key, {}), 25, /unknown type "str\]x"/);
  });

  test('type:time must decrypt to an RFC 3339 time (sops: Time.UnmarshalText)', () => {
    const mk = (text: string): Tree => ({
      docs: [
        {
          kind: 'map',
          items: [
            {
              kind: 'entry',
              key: 't',
              value: { kind: 'scalar', type: 'str', text: encryptValue(text, 'time', key, 't:') },
            },
          ],
        },
      ],
    });
    throwsCode(() => decryptTree(mk('SECRETXYZ'), key, {}), 25, /not a valid time/);
    throwsCode(() => decryptTree(mk('2024-05-01 10:00:00Z'), key, {}), 25, /not a valid time/);
    assert.throws(
      () => decryptTree(mk('SECRETXYZ'), key, {}),
      (e: Error) => !e.message.includes('SECRETXYZ'),
    );
    const ok = mk('2024-05-01T10:00:00.5+02:00');
    decryptTree(ok, key, {});
    assert.equal((ok.docs[0]!.items[0] as { value: Scalar }).value.text, '2024-05-01T10:00:00.5+02:00');
  });

  test("a damaged encrypted comment is printed as it stands, with sops's warning on stderr", async () => {
    const dataKey = Buffer.alloc(32, 9);
    const file = sb.write('comment.enc.yaml', await encryptBytes('# a comment\na: SECRETXYZ\n', 'yaml', dataKey));
    const text = fs.readFileSync(file, 'utf8');
    const m = /#ENC\[AES256_GCM,data:([A-Za-z0-9+/]+)/.exec(text);
    assert.ok(m, text);
    const damaged = text.replace(m[0], `#ENC[AES256_GCM,data:${m[1]![0] === 'A' ? 'B' : 'A'}${m[1]!.slice(1)}`);
    fs.writeFileSync(file, damaged);
    const r = await run(['decrypt', file], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^#ENC\[AES256_GCM,data:/m);
    assert.match(r.stdout, /SECRETXYZ/);
    assert.match(
      r.stderr,
      /Found possibly unencrypted comment in file\. This is to be expected if the file being decrypted was created with an older version of SOPS\./,
    );
    // an intact file gives no warning
    const clean = sb.write('comment2.enc.yaml', await encryptBytes('# a comment\na: 1\n', 'yaml'));
    const r2 = await run(['decrypt', clean], { env: sb.env, cwd: sb.dir });
    assert.equal(r2.stderr, '');
  });
});

describe('messages never echo a value', () => {
  test('a value that should be encrypted but is not', () => {
    assert.throws(
      () => parseEncrypted('ENC[SECRETXYZ-looks-encrypted'),
      (e: Error) => !e.message.includes('SECRET'),
    );
    const tree: Tree = {
      docs: [
        {
          kind: 'map',
          items: [{ kind: 'entry', key: 'a', value: { kind: 'scalar', type: 'str', text: 'SECRETXYZ' } }],
        },
      ],
    };
    assert.throws(
      () => decryptTree(tree, Buffer.alloc(32), {}),
      (e: Error) => /\["a"\]/.test(e.message) && !e.message.includes('SECRET'),
    );
  });

  test('JSON: a top-level scalar, a number out of range', () => {
    for (const text of ['"SECRETXYZ"', '123456789', '{"pin": 1e99999}', '{"a":1} "SECRETXYZ"']) {
      assert.throws(
        () => parseJson(text),
        (e: Error) => !/SECRETXYZ|123456789|99999/.test(e.message),
      );
    }
  });
});

describe('.sops.yaml stores: json_binary', () => {
  test("indent applies to the binary store's JSON envelope, as sops", async () => {
    const dir = sb.path('jb');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      `${dir}/.sops.yaml`,
      `stores:\n  json_binary:\n    indent: 2\n  json:\n    indent: 6\ncreation_rules:\n  - age: ${AGE_RECIPIENT}\n`,
    );
    fs.writeFileSync(`${dir}/secret.bin`, 'SECRETXYZ');
    const r = await run(['encrypt', 'secret.bin'], { env: sb.env, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{\n {2}"data": "ENC\[/);
    assert.match(r.stdout, /\n {2}"sops": \{\n {4}"age"/);
  });
});
