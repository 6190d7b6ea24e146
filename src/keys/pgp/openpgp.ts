/**
 * PGP without GnuPG: OpenPGP.js with keys read from files the user names. sops has no such mode;
 * tsops defines it with two variables, each a list of paths (separated like PATH: `:`, `;` on
 * Windows) to armored or binary OpenPGP key files (a file may hold several keys or armor blocks):
 *
 *   TSOPS_PGP_PUBLIC_KEYS   keys to encrypt to (secret key files work too)
 *   TSOPS_PGP_PRIVATE_KEYS  unprotected secret keys to decrypt with (passphrase-protected ones are
 *                           skipped: tsops does not prompt)
 *
 * Messages are written the way gpg reads them (SEIPD v1, the key's preferred cipher), and messages
 * gpg wrote are read. The `openpgp` package is imported by this module only, and this module only
 * when one of the variables is set for the operation at hand.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';

export const PUBLIC_KEYS_ENV = 'TSOPS_PGP_PUBLIC_KEYS';
export const PRIVATE_KEYS_ENV = 'TSOPS_PGP_PRIVATE_KEYS';

/** Accept what gpg accepts in keys it was given (1024-bit RSA, ElGamal subkeys), like sops's Go OpenPGP. */
const CONFIG: openpgp.PartialConfig = { minRSABits: 1023, rejectPublicKeyAlgorithms: new Set() };

interface KeyFiles {
  keys: openpgp.Key[];
  /** Per-file notes for messages (`/path (2 keys)`), never secret. */
  notes: string[];
}

const cache = new Map<string, Promise<KeyFiles>>();

export function keyFileList(value: string): string[] {
  return value
    .split(path.delimiter)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Read every key in the files of a list (cached per list). */
function loadKeyFiles(value: string): Promise<KeyFiles> {
  let p = cache.get(value);
  if (!p) {
    p = readKeyFiles(keyFileList(value));
    cache.set(value, p);
  }
  return p;
}

async function readKeyFiles(files: string[]): Promise<KeyFiles> {
  const out: KeyFiles = { keys: [], notes: [] };
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      out.notes.push(`${file} (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not readable'})`);
      continue;
    }
    try {
      const keys: openpgp.Key[] = [];
      const text = data.toString('latin1');
      if (text.includes('-----BEGIN PGP')) {
        const blocks =
          text.match(/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g) ?? [];
        for (const b of blocks) keys.push(...(await openpgp.readKeys({ armoredKeys: b, config: CONFIG })));
      } else {
        keys.push(...(await openpgp.readKeys({ binaryKeys: new Uint8Array(data), config: CONFIG })));
      }
      out.keys.push(...keys);
      out.notes.push(`${file} (${keys.length} key${keys.length === 1 ? '' : 's'})`);
    } catch (e) {
      out.notes.push(`${file} (unreadable: ${(e as Error).message})`);
    }
  }
  return out;
}

/** Normalise a fingerprint or key ID as given: hex, uppercase, no spaces or 0x. */
function normalizeId(fp: string): string {
  return fp.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
}

function keyMatches(key: openpgp.Key, id: string): boolean {
  if (!/^[0-9A-F]+$/.test(id) || ![8, 16, 40, 64].includes(id.length)) return false;
  const fps = [key.getFingerprint(), ...key.subkeys.map((s) => s.getFingerprint())].map((f) => f.toUpperCase());
  return fps.some((f) => (id.length >= 40 ? f === id : f.endsWith(id)));
}

export class KeyNotInFilesError extends Error {}

/** Encrypt `dataKey` to the key `fp` found in TSOPS_PGP_PUBLIC_KEYS / TSOPS_PGP_PRIVATE_KEYS. */
export async function encryptWithKeyFiles(fp: string, dataKey: Buffer, env: NodeJS.ProcessEnv): Promise<string> {
  const lists = [env[PUBLIC_KEYS_ENV], env[PRIVATE_KEYS_ENV]].filter((v): v is string => !!v);
  const id = normalizeId(fp);
  const notes: string[] = [];
  for (const list of lists) {
    const { keys, notes: n } = await loadKeyFiles(list);
    notes.push(...n);
    const key = keys.find((k) => keyMatches(k, id));
    if (!key) continue;
    const message = await openpgp.createMessage({ binary: new Uint8Array(dataKey) });
    // typed here (openpgp's stream types do not resolve here)
    const armored = (await openpgp.encrypt({
      message,
      encryptionKeys: key.toPublic(),
      format: 'armored',
      config: CONFIG,
    })) as string;
    return armored.trim();
  }
  throw new KeyNotInFilesError(`no public key ${fp} in the key files: ${notes.join(', ') || 'none'}`);
}

/** Decrypt an armored message with the unprotected secret keys of TSOPS_PGP_PRIVATE_KEYS. */
export async function decryptWithKeyFiles(enc: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const { keys, notes } = await loadKeyFiles(env[PRIVATE_KEYS_ENV] ?? '');
  let message: openpgp.Message<string>;
  try {
    message = await openpgp.readMessage({ armoredMessage: enc, config: CONFIG });
  } catch (e) {
    throw new Error(`the encrypted data key is not a valid PGP message: ${(e as Error).message}`, { cause: e });
  }
  const wanted = message.getEncryptionKeyIDs();
  const candidates = keys.filter(
    (k): k is openpgp.PrivateKey =>
      k.isPrivate() && k.getKeys().some((sub) => wanted.some((w) => w.equals(sub.getKeyID(), true))),
  );
  const usable = candidates.filter((k) => k.isDecrypted());
  const forIds = wanted.map((w) => w.toHex().toUpperCase()).join(', ');
  if (usable.length === 0) {
    const why = candidates.length
      ? 'the matching secret key is passphrase-protected (tsops cannot ask for passphrases; use gpg)'
      : 'no matching secret key';
    throw new KeyNotInFilesError(
      `${why} for key ID ${forIds} in ${PRIVATE_KEYS_ENV}: ${notes.join(', ') || 'no files'}`,
    );
  }
  try {
    const { data } = (await openpgp.decrypt({ message, decryptionKeys: usable, format: 'binary', config: CONFIG })) as {
      data: Uint8Array;
    };
    return Buffer.from(data);
  } catch (e) {
    throw new Error(`OpenPGP could not decrypt the data key (key ID ${forIds}): ${(e as Error).message}`, { cause: e });
  }
}
