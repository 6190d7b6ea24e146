/**
 * Key identifiers as users write them (in `.sops.yaml` and in `--age`, `--pgp`, `--kms`,
 * `--gcp-kms`, `--azure-kv`, `--hc-vault-transit` and their environment variables), parsed into
 * master-key entries with an empty `enc`, as sops 3.x parses them:
 *
 * - lists are comma-separated; entries are trimmed and empty entries skipped;
 * - age: `age1…` (bech32, checksum verified; plugin and post-quantum `age1<name>1…` too) or an
 *   `ssh-ed25519 …` / `ssh-rsa …` public key line;
 * - PGP: a fingerprint, spaces removed (not otherwise checked, as sops: gpg decides);
 * - AWS KMS: `ARN` or `ARN+ROLE_ARN`, spaces removed; the role starts at `+arn:` (any partition);
 * - GCP KMS: `projects/P/locations/L/keyRings/R/cryptoKeys/K` (optionally `/cryptoKeyVersions/V`);
 * - Azure Key Vault: `https://VAULT.vault.azure.net/keys/NAME[/VERSION]` (no version: the key's
 *   latest version, resolved when the data key is wrapped);
 * - HashiCorp Vault transit: `SCHEME://HOST[:PORT]/v1/ENGINE/PATH/keys/NAME`.
 *
 * Every parser throws a `SopsError` whose message quotes the identifier and shows the expected form.
 * No key SDK is imported here.
 */
import { ExitCode, SopsError } from '../errors.js';
import type { AgeKey, AzureKvKey, GcpKmsKey, KmsKey, PgpKey, VaultKey } from '../keys/types.js';

function bad(msg: string): SopsError {
  return new SopsError(msg, ExitCode.ErrorGeneric);
}

/** Split a comma-separated list: entries trimmed, empty entries dropped. */
export function splitKeyList(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// ---------------------------------------------------------------------------------------------
// age

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i]!;
  }
  return chk >>> 0;
}

/** Decode bech32 (no length limit, as age uses it): the HRP and the 8-bit payload, or a reason. */
function bech32Decode(s: string): { hrp: string; data: Buffer } | string {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return 'mixed case';
  const str = s.toLowerCase();
  const sep = str.lastIndexOf('1');
  if (sep < 1 || sep + 7 > str.length) return 'too short';
  const hrp = str.slice(0, sep);
  const values: number[] = [];
  for (const ch of str.slice(sep + 1)) {
    const v = BECH32.indexOf(ch);
    if (v < 0) return `invalid character ${JSON.stringify(ch)}`;
    values.push(v);
  }
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >> 5);
  expanded.push(0, ...[...hrp].map((c) => c.charCodeAt(0) & 31));
  if (polymod([...expanded, ...values]) !== 1) return 'bad checksum (a typo?)';
  const words = values.slice(0, -6);
  let acc = 0;
  let bits = 0;
  const bytes: number[] = [];
  for (const w of words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return 'invalid padding';
  return { hrp, data: Buffer.from(bytes) };
}

/** Why `recipient` is not an age recipient sops would accept, or undefined if it is one. */
export function ageRecipientProblem(recipient: string): string | undefined {
  if (/^ssh-(ed25519|rsa) [A-Za-z0-9+/]+=*( .*)?$/.test(recipient)) return undefined;
  if (/^age1/i.test(recipient)) {
    const d = bech32Decode(recipient);
    if (typeof d === 'string') return d;
    if (d.hrp === 'age' && d.data.length !== 32) return `an X25519 recipient holds 32 bytes, this one ${d.data.length}`;
    return undefined;
  }
  return 'expected age1… or an ssh-ed25519/ssh-rsa public key';
}

/** One age recipient (trimmed). */
export function parseAgeRecipient(recipient: string): AgeKey {
  const r = recipient.trim();
  if (r === '') throw bad('empty age recipient');
  const problem = ageRecipientProblem(r);
  if (problem) throw bad(`invalid age recipient ${JSON.stringify(r)}: ${problem}`);
  return { type: 'age', recipient: r, enc: '' };
}

/** Comma-separated age recipients. */
export function parseAgeRecipients(list: string): AgeKey[] {
  return splitKeyList(list).map(parseAgeRecipient);
}

// ---------------------------------------------------------------------------------------------
// PGP

/** One PGP fingerprint; spaces are removed (sops does the same). */
export function parsePgpFingerprint(fp: string): PgpKey {
  const f = fp.replace(/ /g, '').trim();
  if (f === '') throw bad('empty PGP fingerprint');
  return { type: 'pgp', fp: f, enc: '' };
}

/** Comma-separated PGP fingerprints. */
export function parsePgpFingerprints(list: string): PgpKey[] {
  return splitKeyList(list).map(parsePgpFingerprint);
}

// ---------------------------------------------------------------------------------------------
// AWS KMS

/**
 * `ARN` or `ARN+ROLE_ARN` (spaces removed, as sops), with the encryption context (from
 * `--encryption-context`) and AWS profile (`--aws-profile`, or the rule's `aws_profile`) it is to
 * be used with. The ARN itself is checked only when used (see `kmsArnRegion`), as sops.
 */
export function parseKmsArn(spec: string, context?: Record<string, string>, awsProfile?: string): KmsKey {
  const s = spec.replace(/ /g, '').trim();
  if (s === '') throw bad('empty AWS KMS ARN');
  const roleAt = s.indexOf('+arn:');
  const key: KmsKey = { type: 'kms', arn: roleAt > 0 ? s.slice(0, roleAt) : s, enc: '', awsProfile: awsProfile ?? '' };
  if (roleAt > 0) key.role = s.slice(roleAt + 1);
  if (context && Object.keys(context).length > 0) key.context = { ...context };
  return key;
}

