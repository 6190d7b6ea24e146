/**
 * Minimal Git diffs: re-encrypting a file with the data key of its previous version, so that every
 * value whose key path and plaintext did not change keeps its exact ciphertext (its IV is reused;
 * same key, IV, path and plaintext give the same bytes) and only changed values, `mac` and
 * `lastmodified` differ between commits. A changed value always gets a fresh random IV.
 *
 * What this reveals to someone reading the Git history: which values changed between two
 * versions (not their contents). `encrypt` starts from a new data key unless `--reuse-from` names
 * the previous version (an opt-in: see reuseFrom for the trust it implies); `rotate` always does.
 *
 * Key changes (`edit -s`): when the keys a file is encrypted for stay the same, the wrapped data keys
 * are kept as they are; when keys are only added, the same data key is wrapped for the new key set
 * (`encrypt --reuse-from` reuses only when the keys are exactly the same); when a
 * key is removed (or the groups or threshold change), the data key is NOT reused (whoever could open
 * the previous version knows it): the file gets a new data key and every value a new ciphertext.
 */
import type { KeyGroup, KeyType } from '../keys/types.js';
import { keyId } from '../keys/identity.js';
import type { Metadata } from '../metadata/metadata.js';
import type { Format, StoreOptions } from '../stores/types.js';
import { IvStash } from '../tree/crypt.js';
import { openEncrypted, type CommonOptions } from './file.js';

/**
 * A stash that hands out each IV at most once per encryption: two values never share an IV in the
 * file written, even if the file read (crafted or damaged) had repeated IVs.
 */
export class SingleUseIvStash extends IvStash {
  private readonly used = new Set<string>();
  constructor(private readonly inner: IvStash) {
    super();
  }
  override put(aad: string, type: string, plain: Buffer, iv: Buffer): void {
    this.inner.put(aad, type, plain, iv);
  }
  override get(aad: string, type: string, plain: Buffer): Buffer | undefined {
    const iv = this.inner.get(aad, type, plain);
    if (!iv) return undefined;
    const id = iv.toString('base64');
    if (this.used.has(id)) return undefined;
    this.used.add(id);
    return iv;
  }
  override get size(): number {
    return this.inner.size;
  }
}

/**
 * What to do with an existing data key when the keys change from `before` to `after`:
 * - `keep`: same groups, same keys, same threshold: keep the wrapped keys as they are;
 * - `rewrap`: keys were only added to groups (same number of groups, same threshold): wrap the same
 *   data key again for the new key set. Whoever could decrypt before still can, nobody else gains
 *   the old key's reach;
 * - `rotate`: anything else (a key removed, groups split or merged, threshold changed): whoever
 *   could open the previous version knows its data key, so the new version needs a new one.
 */
export function keyChange(
  before: { keyGroups: KeyGroup[]; shamirThreshold: number },
  after: { keyGroups: KeyGroup[]; shamirThreshold: number },
): 'keep' | 'rewrap' | 'rotate' {
  const groups = (gs: KeyGroup[]) => gs.filter((g) => g.length > 0).map((g) => [...new Set(g.map(keyId))].sort());
  const b = groups(before.keyGroups);
  const a = groups(after.keyGroups);
  const threshold = (t: number, n: number) => (n <= 1 ? 0 : t || n);
  if (
    a.length !== b.length ||
    threshold(before.shamirThreshold, b.length) !== threshold(after.shamirThreshold, a.length)
  )
    return 'rotate';
  let added = false;
  for (let i = 0; i < a.length; i++) {
    const now = new Set(a[i]);
    if (!b[i]!.every((id) => now.has(id))) return 'rotate';
    if (a[i]!.length !== b[i]!.length) added = true;
  }
  return added ? 'rewrap' : 'keep';
}

export interface ReuseOptions extends CommonOptions {
  format: Format;
  decryptionOrder?: KeyType[];
  storeOptions?: StoreOptions;
}

/** The parts of a previous version that a new encryption reuses. */
export interface Reuse {
  dataKey: Buffer;
  stash: IvStash;
  /** The metadata to seal with (keys to wrap, or already wrapped when `keepWrappedKeys`). */
  keyGroups: KeyGroup[];
  shamirThreshold: number;
  keepWrappedKeys: boolean;
}

/**
 * `encrypt --reuse-from OLD`, an explicit opt-in: open `previous` (MAC verified, never
 * `--ignore-mac`) and keep its data key and value IVs only when its key groups and threshold are
 * exactly the ones the new file gets. Whoever wrote `previous` chose its data key and can read
 * every value encrypted with it: the caller trusts that author, as `edit`/`set` trust the file
 * they change. Returns `why` (and no reuse) when the keys differ. Throws (a SopsError) when the
 * previous version cannot be opened.
 */
export async function reuseFrom(
  previous: Buffer,
  target: { keyGroups: KeyGroup[]; shamirThreshold: number },
  o: ReuseOptions,
): Promise<{ reuse?: Reuse; why?: string }> {
  const opened = await openEncrypted(previous, { ...o, ignoreMac: false });
  if (keyChange(opened.metadata, target) !== 'keep') {
    return { why: 'its key groups or threshold are not exactly the ones the new file gets' };
  }
  return { reuse: reuseOpened(opened.metadata, opened.dataKey, opened.stash, target, o.log) };
}

/** As `reuseFrom`, for a file already opened. */
export function reuseOpened(
  metadata: Metadata,
  dataKey: Buffer,
  stash: IvStash,
  target: { keyGroups: KeyGroup[]; shamirThreshold: number },
  log: (m: string) => void = () => {},
): Reuse | undefined {
  const change = keyChange(metadata, target);
  if (change === 'rotate') {
    log('the key set lost a key (or its groups or threshold changed): using a new data key, nothing is reused');
    return undefined;
  }
  if (change === 'keep') {
    log(`reusing the data key and ${stash.size} value IV(s) of the previous version; its wrapped keys are kept`);
    return {
      dataKey,
      stash: new SingleUseIvStash(stash),
      keyGroups: metadata.keyGroups,
      shamirThreshold: metadata.shamirThreshold,
      keepWrappedKeys: true,
    };
  }
  log(`reusing the data key and ${stash.size} value IV(s) of the previous version; wrapping it for the new key set`);
  return {
    dataKey,
    stash: new SingleUseIvStash(stash),
    keyGroups: target.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' }))),
    shamirThreshold: target.shamirThreshold,
    keepWrappedKeys: false,
  };
}

/** Apply a Reuse to new metadata (in place) and return the seal options it implies. */
export function applyReuse(
  metadata: Metadata,
  r: Reuse | undefined,
): { dataKey?: Buffer; stash?: IvStash; keepWrappedKeys?: boolean } {
  if (!r) return {};
  metadata.keyGroups = r.keyGroups;
  metadata.shamirThreshold = r.shamirThreshold;
  return { dataKey: r.dataKey, stash: r.stash, keepWrappedKeys: r.keepWrappedKeys };
}
