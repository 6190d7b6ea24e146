/**
 * Parsing age recipients as sops accepts them: `age1…` (X25519), `age1pq1…` (post-quantum hybrid),
 * and SSH public keys (`ssh-ed25519 …`, `ssh-rsa …`). Plugin recipients (`age1NAME1…`) need an
 * age plugin binary, which tsops does not run.
 */
import { bech32Decode } from './bech32.js';
import { parseSshPublicKey, type SshPublicKey } from './ssh-keys.js';

export type ParsedRecipient =
  | { kind: 'x25519'; recipient: string }
  | { kind: 'hybrid'; recipient: string }
  | { kind: 'ssh'; recipient: string; key: SshPublicKey };

/** Parse one (already trimmed) recipient; throws an Error whose message explains what is wrong. */
export function parseAgeRecipient(s: string): ParsedRecipient {
  if (/^AGE-SECRET-KEY-/i.test(s) || /^AGE-PLUGIN-/i.test(s)) {
    // never echo it: it is a secret
    throw new Error('an age identity (secret key) was given where a recipient (public key, age1…) is expected');
  }
  if (/^-----BEGIN/.test(s)) throw new Error('a private key was given where an age recipient is expected');
  if (s.startsWith('ssh-')) {
    try {
      return { kind: 'ssh', recipient: s, key: parseSshPublicKey(s) };
    } catch (e) {
      throw new Error(`invalid SSH recipient ${JSON.stringify(shortRecipient(s))}: ${(e as Error).message}`);
    }
  }
  if (/^age1/i.test(s)) {
    let decoded: { hrp: string; bytes: Uint8Array };
    try {
      decoded = bech32Decode(s);
    } catch (e) {
      throw new Error(`invalid age recipient ${JSON.stringify(s)}: ${(e as Error).message}`);
    }
    if (decoded.hrp === 'age') {
      if (decoded.bytes.length !== 32) throw new Error(`invalid age recipient ${JSON.stringify(s)}: wrong key length`);
      return { kind: 'x25519', recipient: s.toLowerCase() };
    }
    if (decoded.hrp === 'age1pq') {
      if (decoded.bytes.length !== 1216) throw new Error(`invalid age recipient ${JSON.stringify(shortRecipient(s))}: wrong key length`);
      return { kind: 'hybrid', recipient: s.toLowerCase() };
    }
    throw new Error(
      `age plugin recipients are not supported: ${JSON.stringify(shortRecipient(s))} needs the plugin age-plugin-${decoded.hrp.slice(4)}`,
    );
  }
  const shown = s.length > 8 ? `${s.slice(0, 8)}…` : s;
  throw new Error(`unknown age recipient type ${JSON.stringify(shown)} (expected age1…, ssh-ed25519 … or ssh-rsa …)`);
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
