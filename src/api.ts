/**
 * The library API: what a Node program imports to work on sops files in-process — decrypt,
 * encrypt, and the operations the commands have (rotate, updatekeys, set/unset, groups).
 *
 * ```ts
 * import { decryptFile, decrypt, encrypt } from 'tsops';
 * const yaml = await decryptFile('secrets.enc.yaml');                 // plaintext, as `tsops decrypt` prints it
 * const data = await decryptData(text, { format: 'json' });         // plain JavaScript data
 * const enc = await encrypt('a: 1\n', { format: 'yaml', age: ['age1…'] });
 * ```
 */
import { readFile } from 'node:fs/promises';
import { ExitCode, SopsError } from './errors.js';
import type { KeyGroup, KeyType, MasterKey } from './keys/types.js';
import { formatFromPath, storeFor } from './stores/index.js';
import type { Format } from './stores/types.js';
import type { Scope } from './scope/scope.js';
import { parseTreePath, type PathComponent } from './tree/path.js';
import { toPlain, type Plain, type Tree } from './tree/types.js';
import {
  hasSopsMetadata,
  loadPlain,
  newMetadata,
  openEncrypted,
  renderPlain,
  sealTree,
  type CommonOptions,
} from './file/file.js';
import { addKeyGroup as addKeyGroupOp, deleteKeyGroup as deleteKeyGroupOp } from './ops/groups.js';
import { keysFromSpecs, type KeySpecs } from './ops/key-specs.js';
import { rotate as rotateData } from './ops/rotate.js';
import { setValue as setOp, unsetValue as unsetOp } from './ops/set.js';
import { updateKeys as updateKeysOp, type UpdatekeysOptions, type UpdatekeysResult } from './ops/updatekeys.js';
import { nodeFromJson } from './tree/mutate.js';
import { canDeepen, mayNestDeeply, runDeep } from './util/deep.js';

export interface DecryptOptions extends CommonOptions {
  /** Input format (default: from `filename`, else yaml). */
  format?: Format;
  /** Output format (default: the input format). */
  outputFormat?: Format;
  /** Decrypt even if the MAC does not match. */
  ignoreMac?: boolean;
  /** Only this part of the tree: `'["a"]["b"][0]'` or `['a', 'b', 0]`. */
  extract?: string | PathComponent[];
  /** Key types to try first (default: age, pgp). */
  decryptionOrder?: KeyType[];
  /** Indentation of YAML/JSON output. */
  indent?: number;
}

function inputFormat(o: { format?: Format; filename?: string }): Format {
  return o.format ?? (o.filename ? formatFromPath(o.filename) : 'yaml');
}

