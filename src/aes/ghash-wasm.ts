/**
 * GHASH (NIST SP 800-38D) in constant time as a tiny WebAssembly module, written here as bytes, for
 * the batched engine in gcm-batch.ts. WebAssembly because it has 64-bit multiplication and is
 * compiled at once (Liftoff): the same arithmetic in JavaScript costs ~300 ns a block once V8 has
 * optimised it and far more before, more than node's per-value GCM for files of a few thousand
 * values.
 *
 * No table is indexed by secret data and no branch depends on it (loops run over public lengths):
 * a product in GF(2^128) is a carry-less multiplication followed by a fixed reduction. Carry-less
 * 64x64 products are integer products of operands with "holes" (the technique of BearSSL's
 * ghash_ctmul64): of each operand only every fourth bit is kept (four masks), so within an
 * `i64.mul` of two such parts the carries stay inside each 4-bit slot of the low 64 bits and the
 * slot's low bit is the XOR wanted; the high 64 bits come from the product of the bit-reversed
 * operands. 128x128 is Karatsuba over 64-bit halves (6 such products); a block is read as two
 * big-endian 64-bit words, which makes GCM's bit order a plain carry-less product shifted left by
 * one bit, then reduced modulo x^128 + x^7 + x^2 + x + 1 by folding the low 128 bits into the high.
 *
 * Exports (all offsets into the exported memory `m`):
 *   init(h)                         H = the 16 bytes at h (E_K(0^128)), until the next init
 *   ghash(a, na, c, nc, aLen, cLen, out)
 *                                   out = GHASH_H(A || C || [aLen*8]64 || [cLen*8]64), A = na blocks
 *                                   at a, C = nc blocks at c (zero-padded by the caller): 16 bytes
 *   ctr(j0, out, n)                 J0 (16 bytes at j0) and its n inc32 successors at out
 *   xor(dst, src, n)                dst[i] ^= src[i] for n bytes
 */

// --- a minimal WebAssembly encoder ---------------------------------------------------------------

type Code = number[];

function uleb(n: number): Code {
  const out: Code = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(v: bigint): Code {
  const out: Code = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const I32 = 0x7f;
const I64 = 0x7e;
const cat = (...parts: Code[]): Code => parts.flat();
const get = (i: number): Code => [0x20, i];
const set = (i: number, e: Code): Code => [...e, 0x21, i];
const gget = (i: number): Code => [0x23, i];
const gset = (i: number, e: Code): Code => [...e, 0x24, i];
const k64 = (v: bigint): Code => [0x42, ...sleb(BigInt.asIntN(64, v))];
const k32 = (v: number): Code => [0x41, ...sleb(BigInt(v | 0))];
const op =
  (code: number) =>
  (a: Code, b: Code): Code => [...a, ...b, code];
const xor = op(0x85);
const and = op(0x83);
const or = op(0x84);
const mul = op(0x7e);
const shl = (a: Code, n: number): Code => [...a, ...k64(BigInt(n)), 0x86];
const shr = (a: Code, n: number): Code => [...a, ...k64(BigInt(n)), 0x88];
const xors = (...es: Code[]): Code => es.reduce((a, b) => xor(a, b));
const add32 = op(0x6a);
const and32 = op(0x71);
const or32 = op(0x72);
const shl32 = (a: Code, n: number): Code => [...a, ...k32(n), 0x74];
const shr32 = (a: Code, n: number): Code => [...a, ...k32(n), 0x76];
const load64 = (addr: Code, off = 0): Code => [...addr, 0x29, 3, ...uleb(off)];
const store64 = (addr: Code, v: Code, off = 0): Code => [...addr, ...v, 0x37, 3, ...uleb(off)];
const load32 = (addr: Code, off = 0): Code => [...addr, 0x28, 2, ...uleb(off)];
const store32 = (addr: Code, v: Code, off = 0): Code => [...addr, ...v, 0x36, 2, ...uleb(off)];
const call = (f: number, ...args: Code[]): Code => [...args.flat(), 0x10, f];
/** while (cond) body — `cond` an i32 expression. */
const loopWhile = (cond: Code, body: Code): Code => [
  0x02,
  0x40,
  0x03,
  0x40,
  ...cond,
  0x45, // i32.eqz
  0x0d,
  1, // br_if out of the block
  ...body,
  0x0c,
  0, // br to the loop
  0x0b,
  0x0b,
];

interface Fn {
  params: number[];
  results: number[];
  locals: number[];
  body: Code;
  export?: string;
}

function module(fns: Fn[], globals: number): Uint8Array {
  const section = (id: number, content: Code): Code => [id, ...uleb(content.length), ...content];
  const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const name = (s: string): Code => [...uleb(s.length), ...Buffer.from(s, 'latin1')];
  const exportEntries = fns.flatMap((f, i) => (f.export ? [[...name(f.export), 0x00, ...uleb(i)]] : []));
  const memExport: Code = [...name('m'), 0x02, 0];
  const code = fns.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])), // one memory, at least 1 page
    ...section(6, vec(Array.from({ length: globals }, () => [I64, 0x01, ...k64(0n), 0x0b]))),
    ...section(7, vec([...exportEntries, memExport])),
    ...section(10, vec(code)),
  ]);
}

