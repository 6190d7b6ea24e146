/**
 * Whole-file operations: open an encrypted file (recover the data key, decrypt, verify the MAC) and
 * seal a plaintext tree (encrypt, MAC, wrap the data key, emit). The CLI commands and the library
 * API are thin layers over these.
 */
import { randomBytes } from 'node:crypto';
import { decryptParsed, encryptValue, parseEncrypted } from '../aes/cipher.js';
import {
  DecryptionError,
  DumpError,
  EmptyFileError,
  EncryptionError,
  FileError,
  KeyRetrievalError,
  MacMismatchError,
  MetadataNotFoundError,
  ReadError,
  SopsError,
  messageOf,
  withPrefix,
} from '../errors.js';
import type { KeyContext, KeyGroup, KeyServices, KeyType } from '../keys/types.js';
import {
  SOPS_FORMAT_VERSION,
  formatTimestamp,
  macAad,
  metadataToPlain,
  parseMetadata,
  type Metadata,
} from '../metadata/metadata.js';
import { storeFor } from '../stores/index.js';
import type { Format, Store, StoreOptions } from '../stores/types.js';
import { resolveScope, type Scope } from '../scope/scope.js';
import { decryptTree, encryptTree, IvStash } from '../tree/crypt.js';
import type { Tree } from '../tree/types.js';
import { getAtPath, type PathComponent } from '../tree/path.js';
import type { DataKeyCache } from './datakey-cache.js';
import { defaultContext, recoverDataKey, wrapDataKey } from './datakey.js';

export interface CommonOptions {
  /** Environment for key sources (identities, credentials). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
  /** Name of the file, for messages. */
  filename?: string;
  /**
   * The key services that wrap and unwrap the data key (local keys and/or remote `keyservice`
   * servers). Default: from SOPS_KEYSERVICE / SOPS_ENABLE_LOCAL_KEYSERVICE of `env`.
   */
  keyServices?: KeyServices;
}

export interface OpenOptions extends CommonOptions {
  format: Format;
  ignoreMac?: boolean;
  /** Key types to try first, in order (default: age, pgp). */
  decryptionOrder?: KeyType[];
  storeOptions?: StoreOptions;
  /**
   * Remember every value's IV for re-encryption (edit, set; default true). A plain decrypt turns
   * it off: it costs time and memory on large files.
   */
  trackIvs?: boolean;
  /** Recover the data key through this cache (one call over many files; see datakey-cache.ts). */
  dataKeys?: DataKeyCache;
}

/** An encrypted file, opened: its plaintext tree, metadata and data key. */
export interface OpenedFile {
  tree: Tree;
  metadata: Metadata;
  dataKey: Buffer;
  /** The IV of every value as read, so unchanged values can keep their ciphertext. */
  stash: IvStash;
  store: Store;
}

export function keyContext(o: CommonOptions): KeyContext {
  const ctx = defaultContext(o.env ?? process.env);
  if (o.log) ctx.log = o.log;
  if (o.keyServices) ctx.keyServices = o.keyServices;
  return ctx;
}

function named(o: CommonOptions, msg: string): string {
  return o.filename ? `${o.filename}: ${msg}` : msg;
}

/**
 * A file's bytes, or a function that reads them. Given a function, `openEncrypted` holds the bytes
 * only while it needs them (for a store without a full syntax check, until they are parsed), so a
 * large file's bytes are not kept alive beside its parsed text during the decryption.
 */
export type FileInput = Buffer | (() => Buffer);

/** Parse an encrypted file into its (still encrypted) tree and metadata. */
export async function loadEncrypted(
  data: Buffer,
  o: OpenOptions,
): Promise<{ tree: Tree; metadata: Metadata; store: Store }> {
  const store = await storeFor(o.format, o.storeOptions);
  return { ...parseWith(store, data, o), store };
}

