/**
 * `tsops groups add --file F [key flags…]` and `tsops groups delete --file F INDEX`: add a key group
 * to a sops file or delete one (INDEX counts from 0), as sops does.
 *
 * With several key groups the data key is split with Shamir's secret sharing, one share per group,
 * `shamir_threshold` of them needed to decrypt. Changing the groups keeps the data key (and so
 * every value's ciphertext, the MAC and `lastmodified`), splits it into new shares for the new set
 * of groups and wraps each share for every key of its group. The data key is recovered first,
 * which needs enough groups' keys at hand.
 *
 * The result is printed, or written back with `--in-place`.
 */
import { Option, type Command } from 'commander';
import { decryptParsed, parseEncrypted } from '../aes/cipher.js';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { macAad, metadataToPlain, type Metadata } from '../metadata/metadata.js';
import { recoverDataKey, wrapDataKey } from '../file/datakey.js';
import { keyContext, loadEncrypted } from '../file/file.js';
import { storeFor } from '../stores/index.js';
import type { KeyGroup, MasterKey } from '../keys/types.js';
import { decryptionOrder, makeLog, planIo, readPlanned, writeResult } from './context.js';
import { addGlobalOptions, type CliOptions } from './options.js';
import { commandOptions, keyString, keysFromSpecs } from './rotate.js';
import { SHAMIR_ONE } from './updatekeys.js';

export interface GroupsCliOptions extends Omit<CliOptions, 'pgp' | 'kms' | 'gcpKms' | 'azureKv' | 'hcVaultTransit' | 'age'> {
  file?: string;
  // for `groups add`, each repeatable and comma-separated
  pgp?: string[];
  kms?: string[];
  gcpKms?: string[];
  azureKv?: string[];
  hcVaultTransit?: string[];
  age?: string[];
}

function parseThreshold(s: string | undefined): number {
  if (s === undefined || s === '0') return 0;
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < 1 || n > 255) {
    throw new SopsError(`invalid --shamir-secret-sharing-threshold ${JSON.stringify(s)}: a whole number from 1 to 255`, ExitCode.ErrorGeneric);
  }
  return n;
}

