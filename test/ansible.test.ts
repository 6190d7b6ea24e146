/**
 * Ansible's community.sops (Debian's `ansible` package bundles 1.6.2) with tsops as its
 * `sops_binary`: sops_encrypt (YAML, JSON, text, a path without extension twice, idempotent), the
 * lookup, load_vars, the decrypt filter and the vars plugin (group_vars/*.sops.yaml), driven by
 * test/ansible/playbook.yml. `.ci/run` installs ansible; without it locally the test is skipped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './helpers/fixtures.js';

const BIN = join(ROOT, 'bin', 'tsops');
const PLAYBOOK = join(ROOT, 'test', 'ansible', 'playbook.yml');
const AGE_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_R = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

const hasAnsible = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).status === 0;

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'tsops-ansible-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

test(
  'community.sops with tsops as sops_binary: encrypt, lookup, load_vars, decrypt filter, vars plugin',
  {
    skip: !hasAnsible && 'ansible-playbook is not installed (apt-get install ansible; .ci/run installs it)',
    timeout: 600_000,
  },
  () => {
    const env = {
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: work,
      WORK: work,
      ANSIBLE_SOPS_BINARY: BIN,
      SOPS_AGE_KEY_FILE: join(work, 'keys.txt'),
      ANSIBLE_VARS_ENABLED: 'host_group_vars,community.sops.sops',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_HOME: join(work, '.ansible'),
      ANSIBLE_LOCAL_TEMP: join(work, '.ansible', 'tmp'),
      ANSIBLE_REMOTE_TEMP: join(work, '.ansible', 'remote'),
      ANSIBLE_RETRY_FILES_ENABLED: '0',
    };
    writeFileSync(join(work, 'keys.txt'), `${AGE_ID}\n`);
    writeFileSync(join(work, '.sops.yaml'), `creation_rules:\n  - age: ${AGE_R}\n`);
    writeFileSync(
      join(work, 'inventory'),
      `localhost ansible_connection=local ansible_python_interpreter=${pythonPath()}\n`,
    );
    mkdirSync(join(work, 'group_vars'));
    const gv = join(work, 'group_vars', 'all.sops.yaml');
    writeFileSync(gv, 'group_secret: s3cret-from-group-vars\n');
    const enc = spawnSync(process.execPath, [BIN, 'encrypt', '-i', gv], { cwd: work, env, encoding: 'utf8' });
    assert.equal(enc.status, 0, enc.stderr);

    const r = spawnSync('ansible-playbook', ['-i', join(work, 'inventory'), PLAYBOOK], {
      cwd: work,
      env,
      encoding: 'utf8',
      timeout: 540_000,
    });
    assert.equal(r.status, 0, `ansible-playbook failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ok=\d+ +changed=\d+ +unreachable=0 +failed=0/);
    const results = JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as Record<
      string,
      Record<string, unknown> | string
    >;
    assert.deepEqual(results['looked_up'], { db_password: 'hunter2', port: 5432 });
    assert.deepEqual(results['noext'], { token: 'abc123' });
    assert.deepEqual(results['loaded'], { a: [1, 2], b: 'c' });
    assert.equal((results['filtered'] as Record<string, unknown>)['db_password'], 'hunter2');
    assert.equal(results['group_secret'], 's3cret-from-group-vars');
    // the files are sops files: YAML by name, JSON where the name says nothing (as sops writes them)
    assert.match(readFileSync(join(work, 'app.sops.yaml'), 'utf8'), /^db_password: ENC\[AES256_GCM,/m);
    const noext = JSON.parse(readFileSync(join(work, 'noext'), 'utf8')) as Record<string, unknown>;
    assert.match(String(noext['token']), /^ENC\[AES256_GCM,/);
    assert.ok(noext['sops']);
  },
);

function pythonPath(): string {
  for (const p of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(p, ['--version']).status === 0) return p;
  }
  return 'python3';
}
