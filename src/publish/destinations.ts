/**
 * Where `publish` sends a file: the destination a `destination_rules` entry names, and the path a
 * file gets there — as sops 3.13 forms them (publish/s3.go, gcs.go, vault.go):
 *
 * - S3: `s3://BUCKET/PREFIXNAME`, object key `s3_prefix` + name (the prefix is used as written: give
 *   it its trailing `/`);
 * - GCS: `gcs://BUCKET/PREFIXNAME`, object `gcs_prefix` + name;
 * - Vault KV: `vault_path` gets a trailing `/`, the mount (`vault_kv_mount_name`, default `secret/`)
 *   too; version 1 writes `MOUNT/PATH/NAME`, version 2 (the default, also for any value but 1)
 *   `MOUNT/data/PATH/NAME`. The address is `vault_address`, else `VAULT_ADDR`, else
 *   `https://127.0.0.1:8200` (Vault's own default).
 *
 * No SDK is imported here.
 */
import type { DestinationRule } from '../config/config.js';

export type Destination =
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'gcs'; bucket: string; prefix: string }
  | { kind: 'vault'; address?: string; path: string; mount: string; version: 1 | 2 };

/** The destination a rule names, or undefined when it names none (sops: "no destination configured"). */
export function destinationOf(rule: DestinationRule): Destination | undefined {
  if (rule.s3Bucket) return { kind: 's3', bucket: rule.s3Bucket, prefix: rule.s3Prefix ?? '' };
  if (rule.gcsBucket) return { kind: 'gcs', bucket: rule.gcsBucket, prefix: rule.gcsPrefix ?? '' };
  if (rule.vaultPath) {
    const slash = (s: string) => (s.endsWith('/') ? s : `${s}/`);
    return {
      kind: 'vault',
      ...(rule.vaultAddress ? { address: rule.vaultAddress } : {}),
      path: slash(rule.vaultPath),
      mount: slash(rule.vaultKvMountName || 'secret/'),
      version: rule.vaultKvVersion === 1 ? 1 : 2,
    };
  }
  return undefined;
}

/** Vault's own default address (`VAULT_ADDR` unset). */
export const VAULT_DEFAULT_ADDRESS = 'https://127.0.0.1:8200';

/** The Vault server a KV destination writes to. */
export function vaultAddress(d: Extract<Destination, { kind: 'vault' }>, env: NodeJS.ProcessEnv): string {
  return d.address || (env['VAULT_ADDR'] ?? '').trim() || VAULT_DEFAULT_ADDRESS;
}

/** The API path (after `/v1/`) of the secret a file becomes. */
export function vaultSecretPath(d: Extract<Destination, { kind: 'vault' }>, name: string): string {
  return d.version === 1 ? `${d.mount}${d.path}${name}` : `${d.mount}data/${d.path}${name}`;
}

/** Where `name` goes, as sops prints it in its question (`uploading FILE to WHERE ? (y/n)`). */
export function destinationUrl(d: Destination, name: string, env: NodeJS.ProcessEnv): string {
  switch (d.kind) {
    case 's3':
      return `s3://${d.bucket}/${d.prefix}${name}`;
    case 'gcs':
      return `gcs://${d.bucket}/${d.prefix}${name}`;
    case 'vault':
      return `${vaultAddress(d, env)}/v1/${vaultSecretPath(d, name)}`;
  }
}
