#!/usr/bin/env node
// Checks that the published types work for a program compiled with skipLibCheck off: a throwaway
// consumer project (outside the repository) imports the package entry (dist/src/index.d.ts, built
// by tsc) and type-checks with strict settings. Needs a prior `tsc -p tsconfig.json`.
//
// usage: node scripts/check-consumer-types.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'tsops-consumer-'));
try {
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'tsops'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
      },
      files: ['main.ts'],
    }),
  );
  writeFileSync(
    join(dir, 'main.ts'),
    `import * as tsops from 'tsops';
import { decrypt, encrypt, rotate, setValue, addKeyGroup, updateKeys, SopsError, MacMismatchError, ExitCode, type KeyGroup, type DecryptOptions } from 'tsops';
const o: DecryptOptions = { format: 'yaml' };
const enc: string = await encrypt('a: 1\\n', { format: 'yaml', age: ['age1…'] });
const g: KeyGroup = [];
const out: string = await addKeyGroup(await setValue(await rotate(enc, { add: { age: ['age1…'] } }), ['a'], 2), g);
const r = await updateKeys(['x'], { yes: true });
try { await decrypt(out, o); } catch (e) { if (e instanceof MacMismatchError && e.code === ExitCode.MacMismatch && e instanceof SopsError) console.log(r.outcomes, Object.keys(tsops)); }
`,
  );
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
    stdio: 'inherit',
  });
  console.log('the package types compile in a consumer with skipLibCheck off');
} catch {
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
