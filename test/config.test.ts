import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import * as age from 'age-encryption';
import { ExitCode, SopsError } from '../src/errors.js';
import {
  checkConfig,
  EMPTY_KEY_GROUP,
  findConfigFile,
  indentFor,
  storesIndent,
  loadConfig,
  matchDestinationRule,
  matchRule,
  parseConfig,
  pathForMatching,
  ruleToEncryptionSettings,
  strictFromEnv,
  type SopsConfig,
} from '../src/config/config.js';
import { checkShamirThreshold, parseGoInt, parseThresholdFlag, shamirSplitProblem } from '../src/shamir/threshold.js';
import {
  ageRecipientProblem,
  kmsArnRegion,
  parseAgeRecipients,
  parseAzureKeyUrl,
  parseEncryptionContext,
  parseGcpKmsId,
  parseKmsArn,
  parseKmsArns,
  parsePgpFingerprints,
  parseVaultUri,
  parseVaultUris,
} from '../src/keys/identity.js';
import { goRegex as goRegExp } from '../src/scope/goregex.js';
import { DEFAULT_UNENCRYPTED_SUFFIX, resolveScope } from '../src/scope/scope.js';
import { closest } from '../src/config/suggest.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'tsops-config-')));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh folder under the temp root with the given files (paths relative to it). */
function tree(files: Record<string, string>): string {
  const base = join(root, `t${n++}`);
  mkdirSync(base, { recursive: true });
  for (const [p, text] of Object.entries(files)) {
    const full = join(base, p);
    mkdirSync(dirname(full), { recursive: true });
    if (p.endsWith('/')) mkdirSync(full, { recursive: true });
    else writeFileSync(full, text);
  }
  return base;
}

const CFG = '/repo/.sops.yaml';
const parse = (text: string): SopsConfig => parseConfig(text, CFG);

/**
 * Assert that parsing `text` in strict mode (TSOPS_STRICT_CONFIG=1, `tsops config check`) fails
 * with exit code 5 and a message matching every pattern. (Without strict mode most of these are
 * warnings, or errors only when the rule is used: see 'leniency like sops'.)
 */
