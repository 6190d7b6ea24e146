/**
 * X25519, HKDF-SHA-256 and ChaCha20-Poly1305 as age uses them, on node:crypto only (no age library),
 * shared by the native X25519 stanzas (./native.ts) and the SSH stanzas (./ssh-stanzas.ts).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

// X25519 on node:crypto --------------------------------------------------------------------------

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function x25519Private(scalar: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' });
}

function x25519Public(point: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, point]), format: 'der', type: 'spki' });
}

/** X25519(scalar, point); throws for a low-order point (all-zero result). */
export function x25519(scalar: Uint8Array, point: Uint8Array): Buffer {
  return diffieHellman({ privateKey: x25519Private(scalar), publicKey: x25519Public(point) });
}

/** X25519(scalar, basepoint). */
export function x25519Base(scalar: Uint8Array): Buffer {
  const der = createPublicKey(x25519Private(scalar)).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(SPKI_X25519.length));
}

const P = (1n << 255n) - 19n;

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b %= P;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

/** The Montgomery u-coordinate of an Ed25519 public key: u = (1 + y) / (1 - y). */
export function ed25519ToX25519Public(pk: Uint8Array): Buffer {
  const le = Buffer.from(pk);
  le[31]! &= 0x7f;
  const y = BigInt(`0x${Buffer.from(le).reverse().toString('hex')}`);
  const denom = (1n - y + P) % P;
  if (denom === 0n) throw new Error('invalid ssh-ed25519 public key');
  const u = ((1n + y) * modPow(denom, P - 2n)) % P;
  const out = Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse();
  return out;
}

/** The X25519 secret key age derives from an Ed25519 seed (as ssh-to-age does). */
export function ed25519SeedToX25519Secret(seed: Uint8Array): Buffer {
  return createHash('sha512').update(seed).digest().subarray(0, 32);
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'latin1'), 32));
}

export function sealZeroNonce(key: Buffer, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function openZeroNonce(key: Buffer, sealed: Uint8Array): Buffer | null {
  if (sealed.length < 16) return null;
  const body = Buffer.from(sealed);
  try {
    const d = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]);
  } catch {
    return null;
  }
}
