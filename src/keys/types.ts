/**
 * Master keys: what the `sops` metadata stores for each key that wraps the data key, and the small
 * interface each key type's source implements. Key entries are plain data, cheap to parse; the code
 * that talks to age, gpg or a key service lives in one module per type and is imported only when a
 * key of that type is used (see ./index.ts).
 */

export type KeyType = 'age' | 'pgp' | 'kms' | 'gcp_kms' | 'azure_kv' | 'hc_vault' | 'hckms' | 'other';

/**
 * The key types tsops knows, in the order metadata lists them and the default decryption order
 * (offline first); their names are the metadata's list names and sops's `--decryption-order` words.
 * (`other` is not among them: see `OtherKey`.)
 */
export const KEY_TYPES: readonly Exclude<KeyType, 'other'>[] = [
  'age',
  'pgp',
  'kms',
  'gcp_kms',
  'azure_kv',
  'hc_vault',
  'hckms',
];

interface KeyBase {
  /** The wrapped data key (or Shamir share) as stored in `enc`; '' until wrapped. */
  enc: string;
  /** RFC 3339 UTC, when the key wrapped the data key (not stored for age). */
  createdAt?: string;
}

export interface AgeKey extends KeyBase {
  type: 'age';
  /** `age1…` (or an ssh-ed25519 / ssh-rsa public key line) */
  recipient: string;
}

export interface PgpKey extends KeyBase {
  type: 'pgp';
  /** The fingerprint, as given (sops stores it as given: usually 40 hex digits, uppercase) */
  fp: string;
}

export interface KmsKey extends KeyBase {
  type: 'kms';
  arn: string;
  role?: string;
  context?: Record<string, string>;
  awsProfile?: string;
}

export interface GcpKmsKey extends KeyBase {
  type: 'gcp_kms';
  resourceId: string;
}

export interface AzureKvKey extends KeyBase {
  type: 'azure_kv';
  vaultUrl: string;
  name: string;
  version: string;
}

export interface VaultKey extends KeyBase {
  type: 'hc_vault';
  vaultAddress: string;
  enginePath: string;
  keyName: string;
}

export interface HckmsKey extends KeyBase {
  type: 'hckms';
  /** `REGION:KEY_UUID` as given (trimmed), as sops stores it in `key_id`. */
  keyId: string;
  region: string;
  keyUuid: string;
}

/**
 * An entry of a key list tsops does not know (a key type of a newer sops), kept as it was written so
 * that rewriting the file (set, edit, updatekeys) does not drop it. It can neither wrap nor unwrap
 * a data key: an operation that needs a new `enc` for it fails instead of leaving a stale one.
 */
export interface OtherKey extends KeyBase {
  type: 'other';
  /** The metadata list it was found in (e.g. `hckms` before tsops knew it). */
  list: string;
  /** Every field of the entry as read, `enc` and `created_at` included. */
  fields: Record<string, unknown>;
}

export type MasterKey = AgeKey | PgpKey | KmsKey | GcpKmsKey | AzureKvKey | VaultKey | HckmsKey | OtherKey;
export type KeyGroup = MasterKey[];

/**
 * Where data keys are wrapped and unwrapped, as sops's key service clients: this machine's keys
 * (`local`, tried first) and remote `tsops keyservice` / `sops keyservice` servers (`tcp://host:port`,
 * `unix:///path`), each tried in turn until one succeeds. See src/keyservice/.
 */
export interface KeyServices {
  local: boolean;
  remote: readonly string[];
}

/** What a key source may need from its caller: the environment and a place to report progress. */
export interface KeyContext {
  env: NodeJS.ProcessEnv;
  /** Verbose log (never receives secrets); no-op unless --verbose. */
  log: (msg: string) => void;
  /** The key services to use (default: the local keys only). */
  keyServices?: KeyServices;
}

/**
 * One key type's operations. `wrap` returns the new `enc` for `key`; `unwrap` returns the data key
 * (or share) or throws an Error whose message says why (no identity, wrong key, service error).
 */
export interface KeySource<K extends MasterKey = MasterKey> {
  wrap(key: K, dataKey: Buffer, ctx: KeyContext): Promise<string>;
  unwrap(key: K, ctx: KeyContext): Promise<Buffer>;
}
