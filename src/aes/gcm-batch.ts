/**
 * Batched AES-256-GCM for sops values: many values under one data key in one go.
 *
 * Node's GCM needs a cipher object (and a key schedule) per value: ~10 us each. Here the key
 * schedule is made once (one aes-256-ecb cipher), all counter blocks of a batch (J0 and its inc32
 * successors, per value) are encrypted by ONE ecb update, the keystream is XORed in JavaScript and
 * GHASH runs in constant-time JavaScript (ghash.ts). The tags are compared with
 * crypto.timingSafeEqual. The result is byte for byte what node's aes-256-gcm (and Go's
 * crypto/cipher GCM with any nonce size, as sops uses it) computes: test/gcm-batch.test.ts.
 *
 * Inputs and outputs are strings where the callers have strings: `ENC[...]` texts in, plaintext
 * bytes out in one buffer (no Buffer per value); plaintexts in, `ENC[...]` texts out.
 */
import { createCipheriv, createDecipheriv, randomFillSync, timingSafeEqual, type Cipher } from 'node:crypto';
import { encodeGoBytes } from '../util/gostring.js';
import { decodeBase64Into, ENC_DATA_START, encryptValue, IV_SIZE, splitEncrypted } from './cipher.js';
import { ghash, ghashKey, type GhashKey } from './ghash.js';

/** A data key made ready for batches: its AES key schedule and its GHASH key H = E_K(0^128). */
export class GcmKey {
  private readonly ecb: Cipher;
  /** The key itself, for small batches (see SMALL). */
  readonly key: Buffer;
  /** H, prepared for ghash.ts. */
  readonly h: GhashKey;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('AES-256-GCM needs a 32-byte key');
    this.key = key;
    this.ecb = createCipheriv('aes-256-ecb', key, null);
    this.ecb.setAutoPadding(false);
    this.h = ghashKey(this.blocks(Buffer.alloc(16)), 0);
  }
  /** E_K of each 16-byte block (length a multiple of 16). */
  blocks(b: Buffer): Buffer {
    return this.ecb.update(b);
  }
}

/** Per-value outcome of decryptValues (its `status[i]`). */
export const Status = {
  Ok: 0,
  /** Not `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, or a field is not canonical base64. */
  Malformed: 1,
  /** Authentication failed: wrong key, changed data or additional data, empty IV, tag not 16 bytes. */
  AuthFailed: 2,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/**
 * What decryptValues returns: per value its status and type, and (status Ok) its plaintext, the
 * bytes `buf[start[i]..end[i])`; `ivStart/ivEnd` the IV in `buf`. Valid as long as `buf` is kept.
 */
export interface DecryptedBatch {
  status: Uint8Array;
  types: string[];
  buf: Buffer;
  start: Int32Array;
  end: Int32Array;
  ivStart: Int32Array;
  ivEnd: Int32Array;
}

const TAG = 16;

/**
 * Below `small` values in a batch, node's aes-256-gcm is used per value (same results): the
 * engine's JavaScript only pays off once V8 has compiled it, which costs more than a small file's
 * values take with node. (Tests set it to 0 to run the engine on small batches.) `chunk`: the most
 * leaves crypt.ts queues before it runs a batch (memory stays flat whatever the file's size).
 */
export const tuning = { small: 4096, chunk: 8192 };
const F = new Int32Array(4);

/** Write `s`'s bytes as sops hashes them (Go string bytes: encodeGoBytes) into `b` at `p`; returns the count. */
function writeAad(b: Buffer, p: number, s: string): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    b[p + i] = c;
  }
  if (i === n) return n;
  if (s.isWellFormed()) return b.write(s, p, 'utf8');
  return encodeGoBytes(s).copy(b, p);
}

/** The type text of a value: the common ones without a new string. */
function typeOf(v: string, from: number, to: number): string {
  switch (to - from) {
    case 3:
      if (v.startsWith('str', from)) return 'str';
      if (v.startsWith('int', from)) return 'int';
      break;
    case 4:
      if (v.startsWith('bool', from)) return 'bool';
      if (v.startsWith('time', from)) return 'time';
      break;
    case 5:
      if (v.startsWith('float', from)) return 'float';
      break;
    case 7:
      if (v.startsWith('comment', from)) return 'comment';
      break;
  }
  return v.slice(from, to);
}

