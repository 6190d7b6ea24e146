/**
 * The shape of src/: a command module (src/cli/*.ts) is argument handling over the library and
 * never imports another command module; the library never imports the CLI. Checked by scanning
 * the import specifiers of the TypeScript sources.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { ROOT } from './helpers/fixtures.js';

const SRC = join(ROOT, 'src');

/** CLI modules that are shared plumbing (the program, flags, planning), not commands. */
const CLI_PLUMBING = new Set(['main.ts', 'options.ts', 'context.ts', 'reuse.ts', 'many.ts', 'stdin.ts']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The relative modules a source imports (static, dynamic and `import type`), as src-relative .ts paths. */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    const spec = m[1]!;
    const from = relative(SRC, join(file, '..')).split('\\').join('/');
    out.push(posix.normalize(posix.join(from, spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

test('the import scan sees static, dynamic and type imports', () => {
  const found = importsOf(join(SRC, 'cli', 'main.ts'));
  assert.ok(found.includes('cli/options.ts'), found.join(', '));
  assert.ok(found.includes('cli/edit.ts'), 'the dynamic import of the edit command');
});

test('no command module in src/cli imports another command module', () => {
  const bad: string[] = [];
  for (const name of readdirSync(join(SRC, 'cli'))) {
    if (!name.endsWith('.ts') || CLI_PLUMBING.has(name)) continue;
    for (const imp of importsOf(join(SRC, 'cli', name))) {
      if (!imp.startsWith('cli/')) continue;
      const target = imp.slice('cli/'.length);
      if (!CLI_PLUMBING.has(target)) bad.push(`cli/${name} imports ${imp}`);
    }
  }
  assert.deepEqual(bad, [], 'commands share code through src/ops/ (or the CLI plumbing), not through each other');
});

test('the library (everything outside src/cli) never imports the CLI', () => {
  const bad: string[] = [];
  for (const file of sources(SRC)) {
    const rel = relative(SRC, file).split('\\').join('/');
    if (rel.startsWith('cli/')) continue;
    for (const imp of importsOf(file)) if (imp.startsWith('cli/')) bad.push(`${rel} imports ${imp}`);
  }
  assert.deepEqual(bad, []);
});
