/**
 * A crash or kill at any point leaves either the old file or the new one, never a torn file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const AGE_ID = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_R = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsops-atomic-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function killAfter(args: string[], ms: number, env: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      stdio: 'ignore',
    });
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

test('writeFileAtomic killed mid-write: the file is whole, old or new', async () => {
  const target = join(dir, 'target.bin');
  const size = 8 * 1024 * 1024;
  writeFileSync(target, Buffer.alloc(size, 'A'));
  const script = join(dir, 'writer.mjs');
  writeFileSync(
    script,
    `import { writeFileAtomic } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'util', 'fs.js'))};\n` +
      `for (let i = 0; ; i++) writeFileAtomic(${JSON.stringify(target)}, Buffer.alloc(${size}, i % 2 ? 'A' : 'B'));\n`,
  );
  for (let i = 0; i < 8; i++) {
    await killAfter([script], 40 + i * 37);
    const data = readFileSync(target);
    assert.equal(data.length, size, 'never a short file');
    const first = data[0]!;
    assert.ok(first === 0x41 || first === 0x42);
    assert.equal(data.indexOf(first === 0x41 ? 0x42 : 0x41), -1, 'never a mix of two versions');
  }
});

test('tsops encrypt --in-place killed at any point: the original or a whole encrypted file', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(`key${i}: value number ${i}`);
  const plain = lines.join('\n') + '\n';
  for (let i = 0; i < 6; i++) {
    const file = join(dir, `big${i}.yaml`);
    writeFileSync(file, plain);
    await killAfter([join(ROOT, 'bin', 'tsops'), 'encrypt', '--age', AGE_R, '-i', file], 100 + i * 250);
    const now = readFileSync(file, 'utf8');
    if (now === plain) {
      continue;
    }
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tsops'), 'decrypt', file], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, SOPS_AGE_KEY: AGE_ID },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(r.status, 0, `a killed run left a file that does not decrypt: ${r.stderr}`);
    assert.equal(r.stdout, plain);
  }
  // a SIGKILL cannot run clean-up: a temp file may remain beside the target, never the target torn
  for (const f of readdirSync(dir).filter((n) => n.includes('.tsops-'))) rmSync(join(dir, f));
});
