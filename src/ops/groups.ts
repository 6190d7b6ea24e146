/**
 * Adding a key group to a sops file or deleting one, as sops's `groups add` / `groups delete`.
 *
 * With several key groups the data key is split with Shamir's secret sharing, one share per group,
 * `shamir_threshold` of them needed to decrypt. Changing the groups keeps the data key (and so
 * every value's ciphertext, the MAC and `lastmodified`), splits it into new shares for the new set
 * of groups and wraps each share for every key of its group. The data key is recovered first,
 * which needs enough groups' keys at hand.
 */
import { decryptParsed, parseEncrypted } from '../aes/cipher.js';
import { DumpError, KeyRetrievalError, MacDecryptionError, NoKeysError, SopsError, messageOf } from '../errors.js';
import { recoverDataKey, wrapDataKey } from '../file/datakey.js';
import { keyContext, loadEncrypted } from '../file/file.js';
import type { KeyGroup, KeyType } from '../keys/types.js';
import { macAad, metadataToPlain, type Metadata } from '../metadata/metadata.js';
import { storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { keyString } from './key-specs.js';
import { checkShamirThreshold } from '../shamir/threshold.js';

export interface GroupsOptions {
  /** The file's format. */
  format: Format;
  /** Output format (default: the input format). */
  outFormat?: Format;
  /** Indentation of YAML/JSON output. */
  indent?: number;
  /** The Shamir threshold to set (0 or absent: keep the file's). */
  shamirThreshold?: number;
  /** Key types to try first when recovering the data key (default: age, pgp). */
  decryptionOrder?: KeyType[];
  /** Environment for key sources (identities, credentials). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
  /** Name of the file, for messages. */
  filename?: string;
}

/** A file with a new set of key groups: the same data key, split and wrapped for the new groups. */
async function regroup(data: Buffer, o: GroupsOptions, change: (m: Metadata) => void): Promise<Buffer> {
  const log = o.log ?? (() => {});
  const name = o.filename ?? 'the file';
  const { tree, metadata } = await loadEncrypted(data, { format: o.format, filename: o.filename });
  // the new groups first (so a bad index or threshold is reported before any key is used)
  const next: Metadata = { ...metadata, keyGroups: metadata.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' }))) };
  change(next);
  checkShamirThreshold(next.keyGroups.length, next.shamirThreshold);
  const ctx = keyContext({ log, env: o.env });
  let dataKey: Buffer;
  try {
    dataKey = await recoverDataKey(metadata, ctx, o.decryptionOrder);
  } catch (e) {
    throw new KeyRetrievalError(`${name}: ${messageOf(e)}`, { cause: e });
  }
  if (metadata.mac) {
    try {
      decryptParsed(parseEncrypted(metadata.mac), dataKey, macAad(metadata.lastModified));
    } catch (e) {
      throw new MacDecryptionError(
        `${name}: the data key recovered from the master keys does not open this file (its MAC does not decrypt with it); nothing was changed`,
        { cause: e },
      );
    }
  }
  // a new split of the same data key, one share per group, each wrapped for its group's keys
  await wrapDataKey(next, dataKey, ctx);
  try {
    return (await storeFor(o.outFormat ?? o.format, { indent: o.indent })).emitEncrypted(tree, metadataToPlain(next));
  } catch (e) {
    throw new DumpError(`Could not marshal tree: ${messageOf(e)}`, { cause: e });
  }
}

/** A new key group needs at least one key. */
export function checkNewGroup(group: KeyGroup): void {
  if (group.length === 0) {
    throw new NoKeysError(
      'no keys given for the new group: use --age, --pgp, --kms, --gcp-kms, --hckms, --azure-kv or --hc-vault-transit',
    );
  }
}

/** Add a key group (its keys' `enc` is filled in); returns the new encrypted file. */
export async function addKeyGroup(data: Buffer, group: KeyGroup, o: GroupsOptions): Promise<Buffer> {
  checkNewGroup(group);
  const log = o.log ?? (() => {});
  const fresh = group.map((k) => ({ ...k, enc: '' }));
  return regroup(data, o, (m) => {
    m.keyGroups.push(fresh);
    if (o.shamirThreshold) m.shamirThreshold = o.shamirThreshold;
    log(`adding key group ${m.keyGroups.length - 1}: ${fresh.map(keyString).join(', ')}`);
  });
}

/** Delete the key group at `index` (counting from 0); returns the new encrypted file. */
export async function deleteKeyGroup(data: Buffer, index: number, o: GroupsOptions): Promise<Buffer> {
  return regroup(data, o, (m) => {
    if (index >= m.keyGroups.length) {
      throw new SopsError(
        `there is no key group ${index}: the file has ${m.keyGroups.length} key group${m.keyGroups.length === 1 ? '' : 's'}, numbered from 0`,
      );
    }
    if (m.keyGroups.length === 1)
      throw new SopsError('cannot delete the only key group: the file would have no master keys');
    m.keyGroups.splice(index, 1);
    if (o.shamirThreshold) m.shamirThreshold = o.shamirThreshold;
    if (m.keyGroups.length < m.shamirThreshold) {
      throw new SopsError(
        `removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is ${m.shamirThreshold}, but we only have ${m.keyGroups.length} key groups (lower it with --shamir-secret-sharing-threshold)`,
      );
    }
  });
}
