/**
 * The common case of age, on node:crypto alone: X25519 recipients (`age1…`) and identities
 * (`AGE-SECRET-KEY-1…`), the age v1 header with its HMAC, a single-chunk payload, and the ASCII
 * armor Go age writes. sops's data keys are 32 or 33 bytes, so one payload chunk always holds them.
 *
 * This keeps the age library (typage, with its elliptic-curve and post-quantum code) out of the
 * start-up path of every age decrypt and encrypt; ../age.ts falls back to it for SSH, post-quantum,
 * plugin and malformed-but-readable cases.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  generateKeyPairSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { bech32Decode } from './bech32.js';
import { type AgeStanza, decodeB64, encodeB64, encodeStanza, StanzaError, StanzaParser } from './stanza.js';
import { hkdf, openZeroNonce, sealZeroNonce, x25519, x25519Base } from './x25519.js';

const INTRO = 'age-encryption.org/v1';
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const ARMOR_END = '-----END AGE ENCRYPTED FILE-----';
const CHUNK = 64 * 1024;

export type { AgeStanza };

export interface AgeFile {
  stanzas: AgeStanza[];
  /** The header text the MAC covers (through `---`). */
  macInput: Buffer;
  mac: Buffer;
  payload: Buffer;
}

/** Decode Go age's ASCII armor; null if `text` is not armored age. */
export function dearmor(text: string): Buffer | null {
  const t = text.trim();
  if (!t.startsWith(ARMOR_BEGIN) || !t.endsWith(ARMOR_END)) return null;
  const body = t.slice(ARMOR_BEGIN.length, t.length - ARMOR_END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return null;
  return Buffer.from(body, 'base64');
}

/** Armor as Go age does: 64-column standard base64 between the markers, with a final newline. */
export function armor(file: Uint8Array): string {
  const b = Buffer.from(file).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 64) lines.push(b.slice(i, i + 64));
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

/** Parse an age v1 file; null if it is not one this module can read. */
export function parseAgeFile(file: Buffer): AgeFile | null {
  const stanzas: AgeStanza[] = [];
  let pos = 0;
  const line = (): string | null => {
    const nl = file.indexOf(0x0a, pos);
    if (nl < 0) return null;
    const l = file.subarray(pos, nl).toString('latin1');
    pos = nl + 1;
    return l;
  };
  if (line() !== INTRO) return null;
  const parser = new StanzaParser();
  for (;;) {
    const start = pos;
    const l = line();
    if (l === null) return null;
    if (!parser.inStanza && l.startsWith('--- ')) {
      const mac = decodeB64(l.slice(4));
      if (!mac || mac.length !== 32) return null;
      return { stanzas, macInput: file.subarray(0, start + 3), mac, payload: file.subarray(pos) };
    }
    try {
      const st = parser.line(l);
      if (st) stanzas.push(st);
    } catch (e) {
      if (e instanceof StanzaError) return null;
      throw e;
    }
  }
}

/** The 32-byte X25519 scalar of an `AGE-SECRET-KEY-1…` identity; null for any other string. */
export function x25519Identity(s: string): Buffer | null {
  if (!s.startsWith('AGE-SECRET-KEY-1')) return null;
  try {
    const { hrp, bytes } = bech32Decode(s);
    return hrp.toLowerCase() === 'age-secret-key-' && bytes.length === 32 ? Buffer.from(bytes) : null;
  } catch {
    return null;
  }
}

/** The 32-byte point of an `age1…` X25519 recipient; null for any other recipient. */
export function x25519Recipient(s: string): Buffer | null {
  if (!s.startsWith('age1') || s.startsWith('age1pq1') || s.startsWith('age1tag')) return null;
  try {
    const { hrp, bytes } = bech32Decode(s);
    return hrp === 'age' && bytes.length === 32 ? Buffer.from(bytes) : null;
  } catch {
    return null;
  }
}

/** The file key from the first X25519 stanza one of `scalars` opens; null if none does. */
export function unwrapX25519(f: AgeFile, scalars: Buffer[]): Buffer | null {
  for (const scalar of scalars) {
    const ours = x25519Base(scalar);
    for (const st of f.stanzas) {
      if (st.type !== 'X25519' || st.args.length !== 1 || st.body.length !== 32) continue;
      const share = decodeB64(st.args[0]!);
      if (!share || share.length !== 32) continue;
      let shared: Buffer;
      try {
        shared = x25519(scalar, share);
      } catch {
        continue; // low-order share
      }
      const key = hkdf(shared, Buffer.concat([share, ours]), X25519_LABEL);
      const fileKey = openZeroNonce(key, st.body);
      if (fileKey && fileKey.length === 16) return fileKey;
    }
  }
  return null;
}

function headerMac(fileKey: Buffer, macInput: Buffer): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/** Verify the header MAC and decrypt the payload (any number of chunks); throws on tampering. */
export function openPayload(f: AgeFile, fileKey: Buffer): Buffer {
  if (!timingSafeEqual(headerMac(fileKey, f.macInput), f.mac)) throw new Error('bad header MAC');
  if (f.payload.length < 16) throw new Error('payload too short');
  const key = hkdf(fileKey, f.payload.subarray(0, 16), 'payload');
  const body = f.payload.subarray(16);
  const out: Buffer[] = [];
  for (let i = 0, off = 0; ; i++) {
    const end = Math.min(off + CHUNK + 16, body.length);
    const last = end === body.length;
    const chunk = body.subarray(off, end);
    if (chunk.length < 16) throw new Error('truncated payload');
    const d = createDecipheriv('chacha20-poly1305', key, chunkNonce(i, last), { authTagLength: 16 });
    d.setAuthTag(chunk.subarray(chunk.length - 16));
    out.push(d.update(chunk.subarray(0, chunk.length - 16)), d.final());
    if (last) break;
    off = end;
  }
  return Buffer.concat(out);
}

/** Encrypt a small plaintext (one chunk) to X25519 recipients; returns the armored file. */
export function encryptX25519(plaintext: Buffer, recipients: Buffer[]): string {
  const fileKey = randomBytes(16);
  const stanzas: AgeStanza[] = recipients.map((point) => {
    const eph = generateKeyPairSync('x25519');
    const share = Buffer.from(eph.publicKey.export({ format: 'der', type: 'spki' })).subarray(-32);
    const scalar = Buffer.from(eph.privateKey.export({ format: 'der', type: 'pkcs8' })).subarray(-32);
    const shared = x25519(scalar, point);
    const key = hkdf(shared, Buffer.concat([share, point]), X25519_LABEL);
    return { type: 'X25519', args: [encodeB64(share)], body: sealZeroNonce(key, fileKey) };
  });
  return sealFile(plaintext, fileKey, stanzas);
}

/**
 * An armored age file of a small plaintext (one chunk) whose 16-byte `fileKey` the given stanzas
 * wrap (they come from X25519 above or from an age plugin): header, header MAC, payload.
 */
export function sealFile(plaintext: Buffer, fileKey: Buffer, stanzas: AgeStanza[]): string {
  if (plaintext.length > CHUNK) throw new Error('the native age path encrypts one chunk only');
  const header = `${INTRO}\n${stanzas.map(encodeStanza).join('')}---`;
  const mac = headerMac(fileKey, Buffer.from(header, 'latin1'));
  const nonce = randomBytes(16);
  const c = createCipheriv('chacha20-poly1305', hkdf(fileKey, nonce, 'payload'), chunkNonce(0, true), {
    authTagLength: 16,
  });
  const sealed = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return armor(Buffer.concat([Buffer.from(`${header} ${encodeB64(mac)}\n`, 'latin1'), nonce, sealed]));
}
