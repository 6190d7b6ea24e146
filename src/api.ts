/**
 * The library API: what a Node program imports to decrypt or encrypt sops files in-process.
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
import { hasSopsMetadata, loadPlain, newMetadata, openEncrypted, renderPlain, sealTree, type CommonOptions } from './file/file.js';

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

/** Decrypt a sops file's content to its plaintext bytes, as `tsops decrypt` prints them. */
export async function decryptBytes(input: string | Buffer, o: DecryptOptions = {}): Promise<Buffer> {
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
  const format = inputFormat(o);
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const { tree } = await loadPlain(data, format, { ...o, storeOptions: { indent: o.indent } });
  if (hasSopsMetadata(tree, format)) throw new SopsError('the file is already encrypted', ExitCode.FileAlreadyEncrypted);
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
