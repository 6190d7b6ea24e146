/**
 * Batched AES-256-GCM for sops values: many values under one data key in one go.
 *
 * Node's GCM needs a cipher object (and a key schedule) per value: ~10 us each. Here the key
 * schedule is made once (one aes-256-ecb cipher), all counter blocks of a batch (J0 and its inc32
 * successors, per value) are encrypted by ONE ecb update; GHASH, the counters and the XOR run in a
 * small constant-time WebAssembly module (ghash-wasm.ts) whose memory holds the batch. The tags are
 * compared with crypto.timingSafeEqual. The result is byte for byte what node's aes-256-gcm (and Go's
 * crypto/cipher GCM with any nonce size, as sops uses it) computes: test/gcm-batch.test.ts.
 *
 * Inputs and outputs are strings where the callers have strings: `ENC[...]` texts in, plaintext
 * bytes out in one buffer (no Buffer per value); plaintexts in, `ENC[...]` texts out.
 */
import { createCipheriv, createDecipheriv, randomFillSync, timingSafeEqual, type Cipher } from 'node:crypto';
import { encodeGoBytes } from '../util/gostring.js';
import { decodeBase64Into, ENC_DATA_START, encryptValue, IV_SIZE, splitEncrypted } from './cipher.js';
import { ghashWasm, type GhashWasm } from './ghash-wasm.js';

