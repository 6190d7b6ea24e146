/**
 * Exit statuses: tsops's table against sops's, one error class per failure, causes kept, and the
 * measured mismatch fixed (a MAC that does not decrypt exits 51, as sops 3.13.2's DecryptTree).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { decrypt, encrypt } from '../src/api.js';
import {
  ExitCode,
  FAILURE_CLASSES,
  KeyRetrievalError,
  MacMismatchError,
  SopsError,
  withPrefix,
} from '../src/errors.js';
import { AGE_IDENTITY, AGE_RECIPIENT, Sandbox, run } from './helpers/editing.js';

/**
 * sops 3.13.2, cmd/sops/codes/codes.go, transcribed (name and value, in the file's order). The
 * list grew over sops's releases: ErrorConflictingParameters, NeedAtLeastOneDocument,
 * DuplicateDecryptionKeyType and FileAlreadyEncrypted are the later ones.
 */
const SOPS_CODES: Array<[string, number]> = [
  ['ErrorGeneric', 1],
  ['CouldNotReadInputFile', 2],
  ['CouldNotWriteOutputFile', 3],
  ['ErrorDumpingTree', 4],
  ['ErrorReadingConfig', 5],
  ['ErrorInvalidKMSEncryptionContextFormat', 6],
  ['ErrorInvalidSetFormat', 7],
  ['ErrorConflictingParameters', 8],
  ['ErrorEncryptingMac', 21],
  ['ErrorEncryptingTree', 23],
  ['ErrorDecryptingMac', 24],
  ['ErrorDecryptingTree', 25],
  ['CannotChangeKeysFromNonExistentFile', 49],
  ['MacMismatch', 51],
  ['MacNotFound', 52],
  ['ConfigFileNotFound', 61],
  ['KeyboardInterrupt', 85],
  ['InvalidTreePathFormat', 91],
  ['NeedAtLeastOneDocument', 92],
  ['NoFileSpecified', 100],
  ['CouldNotRetrieveKey', 128],
  ['NoEncryptionKeyFound', 111],
  ['DuplicateDecryptionKeyType', 112],
  ['FileHasNotBeenModified', 200],
  ['NoEditorFound', 201],
  ['FailedToCompareVersions', 202],
  ['FileAlreadyEncrypted', 203],
];

test('ExitCode is sops 3.13.2 codes.go, name for name and value for value', () => {
  assert.deepEqual(Object.entries(ExitCode), SOPS_CODES);
});

test('one error class per exit status (the generic one is SopsError itself), each with its own status', () => {
  const seen = new Map<string, string>();
  for (const C of FAILURE_CLASSES) {
    const e = new C('what went wrong');
    assert.ok(e instanceof SopsError, C.name);
    assert.equal(e.name, C.name);
    assert.equal(e.message, 'what went wrong');
    assert.equal(e.code, ExitCode[C.codeName], `${C.name} exits with ${C.codeName}`);
    assert.ok(!seen.has(C.codeName), `${C.codeName} has two classes: ${seen.get(C.codeName)} and ${C.name}`);
    seen.set(C.codeName, C.name);
  }
  const missing = Object.keys(ExitCode).filter((n) => n !== 'ErrorGeneric' && !seen.has(n));
  assert.deepEqual(missing, [], 'every sops exit status has its failure class');
});

test('an error told again keeps its class, status and the original as cause', () => {
  const inner = new KeyRetrievalError('no key could open the data key');
  const outer = inner.rephrased('secrets.yaml: no key could open the data key');
  assert.ok(outer instanceof KeyRetrievalError);
  assert.equal(outer.code, 128);
  assert.equal(outer.cause, inner);
  const plain = new Error('socket hang up');
  const wrapped = withPrefix('secrets.yaml', plain, (m, o) => new KeyRetrievalError(m, o));
  assert.equal(wrapped.message, 'secrets.yaml: socket hang up');
  assert.equal(wrapped.cause, plain);
  assert.ok(wrapped instanceof KeyRetrievalError);
});

/** An encrypted YAML file whose lastmodified was changed: its MAC no longer decrypts. */
async function damagedMac(): Promise<string> {
  const enc = await encrypt('a: 1\nb: two\n', { format: 'yaml', age: [AGE_RECIPIENT] });
  const damaged = enc.replace(/lastmodified: "([^"]+)"/, 'lastmodified: "2001-01-01T00:00:00Z"');
  assert.notEqual(damaged, enc);
  return damaged;
}

test('a MAC that does not decrypt is a MAC mismatch (51), as in sops 3.13.2 — library', async () => {
  const damaged = await damagedMac();
  const env = { SOPS_AGE_KEY: AGE_IDENTITY };
  await assert.rejects(decrypt(damaged, { format: 'yaml', env }), (e: unknown) => {
    assert.ok(e instanceof MacMismatchError, String(e));
    assert.equal(e.code, 51);
    assert.ok(e.cause !== undefined, 'the cipher error is kept as the cause');
    return true;
  });
  assert.equal(await decrypt(damaged, { format: 'yaml', env, ignoreMac: true }), 'a: 1\nb: two\n');
});

test('a MAC that does not decrypt is a MAC mismatch (51), as in sops 3.13.2 — CLI', async () => {
  const sb = new Sandbox();
  try {
    const file = sb.write('s.yaml', await damagedMac());
    const before = fs.readFileSync(file);
    const r = await run(['decrypt', file], { env: sb.env });
    assert.equal(r.code, 51, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(fs.readFileSync(file), before);
  } finally {
    sb.cleanup();
  }
});
