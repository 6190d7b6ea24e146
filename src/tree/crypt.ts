/**
 * Walking the tree: which values are encrypted (the scope settings), the additional data of each
 * value (its key path), encryption, decryption, and the MAC — all as sops does them.
 *
 * The walk mutates the tree in place, as sops's does: encrypting replaces every in-scope leaf by a
 * `str` scalar holding `ENC[...]` (and an in-scope comment by its encrypted text); decrypting does
 * the reverse.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { decryptParsed, encryptValue, parseEncrypted } from '../aes/cipher.js';
import { parseGoRfc3339 } from '../util/gotime.js';
import { ExitCode, SopsError } from '../errors.js';
import { compileScope, type CompiledScope, type Scope } from '../scope/scope.js';
import {
  floatValue,
  formatFloat,
  type Comment,
  type ListNode,
  type MapNode,
  type Node,
  type Scalar,
  type Tree,
} from './types.js';

/** SHA-256("sops"): the MAC's first input when only encrypted values are MACed. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

/**
 * IVs of values read from an existing version of a file, keyed by (path, type, plaintext): a value
 * encrypted again with the same data key, path and plaintext reuses its IV and so keeps its exact
 * ciphertext (minimal Git diffs). Only meaningful with the same data key.
 */
export class IvStash {
  private readonly ivs = new Map<string, Buffer>();
  private static key(aad: string, type: string, plain: Buffer): string {
    return `${aad}\u0000${type}\u0000${plain.toString('base64')}`;
  }
  put(aad: string, type: string, plain: Buffer, iv: Buffer): void {
    this.ivs.set(IvStash.key(aad, type, plain), iv);
  }
  get(aad: string, type: string, plain: Buffer): Buffer | undefined {
    return this.ivs.get(IvStash.key(aad, type, plain));
  }
  get size(): number {
    return this.ivs.size;
  }
}

/** sops's shouldBeEncrypted: the settings are applied in this order, later ones overriding. */
function shouldEncrypt(
  s: CompiledScope,
  path: readonly string[],
  comments: readonly string[][],
  isComment: boolean,
): boolean {
  let enc = true;
  if (s.unencryptedSuffix && path.some((k) => k.endsWith(s.unencryptedSuffix))) enc = false;
  if (s.encryptedSuffix) enc = path.some((k) => k.endsWith(s.encryptedSuffix));
  if (s.unencryptedRegex && path.some((k) => s.unencryptedRegex!.test(k))) enc = false;
  if (s.encryptedRegex) enc = path.some((k) => s.encryptedRegex!.test(k));
  if (s.unencryptedCommentRegex && comments.some((cs) => cs.some((c) => s.unencryptedCommentRegex!.test(c))))
    enc = false;
  if (s.encryptedCommentRegex) {
    enc = false;
    const last = comments.length - 1;
    outer: for (let i = 0; i < comments.length; i++) {
      const cs = comments[i]!;
      for (let j = 0; j < cs.length; j++) {
        // a comment that matches does not encrypt itself, only what follows it
        if (isComment && i === last && j === cs.length - 1) continue;
        if (s.encryptedCommentRegex.test(cs[j]!)) {
          enc = true;
          break outer;
        }
      }
    }
  }
  return enc;
}

/** The bytes sops hashes for a plaintext leaf (its ToBytes). */
export function macBytes(v: Scalar): Buffer {
  if (v.raw) return v.raw;
  switch (v.type) {
    case 'float':
      return Buffer.from(formatFloat(floatValue(v.text)));
    case 'bool':
      return Buffer.from(v.text === 'true' ? 'True' : 'False');
    default:
      return Buffer.from(v.text, 'utf8');
  }
}

/** Hash a leaf's MAC bytes (macBytes), text leaves without an intermediate Buffer. */
function macUpdate(hash: Hash, v: Scalar): void {
  if (v.raw || v.type === 'float' || v.type === 'bool') hash.update(macBytes(v));
  else hash.update(v.text, 'utf8');
}

