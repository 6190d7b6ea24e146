/**
 * GHASH (the authenticator of AES-GCM, NIST SP 800-38D) in constant time, for the batched engine in
 * gcm-batch.ts.
 *
 * No table is indexed by secret data and no branch depends on it: a product in GF(2^128) is a
 * carry-less multiplication followed by a fixed reduction. Carry-less products are integer
 * products of operands with "holes" (the technique of BearSSL's ghash_ctmul32): of a 16-bit piece
 * only every third bit is kept (three masks), so in `Math.imul` of two such parts at most 6 bit
 * products meet in a 3-bit slot, the carries stay inside the slot, and the slot's low bit is their
 * XOR; 16x16 bits give at most 31 bits, so `Math.imul` (the low 32 bits) loses nothing: 9 `imul`
 * per 16x16 product. 32x32 is Karatsuba over 16-bit halves, 64x64 over 32-bit words, 128x128 over
 * 64-bit halves: 27 16x16 products per block, no bit reversal.
 *
 * Blocks are aggregated (Horner in groups of up to 16 blocks with precomputed powers H^1..H^17,
 * one reduction per group), and GCM's final length block is multiplied by H from a per-key cache
 * indexed by the (public) lengths; the block count of a value thus costs that many products.
 *
 * Representation: a block is read as four big-endian 32-bit words, word 3 first (the most
 * significant); GCM's bit order (x^0 is the top bit of byte 0) makes the field product a plain
 * carry-less product of these integers, shifted left by one bit, then reduced modulo
 * x^128 + x^7 + x^2 + x + 1 (in this reflected order: fold the low 128 bits into the high 128).
 */

const imul = Math.imul;

/** Blocks per aggregated group (powers H^1..H^(GROUP+1) are kept). */
const GROUP = 16;
/** Ints per prepared power: 9 Karatsuba operands x 3 16-bit pieces (lo, hi, lo^hi) x 3 masks. */
const PW = 81;
/** Lengths below this have their length block's product cached. */
const LEN_CACHE = 1024;

/** A prepared hash key H: its powers H^1..H^17 and the cache of length-block products. */
export interface GhashKey {
  pw: Int32Array;
  /** (aLen * 8 as a 64-bit number in words 3,2) * H, 4 words per length; `lenHave` says which are made. */
  lenA: Int32Array;
  /** (cLen * 8 in words 1,0) * H. */
  lenC: Int32Array;
  lenHave: Uint8Array;
}

/** Store the prepared operands of the element (h3,h2,h1,h0) as power number `i` (0 = H^1). */
function prepare(pw: Int32Array, i: number, h3: number, h2: number, h1: number, h0: number): void {
  const ops = [h0, h1, h0 ^ h1, h2, h3, h2 ^ h3, h0 ^ h2, h1 ^ h3, h0 ^ h1 ^ h2 ^ h3];
  let q = i * PW;
  for (const v of ops) {
    const lo = v & 0xffff;
    const hi = v >>> 16;
    for (const piece of [lo, hi, lo ^ hi]) {
      pw[q++] = piece & 0x9249;
      pw[q++] = piece & 0x2492;
      pw[q++] = piece & 0x4924;
    }
  }
}

/** Scratch: the Karatsuba operands of the block and the 64-bit word products. */
const X = new Int32Array(9);
const R = new Int32Array(18);

/**
 * acc (8 words, unreduced 256 bits) ^= (a3,a2,a1,a0) * (the power at pw[o..o+81)), the carry-less
 * product.
 */
