/**
 * GCP Cloud KMS key identifiers, as sops 3.x reads them (no Google SDK imported here): a CryptoKey
 * resource ID, `projects/P/locations/L/keyRings/R/cryptoKeys/K`, spaces removed; lists
 * comma-separated, empty entries skipped. sops checks the shape when the key is used (a
 * `/cryptoKeyVersions/V` suffix is refused there); tsops checks it when the key is read too.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { GcpKmsKey } from '../types.js';
import { splitKeyList, type KeyFieldReader } from '../age/key.js';

/** What sops accepts as a Cloud KMS key name. */
const RESOURCE_ID = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

export const GCP_KMS_ID_FORM = 'projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY';

/** Whether `id` is a CryptoKey resource ID (`projects/P/locations/L/keyRings/R/cryptoKeys/K`). */
export function isGcpKmsResourceId(id: string): boolean {
  return RESOURCE_ID.test(id);
}

/** A GCP KMS key resource ID (spaces removed, as sops). */
export function parseGcpKmsId(id: string): GcpKmsKey {
  const r = id.replace(/\s+/g, '');
  if (r === '') throw new SopsError('empty GCP KMS resource ID', ExitCode.ErrorGeneric);
  if (!isGcpKmsResourceId(r)) {
    throw new SopsError(
      `invalid GCP KMS resource ID ${JSON.stringify(r)}: expected ${GCP_KMS_ID_FORM}`,
      ExitCode.ErrorGeneric,
    );
  }
  return { type: 'gcp_kms', resourceId: r, enc: '' };
}

/** Comma-separated GCP KMS resource IDs (`--gcp-kms`, SOPS_GCP_KMS_IDS). */
export function parseGcpKmsIds(list: string): GcpKmsKey[] {
  return splitKeyList(list).map(parseGcpKmsId);
}

/** What makes two GCP KMS keys the same key: the resource ID. */
export function gcpKmsKeyId(k: GcpKmsKey): string {
  return k.resourceId;
}

/** A GCP KMS entry's fields as sops writes them. */
export function gcpKmsToMap(k: GcpKmsKey): Record<string, string> {
  return { resource_id: k.resourceId };
}

/** A GCP KMS entry from its fields. */
export function gcpKmsFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): GcpKmsKey {
  return { type: 'gcp_kms', resourceId: r.str('resource_id', true), enc, createdAt };
}