/** The plaintext sops encrypts for a leaf, and the type tag it writes. */
function plaintextOf(v: Scalar): { bytes: Buffer; type: string } {
  switch (v.type) {
    case 'bool':
      return { bytes: Buffer.from(v.text === 'true' ? 'True' : 'False'), type: 'bool' };
    case 'bytes':
      return { bytes: v.raw ?? Buffer.from(v.text, 'utf8'), type: 'str' };
    case 'int64':
      return { bytes: Buffer.from(v.text), type: 'int' };
    default:
      return { bytes: v.raw ?? Buffer.from(v.text, 'utf8'), type: v.type };
  }
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);
const INT_RE = /^[+-]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const GO_FLOAT_RE = /^[+-]?(?:(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?|\d+\.|inf|infinity|nan)$/i;

/** Turn decrypted bytes of a sops type into a leaf, as sops's cipher does (Atoi, ParseFloat, ParseBool). */
function leafFromPlaintext(bytes: Buffer, type: string, path: readonly string[]): Scalar {
  const text = bytes.toString('utf8');
  const bad = (what: string) =>
    new SopsError(
      `the value at ${describePath(path)} decrypted to ${what}, which is not a valid ${type}`,
      ExitCode.ErrorDecryptingTree,
    );
  switch (type) {
    case 'str':
    case 'bytes':
      return isUtf8(bytes) ? { kind: 'scalar', type: 'str', text } : { kind: 'scalar', type: 'str', text, raw: bytes };
    case 'int':
    case 'int64': {
      if (!INT_RE.test(text)) throw bad('text');
      const n = BigInt(text);
      if (n < INT64_MIN || n > INT64_MAX) throw bad('an out-of-range number');
      return { kind: 'scalar', type: 'int', text: n.toString() };
    }
    case 'float': {
      if (!GO_FLOAT_RE.test(text)) throw bad('text');
      return { kind: 'scalar', type: 'float', text: text.replace(/_/g, '') };
    }
    case 'bool':
      if (GO_TRUE.has(text)) return { kind: 'scalar', type: 'bool', text: 'true' };
      if (GO_FALSE.has(text)) return { kind: 'scalar', type: 'bool', text: 'false' };
      throw bad('text');
    case 'time':
      // sops reads it with Time.UnmarshalText (RFC 3339)
      if (!parseGoRfc3339(text)) throw bad('text');
      return { kind: 'scalar', type: 'time', text };
    default:
      throw new SopsError(
        `the value at ${describePath(path)} has an unknown type ${JSON.stringify(type)}`,
        ExitCode.ErrorDecryptingTree,
      );
  }
}

export function pathAad(path: readonly string[]): string {
  return path.length ? path.join(':') + ':' : ':';
}

export function describePath(path: readonly string[]): string {
  return path.length ? path.map((p) => `[${JSON.stringify(p)}]`).join('') : 'the top level';
}

type Visitor = (leaf: Scalar | Comment, path: string[], comments: string[][]) => Scalar | Comment;

/**
 * Walk the items of a map or a list in document order with sops's comment stack: the comments
 * since the last value at this level are visible to the next one. `walkItem` walks a non-comment item.
 */
function walkItems<T extends { kind: string }>(
  items: Array<T | Comment>,
  path: string[],
  comments: string[][],
  visit: Visitor,
  walkItem: (it: T) => T,
): void {
  const level: string[] = [];
  comments.push(level);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (isComment(it)) {
      level.push(it.text);
      items[i] = visit(it, path, comments) as Comment;
      continue;
    }
    items[i] = walkItem(it);
    level.length = 0;
  }
  comments.pop();
}

function isComment(it: { kind: string }): it is Comment {
  return it.kind === 'comment';
}

function walkMap(m: MapNode, path: string[], comments: string[][], visit: Visitor): void {
  walkItems(m.items, path, comments, visit, (e) => {
    path.push(e.key);
    e.value = walkValue(e.value, path, comments, visit);
    path.pop();
    return e;
  });
}

function walkList(l: ListNode, path: string[], comments: string[][], visit: Visitor): void {
  walkItems(l.items, path, comments, visit, (n) => walkValue(n, path, comments, visit));
}

function walkValue(n: Node, path: string[], comments: string[][], visit: Visitor): Node {
  switch (n.kind) {
    case 'null':
      return n;
    case 'scalar':
      return visit(n, path, comments) as Scalar;
    case 'map':
      walkMap(n, path, comments, visit);
      return n;
    case 'list':
      walkList(n, path, comments, visit);
      return n;
  }
}

function newHash(scope: CompiledScope): Hash {
  const h = createHash('sha512');
  if (scope.macOnlyEncrypted) h.update(MAC_ONLY_ENCRYPTED_INIT);
  return h;
}

/**
 * One pass over a tree (encrypt or decrypt): what to do with an in-scope comment that is not empty,
 * with an in-scope value, and whether the MAC hashes the values before (`in`) or after (`out`) the
 * pass — always the plaintext.
 */
interface TreePass {
  macOf: 'in' | 'out';
  comment(leaf: Comment, path: string[]): Comment;
  value(leaf: Scalar, path: string[]): Scalar;
}

/** Run `pass` over every leaf and comment of the tree in `scope`; returns the MAC (uppercase hex SHA-512). */
function runPass(tree: Tree, scope: Scope, pass: TreePass): string {
  const s = compileScope(scope);
  const hash = newHash(s);
  const visit: Visitor = (leaf, path, comments) => {
    const enc = shouldEncrypt(s, path, comments, leaf.kind === 'comment');
    if (leaf.kind === 'comment') return !enc || leaf.text === '' ? leaf : pass.comment(leaf, path);
    const out = enc ? pass.value(leaf, path) : leaf;
    if (!s.macOnlyEncrypted || enc) macUpdate(hash, pass.macOf === 'in' ? leaf : out);
    return out;
  };
  for (const doc of tree.docs) walkMap(doc, [], [], visit);
  return hash.digest('hex').toUpperCase();
}

