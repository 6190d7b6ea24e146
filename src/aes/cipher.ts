/**
 * The value cipher: AES-256-GCM with sops's 32-byte IV, written as
 * `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SopsError, ExitCode } from '../errors.js';
import { encodeGoBytes } from '../util/gostring.js';

export const IV_SIZE = 32;
const TAG_SIZE = 16;

export interface EncryptedValue {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: string;
}

const ENC_PREFIX = 'ENC[AES256_GCM,data:';

/** Fresh IVs come from a pool refilled 64 KiB at a time: one randomBytes call per 2048 values. */
let ivPool = Buffer.alloc(0);
let ivPos = 0;
function freshIv(): Buffer {
  if (ivPos + IV_SIZE > ivPool.length) {
    ivPool = randomBytes(IV_SIZE * 2048);
    ivPos = 0;
  }
  const iv = ivPool.subarray(ivPos, ivPos + IV_SIZE);
  ivPos += IV_SIZE;
  return iv;
}

/** True if a string has the shape of an encrypted sops value. */
export function isEncryptedValue(s: string): boolean {
  return s.startsWith(ENC_PREFIX);
}

/**
 * Parse `ENC[...]`; throws a SopsError for anything else. The fields are split where sops's regex
 * `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]` splits them (aes/cipher.go): each group
 * as long as the rest still matches, `.` not crossing a newline, so the type runs to the last `]`
 * (`type:str]x]` has the type `str]x`, which no sops reads) and text after that `]` is ignored.
 */
export function parseEncrypted(value: string): EncryptedValue {
  // (no part of the value is shown: it may be a secret that was never encrypted)
  const bad = () => new SopsError(`value is not in sops's encrypted format`, ExitCode.ErrorDecryptingTree);
  const f = FIELDS;
  if (!splitEncrypted(value, f)) throw bad();
  return {
    data: b64(value, ENC_PREFIX.length, f[0]!, 'data'),
    iv: b64(value, f[0]! + 4, f[1]!, 'iv'),
    tag: b64(value, f[1]! + 5, f[2]!, 'tag'),
    type: value.slice(f[2]! + 6, f[3]),
  };
}

const FIELDS = new Int32Array(4);

/**
 * Where the fields of `ENC[...]` are (the split of parseEncrypted): `f[0]` the `,iv:`, `f[1]` the
 * `,tag:`, `f[2]` the `,type:`, `f[3]` the closing `]`; the data starts at ENC_PREFIX.length. False
 * when `value` does not have the shape.
 */
export function splitEncrypted(value: string, f: Int32Array): boolean {
  if (!value.startsWith(ENC_PREFIX)) return false;
  const nl = value.indexOf('\n');
  const end = nl < 0 ? value.lastIndexOf(']') : value.lastIndexOf(']', nl);
  const type = end < 7 ? -1 : value.lastIndexOf(',type:', end - 7);
  const tag = type < 6 ? -1 : value.lastIndexOf(',tag:', type - 6);
  const iv = tag < 5 ? -1 : value.lastIndexOf(',iv:', tag - 5);
  if (iv <= ENC_PREFIX.length) return false;
  f[0] = iv;
  f[1] = tag;
  f[2] = type;
  f[3] = end;
  return true;
}

/** Where the data field of `ENC[...]` starts. */
export const ENC_DATA_START = ENC_PREFIX.length;

/** The value of each standard base64 character, -1 for every other UTF-16 code unit. */
const B64_VALUE = new Int8Array(65536).fill(-1);
for (let i = 0; i < 64; i++)
  B64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Decode `s[from..to)` as canonical standard base64 (what decodes and re-encodes to the same text,
 * as Go's StdEncoding takes it; Node's decoder would skip bad characters) into `out` at `pos`:
 * whole quads, `=` padding only at the end, and zero unused bits in the last character before the
 * padding. Returns the number of bytes written, or -1 (and garbage in `out`) when not canonical.
 * `out` needs room for (to - from) / 4 * 3 bytes.
 */
