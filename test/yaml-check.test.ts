// A damaged encrypted YAML file that the (fast, unvalidated) load reads but the full YAML check
// refuses: when its decryption then fails, the error is the YAML error, found by the check the
// store hands back with the parsed text (the caller no longer keeps the file's bytes for it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decrypt, encrypt } from '../src/api.js';

const KEY = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

test('YAML: a decryption failure in a malformed file reports the YAML error (line and column)', async () => {
  const env = { SOPS_AGE_KEY: KEY };
  const enc = await encrypt('db:\n    host: h\n    port: 1\n', { format: 'yaml', age: [RECIPIENT], env });
  assert.equal(await decrypt(enc, { format: 'yaml', env }), 'db:\n    host: h\n    port: 1\n');
  // `z: [b, c]d` loads (the unvalidated reader), is not encrypted (decryption fails), and is not YAML
  const damaged = enc.replace('\nsops:', '\nz: [b, c]d\nsops:');
  const line = damaged.split('\n').indexOf('z: [b, c]d') + 1;
  await assert.rejects(decrypt(damaged, { format: 'yaml', env, filename: 'd.yaml' }), (e: Error) => {
    assert.match(e.message, new RegExp(`^d\\.yaml: could not parse the yaml file: .*at line ${line}, column 10`));
    return true;
  });
  // the same file, well-formed: the decryption's own error
  await assert.rejects(
    decrypt(enc.replace('\nsops:', '\nz: [b, c]\nsops:'), { format: 'yaml', env }),
    /is not an encrypted sops value/,
  );
});
