/**
 * Which sops format an encrypted file is in, when its name may not say: Git hands its drivers
 * temporary files (`.merge_file_XXXXXX` for the merge driver; `git-blob-XXXXXX/NAME` for textconv),
 * and secrets files are often named `*.enc`, `*.sops` or nothing at all. The name's format (sops's
 * rule, src/stores/index.ts) is tried first, then the others, and the first one whose parse finds
 * sops metadata wins. Nothing is decrypted here and no key is needed.
 */
import { formatFromPath, storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';

/** The order the other formats are tried in (JSON before YAML: YAML reads JSON too). */
const CANDIDATES: readonly Format[] = ['json', 'yaml', 'dotenv', 'ini'];

/** True when `data` parses as `format` and carries a `sops` metadata section. */
async function hasMetadata(data: Buffer, format: Format): Promise<boolean> {
  try {
    return (await storeFor(format)).loadEncrypted(data).metadata !== undefined;
  } catch {
    return false;
  }
}

/**
 * The format of the sops-encrypted `data` (named `name`, when known), or undefined when it is not a
 * sops file in any format. A JSON file holding only `data` and `sops` is `binary` when the name
 * says nothing else (sops's binary store writes exactly that).
 */
export async function detectEncryptedFormat(data: Buffer, name?: string): Promise<Format | undefined> {
  const byName = name ? formatFromPath(name) : undefined;
  if (byName && (await hasMetadata(data, byName))) return byName;
  for (const f of CANDIDATES) {
    if (f === byName) continue;
    if (await hasMetadata(data, f)) {
      if (f === 'json' && byName !== 'json' && (await isBinaryShaped(data))) return 'binary';
      return f;
    }
  }
  return undefined;
}

/** A JSON sops file whose only value is `data`: what sops's binary store writes. */
async function isBinaryShaped(data: Buffer): Promise<boolean> {
  try {
    const { tree } = (await storeFor('json')).loadEncrypted(data);
    const doc = tree.docs[0];
    const keys = (doc?.items ?? []).flatMap((i) => (i.kind === 'entry' ? [i.key] : []));
    return keys.length === 1 && keys[0] === 'data';
  } catch {
    return false;
  }
}