function parseWith(store: Store, data: Buffer, o: OpenOptions): { tree: Tree; metadata: Metadata; check?: () => void } {
  let loaded;
  try {
    loaded = store.loadEncrypted(data);
  } catch (e) {
    syntaxCheck(store, data, o);
    if (e instanceof SopsError) throw e.rephrased(named(o, e.message));
    throw new FileError(named(o, `could not parse the ${o.format} file: ${messageOf(e)}`), undefined, { cause: e });
  }
  if (loaded.metadata === undefined) {
    syntaxCheck(store, data, o);
    throw new MetadataNotFoundError(
      named(
        o,
        'sops metadata not found: the file is not encrypted with sops (or its type is not ' +
          o.format +
          '; see --input-type)',
      ),
    );
  }
  let metadata: Metadata;
  try {
    metadata = parseMetadata(loaded.metadata);
  } catch (e) {
    throw withPrefix(o.filename, e, (m, c) => new ReadError(m, c));
  }
  return loaded.check ? { tree: loaded.tree, metadata, check: loaded.check } : { tree: loaded.tree, metadata };
}

/**
 * A store's full syntax check (see Store.check; `check` when loadEncrypted gave one): throws the
 * syntax error, naming the file, if there is one.
 */
function syntaxCheck(store: Store, data: Buffer | undefined, o: CommonOptions, check?: () => void): void {
  if (!data && !check) return;
  try {
    if (check) check();
    else store.check?.(data!);
  } catch (e) {
    throw new FileError(named(o, `could not parse the ${store.format} file: ${messageOf(e)}`), undefined, { cause: e });
  }
}

/** Decrypt and verify an encrypted file. */
export async function openEncrypted(input: FileInput, o: OpenOptions): Promise<OpenedFile> {
  const store = await storeFor(o.format, o.storeOptions);
  let data: Buffer | undefined = typeof input === 'function' ? input() : input;
  const { tree, metadata, check } = parseWith(store, data, o);
  // (the store's full check, after a failure below, is the only later use of the bytes; a store
  // that checks the text it parsed needs them no more)
  if (!store.check || check) data = undefined;
  let dataKey: Buffer;
  try {
    const recover = () => recoverDataKey(metadata, keyContext(o), o.decryptionOrder);
    dataKey = await (o.dataKeys ? o.dataKeys.get(metadata, recover) : recover());
  } catch (e) {
    throw withPrefix(o.filename, e, (m, c) => new KeyRetrievalError(m, c));
  }
  const stash = new IvStash();
  let computed: string;
  try {
    computed = decryptTree(tree, dataKey, metadata.scope, o.trackIvs === false ? undefined : stash);
  } catch (e) {
    syntaxCheck(store, data, o, check);
    throw withPrefix(o.filename, e, (m, c) => new DecryptionError(m, c));
  }
  if (!o.ignoreMac) {
    try {
      verifyMac(metadata, dataKey, computed, o);
    } catch (e) {
      syntaxCheck(store, data, o, check);
      throw e;
    }
  }
  return { tree, metadata, dataKey, stash, store };
}

function verifyMac(m: Metadata, dataKey: Buffer, computed: string, o: CommonOptions): void {
  if (!m.mac) {
    throw new MacMismatchError(
      named(o, 'the file has no MAC, so its integrity cannot be checked (use --ignore-mac to decrypt it anyway)'),
    );
  }
  let stored: string;
  try {
    stored = decryptParsed(parseEncrypted(m.mac), dataKey, macAad(m.lastModified)).toString('utf8');
  } catch (e) {
    // sops 3.13 (cmd/sops/common DecryptTree): a MAC that does not decrypt is a MAC mismatch
    throw new MacMismatchError(
      named(
        o,
        'could not decrypt the MAC: the mac or lastmodified value was changed (use --ignore-mac to decrypt anyway)',
      ),
      { cause: e },
    );
  }
  if (stored !== computed) {
    throw new MacMismatchError(
      named(
        o,
        'MAC mismatch: the file was changed outside sops (a value, key or its order differs from what was encrypted); use --ignore-mac to decrypt anyway',
      ),
    );
  }
}

export interface SealOptions extends CommonOptions {
  /** The data key to use (a new random one when absent). */
  dataKey?: Buffer;
  /** IVs of unchanged values to keep (with the same data key). */
  stash?: IvStash;
  /**
   * Skip wrapping: the metadata's key entries already hold this data key (edit/set with an
   * unchanged key set).
   */
  keepWrappedKeys?: boolean;
}