function mulAcc(acc: Int32Array, a3: number, a2: number, a1: number, a0: number, pw: Int32Array, o: number): void {
  X[0] = a0;
  X[1] = a1;
  X[2] = a0 ^ a1;
  X[3] = a2;
  X[4] = a3;
  X[5] = a2 ^ a3;
  X[6] = a0 ^ a2;
  X[7] = a1 ^ a3;
  X[8] = a0 ^ a1 ^ a2 ^ a3;
  for (let t = 0, q = o; t < 9; t++, q += 9) {
    const x = X[t]!;
    const xl = x & 0xffff;
    const xh = x >>> 16;
    const xm = xl ^ xh;
    let u0 = xl & 0x9249;
    let u1 = xl & 0x2492;
    let u2 = xl & 0x4924;
    let y0 = pw[q]!;
    let y1 = pw[q + 1]!;
    let y2 = pw[q + 2]!;
    const pl =
      ((imul(u0, y0) ^ imul(u1, y2) ^ imul(u2, y1)) & 0x49249249) |
      ((imul(u0, y1) ^ imul(u1, y0) ^ imul(u2, y2)) & 0x92492492) |
      ((imul(u0, y2) ^ imul(u1, y1) ^ imul(u2, y0)) & 0x24924924);
    u0 = xh & 0x9249;
    u1 = xh & 0x2492;
    u2 = xh & 0x4924;
    y0 = pw[q + 3]!;
    y1 = pw[q + 4]!;
    y2 = pw[q + 5]!;
    const ph =
      ((imul(u0, y0) ^ imul(u1, y2) ^ imul(u2, y1)) & 0x49249249) |
      ((imul(u0, y1) ^ imul(u1, y0) ^ imul(u2, y2)) & 0x92492492) |
      ((imul(u0, y2) ^ imul(u1, y1) ^ imul(u2, y0)) & 0x24924924);
    u0 = xm & 0x9249;
    u1 = xm & 0x2492;
    u2 = xm & 0x4924;
    y0 = pw[q + 6]!;
    y1 = pw[q + 7]!;
    y2 = pw[q + 8]!;
    const m =
      (((imul(u0, y0) ^ imul(u1, y2) ^ imul(u2, y1)) & 0x49249249) |
        ((imul(u0, y1) ^ imul(u1, y0) ^ imul(u2, y2)) & 0x92492492) |
        ((imul(u0, y2) ^ imul(u1, y1) ^ imul(u2, y0)) & 0x24924924)) ^
      pl ^
      ph;
    R[2 * t] = pl ^ (m << 16);
    R[2 * t + 1] = ph ^ (m >>> 16);
  }
  // 128-bit products: lo = (a1,a0)(h1,h0), hi = (a3,a2)(h3,h2), mid = (a1^a3,a0^a2)(h1^h3,h0^h2)
  const lo0 = R[0]!;
  const lo1 = R[1]! ^ R[4]! ^ R[0]! ^ R[2]!;
  const lo2 = R[2]! ^ R[5]! ^ R[1]! ^ R[3]!;
  const lo3 = R[3]!;
  const hi0 = R[6]!;
  const hi1 = R[7]! ^ R[10]! ^ R[6]! ^ R[8]!;
  const hi2 = R[8]! ^ R[11]! ^ R[7]! ^ R[9]!;
  const hi3 = R[9]!;
  const mi0 = R[12]! ^ lo0 ^ hi0;
  const mi1 = R[13]! ^ R[16]! ^ R[12]! ^ R[14]! ^ lo1 ^ hi1;
  const mi2 = R[14]! ^ R[17]! ^ R[13]! ^ R[15]! ^ lo2 ^ hi2;
  const mi3 = R[15]! ^ lo3 ^ hi3;
  acc[0] = acc[0]! ^ lo0;
  acc[1] = acc[1]! ^ lo1;
  acc[2] = acc[2]! ^ lo2 ^ mi0;
  acc[3] = acc[3]! ^ lo3 ^ mi1;
  acc[4] = acc[4]! ^ hi0 ^ mi2;
  acc[5] = acc[5]! ^ hi1 ^ mi3;
  acc[6] = acc[6]! ^ hi2;
  acc[7] = acc[7]! ^ hi3;
}

/** s (4 words) = acc (8 words, an unreduced product) reduced; acc is cleared. */
function reduce(acc: Int32Array, s: Int32Array): void {
  const p0 = acc[0]!;
  const p1 = acc[1]!;
  const p2 = acc[2]!;
  const p3 = acc[3]!;
  const p4 = acc[4]!;
  const p5 = acc[5]!;
  const p6 = acc[6]!;
  const p7 = acc[7]!;
  acc.fill(0);
  // shifted left by one bit (GCM's reflected order), then the low 128 bits folded into the high 128
  const z0 = p0 << 1;
  const z1 = (p1 << 1) | (p0 >>> 31);
  const z2 = (p2 << 1) | (p1 >>> 31);
  let z3 = (p3 << 1) | (p2 >>> 31);
  let z4 = (p4 << 1) | (p3 >>> 31);
  let z5 = (p5 << 1) | (p4 >>> 31);
  let z6 = (p6 << 1) | (p5 >>> 31);
  let z7 = (p7 << 1) | (p6 >>> 31);
  // each low word w folds as w ^ w>>1 ^ w>>2 ^ w>>7 into the word 128 bits up, and the bits those
  // shifts push out go into the word just below that (for z0: into z3, folded in its turn)
  z4 ^= z0 ^ (z0 >>> 1) ^ (z0 >>> 2) ^ (z0 >>> 7);
  z3 ^= (z0 << 31) ^ (z0 << 30) ^ (z0 << 25);
  z5 ^= z1 ^ (z1 >>> 1) ^ (z1 >>> 2) ^ (z1 >>> 7);
  z4 ^= (z1 << 31) ^ (z1 << 30) ^ (z1 << 25);
  z6 ^= z2 ^ (z2 >>> 1) ^ (z2 >>> 2) ^ (z2 >>> 7);
  z5 ^= (z2 << 31) ^ (z2 << 30) ^ (z2 << 25);
  z7 ^= z3 ^ (z3 >>> 1) ^ (z3 >>> 2) ^ (z3 >>> 7);
  z6 ^= (z3 << 31) ^ (z3 << 30) ^ (z3 << 25);
  s[0] = z4;
  s[1] = z5;
  s[2] = z6;
  s[3] = z7;
}

