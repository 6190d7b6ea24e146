// The scope module: one table of the selectors, the default, the one-selector rule — and every
// path that writes a scope (config, flags, library API, metadata) goes through it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { encrypt } from '../src/api.js';
import { ExitCode, SopsError } from '../src/errors.js';
import { metadataToPlain, parseMetadata } from '../src/metadata/metadata.js';
import {
  compileScope,
  DEFAULT_UNENCRYPTED_SUFFIX,
  pickScope,
  resolveScope,
  SCOPE_KEYS,
  SCOPE_SELECTORS,
  scopeFromKeys,
  scopeToKeys,
  selectorsSet,
  type Scope,
} from '../src/scope/scope.js';

const ALL: Scope = {
  unencryptedSuffix: '_u',
  encryptedSuffix: '_e',
  unencryptedRegex: '^u',
  encryptedRegex: '^e',
  unencryptedCommentRegex: 'uc',
  encryptedCommentRegex: 'ec',
  macOnlyEncrypted: true,
};

describe('scope module', () => {
  it('one table: six selectors and mac_only_encrypted, as sops names them', () => {
    assert.deepEqual(SCOPE_KEYS, [
      'unencrypted_suffix',
      'encrypted_suffix',
      'unencrypted_regex',
      'encrypted_regex',
      'unencrypted_comment_regex',
      'encrypted_comment_regex',
      'mac_only_encrypted',
    ]);
    assert.deepEqual(
      SCOPE_SELECTORS.filter((s) => s.regex).map((s) => s.key),
      ['unencrypted_regex', 'encrypted_regex', 'unencrypted_comment_regex', 'encrypted_comment_regex'],
    );
  });

  it('resolveScope: the default, empty strings unset, every pair of selectors refused (comment regexes count, as sops)', () => {
    assert.deepEqual(resolveScope({}), { unencryptedSuffix: DEFAULT_UNENCRYPTED_SUFFIX });
    assert.deepEqual(resolveScope({ macOnlyEncrypted: true }), {
      unencryptedSuffix: '_unencrypted',
      macOnlyEncrypted: true,
    });
    assert.deepEqual(resolveScope({ encryptedCommentRegex: 'x', unencryptedSuffix: '' }), {
      encryptedCommentRegex: 'x',
    });
    for (const a of SCOPE_SELECTORS) {
      for (const b of SCOPE_SELECTORS) {
        if (a === b) continue;
        assert.throws(
          () => resolveScope({ [a.field]: 'x', [b.field]: 'y' }),
          (e: unknown) =>
            e instanceof SopsError &&
            e.code === ExitCode.ErrorConflictingParameters &&
            e.message.includes(
              `(found ${[a, b]
                .sort((x, y) => SCOPE_SELECTORS.indexOf(x) - SCOPE_SELECTORS.indexOf(y))
                .map((s) => s.key)
                .join(' and ')})`,
            ),
          `${a.key} + ${b.key}`,
        );
      }
    }
    assert.deepEqual(selectorsSet(ALL), SCOPE_KEYS.slice(0, 6));
  });

  it('pickScope takes the scope fields of options (the flags), nothing else', () => {
    const { unencryptedSuffix: _u, ...rest } = ALL;
    assert.deepEqual(pickScope({ ...ALL, unencryptedSuffix: '', age: 'age1x' } as Scope), rest);
  });

  it('metadata keys: written and read back through the same table', () => {
    const o: Record<string, unknown> = {};
    scopeToKeys(ALL, o);
    assert.deepEqual(Object.keys(o), SCOPE_KEYS);
    assert.deepEqual(
      scopeFromKeys(o, (v) => v === true),
      ALL,
    );
    const m = parseMetadata({
      age: [],
      lastmodified: '2024-01-01T00:00:00Z',
      mac: '',
      version: '3.13.2',
      encrypted_regex: '^data$',
      mac_only_encrypted: true,
    });
    assert.deepEqual(m.scope, { encryptedRegex: '^data$', macOnlyEncrypted: true });
    const back = metadataToPlain(m) as Record<string, unknown>;
    assert.equal(back['encrypted_regex'], '^data$');
    assert.equal(back['mac_only_encrypted'], true);
    assert.equal(back['unencrypted_suffix'], undefined);
  });

  it('compileScope names the setting of an invalid regex', () => {
    assert.throws(
      () => compileScope({ encryptedRegex: '(' }),
      (e: unknown) =>
        e instanceof SopsError &&
        /^invalid encrypted_regex "\(": error parsing regexp: missing closing \)/.test(e.message),
    );
    assert.equal(compileScope({ unencryptedRegex: '(?i:pub)' }).unencryptedRegex!.test('PUBLIC'), true);
  });
});

describe('the library writes one selector', () => {
  it('encrypt() with encrypted_regex writes no unencrypted_suffix; two selectors are refused with exit code 8', async () => {
    const recipient = await identityToRecipient(await generateIdentity());
    const env = { PATH: process.env.PATH ?? '' };
    const text = await encrypt('{"data": "s", "name": "n"}', {
      format: 'json',
      age: [recipient],
      scope: { encryptedRegex: '^data$' },
      env,
    });
    const sops = (JSON.parse(text) as { sops: Record<string, unknown> }).sops;
    assert.equal(sops['encrypted_regex'], '^data$');
    assert.deepEqual(
      SCOPE_KEYS.filter((k) => k in sops),
      ['encrypted_regex'],
    );
    await assert.rejects(
      () =>
        encrypt('{"a": 1}', {
          format: 'json',
          age: [recipient],
          scope: { encryptedRegex: '^a', unencryptedSuffix: '_u' },
          env,
        }),
      (e: unknown) => e instanceof SopsError && e.code === ExitCode.ErrorConflictingParameters,
    );
    const dflt = (
      JSON.parse(await encrypt('{"a": 1}', { format: 'json', age: [recipient], env })) as {
        sops: Record<string, unknown>;
      }
    ).sops;
    assert.deepEqual(
      SCOPE_KEYS.filter((k) => k in dflt),
      ['unencrypted_suffix'],
    );
  });
});