/**
 * Encrypt a plaintext tree in place and print it with its metadata. `metadata.keyGroups` name the
 * master keys; their `enc` is filled in unless `keepWrappedKeys`.
 */
export async function sealTree(tree: Tree, metadata: Metadata, store: Store, o: SealOptions): Promise<Buffer> {
  const dataKey = o.dataKey ?? randomBytes(32);
  if (!o.keepWrappedKeys) {
    try {
      await wrapDataKey(metadata, dataKey, keyContext(o));
    } catch (e) {
      throw withPrefix(o.filename, e, (m, c) => new KeyRetrievalError(m, c));
    }
  }
  let mac: string;
  try {
    mac = encryptTree(tree, dataKey, metadata.scope, o.stash);
  } catch (e) {
    throw withPrefix(o.filename, e, (m, c) => new EncryptionError(m, c));
  }
  metadata.lastModified = formatTimestamp(new Date());
  metadata.mac = encryptValue(mac, 'str', dataKey, macAad(metadata.lastModified));
  metadata.version = SOPS_FORMAT_VERSION;
  try {
    return store.emitEncrypted(tree, metadataToPlain(metadata));
  } catch (e) {
    throw new DumpError(named(o, `could not write the ${store.format} file: ${messageOf(e)}`), { cause: e });
  }
}

/** True when a plaintext tree already carries sops metadata (so encrypting it again is refused). */
export function hasSopsMetadata(tree: Tree, format: Format): boolean {
  const first = tree.docs[0];
  if (!first) return false;
  for (const it of first.items) {
    if (it.kind !== 'entry') continue;
    if (it.key === 'sops') return true;
    if (format === 'dotenv' && (it.key === 'sops_mac' || it.key === 'sops_version')) return true;
  }
  return false;
}

export interface EncryptSettings {
  keyGroups: KeyGroup[];
  shamirThreshold?: number;
  scope?: Scope;
}

/**
 * A new file's metadata for the given keys and scope: exactly one selector (sops's default, the
 * `_unencrypted` suffix, when none is given; two are refused with exit code 8, as sops).
 */
export function newMetadata(s: EncryptSettings): Metadata {
  const scope = resolveScope(s.scope ?? {});
  return {
    keyGroups: s.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' }))),
    shamirThreshold: s.shamirThreshold ?? 0,
    lastModified: '',
    mac: '',
    version: SOPS_FORMAT_VERSION,
    scope,
  };
}

/** Parse a plaintext file with a store, naming the file in errors. */
export async function loadPlain(
  data: Buffer,
  format: Format,
  o: CommonOptions & { storeOptions?: StoreOptions },
): Promise<{ tree: Tree; store: Store }> {
  const store = await storeFor(format, o.storeOptions);
  let tree: Tree;
  try {
    tree = store.loadPlain(data);
  } catch (e) {
    if (e instanceof SopsError) throw e.rephrased(named(o, e.message));
    throw new FileError(named(o, `could not parse the ${format} file: ${messageOf(e)}`), undefined, { cause: e });
  }
  // (an empty YAML file has no document: sops refuses to encrypt it)
  if (tree.docs.length === 0)
    throw new EmptyFileError('File cannot be completely empty, it must contain at least one document');
  return { tree, store };
}

/**
 * Print a decrypted tree, or only the part at `path` (`--extract`): a map prints as a file of the
 * output format, a string as its raw text (no newline, as sops), any other value as the store prints it.
 */
export function renderPlain(tree: Tree, store: Store, path: readonly PathComponent[] = []): Buffer {
  if (path.length === 0) return store.emitPlain(tree);
  const node = getAtPath(tree.docs[0]!, path);
  if (node.kind === 'map') return store.emitPlain({ docs: [node] });
  if (node.kind === 'scalar' && (node.type === 'str' || node.type === 'bytes'))
    return node.raw ?? Buffer.from(node.text, 'utf8');
  return store.emitValue(node);
}