const readU32 = (b: Uint8Array, p: number) => (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;

/** Write J0 (from the IV at `b[iv..iv+ivLen)`) and its `n` inc32 successors at `ctr[c..]`. */
function counters(
  k: GhashKey,
  s: Int32Array,
  b: Buffer,
  iv: number,
  ivLen: number,
  ctr: Buffer,
  c: number,
  n: number,
): void {
  let w3: number, w2: number, w1: number, w0: number;
  if (ivLen === 12) {
    w3 = readU32(b, iv);
    w2 = readU32(b, iv + 4);
    w1 = readU32(b, iv + 8);
    w0 = 1;
  } else {
    ghash(k, s, b, 0, 0, iv, ivLen);
    w3 = s[3]!;
    w2 = s[2]!;
    w1 = s[1]!;
    w0 = s[0]!;
  }
  for (let j = 0; j <= n; j++, c += 16) {
    ctr.writeInt32BE(w3, c);
    ctr.writeInt32BE(w2, c + 4);
    ctr.writeInt32BE(w1, c + 8);
    ctr.writeInt32BE((w0 + j) | 0, c + 12);
  }
}

/** The tag: GHASH(aad, data) XOR E_K(J0) (at `ks[j0]`), into `out` at `o`. */
function tagInto(
  k: GhashKey,
  s: Int32Array,
  b: Buffer,
  a: number,
  aLen: number,
  d: number,
  dLen: number,
  ks: Buffer,
  j0: number,
  out: Buffer,
  o: number,
): void {
  ghash(k, s, b, a, aLen, d, dLen);
  out.writeInt32BE(s[3]! ^ readU32(ks, j0), o);
  out.writeInt32BE(s[2]! ^ readU32(ks, j0 + 4), o + 4);
  out.writeInt32BE(s[1]! ^ readU32(ks, j0 + 8), o + 8);
  out.writeInt32BE(s[0]! ^ readU32(ks, j0 + 12), o + 12);
}

/** b[p..p+n) ^= ks[q..q+n). */
function xorInto(b: Buffer, p: number, ks: Buffer, q: number, n: number): void {
  for (let i = 0; i < n; i++) b[p + i] = b[p + i]! ^ ks[q + i]!;
}

/**
 * Decrypt sops values `values[from..to)` (each an `ENC[AES256_GCM,…]` text) with the additional
 * data `aads[i]` (the key path `a:b:`, as crypt.ts's pathAad makes it), all under `key`. Never
 * throws for a bad value: each gets a Status (in the caller's order, so the first failing value is
 * known). Plaintext bytes are only given for values whose tag verified.
 */
export function decryptValues(
  key: GcmKey,
  values: readonly string[],
  aads: readonly string[],
  from = 0,
  to = values.length,
): DecryptedBatch {
  const n = to - from;
  let cap = 0;
  for (let i = from; i < to; i++) cap += values[i]!.length + 3 * aads[i]!.length;
  const buf = Buffer.allocUnsafe(cap);
  const status = new Uint8Array(n);
  const types: string[] = new Array<string>(n);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const ivStart = new Int32Array(n);
  const ivEnd = new Int32Array(n);
  const tagAt = new Int32Array(n);
  const aadAt = new Int32Array(n);
  const aadEnd = new Int32Array(n);
  let p = 0;
  let nBlocks = 0;
  for (let i = 0; i < n; i++) {
    const v = values[from + i]!;
    types[i] = '';
    if (!splitEncrypted(v, F)) {
      status[i] = Status.Malformed;
      continue;
    }
    const iv = F[0]!;
    const tag = F[1]!;
    const type = F[2]!;
    const dLen = decodeBase64Into(v, ENC_DATA_START, iv, buf, p);
    const ivLen = dLen < 0 ? -1 : decodeBase64Into(v, iv + 4, tag, buf, p + dLen);
    const tLen = ivLen < 0 ? -1 : decodeBase64Into(v, tag + 5, type, buf, p + dLen + ivLen);
    if (tLen < 0) {
      status[i] = Status.Malformed;
      continue;
    }
    types[i] = typeOf(v, type + 6, F[3]!);
    if (ivLen === 0 || tLen !== TAG) {
      status[i] = Status.AuthFailed;
      continue;
    }
    start[i] = p;
    end[i] = p + dLen;
    ivStart[i] = p + dLen;
    ivEnd[i] = p + dLen + ivLen;
    tagAt[i] = p + dLen + ivLen;
    p += dLen + ivLen + TAG;
    aadAt[i] = p;
    p += writeAad(buf, p, aads[from + i]!);
    aadEnd[i] = p;
    nBlocks += 1 + ((dLen + 15) >> 4);
  }

  if (n < tuning.small) {
    for (let i = 0; i < n; i++) {
      if (status[i] !== Status.Ok) continue;
      try {
        const d = createDecipheriv('aes-256-gcm', key.key, buf.subarray(ivStart[i], ivEnd[i]), { authTagLength: TAG });
        d.setAAD(buf.subarray(aadAt[i], aadEnd[i]));
        d.setAuthTag(buf.subarray(tagAt[i], tagAt[i]! + TAG));
        const out = d.update(buf.subarray(start[i], end[i]));
        d.final();
        out.copy(buf, start[i]);
      } catch {
        status[i] = Status.AuthFailed;
      }
    }
    return { status, types, buf, start, end, ivStart, ivEnd };
  }
  const k = key.h;
  const s = new Int32Array(4);
  const ctr = Buffer.allocUnsafe(nBlocks * 16);
  const j0 = new Int32Array(n);
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (status[i] !== Status.Ok) continue;
    const blocks = (end[i]! - start[i]! + 15) >> 4;
    j0[i] = c;
    counters(k, s, buf, ivStart[i]!, ivEnd[i]! - ivStart[i]!, ctr, c, blocks);
    c += 16 * (blocks + 1);
  }
  const ks = key.blocks(ctr);

  const want = Buffer.alloc(n * TAG);
  const got = Buffer.alloc(n * TAG);
  for (let i = 0; i < n; i++) {
    if (status[i] !== Status.Ok) continue;
    tagInto(k, s, buf, aadAt[i]!, aadEnd[i]! - aadAt[i]!, start[i]!, end[i]! - start[i]!, ks, j0[i]!, want, i * TAG);
    buf.copy(got, i * TAG, tagAt[i], tagAt[i]! + TAG);
  }
  if (!timingSafeEqual(want, got)) {
    for (let i = 0; i < n; i++) {
      const o = i * TAG;
      if (status[i] === Status.Ok && !timingSafeEqual(want.subarray(o, o + TAG), got.subarray(o, o + TAG)))
        status[i] = Status.AuthFailed;
    }
  }
  for (let i = 0; i < n; i++) {
    if (status[i] === Status.Ok) xorInto(buf, start[i]!, ks, j0[i]! + 16, end[i]! - start[i]!);
  }
  return { status, types, buf, start, end, ivStart, ivEnd };
}