// --- the functions -------------------------------------------------------------------------------

const M = [0x1111111111111111n, 0x2222222222222222n, 0x4444444444444444n, 0x8888888888888888n];

/** Globals: H's six operands (h0 = the low 64 bits, h1, h0^h1, their bit reversals); the product. */
const G_H = 0;
const G_ZH = 6;
const G_ZL = 7;
const N_GLOBALS = 8;

const F_REV = 0;
const F_BSWAP = 1;
const F_MUL = 2;
const F_BMUL = 3;

/** The low 64 bits of the carry-less product of locals `x` and `y`; locals t..t+7 are scratch. */
function bmul(x: number, y: number, t: number): Code {
  const xm = (i: number) => get(t + i);
  const ym = (i: number) => get(t + 4 + i);
  const slot = (c: number) => and(xors(...[0, 1, 2, 3].map((a) => mul(xm(a), ym((c - a + 4) % 4)))), k64(M[c]!));
  return cat(
    ...[0, 1, 2, 3].map((i) => set(t + i, and(get(x), k64(M[i]!)))),
    ...[0, 1, 2, 3].map((i) => set(t + 4 + i, and(get(y), k64(M[i]!)))),
    or(or(slot(0), slot(1)), or(slot(2), slot(3))),
  );
}

const swapStep = (e: Code, m: bigint, n: number): Code => or(shl(and(e, k64(m)), n), and(shr(e, n), k64(m)));

/** bswap(x): the bytes of a 64-bit word reversed. */
const bswapBody = (x: number): Code =>
  cat(
    set(x, swapStep(get(x), 0x00ff00ff00ff00ffn, 8)),
    set(x, swapStep(get(x), 0x0000ffff0000ffffn, 16)),
    or(shl(get(x), 32), shr(get(x), 32)),
  );

const bswap: Fn = { params: [I64], results: [I64], locals: [], body: bswapBody(0) };

/** rev(x): the bits of a 64-bit word reversed. */
const rev: Fn = {
  params: [I64],
  results: [I64],
  locals: [],
  body: cat(
    set(0, swapStep(get(0), 0x5555555555555555n, 1)),
    set(0, swapStep(get(0), 0x3333333333333333n, 2)),
    set(0, swapStep(get(0), 0x0f0f0f0f0f0f0f0fn, 4)),
    bswapBody(0),
  ),
};

/** mul(yh, yl): (ZH, ZL) = (yh, yl) * H in GF(2^128). */
const gmul: Fn = {
  params: [I64, I64],
  results: [],
  locals: Array.from({ length: 14 }, () => I64),
  body: (() => {
    const [yh, yl, y2, y0r, y1r, y2r, z0, z1, z2, z0h, z1h, z2h, v0, v1, v2, v3] = [
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ] as const;
    const fold = (w: number, up: number, below: number): Code =>
      cat(
        set(up, xors(get(up), get(w), shr(get(w), 1), shr(get(w), 2), shr(get(w), 7))),
        set(below, xors(get(below), shl(get(w), 63), shl(get(w), 62), shl(get(w), 57))),
      );
    return cat(
      set(y2, xor(get(yl), get(yh))),
      set(y0r, call(F_REV, get(yl))),
      set(y1r, call(F_REV, get(yh))),
      set(y2r, call(F_REV, get(y2))),
      set(z0, call(F_BMUL, get(yl), gget(G_H))),
      set(z1, call(F_BMUL, get(yh), gget(G_H + 1))),
      set(z2, call(F_BMUL, get(y2), gget(G_H + 2))),
      set(z0h, call(F_BMUL, get(y0r), gget(G_H + 3))),
      set(z1h, call(F_BMUL, get(y1r), gget(G_H + 4))),
      set(z2h, call(F_BMUL, get(y2r), gget(G_H + 5))),
      set(z2, xors(get(z2), get(z0), get(z1))),
      set(z2h, xors(get(z2h), get(z0h), get(z1h))),
      set(z0h, shr(call(F_REV, get(z0h)), 1)),
      set(z1h, shr(call(F_REV, get(z1h)), 1)),
      set(z2h, shr(call(F_REV, get(z2h)), 1)),
      // the 255-bit product, v0 the least significant word, shifted left by one bit
      set(v0, get(z0)),
      set(v1, xor(get(z0h), get(z2))),
      set(v2, xor(get(z1), get(z2h))),
      set(v3, get(z1h)),
      set(v3, or(shl(get(v3), 1), shr(get(v2), 63))),
      set(v2, or(shl(get(v2), 1), shr(get(v1), 63))),
      set(v1, or(shl(get(v1), 1), shr(get(v0), 63))),
      set(v0, shl(get(v0), 1)),
      // fold the low 128 bits into the high 128: w ^ w>>1 ^ w>>2 ^ w>>7 two words up, and the bits
      // those shifts push out into the word below that (for v0: into v1, folded in its turn)
      fold(v0, v2, v1),
      fold(v1, v3, v2),
      gset(G_ZH, get(v3)),
      gset(G_ZL, get(v2)),
    );
  })(),
};

