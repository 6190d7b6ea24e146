/**
 * Walking the tree: which values are encrypted (the scope settings), the additional data of each
 * value (its key path), encryption, decryption, and the MAC — all as sops does them.
 *
 * The walk mutates the tree in place, as sops's does: encrypting replaces every in-scope leaf by a
 * `str` scalar holding `ENC[...]` (and an in-scope comment by its encrypted text); decrypting does
 * the reverse.
 *
 * Encryption and decryption run in two phases over bounded chunks (tuning.chunk leaves): the walk queues
 * the leaves in document order, then the chunk's values go through the batched AES-GCM engine
 * (src/aes/gcm-batch.ts) at once, and the leaves are put back, MACed and checked in the same order:
 * the first failing value in document order is the one reported, as in a one-by-one walk.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { parseEncrypted } from '../aes/cipher.js';
import { decryptValues, encryptValues, GcmKey, Status, tuning, type PlainValue } from '../aes/gcm-batch.js';
import { parseGoRfc3339 } from '../util/gotime.js';
import { ExitCode, SopsError } from '../errors.js';
import { compileScope, type CompiledScope, type Scope } from '../scope/scope.js';
import {
  floatValue,
  formatFloat,
  type Comment,
  type ListNode,
  type MapEntry,
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

/**
 * The plaintext sops encrypts for a leaf (text as its UTF-8 bytes, or raw bytes), and the type tag
 * it writes.
 */
function plaintextOf(v: Scalar): { plain: string | Buffer; type: string } {
  switch (v.type) {
    case 'bool':
      return { plain: v.text === 'true' ? 'True' : 'False', type: 'bool' };
    case 'bytes':
      return { plain: v.raw ?? v.text, type: 'str' };
    case 'int64':
      return { plain: v.text, type: 'int' };
    default:
      return { plain: v.raw ?? v.text, type: v.type };
  }
}

