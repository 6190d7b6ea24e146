/**
 * Azure Key Vault key identifiers, as sops 3.x reads them (no Azure SDK imported here):
 *
 * - `https://VAULT.vault.azure.net/keys/NAME[/VERSION]`, surrounding spaces ignored; no version
 *   (or a trailing slash) means the key's current version, pinned when it first wraps a data key;
 * - lists are comma-separated and, as sops's `MasterKeysFromURLs`, an empty entry (`u,,u`) is an
 *   error (only the empty list as a whole gives no keys).
 *
 * Identity: the vault URL without trailing slashes, compared case-insensitively (it is a host
 * name), the key name and the version.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { AzureKvKey } from '../types.js';
import type { KeyFieldReader } from '../age/key.js';

const KEY_URL = /^(https:\/\/[^/]+)\/keys\/([^/]+)(?:\/([^/]*))?$/;

/** `https://VAULT.vault.azure.net/keys/NAME[/VERSION]` → vault URL, key name, version ('' = latest). */
export function parseAzureKeyUrl(url: string): AzureKvKey {
  const u = url.trim();
  const m = KEY_URL.exec(u);
  if (!m) {
    throw new SopsError(
      `could not parse ${JSON.stringify(u)} into an Azure Key Vault key: expected https://VAULT.vault.azure.net/keys/NAME[/VERSION]`,
      ExitCode.ErrorGeneric,
    );
  }
  return { type: 'azure_kv', vaultUrl: m[1]!, name: m[2]!, version: m[3] ?? '', enc: '' };
}

/**
 * Comma-separated key URLs (`--azure-kv`, SOPS_AZURE_KEYVAULT_URLS, a rule's `azure_keyvault:`):
 * '' gives no keys; like sops, an empty entry is an error.
 */
export function parseAzureKeyUrls(list: string): AzureKvKey[] {
  return splitAzureKeyUrls(list).map(parseAzureKeyUrl);
}

/** The entries of a comma-separated URL list, empty ones kept (parsing them is the error sops gives). */
export function splitAzureKeyUrls(list: string): string[] {
  return list === '' ? [] : list.split(',');
}

/** The key's URL as sops prints it: `{vaultUrl}/keys/{name}/{version}`. */
export function azureKeyUrl(k: AzureKvKey): string {
  return `${k.vaultUrl.replace(/\/+$/, '')}/keys/${k.name}/${k.version}`;
}

/** The vault part of the identity: no trailing slash, lower case. */
export function azureVaultId(vaultUrl: string): string {
  return vaultUrl.replace(/\/+$/, '').toLowerCase();
}

/** What makes two Key Vault keys the same key: vault (case-insensitive), name and version. */
export function azureKeyId(k: AzureKvKey): string {
  return `${azureVaultId(k.vaultUrl)}/keys/${k.name}/${k.version}`;
}

/** A Key Vault entry's fields as sops writes them in the file (`vault_url`, `name`, `version`). */
export function azureToMap(k: AzureKvKey): Record<string, string> {
  return { vault_url: k.vaultUrl, name: k.name, version: k.version };
}

/** A Key Vault entry from its fields. */
export function azureFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): AzureKvKey {
  return {
    type: 'azure_kv',
    vaultUrl: r.str('vault_url', true),
    name: r.str('name', true),
    version: r.str('version'),
    enc,
    createdAt,
  };
}
