/**
 * HuaweiCloud KMS key identifiers (`hckms`, sops 3.12+), as sops reads them (no Huawei SDK imported
 * here): `REGION:KEY_UUID`, e.g. `tr-west-1:1234abcd-…`; split at the first `:`, both parts trimmed
 * and non-empty (sops's `parseKeyID`); lists comma-separated, entries trimmed, empty entries skipped
 * (`NewMasterKeyFromKeyIDString`). sops stores the id as given (trimmed) in `key_id`.
 *
 * Identity: region and key UUID (so `tr-west-1 : K` and `tr-west-1:K` are the same key).
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { HckmsKey } from '../types.js';
import { splitKeyList, type KeyFieldReader } from '../age/key.js';

export const HCKMS_ID_FORM = 'REGION:KEY_UUID (e.g. tr-west-1:0d0466b0-e727-4d9c-b35d-f84bb474a37f)';

/** One `REGION:KEY_UUID`; throws a one-line SopsError (exit 1, as sops's parse error) when malformed. */
export function parseHckmsKeyId(spec: string): HckmsKey {
  const s = spec.trim();
  const at = s.indexOf(':');
  if (at < 0) {
    throw new SopsError(
      `invalid HuaweiCloud KMS key ID ${JSON.stringify(s)}: expected ${HCKMS_ID_FORM}`,
      ExitCode.ErrorGeneric,
    );
  }
  const region = s.slice(0, at).trim();
  const keyUuid = s.slice(at + 1).trim();
  if (region === '')
    throw new SopsError(
      `invalid HuaweiCloud KMS key ID ${JSON.stringify(s)}: the region is empty`,
      ExitCode.ErrorGeneric,
    );
  if (keyUuid === '')
    throw new SopsError(
      `invalid HuaweiCloud KMS key ID ${JSON.stringify(s)}: the key UUID is empty`,
      ExitCode.ErrorGeneric,
    );
  return { type: 'hckms', keyId: s, region, keyUuid, enc: '' };
}

/** Comma-separated key IDs (`--hckms`, SOPS_HUAWEICLOUD_KMS_IDS, a rule's `hckms:`). */
export function parseHckmsKeyIds(list: string): HckmsKey[] {
  return splitKeyList(list).map(parseHckmsKeyId);
}

/** What makes two HuaweiCloud KMS keys the same key: region and key UUID. */
export function hckmsKeyId(k: HckmsKey): string {
  return `${k.region}:${k.keyUuid}`;
}

/** An hckms entry's own field as sops writes it (`created_at` and `enc` are added by the metadata room). */
export function hckmsToMap(k: HckmsKey): Record<string, string> {
  return { key_id: k.keyId };
}

/** An hckms entry from its fields; a malformed `key_id` fails as sops fails to read it. */
export function hckmsFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): HckmsKey {
  const key = parseHckmsKeyId(r.str('key_id', true));
  return { ...key, enc, createdAt };
}