function bytesOf(plain: string | Buffer): Buffer {
  return typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain;
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);
const INT_RE = /^[+-]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const GO_FLOAT_RE = /^[+-]?(?:(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?|\d+\.|inf|infinity|nan)$/i;

/**
 * Turn decrypted bytes (`buf[start..end)`) of a sops type into a leaf, as sops's cipher does (Atoi,
 * ParseFloat, ParseBool).
 */
function leafFromPlaintext(buf: Buffer, start: number, end: number, type: string, path: readonly string[]): Scalar {
  const text = buf.toString('utf8', start, end);
  const bad = (what: string) =>
    new SopsError(
      `the value at ${describePath(path)} decrypted to ${what}, which is not a valid ${type}`,
      ExitCode.ErrorDecryptingTree,
    );
  switch (type) {
    case 'str':
    case 'bytes':
      // (no U+FFFD in the text: the bytes were valid UTF-8)
      return !text.includes('\ufffd') || isUtf8(buf.subarray(start, end))
        ? { kind: 'scalar', type: 'str', text }
        : { kind: 'scalar', type: 'str', text, raw: Buffer.from(buf.subarray(start, end)) };
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

/**
 * Visits a leaf or comment; returns what replaces it. `holder[idx]` (a list's or map's items, idx >= 0)
 * or `holder.value` (a map entry, idx -1) is where it sits, for a replacement made later.
 */
type Visitor = (
  leaf: Scalar | Comment,
  path: string[],
  comments: string[][],
  holder: Holder,
  idx: number,
) => Scalar | Comment;
type Holder = Array<Node | MapEntry | Comment> | MapEntry;

/**
 * Walk the items of a map or a list in document order with sops's comment stack: the comments
 * since the last value at this level are visible to the next one. `walkItem` walks a non-comment item.
 */
function walkItems<T extends { kind: string }>(
  items: Array<T | Comment>,
  path: string[],
  comments: string[][],
  visit: Visitor,
  walkItem: (it: T, i: number) => T,
): void {
  const level: string[] = [];
  comments.push(level);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (isComment(it)) {
      level.push(it.text);
      items[i] = visit(it, path, comments, items as Holder, i) as Comment;
      continue;
    }
    items[i] = walkItem(it, i);
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
    e.value = walkValue(e.value, path, comments, visit, e, -1);
    path.pop();
    return e;
  });
}

function walkList(l: ListNode, path: string[], comments: string[][], visit: Visitor): void {
  walkItems(l.items, path, comments, visit, (n, i) => walkValue(n, path, comments, visit, l.items as Holder, i));
}

function walkValue(n: Node, path: string[], comments: string[][], visit: Visitor, holder: Holder, idx: number): Node {
  switch (n.kind) {
    case 'null':
      return n;
    case 'scalar':
      return visit(n, path, comments, holder, idx) as Scalar;
    case 'map':
      walkMap(n, path, comments, visit);
      return n;
    case 'list':
      walkList(n, path, comments, visit);
      return n;
  }
}

/** Put `leaf` where the walk found the one it replaces. */
function putBack(holder: Holder, idx: number, leaf: Scalar | Comment): void {
  if (idx < 0) (holder as MapEntry).value = leaf as Scalar;
  else (holder as Array<Node | Comment>)[idx] = leaf;
}

function newHash(scope: CompiledScope): Hash {
  const h = createHash('sha512');
  if (scope.macOnlyEncrypted) h.update(MAC_ONLY_ENCRYPTED_INIT);
  return h;
}

/**
 * Encrypt every in-scope value of the tree under `key`; returns the MAC (uppercase hex SHA-512) of
 * the plaintext. Values found in `stash` keep their IV.
 */
export function encryptTree(tree: Tree, key: Buffer, scope: Scope, stash?: IvStash): string {
  const s = compileScope(scope);
  const hash = newHash(s);
  const gk = new GcmKey(key);
  // the chunk: what to encrypt, and where each leaf goes back
  const items: PlainValue[] = [];
  const leaves: Array<Scalar | Comment> = [];
  const holders: Holder[] = [];
  const idxs: number[] = [];
  const flush = () => {
    const out = encryptValues(gk, items);
    for (let q = 0; q < out.length; q++) {
      const leaf = leaves[q]!;
      const text = out[q]!;
      putBack(
        holders[q]!,
        idxs[q]!,
        leaf.kind === 'comment' ? { ...leaf, text } : { kind: 'scalar', type: 'str', text },
      );
    }
    items.length = leaves.length = holders.length = idxs.length = 0;
  };
  const visit: Visitor = (leaf, path, comments, holder, idx) => {
    if (items.length >= tuning.chunk) flush();
    const enc = shouldEncrypt(s, path, comments, leaf.kind === 'comment');
    let item: PlainValue;
    if (leaf.kind === 'comment') {
      if (!enc || leaf.text === '') return leaf;
      const aad = pathAad(path);
      item = { plain: leaf.text, type: 'comment', aad, iv: stash?.get(aad, 'comment', bytesOf(leaf.text)) };
    } else {
      if (!s.macOnlyEncrypted || enc) macUpdate(hash, leaf);
      if (!enc) return leaf;
      const { plain, type } = plaintextOf(leaf);
      if (plain.length === 0 && type === 'str') return { kind: 'scalar', type: 'str', text: '' };
      const aad = pathAad(path);
      item = { plain, type, aad, iv: stash?.get(aad, type, bytesOf(plain)) };
    }
    items.push(item);
    leaves.push(leaf);
    holders.push(holder);
    idxs.push(idx);
    return leaf;
  };
  for (const doc of tree.docs) walkMap(doc, [], [], visit);
  flush();
  return hash.digest('hex').toUpperCase();
}

/** sops's warning for an in-scope comment that does not decrypt (sops.go), with where it is. */
export function possiblyUnencryptedComment(path: readonly string[]): string {
  return (
    'Found possibly unencrypted comment in file. This is to be expected if the file being decrypted was created ' +
    `with an older version of SOPS. (the comment in ${describePath(path)}, kept as it is)`
  );
}

/** What a queued leaf of decryptTree is: only MACed (out of scope, or an in-scope empty string). */
const Q_PLAIN = 0;
/** An in-scope value to decrypt. */
const Q_VALUE = 1;
/** An in-scope comment to decrypt (kept with a warning when it does not). */
const Q_COMMENT = 2;

/**
 * Decrypt every in-scope value of the tree; returns the MAC of the plaintext (to compare with the
 * stored one). With `stash`, every value's IV is remembered for re-encryption. An in-scope comment
 * that does not decrypt is kept as it stands, with sops's warning through `warn` (default: stderr).
 * The first value in document order that is not an encrypted value or does not decrypt throws.
 */
export function decryptTree(
  tree: Tree,
  key: Buffer,
  scope: Scope,
  stash?: IvStash,
  warn: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): string {
  const s = compileScope(scope);
  const hash = newHash(s);
  const gk = new GcmKey(key);
  // the chunk, in document order: every leaf to MAC or decrypt, and the values' texts and AADs
  const kinds: number[] = [];
  const leaves: Array<Scalar | Comment> = [];
  const holders: Holder[] = [];
  const idxs: number[] = [];
  const paths: string[][] = [];
  const texts: string[] = [];
  const aads: string[] = [];
  const flush = () => {
    const r = decryptValues(gk, texts, aads);
    // decrypted text leaves are MACed as one string per chunk (their text came from UTF-8 bytes:
    // no lone surrogate that could pair up across leaves), the others one by one, in order
    let macText = '';
    const mac = (leaf: Scalar) => {
      if (leaf.type === 'str' && !leaf.raw) {
        macText += leaf.text;
        return;
      }
      if (macText) hash.update(macText, 'utf8');
      macText = '';
      macUpdate(hash, leaf);
    };
    for (let q = 0, i = 0; q < kinds.length; q++) {
      const leaf = leaves[q]!;
      const kind = kinds[q]!;
      if (kind === Q_PLAIN) {
        if (macText) hash.update(macText, 'utf8');
        macText = '';
        macUpdate(hash, leaf as Scalar);
        continue;
      }
      const path = paths[i]!;
      const st = r.status[i]!;
      const start = r.start[i]!;
      const end = r.end[i]!;
      const ivStart = r.ivStart[i]!;
      const ivEnd = r.ivEnd[i]!;
      const iv = () => Buffer.from(r.buf.subarray(ivStart, ivEnd));
      const aad = aads[i]!;
      const type = r.types[i]!;
      i++;
      if (kind === Q_COMMENT) {
        // a comment that does not decrypt was written unencrypted (older sops) or was damaged: keep
        // it as it is, and warn as sops does
        if (st !== Status.Ok) {
          warn(possiblyUnencryptedComment(path));
          continue;
        }
        stash?.put(aad, 'comment', Buffer.from(r.buf.subarray(start, end)), iv());
        putBack(holders[q]!, idxs[q]!, { ...leaf, text: r.buf.toString('utf8', start, end) });
        continue;
      }
      if (st === Status.Malformed) {
        throw new SopsError(
          `the value at ${describePath(path)} is not an encrypted sops value`,
          ExitCode.ErrorDecryptingTree,
        );
      }
      if (st !== Status.Ok) {
        throw new SopsError(
          `could not decrypt the value at ${describePath(path)}: authentication failed (the value or its key path was changed, or the data key is wrong)`,
          ExitCode.ErrorDecryptingTree,
        );
      }
      const out = leafFromPlaintext(r.buf, start, end, type, path);
      if (stash) {
        const p = plaintextOf(out);
        stash.put(aad, p.type, bytesOf(p.plain), iv());
      }
      putBack(holders[q]!, idxs[q]!, out);
      mac(out);
    }
    if (macText) hash.update(macText, 'utf8');
    kinds.length = leaves.length = holders.length = idxs.length = 0;
    paths.length = texts.length = aads.length = 0;
  };
  const queue = (kind: number, leaf: Scalar | Comment, holder: Holder, idx: number, path: string[]) => {
    kinds.push(kind);
    leaves.push(leaf);
    holders.push(holder);
    idxs.push(idx);
    if (kind === Q_PLAIN) return;
    paths.push(path.slice());
    texts.push(leaf.text);
    aads.push(pathAad(path));
  };
  const visit: Visitor = (leaf, path, comments, holder, idx) => {
    // (a flush puts back queued leaves; never the one being visited, which the walk stores after this)
    if (kinds.length >= tuning.chunk) flush();
    const enc = shouldEncrypt(s, path, comments, leaf.kind === 'comment');
    if (leaf.kind === 'comment') {
      if (enc && leaf.text !== '') queue(Q_COMMENT, leaf, holder, idx, path);
      return leaf;
    }
    if (!enc) {
      if (s.macOnlyEncrypted) return leaf;
    } else if (leaf.type !== 'str') {
      flush(); // a value before this one that fails is the error to report
      throw new SopsError(
        `the value at ${describePath(path)} is not encrypted, but the file's settings say it should be`,
        ExitCode.ErrorDecryptingTree,
      );
    }
    const kind = !enc || leaf.text === '' ? Q_PLAIN : Q_VALUE;
    if (kind === Q_PLAIN && kinds.length === 0) macUpdate(hash, leaf);
    else queue(kind, leaf, holder, idx, path);
    return leaf;
  };
  for (const doc of tree.docs) walkMap(doc, [], [], visit);
  flush();
  return hash.digest('hex').toUpperCase();
}

/**
 * The key paths of the values the scope says are encrypted but which do not hold an `ENC[…]` value
 * (a value pasted into an encrypted file), in file order; no key needed (`tsops check`). Values are
 * not shown: they may be secrets. (List positions are not part of a sops key path.)
 */
export function unencryptedValues(tree: Tree, scope: Scope): string[][] {
  const found: string[][] = [];
  const s = compileScope(scope);
  const visit: Visitor = (leaf, path, comments) => {
    if (leaf.kind === 'scalar' && shouldEncrypt(s, path, comments, false)) {
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
    }
    return leaf;
  };
  for (const doc of tree.docs) walkMap(doc, [], [], visit);
  return found;
}
