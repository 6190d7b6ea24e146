/**
 * Key identities across key types — the one place that says what a key *is*:
 *
 * - `keyId(k)`: the canonical identity; two entries are the same key exactly when their ids are
 *   equal. Every comparison (rotate's add/remove, updatekeys' diff, `.sops.yaml` de-duplication,
 *   data-key reuse) calls it.
 * - `keyString(k)`: the key as sops prints it (its `ToString`), for listings;
 *   `describeKey(k)`: `TYPE keyString`, for messages and `--verbose`.
 * - `matchesRemoval(spec, k)`: whether a `--rm-…` flag names `k`.
 *
 * Parsing each type's identifiers lives with the type (`./age/key.ts`, `./pgp/key.ts`,
 * `./kms/key.ts`, `./gcpkms/key.ts`, `./azkv/key.ts`, `./hcvault/key.ts`) and is re-exported here,
 * so callers (config, CLI, operations) import one module. Nothing here imports a key SDK.
 */
import type { MasterKey } from './types.js';
import { ageKeyId } from './age/key.js';
import { pgpKeyId } from './pgp/key.js';
import { kmsKeyId, kmsKeyString } from './kms/key.js';
import { gcpKmsKeyId } from './gcpkms/key.js';
import { azureKeyId, azureKeyUrl, azureVaultId } from './azkv/key.js';
import { vaultKeyId } from './hcvault/key.js';

export { splitKeyList, parseAgeRecipient, parseAgeRecipients, ageRecipientProblem } from './age/key.js';
export { parsePgpFingerprint, parsePgpFingerprints } from './pgp/key.js';
export { parseKmsArn, parseKmsArns, parseEncryptionContext, kmsArnRegion } from './kms/key.js';
export { parseGcpKmsId, parseGcpKmsIds } from './gcpkms/key.js';
export { parseAzureKeyUrl, parseAzureKeyUrls } from './azkv/key.js';
export { parseVaultUri, parseVaultUris } from './hcvault/key.js';

/** The canonical identity of a key (never its wrapped data key). */
export function keyId(k: MasterKey): string {
  switch (k.type) {
    case 'age':
      return `age ${ageKeyId(k)}`;
    case 'pgp':
      return `pgp ${pgpKeyId(k)}`;
    case 'kms':
      return `kms ${kmsKeyId(k)}`;
    case 'gcp_kms':
      return `gcp_kms ${gcpKmsKeyId(k)}`;
    case 'azure_kv':
      return `azure_kv ${azureKeyId(k)}`;
    case 'hc_vault':
      return `hc_vault ${vaultKeyId(k)}`;
  }
}

/** Whether two entries are the same key. */
export function sameKey(a: MasterKey, b: MasterKey): boolean {
  return keyId(a) === keyId(b);
}

/** The key as sops prints it: recipient, fingerprint, `ARN[+ROLE]`, resource ID or URL. */
function plainString(k: MasterKey): string {
  switch (k.type) {
    case 'age':
      return k.recipient;
    case 'pgp':
      return k.fp;
    case 'kms':
      return kmsKeyString(k);
    case 'gcp_kms':
      return k.resourceId;
    case 'azure_kv':
      return azureKeyUrl(k);
    case 'hc_vault':
      return `${k.vaultAddress.replace(/\/+$/, '')}/v1/${k.enginePath}/keys/${k.keyName}`;
  }
}

/**
 * A key as sops prints it (its `ToString`). A KMS key's role, encryption context and AWS profile
 * are added in brackets when set (sops leaves them out, which hides a change of context).
 */
export function keyString(k: MasterKey): string {
  if (k.type !== 'kms') return plainString(k);
  const extra: string[] = [];
  if (k.role) extra.push(`role: ${k.role}`);
  if (k.context && Object.keys(k.context).length) {
    extra.push(`context: ${Object.keys(k.context).sort().map((c) => `${c}:${k.context![c]}`).join(',')}`);
  }
  if (k.awsProfile) extra.push(`profile: ${k.awsProfile}`);
  return extra.length ? `${k.arn} (${extra.join('; ')})` : k.arn;
}

/** A one-line description of a key for messages and `--verbose` (never secret): `TYPE KEY`. */
export function describeKey(k: MasterKey): string {
  return `${k.type} ${plainString(k)}`;
}

/**
 * Whether `k` (in a file) is the key a `--rm-…` flag names: as sops, by its identifier — a KMS key
 * by its ARN (and role when the flag gives one), an Azure key by vault and name (and version when
 * the flag gives one); every other type by `keyId`.
 */
export function matchesRemoval(spec: MasterKey, k: MasterKey): boolean {
  if (spec.type === 'kms' && k.type === 'kms') return k.arn === spec.arn && (!spec.role || k.role === spec.role);
  if (spec.type === 'azure_kv' && k.type === 'azure_kv') {
    return azureVaultId(k.vaultUrl) === azureVaultId(spec.vaultUrl) && k.name === spec.name && (!spec.version || k.version === spec.version);
  }
  return keyId(spec) === keyId(k);
}
