/**
 * age master keys, as sops 3.x uses them (the key service side; identifiers are parsed in ./key.ts).
 *
 * - wrap: the data key (or a Shamir share) is encrypted to the recipient and stored as an ASCII-armored
 *   age file (`-----BEGIN AGE ENCRYPTED FILE-----`, 64-column base64, trailing newline), exactly the
 *   layout Go age's armor writer gives sops. Recipients: `age1…` (X25519), `age1pq1…` (hybrid) and
 *   SSH public keys (`ssh-ed25519 …`, `ssh-rsa …`, age's agessh stanzas).
 * - unwrap: the identities sops would find (see ./identities.ts) are tried on the stored file.
 *
 * X25519 keys (the common case) run on node:crypto (./native.ts); the age library (typage) is
 * imported only for SSH and post-quantum keys; age plugins (./plugin.ts) only for plugin keys.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { AgeKey, KeyContext, KeySource } from '../types.js';
import { parseRecipient, shortRecipient } from './key.js';
import type { AgeIdentity } from './identities.js';
import * as native from './native.js';

async function wrap(key: AgeKey, dataKey: Buffer, ctx: KeyContext): Promise<string> {
  let parsed;
  try {
    parsed = parseRecipient(key.recipient.trim());
  } catch (e) {
    throw new SopsError((e as Error).message, ExitCode.ErrorGeneric);
  }
  if (parsed.kind === 'plugin') {
    const plugin = await import('./plugin.js');
    ctx.log(`age: encrypting the data key to ${shortRecipient(key.recipient)} with age-plugin-${parsed.plugin}`);
    try {
      return await plugin.encryptToPlugin(parsed.recipient, dataKey, { env: ctx.env, log: ctx.log });
    } catch (e) {
      if (e instanceof plugin.PluginError) throw new SopsError(e.message, ExitCode.ErrorGeneric, { cause: e });
      throw e;
    }
  }
  if (parsed.kind !== 'ssh') {
    const point = native.x25519Recipient(parsed.recipient);
    if (point) {
      ctx.log(`age: encrypting the data key to ${shortRecipient(key.recipient)}`);
      return native.encryptX25519(dataKey, [point]);
    }
  }
  const age = await import('age-encryption');
  const enc = new age.Encrypter();
  if (parsed.kind === 'ssh') {
    const { sshRecipient } = await import('./ssh-stanzas.js');
    enc.addRecipient(sshRecipient(parsed.key));
  } else {
    enc.addRecipient(parsed.recipient);
  }
  ctx.log(`age: encrypting the data key to ${shortRecipient(key.recipient)}`);
  return age.armor.encode(await enc.encrypt(new Uint8Array(dataKey)));
}

const NO_MATCH = "no identity matched any of the file's recipients";

async function unwrap(key: AgeKey, ctx: KeyContext): Promise<Buffer> {
  const who = shortRecipient(key.recipient);
  const fail = (msg: string) => new SopsError(msg, ExitCode.CouldNotRetrieveKey);
  if (!key.enc) throw fail(`the age key for ${who} has no encrypted data key`);
  const file = native.dearmor(key.enc);
  if (!file) throw fail(`the encrypted data key for age recipient ${who} is not a valid armored age file`);
  const parsed = native.parseAgeFile(file);
  const ids = await import('./identities.js');

  // Files and SOPS_AGE_KEY first; the key commands only if those cannot decrypt (same outcome as
  // sops, which runs them up front, without asking a password manager when it is not needed);
  // passphrase-protected keys last, each asked for only if it may open this file.
  const tryIdentities = async (identities: AgeIdentity[]): Promise<Buffer | null> => {
    // X25519 identities on node:crypto; everything else (SSH, post-quantum, plugins) through typage
    const scalars: Buffer[] = [];
    const others: AgeIdentity[] = [];
    for (const id of identities) {
      const scalar = typeof id === 'string' ? native.x25519Identity(id) : null;
      if (scalar) scalars.push(scalar);
      else others.push(id);
    }
    const fileKey = parsed && scalars.length ? native.unwrapX25519(parsed, scalars) : null;
    if (fileKey && parsed) {
      try {
        const out = native.openPayload(parsed, fileKey);
        ctx.log(`age: decrypted the data key for ${who}`);
        return out;
      } catch (e) {
        throw fail(`could not decrypt the data key for age recipient ${who}: ${(e as Error).message}`);
      }
    }
    if (others.length || (!parsed && identities.length)) {
      const age = await import('age-encryption');
      const d = new age.Decrypter();
      const tried = parsed ? others : identities;
      // AGE-PLUGIN-… identities run their plugin (./plugin.ts, loaded only when there is one)
      const isPlugin = (id: (typeof tried)[number]) => typeof id === 'string' && id.startsWith('AGE-PLUGIN-');
      const plugin = tried.some(isPlugin) ? await import('./plugin.js') : null;
      for (const id of tried) {
        d.addIdentity(
          plugin && isPlugin(id) ? plugin.pluginIdentity(id as string, { env: ctx.env, log: ctx.log }) : id,
        );
      }
      try {
        const out = await d.decrypt(file);
        ctx.log(`age: decrypted the data key for ${who}`);
        return Buffer.from(out);
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== NO_MATCH) throw fail(`could not decrypt the data key for age recipient ${who}: ${msg}`);
      }
    }
    return null;
  };

  const sets = [await ids.staticIdentities(ctx.env)];
  const first = await tryIdentities(sets[0]!.identities);
  if (first) return first;
  sets.push(await ids.commandIdentities(ctx.env, key.recipient));
  const second = await tryIdentities(sets[1]!.identities);
  if (second) return second;
  for (const locked of sets.flatMap((s) => s.locked)) {
    if (!locked.wanted(parsed?.stanzas ?? null, key.recipient)) continue;
    const unlocked = await locked.open();
    const out = unlocked.length ? await tryIdentities(unlocked) : null;
    if (out) return out;
  }
  const total = sets.reduce((n, s) => n + s.identities.length + s.locked.length, 0);
  const head =
    total === 0
      ? `no age identities found to decrypt the data key for ${who}`
      : `no age identity matches recipient ${who}`;
  throw fail(`${head}: ${ids.describeSources(sets)}`);
}

/** The age key source. */
export const source: KeySource<AgeKey> = { wrap, unwrap };

/** Forget the identities loaded so far (they are cached per environment). */
export async function clearAgeIdentityCache(): Promise<void> {
  (await import('./identities.js')).clearIdentityCache();
}
