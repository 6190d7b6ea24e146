/**
 * age's `ssh-ed25519` and `ssh-rsa` recipient stanzas (age-encryption.org/v1, as Go age's agessh
 * package writes them), as typage Recipient / Identity objects, on node:crypto.
 *
 * ssh-ed25519: the Ed25519 key is used as X25519 (public key through the birational map, secret
 * key = first half of SHA-512(seed)); an ephemeral X25519 share, a tweak derived from the SSH public
 * key, HKDF-SHA-256 and ChaCha20-Poly1305 wrap the file key. ssh-rsa: RSA-OAEP-SHA-256 with the
 * label `age-encryption.org/v1/ssh-rsa`. Both carry a 4-byte tag of the SSH public key.
 */
import { constants, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { Stanza, type Identity, type Recipient } from 'age-encryption';
import { sshKeyTag, type SshPrivateKey, type SshPublicKey } from './ssh-keys.js';
import { decodeB64, encodeB64 } from './stanza.js';
import {
  ed25519SeedToX25519Secret,
  ed25519ToX25519Public,
  hkdf,
  openZeroNonce,
  sealZeroNonce,
  x25519,
  x25519Base,
} from './x25519.js';

export { ed25519SeedToX25519Secret };

const ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
const RSA_LABEL = 'age-encryption.org/v1/ssh-rsa';

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
    return [new Stanza(['ssh-ed25519', sshKeyTag(this.key.blob), encodeB64(ourX)], sealZeroNonce(wrapKey, fileKey))];
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
      const share = decodeB64(s.args[2]!);
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
    this.pub = createPublicKey({
      key: { kty: 'RSA', n: key.rsa.n.toString('base64url'), e: key.rsa.e.toString('base64url') },
      format: 'jwk',
    });
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const body = publicEncrypt(
      {
        key: this.pub,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from(RSA_LABEL, 'latin1'),
      },
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
          {
            key: this.key.key,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: 'sha256',
            oaepLabel: Buffer.from(RSA_LABEL, 'latin1'),
          },
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
