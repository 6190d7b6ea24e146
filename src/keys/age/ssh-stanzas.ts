/**
 * age's `ssh-ed25519` and `ssh-rsa` recipient stanzas (age-encryption.org/v1, as Go age's agessh
 * package writes them), as typage Recipient / Identity objects, on node:crypto.
 *
 * ssh-ed25519: the Ed25519 key is used as X25519 (public key through the birational map, secret
 * key = first half of SHA-512(seed)); an ephemeral X25519 share, a tweak derived from the SSH public
 * key, HKDF-SHA-256 and ChaCha20-Poly1305 wrap the file key. ssh-rsa: RSA-OAEP-SHA-256 with the
 * label `age-encryption.org/v1/ssh-rsa`. Both carry a 4-byte tag of the SSH public key.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { Stanza, type Identity, type Recipient } from 'age-encryption';
import { b64raw, fromB64raw, sshKeyTag, type SshPrivateKey, type SshPublicKey } from './ssh-keys.js';

const ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
const RSA_LABEL = 'age-encryption.org/v1/ssh-rsa';

// --- X25519 on node:crypto --------------------------------------------------------------------------

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function x25519Private(scalar: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' });
}

function x25519Public(point: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, point]), format: 'der', type: 'spki' });
}

/** X25519(scalar, point); throws for a low-order point (all-zero result). */
function x25519(scalar: Uint8Array, point: Uint8Array): Buffer {
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

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'latin1'), 32));
}

function sealZeroNonce(key: Buffer, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function openZeroNonce(key: Buffer, sealed: Uint8Array): Buffer | null {
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

// --- ssh-ed25519 -----------------------------------------------------------------------------------

export class SshEd25519Recipient implements Recipient {
  private readonly theirX: Buffer;
  constructor(private readonly key: SshPublicKey) {
    if (key.type !== 'ssh-ed25519' || !key.ed25519) throw new Error('not an ssh-ed25519 key');
    this.theirX = ed25519ToX25519Public(key.ed25519);
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const ephemeral = randomBytes(32);
    const ourX = x25519Base(ephemeral);
    let shared = x25519(ephemeral, this.theirX);
    const tweak = hkdf(Buffer.alloc(0), this.key.blob, ED25519_LABEL);
    shared = x25519(tweak, shared);
    const wrapKey = hkdf(shared, Buffer.concat([ourX, this.theirX]), ED25519_LABEL);
    return [new Stanza(['ssh-ed25519', sshKeyTag(this.key.blob), b64raw(ourX)], sealZeroNonce(wrapKey, fileKey))];
  }
}

export class SshEd25519Identity implements Identity {
  private readonly secret: Buffer;
  private readonly ourX: Buffer;
  private readonly tag: string;
  private readonly tweak: Buffer;
  constructor(key: Extract<SshPrivateKey, { type: 'ssh-ed25519' }>) {
    this.secret = ed25519SeedToX25519Secret(key.seed);
    this.ourX = x25519Base(this.secret);
    this.tag = sshKeyTag(key.publicKey.blob);
    this.tweak = hkdf(Buffer.alloc(0), key.publicKey.blob, ED25519_LABEL);
  }

  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'ssh-ed25519') continue;
      if (s.args.length !== 3) throw new Error('invalid ssh-ed25519 stanza');
      const share = fromB64raw(s.args[2]!);
      if (!share || share.length !== 32) throw new Error('invalid ssh-ed25519 stanza');
      if (s.args[1] !== this.tag) continue;
      let shared: Buffer;
      try {
        shared = x25519(this.tweak, x25519(this.secret, share));
      } catch {
        throw new Error('invalid ssh-ed25519 stanza (low-order share)');
      }
      const wrapKey = hkdf(shared, Buffer.concat([share, this.ourX]), ED25519_LABEL);
      const fileKey = openZeroNonce(wrapKey, s.body);
      if (!fileKey) throw new Error('failed to decrypt the file key of an ssh-ed25519 stanza that names this key');
      return fileKey;
    }
    return null;
  }
}

// --- ssh-rsa ---------------------------------------------------------------------------------------

export class SshRsaRecipient implements Recipient {
  private readonly pub: KeyObject;
  constructor(private readonly key: SshPublicKey) {
    if (key.type !== 'ssh-rsa' || !key.rsa) throw new Error('not an ssh-rsa key');
    this.pub = createPublicKey({ key: { kty: 'RSA', n: key.rsa.n.toString('base64url'), e: key.rsa.e.toString('base64url') }, format: 'jwk' });
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const body = publicEncrypt(
      { key: this.pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from(RSA_LABEL, 'latin1') },
      fileKey,
    );
    return [new Stanza(['ssh-rsa', sshKeyTag(this.key.blob)], body)];
  }
}

export class SshRsaIdentity implements Identity {
  private readonly tag: string;
  constructor(private readonly key: Extract<SshPrivateKey, { type: 'ssh-rsa' }>) {
    this.tag = sshKeyTag(key.publicKey.blob);
  }

  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'ssh-rsa') continue;
      if (s.args.length !== 2) throw new Error('invalid ssh-rsa stanza');
      if (s.args[1] !== this.tag) continue;
      try {
        return privateDecrypt(
          { key: this.key.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from(RSA_LABEL, 'latin1') },
          s.body,
        );
      } catch {
        throw new Error('failed to decrypt the file key of an ssh-rsa stanza that names this key');
      }
    }
    return null;
  }
}

/** The recipient object for an SSH public key. */
export function sshRecipient(key: SshPublicKey): Recipient {
  return key.type === 'ssh-ed25519' ? new SshEd25519Recipient(key) : new SshRsaRecipient(key);
}

/** The identity object for an SSH private key. */
export function sshIdentity(key: SshPrivateKey): Identity {
  return key.type === 'ssh-ed25519' ? new SshEd25519Identity(key) : new SshRsaIdentity(key);
}
