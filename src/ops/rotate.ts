/**
 * Rotating a file's data key: decrypt the file, give it a new data key, and encrypt every value
 * again with it — optionally adding master keys to the first key group and removing master keys
 * from every group, as sops's `rotate` (`--add-…` / `--rm-…`) does.
 *
 * Rotation is what to do after removing someone's key: with a new data key, a removed key (or a
 * copy of the old data key) opens only the file's earlier versions.
 */
import { NoKeysError } from '../errors.js';
import type { KeyGroup, KeyType, MasterKey } from '../keys/types.js';
import type { DataKeyCache } from '../file/datakey-cache.js';
import { openEncrypted, sealTree } from '../file/file.js';
import { storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { keyId, keyString, matchesRemoval } from './key-specs.js';

export interface RotateKeyChanges {
  add: MasterKey[];
  remove: MasterKey[];
}

/**
 * Apply `--add-…` / `--rm-…` to key groups (in place), as sops: added keys go to the first group
 * (a key already there is not added twice), removed keys leave every group. A group left without
 * keys is dropped, and the Shamir threshold is capped at the number of groups left. Returns what
 * to tell the user.
 */
export function changeKeys(m: { keyGroups: KeyGroup[]; shamirThreshold: number }, changes: RotateKeyChanges): string[] {
  const notes: string[] = [];
  if (m.keyGroups.length === 0) m.keyGroups.push([]);
  for (const k of changes.add) {
    const first = m.keyGroups[0]!;
    if (first.some((x) => keyId(x) === keyId(k))) {
      notes.push(`${keyString(k)} is already a master key of the file; not added again`);
      continue;
    }
    first.push({ ...k, enc: '' });
  }
  for (const spec of changes.remove) {
    const count = m.keyGroups.flat().length;
    m.keyGroups = m.keyGroups.map((g) => g.filter((k) => !matchesRemoval(spec, k)));
    if (m.keyGroups.flat().length === count)
      notes.push(`${keyString(spec)} is not a master key of the file; nothing removed for it`);
  }
  const before = m.keyGroups.length;
  m.keyGroups = m.keyGroups.filter((g) => g.length > 0);
  if (m.keyGroups.length < before && m.keyGroups.length > 0) {
    notes.push(`${before - m.keyGroups.length} key group(s) had no keys left and were removed`);
  }
  if (m.keyGroups.length <= 1) m.shamirThreshold = 0;
  else if (m.shamirThreshold > m.keyGroups.length) m.shamirThreshold = m.keyGroups.length;
  return notes;
}

export interface RotateOptions {
  format: Format;
  outFormat?: Format;
  indent?: number;
  changes?: RotateKeyChanges;
  ignoreMac?: boolean;
  decryptionOrder?: KeyType[];
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
  filename?: string;
  /** Told about keys not added or not found (default: stderr). */
  warn?: (msg: string) => void;
  /** Recover the old data key through this cache (many files in one call). */
  dataKeys?: DataKeyCache;
}

/** Rotate the data key of an encrypted file: returns the new encrypted file. */
export async function rotate(data: Buffer, o: RotateOptions): Promise<Buffer> {
  const opened = await openEncrypted(data, {
    format: o.format,
    filename: o.filename,
    log: o.log,
    env: o.env,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    storeOptions: { indent: o.indent },
    dataKeys: o.dataKeys,
  });
  const m = opened.metadata;
  if (o.changes) {
    const notes = changeKeys(m, o.changes);
    for (const n of notes) (o.warn ?? ((s) => process.stderr.write(`${s}\n`)))(n);
    if (m.keyGroups.length === 0) {
      throw new NoKeysError(
        `${o.filename ? `${o.filename}: ` : ''}removing these keys would leave the file without master keys, so nobody could decrypt it`,
      );
    }
  }
  for (const g of m.keyGroups) for (const k of g) k.enc = '';
  const out = await storeFor(o.outFormat ?? o.format, { indent: o.indent });
  // no dataKey and no stash: a new random data key, every value (and comment) a new ciphertext
  return sealTree(opened.tree, m, out, { filename: o.filename, log: o.log, env: o.env });
}
