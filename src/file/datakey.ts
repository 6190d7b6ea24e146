/**
 * The data key: wrapping it for every master key (split across key groups with Shamir when there
 * are several), and recovering it from the keys the user holds.
 */
import { EncryptionError, KeyRetrievalError, MasterKeyError, NoKeysError, SopsError, messageOf } from '../errors.js';
import { unwrapKey, wrapKey } from '../keyservice/index.js';
import { KEY_TYPES, type KeyContext, type KeyGroup, type KeyType, type MasterKey } from '../keys/types.js';
import { describeKey } from '../keys/identity.js';
import type { Metadata } from '../metadata/metadata.js';
import { formatTimestamp } from '../metadata/metadata.js';
import { checkShamirThreshold } from '../shamir/threshold.js';
import { combineShares, splitKey } from '../shamir/shamir.js';

/** An error message that names its key once (a MasterKeyError already names it). */
function withKey(k: MasterKey, e: unknown): string {
  return e instanceof MasterKeyError ? e.message : `${describeKey(k)}: ${messageOf(e)}`;
}

/** The errors behind a failure, as one `cause`. */
function oneCause(causes: unknown[]): unknown {
  return causes.length === 1
    ? causes[0]
    : causes.length
      ? new AggregateError(causes, 'the master keys failed')
      : undefined;
}

export function defaultContext(env: NodeJS.ProcessEnv = process.env): KeyContext {
  return { env, log: () => {} };
}

/** Wrap `dataKey` with every key of every group (in place: sets `enc` and `createdAt`). */
export async function wrapDataKey(m: Metadata, dataKey: Buffer, ctx: KeyContext): Promise<void> {
  const groups = m.keyGroups.filter((g) => g.length > 0);
  if (groups.length === 0) {
    throw new NoKeysError(
      'no master keys were given: use --age, --pgp, --kms, --gcp-kms, --hckms, --azure-kv or --hc-vault-transit, or a .sops.yaml creation rule',
    );
  }
  m.keyGroups = groups;
  let parts: Buffer[];
  if (groups.length === 1) {
    parts = [dataKey];
  } else {
    checkShamirThreshold(groups.length, m.shamirThreshold);
    if (!m.shamirThreshold) m.shamirThreshold = groups.length;
    try {
      parts = await splitKey(dataKey, groups.length, m.shamirThreshold);
    } catch (e) {
      throw new EncryptionError(`could not split the data key: ${messageOf(e)}`, { cause: e });
    }
  }
  const now = formatTimestamp(new Date());
  const jobs: Promise<void>[] = [];
  const failures: string[] = [];
  const causes: unknown[] = [];
  groups.forEach((g, i) => {
    for (const k of g) {
      jobs.push(
        (async () => {
          try {
            ctx.log(`wrapping the data key${groups.length > 1 ? ` share ${i + 1}` : ''} with ${describeKey(k)}`);
            k.enc = await wrapKey(k, parts[i]!, ctx);
            if (k.type !== 'age') k.createdAt = now;
          } catch (e) {
            failures.push(withKey(k, e));
            causes.push(e);
          }
        })(),
      );
    }
  });
  await Promise.all(jobs);
  if (failures.length) {
    throw new KeyRetrievalError(
      `could not encrypt the data key with ${failures.length === 1 ? 'a master key' : 'some master keys'}: ${failures.join('; ')}`,
      { cause: oneCause(causes) },
    );
  }
}

/** Parse `--decryption-order` / SOPS_DECRYPTION_ORDER: comma-separated key types. */
export function parseDecryptionOrder(s: string | undefined): KeyType[] | undefined {
  if (!s || !s.trim()) return undefined;
  const out: KeyType[] = [];
  for (const raw of s.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    if (!(KEY_TYPES as readonly string[]).includes(t)) {
      throw new SopsError(
        `unknown key type ${JSON.stringify(t)} in the decryption order (known: ${KEY_TYPES.join(', ')})`,
      );
    }
    out.push(t as KeyType);
  }
  return out;
}

/** A group's keys in the order to try them: the decryption order first, others after, file order kept. */
function orderKeys(g: KeyGroup, order: readonly KeyType[]): MasterKey[] {
  const rank = (k: MasterKey) => {
    const i = order.indexOf(k.type);
    return i < 0 ? order.length : i;
  };
  return g
    .map((k, i) => ({ k, i }))
    .sort((a, b) => rank(a.k) - rank(b.k) || a.i - b.i)
    .map((x) => x.k);
}

/**
 * Recover the data key. Groups are opened concurrently; within a group the keys are tried one at a
 * time in the decryption order (offline keys first, as sops: age, then pgp) until one works; it
 * returns as soon as enough groups are open. On failure one message lists every key tried and why.
 */
export async function recoverDataKey(
  m: Metadata,
  ctx: KeyContext,
  order: readonly KeyType[] = ['age', 'pgp'],
): Promise<Buffer> {
  const groups = m.keyGroups;
  if (groups.length === 0 || groups.every((g) => g.length === 0)) {
    throw new KeyRetrievalError('the file lists no master keys, so its data key cannot be recovered');
  }
  const needed = groups.length === 1 ? 1 : m.shamirThreshold || groups.length;
  const errors: string[][] = groups.map(() => []);
  const causes: unknown[] = [];
  const shares: Buffer[] = [];
  let pending = groups.length;

  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      if (shares.length >= needed) {
        settled = true;
        if (groups.length === 1) {
          resolve(shares[0]!);
          return;
        }
        combineShares(shares.slice(0, needed)).then(resolve, (e: unknown) =>
          reject(new KeyRetrievalError(`could not combine the key shares: ${messageOf(e)}`, { cause: e })),
        );
      } else if (pending === 0) {
        settled = true;
        reject(
          new KeyRetrievalError(failureMessage(groups, errors, shares.length, needed), { cause: oneCause(causes) }),
        );
      }
    };
    groups.forEach((g, gi) => {
      // never rejects: every failure is caught per key and counted by finish()
      void (async () => {
        for (const k of orderKeys(g, order)) {
          if (settled) return;
          try {
            if (!k.enc) throw new Error('the file holds no encrypted data key for it');
            ctx.log(`trying ${describeKey(k)}`);
            const part = await unwrapKey(k, ctx);
            ctx.log(`data key ${groups.length > 1 ? `share of group ${gi + 1} ` : ''}recovered with ${describeKey(k)}`);
            shares.push(part);
            return;
          } catch (e) {
            errors[gi]!.push(withKey(k, e));
            causes.push(e);
          }
        }
      })().finally(() => {
        pending--;
        finish();
      });
    });
  });
}

function failureMessage(groups: KeyGroup[], errors: string[][], opened: number, needed: number): string {
  if (groups.length === 1) {
    return `could not decrypt the data key with any master key: ${errors[0]!.join('; ')}`;
  }
  const detail = errors
    .map((errs, i) => (errs.length ? `group ${i + 1}: ${errs.join('; ')}` : `group ${i + 1}: opened`))
    .join(' | ');
  return `could not decrypt the data key: ${opened} of ${groups.length} key groups opened, ${needed} needed (${detail})`;
}