function rejects(text: string, ...patterns: Array<RegExp | string>): string {
  let err: unknown;
  try {
    parseConfig(text, CFG, { strict: true });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SopsError, `expected a SopsError for:\n${text}`);
  assert.equal(err.code, ExitCode.ErrorReadingConfig);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  for (const p of patterns) {
    if (typeof p === 'string')
      assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should contain ${JSON.stringify(p)}`);
    else assert.match(err.message, p);
  }
  return err.message;
}

const AGE1 = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';
const FP1 = 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4';
const FP2 = 'D7229043384BCC60326C6FB9D8720D957C3D3074';

// ---------------------------------------------------------------------------------------------

describe('findConfigFile', () => {
  it('walks up from the file folder to the nearest .sops.yaml', () => {
    const base = tree({ '.sops.yaml': 'creation_rules: []\n', 'a/b/c/': '', 'a/x/.sops.yaml': '', 'a/x/y/': '' });
    assert.equal(findConfigFile({ fileDir: join(base, 'a/b/c'), cwd: '/' }), join(base, '.sops.yaml'));
    assert.equal(findConfigFile({ fileDir: join(base, 'a/x/y'), cwd: base }), join(base, 'a/x/.sops.yaml'));
  });

  it('takes a relative file folder against cwd, then falls back to walking up from cwd', () => {
    const base = tree({ 'proj/.sops.yaml': '', 'proj/deep/er/': '', 'elsewhere/sub/': '' });
    assert.equal(findConfigFile({ fileDir: 'deep/er', cwd: join(base, 'proj') }), join(base, 'proj/.sops.yaml'));
    // the file's folder has no config above it (inside the temp root); the cwd does
    const outside = mkdtempSync(join(tmpdir(), 'tsops-config-nocfg-'));
    try {
      const ancestorsHaveConfig = realpathSync(outside)
        .split(sep)
        .some((_, i, parts) => existsSync(join(parts.slice(0, i + 1).join(sep) || sep, '.sops.yaml')));
      if (!ancestorsHaveConfig) {
        assert.equal(findConfigFile({ fileDir: outside, cwd: join(base, 'proj/deep') }), join(base, 'proj/.sops.yaml'));
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('returns an explicit path resolved against cwd, without searching', () => {
    const base = tree({ '.sops.yaml': '' });
    assert.equal(findConfigFile({ explicit: 'conf/my.yaml', fileDir: base, cwd: '/work/x' }), '/work/x/conf/my.yaml');
    assert.equal(findConfigFile({ explicit: '/etc/sops.yaml', cwd: base }), '/etc/sops.yaml');
  });

  it('returns undefined when there is none, ignoring .sops.yml (with a warning) and folders named .sops.yaml', (t) => {
    const outside = realpathSync(mkdtempSync(join(tmpdir(), 'tsops-config-none-')));
    try {
      const parts = outside.split(sep);
      if (
        parts.some(
          (_, i) => i < parts.length - 1 && existsSync(join(parts.slice(0, i + 1).join(sep) || sep, '.sops.yaml')),
        )
      ) {
        t.skip('a .sops.yaml exists above the temp folder');
        return;
      }
      mkdirSync(join(outside, 'a/.sops.yaml'), { recursive: true });
      writeFileSync(join(outside, '.sops.yml'), 'creation_rules: []\n');
      const warnings: string[] = [];
      assert.equal(
        findConfigFile({ fileDir: join(outside, 'a'), cwd: outside, warn: (m) => warnings.push(m) }),
        undefined,
      );
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /ignoring ".*\.sops\.yml" .* must be called "\.sops\.yaml"/);
      // a .sops.yaml found further up is used, with the warning naming both
      writeFileSync(join(outside, 'a/.sops.yml'), '');
      writeFileSync(join(outside, '.sops.yaml'), '');
      warnings.length = 0;
      assert.equal(
        findConfigFile({ fileDir: join(outside, 'a'), cwd: outside, warn: (m) => warnings.push(m) }),
        join(outside, '.sops.yaml'),
      );
      assert.match(warnings[0]!, /using ".*\.sops\.yaml" instead/);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('matchRule', () => {
  const text = `creation_rules:
  - path_regex: ^secrets/dev/
    age: ${AGE1}
  - path_regex: \\.prod\\.yaml$
    pgp: ${FP1}
  - path_regex: '(?i)\\.JSON$'
    pgp: ${FP2}
  - path_regex: ^/
    pgp: AAAA
  - pgp: ${FP1},${FP2}
`;

  it('matches paths relative to the config folder, first match wins', () => {
    const base = tree({ '.sops.yaml': text, 'secrets/dev/': '' });
    const cfg = loadConfig(join(base, '.sops.yaml'));
    assert.equal(cfg.dir, base);
    assert.equal(matchRule(cfg, join(base, 'secrets/dev/a.prod.yaml'))?.index, 0, 'rule 0 comes first');
    assert.equal(matchRule(cfg, join(base, 'other/a.prod.yaml'))?.index, 1);
    assert.equal(matchRule(cfg, join(base, 'x.Json'))?.index, 2, 'Go (?i) flag');
    assert.equal(matchRule(cfg, join(base, 'plain.txt'))?.index, 4, 'a rule without path_regex matches everything');
  });

  it('resolves relative file paths against cwd, and matches the absolute path outside the folder', () => {
    const base = tree({ '.sops.yaml': text, 'secrets/dev/': '' });
    const cfg = loadConfig(join(base, '.sops.yaml'));
    assert.equal(matchRule(cfg, 'dev/new.yaml', { cwd: join(base, 'secrets') })?.index, 0);
    assert.equal(matchRule(cfg, '../dev/x', { cwd: join(base, 'secrets/dev') })?.index, 0);
    assert.equal(
      matchRule(cfg, '../secrets/dev/x', { cwd: join(base, 'secrets/dev') })?.index,
      4,
      'secrets/secrets/dev/x',
    );
    assert.equal(pathForMatching(cfg, 'dev/new.yaml', join(base, 'secrets')), 'secrets/dev/new.yaml');
    // outside the config folder: the absolute path is what the regexes see
    assert.equal(pathForMatching(cfg, '/elsewhere/f.txt'), '/elsewhere/f.txt');
    assert.equal(matchRule(cfg, '/elsewhere/f.txt')?.index, 3);
    // a sibling folder whose name starts like the config folder is not "under" it
    assert.equal(pathForMatching(cfg, `${base}x/f`), `${base}x/f`);
  });

  it('returns undefined when no rule matches, and for a config without rules', () => {
    const cfg = parse(`creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: ${AGE1}\n`);
    assert.equal(matchRule(cfg, '/repo/a.yaml'), undefined);
    assert.equal(matchRule(cfg, '/repo/a.enc.yaml')?.index, 0);
    assert.equal(matchRule(parse(''), '/repo/a.yaml'), undefined);
    assert.equal(matchRule(parse('stores: {}\n'), '/repo/a.yaml'), undefined);
  });

  it('treats an empty path_regex as match-everything (as sops)', () => {
    const cfg = parse(`creation_rules:\n  - path_regex: ''\n    age: ${AGE1}\n`);
    assert.equal(cfg.creationRules[0]!.pathRegex, undefined);
    assert.equal(matchRule(cfg, '/repo/anything')?.index, 0);
  });

  it("reproduces sops's .*/development/.* quirk: the relative path has no leading slash", () => {
    const cfg = parse(`creation_rules:\n  - path_regex: .*/development/.*\n    pgp: ${FP1}\n  - pgp: ${FP2}\n`);
    assert.equal(matchRule(cfg, '/repo/development/a.yaml')?.index, 1);
    assert.equal(matchRule(cfg, '/repo/app/development/a.yaml')?.index, 0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('rules from the sops README', () => {
  // README.rst, "Key groups": parsed unchanged (placeholders and all: sops checks ARNs and
  // fingerprints only when a key is used).
  const keyGroupsReadme = `creation_rules:
    - path_regex: .*keygroups.*
      shamir_threshold: 2
      key_groups:
          # First key group
          - pgp:
                - fingerprint1
                - fingerprint2
            kms:
                - arn: arn1
                  role: role1
                  context:
                      foo: bar
                - arn: arn2
                  aws_profile: myprofile
          # Second key group
          - pgp:
                - fingerprint3
                - fingerprint4
            kms:
                - arn: arn3
                - arn: arn4
          # Third key group
          - pgp:
                - fingerprint5
`;

  it('key groups with shamir_threshold', () => {
    const cfg = parse(keyGroupsReadme);
    const m = matchRule(cfg, '/repo/x/keygroups/example.json');
    assert.ok(m);
    const s = ruleToEncryptionSettings(m.rule);
    assert.equal(s.shamirThreshold, 2);
    assert.deepEqual(s.scope, { unencryptedSuffix: DEFAULT_UNENCRYPTED_SUFFIX });
    assert.deepEqual(s.keyGroups, [
      [
        { type: 'pgp', fp: 'fingerprint1', enc: '' },
        { type: 'pgp', fp: 'fingerprint2', enc: '' },
        { type: 'kms', arn: 'arn1', role: 'role1', context: { foo: 'bar' }, awsProfile: '', enc: '' },
        { type: 'kms', arn: 'arn2', awsProfile: 'myprofile', enc: '' },
      ],
      [
        { type: 'pgp', fp: 'fingerprint3', enc: '' },
        { type: 'pgp', fp: 'fingerprint4', enc: '' },
        { type: 'kms', arn: 'arn3', awsProfile: '', enc: '' },
        { type: 'kms', arn: 'arn4', awsProfile: '', enc: '' },
      ],
      [{ type: 'pgp', fp: 'fingerprint5', enc: '' }],
    ]);
    assert.equal(matchRule(cfg, '/repo/other.json'), undefined);
  });

  // The getsops.io / README.rst per-environment example, verbatim.
  const perEnvReadme = `# creation rules are evaluated sequentially, the first match wins
creation_rules:
    # upon creation of a file that matches the pattern *.dev.yaml,
    # KMS set A as well as PGP and age is used
    - path_regex: \\.dev\\.yaml$
      kms: 'arn:aws:kms:us-west-2:927034868273:key/fe86dd69-4132-404c-ab86-4269956b4500,arn:aws:kms:us-west-2:361527076523:key/5052f06a-5d3f-489e-b86c-57201e06f31e+arn:aws:iam::361527076523:role/hiera-sops-prod'
      pgp: 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'
      age: 'age129h70qwx39k7h5x6l9hg566nwm53527zvamre8vep9e3plsm44uqgy8gla'

    # prod files use KMS set B in the PROD IAM, PGP and age
    - path_regex: \\.prod\\.yaml$
      kms: 'arn:aws:kms:us-west-2:361527076523:key/5052f06a-5d3f-489e-b86c-57201e06f31e+arn:aws:iam::361527076523:role/hiera-sops-prod,arn:aws:kms:eu-central-1:361527076523:key/cb1fab90-8d17-42a1-a9d8-334968904f94+arn:aws:iam::361527076523:role/hiera-sops-prod'
      pgp: 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'
      age: 'age129h70qwx39k7h5x6l9hg566nwm53527zvamre8vep9e3plsm44uqgy8gla'
      hc_vault_uris: "http://localhost:8200/v1/sops/keys/thirdkey"

    # gcp files using GCP KMS
    - path_regex: \\.gcp\\.yaml$
      gcp_kms: projects/mygcproject/locations/global/keyRings/mykeyring/cryptoKeys/thekey

    # hckms files using HuaweiCloud KMS
    - path_regex: \\.hckms\\.yaml$
      hckms: tr-west-1:abc12345-6789-0123-4567-890123456789,tr-west-2:def67890-1234-5678-9012-345678901234

    # Finally, if the rules above have not matched, this one is a
    # catchall that will encrypt the file using KMS set C as well as PGP
    # The absence of a path_regex means it will match everything
    - kms: 'arn:aws:kms:us-west-2:927034868273:key/fe86dd69-4132-404c-ab86-4269956b4500,arn:aws:kms:us-west-2:142069644989:key/846cfb17-373d-49b9-8baf-f36b04512e47,arn:aws:kms:us-west-2:361527076523:key/5052f06a-5d3f-489e-b86c-57201e06f31e'
      pgp: 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'
`;
  const README_AGE = 'age129h70qwx39k7h5x6l9hg566nwm53527zvamre8vep9e3plsm44uqgy8gla';

  it('per-environment rules: the README age key has a bad checksum (age itself refuses it)', () => {
    rejects(perEnvReadme, 'invalid age in creation_rules[0] of /repo/.sops.yaml', README_AGE, 'bad checksum');
    const enc = new age.Encrypter();
    assert.throws(() => enc.addRecipient(README_AGE));
  });

  it('per-environment rules: hc_vault_uris is not a sops key (sops drops that Vault key silently)', () => {
    const fixed = perEnvReadme.replaceAll(README_AGE, AGE1);
    rejects(
      fixed,
      'unknown key hc_vault_uris in creation_rules[1] of /repo/.sops.yaml (did you mean hc_vault_transit_uri?)',
    );
  });

  it('per-environment rules, with those two mistakes fixed', () => {
    const fixed = perEnvReadme.replaceAll(README_AGE, AGE1).replace('hc_vault_uris:', 'hc_vault_transit_uri:');
    const cfg = parse(fixed);
    assert.equal(cfg.creationRules.length, 5);
    const dev = matchRule(cfg, '/repo/app.dev.yaml');
    assert.equal(dev?.index, 0);
    const s = ruleToEncryptionSettings(dev.rule, { kmsEncryptionContext: { Environment: 'dev' } });
    assert.equal(s.shamirThreshold, 0);
    assert.deepEqual(s.keyGroups, [
      [
        { type: 'age', recipient: AGE1, enc: '' },
        { type: 'pgp', fp: FP1, enc: '' },
        {
          type: 'kms',
          arn: 'arn:aws:kms:us-west-2:927034868273:key/fe86dd69-4132-404c-ab86-4269956b4500',
          awsProfile: '',
          context: { Environment: 'dev' },
          enc: '',
        },
        {
          type: 'kms',
          arn: 'arn:aws:kms:us-west-2:361527076523:key/5052f06a-5d3f-489e-b86c-57201e06f31e',
          role: 'arn:aws:iam::361527076523:role/hiera-sops-prod',
          awsProfile: '',
          context: { Environment: 'dev' },
          enc: '',
        },
      ],
    ]);
    const prod = ruleToEncryptionSettings(matchRule(cfg, '/repo/app.prod.yaml')!.rule);
    assert.deepEqual(prod.keyGroups[0]!.at(-1), {
      type: 'hc_vault',
      vaultAddress: 'http://localhost:8200',
      enginePath: 'sops',
      keyName: 'thirdkey',
      enc: '',
    });
    assert.equal(prod.keyGroups[0]!.filter((k) => k.type === 'kms').length, 2);
    const gcp = ruleToEncryptionSettings(matchRule(cfg, '/repo/app.gcp.yaml')!.rule);
    assert.deepEqual(gcp.keyGroups, [
      [
        {
          type: 'gcp_kms',
          resourceId: 'projects/mygcproject/locations/global/keyRings/mykeyring/cryptoKeys/thekey',
          enc: '',
        },
      ],
    ]);
    // HuaweiCloud KMS (sops 3.12): REGION:KEY_UUID, comma-separated
    const hc = matchRule(cfg, '/repo/app.hckms.yaml');
    assert.equal(hc?.index, 3);
    assert.deepEqual(ruleToEncryptionSettings(hc.rule).keyGroups, [
      [
        {
          type: 'hckms',
          keyId: 'tr-west-1:abc12345-6789-0123-4567-890123456789',
          region: 'tr-west-1',
          keyUuid: 'abc12345-6789-0123-4567-890123456789',
          enc: '',
        },
        {
          type: 'hckms',
          keyId: 'tr-west-2:def67890-1234-5678-9012-345678901234',
          region: 'tr-west-2',
          keyUuid: 'def67890-1234-5678-9012-345678901234',
          enc: '',
        },
      ],
    ]);
    const other = ruleToEncryptionSettings(matchRule(cfg, '/repo/notes.txt')!.rule);
    assert.equal(other.keyGroups[0]!.length, 4);
  });

  it('the fixtures .sops.yaml (sops functional tests)', () => {
    const cfg = parse(`creation_rules:\n  - pgp: ${FP1},${FP2}\n`);
    assert.deepEqual(ruleToEncryptionSettings(matchRule(cfg, 'x.yaml')!.rule).keyGroups, [
      [
        { type: 'pgp', fp: FP1, enc: '' },
        { type: 'pgp', fp: FP2, enc: '' },
      ],
    ]);
  });

  it('destination rules (publish)', () => {
    const cfg = parse(`destination_rules:
    - s3_bucket: "sops-secrets"
      path_regex: s3/*
      recreation_rule:
          pgp: F69E4901EDBAD2D1753F8C67A64535C4163FB307
    - gcs_bucket: "sops-secrets"
      path_regex: gcs/*
      recreation_rule:
          pgp: F69E4901EDBAD2D1753F8C67A64535C4163FB307
    - vault_path: "sops/"
      vault_kv_mount_name: "secret/" # default
      vault_kv_version: 2 # default
      path_regex: vault/*
      omit_extensions: true
`);
    assert.equal(cfg.creationRules.length, 0);
    assert.equal(cfg.destinationRules.length, 3);
    const d = matchDestinationRule(cfg, 'gcs/app.yaml');
    assert.equal(d?.index, 1);
    assert.equal(d?.rule.gcsBucket, 'sops-secrets');
    assert.deepEqual(ruleToEncryptionSettings(d.rule.recreationRule!).keyGroups, [
      [{ type: 'pgp', fp: 'F69E4901EDBAD2D1753F8C67A64535C4163FB307', enc: '' }],
    ]);
    const v = matchDestinationRule(cfg, 'vault/test.yaml')!.rule;
    assert.deepEqual(
      [v.vaultPath, v.vaultKvMountName, v.vaultKvVersion, v.omitExtensions],
      ['sops/', 'secret/', 2, true],
    );
    assert.equal(matchDestinationRule(cfg, 'elsewhere/x'), undefined);
  });
});

// ---------------------------------------------------------------------------------------------

describe('key settings', () => {
  it('takes strings, comma lists (trimmed, empty entries skipped) and YAML lists', () => {
    const cfg = parse(`creation_rules:
  - age: [${AGE1}]
    pgp: >-
      ${FP1},
      FBC7 B9E2 A4F9 289A C0C1  D484 3D16 CEE4 A273 81B4,
    kms:
      - arn:aws:kms:us-east-1:111111111111:key/a+arn:aws-cn:iam::111111111111:role/r, arn:aws:kms:us-east-1:111111111111:alias/b
    aws_profile: prod
    azure_keyvault: https://v.vault.azure.net/keys/k/0123abc,https://v.vault.azure.net/keys/k2
    hc_vault_transit_uri: [https://vault.me.com/v1/super42/bestmarket/keys/slig]
    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k
`);
    const [group] = ruleToEncryptionSettings(cfg.creationRules[0]!).keyGroups;
    assert.deepEqual(group, [
      { type: 'age', recipient: AGE1, enc: '' },
      { type: 'pgp', fp: FP1, enc: '' },
      { type: 'pgp', fp: FP1, enc: '' },
      {
        type: 'kms',
        arn: 'arn:aws:kms:us-east-1:111111111111:key/a',
        role: 'arn:aws-cn:iam::111111111111:role/r',
        awsProfile: 'prod',
        enc: '',
      },
      { type: 'kms', arn: 'arn:aws:kms:us-east-1:111111111111:alias/b', awsProfile: 'prod', enc: '' },
      { type: 'gcp_kms', resourceId: 'projects/p/locations/global/keyRings/r/cryptoKeys/k', enc: '' },
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: '0123abc', enc: '' },
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k2', version: '', enc: '' },
      {
        type: 'hc_vault',
        vaultAddress: 'https://vault.me.com',
        enginePath: 'super42/bestmarket',
        keyName: 'slig',
        enc: '',
      },
    ]);
  });

  it('key_groups: every key type, merge, duplicates removed, contexts kept per key', () => {
    const cfg = parse(`creation_rules:
  - shamir_threshold: 1
    key_groups:
      - age: [${AGE1}]
        merge:
          - pgp: [${FP1}]
          - age: [${AGE1}]
            pgp: [${FP2}]
        kms:
          - arn: arn:aws:kms:us-east-1:1:key/x
            context: {app: web, n: 1, empty: null}
          - arn: arn:aws:kms:us-east-1:1:key/x
            aws_profile: other
          - arn: arn:aws:kms:us-east-1:1:key/x
            context: {n: "1", app: web, empty: ""}
          - arn: arn:aws:kms:us-east-1:1:key/x
            context: {app: api}
      - gcp_kms:
          - resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k
        azure_keyvault:
          - vaultUrl: https://v.vault.azure.net
            key: k
            version: v1
          - {vaultUrl: https://v.vault.azure.net, key: k}
        hc_vault: [http://127.0.0.1:12121/v1/transit/keys/dev]
`);
    const s = ruleToEncryptionSettings(cfg.creationRules[0]!, { kmsEncryptionContext: { ignored: 'yes' } });
    assert.equal(s.shamirThreshold, 1);
    assert.deepEqual(s.keyGroups[0], [
      { type: 'pgp', fp: FP1, enc: '' },
      { type: 'age', recipient: AGE1, enc: '' },
      { type: 'pgp', fp: FP2, enc: '' },
      {
        type: 'kms',
        arn: 'arn:aws:kms:us-east-1:1:key/x',
        awsProfile: '',
        context: { app: 'web', n: '1', empty: '' },
        enc: '',
      },
      { type: 'kms', arn: 'arn:aws:kms:us-east-1:1:key/x', awsProfile: 'other', enc: '' },
      { type: 'kms', arn: 'arn:aws:kms:us-east-1:1:key/x', awsProfile: '', context: { app: 'api' }, enc: '' },
    ]);
    assert.deepEqual(s.keyGroups[1], [
      { type: 'gcp_kms', resourceId: 'projects/p/locations/l/keyRings/r/cryptoKeys/k', enc: '' },
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: 'v1', enc: '' },
      { type: 'azure_kv', vaultUrl: 'https://v.vault.azure.net', name: 'k', version: '', enc: '' },
      { type: 'hc_vault', vaultAddress: 'http://127.0.0.1:12121', enginePath: 'transit', keyName: 'dev', enc: '' },
    ]);
  });

  it('returns fresh copies each time', () => {
    const cfg = parse(`creation_rules:\n  - key_groups:\n      - kms: [{arn: a, context: {k: v}}]\n`);
    const a = ruleToEncryptionSettings(cfg.creationRules[0]!);
    a.keyGroups[0]![0]!.enc = 'changed';
    (a.keyGroups[0]![0] as { context: Record<string, string> }).context['k'] = 'x';
    const b = ruleToEncryptionSettings(cfg.creationRules[0]!);
    assert.equal(b.keyGroups[0]![0]!.enc, '');
    assert.deepEqual((b.keyGroups[0]![0] as { context: Record<string, string> }).context, { k: 'v' });
  });

  it("a rule without keys: its scope applies to keys given on the command line; alone it fails with sops's message", () => {
    // behaviour change: ruleToEncryptionSettings used to return keyGroups [] here
    const cfg = parse(`creation_rules:\n  - encrypted_regex: ^data$\n`);
    assert.deepEqual(matchRule(cfg, '/repo/x.yaml')!.rule.scope, { encryptedRegex: '^data$' });
    assert.throws(
      () => ruleToEncryptionSettings(cfg.creationRules[0]!),
      (e: unknown) => e instanceof SopsError && e.code === ExitCode.ErrorGeneric && e.message === EMPTY_KEY_GROUP,
    );
  });

  it('YAML anchors and merge keys work; unrelated top-level keys are ignored (anchor holders)', () => {
    const cfg = parse(`keys:
  - &me ${AGE1}
base: &base
  encrypted_regex: ^(data|stringData)$
creation_rules:
  - <<: *base
    path_regex: x
    key_groups:
      - age: [*me]
`);
    assert.deepEqual(cfg.ignoredKeys, ['keys', 'base']);
    assert.deepEqual(cfg.creationRules[0]!.scope, { encryptedRegex: '^(data|stringData)$' });
    assert.equal(cfg.creationRules[0]!.keyGroups[0]![0]!.type, 'age');
  });
});

describe('scope settings', () => {
  it('keeps the one selector a rule sets; defaults to _unencrypted; mac_only_encrypted is independent', () => {
    const settings = [
      ['unencrypted_suffix: _plain', { unencryptedSuffix: '_plain' }],
      ['encrypted_suffix: _secret', { encryptedSuffix: '_secret' }],
      ['unencrypted_regex: ^pub', { unencryptedRegex: '^pub' }],
      ['encrypted_regex: ^(data|stringData)$', { encryptedRegex: '^(data|stringData)$' }],
      ['unencrypted_comment_regex: sops:plain', { unencryptedCommentRegex: 'sops:plain' }],
      ['encrypted_comment_regex: sops:enc', { encryptedCommentRegex: 'sops:enc' }],
      ['mac_only_encrypted: true', { unencryptedSuffix: '_unencrypted', macOnlyEncrypted: true }],
      ['mac_only_encrypted: yes\n    encrypted_suffix: _s', { encryptedSuffix: '_s', macOnlyEncrypted: true }],
      ['mac_only_encrypted: false', { unencryptedSuffix: '_unencrypted' }],
      ['unencrypted_suffix: ""', { unencryptedSuffix: '_unencrypted' }],
    ] as const;
    for (const [line, scope] of settings) {
      const cfg = parse(`creation_rules:\n  - age: ${AGE1}\n    ${line}\n`);
      assert.deepEqual(ruleToEncryptionSettings(cfg.creationRules[0]!).scope, scope, line);
    }
  });

  it('resolveScope refuses two selectors after flags are merged (exit code 8) and applies the default', () => {
    assert.deepEqual(resolveScope({}), { unencryptedSuffix: '_unencrypted' });
    assert.deepEqual(resolveScope({ encryptedRegex: 'x', unencryptedSuffix: '' }), { encryptedRegex: 'x' });
    assert.throws(
      () => resolveScope({ encryptedRegex: 'x', unencryptedSuffix: '_u' }),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorConflictingParameters &&
        /unencrypted_suffix and encrypted_regex/.test(e.message),
    );
  });
});

describe('stores', () => {
  it('reads yaml, json and json_binary indents', () => {
    const cfg = parse(
      'stores:\n  yaml:\n    indent: 2\n  json:\n    indent: -1\n  json_binary:\n    indent: 0\n  dotenv: {}\n',
    );
    assert.deepEqual(cfg.stores, { yaml: { indent: 2 }, json: { indent: -1 }, jsonBinary: { indent: 0 } });
    assert.deepEqual(parse('creation_rules: []\n').stores, {});
  });
});

// ---------------------------------------------------------------------------------------------

describe('errors that teach', () => {
  it('unreadable file', () => {
    const missing = join(root, 'nope', '.sops.yaml');
    assert.throws(
      () => loadConfig(missing),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorReadingConfig &&
        e.message === `could not read config file ${missing}: no such file`,
    );
    assert.throws(
      () => loadConfig(root),
      (e: unknown) => e instanceof SopsError && /is a directory/.test(e.message),
    );
  });

  it('bad YAML names the file and the line', () => {
    rejects('creation_rules:\n  - path_regex: [\n', 'could not parse config file /repo/.sops.yaml', /line \d+/);
    rejects('creation_rules:\n  - age: a\n    age: b\n', 'could not parse config file /repo/.sops.yaml', /unique/i);
    rejects('creation_rules:\n\t- age: x\n', 'could not parse config file /repo/.sops.yaml');
  });

  it('unknown keys, with the closest valid key', () => {
    // strict mode reports the loudest problem first: the rule now matches every file
    assert.equal(
      rejects(`creation_rules:\n  - path_regx: foo\n    age: ${AGE1}\n`),
      'creation_rules[0] of /repo/.sops.yaml has no path_regex, so it matches EVERY file (and hides the rules after it): did you mean path_regex instead of path_regx? [TSOPS_STRICT_CONFIG: every config warning is an error]',
    );
    rejects(
      `creation_rules:\n  - path_regex: x\n    path_regx: foo\n    age: ${AGE1}\n`,
      'unknown key path_regx in creation_rules[0] of /repo/.sops.yaml (did you mean path_regex?)',
    );
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n  - filename_regex: x\n`,
      'creation_rules[1] of /repo/.sops.yaml has no path_regex',
      'instead of filename_regex?',
    );
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n    path_regex: y\n    filename_regex: x\n`,
      'unknown key filename_regex in creation_rules[0]',
      'did you mean path_regex?',
    );
    rejects(`creation_rules:\n  - encrypted_regexp: x\n`, '(did you mean encrypted_regex?)');
    rejects(
      `creation_rules:\n  - key_groups:\n      - agee: [${AGE1}]\n`,
      'unknown key agee in creation_rules[0].key_groups[0]',
      'did you mean age?',
    );
    rejects(`creation_rules:\n  - key_groups:\n      - hc_vault_transit_uri: [x]\n`, 'did you mean hc_vault?');
    rejects(
      `creation_rules:\n  - key_groups:\n      - kms:\n          - arn: a\n            rol: r\n`,
      'unknown key rol in creation_rules[0].key_groups[0].kms[0]',
      'did you mean role?',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - {vault_url: https://v, key: k}\n`,
      'did you mean vaultUrl?',
    );
    rejects(
      `creation_rules:\n  - completely_else: 1\n`,
      'unknown key completely_else in creation_rules[0] of /repo/.sops.yaml (known keys: path_regex, age, pgp',
    );
    rejects(`creation_rules:\n  - encryption_context: a:b\n`, '--encryption-context');
    rejects(
      `creation_rule:\n  - age: ${AGE1}\n`,
      'unknown key creation_rule in /repo/.sops.yaml (did you mean creation_rules?)',
    );
    rejects(`stores:\n  yml:\n    indent: 2\n`, 'unknown key yml in stores of /repo/.sops.yaml (did you mean yaml?)');
    rejects(`stores:\n  yaml:\n    indnt: 2\n`, 'unknown key indnt in stores.yaml', 'did you mean indent?');
    rejects(
      `destination_rules:\n  - s3_buckt: b\n`,
      'unknown key s3_buckt in destination_rules[0]',
      'did you mean s3_bucket?',
    );
    rejects(
      `destination_rules:\n  - s3_bucket: b\n    recreation_rule:\n      pgpp: x\n`,
      'unknown key pgpp in destination_rules[0].recreation_rule',
      'did you mean pgp?',
    );
  });

  it('wrong types', () => {
    rejects(
      'creation_rules:\n  path_regex: x\n',
      'invalid creation_rules in /repo/.sops.yaml: expected a list, got a map',
    );
    rejects('- a\n- b\n', 'expected a map with creation_rules, got a list');
    rejects('creation_rules:\n  - just a string\n', 'creation_rules[0] of /repo/.sops.yaml must be a map');
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n    shamir_threshold: "2"\n`,
      'invalid shamir_threshold in creation_rules[0] of /repo/.sops.yaml: expected an integer, got the string "2"',
    );
    rejects(`creation_rules:\n  - age: ${AGE1}\n    shamir_threshold: 1.5\n`, 'expected an integer');
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n    mac_only_encrypted: maybe\n`,
      'invalid mac_only_encrypted in creation_rules[0]',
      'expected true or false',
    );
    rejects(
      `creation_rules:\n  - path_regex: [a, b]\n`,
      'invalid path_regex in creation_rules[0]',
      'expected a string, got a list',
    );
    rejects(
      `creation_rules:\n  - pgp: 1234567890123456789012345678901234567890\n`,
      'invalid pgp in creation_rules[0]',
      'got the number 1234567890123456789012345678901234567890',
      'quote it',
    );
    rejects(`creation_rules:\n  - age: [${AGE1}, 42]\n`, 'invalid age[1] in creation_rules[0]', 'quote it');
    rejects(
      `creation_rules:\n  - kms:\n      arn: arn:aws:kms:us-east-1:1:key/x\n      role: r\n`,
      'invalid kms in creation_rules[0]',
      'under key_groups',
    );
    rejects(
      `creation_rules:\n  - kms:\n      - arn: arn:aws:kms:us-east-1:1:key/x\n`,
      'creation_rules[0].kms[0]',
      'under key_groups',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      age: [${AGE1}]\n`,
      'invalid key_groups in creation_rules[0]',
      'expected a list of key groups',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - age: ${AGE1}\n`,
      'invalid age in creation_rules[0].key_groups[0]',
      'expected a list',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - kms: [arn:aws:kms:us-east-1:1:key/x]\n`,
      'creation_rules[0].key_groups[0].kms[0] of /repo/.sops.yaml must be a map like {arn: ARN',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - kms: [{role: r}]\n`,
      'creation_rules[0].key_groups[0].kms[0] of /repo/.sops.yaml has no arn',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - gcp_kms: [{resource_id: nope}]\n`,
      'invalid resource_id in creation_rules[0].key_groups[0].gcp_kms[0]',
      'projects/PROJECT',
    );
    rejects(`stores:\n  yaml:\n    indent: -2\n`, 'invalid indent in stores.yaml', 'too small');
    rejects(`stores:\n  json:\n    indent: two\n`, 'invalid indent in stores.json', 'expected an integer');
    rejects(
      `destination_rules:\n  - vault_path: p\n    vault_kv_version: 3\n`,
      'invalid vault_kv_version in destination_rules[0]',
      'expected 1 or 2',
    );
  });

  it('invalid key identifiers name the rule, the setting and the identifier', () => {
    rejects(`creation_rules:\n  - age: ${AGE1.slice(0, -1)}x\n`, 'invalid age in creation_rules[0]', 'bad checksum');
    rejects(`creation_rules:\n  - age: ${FP1}\n`, 'invalid age in creation_rules[0]', 'expected age1');
    rejects(
      `creation_rules:\n  - azure_keyvault: https://v.vault.azure.net/k/name\n`,
      'invalid azure_keyvault in creation_rules[0]',
      'https://VAULT.vault.azure.net/keys/NAME[/VERSION]',
    );
    rejects(
      `creation_rules:\n  - hc_vault_transit_uri: vault.me/keys/dev/mykey\n`,
      'invalid hc_vault_transit_uri in creation_rules[0]',
      'missing scheme',
    );
    rejects(
      `creation_rules:\n  - key_groups:\n      - hc_vault: [http://127.0.0.1:12121/v1/keys/dev]\n`,
      'invalid hc_vault[0] in creation_rules[0].key_groups[0]',
      '/v1/ENGINE/keys/NAME',
    );
    rejects(`creation_rules:\n  - gcp_kms: projects/p/keyRings/r\n`, 'invalid gcp_kms in creation_rules[0]');
  });

  it('mutually exclusive settings', () => {
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n  - age: ${AGE1}\n    unencrypted_suffix: _u\n    encrypted_suffix: _e\n`,
      'conflicting settings in creation_rules[1] of /repo/.sops.yaml: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule (found unencrypted_suffix and encrypted_suffix)',
    );
    rejects(
      `creation_rules:\n  - unencrypted_regex: a\n    encrypted_regex: b\n`,
      'found unencrypted_regex and encrypted_regex',
    );
    rejects(
      `creation_rules:\n  - unencrypted_comment_regex: a\n    encrypted_comment_regex: b\n`,
      'found unencrypted_comment_regex and encrypted_comment_regex',
    );
    rejects(
      `creation_rules:\n  - encrypted_suffix: a\n    encrypted_comment_regex: b\n`,
      'found encrypted_suffix and encrypted_comment_regex',
    );
    rejects(
      `creation_rules:\n  - pgp: ${FP1}\n    key_groups:\n      - age: [${AGE1}]\n`,
      'conflicting settings in creation_rules[0] of /repo/.sops.yaml: both key_groups and pgp are set',
      'move them into a key group',
    );
    rejects(
      `creation_rules:\n  - aws_profile: p\n    key_groups:\n      - age: [${AGE1}]\n`,
      'both key_groups and aws_profile',
    );
    rejects(
      `destination_rules:\n  - s3_bucket: a\n    vault_path: b\n`,
      'conflicting settings in destination_rules[0]',
      'more than one destination (s3_bucket, vault_path)',
    );
  });

  it('invalid regular expressions name the rule and the setting', () => {
    rejects(
      `creation_rules:\n  - age: ${AGE1}\n  - path_regex: "(unclosed"\n`,
      'invalid path_regex in creation_rules[1] of /repo/.sops.yaml: "(unclosed" is not a valid regular expression',
    );
    rejects(
      `creation_rules:\n  - encrypted_regex: "^(?=data)"\n`,
      'invalid encrypted_regex in creation_rules[0]',
      'error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    );
    rejects(
      `creation_rules:\n  - unencrypted_comment_regex: "[a"\n`,
      'invalid unencrypted_comment_regex in creation_rules[0]',
      'missing closing ]',
    );
    rejects(`destination_rules:\n  - path_regex: "a)"\n`, 'invalid path_regex in destination_rules[0]');
  });

  it('shamir_threshold larger than the number of key groups, negative, or empty groups', () => {
    rejects(
      `creation_rules:\n  - shamir_threshold: 3\n    key_groups:\n      - age: [${AGE1}]\n      - pgp: [${FP1}]\n`,
      'shamir_threshold 3 in creation_rules[0] of /repo/.sops.yaml is larger than the number of key groups (2)',
    );
    rejects(`creation_rules:\n  - shamir_threshold: 2\n    pgp: ${FP1}\n`, 'larger than the number of key groups (1)');
    rejects(`creation_rules:\n  - shamir_threshold: -1\n    pgp: ${FP1}\n`, 'invalid shamir_threshold', 'negative');
    rejects(
      `creation_rules:\n  - key_groups:\n      - age: [${AGE1}]\n      - {}\n`,
      'creation_rules[0].key_groups[1] of /repo/.sops.yaml has no keys',
    );
    // equal to the number of groups is fine
    assert.equal(
      parse(
        `creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [${AGE1}]\n      - pgp: [${FP1}]\n`,
      ).creationRules[0]!.shamirThreshold,
      2,
    );
  });
});

describe('leniency like sops: only the rule that applies matters', () => {
  // The shape of sops's own functional-test config: rules for other files with problems, a
  // destination rule with a key sops does not know, a catch-all rule last.
  const suiteLike = `creation_rules:
  - path_regex: two_groups.yaml
    key_groups:
      - pgp: [${FP1}]
      - pgp: [${FP2}]
  - path_regex: no_keys.yaml
  - path_regex: zero_groups.yaml
    key_groups: []
  - path_regex: empty_group.yaml
    key_groups:
      - {}
  - path_regex: bad_age.yaml
    age: age1notarecipient
  - path_regex: typo.yaml
    input_type: yaml
    pgp: ${FP1}
  - pgp: ${FP1}
destination_rules:
  - s3_bucket: bucket
    path_regex: publish.json
    reencryption_rule:
      pgp: ${FP2}
`;

  it('a problem in a rule that does not apply never stops a command', () => {
    const warnings: string[] = [];
    const cfg = parseConfig(suiteLike, CFG, { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [], 'nothing about rules not used');
    const other = matchRule(cfg, '/repo/other.yaml');
    assert.equal(other?.index, 6);
    assert.deepEqual(ruleToEncryptionSettings(other.rule).keyGroups, [[{ type: 'pgp', fp: FP1, enc: '' }]]);
    assert.equal(ruleToEncryptionSettings(matchRule(cfg, '/repo/two_groups.yaml')!.rule).keyGroups.length, 2);
    assert.deepEqual(warnings, []);
  });

  it("the matching rule's problems fail as sops fails them", () => {
    const cfg = parse(suiteLike);
    for (const f of ['no_keys.yaml', 'zero_groups.yaml', 'empty_group.yaml']) {
      const m = matchRule(cfg, `/repo/${f}`);
      assert.ok(m, f);
      assert.throws(
        () => ruleToEncryptionSettings(m.rule),
        (e: unknown) =>
          e instanceof SopsError &&
          e.code === ExitCode.ErrorGeneric &&
          e.message === 'Could not generate data key: [empty key group provided]',
        f,
      );
    }
    assert.throws(
      () => matchRule(cfg, '/repo/bad_age.yaml'),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorReadingConfig &&
        /invalid age in creation_rules\[4\] of \/repo\/\.sops\.yaml/.test(e.message),
    );
  });

  it('unknown keys are ignored with one warning naming file, place and the closest key, when their rule is used', () => {
    const warnings: string[] = [];
    const cfg = parseConfig(suiteLike, CFG, { warn: (m) => warnings.push(m) });
    const m = matchRule(cfg, '/repo/typo.yaml');
    assert.deepEqual(ruleToEncryptionSettings(m!.rule).keyGroups, [[{ type: 'pgp', fp: FP1, enc: '' }]]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /^unknown key input_type in creation_rules\[5\] of \/repo\/\.sops\.yaml \(known keys: path_regex, .*\); sops ignores it/,
    );
    matchRule(cfg, '/repo/typo.yaml');
    assert.equal(warnings.length, 1, 'once per rule');
    const d = matchDestinationRule(cfg, 'publish.json');
    assert.equal(d?.index, 0);
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[1]!,
      /^unknown key reencryption_rule in destination_rules\[0\] of \/repo\/\.sops\.yaml \(did you mean recreation_rule\?\)/,
    );
  });

  it('a rule left without path_regex by a typo is warned about loudly, whenever the file is read', () => {
    const warnings: string[] = [];
    const cfg = parseConfig(
      `creation_rules:\n  - path_regx: ^prod/\n    pgp: ${FP1}\n  - path_regex: ^dev/\n    pgp: ${FP2}\n`,
      CFG,
      { warn: (m) => warnings.push(m) },
    );
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /creation_rules\[0\] of \/repo\/\.sops\.yaml has no path_regex, so it matches EVERY file .*did you mean path_regex instead of path_regx\?/,
    );
    assert.equal(matchRule(cfg, '/repo/dev/x.yaml')?.index, 0, 'as sops: the rule matches every file');
    // and a typo of a top-level key
    const top: string[] = [];
    parseConfig(`creation_rule:\n  - pgp: ${FP1}\n`, CFG, { warn: (m) => top.push(m) });
    assert.deepEqual(top, [
      'unknown key creation_rule in /repo/.sops.yaml (did you mean creation_rules?); sops ignores it, and so does tsops',
    ]);
  });

  it('a path_regex that does not compile fails when matching reaches it, as sops', () => {
    const cfg = parse(
      `creation_rules:\n  - path_regex: ^a\n    pgp: ${FP1}\n  - path_regex: "(unclosed"\n    pgp: ${FP1}\n  - pgp: ${FP2}\n`,
    );
    assert.equal(matchRule(cfg, 'a.yaml', { cwd: '/repo' })?.index, 0);
    assert.throws(
      () => matchRule(cfg, 'b.yaml', { cwd: '/repo' }),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorReadingConfig &&
        /invalid path_regex in creation_rules\[1\]/.test(e.message),
    );
  });

  it('keys both at the top of a rule and in key_groups: the top-level ones are ignored, as sops, with a warning', () => {
    const warnings: string[] = [];
    const cfg = parseConfig(
      `creation_rules:\n  - pgp: ${FP1}\n    age: not-a-recipient\n    key_groups:\n      - pgp: [${FP2}]\n`,
      CFG,
      { warn: (m) => warnings.push(m) },
    );
    const m = matchRule(cfg, '/repo/x.yaml')!;
    assert.deepEqual(ruleToEncryptionSettings(m.rule).keyGroups, [[{ type: 'pgp', fp: FP2, enc: '' }]]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /both key_groups and age, pgp are set; sops ignores the rule's top-level keys/);
  });

  it('strict mode (TSOPS_STRICT_CONFIG=1) turns every warning and every rule problem into an error', () => {
    for (const text of [
      suiteLike,
      `creation_rules:\n  - pgp: ${FP1}\n    input_type: yaml\n`,
      `creation_rules:\n  - path_regex: x\n    key_groups: [{}]\n  - pgp: ${FP1}\n`,
    ]) {
      assert.doesNotThrow(() => parse(text));
      assert.throws(
        () => parseConfig(text, CFG, { strict: true }),
        (e: unknown) =>
          e instanceof SopsError && e.code === ExitCode.ErrorReadingConfig && /TSOPS_STRICT_CONFIG/.test(e.message),
      );
    }
    assert.doesNotThrow(() =>
      parseConfig(`creation_rules:\n  - path_regex: x\n    pgp: ${FP1}\n`, CFG, { strict: true }),
    );
    assert.equal(strictFromEnv({ TSOPS_STRICT_CONFIG: '1' }), true);
    assert.equal(strictFromEnv({ TSOPS_STRICT_CONFIG: 'true' }), true);
    assert.equal(strictFromEnv({ TSOPS_STRICT_CONFIG: '0' }), false);
    assert.equal(strictFromEnv({ TSOPS_STRICT_CONFIG: '' }), false);
    assert.equal(strictFromEnv({}), false);
    const base = tree({ '.sops.yaml': `creation_rules:\n  - pgp: ${FP1}\n    input_type: yaml\n` });
    const saved = process.env['TSOPS_STRICT_CONFIG'];
    process.env['TSOPS_STRICT_CONFIG'] = '1';
    try {
      assert.throws(() => loadConfig(join(base, '.sops.yaml'), { warn: () => {} }), /unknown key input_type/);
    } finally {
      if (saved === undefined) delete process.env['TSOPS_STRICT_CONFIG'];
      else process.env['TSOPS_STRICT_CONFIG'] = saved;
    }
    assert.doesNotThrow(() => loadConfig(join(base, '.sops.yaml'), { warn: () => {} }));
  });

  it('checkConfig lists every problem of every rule, in file order', () => {
    const base = tree({
      '.sops.yaml': suiteLike.replace(
        '  - pgp: ' + FP1 + '\ndestination',
        `  - pgp: ${FP1}\n  - path_regex: never\n    pgp: ${FP1}\n  - path_regex: x\n    shamir_threshold: 1\n    key_groups: [{pgp: [${FP1}]}, {pgp: [${FP2}]}]\ndestination`,
      ),
    });
    const problems = checkConfig(join(base, '.sops.yaml'));
    const lines = problems.map((p) => `${p.severity}: ${p.message}`);
    const expect = [
      /^error: creation_rules\[3\]\.key_groups\[0\] of .* has no keys/,
      /^error: invalid age in creation_rules\[4\]/,
      /^warning: unknown key input_type in creation_rules\[5\]/,
      /^error: shamir_threshold 1 in creation_rules\[8\] .* with 2 key groups: .*threshold must be at least 2.*put all the keys in one key group/,
      /^warning: unknown key reencryption_rule in destination_rules\[0\]/,
      /^warning: creation_rules\[7\] of .* and the rules after it can never apply: creation_rules\[6\] .* has no path_regex/,
    ];
    assert.equal(lines.length, expect.length, lines.join('\n'));
    expect.forEach((re, i) => assert.match(lines[i]!, re));
    assert.deepEqual(
      checkConfig(join(tree({ '.sops.yaml': `creation_rules:\n  - path_regex: x\n    pgp: ${FP1}\n` }), '.sops.yaml')),
      [],
    );
  });
});

describe('Shamir thresholds', () => {
  it("refuses what sops's Shamir split refuses, teaching the one-group way for a threshold of 1", () => {
    assert.equal(shamirSplitProblem(1, 0), undefined);
    assert.equal(shamirSplitProblem(1, 5), undefined, 'one group: nothing is split');
    assert.equal(shamirSplitProblem(2, 0), undefined, '0 = all groups');
    assert.equal(shamirSplitProblem(3, 2), undefined);
    assert.equal(shamirSplitProblem(2, 1), 'threshold must be at least 2');
    assert.equal(shamirSplitProblem(2, 3), 'parts cannot be less than threshold');
    assert.throws(
      () => checkShamirThreshold(3, 1),
      (e: unknown) =>
        e instanceof SopsError &&
        e.code === ExitCode.ErrorGeneric &&
        e.message.startsWith(
          'Could not generate data key: [could not split data key into parts for Shamir: threshold must be at least 2]',
        ) &&
        /put all the keys in one key group/.test(e.message),
    );
    assert.doesNotThrow(() => checkShamirThreshold(3, 2));
  });

  it('--shamir-secret-sharing-threshold is parsed once, as Go parses an int flag (base prefixes, sign, underscores); 0 is "not given"', () => {
    const ok: Array<[string, number | undefined]> = [
      ['2', 2],
      ['0x10', 16],
      ['0X10', 16],
      ['010', 8],
      ['0o10', 8],
      ['0b11', 3],
      ['1_0', 10],
      ['0x_1f', 31],
      ['0_7', 7],
      ['+3', 3],
      ['-1', -1],
      ['0', undefined],
      ['00', undefined],
    ];
    for (const [text, n] of ok) assert.equal(parseThresholdFlag(text), n, text);
    assert.equal(parseThresholdFlag(undefined), undefined);
    for (const bad of ['', 'x', '1.5', ' 2', '2 ', '08', '0x', '1__0', '_1', '1_', '0b2', '--1', '1e3']) {
      assert.equal(parseGoInt(bad), undefined, bad);
      assert.throws(
        () => parseThresholdFlag(bad),
        (e: unknown) =>
          e instanceof SopsError &&
          e.code === ExitCode.ErrorGeneric &&
          e.message.startsWith(
            `invalid value ${JSON.stringify(bad)} for flag --shamir-secret-sharing-threshold: parse error`,
          ),
        bad,
      );
    }
    assert.throws(() => parseThresholdFlag('0x7fffffffffffffffff'), /value out of range/);
  });
});

describe('indentation (stores: and --indent), looked up once', () => {
  it('storesIndent: yaml, json, and json_binary for binary files; nothing for dotenv/ini', () => {
    const cfg = parse('stores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n  json_binary:\n    indent: 0\n');
    assert.equal(storesIndent(cfg, 'yaml'), 2);
    assert.equal(storesIndent(cfg, 'json'), 3);
    assert.equal(storesIndent(cfg, 'binary'), 0);
    assert.equal(storesIndent(cfg, 'dotenv'), undefined);
    assert.equal(storesIndent(parse(''), 'yaml'), undefined);
    assert.equal(storesIndent(undefined, 'yaml'), undefined);
  });
  it('indentFor: --indent first, else the config that applies to the file (or --config), else nothing', () => {
    const base = tree({
      '.sops.yaml': 'stores:\n  yaml:\n    indent: 2\n',
      'sub/.sops.yaml': 'stores:\n  json:\n    indent: 6\n',
      'sub/x/': '',
    });
    assert.equal(indentFor('yaml', { path: 'a.yaml', cwd: base }), 2);
    assert.equal(indentFor('yaml', { path: 'a.yaml', cwd: base, flag: 5 }), 5);
    assert.equal(indentFor('json', { path: 'sub/x/a.json', cwd: base }), 6, 'the nearest config to the file');
    assert.equal(indentFor('yaml', { path: 'sub/x/a.yaml', cwd: base }), undefined);
    assert.equal(indentFor('yaml', { path: 'sub/x/a.yaml', cwd: base, config: '.sops.yaml' }), 2);
    assert.equal(indentFor('yaml', { path: 'a.yaml', cwd: base, config: 'missing.yaml' }), undefined);
    assert.equal(indentFor('dotenv', { path: 'a.env', cwd: base }), undefined);
  });
});

// ---------------------------------------------------------------------------------------------

describe('key identifiers (src/keys/identity.ts)', () => {
  it('age: bech32 checked like age itself, for X25519, post-quantum and SSH recipients', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await age.identityToRecipient(await age.generateIdentity());
      assert.equal(ageRecipientProblem(r), undefined, r);
      const flipped = r.slice(0, 10) + (r[10] === 'q' ? 'p' : 'q') + r.slice(11);
      assert.notEqual(ageRecipientProblem(flipped), undefined, flipped);
      assert.throws(() => new age.Encrypter().addRecipient(flipped));
    }
    const pq = await age.identityToRecipient(await age.generateHybridIdentity());
    assert.match(pq, /^age1pq1/);
    assert.equal(ageRecipientProblem(pq), undefined);
    assert.equal(
      ageRecipientProblem('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9AbvSfnsWzpb6OhLuEvGZhu0MKUwP3nGu4jBFjwAEI me@host'),
      undefined,
    );
    assert.match(
      ageRecipientProblem('AGE1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun') ?? '',
      /mixed upper and lower case/,
    );
    assert.deepEqual(parseAgeRecipients(` ${AGE1} ,,`), [{ type: 'age', recipient: AGE1, enc: '' }]);
  });

  it('pgp: spaces removed', () => {
    assert.deepEqual(parsePgpFingerprints('85D7 7543 B3D6 24B6 3CEA 9E6D BC17 301B 491B 3F21, x'), [
      { type: 'pgp', fp: '85D77543B3D624B63CEA9E6DBC17301B491B3F21', enc: '' },
      { type: 'pgp', fp: 'x', enc: '' },
    ]);
  });

  it('kms: role split at +arn: (any partition), context and profile attached', () => {
    assert.deepEqual(
      parseKmsArn('arn:aws-us-gov:kms:us-gov-west-1:1:key/k+arn:aws-us-gov:iam::1:role/r', { a: 'b' }, 'p'),
      {
        type: 'kms',
        arn: 'arn:aws-us-gov:kms:us-gov-west-1:1:key/k',
        role: 'arn:aws-us-gov:iam::1:role/r',
        context: { a: 'b' },
        awsProfile: 'p',
        enc: '',
      },
    );
    assert.equal(parseKmsArns('a, b,').length, 2);
    assert.equal(kmsArnRegion('arn:aws:kms:eu-central-1:361527076523:key/cb1fab90'), 'eu-central-1');
    assert.equal(kmsArnRegion('arn:aws-cn:kms:cn-north-1:1:alias/x'), 'cn-north-1');
    assert.throws(() => kmsArnRegion('arn1'), /invalid AWS KMS ARN "arn1"/);
    assert.deepEqual(parseEncryptionContext('Environment:production,Role:web-server'), {
      Environment: 'production',
      Role: 'web-server',
    });
    assert.equal(parseEncryptionContext(''), undefined);
    assert.throws(
      () => parseEncryptionContext('a:b:c'),
      (e: unknown) => e instanceof SopsError && e.code === ExitCode.ErrorInvalidKMSEncryptionContextFormat,
    );
  });

  it('azure: version optional', () => {
    assert.deepEqual(
      parseAzureKeyUrl(' https://test.vault.azure.net/keys/test-key/a2a690a4fcc04166b739da342a912c90 '),
      {
        type: 'azure_kv',
        vaultUrl: 'https://test.vault.azure.net',
        name: 'test-key',
        version: 'a2a690a4fcc04166b739da342a912c90',
        enc: '',
      },
    );
    assert.equal(parseAzureKeyUrl('https://test.vault.azure.net/keys/test-key/').version, '');
    assert.equal(parseAzureKeyUrl('https://test.vault.azure.net/keys/test-key').version, '');
    assert.throws(() => parseAzureKeyUrl('http://test.vault.azure.net/keys/k/v'));
    assert.throws(() => parseAzureKeyUrl('https://test.vault.azure.net/keys/k/v/extra'));
  });

  it("vault: sops's own examples", () => {
    assert.deepEqual(parseVaultUri('https://vault.example.com:8200/v1/transit/keys/keyName'), {
      type: 'hc_vault',
      vaultAddress: 'https://vault.example.com:8200',
      enginePath: 'transit',
      keyName: 'keyName',
      enc: '',
    });
    assert.equal(
      parseVaultUri('https://vault.me.com/v1/super42/bestmarket/keys/slig').enginePath,
      'super42/bestmarket',
    );
    assert.equal(
      parseVaultUris(
        'https://vault.example.com:8200/v1/transit/keys/keyName,,https://vault.me.com/v1/super42/bestmarket/keys/slig',
      ).length,
      2,
    );
    for (const bad of [
      'vault.me/keys/dev/mykey',
      'http://127.0.0.1:12121/v1/keys/dev',
      'tcp://127.0.0.1:12121/v1/keys/dev',
      'https://h/prefix/v1/transit/keys/k',
    ]) {
      assert.throws(() => parseVaultUri(bad), SopsError, bad);
    }
  });

  it('gcp: resource ID shape', () => {
    assert.equal(
      parseGcpKmsId('projects/p/locations/l/keyRings/r/cryptoKeys/k').resourceId,
      'projects/p/locations/l/keyRings/r/cryptoKeys/k',
    );
    // sops refuses a version suffix when it uses the key; the key service code and this parser share one check
    assert.throws(
      () => parseGcpKmsId('projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1'),
      /projects\/PROJECT/,
    );
    assert.throws(() => parseGcpKmsId('projects/p/cryptoKeys/k'), /projects\/PROJECT/);
  });
});

describe('Go regular expressions', () => {
  const cases: Array<[string, string, boolean]> = [
    ['(?i)\\.YAML$', 'a.yaml', true],
    ['\\A[[:alpha:]]+\\z', 'abc', true],
    ['\\A[[:alpha:]]+\\z', 'ab1', false],
    ['^a{', 'a{b', true],
    ['\\Qa.b\\E$', 'xa.b', true],
    ['\\Qa.b\\E$', 'xaxb', false],
    ['(?P<env>dev|prod)/', 'x/prod/y', true],
    ['[]a]+$', 'a]', true],
    ['\\pL\\p{Greek}', 'xλ', true],
    ['a\\-b\\:c', 'a-b:c', true],
    ['^\\s$', '\v', false],
    ['\\x{1F600}', '😀', true],
    ['\\101', 'A', true],
    ['.', '\n', false],
    ['(?s).', '\n', true],
    ['(?m)^b', 'a\nb', true],
    ['^b', 'a\nb', false],
  ];
  it('translates RE2 syntax to the same meaning', () => {
    for (const [re, input, expected] of cases)
      assert.equal(goRegExp(re).test(input), expected, `${re} on ${JSON.stringify(input)}`);
  });
  it('refuses what RE2 refuses, with its message', () => {
    for (const re of ['a(?=b)', '(a)\\1', 'a(?<!b)', '\\C', '\\Z', '[a', 'a{2,1}', 'a**', 'a{1001}']) {
      assert.throws(() => goRegExp(re), /^GoRegexError: error parsing regexp: /, re);
      assert.throws(
        () => goRegExp(re),
        (e: unknown) =>
          e instanceof Error && e.name === 'GoRegexError' && e.message.startsWith('error parsing regexp: '),
        re,
      );
    }
  });
  it('accepts the RE2 the old translation refused: flag groups, flags mid-pattern, (?U), negated POSIX classes', () => {
    // behaviour change (issue 10): these were refused before re2js
    const more: Array<[string, string, boolean]> = [
      ['(?i:pass)', 'db_PASSWORD', true],
      ['x(?i)y', 'xY', true],
      ['x(?i)y', 'XY', false],
      ['(?U)a+', 'aa', true],
      ['^[[:^alpha:]]+$', '123', true],
      ['^[[:^alpha:]]+$', '12a', false],
    ];
    for (const [re, input, expected] of more)
      assert.equal(goRegExp(re).test(input), expected, `${re} on ${JSON.stringify(input)}`);
  });
});

describe('suggestions', () => {
  it('finds close names only', () => {
    assert.equal(closest('path_regx', ['path_regex', 'pgp']), 'path_regex');
    assert.equal(closest('PGP', ['path_regex', 'pgp']), 'pgp');
    assert.equal(closest('keys', ['creation_rules', 'destination_rules', 'stores']), undefined);
  });
});
