/**
 * SSH keys as age uses them (the `ssh-ed25519` and `ssh-rsa` recipient types): public keys from an
 * authorized_keys-style line, private keys from OpenSSH's `openssh-key-v1` format or from PEM.
 * Only parsing lives here (node:crypto, no age code), so validating `--age` recipients stays cheap.
 */
import { encodeB64 } from './stanza.js';
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  type CipherGCMTypes,
  type Decipher,
  type KeyObject,
} from 'node:crypto';

export type SshKeyType = 'ssh-ed25519' | 'ssh-rsa';

export interface SshPublicKey {
  type: SshKeyType;
  /** The key in SSH wire format (what the base64 of a `.pub` line holds). */
  blob: Buffer;
  /** ssh-ed25519: the 32-byte Ed25519 public key. */
  ed25519?: Buffer;
  /** ssh-rsa: modulus and public exponent, unsigned big-endian. */
  rsa?: { n: Buffer; e: Buffer };
}

export type SshPrivateKey =
  | { type: 'ssh-ed25519'; publicKey: SshPublicKey; seed: Buffer }
  | { type: 'ssh-rsa'; publicKey: SshPublicKey; key: KeyObject };

/**
 * A passphrase-protected private key: what can be read without the passphrase (the public key, when
 * the format shows it) and how to open it.
 */
export interface LockedSshKey {
  /** `openssh` (openssh-key-v1, bcrypt KDF) or `pem` (legacy `Proc-Type: 4,ENCRYPTED`, or PKCS#8). */
  format: 'openssh' | 'pem';
  /** The public key: in the clear in an OpenSSH file; for PEM only from a `.pub` file beside it. */
  publicKey?: SshPublicKey;
  /** Open the key; throws WrongPassphraseError for a wrong passphrase, an Error for anything else. */
  unlock(passphrase: string): Promise<SshPrivateKey>;
}

/** Thrown by parseSshPrivateKey for a key that needs a passphrase; `locked` opens it. */
export class SshKeyEncryptedError extends Error {
  constructor(readonly locked: LockedSshKey) {
    super('the SSH private key is passphrase-protected');
    this.name = 'SshKeyEncryptedError';
  }
}

/** The passphrase does not open the key. */
export class WrongPassphraseError extends Error {
  constructor() {
    super('wrong passphrase (it does not open the key)');
    this.name = 'WrongPassphraseError';
  }
}

/** The 4-byte key tag age puts in ssh stanzas: SHA-256 of the wire-format public key, base64 without padding. */
export function sshKeyTag(blob: Buffer): string {
  return encodeB64(createHash('sha256').update(blob).digest().subarray(0, 4));
}

// --- SSH wire format -------------------------------------------------------------------------------

class WireReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.off >= this.buf.length;
  }
  get rest(): Buffer {
    return this.buf.subarray(this.off);
  }
  uint32(): number {
    if (this.off + 4 > this.buf.length) throw new Error('truncated SSH key data');
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.off + n > this.buf.length) throw new Error('truncated SSH key data');
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  text(): string {
    return this.string().toString('latin1');
  }
  /** An mpint, returned unsigned without leading zero bytes. */
  mpint(): Buffer {
    const b = this.string();
    if (b.length > 0 && b[0]! & 0x80) throw new Error('negative number in SSH key data');
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }
}

function wireString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

function wireMpint(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  let v = unsigned.subarray(i);
  if (v.length > 0 && v[0]! & 0x80) v = Buffer.concat([Buffer.alloc(1), v]);
  return wireString(v);
}

function ed25519Public(pk: Buffer): SshPublicKey {
  if (pk.length !== 32) throw new Error('an ssh-ed25519 key must be 32 bytes');
  return {
    type: 'ssh-ed25519',
    blob: Buffer.concat([wireString('ssh-ed25519'), wireString(pk)]),
    ed25519: Buffer.from(pk),
  };
}