/** A data key made ready for batches: its AES key schedule and its GHASH key H = E_K(0^128). */
export class GcmKey {
  private readonly ecb: Cipher;
  /** The key itself, for small batches (see SMALL). */
  readonly key: Buffer;
  /** H = E_K(0^128), for the GHASH module. */
  readonly h: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('AES-256-GCM needs a 32-byte key');
    this.key = key;
    this.ecb = createCipheriv('aes-256-ecb', key, null);
    this.ecb.setAutoPadding(false);
    this.h = this.blocks(Buffer.alloc(16));
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
export const tuning = { small: 256, chunk: 8192 };
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

let wasm: GhashWasm | undefined;
/** Where a batch starts in the module's memory (H is at 0). */
const ARENA = 64;

/**
 * The module's memory as a Buffer of at least `size` bytes (it grows as needed; a grown memory
 * detaches older views), with H loaded.
 */
function memory(key: GcmKey, size: number): Buffer {
  const w = (wasm ??= ghashWasm());
  const have = w.m.buffer.byteLength;
  if (size > have) w.m.grow(Math.ceil((size - have) / 65536));
  const mem = Buffer.from(w.m.buffer);
  key.h.copy(mem, 0);
  w.init(0);
  return mem;
}

/** Zeros from q to the next multiple of 16 (GHASH's padding); returns that. */
function pad(b: Buffer, q: number): number {
  while (q & 15) b[q++] = 0;
  return q;
}

/**
 * J0 of the IV at mem[iv..iv+ivLen) (zero-padded) and the `blocks` counter blocks after it, at c.
 */
function counters(w: GhashWasm, mem: Buffer, iv: number, ivLen: number, c: number, blocks: number): void {
  if (ivLen === 12) {
    mem.copy(mem, c, iv, iv + 12);
    mem.writeUInt32BE(1, c + 12);
  } else {
    w.ghash(0, 0, iv, (ivLen + 15) >> 4, 0, ivLen, c);
  }
  w.ctr(c, c, blocks);
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
  let cap = ARENA;
  for (let i = from; i < to; i++) cap += values[i]!.length + 3 * aads[i]!.length + 64;
  if (n < tuning.small) return decryptSmall(key, values, aads, from, n, Buffer.allocUnsafe(cap), 0);
  let mem = memory(key, cap);
  const status = new Uint8Array(n);
  const types: string[] = new Array<string>(n);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const ivStart = new Int32Array(n);
  const ivEnd = new Int32Array(n);
  const tagAt = new Int32Array(n);
  const aadAt = new Int32Array(n);
  const aadEnd = new Int32Array(n);
  let p = ARENA;
  let nBlocks = 0;
  for (let i = 0; i < n; i++) {
    const v = values[from + i]!;
    types[i] = '';
    if (!splitEncrypted(v, F)) {
      status[i] = Status.Malformed;
      continue;
    }
    // each field at a multiple of 16, zero-padded: GHASH reads whole blocks
    const dLen = decodeBase64Into(v, ENC_DATA_START, F[0]!, mem, p);
    const iv = dLen < 0 ? 0 : pad(mem, p + dLen);
    const ivLen = dLen < 0 ? -1 : decodeBase64Into(v, F[0]! + 4, F[1]!, mem, iv);
    const tag = ivLen < 0 ? 0 : pad(mem, iv + ivLen);
    const tLen = ivLen < 0 ? -1 : decodeBase64Into(v, F[1]! + 5, F[2]!, mem, tag);
    if (tLen < 0) {
      status[i] = Status.Malformed;
      continue;
    }
    types[i] = typeOf(v, F[2]! + 6, F[3]!);
    if (ivLen === 0 || tLen !== TAG) {
      status[i] = Status.AuthFailed;
      continue;
    }
    start[i] = p;
    end[i] = p + dLen;
    ivStart[i] = iv;
    ivEnd[i] = iv + ivLen;
    tagAt[i] = tag;
    aadAt[i] = tag + TAG;
    const aEnd = tag + TAG + writeAad(mem, tag + TAG, aads[from + i]!);
    aadEnd[i] = aEnd;
    p = pad(mem, aEnd);
    nBlocks += 1 + ((dLen + 15) >> 4);
  }

  // J0 and the counter blocks of every value, then their keystream from one ecb call
  const arenaEnd = p;
  const want = arenaEnd + 16 * nBlocks;
  const got = want + TAG * n;
  mem = memory(key, got + TAG * n);
  const w = wasm!;
  const j0 = new Int32Array(n);
  let c = arenaEnd;
  for (let i = 0; i < n; i++) {
    if (status[i] !== Status.Ok) continue;
    const blocks = (end[i]! - start[i]! + 15) >> 4;
    j0[i] = c;
    counters(w, mem, ivStart[i]!, ivEnd[i]! - ivStart[i]!, c, blocks);
    c += 16 * (blocks + 1);
  }
  key.blocks(mem.subarray(arenaEnd, c)).copy(mem, arenaEnd);

  // tags: GHASH(aad, data) ^ E(J0) ^ the stored tag, all compared with zeros at once
  mem.fill(0, want, got + TAG * n);
  for (let i = 0; i < n; i++) {
    if (status[i] !== Status.Ok) continue;
    const a = aadAt[i]!;
    const aLen = aadEnd[i]! - a;
    const d = start[i]!;
    const dLen = end[i]! - d;
    const o = want + i * TAG;
    w.ghash(a, (aLen + 15) >> 4, d, (dLen + 15) >> 4, aLen, dLen, o);
    w.xor(o, j0[i]!, TAG);
    w.xor(o, tagAt[i]!, TAG);
  }
  if (!timingSafeEqual(mem.subarray(want, got), mem.subarray(got, got + TAG * n))) {
    const zero = mem.subarray(got, got + TAG);
    for (let i = 0; i < n; i++) {
      const o = want + i * TAG;
      if (status[i] === Status.Ok && !timingSafeEqual(mem.subarray(o, o + TAG), zero)) status[i] = Status.AuthFailed;
    }
  }
  for (let i = 0; i < n; i++) {
    if (status[i] === Status.Ok) w.xor(start[i]!, j0[i]! + 16, end[i]! - start[i]!);
  }
  // the results leave the module's memory (reused by the next batch), which is cleared
  const buf = Buffer.from(mem.subarray(ARENA, arenaEnd));
  mem.fill(0, ARENA, got + TAG * n);
  for (const a of [start, end, ivStart, ivEnd]) for (let i = 0; i < n; i++) a[i] = a[i]! - ARENA;
  return { status, types, buf, start, end, ivStart, ivEnd };
}

/** decryptValues for a small batch: node's aes-256-gcm per value. */
function decryptSmall(
  key: GcmKey,
  values: readonly string[],
  aads: readonly string[],
  from: number,
  n: number,
  buf: Buffer,
  p: number,
): DecryptedBatch {
  const status = new Uint8Array(n);
  const types: string[] = new Array<string>(n);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const ivStart = new Int32Array(n);
  const ivEnd = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[from + i]!;
    types[i] = '';
    if (!splitEncrypted(v, F)) {
      status[i] = Status.Malformed;
      continue;
    }
    const dLen = decodeBase64Into(v, ENC_DATA_START, F[0]!, buf, p);
    const ivLen = dLen < 0 ? -1 : decodeBase64Into(v, F[0]! + 4, F[1]!, buf, p + dLen);
    const tag = p + dLen + ivLen;
    const tLen = ivLen < 0 ? -1 : decodeBase64Into(v, F[1]! + 5, F[2]!, buf, tag);
    if (tLen < 0) {
      status[i] = Status.Malformed;
      continue;
    }
    types[i] = typeOf(v, F[2]! + 6, F[3]!);
    if (ivLen === 0 || tLen !== TAG) {
      status[i] = Status.AuthFailed;
      continue;
    }
    try {
      const d = createDecipheriv('aes-256-gcm', key.key, buf.subarray(p + dLen, tag), { authTagLength: TAG });
      d.setAAD(encodeGoBytes(aads[from + i]!));
      d.setAuthTag(buf.subarray(tag, tag + TAG));
      const out = d.update(buf.subarray(p, p + dLen));
      d.final();
      out.copy(buf, p);
    } catch {
      status[i] = Status.AuthFailed;
      continue;
    }
    start[i] = p;
    end[i] = p + dLen;
    ivStart[i] = p + dLen;
    ivEnd[i] = tag;
    p = tag + TAG;
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
  let cap = ARENA;
  let nFresh = 0;
  for (let i = from; i < to; i++) {
    const it = items[i]!;
    cap += (typeof it.plain === 'string' ? 3 * it.plain.length : it.plain.length) + 3 * it.aad.length + 64;
    if (it.iv) {
      if (it.iv.length === 0) throw new RangeError('an IV cannot be empty');
      cap += it.iv.length;
    } else nFresh++;
  }
  cap += nFresh * IV_SIZE;
  // the fresh IVs of the batch come from one call to the random generator
  const rnd = nFresh ? randomFillSync(Buffer.allocUnsafe(nFresh * IV_SIZE)) : undefined;
  let r = 0;
  let mem = memory(key, cap);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const ivStart = new Int32Array(n);
  const ivEnd = new Int32Array(n);
  const aadAt = new Int32Array(n);
  const aadEnd = new Int32Array(n);
  let p = ARENA;
  let nBlocks = 0;
  for (let i = 0; i < n; i++) {
    const it = items[from + i]!;
    start[i] = p;
    if (typeof it.plain === 'string') p += mem.write(it.plain, p, 'utf8');
    else p += it.plain.copy(mem, p);
    end[i] = p;
    p = pad(mem, p);
    ivStart[i] = p;
    if (it.iv) p += it.iv.copy(mem, p);
    else {
      p += rnd!.copy(mem, p, r, r + IV_SIZE);
      r += IV_SIZE;
    }
    ivEnd[i] = p;
    p = pad(mem, p);
    aadAt[i] = p;
    p += writeAad(mem, p, it.aad);
    aadEnd[i] = p;
    p = pad(mem, p);
    nBlocks += 1 + ((end[i]! - start[i]! + 15) >> 4);
  }

  const arenaEnd = p;
  const tags = arenaEnd + 16 * nBlocks;
  mem = memory(key, tags + TAG * n);
  const w = wasm!;
  const j0 = new Int32Array(n);
  let c = arenaEnd;
  for (let i = 0; i < n; i++) {
    const blocks = (end[i]! - start[i]! + 15) >> 4;
    j0[i] = c;
    counters(w, mem, ivStart[i]!, ivEnd[i]! - ivStart[i]!, c, blocks);
    c += 16 * (blocks + 1);
  }
  key.blocks(mem.subarray(arenaEnd, c)).copy(mem, arenaEnd);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const d = start[i]!;
    const dLen = end[i]! - d;
    const a = aadAt[i]!;
    const aLen = aadEnd[i]! - a;
    const o = tags + i * TAG;
    w.xor(d, j0[i]! + 16, dLen);
    w.ghash(a, (aLen + 15) >> 4, d, (dLen + 15) >> 4, aLen, dLen, o);
    w.xor(o, j0[i]!, TAG);
    out[i] =
      `ENC[AES256_GCM,data:${mem.toString('base64', d, end[i])},iv:${mem.toString('base64', ivStart[i], ivEnd[i])},` +
      `tag:${mem.toString('base64', o, o + TAG)},type:${items[from + i]!.type}]`;
  }
  mem.fill(0, ARENA, tags + TAG * n);
  return out;
}
