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
  if (!value.startsWith(ENC_PREFIX)) throw bad();
  const nl = value.indexOf('\n');
  const line = nl < 0 ? value : value.slice(0, nl);
  const end = line.lastIndexOf(']');
  const type = end < 7 ? -1 : line.lastIndexOf(',type:', end - 7);
  const tag = type < 6 ? -1 : line.lastIndexOf(',tag:', type - 6);
  const iv = tag < 5 ? -1 : line.lastIndexOf(',iv:', tag - 5);
  if (iv <= ENC_PREFIX.length) throw bad();
  return {
    data: b64(value.slice(ENC_PREFIX.length, iv), 'data'),
    iv: b64(value.slice(iv + 4, tag), 'iv'),
    tag: b64(value.slice(tag + 5, type), 'tag'),
    type: value.slice(type + 6, end),
  };
}

/** The value of each standard base64 character, -1 for others. */
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++)
  B64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Whether `s` is canonical standard base64 (what decodes and re-encodes to the same text, as Go's
 * StdEncoding takes it; Node's decoder would skip bad characters): whole quads, `=` padding only at
 * the end, and zero unused bits in the last character before the padding.
 */
function isCanonicalBase64(s: string): boolean {
  let n = s.length;
  if (n % 4 !== 0) return false;
  let pad = 0;
  if (n > 0 && s.charCodeAt(n - 1) === 61) pad = s.charCodeAt(n - 2) === 61 ? 2 : 1;
  n -= pad;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || B64_VALUE[c]! < 0) return false;
  }
  return pad === 0 || (B64_VALUE[s.charCodeAt(n - 1)]! & (pad === 2 ? 0x0f : 0x03)) === 0;
}

function b64(s: string, what: string): Buffer {
  if (!isCanonicalBase64(s)) {
    throw new SopsError(`could not base64-decode the ${what} of an encrypted value`, ExitCode.ErrorDecryptingTree);
  }
  return Buffer.from(s, 'base64');
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
