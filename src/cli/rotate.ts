/**
 * `tsops rotate FILE` (and sops's legacy `-r`): decrypt the file, give it a new data key, and
 * encrypt every value again with it — optionally adding master keys to the first key group
 * (`--add-age`, `--add-pgp`, `--add-kms`, `--add-gcp-kms`, `--add-azure-kv`,
 * `--add-hc-vault-transit`) and removing master keys from every group (`--rm-…`), as sops does.
 *
 * Rotation is what to do after removing someone's key: with a new data key, a removed key (or a
 * copy of the old data key) opens only the file's earlier versions.
 *
 * Also here, shared with `updatekeys` and `groups`: master keys from key flags, and the one-line
 * form sops prints a key in (`ToString`).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import type { KeyGroup, MasterKey } from '../keys/types.js';
import { openEncrypted, sealTree } from '../file/file.js';
import { storeFor } from '../stores/index.js';
import { decryptionOrder, makeLog, planIo, readPlanned, writeResult } from './context.js';
import { addGlobalOptions, addIoOptions, type CliOptions } from './options.js';

/**
 * A subcommand's own options, plus `--verbose` / `--config` given before it. (Not all of
 * `optsWithGlobals()`: the top-level key flags take values from SOPS_AGE_RECIPIENTS etc., which
 * must not leak into a subcommand's flags of the same name.)
 */
export function commandOptions<T extends { verbose?: boolean; config?: string }>(c: Command): T {
  const g = c.optsWithGlobals() as CliOptions;
  const own = c.opts() as T;
  return { ...own, verbose: own.verbose ?? g.verbose, config: own.config ?? g.config } as T;
}

// --- master keys from flags ---------------------------------------------------------------------

/** Comma-separated key identifiers per key type, as the key flags take them. */
export interface KeySpecs {
  age?: string | string[];
  pgp?: string | string[];
  kms?: string | string[];
  gcpKms?: string | string[];
  azureKv?: string | string[];
  hcVaultTransit?: string | string[];
}