function bytes(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

async function decryptTreeOf(input: string | Buffer, o: DecryptOptions): Promise<{ tree: Tree; format: Format }> {
  const format = inputFormat(o);
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const opened = await openEncrypted(data, {
    trackIvs: false,
    ...o,
    format,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    storeOptions: { indent: o.indent },
  });
  return { tree: opened.tree, format };
}

/**
 * Whether to run on a large-stack worker thread: input that may nest deeply (see src/util/deep.ts),
 * when the options can cross threads (no callbacks).
 */
function deepens(input: string | Buffer, o: object): boolean {
  if (!mayNestDeeply(input) || !canDeepen()) return false;
  try {
    structuredClone(o);
    return true;
  } catch {
    return false;
  }
}

/** Bytes from a worker thread arrive as a plain Uint8Array. */
function asBuffer(input: string | Uint8Array): string | Buffer {
  return typeof input === 'string' || Buffer.isBuffer(input) ? input : Buffer.from(input);
}

/** Decrypt a sops file's content to its plaintext bytes, as `tsops decrypt` prints them. */
export async function decryptBytes(input: string | Buffer, o: DecryptOptions = {}): Promise<Buffer> {
  if (deepens(input, o)) return Buffer.from(await runDeep<Uint8Array>(import.meta.url, 'decryptBytes', [input, o]));
  input = asBuffer(input);
  const { tree, format } = await decryptTreeOf(input, o);
  const out = await storeFor(o.outputFormat ?? format, { indent: o.indent });
  const path = o.extract === undefined ? [] : typeof o.extract === 'string' ? parseTreePath(o.extract) : o.extract;
  return renderPlain(tree, out, path);
}

/** Decrypt a sops file's content to plaintext text. */
export async function decrypt(input: string | Buffer, o: DecryptOptions = {}): Promise<string> {
  return (await decryptBytes(input, o)).toString('utf8');
}

/** Decrypt a sops file on disk (format from its extension unless given). */
export async function decryptFile(path: string, o: DecryptOptions = {}): Promise<string> {
  return decrypt(await readFile(path), { filename: path, ...o });
}

/** Decrypt to plain JavaScript data (the first document; comments dropped). */
export async function decryptData(input: string | Buffer, o: DecryptOptions = {}): Promise<Plain> {
  const { tree } = await decryptTreeOf(input, o);
  return toPlain(tree.docs[0]!);
}

export interface EncryptOptions extends CommonOptions {
  format?: Format;
  outputFormat?: Format;
  /** age recipients (`age1…`, ssh public keys). */
  age?: string[];
  /** PGP fingerprints. */
  pgp?: string[];
  /** Key groups of any key types (instead of / besides `age` and `pgp`, which form one group with them). */
  keyGroups?: KeyGroup[];
  shamirThreshold?: number;
  scope?: Scope;
  indent?: number;
}

/** Encrypt a plaintext file's content; returns the encrypted file's text. */
export async function encrypt(input: string | Buffer, o: EncryptOptions): Promise<string> {
  if (deepens(input, o)) return runDeep<string>(import.meta.url, 'encrypt', [input, o]);
  input = asBuffer(input);
  const format = inputFormat(o);
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const { tree } = await loadPlain(data, format, { ...o, storeOptions: { indent: o.indent } });
  if (hasSopsMetadata(tree, format))
    throw new SopsError('the file is already encrypted', ExitCode.FileAlreadyEncrypted);
  const simple: MasterKey[] = [
    ...(o.age ?? []).map((recipient): MasterKey => ({ type: 'age', recipient, enc: '' })),
    ...(o.pgp ?? []).map((fp): MasterKey => ({ type: 'pgp', fp, enc: '' })),
  ];
  const groups: KeyGroup[] = o.keyGroups ? o.keyGroups.map((g) => [...g]) : [];
  if (simple.length) {
    if (groups.length) groups[0] = [...groups[0]!, ...simple];
    else groups.push(simple);
  }
  const metadata = newMetadata({ keyGroups: groups, shamirThreshold: o.shamirThreshold, scope: o.scope });
  const out = await storeFor(o.outputFormat ?? format, { indent: o.indent });
  return (await sealTree(tree, metadata, out, o)).toString('utf8');
}

// --- the operations the commands have: rotate, updatekeys, set/unset, groups -----------------------

/** Options shared by the operations on an encrypted file's content. */
export interface FileOperationOptions extends CommonOptions {
  /** The file's format (default: from `filename`, else yaml). */
  format?: Format;
  /** Output format (default: the input format). */
  outputFormat?: Format;
  /** Indentation of YAML/JSON output. */
  indent?: number;
  /** Key types to try first when recovering the data key (default: age, pgp). */
  decryptionOrder?: KeyType[];
}

/** Master keys by type, as the key flags take them: identifiers, or comma-separated lists of them. */
export type { KeySpecs } from './ops/key-specs.js';

export interface RotateOptions extends FileOperationOptions {
  /** Rotate even if the MAC does not match. */
  ignoreMac?: boolean;
  /** Master keys to add to the first key group (`--add-age` …). */
  add?: KeySpecs;
  /** Master keys to remove from every key group (`--rm-age` …). */
  remove?: KeySpecs;
  /** AWS KMS encryption context (`key:value,…`) and profile for the KMS keys of `add` / `remove`. */
  encryptionContext?: string;
  awsProfile?: string;
  /** Told about keys not added (already there) or not found (default: standard error). */
  warn?: (msg: string) => void;
}

/**
 * Give an encrypted file a new data key and encrypt every value again with it (`tsops rotate`),
 * optionally adding and removing master keys; returns the new encrypted file's text.
 */
export async function rotate(input: string | Buffer, o: RotateOptions = {}): Promise<string> {
  const kms = { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile };
  const changes =
    o.add || o.remove
      ? { add: await keysFromSpecs(o.add ?? {}, kms), remove: await keysFromSpecs(o.remove ?? {}, kms) }
      : undefined;
  const out = await rotateData(bytes(input), {
    format: inputFormat(o),
    outFormat: o.outputFormat,
    indent: o.indent,
    changes,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    env: o.env,
    log: o.log,
    filename: o.filename,
    warn: o.warn,
  });
  return out.toString('utf8');
}

/**
 * Bring the master keys of sops files in line with their `.sops.yaml` creation rule
 * (`tsops updatekeys`): the files (or folders searched for sops files) are changed in place. Pass
 * `yes: true` (or a `confirm` callback) to apply the changes; `dryRun` only lists them.
 */
export async function updateKeys(paths: string[], o: UpdatekeysOptions = {}): Promise<UpdatekeysResult> {
  return updateKeysOp(paths, o);
}
export type { UpdatekeysOptions, UpdatekeysResult, UpdateOutcome, UpdateStatus } from './ops/updatekeys.js';

export interface SetValueOptions extends FileOperationOptions {
  /** Change the file even if its MAC does not match. */
  ignoreMac?: boolean;
  /** The `.sops.yaml` whose `stores` indentation applies (default: looked up from `filename`). */
  config?: string;
}

function treePath(p: string | readonly PathComponent[]): readonly PathComponent[] {
  return typeof p === 'string' ? parseTreePath(p) : p;
}

/**
 * Set one value of an encrypted file (`tsops set`): `path` is `'["a"]["b"][0]'` or `['a', 'b', 0]`
 * (a missing key is created; the list length appends), `value` any JSON value. Every other value
 * keeps its ciphertext. Returns the new encrypted file's text (the input as it was when the value
 * is already there).
 */
export async function setValue(
  input: string | Buffer,
  path: string | readonly PathComponent[],
  value: unknown,
  o: SetValueOptions = {},
): Promise<string> {
  const json = JSON.stringify(value) as string | undefined; // undefined for undefined, functions, symbols
  if (json === undefined)
    throw new SopsError(`cannot set ${String(value)}: not a JSON value`, ExitCode.ErrorInvalidSetFormat);
  const out = await setOp(bytes(input), treePath(path), nodeFromJson(json), { ...setOptions(o), idempotent: true });
  return (out ?? bytes(input)).toString('utf8');
}

/**
 * Remove one key or list item of an encrypted file (`tsops unset`); returns the new encrypted
 * file's text. Nothing at the path is an error (a `PathNotFoundError`) unless `idempotent`.
 */
export async function unsetValue(
  input: string | Buffer,
  path: string | readonly PathComponent[],
  o: SetValueOptions & { idempotent?: boolean } = {},
): Promise<string> {
  const out = await unsetOp(bytes(input), treePath(path), { ...setOptions(o), idempotent: o.idempotent });
  return (out ?? bytes(input)).toString('utf8');
}

function setOptions(o: SetValueOptions) {
  return {
    format: inputFormat(o),
    outFormat: o.outputFormat,
    indent: o.indent,
    config: o.config,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    env: o.env,
    log: o.log,
    filename: o.filename,
  };
}

export interface KeyGroupOptions extends FileOperationOptions {
  /** The Shamir threshold to set (default: keep the file's). */
  shamirThreshold?: number;
  /** AWS KMS encryption context (`key:value,…`) and profile for the KMS keys of a new group. */
  encryptionContext?: string;
  awsProfile?: string;
}

function groupOptions(o: KeyGroupOptions) {
  return {
    format: inputFormat(o),
    outFormat: o.outputFormat,
    indent: o.indent,
    shamirThreshold: o.shamirThreshold,
    decryptionOrder: o.decryptionOrder,
    env: o.env,
    log: o.log,
    filename: o.filename,
  };
}

/**
 * Add a key group (`tsops groups add`): the same data key is split again, one share per group, and
 * each share wrapped for its group's keys. Needs enough of the file's keys to recover the data key.
 */
export async function addKeyGroup(
  input: string | Buffer,
  keys: KeySpecs | KeyGroup,
  o: KeyGroupOptions = {},
): Promise<string> {
  const group = Array.isArray(keys)
    ? keys
    : await keysFromSpecs(keys, { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile });
  return (await addKeyGroupOp(bytes(input), group, groupOptions(o))).toString('utf8');
}

/** Delete the key group at `index`, counting from 0 (`tsops groups delete`). */
export async function deleteKeyGroup(input: string | Buffer, index: number, o: KeyGroupOptions = {}): Promise<string> {
  return (await deleteKeyGroupOp(bytes(input), index, groupOptions(o))).toString('utf8');
}