export function decodeBase64Into(s: string, from: number, to: number, out: Uint8Array, pos: number): number {
  const n = to - from;
  if (n % 4 !== 0) return -1;
  let pad = 0;
  if (n > 0 && s.charCodeAt(to - 1) === 61) pad = s.charCodeAt(to - 2) === 61 ? 2 : 1;
  const stop = pad === 0 ? to : to - 4;
  const T = B64_VALUE;
  let p = pos;
  let i = from;
  let bad = 0;
  for (; i < stop; i += 4) {
    const a = T[s.charCodeAt(i)]!;
    const b = T[s.charCodeAt(i + 1)]!;
    const c = T[s.charCodeAt(i + 2)]!;
    const d = T[s.charCodeAt(i + 3)]!;
    bad |= a | b | c | d;
    out[p] = (a << 2) | (b >> 4);
    out[p + 1] = (b << 4) | (c >> 2);
    out[p + 2] = (c << 6) | d;
    p += 3;
  }
  if (pad !== 0) {
    const a = T[s.charCodeAt(i)]!;
    const b = T[s.charCodeAt(i + 1)]!;
    if (pad === 2) {
      bad |= a | b | (b & 0x0f ? -1 : 0);
      out[p++] = (a << 2) | (b >> 4);
    } else {
      const c = T[s.charCodeAt(i + 2)]!;
      bad |= a | b | c | (c & 0x03 ? -1 : 0);
      out[p] = (a << 2) | (b >> 4);
      out[p + 1] = (b << 4) | (c >> 2);
      p += 2;
    }
  }
  return bad < 0 ? -1 : p - pos;
}

function b64(s: string, from: number, to: number, what: string): Buffer {
  const out = Buffer.allocUnsafe(((to - from) >> 2) * 3);
  const n = decodeBase64Into(s, from, to, out, 0);
  if (n < 0) {
    throw new SopsError(`could not base64-decode the ${what} of an encrypted value`, ExitCode.ErrorDecryptingTree);
  }
  return out.subarray(0, n);
}

/**
 * Encrypt `plaintext` (UTF-8 text or raw bytes) under `key` with `aad`; `iv` reuses a stashed IV
 * (edit/set keep unchanged values' ciphertext), otherwise a fresh random one.
 */
export function encryptValue(plaintext: string | Buffer, type: string, key: Buffer, aad: string, iv?: Buffer): string {
  const nonce = iv ?? freshIv();
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_SIZE });
  c.setAAD(encodeGoBytes(aad));
  const data = Buffer.concat([
    c.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext),
    c.final(),
  ]);
  const tag = c.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${nonce.toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
}

/** Decrypt a parsed value; throws a SopsError when the key, data or additional data do not match. */
export function decryptParsed(v: EncryptedValue, key: Buffer, aad: string): Buffer {
  if (v.iv.length === 0) throw new SopsError('an encrypted value has an empty IV', ExitCode.ErrorDecryptingTree);
  if (v.tag.length !== TAG_SIZE)
    throw new SopsError('an encrypted value has a malformed tag', ExitCode.ErrorDecryptingTree);
  try {
    const d = createDecipheriv('aes-256-gcm', key, v.iv, { authTagLength: TAG_SIZE });
    d.setAAD(encodeGoBytes(aad));
    d.setAuthTag(v.tag);
    return Buffer.concat([d.update(v.data), d.final()]);
  } catch {
    throw new SopsError(
      `could not decrypt the value at ${describeAad(aad)}: authentication failed (wrong data key, or the value or its key path was changed)`,
      ExitCode.ErrorDecryptingTree,
    );
  }
}

/** A human-readable key path for messages: `a:b:` → `["a"]["b"]`. */
export function describeAad(aad: string): string {
  const parts = aad.split(':').slice(0, -1);
  if (parts.length === 0) return 'the top level';
  return parts.map((p) => `[${JSON.stringify(p)}]`).join('');
}
