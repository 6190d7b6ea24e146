/** HuaweiCloud KMS (placeholder until the client lands): the key type is read and kept; using it fails. */
import type { HckmsKey, KeySource } from '../types.js';

export const source: KeySource<HckmsKey> = {
  wrap: (k) => Promise.reject(new Error(`HuaweiCloud KMS key ${k.keyId}: not supported by this tsops build yet`)),
  unwrap: (k) => Promise.reject(new Error(`HuaweiCloud KMS key ${k.keyId}: not supported by this tsops build yet`)),
};
