// Issue 10, file-system and process items: planted data keys, in-place write rules, stale temp
// files, signals to exec commands, advisory locks, `set` of the `sops` key, values in messages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { AGE_RECIPIENT, Sandbox, run } from '../helpers/editing.js';
import { loadPlain, newMetadata, openEncrypted, sealTree } from '../../src/file/file.js';
import { formatFromPath } from '../../src/stores/index.js';

let sb: Sandbox;
before(() => {
  sb = new Sandbox('tsops-security-fs-');
});
after(() => sb.cleanup());

/** A file encrypted for the team's public age key with a data key the attacker chose. */
async function plant(name: string, plain: string, dataKey: Buffer, recipients = [AGE_RECIPIENT]): Promise<string> {
  const format = formatFromPath(name);
  const { tree, store } = await loadPlain(Buffer.from(plain), format, { filename: name });
  const metadata = newMetadata({ keyGroups: [recipients.map((recipient) => ({ type: 'age' as const, recipient, enc: '' }))] });
  const p = sb.path(name);
  fs.writeFileSync(p, await sealTree(tree, metadata, store, { env: sb.env, dataKey }));
  return p;
}

async function dataKeyOf(file: string): Promise<Buffer> {
  return (await openEncrypted(fs.readFileSync(file), { format: formatFromPath(file), env: sb.env, filename: file })).dataKey;
}

describe('planted data key', { concurrency: 2 }, () => {
  const chosen = Buffer.alloc(32, 0x41);

  test('encrypt --output onto a planted file makes a new data key', async () => {
    const target = await plant('planted.yaml', 'old: value\n', chosen);
    assert.deepEqual(await dataKeyOf(target), chosen);
    const src = sb.write('planted-src.yaml', 'db_password: hunter2\n');
    const r = await run(['encrypt', '--age', AGE_RECIPIENT, '--output', target, src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.notDeepEqual(await dataKeyOf(target), chosen);
  });

  test('--reuse-from: only a file whose MAC verifies and whose keys are exactly the new ones', async () => {
    const src = sb.write('rf-src.yaml', 'db_password: hunter2\n');
    // exactly the same keys: the opt-in keeps the data key (the trust the help states)
    const same = await plant('rf-same.yaml', 'old: value\n', chosen);
    let r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', same, '--output', sb.path('rf-out1.yaml'), src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await dataKeyOf(sb.path('rf-out1.yaml')), chosen);
    // an extra recipient in the planted file: not reused, with a warning
    const extra = await identityToRecipient(await generateIdentity());
    const more = await plant('rf-more.yaml', 'old: value\n', chosen, [AGE_RECIPIENT, extra]);
    r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', more, '--output', sb.path('rf-out2.yaml'), src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not reusing/);
    assert.notDeepEqual(await dataKeyOf(sb.path('rf-out2.yaml')), chosen);
    // a file whose MAC does not verify: refused, nothing written
    // (values of one version, MAC and date of another, both with the chosen key)
    const other = fs.readFileSync(await plant('rf-other.yaml', 'old: changed\n', chosen), 'utf8');
    const metaLine = (t: string, k: string) => t.split('\n').find((l) => l.trimStart().startsWith(`${k}: `))!;
    let mixed = fs.readFileSync(same, 'utf8');
    for (const k of ['mac', 'lastmodified']) mixed = mixed.replace(metaLine(mixed, k), metaLine(other, k));
    const tampered = sb.write('rf-tampered.yaml', mixed);
    r = await run(['encrypt', '--age', AGE_RECIPIENT, '--reuse-from', tampered, '--output', sb.path('rf-out3.yaml'), src], { env: sb.env, cwd: sb.dir });
    assert.equal(r.code, 51, r.stderr);
    assert.match(r.stderr, /MAC/);
    assert.ok(!fs.existsSync(sb.path('rf-out3.yaml')));
  });

  test('the help of --reuse-from states the trust it implies', async () => {
    const r = await run(['encrypt', '--help'], { env: sb.env, cwd: sb.dir });
    assert.match(r.stdout.replace(/\s+/g, ' '), /whoever wrote that file chose its data key/);
  });
});