/** bmul(x, y): the low 64 bits of the carry-less product. */
const bmulFn: Fn = {
  params: [I64, I64],
  results: [I64],
  locals: Array.from({ length: 8 }, () => I64),
  body: bmul(0, 1, 2),
};

const init: Fn = {
  export: 'init',
  // h; locals 1 h0, 2 h1
  params: [I32],
  results: [],
  locals: [I64, I64],
  body: (() => {
    const operands: Code[] = [
      get(1),
      get(2),
      xor(get(1), get(2)),
      call(F_REV, get(1)),
      call(F_REV, get(2)),
      call(F_REV, xor(get(1), get(2))),
    ];
    return cat(
      set(2, call(F_BSWAP, load64(get(0)))),
      set(1, call(F_BSWAP, load64(get(0), 8))),
      ...operands.map((e, h) => gset(G_H + h, e)),
    );
  })(),
};

const ghash: Fn = {
  export: 'ghash',
  // a, na, c, nc, aLen, cLen, out; locals 7 yh, 8 yl
  params: [I32, I32, I32, I32, I32, I32, I32],
  results: [],
  locals: [I64, I64],
  body: (() => {
    const [yh, yl] = [7, 8];
    const blocks = (p: number, n: number): Code =>
      loopWhile(
        get(n),
        cat(
          set(yh, xor(get(yh), call(F_BSWAP, load64(get(p))))),
          set(yl, xor(get(yl), call(F_BSWAP, load64(get(p), 8)))),
          call(F_MUL, get(yh), get(yl)),
          set(yh, gget(G_ZH)),
          set(yl, gget(G_ZL)),
          set(p, add32(get(p), k32(16))),
          set(n, add32(get(n), k32(-1))),
        ),
      );
    const bits = (i: number): Code => shl([...get(i), 0xad /* i64.extend_i32_u */], 3);
    return cat(
      blocks(0, 1),
      blocks(2, 3),
      call(F_MUL, xor(get(yh), bits(4)), xor(get(yl), bits(5))),
      store64(get(6), call(F_BSWAP, gget(G_ZH))),
      store64(get(6), call(F_BSWAP, gget(G_ZL)), 8),
    );
  })(),
};

const bswap32 = (e: Code): Code =>
  or32(
    or32(shl32(and32(e, k32(0xff)), 24), shl32(and32(e, k32(0xff00)), 8)),
    or32(and32(shr32(e, 8), k32(0xff00)), shr32(e, 24)),
  );

const ctr: Fn = {
  export: 'ctr',
  // j0, out, n; locals 3 w0 (i64), 4 w1, 5 c, 6 j (i32)
  params: [I32, I32, I32],
  results: [],
  locals: [I64, I32, I32, I32],
  body: cat(
    set(3, load64(get(0))),
    set(4, load32(get(0), 8)),
    set(5, bswap32(load32(get(0), 12))),
    set(2, add32(get(2), k32(1))),
    loopWhile(
      get(2),
      cat(
        store64(get(1), get(3)),
        store32(get(1), get(4), 8),
        store32(get(1), bswap32(add32(get(5), get(6))), 12),
        set(1, add32(get(1), k32(16))),
        set(6, add32(get(6), k32(1))),
        set(2, add32(get(2), k32(-1))),
      ),
    ),
  ),
};

const xorFn: Fn = {
  export: 'xor',
  // dst, src, n
  params: [I32, I32, I32],
  results: [],
  locals: [],
  body: loopWhile(
    get(2),
    cat(
      [...get(0), ...get(0), 0x2d, 0, 0, ...get(1), 0x2d, 0, 0, 0x73, 0x3a, 0, 0], // dst[0] ^= src[0]
      set(0, add32(get(0), k32(1))),
      set(1, add32(get(1), k32(1))),
      set(2, add32(get(2), k32(-1))),
    ),
  ),
};

/** Node's WebAssembly, as far as used here (the project's lib setting has no types for it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};

/** The compiled module's exports. */
export interface GhashWasm {
  m: { buffer: ArrayBuffer; grow(pages: number): number };
  init(h: number): void;
  ghash(a: number, na: number, c: number, nc: number, aLen: number, cLen: number, out: number): void;
  ctr(j0: number, out: number, n: number): void;
  xor(dst: number, src: number, n: number): void;
}

let compiled: object | undefined;

/** A new instance (its own memory): one per GcmKey user at a time. */
export function ghashWasm(): GhashWasm {
  compiled ??= new WebAssembly.Module(module([rev, bswap, gmul, bmulFn, init, ghash, ctr, xorFn], N_GLOBALS));
  return new WebAssembly.Instance(compiled).exports as GhashWasm;
}
