/**
 * Master keys named the way the commands take them (comma-separated identifiers per key type, as
 * the key flags and `.sops.yaml` give them), the one-line form sops prints a key in (`ToString`),
 * and when two keys are the same key (the last two from src/keys/identity.ts). Used by rotate,
 * updatekeys and groups.
 */
import type { MasterKey } from '../keys/types.js';

/** Comma-separated key identifiers per key type, as the key flags take them. */
export interface KeySpecs {
  age?: string | string[];
  pgp?: string | string[];
  kms?: string | string[];
  gcpKms?: string | string[];
  hckms?: string | string[];
  azureKv?: string | string[];
  hcVaultTransit?: string | string[];
}

function joined(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Master keys (with an empty `enc`) from key identifiers, checked as `.sops.yaml` keys are
 * (src/keys/identity.ts). `encryptionContext` (`key:value,…`) and `awsProfile` apply to the KMS keys.
 * Order: KMS, GCP KMS, HuaweiCloud KMS, Azure Key Vault, PGP, Vault, age — the order sops builds a
 * group in.
 */
export async function keysFromSpecs(
  specs: KeySpecs,
  kmsOptions: { encryptionContext?: string; awsProfile?: string } = {},
): Promise<MasterKey[]> {
  const ids = await import('../keys/identity.js');
  const keys: MasterKey[] = [];
  const kms = joined(specs.kms);
  if (kms) {
    const context = kmsOptions.encryptionContext ? ids.parseEncryptionContext(kmsOptions.encryptionContext) : undefined;
    keys.push(...ids.parseKmsArns(kms, context, kmsOptions.awsProfile));
  }
  keys.push(...ids.parseGcpKmsIds(joined(specs.gcpKms)));
  keys.push(...ids.parseHckmsKeyIds(joined(specs.hckms)));
  keys.push(...ids.parseAzureKeyUrls(joined(specs.azureKv)));
  keys.push(...ids.parsePgpFingerprints(joined(specs.pgp)));
  keys.push(...ids.parseVaultUris(joined(specs.hcVaultTransit)));
  keys.push(...ids.parseAgeRecipients(joined(specs.age)));
  return keys;
}

export { keyId, keyString, matchesRemoval } from '../keys/identity.js';
