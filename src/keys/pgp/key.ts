/**
 * PGP key identifiers, as sops 3.x reads them: a fingerprint, spaces removed (not otherwise
 * checked, as sops: gpg decides), stored as given; lists comma-separated, entries trimmed, empty
 * entries skipped. Two fingerprints are the same key when they match ignoring case and spaces.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { PgpKey } from '../types.js';
import { splitKeyList, type KeyFieldReader } from '../age/key.js';

/** One PGP fingerprint; spaces are removed (sops does the same). */
export function parsePgpFingerprint(fp: string): PgpKey {
  const f = fp.replace(/ /g, '').trim();
  if (f === '') throw new SopsError('empty PGP fingerprint', ExitCode.ErrorGeneric);
  return { type: 'pgp', fp: f, enc: '' };
}

/** Comma-separated PGP fingerprints (`--pgp`, SOPS_PGP_FP, `.sops.yaml`'s `pgp:`). */
export function parsePgpFingerprints(list: string): PgpKey[] {
  return splitKeyList(list).map(parsePgpFingerprint);
}

/** What makes two PGP keys the same key: the fingerprint, uppercase, without whitespace. */
export function pgpKeyId(k: PgpKey): string {
  return k.fp.replace(/\s+/g, '').toUpperCase();
}

/** A PGP entry's fields as sops writes them (`created_at`, `enc` added by the caller). */
export function pgpToMap(k: PgpKey): Record<string, string> {
  return { fp: k.fp };
}

/** A PGP entry from its fields. */
export function pgpFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): PgpKey {
  return { type: 'pgp', fp: r.str('fp', true), enc, createdAt };
}