const ACC = new Int32Array(8);
const W = new Int32Array(4);

/** Prepare H (the 16-byte block E_K(0^128) at `off` of `h`). */
export function ghashKey(h: Uint8Array, off: number): GhashKey {
  const pw = new Int32Array(PW * (GROUP + 1));
  const s = new Int32Array(4);
  s[3] = readU32(h, off);
  s[2] = readU32(h, off + 4);
  s[1] = readU32(h, off + 8);
  s[0] = readU32(h, off + 12);
  prepare(pw, 0, s[3], s[2], s[1], s[0]);
  const h3 = s[3];
  const h2 = s[2];
  const h1 = s[1];
  const h0 = s[0];
  for (let i = 1; i <= GROUP; i++) {
    mulAcc(ACC, h3, h2, h1, h0, pw, (i - 1) * PW);
    reduce(ACC, s);
    prepare(pw, i, s[3], s[2], s[1], s[0]);
  }
  return {
    pw,
    lenA: new Int32Array(4 * LEN_CACHE),
    lenC: new Int32Array(4 * LEN_CACHE),
    lenHave: new Uint8Array(LEN_CACHE),
  };
}

function readU32(b: Uint8Array, p: number): number {
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

/** The 4 words of block `i` of b[off..off+len), zero-padded, into W. */
function loadBlock(b: Uint8Array, off: number, len: number, i: number): void {
  const p = off + 16 * i;
  const n = len - 16 * i;
  if (n >= 16) {
    W[3] = readU32(b, p);
    W[2] = readU32(b, p + 4);
    W[1] = readU32(b, p + 8);
    W[0] = readU32(b, p + 12);
    return;
  }
  W.fill(0);
  for (let j = 0; j < n; j++) W[3 - (j >> 2)] = W[3 - (j >> 2)]! | (b[p + j]! << (24 - 8 * (j & 3)));
}

/** lenBlock * H for (aLen, cLen), XORed into s. */
function addLengths(k: GhashKey, s: Int32Array, aLen: number, cLen: number): void {
  if (aLen < LEN_CACHE && cLen < LEN_CACHE) {
    const f = k.lenHave;
    if (!(f[aLen]! & 1)) {
      lenProduct(k, aLen, 0, k.lenA, 4 * aLen);
      f[aLen] = f[aLen]! | 1;
    }
    if (!(f[cLen]! & 2)) {
      lenProduct(k, 0, cLen, k.lenC, 4 * cLen);
      f[cLen] = f[cLen]! | 2;
    }
    for (let j = 0; j < 4; j++) s[j] = s[j]! ^ k.lenA[4 * aLen + j]! ^ k.lenC[4 * cLen + j]!;
    return;
  }
  const t = new Int32Array(4);
  lenProduct(k, aLen, cLen, t, 0);
  for (let j = 0; j < 4; j++) s[j] = s[j]! ^ t[j]!;
}

/** GCM's length block of (aLen, cLen) bytes, times H, into out[o..o+4). */
function lenProduct(k: GhashKey, aLen: number, cLen: number, out: Int32Array, o: number): void {
  // bit lengths as 64-bit numbers: the low word is (len * 8) mod 2^32, the high one len >> 29
  mulAcc(ACC, Math.floor(aLen / 0x20000000), aLen * 8, Math.floor(cLen / 0x20000000), cLen * 8, k.pw, 0);
  const s = new Int32Array(4);
  reduce(ACC, s);
  out.set(s, o);
}

/**
 * s (4 words, s[3] the most significant) = GHASH_H(A || pad || C || pad || [len A]64 || [len C]64),
 * A = b[aOff..aOff+aLen), C = b[cOff..cOff+cLen): GCM's tag before the final XOR. With A empty and
 * C an IV, it is J0 of an IV that is not 12 bytes long.
 */
export function ghash(
  k: GhashKey,
  s: Int32Array,
  b: Uint8Array,
  aOff: number,
  aLen: number,
  cOff: number,
  cLen: number,
): void {
  const nA = (aLen + 15) >> 4;
  const m = nA + ((cLen + 15) >> 4);
  const pw = k.pw;
  s.fill(0);
  for (let gs = 0; gs < m; gs += GROUP) {
    const g = Math.min(GROUP, m - gs);
    // the last group is multiplied by one more H: the length block's product (cached) is added after
    const top = gs + g === m ? g + 1 : g;
    for (let j = 0; j < g; j++) {
      const i = gs + j;
      if (i < nA) loadBlock(b, aOff, aLen, i);
      else loadBlock(b, cOff, cLen, i - nA);
      if (j === 0) for (let w = 0; w < 4; w++) W[w] = W[w]! ^ s[w]!;
      mulAcc(ACC, W[3]!, W[2]!, W[1]!, W[0]!, pw, (top - j - 1) * PW);
    }
    reduce(ACC, s);
  }
  addLengths(k, s, aLen, cLen);
}