function rsaPublic(n: Buffer, e: Buffer): SshPublicKey {
  const bits = bitLength(n);
  if (bits < 1024) throw new Error(`the ssh-rsa key is too small (${bits} bits)`);
  return { type: 'ssh-rsa', blob: Buffer.concat([wireString('ssh-rsa'), wireMpint(e), wireMpint(n)]), rsa: { n, e } };
}

function bitLength(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/** Parse a wire-format public key blob (ssh-ed25519 or ssh-rsa). */
export function parseSshPublicKeyBlob(blob: Buffer): SshPublicKey {
  const r = new WireReader(blob);
  const type = r.text();
  let key: SshPublicKey;
  if (type === 'ssh-ed25519') {
    key = ed25519Public(r.string());
  } else if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    key = rsaPublic(n, e);
  } else {
    throw new Error(`unsupported SSH key type ${JSON.stringify(type)} (age supports ssh-ed25519 and ssh-rsa)`);
  }
  if (!r.done) throw new Error('trailing data after the SSH public key');
  return key;
}

/**
 * Parse an SSH public key line as in authorized_keys / `.pub` files: `TYPE BASE64 [COMMENT]`.
 * Throws an Error saying what is wrong.
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 2) throw new Error('expected "TYPE BASE64-KEY [COMMENT]"');
  const [type, b64] = fields as [string, string];
  if (type !== 'ssh-ed25519' && type !== 'ssh-rsa') {
    throw new Error(`unsupported SSH key type ${JSON.stringify(type)} (age supports ssh-ed25519 and ssh-rsa)`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error('the key is not valid base64');
  const key = parseSshPublicKeyBlob(Buffer.from(b64, 'base64'));
  if (key.type !== type) throw new Error(`the key data is ${key.type}, not ${type}`);
  return key;
}

// --- private keys ----------------------------------------------------------------------------------

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_END = '-----END OPENSSH PRIVATE KEY-----';
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/**
 * Parse an unencrypted SSH private key (OpenSSH format, or PEM: PKCS#1 RSA, PKCS#8 RSA/Ed25519).
 * Throws SshKeyEncryptedError for a passphrase-protected key (its `locked` opens it with the
 * passphrase: openssh-key-v1 with bcrypt and AES, or encrypted PEM), an Error for anything else
 * wrong. Error messages never include key material.
 */
export function parseSshPrivateKey(text: string): SshPrivateKey {
  const t = text.trim();
  if (t.startsWith(OPENSSH_BEGIN)) return parseOpenSsh(t);
  if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(t) || /Proc-Type:\s*4,ENCRYPTED/.test(t)) {
    throw new SshKeyEncryptedError({
      format: 'pem',
      unlock: (passphrase) => new Promise((resolve) => resolve(unlockPem(t, passphrase))),
    });
  }
  if (/^-----BEGIN (RSA |)PRIVATE KEY-----/.test(t)) return parsePem(t);
  throw new Error('not an SSH private key (expected an OpenSSH or PEM private key)');
}