/** One value for encryptValues. */
export interface PlainValue {
  /** UTF-8 text, or raw bytes. */
  plain: string | Buffer;
  /** The `type:` written (str, int, float, bool, time, comment). */
  type: string;
  /** The additional data: the key path `a:b:`. */
  aad: string;
  /** An IV to reuse (kept ciphertexts); a fresh random 32-byte IV when absent. */
  iv?: Buffer | undefined;
}

/**
 * Encrypt `items[from..to)` under `key`: each its `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
 * text, as cipher.ts's encryptValue writes it (fresh IVs are 32 random bytes, as sops's).
 */
export function encryptValues(key: GcmKey, items: readonly PlainValue[], from = 0, to = items.length): string[] {
  const n = to - from;
  if (n < tuning.small) {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const it = items[from + i]!;
      if (it.iv?.length === 0) throw new RangeError('an IV cannot be empty');
      out[i] = encryptValue(it.plain, it.type, key.key, it.aad, it.iv);
    }
    return out;
  }
  let cap = 0;
  let nFresh = 0;
  for (let i = from; i < to; i++) {
    const it = items[i]!;
    cap += (typeof it.plain === 'string' ? 3 * it.plain.length : it.plain.length) + 3 * it.aad.length;
    if (it.iv) {
      if (it.iv.length === 0) throw new RangeError('an IV cannot be empty');
      cap += it.iv.length;
    } else nFresh++;
  }
  cap += nFresh * IV_SIZE;
  // the fresh IVs of the batch come from one call to the random generator
  const rnd = nFresh ? randomFillSync(Buffer.allocUnsafe(nFresh * IV_SIZE)) : undefined;
  let r = 0;
  const buf = Buffer.allocUnsafe(cap);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const ivStart = new Int32Array(n);
  const ivEnd = new Int32Array(n);
  const aadEnd = new Int32Array(n);
  let p = 0;
  let nBlocks = 0;
  for (let i = 0; i < n; i++) {
    const it = items[from + i]!;
    start[i] = p;
    if (typeof it.plain === 'string') p += buf.write(it.plain, p, 'utf8');
    else {
      buf.set(it.plain, p);
      p += it.plain.length;
    }
    end[i] = p;
    ivStart[i] = p;
    if (it.iv) {
      buf.set(it.iv, p);
      p += it.iv.length;
    } else {
      rnd!.copy(buf, p, r, r + IV_SIZE);
      r += IV_SIZE;
      p += IV_SIZE;
    }
    ivEnd[i] = p;
    p += writeAad(buf, p, it.aad);
    aadEnd[i] = p;
    nBlocks += 1 + ((end[i]! - start[i]! + 15) >> 4);
  }

  const k = key.h;
  const s = new Int32Array(4);
  const ctr = Buffer.allocUnsafe(nBlocks * 16);
  const j0 = new Int32Array(n);
  let c = 0;
  for (let i = 0; i < n; i++) {
    const blocks = (end[i]! - start[i]! + 15) >> 4;
    j0[i] = c;
    counters(k, s, buf, ivStart[i]!, ivEnd[i]! - ivStart[i]!, ctr, c, blocks);
    c += 16 * (blocks + 1);
  }
  const ks = key.blocks(ctr);
  const tags = Buffer.allocUnsafe(n * TAG);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const d = start[i]!;
    const dLen = end[i]! - d;
    xorInto(buf, d, ks, j0[i]! + 16, dLen);
    tagInto(k, s, buf, ivEnd[i]!, aadEnd[i]! - ivEnd[i]!, d, dLen, ks, j0[i]!, tags, i * TAG);
    out[i] =
      `ENC[AES256_GCM,data:${buf.toString('base64', d, end[i])},iv:${buf.toString('base64', ivStart[i], ivEnd[i])},` +
      `tag:${tags.toString('base64', i * TAG, i * TAG + TAG)},type:${items[from + i]!.type}]`;
  }
  return out;
}
