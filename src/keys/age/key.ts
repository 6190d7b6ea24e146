/**
 * age key identifiers, as sops 3.x reads them (no age library imported here):
 *
 * - `age1…` X25519 recipients (bech32, checksum checked, 32 bytes), `age1pq1…` post-quantum hybrid
 *   recipients, `age1NAME1…` plugin recipients (sops 3.10+ parses them; wrapping needs the plugin
 *   `age-plugin-NAME`), and SSH public keys (`ssh-ed25519 …`, `ssh-rsa …`);
 * - lists are comma-separated, entries trimmed, empty entries skipped;
 * - a recipient is stored as given (trimmed), as sops stores it;
 * - identity (see `ageKeyId`): bech32 recipients compare case-insensitively, SSH keys by type and
 *   key (the comment is not part of the key).
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { AgeKey } from '../types.js';
import { bech32Decode } from './bech32.js';
import { parseSshPublicKey, type SshPublicKey } from './ssh-keys.js';

export type ParsedRecipient =
  | { kind: 'x25519'; recipient: string }
  | { kind: 'hybrid'; recipient: string }
  | { kind: 'plugin'; recipient: string; plugin: string }
  | { kind: 'ssh'; recipient: string; key: SshPublicKey };

/** Parse one (already trimmed) recipient; throws an Error whose message explains what is wrong. */
export function parseRecipient(s: string): ParsedRecipient {
  if (/^AGE-SECRET-KEY-/i.test(s) || /^AGE-PLUGIN-/i.test(s)) {
    // never echo it: it is a secret
    throw new Error('an age identity (secret key) was given where a recipient (public key, age1…) is expected');
  }
  if (/^-----BEGIN/.test(s)) throw new Error('a private key was given where an age recipient is expected');
  if (s.startsWith('ssh-')) {
    try {
      return { kind: 'ssh', recipient: s, key: parseSshPublicKey(s) };
    } catch (e) {
      throw new Error(`invalid SSH recipient ${JSON.stringify(shortRecipient(s))}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  if (/^age1/i.test(s)) {
    let decoded: { hrp: string; bytes: Uint8Array };
    try {
      decoded = bech32Decode(s);
    } catch (e) {
      throw new Error(`invalid age recipient ${JSON.stringify(shortRecipient(s))}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (decoded.hrp === 'age') {
      if (decoded.bytes.length !== 32)
        throw new Error(
          `invalid age recipient ${JSON.stringify(s)}: an X25519 recipient holds 32 bytes, this one ${decoded.bytes.length}`,
        );
      return { kind: 'x25519', recipient: s.toLowerCase() };
    }
    if (decoded.hrp === 'age1pq') {
      if (decoded.bytes.length !== 1216)
        throw new Error(`invalid age recipient ${JSON.stringify(shortRecipient(s))}: wrong key length`);
      return { kind: 'hybrid', recipient: s.toLowerCase() };
    }
    const plugin = /^age1([a-z0-9._+-]+)$/.exec(decoded.hrp)?.[1]; // PLUGIN_NAME
    if (plugin) return { kind: 'plugin', recipient: s.toLowerCase(), plugin };
  }
  const shown = s.length > 8 ? `${s.slice(0, 8)}…` : s;
  throw new Error(`unknown age recipient type ${JSON.stringify(shown)} (expected age1…, ssh-ed25519 … or ssh-rsa …)`);
}

/**
 * The plugin name (lowercase) of an age plugin identity `AGE-PLUGIN-NAME-1…` (bech32, checksum
 * checked), or null if `s` is none. Names take the characters plugin recipients may (PLUGIN_NAME).
 */
export function pluginIdentityName(s: string): string | null {
  if (!s.startsWith('AGE-PLUGIN-')) return null;
  try {
    const { hrp } = bech32Decode(s);
    return /^age-plugin-([a-z0-9._+-]+)-$/.exec(hrp)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Why `recipient` is not an age recipient sops would accept, or undefined if it is one. */
export function ageRecipientProblem(recipient: string): string | undefined {
  try {
    parseRecipient(recipient.trim());
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** One age recipient (trimmed, stored as given). */
export function parseAgeRecipient(recipient: string): AgeKey {
  const r = recipient.trim();
  if (r === '') throw new SopsError('empty age recipient', ExitCode.ErrorGeneric);
  const problem = ageRecipientProblem(r);
  if (problem) throw new SopsError(problem, ExitCode.ErrorGeneric);
  return { type: 'age', recipient: r, enc: '' };
}

/** Comma-separated age recipients (`--age`, SOPS_AGE_RECIPIENTS, `.sops.yaml`'s `age:`). */
export function parseAgeRecipients(list: string): AgeKey[] {
  return splitKeyList(list).map(parseAgeRecipient);
}

/** Split a comma-separated key list: entries trimmed, empty entries dropped. */
export function splitKeyList(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** What makes two age keys the same recipient. */
export function ageKeyId(k: AgeKey): string {
  const r = k.recipient.trim();
  if (r.startsWith('ssh-')) return r.split(/\s+/).slice(0, 2).join(' ');
  return /^age1/i.test(r) ? r.toLowerCase() : r;
}

/** A recipient short enough for a message: SSH keys and long post-quantum keys abbreviated. */
export function shortRecipient(r: string): string {
  if (r.startsWith('ssh-')) {
    const [type, b64 = '', ...comment] = r.trim().split(/\s+/);
    const c = comment.join(' ');
    return `${type} ${b64.length > 20 ? `${b64.slice(0, 12)}…${b64.slice(-8)}` : b64}${c ? ` ${c}` : ''}`;
  }
  return r.length > 100 ? `${r.slice(0, 24)}…${r.slice(-8)}` : r;
}

// --- the entry in the file's `sops` metadata ---------------------------------------------------

/** Reads one metadata key entry's fields (the metadata room supplies it, with its own errors). */
export interface KeyFieldReader {
  /** A string field; '' when absent and not required. */
  str(field: string, required?: boolean): string;
  /** A map of strings (the KMS encryption context), or undefined when absent. */
  map(field: string): Record<string, string> | undefined;
}

/** An age entry's fields as sops writes them (`enc` added by the caller). */
export function ageToMap(k: AgeKey): Record<string, string> {
  return { recipient: k.recipient };
}

/** An age entry from its fields. */
export function ageFromMap(r: KeyFieldReader, enc: string): AgeKey {
  return { type: 'age', recipient: r.str('recipient', true), enc };
}