function parseOpenSsh(t: string): SshPrivateKey {
  const end = t.indexOf(OPENSSH_END);
  if (end < 0) throw new Error('the OpenSSH private key has no END line');
  const body = t.slice(OPENSSH_BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new Error('the OpenSSH private key is not valid base64');
  const raw = Buffer.from(body, 'base64');
  if (!raw.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC))
    throw new Error('not an openssh-key-v1 private key');
  const r = new WireReader(raw.subarray(OPENSSH_MAGIC.length));
  const cipher = r.text();
  const kdf = r.text();
  const kdfOptions = r.string();
  const count = r.uint32();
  if (count !== 1) throw new Error(`the OpenSSH private key file holds ${count} keys (expected 1)`);
  const publicBlob = r.string();
  const section = r.string();
  if (cipher === 'none' && kdf === 'none') return parsePrivateSection(section);
  if (cipher === 'none' || kdf === 'none')
    throw new Error('the OpenSSH private key is corrupt (cipher and KDF disagree)');
  let publicKey: SshPublicKey | undefined;
  try {
    publicKey = parseSshPublicKeyBlob(publicBlob);
  } catch (e) {
    throw new Error(`the OpenSSH private key's public key: ${(e as Error).message}`, { cause: e });
  }
  const spec = CIPHERS[cipher];
  if (!spec) {
    throw new Error(
      `the OpenSSH private key is encrypted with ${JSON.stringify(cipher)}, which tsops cannot open (ssh-keygen's default aes256-ctr can be: ssh-keygen -p -Z aes256-ctr -f KEY)`,
    );
  }
  if (kdf !== 'bcrypt') throw new Error(`the OpenSSH private key uses the unknown KDF ${JSON.stringify(kdf)}`);
  const o = new WireReader(kdfOptions);
  const salt = Buffer.from(o.string());
  const rounds = o.uint32();
  if (rounds < 1 || rounds > 1 << 16) throw new Error(`the OpenSSH private key asks for ${rounds} bcrypt rounds`);
  const tag = spec.gcm ? Buffer.from(r.bytes(16)) : undefined;
  const encrypted = Buffer.from(section);
  throw new SshKeyEncryptedError({
    format: 'openssh',
    publicKey,
    unlock: async (passphrase) => {
      const key = await bcryptPbkdf(Buffer.from(passphrase, 'utf8'), salt, rounds, spec.keyLen + spec.ivLen);
      const k = key.subarray(0, spec.keyLen);
      const iv = key.subarray(spec.keyLen);
      let plain: Buffer;
      try {
        let d: Decipher;
        if (tag) {
          const g = createDecipheriv(spec.name as CipherGCMTypes, k, iv, { authTagLength: 16 });
          g.setAuthTag(tag);
          d = g;
        } else {
          d = createDecipheriv(spec.name, k, iv);
          if (spec.name.endsWith('-cbc')) d.setAutoPadding(false);
        }
        plain = Buffer.concat([d.update(encrypted), d.final()]);
      } catch {
        // a GCM tag that does not verify (or a length CBC cannot hold): the passphrase is wrong
        throw new WrongPassphraseError();
      } finally {
        key.fill(0);
      }
      const priv = parsePrivateSection(plain, true);
      if (!priv.publicKey.blob.equals(publicKey.blob))
        throw new Error('the OpenSSH private key does not match its public key');
      return priv;
    },
  });
}

/** OpenSSH's private-key ciphers that tsops opens (Go's x/crypto/ssh, hence sops, opens aes256-ctr and aes256-cbc). */
const CIPHERS: Record<string, { name: string; keyLen: number; ivLen: number; gcm?: boolean }> = {
  'aes256-ctr': { name: 'aes-256-ctr', keyLen: 32, ivLen: 16 },
  'aes192-ctr': { name: 'aes-192-ctr', keyLen: 24, ivLen: 16 },
  'aes128-ctr': { name: 'aes-128-ctr', keyLen: 16, ivLen: 16 },
  'aes256-cbc': { name: 'aes-256-cbc', keyLen: 32, ivLen: 16 },
  'aes192-cbc': { name: 'aes-192-cbc', keyLen: 24, ivLen: 16 },
  'aes128-cbc': { name: 'aes-128-cbc', keyLen: 16, ivLen: 16 },
  'aes256-gcm@openssh.com': { name: 'aes-256-gcm', keyLen: 32, ivLen: 12, gcm: true },
  'aes128-gcm@openssh.com': { name: 'aes-128-gcm', keyLen: 16, ivLen: 12, gcm: true },
};

/** OpenBSD's bcrypt_pbkdf (the bcrypt-pbkdf package, loaded only to open a protected key). */
async function bcryptPbkdf(pass: Buffer, salt: Buffer, rounds: number, len: number): Promise<Buffer> {
  const { default: bcrypt } = await import('bcrypt-pbkdf');
  const out = Buffer.alloc(len);
  if (bcrypt.pbkdf(pass, pass.length, salt, salt.length, out, len, rounds) !== 0) {
    throw new Error('bcrypt_pbkdf failed');
  }
  pass.fill(0);
  return out;
}

