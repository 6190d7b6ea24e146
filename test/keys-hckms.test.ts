// HuaweiCloud KMS keys (src/keys/hckms/, sops 3.12+): metadata kept and written as sops writes it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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
