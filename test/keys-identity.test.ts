/**
 * Key identities are parsed and compared in one place (src/keys/<type>/key.ts and
 * src/keys/identity.ts). These tests go through the functions production calls — the CLI's key
 * flags, the operations' key specs, `.sops.yaml` parsing, data-key reuse, rotate — for each
 * divergence two earlier copies of the rules had.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/fixtures.js';
import { ExitCode, SopsError } from '../src/errors.js';
import { keysFromFlags } from '../src/cli/context.js';
import type { CliOptions } from '../src/cli/options.js';
import { keysFromSpecs } from '../src/ops/key-specs.js';
import { changeKeys } from '../src/ops/rotate.js';
import { keyChange } from '../src/file/reuse.js';
import { matchRule, parseConfig } from '../src/config/config.js';
import { describeKey, keyFromMap, keyId, keyString, keyToMap, matchesRemoval, sameKey } from '../src/keys/identity.js';
import type { AzureKvKey, KmsKey, MasterKey } from '../src/keys/types.js';

const ARN = 'arn:aws:kms:us-east-1:361527076523:key/5052f06a';
const AZ = 'https://my.vault.azure.net/keys/sops/0123abcd';
const AGE1 = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';
const flags = (o: Partial<CliOptions>) => o as CliOptions;

describe('Azure Key Vault lists: an empty entry is an error, as sops', () => {
  it('through the key flags (--azure-kv, SOPS_AZURE_KEYVAULT_URLS)', async () => {
    for (const list of [`${AZ},,${AZ}`, `${AZ},`, `${AZ}, `]) {
      await assert.rejects(
        keysFromFlags(flags({ azureKv: list })),
        (e: unknown) => e instanceof SopsError && /could not parse ""/.test(e.message),
        list,
      );
    }
    assert.equal((await keysFromFlags(flags({ azureKv: ` ${AZ} ` }))).length, 1);
  });

  it('through the operations (rotate --add-azure-kv, groups add)', async () => {
    await assert.rejects(keysFromSpecs({ azureKv: `${AZ},,${AZ}` }), /could not parse ""/);
    assert.deepEqual(await keysFromSpecs({ azureKv: '' }), []);
  });

  it("through .sops.yaml (a rule's azure_keyvault, as a string or a list item)", () => {
    for (const v of [`"${AZ},,${AZ}"`, `["${AZ},"]`]) {
      assert.throws(
        () => matchRule(parseConfig(`creation_rules:\n  - azure_keyvault: ${v}\n`, '/x/.sops.yaml'), '/x/a.yaml'),
        (e: unknown) =>
          e instanceof SopsError && /azure_keyvault/.test(e.message) && /could not parse ""/.test(e.message),
        v,
      );
    }
    assert.equal(
      parseConfig(`creation_rules:\n  - azure_keyvault: "${AZ}, ${AZ}2"\n`, '/x/.sops.yaml').creationRules[0]!
        .keyGroups[0]!.length,
      2,
    );
  });
});

describe('an empty --encryption-context is no context (sops: nil)', () => {
  it('the KMS keys of the key flags carry no context', async () => {
    const [k] = (await keysFromFlags(flags({ kms: ARN, encryptionContext: '' }))) as KmsKey[];
    assert.equal(k!.context, undefined);
    assert.equal(k!.arn, ARN);
  });

  it('the KMS keys of the operations carry no context, and `{}` is the same key as none', async () => {
    const [k] = (await keysFromSpecs({ kms: ARN }, { encryptionContext: '' })) as KmsKey[];
    assert.equal(k!.context, undefined);
    assert.ok(sameKey(k!, { ...k!, context: {} }));
    assert.ok(!sameKey(k!, { ...k!, context: { a: 'b' } }));
  });

  it('a malformed context is exit code 6', async () => {
    await assert.rejects(
      keysFromFlags(flags({ kms: ARN, encryptionContext: 'a:b:c' })),
      (e: unknown) => e instanceof SopsError && e.code === ExitCode.ErrorInvalidKMSEncryptionContextFormat,
    );
  });
});

describe('one bech32 decoder, one age recipient parser', () => {
  it('src/ holds the bech32 checksum once', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(ROOT, 'src'));
    const holders = files.filter((f) => /0x3b6a57b2/i.test(readFileSync(f, 'utf8')));
    assert.deepEqual(
      holders.map((f) => f.slice(ROOT.length + 1)),
      ['src/keys/age/bech32.ts'],
    );
  });

  it('plugin recipients are accepted by the key flags and .sops.yaml alike', async () => {
    const plugin = 'age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t';
    assert.equal((await keysFromFlags(flags({ age: `${AGE1},${plugin}` }))).length, 2);
    const cfg = parseConfig(`creation_rules:\n  - age: ${plugin}\n`, '/x/.sops.yaml');
    assert.equal(cfg.creationRules[0]!.keyGroups[0]!.length, 1);
  });
});

describe('one "same key?" rule: keyId', () => {
  const az = (vaultUrl: string, version = 'v1'): AzureKvKey => ({
    type: 'azure_kv',
    vaultUrl,
    name: 'k',
    version,
    enc: 'x',
  });

  it('Azure vault URLs compare case-insensitively and without trailing slashes everywhere', () => {
    const a = az('https://V.vault.azure.net');
    const b = az('https://v.vault.azure.net/');
    assert.equal(keyId(a), keyId(b));
    // data-key reuse (it used to compare the URL as written, while rotate lower-cased it)
    assert.equal(keyChange({ keyGroups: [[a]], shamirThreshold: 0 }, { keyGroups: [[b]], shamirThreshold: 0 }), 'keep');
    // rotate --add-azure-kv of the same key in other spelling adds nothing
    const m = { keyGroups: [[a as MasterKey]], shamirThreshold: 0 };
    changeKeys(m, { add: [b], remove: [] });
    assert.equal(m.keyGroups[0]!.length, 1);
    assert.ok(matchesRemoval(az('https://v.VAULT.azure.net/', ''), a));
    assert.notEqual(keyId(a), keyId(az('https://v.vault.azure.net', 'v2')));
  });

  it('.sops.yaml de-duplicates by the same rule', () => {
    const cfg = parseConfig(
      'creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - {vaultUrl: "https://V.vault.azure.net", key: k, version: v1}\n          - {vaultUrl: "https://v.vault.azure.net/", key: k, version: v1}\n',
      '/x/.sops.yaml',
    );
    assert.equal(cfg.creationRules[0]!.keyGroups[0]!.length, 1);
  });

  it('PGP fingerprints ignore case and spaces; age bech32 ignores case; SSH keys ignore the comment', () => {
    assert.ok(sameKey({ type: 'pgp', fp: 'fbc7 b9e2', enc: '' }, { type: 'pgp', fp: 'FBC7B9E2', enc: 'x' }));
    assert.ok(
      sameKey({ type: 'age', recipient: AGE1, enc: '' }, { type: 'age', recipient: AGE1.toUpperCase(), enc: '' }),
    );
    const ssh = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9AbvSfnsWzpb6OhLuEvGZhu0MKUwP3nGu4jBFjwAEI';
    assert.ok(sameKey({ type: 'age', recipient: `${ssh} me@host`, enc: '' }, { type: 'age', recipient: ssh, enc: '' }));
    assert.ok(!sameKey({ type: 'age', recipient: AGE1, enc: '' }, { type: 'pgp', fp: AGE1, enc: '' }));
  });

  it('describes and prints keys as sops does', () => {
    assert.equal(keyString(az('https://v.vault.azure.net/')), 'https://v.vault.azure.net/keys/k/v1');
    assert.equal(
      describeKey({ type: 'kms', arn: ARN, role: 'arn:aws:iam::1:role/r', enc: '' }),
      `kms ${ARN}+arn:aws:iam::1:role/r`,
    );
    assert.equal(
      keyString({ type: 'kms', arn: ARN, context: { b: '2', a: '1' }, enc: '' }),
      `${ARN} (context: a:1,b:2)`,
    );
  });
});

describe('metadata entries: each key type owns its fields', () => {
  it('every type round-trips through its sops field names', () => {
    const keys: MasterKey[] = [
      { type: 'age', recipient: AGE1, enc: 'E' },
      { type: 'pgp', fp: 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4', enc: 'E', createdAt: '2024-01-01T00:00:00Z' },
      {
        type: 'kms',
        arn: ARN,
        role: 'arn:aws:iam::1:role/r',
        context: { b: '2', a: '1' },
        awsProfile: 'p',
        enc: 'E',
        createdAt: 'T',
      },
      { type: 'gcp_kms', resourceId: 'projects/p/locations/l/keyRings/r/cryptoKeys/k', enc: 'E', createdAt: 'T' },
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: 'v', enc: 'E', createdAt: 'T' },
      {
        type: 'hc_vault',
        vaultAddress: 'http://127.0.0.1:8200',
        enginePath: 'team/transit',
        keyName: 'k',
        enc: 'E',
        createdAt: 'T',
      },
    ];
    const names = keys.map((k) => Object.keys(keyToMap(k)).join(','));
    assert.deepEqual(names, [
      'recipient',
      'fp',
      'arn,role,context,aws_profile',
      'resource_id',
      'vault_url,name,version',
      'vault_address,engine_path,key_name',
    ]);
    for (const k of keys) {
      const fields = keyToMap(k);
      const reader = {
        str: (f: string) => (typeof fields[f] === 'string' ? fields[f] : ''),
        map: (f: string) => (typeof fields[f] === 'object' ? fields[f] : undefined),
      };
      if (k.type === 'other') continue;
      const back = keyFromMap(k.type, reader, k.enc, k.createdAt);
      assert.ok(sameKey(back, k), k.type);
      assert.deepEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(k)), k.type);
    }
    // an empty context is not written (sops writes none for nil)
    assert.equal('context' in keyToMap({ type: 'kms', arn: ARN, context: {}, enc: '' }), false);
  });
});
