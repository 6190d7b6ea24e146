/**
 * Key sources, loaded on first use: a file wrapped only with age loads no PGP code and no cloud SDK.
 */
import type { KeySource, KeyType, MasterKey } from './types.js';

type Loader = () => Promise<KeySource<never>>;

const loaders: Record<KeyType, Loader> = {
  age: async () => (await import('./age/client.js')).source,
  pgp: async () => (await import('./pgp/client.js')).source,
  kms: async () => (await import('./kms/client.js')).source,
  gcp_kms: async () => (await import('./gcpkms/client.js')).source,
  azure_kv: async () => (await import('./azkv/client.js')).source,
  hc_vault: async () => (await import('./hcvault/client.js')).source,
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
