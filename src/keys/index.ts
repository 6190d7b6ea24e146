/**
 * Key sources, loaded on first use: a file wrapped only with age loads no PGP code and no cloud SDK.
 */
import type { KeySource, KeyType, MasterKey, OtherKey } from './types.js';

/** Entries of a key list tsops does not know: kept in the file, never used. */
const otherSource: KeySource<OtherKey> = {
  wrap: (k) =>
    Promise.reject(
      new Error(
        `tsops cannot encrypt with "${k.list}" keys (a key type it does not know, written by a newer sops); use that sops, or remove the "${k.list}" entries from the file's sops metadata first`,
      ),
    ),
  unwrap: (k) => Promise.reject(new Error(`tsops cannot decrypt with "${k.list}" keys (a key type it does not know)`)),
};

type Loader = () => Promise<KeySource<never>>;

const loaders: Record<KeyType, Loader> = {
  age: async () => (await import('./age/client.js')).source,
  pgp: async () => (await import('./pgp/client.js')).source,
  kms: async () => (await import('./kms/client.js')).source,
  gcp_kms: async () => (await import('./gcpkms/client.js')).source,
  azure_kv: async () => (await import('./azkv/client.js')).source,
  hc_vault: async () => (await import('./hcvault/client.js')).source,
  hckms: async () => (await import('./hckms/client.js')).source,
  other: () => Promise.resolve(otherSource),
};

const loaded = new Map<KeyType, Promise<KeySource<never>>>();

/** The source for a key's type, imported once. */
export function keySourceFor<K extends MasterKey>(type: K['type']): Promise<KeySource<K>> {
  let p = loaded.get(type);
  if (!p) {
    p = loaders[type]();
    loaded.set(type, p);
  }
  return p;
}
