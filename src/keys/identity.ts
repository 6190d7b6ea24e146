/**
 * Key identities across key types — the one place that says what a key *is*:
 *
 * - `keyId(k)`: the canonical identity; two entries are the same key exactly when their ids are
 *   equal. Every comparison (rotate's add/remove, updatekeys' diff, `.sops.yaml` de-duplication,
 *   data-key reuse) calls it.
 * - `keyString(k)`: the key as sops prints it (its `ToString`), for listings;
 *   `describeKey(k)`: `TYPE keyString`, for messages and `--verbose`.
 * - `matchesRemoval(spec, k)`: whether a `--rm-…` flag names `k`.
 * - `keyToMap(k)` / `keyFromMap(type, …)`: the type's own fields of its entry in the file's `sops`
 *   metadata, in sops's field names (the metadata room adds `enc` and `created_at`).
 *
 * Parsing each type's identifiers lives with the type (`./age/key.ts`, `./pgp/key.ts`,
 * `./kms/key.ts`, `./gcpkms/key.ts`, `./azkv/key.ts`, `./hcvault/key.ts`, `./hckms/key.ts`) and is
 * re-exported here,
 * so callers (config, CLI, operations) import one module. Nothing here imports a key SDK.
 */
import type { KeyType, MasterKey, OtherKey } from './types.js';
import { ageFromMap, ageKeyId, ageToMap, type KeyFieldReader } from './age/key.js';
import { pgpFromMap, pgpKeyId, pgpToMap } from './pgp/key.js';
import { kmsFromMap, kmsKeyId, kmsKeyString, kmsToMap } from './kms/key.js';
import { gcpKmsFromMap, gcpKmsKeyId, gcpKmsToMap } from './gcpkms/key.js';
import { azureFromMap, azureKeyId, azureKeyUrl, azureToMap, azureVaultId } from './azkv/key.js';
import { vaultFromMap, vaultKeyId, vaultToMap } from './hcvault/key.js';
import { hckmsFromMap, hckmsKeyId, hckmsToMap } from './hckms/key.js';

export type { KeyFieldReader } from './age/key.js';
export { splitKeyList, parseAgeRecipient, parseAgeRecipients, ageRecipientProblem } from './age/key.js';
export { parsePgpFingerprint, parsePgpFingerprints } from './pgp/key.js';
export { parseKmsArn, parseKmsArns, parseEncryptionContext, kmsArnRegion } from './kms/key.js';
export { parseGcpKmsId, parseGcpKmsIds } from './gcpkms/key.js';
export { parseAzureKeyUrl, parseAzureKeyUrls, splitAzureKeyUrls } from './azkv/key.js';
export { parseVaultUri, parseVaultUris } from './hcvault/key.js';
export { parseHckmsKeyId, parseHckmsKeyIds, HCKMS_ID_FORM } from './hckms/key.js';

/** An unknown list's entry as a stable text: its fields without `enc` and `created_at`, keys sorted. */
function otherFields(k: OtherKey): string {
  const o: Record<string, unknown> = {};
  for (const f of Object.keys(k.fields).sort()) if (f !== 'enc' && f !== 'created_at') o[f] = k.fields[f];
  return JSON.stringify(o, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

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
    case 'hckms':
      return `hckms ${hckmsKeyId(k)}`;
    case 'other':
      return `other ${k.list} ${otherFields(k)}`;
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
    case 'hckms':
      return k.keyId;
    case 'other':
      return otherFields(k);
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
    extra.push(
      `context: ${Object.keys(k.context)
        .sort()
        .map((c) => `${c}:${k.context![c]}`)
        .join(',')}`,
    );
  }
  if (k.awsProfile) extra.push(`profile: ${k.awsProfile}`);
  return extra.length ? `${k.arn} (${extra.join('; ')})` : k.arn;
}

/** A one-line description of a key for messages and `--verbose` (never secret): `TYPE KEY`. */
export function describeKey(k: MasterKey): string {
  return `${k.type === 'other' ? k.list : k.type} ${plainString(k)}`;
}

/**
 * Whether `k` (in a file) is the key a `--rm-…` flag names: as sops, by its identifier — a KMS key
 * by its ARN (and role when the flag gives one), an Azure key by vault and name (and version when
 * the flag gives one); every other type by `keyId`.
 */
export function matchesRemoval(spec: MasterKey, k: MasterKey): boolean {
  if (spec.type === 'kms' && k.type === 'kms') return k.arn === spec.arn && (!spec.role || k.role === spec.role);
  if (spec.type === 'azure_kv' && k.type === 'azure_kv') {
    return (
      azureVaultId(k.vaultUrl) === azureVaultId(spec.vaultUrl) &&
      k.name === spec.name &&
      (!spec.version || k.version === spec.version)
    );
  }
  return keyId(spec) === keyId(k);
}

/** The key's own fields in its metadata entry, in sops's names (without `enc` and `created_at`). */
export function keyToMap(k: MasterKey): Record<string, string | Record<string, string>> {
  switch (k.type) {
    case 'age':
      return ageToMap(k);
    case 'pgp':
      return pgpToMap(k);
    case 'kms':
      return kmsToMap(k);
    case 'gcp_kms':
      return gcpKmsToMap(k);
    case 'azure_kv':
      return azureToMap(k);
    case 'hc_vault':
      return vaultToMap(k);
    case 'hckms':
      return hckmsToMap(k);
    case 'other': {
      // written back as read (see keyToPlain in the metadata room); here its scalar fields, for listings
      const out: Record<string, string> = {};
      for (const [f, v] of Object.entries(k.fields))
        if (f !== 'enc' && f !== 'created_at' && (typeof v === 'string' || typeof v === 'number')) out[f] = String(v);
      return out;
    }
  }
}

/** A key from its metadata entry's fields (`enc` and `created_at` read by the caller; age stores no date). */
export function keyFromMap(
  type: Exclude<KeyType, 'other'>,
  r: KeyFieldReader,
  enc: string,
  createdAt: string | undefined,
): MasterKey {
  switch (type) {
    case 'age':
      return ageFromMap(r, enc);
    case 'pgp':
      return pgpFromMap(r, enc, createdAt);
    case 'kms':
      return kmsFromMap(r, enc, createdAt);
    case 'gcp_kms':
      return gcpKmsFromMap(r, enc, createdAt);
    case 'azure_kv':
      return azureFromMap(r, enc, createdAt);
    case 'hc_vault':
      return vaultFromMap(r, enc, createdAt);
    case 'hckms':
      return hckmsFromMap(r, enc, createdAt);
  }
}
