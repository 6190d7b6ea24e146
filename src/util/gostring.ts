/**
 * Go strings are bytes. sops reads dotenv and INI files as Go strings, so a value that is not valid
 * UTF-8 keeps its exact bytes through encrypt, decrypt and edit; Go's encoding/json instead turns each
 * byte of an invalid sequence into U+FFFD. These helpers give tsops both behaviours:
 *
 * - `decodeGoBytes` reads bytes into a JavaScript string that keeps every byte: valid UTF-8 is
 *   decoded as usual, and each byte of an invalid sequence becomes a lone low surrogate
 *   U+DC80..U+DCFF (which valid UTF-8 can never produce). `encodeGoBytes` is its exact inverse.
 * - `decodeUtf8GoJson` reads bytes as Go's encoding/json reads a string: one U+FFFD per invalid byte
 *   (the WHATWG decoder used by `Buffer.toString` gives one U+FFFD per invalid *sequence*).
 *
 * Validity is Go's (unicode/utf8.DecodeRune): no surrogates, no overlong forms, nothing past U+10FFFF.
 */
import { isUtf8 } from 'node:buffer';
import type { Scalar } from '../tree/types.js';

declare global {
  // ES2024, in Node 20 (the project's lib setting is ES2022)
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

/** The length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function seqLen(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = b.length;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < n && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

function decodeWith(b: Buffer, invalid: (byte: number) => string): string {
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let run = 0;
  let i = 0;
  while (i < b.length) {
    const n = seqLen(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += b.toString('utf8', run, i) + invalid(b[i]!);
    i++;
    run = i;
  }
  return out + b.toString('utf8', run, b.length);
}

/** Bytes as a string that keeps every byte (invalid bytes as U+DC80..U+DCFF). */
export function decodeGoBytes(b: Buffer): string {
  return decodeWith(b, (byte) => String.fromCharCode(0xdc00 | byte));
}

/** Bytes as Go's encoding/json decodes a string: U+FFFD for each byte of an invalid sequence. */
export function decodeUtf8GoJson(b: Buffer): string {
  return decodeWith(b, () => '\ufffd');
}

const ESCAPED_BYTE = /[\udc80-\udcff]/;

/** True when a string from `decodeGoBytes` holds bytes that are not valid UTF-8. */
export function hasRawBytes(s: string): boolean {
  return !s.isWellFormed() && ESCAPED_BYTE.test(s);
}

/** The bytes of a string from `decodeGoBytes` (any other lone surrogate becomes U+FFFD's bytes). */
export function encodeGoBytes(s: string): Buffer {
  if (s.isWellFormed()) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a valid pair
        continue;
      }
    }
    if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(s.slice(run, i), 'utf8'), Buffer.of(c & 0xff));
      run = i + 1;
    }
  }
  parts.push(Buffer.from(s.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

/** A string value read from a Go string: with its exact bytes as `raw` when they are not UTF-8. */
export function goStringScalar(s: string): Scalar {
  if (!hasRawBytes(s)) return { kind: 'scalar', type: 'str', text: s };
  return { kind: 'scalar', type: 'str', text: s.toWellFormed(), raw: encodeGoBytes(s) };
}