/** Comma-separated `ARN[+ROLE_ARN]` entries. */
export function parseKmsArns(list: string, context?: Record<string, string>, awsProfile?: string): KmsKey[] {
  return splitKeyList(list).map((s) => parseKmsArn(s, context, awsProfile));
}

/**
 * The region of a KMS key ARN (`arn:aws…:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`), or a
 * `SopsError` when the ARN is not one sops could use.
 */
export function kmsArnRegion(arn: string): string {
  const m = /^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)\/.+$/.exec(arn);
  if (!m) throw bad(`invalid AWS KMS ARN ${JSON.stringify(arn)}: expected arn:aws:kms:REGION:ACCOUNT:key/ID`);
  return m[1]!;
}

/**
 * An encryption context as `--encryption-context` takes it: `key:value,key:value`. Empty input
 * gives undefined. Anything else malformed is refused (exit code 6, as sops).
 */
export function parseEncryptionContext(spec: string): Record<string, string> | undefined {
  if (spec === '') return undefined;
  const out: Record<string, string> = {};
  for (const pair of spec.split(',')) {
    const kv = pair.split(':');
    if (kv.length !== 2) {
      throw new SopsError(
        `invalid KMS encryption context ${JSON.stringify(pair)}: expected key:value pairs separated by commas`,
        ExitCode.ErrorInvalidKMSEncryptionContextFormat,
      );
    }
    out[kv[0]!] = kv[1]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GCP KMS

const GCP_RESOURCE = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+(\/cryptoKeyVersions\/[^/]+)?$/;

/** A GCP KMS key resource ID (spaces removed, as sops). */
export function parseGcpKmsId(id: string): GcpKmsKey {
  const r = id.replace(/ /g, '').trim();
  if (r === '') throw bad('empty GCP KMS resource ID');
  if (!GCP_RESOURCE.test(r)) {
    throw bad(`invalid GCP KMS resource ID ${JSON.stringify(r)}: expected projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`);
  }
  return { type: 'gcp_kms', resourceId: r, enc: '' };
}

/** Comma-separated GCP KMS resource IDs. */
export function parseGcpKmsIds(list: string): GcpKmsKey[] {
  return splitKeyList(list).map(parseGcpKmsId);
}

// ---------------------------------------------------------------------------------------------
// Azure Key Vault

/** `https://VAULT.vault.azure.net/keys/NAME[/VERSION]` → vault URL, key name, version ('' = latest). */
export function parseAzureKeyUrl(url: string): AzureKvKey {
  const u = url.trim();
  const m = /^(https:\/\/[^/]+)\/keys\/([^/]+)(\/[^/]*)?$/.exec(u);
  if (!m) {
    throw bad(`invalid Azure Key Vault key URL ${JSON.stringify(u)}: expected https://VAULT.vault.azure.net/keys/NAME[/VERSION]`);
  }
  return { type: 'azure_kv', vaultUrl: m[1]!, name: m[2]!, version: m[3] && m[3].length > 1 ? m[3].slice(1) : '', enc: '' };
}

/** Comma-separated Azure Key Vault key URLs. */
export function parseAzureKeyUrls(list: string): AzureKvKey[] {
  return splitKeyList(list).map(parseAzureKeyUrl);
}

// ---------------------------------------------------------------------------------------------
// HashiCorp Vault transit

const VAULT_EXAMPLE = 'https://vault.example.com:8200/v1/transit/keys/keyName';

/**
 * `SCHEME://HOST[:PORT]/v1/ENGINE/keys/NAME` → vault address, engine path (may have several
 * segments, e.g. `secret/sops`), key name — split as sops splits it: the name is the last segment,
 * the engine path everything between the API version and the next-to-last segment.
 */
export function parseVaultUri(uri: string): VaultKey {
  const u = uri.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)(\/[^?#]*)?([?#].*)?$/.exec(u);
  if (!m) throw bad(`invalid Vault transit URI ${JSON.stringify(u)}: missing scheme (should be like ${VAULT_EXAMPLE})`);
  if (m[3]) throw bad(`invalid Vault transit URI ${JSON.stringify(u)}: a query or fragment is not supported (should be like ${VAULT_EXAMPLE})`);
  const path = m[2] ?? '';
  if (/\/[^/]+\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(path)) {
    throw bad(`invalid Vault transit URI ${JSON.stringify(u)}: a Vault behind a URL prefix is not supported (should be like ${VAULT_EXAMPLE})`);
  }
  if (!/\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(path)) {
    throw bad(`invalid Vault transit URI ${JSON.stringify(u)}: expected a path like /v1/ENGINE/keys/NAME (e.g. ${VAULT_EXAMPLE})`);
  }
  const dirs = path.replace(/^\/+|\/+$/g, '').split('/');
  const keyName = dirs[dirs.length - 1]!;
  const enginePath = dirs
    .slice(1, dirs.length - 2)
    .filter((d) => d !== '')
    .join('/');
  return { type: 'hc_vault', vaultAddress: m[1]!, enginePath, keyName, enc: '' };
}

/** Comma-separated Vault transit URIs. */
export function parseVaultUris(list: string): VaultKey[] {
  return splitKeyList(list).map(parseVaultUri);
}
