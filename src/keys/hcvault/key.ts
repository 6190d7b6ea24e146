/**
 * HashiCorp Vault transit key identifiers, as sops 3.x reads them: `SCHEME://HOST[:PORT]/v1/ENGINE/keys/NAME`
 * (the engine path may have several segments); lists comma-separated, entries trimmed, empty
 * entries skipped (as sops's `NewMasterKeysFromURIs`). No network code here.
 *
 * Identity: the address without trailing slashes, the engine path and the key name.
 */
import path from 'node:path';
import { SopsError } from '../../errors.js';
import type { VaultKey } from '../types.js';
import type { KeyFieldReader } from '../age/key.js';

/** The key's URI as sops prints it: `{vault_address}/v1/{engine_path}/keys/{key_name}`. */
export function vaultKeyUri(key: VaultKey): string {
  return `${key.vaultAddress}/v1/${key.enginePath}/keys/${key.keyName}`;
}

const EXAMPLE = 'https://vault.example.com:8200/v1/transit/keys/keyName';

/**
 * One key URI such as `https://vault.example.com:8200/v1/transit/keys/keyName`, split as sops
 * splits it: the address is scheme://host[:port] exactly as written, the key name is the last path
 * segment, and the engine path is everything between `/v1/` and the second-to-last segment (so
 * engine paths may contain slashes: `/v1/team/transit/keys/k` gives `team/transit`).
 */
export function parseVaultUri(uri: string): VaultKey {
  const s = uri.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)([?#].*)?$/.exec(s);
  if (!m) throw new SopsError(`missing scheme in Vault URL (should be like this: ${EXAMPLE}), got: ${s}`);
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https')
    throw new SopsError(`Vault URL ${s} must use http or https (like ${EXAMPLE})`);
  if (!m[2]) throw new SopsError(`Vault URL ${s} has no host (should be like ${EXAMPLE})`);
  if (m[4]) throw new SopsError(`Vault URL ${s} must not have a query or fragment (should be like ${EXAMPLE})`);
  const p = m[3]!;
  // sops checks (unanchored) for a prefix before /vN/ first, then for the /vN/engine/keys/name shape.
  if (/\/[^/]+\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(p)) {
    throw new SopsError(
      `running Vault with a prefixed URL is not supported! (Format has to be like ${EXAMPLE}), got: ${s}`,
    );
  }
  if (!/\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(p)) {
    throw new SopsError(
      `Vault path does not seem to be formatted correctly: expected a path like /v1/ENGINE/keys/NAME (e.g. ${EXAMPLE}), got: ${s}`,
    );
  }
  const dirs = p.replace(/^\/+|\/+$/g, '').split('/');
  const keyName = dirs[dirs.length - 1]!;
  const enginePath = path.posix.normalize(
    dirs
      .slice(1, dirs.length - 2)
      .filter(Boolean)
      .join('/') || '.',
  );
  return {
    type: 'hc_vault',
    vaultAddress: `${scheme}://${m[2]}`,
    enginePath: enginePath === '.' ? '' : enginePath,
    keyName,
    enc: '',
  };
}

/**
 * A comma-separated list of key URIs, as `--hc-vault-transit` and SOPS_VAULT_URIS take it (empty
 * items are skipped, as in sops).
 */
export function parseVaultUris(s: string): VaultKey[] {
  return s
    .split(',')
    .filter((u) => u.trim() !== '')
    .map(parseVaultUri);
}

/** What makes two Vault transit keys the same key: address (no trailing slash), engine path, name. */
export function vaultKeyId(k: VaultKey): string {
  return `${k.vaultAddress.replace(/\/+$/, '')}/v1/${k.enginePath}/keys/${k.keyName}`;
}

/** A Vault transit entry's fields as sops writes them. */
export function vaultToMap(k: VaultKey): Record<string, string> {
  return { vault_address: k.vaultAddress, engine_path: k.enginePath, key_name: k.keyName };
}

/** A Vault transit entry from its fields. */
export function vaultFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): VaultKey {
  return {
    type: 'hc_vault',
    vaultAddress: r.str('vault_address', true),
    enginePath: r.str('engine_path', true),
    keyName: r.str('key_name', true),
    enc,
    createdAt,
  };
}

/** The variable sops 3.13 reads to restrict which Vault servers it talks to. */
export const VAULT_ALLOWLIST_ENV = 'SOPS_HC_VAULT_ALLOWLIST';

/**
 * Why `SOPS_HC_VAULT_ALLOWLIST` forbids talking to the Vault at `address`, or undefined when it
 * allows it. As sops 3.13: unset (or empty) or `all` allows every server, `none` allows none, any
 * other value is a comma-separated list of prefixes and the address — with a `/` added, so that
 * `https://vault.example.com:8200/` names exactly one server — must start with one of them.
 * Entries are trimmed and empty entries ignored (an empty prefix would allow every server).
 */
export function vaultAllowlistProblem(address: string, env: NodeJS.ProcessEnv): string | undefined {
  const setting = (env[VAULT_ALLOWLIST_ENV] ?? '').trim();
  if (setting === '' || setting === 'all') return undefined;
  if (setting === 'none') return `${VAULT_ALLOWLIST_ENV}=none allows no Vault server`;
  const target = `${address.replace(/\/+$/, '')}/`;
  const prefixes = setting
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (prefixes.some((p) => target.startsWith(p))) return undefined;
  return `${address} is not in ${VAULT_ALLOWLIST_ENV} (${prefixes.join(', ') || 'no entries'})`;
}
