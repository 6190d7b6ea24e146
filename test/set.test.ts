// `tsops set` / `tsops unset` / legacy `--set`, and the tree mutation helpers under them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { closeOracle, oracleAvailable, oracleUnavailableReason, sopsDecrypt } from './helpers/sops-oracle.js';
import { AGE_IDENTITY, Sandbox, decryptFile, encryptFile, run } from './helpers/editing.js';
import { nodeFromJson, nodesEqual, PathNotFoundError, setAtPath, unsetAtPath } from '../src/tree/mutate.js';
import { fromPlain, toPlain, type MapNode } from '../src/tree/types.js';

let sb: Sandbox;
let oracle = false;
let oracleWhy = '';

before(async () => {
  sb = new Sandbox('tsops-set-test-');
  oracle = await oracleAvailable();
  if (!oracle) oracleWhy = `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
});

after(async () => {
  await closeOracle();
  sb.cleanup();
});

// CLI runs take about 0.4 s each (node start-up): the tests run concurrently
describe('set and unset', { concurrency: 3 }, () => {
  const tsops = (args: string[], input?: string) => run(args, { env: sb.env, cwd: sb.dir, input });

  async function decryptJson(file: string): Promise<unknown> {
    return JSON.parse(await decryptFile(sb, file, 'json'));
  }

  // --- the CLI --------------------------------------------------------------------------------------

  test('set: replace, create nested keys, append to a list; real sops reads the result', async (t) => {
    const file = await encryptFile(sb, 's1.yaml', 'db:\n    user: admin\nlist:\n    - a\n    - b\n');
    let r = await tsops(['set', file, '["db"]["user"]', '"root"']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', file, '["db"]["pool"]["max"]', '10']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', file, '["list"][2]', '"c"']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', file, '["obj"]', '{"x": 1.5, "y": [true, null], "big": 12345678901234567890}']);
    assert.equal(r.code, 0, r.stderr);
    const expected = {
      db: { user: 'root', pool: { max: 10 } },
      list: ['a', 'b', 'c'],
      obj: { x: 1.5, y: [true, null], big: 12345678901234567000 },
    };
    assert.deepEqual(await decryptJson(file), expected);
    const enc = fs.readFileSync(file, 'utf8');
    assert.ok(!enc.includes('root'));
    if (!oracle) return t.skip(oracleWhy);
    const real = await sopsDecrypt(enc, 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(real.ok, true, real.error);
    assert.deepEqual(JSON.parse(real.output), expected);
  });

  test('set: json and dotenv files; real sops reads them', async (t) => {
    const json = await encryptFile(sb, 's2.json', '{"a": {"b": "c"}}\n');
    let r = await tsops(['set', json, '["a"]["b"]', '"d"']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(json), { a: { b: 'd' } });
    const env = await encryptFile(sb, 's2.env', 'A=1\nB=two\n');
    r = await tsops(['set', env, '["C"]', '"three"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decryptFile(sb, env), 'A=1\nB=two\nC=three\n');
    if (!oracle) return t.skip(oracleWhy);
    const a = await sopsDecrypt(fs.readFileSync(json), 'json', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(a.ok, true, a.error);
    assert.deepEqual(JSON.parse(a.output), { a: { b: 'd' } });
    const b = await sopsDecrypt(fs.readFileSync(env), 'dotenv', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(b.ok, true, b.error);
    assert.deepEqual(JSON.parse(b.output), { A: '1', B: 'two', C: 'three' });
  });

  test('set: ini and binary files', async () => {
    const ini = await encryptFile(sb, 's3.ini', '[db]\nuser = admin\n');
    let r = await tsops(['set', ini, '["db"]["password"]', '"pw"']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', ini, '["web"]', '{"host": "example.org"}']);
    assert.equal(r.code, 0, r.stderr);
    const out = await decryptFile(sb, ini);
    assert.match(out, /^\[db\]$/m);
    assert.match(out, /^password\s*=\s*pw$/m);
    assert.match(out, /^host\s*=\s*example\.org$/m);
    const bin = await encryptFile(sb, 's3.bin', 'old content\n');
    r = await tsops(['set', bin, '["data"]', '"new content\\n"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decryptFile(sb, bin), 'new content\n');
  });

  test('set: values a dotenv, INI or binary file cannot hold are refused with exit 7', async () => {
    const env = await encryptFile(sb, 's4.env', 'A=1\n');
    const before = fs.readFileSync(env);
    for (const [p, v] of [
      ['["A"]["B"]', '"x"'],
      ['["A"]', '{"x": "y"}'],
      ['["A"]', '[1]'],
      ['["A"]', 'null'],
    ] as const) {
      const r = await tsops(['set', env, p, v]);
      assert.equal(r.code, 7, `${p} ${v}: ${r.stderr}`);
      assert.match(r.stderr, /dotenv/);
    }
    assert.deepEqual(fs.readFileSync(env), before);
    const ini = await encryptFile(sb, 's4.ini', '[s]\nk = v\n');
    assert.equal((await tsops(['set', ini, '["k"]', '"v"'])).code, 7);
    assert.equal((await tsops(['set', ini, '["s"]["k"]', '{"deep": 1}'])).code, 7);
    const bin = await encryptFile(sb, 's4.bin', 'x');
    assert.equal((await tsops(['set', bin, '["other"]', '"v"'])).code, 7);
  });

  test('set: errors and exit codes as sops', async () => {
    const file = await encryptFile(sb, 'e.yaml', 'a: [1, 2]\n');
    const before = fs.readFileSync(file);
    // missing arguments
    assert.equal((await tsops(['set', file, '["a"]'])).code, 100);
    assert.equal((await tsops(['set'])).code, 100);
    // a path that cannot be parsed
    let r = await tsops(['set', file, 'a.b', '"x"']);
    assert.equal(r.code, 7);
    assert.match(r.stderr, /Invalid set index format/);
    assert.equal((await tsops(['set', file, '', '"x"'])).code, 7);
    // a value that is not JSON: the message does not repeat it
    r = await tsops(['set', file, '["a"]', 'hunter2-secret']);
    assert.equal(r.code, 7);
    assert.ok(!r.stderr.includes('hunter2-secret'));
    assert.match(r.stderr, /not valid JSON/);
    // index beyond the end of a list, index into a map
    assert.equal((await tsops(['set', file, '["a"][5]', '3'])).code, 7);
    assert.equal((await tsops(['set', file, '[0]', '3'])).code, 7);
    // conflicting value sources
    assert.equal((await tsops(['set', '--value-file', '--value-stdin', file, '["a"]', 'x'])).code, 1); // sops 3.13: exit 1
    // a file that does not exist
    assert.equal((await tsops(['set', sb.path('missing.yaml'), '["a"]', '1'])).code, 2);
    assert.deepEqual(fs.readFileSync(file), before);
  });

  test('set --value-file and --value-stdin keep the value out of the arguments', async () => {
    const file = await encryptFile(sb, 'v.yaml', 'a: 1\n');
    const vf = sb.write('value.json', '"from a file"\n');
    let r = await tsops(['set', '--value-file', file, '["f"]', vf]);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', '--value-stdin', file, '["s"]'], '{"from": "stdin"}');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(file), { a: 1, f: 'from a file', s: { from: 'stdin' } });
    // --value-stdin takes no VALUE argument
    assert.equal((await tsops(['set', '--value-stdin', file, '["s"]', '"x"'], '"y"')).code, 100);
    assert.equal((await tsops(['set', '--value-file', file, '["f"]', sb.path('nope.json')])).code, 2);
  });

  test('set --idempotent writes nothing when the value is already there', async () => {
    const file = await encryptFile(sb, 'i.yaml', 'a: same\nn: 1\n');
    const before = fs.readFileSync(file);
    let r = await tsops(['set', '--idempotent', file, '["a"]', '"same"']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['set', '--idempotent', file, '["n"]', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readFileSync(file), before);
    // without --idempotent the file is written again (new MAC) with the same values
    r = await tsops(['set', file, '["a"]', '"same"']);
    assert.equal(r.code, 0, r.stderr);
    assert.notDeepEqual(fs.readFileSync(file), before);
    // with --idempotent and a different value, it is written
    r = await tsops(['set', '--idempotent', file, '["a"]', '"other"']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(file), { a: 'other', n: 1 });
  });

  test('set through a symbolic link writes its target and keeps the link', async () => {
    const target = await encryptFile(sb, 'target.yaml', 'a: 1\n');
    const link = sb.path('link.yaml');
    fs.symlinkSync(target, link);
    const r = await tsops(['set', link, '["a"]', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.deepEqual(await decryptJson(target), { a: 2 });
  });

  test('legacy --set', async () => {
    const file = await encryptFile(sb, 'l.json', '{"a": "b"}\n');
    let r = await tsops(['--set', '["a"] {"c": [1, "two"]}', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(file), { a: { c: [1, 'two'] } });
    r = await tsops(['--set', '["a"]', file]);
    assert.equal(r.code, 7);
    r = await tsops(['--set', '["a"] not-json', file]);
    assert.equal(r.code, 7);
  });

  test('unset: keys and list items; missing paths fail unless --idempotent', async (t) => {
    const file = await encryptFile(sb, 'u.yaml', 'a: 1\nb:\n    c: 2\n    d: [x, y, z]\n');
    let r = await tsops(['unset', file, '["b"]["d"][1]']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['unset', file, '["a"]']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(file), { b: { c: 2, d: ['x', 'z'] } });
    const before = fs.readFileSync(file);
    r = await tsops(['unset', file, '["nope"]']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not found/);
    r = await tsops(['unset', file, '["b"]["d"][7]']);
    assert.equal(r.code, 1);
    r = await tsops(['unset', '--idempotent', file, '["nope"]']);
    assert.equal(r.code, 0, r.stderr);
    r = await tsops(['unset', '--idempotent', file, '["b"]["d"][7]']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.equal((await tsops(['unset', file])).code, 100);
    assert.equal((await tsops(['unset', file, '["b"'])).code, 7);
    // the legacy flag form
    r = await tsops(['--unset', '["b"]["c"]', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await decryptJson(file), { b: { d: ['x', 'z'] } });
    if (!oracle) return t.skip(oracleWhy);
    const real = await sopsDecrypt(fs.readFileSync(file), 'yaml', { SOPS_AGE_KEY: AGE_IDENTITY });
    assert.equal(real.ok, true, real.error);
    assert.deepEqual(JSON.parse(real.output), { b: { d: ['x', 'z'] } });
  });

  test('unset: dotenv', async () => {
    const file = await encryptFile(sb, 'u.env', 'A=1\nB=2\n');
    const r = await tsops(['unset', file, '["A"]']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await decryptFile(sb, file), 'B=2\n');
  });

  // --- the helpers ------------------------------------------------------------------------------------

  const doc = (v: object) => fromPlain(v as never) as MapNode;

  test('setAtPath: sops semantics and the changed flag', () => {
    const d = doc({ a: { b: 'c' }, l: ['x'], s: 'scalar' });
    assert.equal(setAtPath(d, ['a', 'b'], nodeFromJson('"c"')), false);
    assert.equal(setAtPath(d, ['a', 'b'], nodeFromJson('"d"')), true);
    assert.equal(setAtPath(d, ['n', 'm', 0, 'k'], nodeFromJson('1')), true);
    assert.equal(setAtPath(d, ['l', 1], nodeFromJson('"y"')), true);
    assert.equal(setAtPath(d, ['l', 0], nodeFromJson('"x"')), false);
    assert.equal(setAtPath(d, ['s', 'deeper'], nodeFromJson('true')), true);
    assert.deepEqual(toPlain(d), { a: { b: 'd' }, l: ['x', 'y'], s: { deeper: true }, n: { m: [{ k: 1 }] } });
    assert.throws(() => setAtPath(d, ['l', 5], nodeFromJson('1')), /out of bounds/);
    assert.throws(() => setAtPath(d, ['l', 'k'], nodeFromJson('1')), /list/);
    assert.throws(() => setAtPath(d, [0], nodeFromJson('1')), /map/);
    assert.throws(() => setAtPath(d, [], nodeFromJson('1')), /whole document/);
  });

  test('setAtPath and unsetAtPath keep comments out of list indexes', () => {
    const d: MapNode = {
      kind: 'map',
      items: [
        {
          kind: 'entry',
          key: 'l',
          value: {
            kind: 'list',
            items: [
              { kind: 'comment', text: ' c' },
              { kind: 'scalar', type: 'str', text: 'a' },
              { kind: 'scalar', type: 'str', text: 'b' },
            ],
          },
        },
      ],
    };
    setAtPath(d, ['l', 0], nodeFromJson('"A"'));
    unsetAtPath(d, ['l', 1]);
    const l = d.items[0]!.kind === 'entry' ? d.items[0]!.value : undefined;
    assert.deepEqual(l, {
      kind: 'list',
      items: [
        { kind: 'comment', text: ' c' },
        { kind: 'scalar', type: 'str', text: 'A' },
      ],
    });
  });

  test('unsetAtPath: not found is a PathNotFoundError; a type mismatch is another error', () => {
    const d = doc({ a: { b: [1] }, s: 'x' });
    assert.throws(() => unsetAtPath(d, ['z']), PathNotFoundError);
    assert.throws(() => unsetAtPath(d, ['a', 'b', 3]), PathNotFoundError);
    assert.throws(() => unsetAtPath(d, ['a', 'b', -1]), PathNotFoundError);
    assert.throws(
      () => unsetAtPath(d, ['s', 'x']),
      (e: unknown) => !(e instanceof PathNotFoundError) && /not a map or list/.test((e as Error).message),
    );
    unsetAtPath(d, ['a', 'b', 0]);
    assert.deepEqual(toPlain(d), { a: { b: [] }, s: 'x' });
  });

  test('nodeFromJson: types, key order, big integers; errors never quote the input', () => {
    assert.deepEqual(nodeFromJson('"t"'), { kind: 'scalar', type: 'str', text: 't' });
    assert.deepEqual(nodeFromJson(' 42 '), { kind: 'scalar', type: 'int', text: '42' });
    assert.deepEqual(nodeFromJson('-1.50'), { kind: 'scalar', type: 'float', text: '-1.5' });
    assert.deepEqual(nodeFromJson('1e3'), { kind: 'scalar', type: 'float', text: '1000' });
    assert.deepEqual(nodeFromJson('9223372036854775807'), { kind: 'scalar', type: 'int', text: '9223372036854775807' });
    assert.equal((nodeFromJson('9223372036854775808') as { type: string }).type, 'float');
    assert.deepEqual(nodeFromJson('null'), { kind: 'null' });
    assert.deepEqual(toPlain(nodeFromJson('{"z": 1, "a": {"\\u00e9": [false, "x\\"y"]}}')), {
      z: 1,
      a: { é: [false, 'x"y'] },
    });
    const keys = nodeFromJson('{"z": 1, "a": 2, "m": 3}');
    assert.deepEqual(keys.kind === 'map' && keys.items.map((i) => (i.kind === 'entry' ? i.key : '')), ['z', 'a', 'm']);
    for (const bad of ['', 'secret', '{"a":', "'x'", '"a" "b"']) {
      assert.throws(
        () => nodeFromJson(bad),
        (e: unknown) => (e as { code?: number }).code === 7 && (bad === '' || !(e as Error).message.includes(bad)),
      );
    }
  });

  test('nodesEqual: type and text matter, presentation does not', () => {
    assert.ok(
      nodesEqual(
        { kind: 'scalar', type: 'str', text: 'a', style: 'quoted' },
        { kind: 'scalar', type: 'str', text: 'a' },
      ),
    );
    assert.ok(!nodesEqual({ kind: 'scalar', type: 'str', text: '1' }, { kind: 'scalar', type: 'int', text: '1' }));
    assert.ok(
      nodesEqual({ kind: 'scalar', type: 'float', text: '1.50' }, { kind: 'scalar', type: 'float', text: '1.5' }),
    );
    assert.ok(nodesEqual(doc({ a: [1, { b: null }] }), doc({ a: [1, { b: null }] })));
    assert.ok(!nodesEqual(doc({ a: 1, b: 2 }), doc({ b: 2, a: 1 })));
  });
});
