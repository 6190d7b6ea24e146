/**
 * What `exec-env` puts into a command's environment: a decrypted file's top-level values. Values
 * that are not strings are written as sops writes them (see src/stores/scalar-text.ts): `1.0` for
 * the float 1, `true`/`false`. Running the command (its signals, the FIFO of `exec-file`) is the
 * CLI's (src/cli/exec.ts).
 */
import { SopsError } from '../errors.js';
import { scalarText } from '../stores/scalar-text.js';
import type { Tree } from '../tree/types.js';

/**
 * The environment variables a decrypted tree gives: its first document's top-level entries, in
 * order (comments skipped). Throws (naming the key, never the value) for a map or list value, a key
 * holding `=`, or a NUL byte.
 */
export function envFromTree(tree: Tree): Record<string, string> {
  const vars: Record<string, string> = {};
  const doc = tree.docs[0];
  if (!doc) return vars;
  for (const it of doc.items) {
    if (it.kind !== 'entry') continue;
    const v = it.value;
    if (v.kind === 'map' || v.kind === 'list') {
      throw new SopsError(
        `cannot use complex value in environment: the value of ${JSON.stringify(it.key)} is a ${v.kind}`,
      );
    }
    if (it.key.includes('=')) throw new SopsError(`cannot use keys with '=' in environment: ${JSON.stringify(it.key)}`);
    const text = scalarText(v);
    if (it.key.includes('\0') || text.includes('\0')) {
      throw new SopsError(
        `cannot use ${JSON.stringify(it.key.replace(/\0/g, '\\0'))} in environment: its key or value holds a NUL byte`,
      );
    }
    if (it.key === '') throw new SopsError('cannot use an empty key in environment');
    vars[it.key] = text;
  }
  return vars;
}
