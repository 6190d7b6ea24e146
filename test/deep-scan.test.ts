// The nesting scan of src/util/deep.ts (which input runs on a large-stack worker thread): the
// table-driven scan of bytes, of text and of a file read a piece at a time all agree with the
// rule written out plainly, on random input and across the file's piece boundaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileMayNestDeeply, mayNestDeeply } from '../src/util/deep.js';
import { rng } from './goyaml/corpus.js';

/** The rule: open minus closed brackets, or a line's indentation plus its `-`/`:` marks, beyond 200. */
function reference(s: string): boolean {
  let brackets = 0;
  let line = 0;
  let indent = true;
  for (const ch of s) {
    if (ch === '\n') {
      line = 0;
      indent = true;
    } else if (ch === '[' || ch === '{') {
      if (++brackets > 200) return true;
      indent = false;
    } else if (ch === ']' || ch === '}') {
      if (brackets > 0) brackets--;
      indent = false;
    } else if (indent && (ch === ' ' || ch === '\t')) {
      if (++line > 200) return true;
    } else {
      indent = false;
      if ((ch === '-' || ch === ':') && ++line > 200) return true;
    }
  }
  return false;
}

test('nesting scan: bytes, text and file agree with the rule', () => {
  const r = rng(10);
  const alphabet = ['[', ']', '{', '}', ' ', '\t', '-', ':', '\n', 'a', 'é', 'ENC[x]', '- ', ': '];
  const dir = mkdtempSync(join(tmpdir(), 'tsops-deep-'));
  try {
    let deep = 0;
    for (let i = 0; i < 300; i++) {
      const bias = r();
      const parts: string[] = [];
      const n = Math.floor(r() * 3000);
      for (let j = 0; j < n; j++) {
        const x = r();
        parts.push(x < bias * 0.3 ? '[' : x < bias * 0.5 ? ' ' : alphabet[Math.floor(r() * alphabet.length)]!);
      }
      const s = parts.join('');
      const want = reference(s);
      if (want) deep++;
      assert.equal(mayNestDeeply(s), want, `text ${i}`);
      assert.equal(mayNestDeeply(Buffer.from(s)), want, `bytes ${i}`);
      const f = join(dir, `f${i}`);
      writeFileSync(f, s);
      assert.equal(fileMayNestDeeply(f), want, `file ${i}`);
    }
    assert.ok(deep > 20 && deep < 280, `${deep} of 300 deep`);
    // a run of open brackets across the file's 1 MiB pieces
    const big = 'a: b\n'.repeat(209_700) + '['.repeat(150) + '\n' + '['.repeat(60);
    writeFileSync(join(dir, 'big'), big);
    assert.equal(fileMayNestDeeply(join(dir, 'big')), true);
    writeFileSync(join(dir, 'big2'), big.slice(0, -20));
    assert.equal(fileMayNestDeeply(join(dir, 'big2')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
