/**
 * Shamir secret sharing of the data key across key groups, in sops's layout: GF(2^8) over
 * x^8+x^4+x^3+x+1, each share the polynomial values followed by its x coordinate as the last byte.
 * `shamir-secret-sharing` (audited) does the field arithmetic with exactly this layout.
 *
 * Beyond sops: a threshold of 1 ("any one group") is allowed. Its shares are a degree-0 polynomial
 * (every share is the secret followed by its x), so tsops recovers the key from any single share;
 * real sops, which never combines fewer than two shares, reads such a file only when it can open two
 * groups.
 */
import { combine as sssCombine, split as sssSplit } from 'shamir-secret-sharing';
import { randomBytes } from 'node:crypto';

export async function splitKey(secret: Buffer, parts: number, threshold: number): Promise<Buffer[]> {
  if (parts < 1 || parts > 255) throw new Error(`cannot split a key into ${parts} parts (1 to 255)`);
  if (threshold < 1 || threshold > parts)
    throw new Error(`shamir threshold ${threshold} must be between 1 and the number of key groups (${parts})`);
  if (threshold === 1) {
    // distinct non-zero x coordinates, as the library would choose them
    const xs = new Set<number>();
    while (xs.size < parts) xs.add(1 + (randomBytes(1)[0]! % 255));
    return [...xs].map((x) => Buffer.concat([secret, Buffer.from([x])]));
  }
  const shares = await sssSplit(new Uint8Array(secret), parts, threshold);
  return shares.map((s) => Buffer.from(s));
}

export async function combineShares(shares: Buffer[]): Promise<Buffer> {
  if (shares.length === 0) throw new Error('no key group could be decrypted');
  if (shares.length === 1) return Buffer.from(shares[0]!.subarray(0, shares[0]!.length - 1));
  return Buffer.from(await sssCombine(shares.map((s) => new Uint8Array(s))));
}