function joined(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Master keys (with an empty `enc`) from key identifiers, checked as `.sops.yaml` keys are
 * (src/config/keyids.ts). `encryptionContext` (`key:value,…`) and `awsProfile` apply to the KMS keys.
 * Order: KMS, GCP KMS, Azure Key Vault, PGP, Vault, age — the order sops builds a group in.
 */
export async function keysFromSpecs(specs: KeySpecs, kmsOptions: { encryptionContext?: string; awsProfile?: string } = {}): Promise<MasterKey[]> {
  const ids = await import('../config/keyids.js');
  const keys: MasterKey[] = [];
  const kms = joined(specs.kms);
  if (kms) {
    const context = kmsOptions.encryptionContext ? ids.parseEncryptionContext(kmsOptions.encryptionContext) : undefined;
    keys.push(...ids.parseKmsArns(kms, context, kmsOptions.awsProfile));
  }
  keys.push(...ids.parseGcpKmsIds(joined(specs.gcpKms)));
  keys.push(...ids.parseAzureKeyUrls(joined(specs.azureKv)));
  keys.push(...ids.parsePgpFingerprints(joined(specs.pgp)));
  keys.push(...ids.parseVaultUris(joined(specs.hcVaultTransit)));
  keys.push(...ids.parseAgeRecipients(joined(specs.age)));
  return keys;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/**
 * A key as sops prints it (its `ToString`): the age recipient, the PGP fingerprint, the KMS ARN,
 * the GCP resource ID, `VAULT_URL/keys/NAME/VERSION`, `VAULT_ADDRESS/v1/ENGINE/keys/NAME`. A KMS
 * key's role, encryption context and AWS profile are added in brackets when set (sops leaves them
 * out, which hides a change of context).
 */
export function keyString(k: MasterKey): string {
  switch (k.type) {
    case 'age':
      return k.recipient;
    case 'pgp':
      return k.fp;
    case 'kms': {
      const extra: string[] = [];
      if (k.role) extra.push(`role: ${k.role}`);
      if (k.context && Object.keys(k.context).length) {
        extra.push(`context: ${Object.keys(k.context).sort().map((c) => `${c}:${k.context![c]}`).join(',')}`);
      }
      if (k.awsProfile) extra.push(`profile: ${k.awsProfile}`);
      return extra.length ? `${k.arn} (${extra.join('; ')})` : k.arn;
    }
    case 'gcp_kms':
      return k.resourceId;
    case 'azure_kv':
      return `${trimSlash(k.vaultUrl)}/keys/${k.name}/${k.version}`;
    case 'hc_vault':
      return `${trimSlash(k.vaultAddress)}/v1/${k.enginePath}/keys/${k.keyName}`;
  }
}

/** What makes two keys the same key (never the wrapped data key): for comparing key sets. */
export function keyId(k: MasterKey): string {
  switch (k.type) {
    case 'pgp':
      return `pgp ${k.fp.replace(/\s+/g, '').toUpperCase()}`;
    case 'azure_kv':
      return `azure_kv ${trimSlash(k.vaultUrl).toLowerCase()}/keys/${k.name}/${k.version}`;
    case 'hc_vault':
      return `hc_vault ${trimSlash(k.vaultAddress)}/v1/${k.enginePath}/keys/${k.keyName}`;
    default:
      return `${k.type} ${keyString(k)}`;
  }
}

/**
 * Whether `k` (in a file) is the key a `--rm-…` flag names: as sops, by its identifier — a KMS key
 * by its ARN (and role when the flag gives one), an Azure key by vault and name (and version when
 * the flag gives one).
 */
export function matchesRemoval(spec: MasterKey, k: MasterKey): boolean {
  if (spec.type !== k.type) return false;
  switch (spec.type) {
    case 'kms': {
      const f = k as typeof spec;
      return f.arn === spec.arn && (!spec.role || f.role === spec.role);
    }
    case 'azure_kv': {
      const f = k as typeof spec;
      return (
        trimSlash(f.vaultUrl).toLowerCase() === trimSlash(spec.vaultUrl).toLowerCase() &&
        f.name === spec.name &&
        (!spec.version || f.version === spec.version)
      );
    }
    default:
      return keyId(spec) === keyId(k);
  }
}

// --- rotation ----------------------------------------------------------------------------------

export interface RotateKeyChanges {
  add: MasterKey[];
  remove: MasterKey[];
}

/**
 * Apply `--add-…` / `--rm-…` to key groups (in place), as sops: added keys go to the first group
 * (a key already there is not added twice), removed keys leave every group. A group left without
 * keys is dropped, and the Shamir threshold is capped at the number of groups left. Returns what
 * to tell the user.
 */
export function changeKeys(m: { keyGroups: KeyGroup[]; shamirThreshold: number }, changes: RotateKeyChanges): string[] {
  const notes: string[] = [];
  if (m.keyGroups.length === 0) m.keyGroups.push([]);
  for (const k of changes.add) {
    const first = m.keyGroups[0]!;
    if (first.some((x) => keyId(x) === keyId(k))) {
      notes.push(`${keyString(k)} is already a master key of the file; not added again`);
      continue;
    }
    first.push({ ...k, enc: '' } as MasterKey);
  }
  for (const spec of changes.remove) {
    let found = false;
    m.keyGroups = m.keyGroups.map((g) =>
      g.filter((k) => {
        if (!matchesRemoval(spec, k)) return true;
        found = true;
        return false;
      }),
    );
    if (!found) notes.push(`${keyString(spec)} is not a master key of the file; nothing removed for it`);
  }
  const before = m.keyGroups.length;
  m.keyGroups = m.keyGroups.filter((g) => g.length > 0);
  if (m.keyGroups.length < before && m.keyGroups.length > 0) {
    notes.push(`${before - m.keyGroups.length} key group(s) had no keys left and were removed`);
  }
  if (m.keyGroups.length <= 1) m.shamirThreshold = 0;
  else if (m.shamirThreshold > m.keyGroups.length) m.shamirThreshold = m.keyGroups.length;
  return notes;
}

export interface RotateOptions {
  format: import('../stores/types.js').Format;
  outFormat?: import('../stores/types.js').Format;
  indent?: number;
  changes?: RotateKeyChanges;
  ignoreMac?: boolean;
  decryptionOrder?: import('../keys/types.js').KeyType[];
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
  filename?: string;
  /** Told about keys not added or not found (default: stderr). */
  warn?: (msg: string) => void;
}

/** Rotate the data key of an encrypted file: returns the new encrypted file. */
export async function rotate(data: Buffer, o: RotateOptions): Promise<Buffer> {
  const opened = await openEncrypted(data, {
    format: o.format,
    filename: o.filename,
    log: o.log,
    env: o.env,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    storeOptions: { indent: o.indent },
  });
  const m = opened.metadata;
  if (o.changes) {
    const notes = changeKeys(m, o.changes);
    for (const n of notes) (o.warn ?? ((s) => process.stderr.write(`${s}\n`)))(n);
    if (m.keyGroups.length === 0) {
      throw new SopsError(
        `${o.filename ? `${o.filename}: ` : ''}removing these keys would leave the file without master keys, so nobody could decrypt it`,
        ExitCode.NoEncryptionKeyFound,
      );
    }
  }
  for (const g of m.keyGroups) for (const k of g) k.enc = '';
  const out = await storeFor(o.outFormat ?? o.format, { indent: o.indent });
  // no dataKey and no stash: a new random data key, every value (and comment) a new ciphertext
  return sealTree(opened.tree, m, out, { filename: o.filename, log: o.log, env: o.env });
}

// --- the command -------------------------------------------------------------------------------

export interface RotateCliOptions extends CliOptions {
  addAge?: string;
  rmAge?: string;
  addPgp?: string;
  rmPgp?: string;
  addKms?: string;
  rmKms?: string;
  addGcpKms?: string;
  rmGcpKms?: string;
  addAzureKv?: string;
  rmAzureKv?: string;
  addHcVaultTransit?: string;
  rmHcVaultTransit?: string;
}

const KEY_FLAGS: Array<[string, string]> = [
  ['age', 'age recipients'],
  ['pgp', 'PGP fingerprints'],
  ['kms', 'AWS KMS key ARNs (ARN or ARN+ROLE_ARN)'],
  ['gcp-kms', 'GCP KMS key resource IDs'],
  ['azure-kv', 'Azure Key Vault key URLs'],
  ['hc-vault-transit', 'HashiCorp Vault transit key URIs (https://vault.example.org:8200/v1/transit/keys/dev)'],
];

/** The `--add-…` / `--rm-…` flags (for `rotate` and the legacy `-r`). */
export function addRotateKeyOptions(cmd: Command): Command {
  for (const [flag, what] of KEY_FLAGS) {
    cmd.addOption(new Option(`--add-${flag} <list>`, `rotate: add these comma-separated ${what} to the file's master keys (first key group)`));
    cmd.addOption(new Option(`--rm-${flag} <list>`, `rotate: remove these comma-separated ${what} from the file's master keys`));
  }
  return cmd;
}

function hasKeyChanges(o: RotateCliOptions): boolean {
  return [o.addAge, o.rmAge, o.addPgp, o.rmPgp, o.addKms, o.rmKms, o.addGcpKms, o.rmGcpKms, o.addAzureKv, o.rmAzureKv, o.addHcVaultTransit, o.rmHcVaultTransit].some(
    (v) => v !== undefined && v !== '',
  );
}

/**
 * `rotate FILE`: with `legacy` (sops's `-r`), a missing file is reported with sops's legacy-mode
 * words and exit code.
 */
export async function rotateCommand(file: string | undefined, o: RotateCliOptions, { legacy = false } = {}): Promise<void> {
  if (!file || file === '-') throw new SopsError('Error: no file specified', ExitCode.NoFileSpecified);
  if (o.inPlace && o.output) {
    throw new SopsError('Error: cannot operate on both --output and --in-place', ExitCode.ErrorConflictingParameters);
  }
  if (!existsSync(file)) {
    const abs = resolve(file);
    if (hasKeyChanges(o)) {
      throw new SopsError(
        `Error: cannot add or remove keys on non-existent file ${JSON.stringify(abs)}, use the \`edit\` subcommand instead.`,
        ExitCode.CannotChangeKeysFromNonExistentFile,
      );
    }
    if (legacy) throw new SopsError(`Error: cannot operate on non-existent file ${JSON.stringify(abs)}`, ExitCode.NoFileSpecified);
  }
  const log = makeLog(o);
  const io = planIo(file, o);
  const data = readPlanned(io);
  const kmsOptions = { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile };
  const changes: RotateKeyChanges = {
    add: await keysFromSpecs(
      { age: o.addAge, pgp: o.addPgp, kms: o.addKms, gcpKms: o.addGcpKms, azureKv: o.addAzureKv, hcVaultTransit: o.addHcVaultTransit },
      kmsOptions,
    ),
    remove: await keysFromSpecs(
      { age: o.rmAge, pgp: o.rmPgp, kms: o.rmKms, gcpKms: o.rmGcpKms, azureKv: o.rmAzureKv, hcVaultTransit: o.rmHcVaultTransit },
      kmsOptions,
    ),
  };
  for (const k of changes.add) log(`adding ${keyString(k)}`);
  for (const k of changes.remove) log(`removing ${keyString(k)}`);
  const out = await rotate(data, {
    format: io.inFormat,
    outFormat: io.outFormat,
    indent: io.indent,
    changes,
    ignoreMac: o.ignoreMac,
    decryptionOrder: decryptionOrder(o),
    log,
    filename: file,
  });
  writeResult(out, io, o);
}

export function addRotateCommand(program: Command): Command {
  const cmd = program
    .command('rotate')
    .description('generate a new data encryption key and reencrypt all values with the new key')
    .argument('[file]', 'the encrypted file');
  addIoOptions(cmd);
  cmd
    .addOption(new Option('--ignore-mac', 'rotate even if the MAC does not match (the file was changed outside sops)'))
    .addOption(new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env('SOPS_DECRYPTION_ORDER'))
    .addOption(new Option('--encryption-context <pairs>', 'AWS KMS encryption context for the keys given with --add-kms, key:value,key2:value2'))
    .addOption(new Option('--aws-profile <name>', 'AWS profile for the keys given with --add-kms'));
  addRotateKeyOptions(cmd);
  addGlobalOptions(cmd);
  cmd.action((file: string | undefined, _o: unknown, c: Command) => rotateCommand(file, commandOptions<RotateCliOptions>(c)));
  return cmd;
}