/** A file with a new set of key groups: the same data key, split and wrapped for `groups`. */
async function regroup(
  o: GroupsCliOptions,
  change: (m: Metadata) => void,
): Promise<void> {
  if (!o.file) throw new SopsError('Error: no file specified: use --file FILE', ExitCode.NoFileSpecified);
  const log = makeLog({ verbose: o.verbose });
  const io = planIo(o.file, { inputType: o.inputType, indent: o.indent });
  const data = readPlanned(io);
  const name = o.file;
  const { tree, metadata } = await loadEncrypted(data, { format: io.inFormat, filename: name });
  // the new groups first (so a bad index or threshold is reported before any key is used)
  const next: Metadata = { ...metadata, keyGroups: metadata.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' }) as MasterKey)) };
  change(next);
  if (next.keyGroups.length > 1 && next.shamirThreshold === 1) throw new SopsError(SHAMIR_ONE, ExitCode.ErrorGeneric);
  if (next.keyGroups.length > 1 && next.shamirThreshold > next.keyGroups.length) {
    throw new SopsError(
      `the Shamir threshold is ${next.shamirThreshold}, but the file would have only ${next.keyGroups.length} key groups`,
      ExitCode.ErrorGeneric,
    );
  }
  const ctx = keyContext({ log });
  let dataKey: Buffer;
  try {
    dataKey = await recoverDataKey(metadata, ctx, decryptionOrder({ decryptionOrder: o.decryptionOrder }));
  } catch (e) {
    throw new SopsError(`${name}: ${messageOf(e)}`, ExitCode.CouldNotRetrieveKey);
  }
  if (metadata.mac) {
    try {
      decryptParsed(parseEncrypted(metadata.mac), dataKey, macAad(metadata.lastModified));
    } catch {
      throw new SopsError(
        `${name}: the data key recovered from the master keys does not open this file (its MAC does not decrypt with it); nothing was changed`,
        ExitCode.ErrorDecryptingMac,
      );
    }
  }
  // a new split of the same data key, one share per group, each wrapped for its group's keys
  await wrapDataKey(next, dataKey, ctx);
  let out: Buffer;
  try {
    out = (await storeFor(io.outFormat, { indent: io.indent })).emitEncrypted(tree, metadataToPlain(next));
  } catch (e) {
    throw new SopsError(`Could not marshal tree: ${messageOf(e)}`, ExitCode.ErrorDumpingTree);
  }
  writeResult(out, io, { inPlace: o.inPlace });
}

export async function groupsAddCommand(args: string[], o: GroupsCliOptions): Promise<void> {
  if (args.length !== 0) throw new SopsError('error: no positional arguments allowed', ExitCode.ErrorGeneric);
  const group: KeyGroup = await keysFromSpecs(
    { pgp: o.pgp, kms: o.kms, gcpKms: o.gcpKms, azureKv: o.azureKv, hcVaultTransit: o.hcVaultTransit, age: o.age },
    { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile },
  );
  if (group.length === 0) {
    throw new SopsError(
      'no keys given for the new group: use --age, --pgp, --kms, --gcp-kms, --azure-kv or --hc-vault-transit',
      ExitCode.NoEncryptionKeyFound,
    );
  }
  const threshold = parseThreshold(o.shamirSecretSharingThreshold);
  const log = makeLog({ verbose: o.verbose });
  await regroup(o, (m) => {
    m.keyGroups.push(group);
    if (threshold) m.shamirThreshold = threshold;
    log(`adding key group ${m.keyGroups.length - 1}: ${group.map(keyString).join(', ')}`);
  });
}

export async function groupsDeleteCommand(args: string[], o: GroupsCliOptions): Promise<void> {
  if (args.length !== 1) throw new SopsError('error: exactly one positional argument (index) required', ExitCode.ErrorGeneric);
  const arg = args[0]!;
  if (!/^\d+$/.test(arg) || Number(arg) > 0xffffffff) {
    throw new SopsError(`failed to parse [index] argument: ${JSON.stringify(arg)} is not a whole number (groups are numbered from 0)`, ExitCode.ErrorGeneric);
  }
  const index = Number(arg);
  const threshold = parseThreshold(o.shamirSecretSharingThreshold);
  await regroup(o, (m) => {
    if (index >= m.keyGroups.length) {
      throw new SopsError(
        `there is no key group ${index}: the file has ${m.keyGroups.length} key group${m.keyGroups.length === 1 ? '' : 's'}, numbered from 0`,
        ExitCode.ErrorGeneric,
      );
    }
    if (m.keyGroups.length === 1) throw new SopsError('cannot delete the only key group: the file would have no master keys', ExitCode.ErrorGeneric);
    m.keyGroups.splice(index, 1);
    if (threshold) m.shamirThreshold = threshold;
    if (m.keyGroups.length < m.shamirThreshold) {
      throw new SopsError(
        `removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is ${m.shamirThreshold}, but we only have ${m.keyGroups.length} key groups (lower it with --shamir-secret-sharing-threshold)`,
        ExitCode.ErrorGeneric,
      );
    }
  });
}

/** A repeatable option whose values may also be comma-separated. */
function listOption(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeatable; comma-separated lists too)`).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --file <file>', 'the sops file'))
    .addOption(new Option('-i, --in-place', 'write output back to the same file instead of stdout'))
    .addOption(new Option('--shamir-secret-sharing-threshold <n>', 'the number of key groups needed to decrypt'))
    .addOption(new Option('--input-type <type>', 'input format: yaml, json, dotenv, ini or binary (default: from the file extension)'))
    .addOption(new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env('SOPS_DECRYPTION_ORDER'));
}

export function addGroupsCommand(program: Command): Command {
  const groups = program.command('groups').description('modify the groups on a SOPS file');
  const add = groups
    .command('add')
    .description('add a new group to a SOPS file')
    .argument('[args...]')
    .addOption(listOption('--pgp <fingerprint>', 'a PGP fingerprint the new group should contain'))
    .addOption(listOption('--kms <arn>', 'an AWS KMS key ARN the new group should contain'))
    .addOption(new Option('--aws-profile <name>', 'the AWS profile to use for the KMS keys'))
    .addOption(new Option('--encryption-context <pairs>', 'comma separated list of KMS encryption context key:value pairs'))
    .addOption(listOption('--gcp-kms <id>', 'a GCP KMS resource ID the new group should contain'))
    .addOption(listOption('--azure-kv <url>', 'an Azure Key Vault key URL the new group should contain'))
    .addOption(listOption('--hc-vault-transit <uri>', 'a HashiCorp Vault transit key URI the new group should contain'))
    .addOption(listOption('--age <recipient>', 'an age recipient the new group should contain'));
  addGlobalOptions(commonOptions(add));
  add.action((args: string[], _o: unknown, c: Command) => groupsAddCommand(args ?? [], commandOptions<GroupsCliOptions>(c)));

  const del = groups.command('delete').description('delete a key group from a SOPS file').argument('[index...]', 'the group to delete, counting from 0');
  addGlobalOptions(commonOptions(del));
  del.action((args: string[], _o: unknown, c: Command) => groupsDeleteCommand(args ?? [], commandOptions<GroupsCliOptions>(c)));
  return groups;
}
