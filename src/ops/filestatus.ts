/**
 * Whether a file is encrypted with sops, as sops's `filestatus` decides it: it has sops metadata
 * with a `version` and a `mac`. Nothing is decrypted and no key is needed.
 */
import { parseMetadata } from '../metadata/metadata.js';
import { storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';

/** Whether `data` (a file of `format`) is encrypted with sops. Throws when it cannot be parsed. */
export async function isEncrypted(data: Buffer, format: Format): Promise<boolean> {
  const { metadata } = (await storeFor(format)).loadEncrypted(data);
  if (metadata === undefined) return false;
  const m = parseMetadata(metadata);
  return m.version !== '' && m.mac !== '';
}
