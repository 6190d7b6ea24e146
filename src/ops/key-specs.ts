/**
 * Master keys named the way the commands take them (comma-separated identifiers per key type, as
 * the key flags and `.sops.yaml` give them), the one-line form sops prints a key in (`ToString`),
 * and when two keys are the same key. Used by rotate, updatekeys and groups.
 */
import type { MasterKey } from '../keys/types.js';

/** Comma-separated key identifiers per key type, as the key flags take them. */
export interface KeySpecs {
  age?: string | string[];
  pgp?: string | string[];
  kms?: string | string[];
  gcpKms?: string | string[];
  azureKv?: string | string[];
  hcVaultTransit?: string | string[];
}

function joined(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Master keys (with an empty `enc`) from key identifiers, checked as `.sops.yaml` keys are
 * (src/config/keyids.ts). `encryptionContext` (`key:value,…`) and `awsProfile` apply to the KMS keys.
 * Order: KMS, GCP KMS, Azure Key Vault, PGP, Vault, age — the order sops builds a group in.
 */
export async function keysFromSpecs(specs: KeySpecs, kmsOptions: { encryptionContext?: string; awsProfile?: string } = {}): Promise<MasterKey[]> {
  const ids = await import('../config/keyids.js');
  const keys: MasterKey[] = [];
  const kms = joined(specs.kms);
  if (kms) {
    const context = kmsOptions.encryptionContext ? ids.parseEncryptionContext(kmsOptions.encryptionContext) : undefined;
    keys.push(...ids.parseKmsArns(kms, context, kmsOptions.awsProfile));
  }
  keys.push(...ids.parseGcpKmsIds(joined(specs.gcpKms)));
  keys.push(...ids.parseAzureKeyUrls(joined(specs.azureKv)));
  keys.push(...ids.parsePgpFingerprints(joined(specs.pgp)));
  keys.push(...ids.parseVaultUris(joined(specs.hcVaultTransit)));
  keys.push(...ids.parseAgeRecipients(joined(specs.age)));
  return keys;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/**
 * A key as sops prints it (its `ToString`): the age recipient, the PGP fingerprint, the KMS ARN,
 * the GCP resource ID, `VAULT_URL/keys/NAME/VERSION`, `VAULT_ADDRESS/v1/ENGINE/keys/NAME`. A KMS
 * key's role, encryption context and AWS profile are added in brackets when set (sops leaves them
 * out, which hides a change of context).
 */
export function keyString(k: MasterKey): string {
  switch (k.type) {
    case 'age':
      return k.recipient;
    case 'pgp':
      return k.fp;
    case 'kms': {
      const extra: string[] = [];
      if (k.role) extra.push(`role: ${k.role}`);
      if (k.context && Object.keys(k.context).length) {
        extra.push(`context: ${Object.keys(k.context).sort().map((c) => `${c}:${k.context![c]}`).join(',')}`);
      }
      if (k.awsProfile) extra.push(`profile: ${k.awsProfile}`);
      return extra.length ? `${k.arn} (${extra.join('; ')})` : k.arn;
    }
    case 'gcp_kms':
      return k.resourceId;
    case 'azure_kv':
      return `${trimSlash(k.vaultUrl)}/keys/${k.name}/${k.version}`;
    case 'hc_vault':
      return `${trimSlash(k.vaultAddress)}/v1/${k.enginePath}/keys/${k.keyName}`;
  }
}

/** What makes two keys the same key (never the wrapped data key): for comparing key sets. */
export function keyId(k: MasterKey): string {
  switch (k.type) {
    case 'pgp':
      return `pgp ${k.fp.replace(/\s+/g, '').toUpperCase()}`;
    case 'azure_kv':
      return `azure_kv ${trimSlash(k.vaultUrl).toLowerCase()}/keys/${k.name}/${k.version}`;
    case 'hc_vault':
      return `hc_vault ${trimSlash(k.vaultAddress)}/v1/${k.enginePath}/keys/${k.keyName}`;
    default:
      return `${k.type} ${keyString(k)}`;
  }
}

/**
 * Whether `k` (in a file) is the key a `--rm-…` flag names: as sops, by its identifier — a KMS key
 * by its ARN (and role when the flag gives one), an Azure key by vault and name (and version when
 * the flag gives one).
 */
export function matchesRemoval(spec: MasterKey, k: MasterKey): boolean {
  if (spec.type !== k.type) return false;
  switch (spec.type) {
    case 'kms': {
      const f = k as typeof spec;
      return f.arn === spec.arn && (!spec.role || f.role === spec.role);
    }
    case 'azure_kv': {
      const f = k as typeof spec;
      return (
        trimSlash(f.vaultUrl).toLowerCase() === trimSlash(spec.vaultUrl).toLowerCase() &&
        f.name === spec.name &&
        (!spec.version || f.version === spec.version)
      );
    }
    default:
      return keyId(spec) === keyId(k);
  }
}
