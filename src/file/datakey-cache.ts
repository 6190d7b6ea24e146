/**
 * Data keys recovered during one call over many files (`tsops decrypt -i a b c`, `rotate -i`,
 * `updatekeys`): a file whose wrapped data keys are exactly those of a file already opened has
 * the same data key, so it is not unwrapped again — one key-service round trip per distinct data
 * key. The cache lives in memory for one call only (never across calls, never on disk); a failure
 * is remembered too (the same wrapped keys fail the same way). Every file's MAC is still verified
 * with the key it gets.
 */
import type { Metadata } from '../metadata/metadata.js';
import { keyId } from '../keys/identity.js';

export class DataKeyCache {
  private readonly keys = new Map<string, Promise<Buffer>>();
  /** How many data keys were recovered through the key sources (not from the cache). */
  misses = 0;

  /** The wrapped form of a file's data key: every group's keys with their `enc`, and the threshold. */
  private static wrappedForm(m: Metadata): string {
    return JSON.stringify([m.shamirThreshold, m.keyGroups.map((g) => g.map((k) => [k.type, keyId(k), k.enc]))]);
  }

  /** The data key of `m`: from the cache, else from `recover` (once per distinct wrapped form). */
  async get(m: Metadata, recover: () => Promise<Buffer>): Promise<Buffer> {
    const form = DataKeyCache.wrappedForm(m);
    let p = this.keys.get(form);
    if (!p) {
      this.misses++;
      p = recover();
      this.keys.set(form, p);
    }
    return Buffer.from(await p); // (a copy: a caller may wipe its key)
  }
}