/**
 * The private section of an openssh-key-v1 file. After decryption (`decrypted`), check bytes that
 * differ mean the passphrase was wrong (as OpenSSH and Go's x/crypto/ssh decide).
 */
function parsePrivateSection(section: Buffer, decrypted = false): SshPrivateKey {
  const priv = new WireReader(section);
  if (priv.uint32() !== priv.uint32()) {
    if (decrypted) throw new WrongPassphraseError();
    throw new Error('the OpenSSH private key is corrupt (check bytes differ)');
  }
  const type = priv.text();
  if (type === 'ssh-ed25519') {
    const pk = priv.string();
    const sk = priv.string();
    if (sk.length !== 64 || !sk.subarray(32).equals(pk)) throw new Error('the ssh-ed25519 private key is corrupt');
    return { type, publicKey: ed25519Public(pk), seed: Buffer.from(sk.subarray(0, 32)) };
  }
  if (type === 'ssh-rsa') {
    const n = priv.mpint();
    const e = priv.mpint();
    const d = priv.mpint();
    const iqmp = priv.mpint();
    const p = priv.mpint();
    const q = priv.mpint();
    const key = rsaKeyObject(n, e, d, p, q, iqmp);
    return { type, publicKey: rsaPublic(n, e), key };
  }
  throw new Error(`unsupported SSH key type ${JSON.stringify(type)} (age supports ssh-ed25519 and ssh-rsa)`);
}

function toBig(b: Buffer): bigint {
  return b.length ? BigInt(`0x${b.toString('hex')}`) : 0n;
}

function fromBig(v: bigint): Buffer {
  let h = v.toString(16);
  if (h.length % 2) h = `0${h}`;
  return Buffer.from(h, 'hex');
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

function rsaKeyObject(n: Buffer, e: Buffer, d: Buffer, p: Buffer, q: Buffer, iqmp: Buffer): KeyObject {
  const dBig = toBig(d);
  const dp = fromBig(dBig % (toBig(p) - 1n));
  const dq = fromBig(dBig % (toBig(q) - 1n));
  try {
    return createPrivateKey({
      key: {
        kty: 'RSA',
        n: b64url(n),
        e: b64url(e),
        d: b64url(d),
        p: b64url(p),
        q: b64url(q),
        dp: b64url(dp),
        dq: b64url(dq),
        qi: b64url(iqmp),
      },
      format: 'jwk',
    });
  } catch {
    throw new Error('the ssh-rsa private key is corrupt');
  }
}

/** A passphrase-protected PEM key (legacy `Proc-Type: 4,ENCRYPTED`, or PKCS#8), through OpenSSL. */
function unlockPem(t: string, passphrase: string): SshPrivateKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: t, format: 'pem', passphrase });
  } catch (e) {
    const msg = (e as Error).message;
    if (/bad decrypt|wrong password|bad password|DECRYPT|decoder routines/i.test(msg)) throw new WrongPassphraseError();
    throw new Error('the PEM private key could not be read', { cause: e });
  }
  return fromKeyObject(key);
}

function parsePem(t: string): SshPrivateKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: t, format: 'pem' });
  } catch {
    throw new Error('the PEM private key could not be read');
  }
  return fromKeyObject(key);
}

function fromKeyObject(key: KeyObject): SshPrivateKey {
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa' && jwk.n && jwk.e) {
    const n = Buffer.from(jwk.n, 'base64url');
    const e = Buffer.from(jwk.e, 'base64url');
    return { type: 'ssh-rsa', publicKey: rsaPublic(n, e), key };
  }
  if (key.asymmetricKeyType === 'ed25519' && jwk.d && jwk.x) {
    return {
      type: 'ssh-ed25519',
      publicKey: ed25519Public(Buffer.from(jwk.x, 'base64url')),
      seed: Buffer.from(jwk.d, 'base64url'),
    };
  }
  throw new Error(
    `unsupported private key type ${JSON.stringify(key.asymmetricKeyType)} (age supports ssh-ed25519 and ssh-rsa)`,
  );
}