/**
 * Encrypt every in-scope value of the tree under `key`; returns the MAC (uppercase hex SHA-512) of
 * the plaintext. Values found in `stash` keep their IV.
 */
export function encryptTree(tree: Tree, key: Buffer, scope: Scope, stash?: IvStash): string {
  return runPass(tree, scope, {
    macOf: 'in',
    comment(leaf, path) {
      const aad = pathAad(path);
      const bytes = Buffer.from(leaf.text, 'utf8');
      return { ...leaf, text: encryptValue(bytes, 'comment', key, aad, stash?.get(aad, 'comment', bytes)) };
    },
    value(leaf, path) {
      const { bytes, type } = plaintextOf(leaf);
      if (bytes.length === 0 && type === 'str') return { kind: 'scalar', type: 'str', text: '' };
      const aad = pathAad(path);
      return { kind: 'scalar', type: 'str', text: encryptValue(bytes, type, key, aad, stash?.get(aad, type, bytes)) };
    },
  });
}

/** sops's warning for an in-scope comment that does not decrypt (sops.go), with where it is. */
export function possiblyUnencryptedComment(path: readonly string[]): string {
  return (
    'Found possibly unencrypted comment in file. This is to be expected if the file being decrypted was created ' +
    `with an older version of SOPS. (the comment in ${describePath(path)}, kept as it is)`
  );
}

/**
 * Decrypt every in-scope value of the tree; returns the MAC of the plaintext (to compare with the
 * stored one). With `stash`, every value's IV is remembered for re-encryption. An in-scope comment
 * that does not decrypt is kept as it stands, with sops's warning through `warn` (default: stderr).
 */
export function decryptTree(
  tree: Tree,
  key: Buffer,
  scope: Scope,
  stash?: IvStash,
  warn: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  return runPass(tree, scope, {
    macOf: 'out',
    comment(leaf, path) {
      // a comment that does not decrypt was written unencrypted (older sops) or was damaged: keep it
      // as it is, and warn as sops does
      try {
        const v = parseEncrypted(leaf.text);
        const aad = pathAad(path);
        const bytes = decryptParsed(v, key, aad);
        stash?.put(aad, 'comment', bytes, v.iv);
        return { ...leaf, text: bytes.toString('utf8') };
      } catch {
        warn(possiblyUnencryptedComment(path));
        return leaf;
      }
    },
    value(leaf, path) {
      if (leaf.type !== 'str') {
        throw new SopsError(
          `the value at ${describePath(path)} is not encrypted, but the file's settings say it should be`,
          ExitCode.ErrorDecryptingTree,
        );
      }
      if (leaf.text === '') return leaf;
      const aad = pathAad(path);
      const v = parseEncryptedAt(leaf.text, path);
      const bytes = decryptParsedAt(v, key, aad, path);
      const out = leafFromPlaintext(bytes, v.type, path);
      if (stash) {
        const p = plaintextOf(out);
        stash.put(aad, p.type, p.bytes, v.iv);
      }
      return out;
    },
  });
}

function parseEncryptedAt(text: string, path: string[]): ReturnType<typeof parseEncrypted> {
  try {
    return parseEncrypted(text);
  } catch {
    throw new SopsError(
      `the value at ${describePath(path)} is not an encrypted sops value`,
      ExitCode.ErrorDecryptingTree,
    );
  }
}

function decryptParsedAt(v: ReturnType<typeof parseEncrypted>, key: Buffer, aad: string, path: string[]): Buffer {
  try {
    return decryptParsed(v, key, aad);
  } catch {
    throw new SopsError(
      `could not decrypt the value at ${describePath(path)}: authentication failed (the value or its key path was changed, or the data key is wrong)`,
      ExitCode.ErrorDecryptingTree,
    );
  }
}

/**
 * The key paths of the values the scope says are encrypted but which do not hold an `ENC[…]` value
 * (a value pasted into an encrypted file), in file order; no key needed (`tsops check`). Values are
 * not shown: they may be secrets. (List positions are not part of a sops key path.)
 */
export function unencryptedValues(tree: Tree, scope: Scope): string[][] {
  const found: string[][] = [];
  runPass(tree, scope, {
    macOf: 'in',
    comment: (leaf) => leaf,
    value(leaf, path) {
      let ok = leaf.type === 'str' && leaf.text === '';
      if (!ok && leaf.type === 'str') {
        try {
          parseEncrypted(leaf.text);
          ok = true;
        } catch {
          ok = false;
        }
      }
      if (!ok) found.push([...path]);
      return leaf;
    },
  });
  return found;
}
