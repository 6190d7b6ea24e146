/**
 * Bech32 (BIP 173, the original checksum constant) as age uses it for `age1…` recipients and
 * `AGE-SECRET-KEY-1…` identities: no 90-character limit, one case per string.
 */

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATORS[i]!;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < 0 || v >> from !== 0) return null;
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) {
    return null;
  }
  return out;
}

/** Encode bytes under a human-readable prefix (lowercase output; uppercase it for identities). */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const lower = hrp.toLowerCase();
  const data = convertBits(bytes, 8, 5, true)!;
  const mod = polymod([...hrpExpand(lower), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum: number[] = [];
  for (let i = 0; i < 6; i++) checksum.push((mod >>> (5 * (5 - i))) & 31);
  return `${lower}1${[...data, ...checksum].map((d) => CHARSET[d]).join('')}`;
}

/**
 * Decode a bech32 string; throws an Error naming the problem (mixed case, bad character, bad
 * checksum). The prefix is returned lowercase.
 */
export function bech32Decode(s: string): { hrp: string; bytes: Uint8Array } {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) throw new Error('mixed upper and lower case');
  const str = s.toLowerCase();
  const sep = str.lastIndexOf('1');
  if (sep < 1) throw new Error('no separator');
  if (str.length - sep - 1 < 6) throw new Error('too short');
  const hrp = str.slice(0, sep);
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) throw new Error('invalid character in the prefix');
  }
  const data: number[] = [];
  for (const ch of str.slice(sep + 1)) {
    const d = CHARSET.indexOf(ch);
    if (d < 0) throw new Error(`invalid character ${JSON.stringify(ch)}`);
    data.push(d);
  }
  if (polymod([...hrpExpand(hrp), ...data]) !== 1) throw new Error('bad checksum (a typo?)');
  const bytes = convertBits(data.slice(0, -6), 5, 8, false);
  if (!bytes) throw new Error('invalid padding');
  return { hrp, bytes: Uint8Array.from(bytes) };
}
