/**
 * Write a file's decrypted values to a Vault KV secret (`vault_path`), as sops's Vault publisher does
 * with Vault's API client: first read the secret; on KV version 2, when its current data equals
 * what would be written, nothing is written ("already up-to-date", no new version); else the data
 * is written (version 2: `{"data": DATA}` to `MOUNT/data/PATH/NAME`; version 1: DATA to
 * `MOUNT/PATH/NAME`). A failed read only warns (a new version is then written anyway).
 *
 * The address is the rule's `vault_address`, else `VAULT_ADDR` (the destination comes from
 * `.sops.yaml`, not from the file); the token `VAULT_TOKEN` (tsops also reads `~/.vault-token`);
 * TLS, namespace, agent, retries and proxies as for Vault transit keys (../keys/hcvault/client.ts).
 * As in sops, SOPS_HC_VAULT_ALLOWLIST (which guards transit keys named by a file) does not apply.
 */
import type { KeyContext } from '../keys/types.js';
import { vaultFailure, vaultRequest } from '../keys/hcvault/client.js';
import { vaultAddress, vaultSecretPath, type Destination } from './destinations.js';
import type { Plain } from '../tree/types.js';

/** JSON with big integers written as numbers (Vault keeps them as they are). */
export function plainJson(v: Plain): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(plainJson).join(',')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${JSON.stringify(k)}:${plainJson(x)}`)
    .join(',')}}`;
}

/** Compare as JSON values (key order aside; numbers by value). */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return String(a) === String(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  return ak.length === Object.keys(bo).length && ak.every((k) => Object.hasOwn(bo, k) && sameJson(ao[k], bo[k]));
}

export interface VaultPublishResult {
  /** The secret's API path. */
  path: string;
  /** False when the secret already held this data (KV version 2). */
  written: boolean;
}

export async function uploadVault(
  d: Extract<Destination, { kind: 'vault' }>,
  name: string,
  data: { [k: string]: Plain },
  ctx: KeyContext,
  say: (level: 'info' | 'warning', msg: string) => void,
): Promise<VaultPublishResult> {
  const address = vaultAddress(d, ctx.env);
  const path = vaultSecretPath(d, name);
  const where = `${address}/v1/${path}`;
  let current: unknown;
  try {
    const read = await vaultRequest(address, 'GET', path, '', ctx);
    if (read.status === 200) {
      current = (JSON.parse(read.body) as { data?: { data?: unknown } } | null)?.data?.data;
    } else if (read.status !== 404) {
      throw new Error(vaultFailure(read));
    }
  } catch (e) {
    ctx.log(`publish: reading ${where} failed: ${(e as Error).message}`);
    say(
      'warning',
      `Cannot check if destination secret already exists in ${path}. New version will be created even if the data has not been changed.`,
    );
  }
  if (d.version === 2 && current !== undefined && sameJson(data, current)) {
    say('info', `Secret in ${path} is already up-to-date.`);
    return { path, written: false };
  }
  const body = d.version === 1 ? plainJson(data) : `{"data":${plainJson(data)}}`;
  let answer;
  try {
    answer = await vaultRequest(address, 'PUT', path, body, ctx);
  } catch (e) {
    throw new Error(`could not write the Vault secret ${where}: ${(e as Error).message}`, { cause: e });
  }
  if (answer.status < 200 || answer.status >= 300)
    throw new Error(`could not write the Vault secret ${where}: ${vaultFailure(answer)}`);
  ctx.log(`publish: wrote ${where}`);
  return { path, written: true };
}
