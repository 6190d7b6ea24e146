/**
 * `tsops groups add --file F [key flags…]` and `tsops groups delete --file F INDEX`: add a key group
 * to a sops file or delete one (INDEX counts from 0), as sops does.
 * The regrouping itself (same data key, new shares) is src/ops/groups.ts.
 *
 * The result is printed, or written back with `--in-place`.
 */
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import type { KeyGroup } from '../keys/types.js';
import { addKeyGroup, checkNewGroup, deleteKeyGroup, type GroupsOptions } from '../ops/groups.js';
import { keysFromSpecs } from '../ops/key-specs.js';
import { parseThresholdFlag } from '../shamir/threshold.js';
import { commandOptions, decryptionOrder, makeLog, planIo, readForChange, writeResult } from './context.js';
import { addGlobalOptions, type CliOptions } from './options.js';

export interface GroupsCliOptions extends Omit<
  CliOptions,
  'pgp' | 'kms' | 'gcpKms' | 'hckms' | 'azureKv' | 'hcVaultTransit' | 'age'
> {
  file?: string;
  // for `groups add`, each repeatable and comma-separated
  pgp?: string[];
  kms?: string[];
  gcpKms?: string[];
  hckms?: string[];
  azureKv?: string[];
  hcVaultTransit?: string[];
  age?: string[];
}

/** Read the file, change its groups with `op`, write the result. */
async function regroupFile(
  o: GroupsCliOptions,
  threshold: number,
  op: (data: Buffer, opts: GroupsOptions) => Promise<Buffer>,
): Promise<void> {
  if (!o.file) throw new SopsError('Error: no file specified: use --file FILE', ExitCode.NoFileSpecified);
  const io = planIo(o.file, { inputType: o.inputType, indent: o.indent });
  const data = await readForChange(io, o);
  const out = await op(data, {
    format: io.inFormat,
    outFormat: io.outFormat,
    indent: io.indent,
    shamirThreshold: threshold,
    decryptionOrder: decryptionOrder({ decryptionOrder: o.decryptionOrder }),
    log: makeLog({ verbose: o.verbose }),
    filename: o.file,
  });
  writeResult(out, io, { inPlace: o.inPlace });
}

export async function groupsAddCommand(args: string[], o: GroupsCliOptions): Promise<void> {
  if (args.length !== 0) throw new SopsError('error: no positional arguments allowed', ExitCode.ErrorGeneric);
  const group: KeyGroup = await keysFromSpecs(
    {
      pgp: o.pgp,
      kms: o.kms,
      gcpKms: o.gcpKms,
      hckms: o.hckms,
      azureKv: o.azureKv,
      hcVaultTransit: o.hcVaultTransit,
      age: o.age,
    },
    { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile },
  );
  checkNewGroup(group);
  const threshold = parseThresholdFlag(o.shamirSecretSharingThreshold) ?? 0;
  await regroupFile(o, threshold, (data, opts) => addKeyGroup(data, group, opts));
}

export async function groupsDeleteCommand(args: string[], o: GroupsCliOptions): Promise<void> {
  if (args.length !== 1)
    throw new SopsError('error: exactly one positional argument (index) required', ExitCode.ErrorGeneric);
  const arg = args[0]!;
  if (!/^\d+$/.test(arg) || Number(arg) > 0xffffffff) {
    throw new SopsError(
      `failed to parse [index] argument: ${JSON.stringify(arg)} is not a whole number (groups are numbered from 0)`,
      ExitCode.ErrorGeneric,
    );
  }
  const index = Number(arg);
  const threshold = parseThresholdFlag(o.shamirSecretSharingThreshold) ?? 0;
  await regroupFile(o, threshold, (data, opts) => deleteKeyGroup(data, index, opts));
}

/** A repeatable option whose values may also be comma-separated. */
function listOption(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeatable; comma-separated lists too)`).argParser(
    (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
  );
}

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --file <file>', 'the sops file'))
    .addOption(new Option('-i, --in-place', 'write output back to the same file instead of stdout'))
    .addOption(new Option('--shamir-secret-sharing-threshold <n>', 'the number of key groups needed to decrypt'))
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from the file extension)',
      ),
    )
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
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
    .addOption(
      new Option('--encryption-context <pairs>', 'comma separated list of KMS encryption context key:value pairs'),
    )
    .addOption(listOption('--gcp-kms <id>', 'a GCP KMS resource ID the new group should contain'))
    .addOption(listOption('--hckms <id>', 'a HuaweiCloud KMS key ID (REGION:KEY_UUID) the new group should contain'))
    .addOption(listOption('--azure-kv <url>', 'an Azure Key Vault key URL the new group should contain'))
    .addOption(listOption('--hc-vault-transit <uri>', 'a HashiCorp Vault transit key URI the new group should contain'))
    .addOption(listOption('--age <recipient>', 'an age recipient the new group should contain'));
  addGlobalOptions(commonOptions(add));
  add.action((args: string[], _o: unknown, c: Command) => groupsAddCommand(args, commandOptions<GroupsCliOptions>(c)));

  const del = groups
    .command('delete')
    .description('delete a key group from a SOPS file')
    .argument('[index...]', 'the group to delete, counting from 0');
  addGlobalOptions(commonOptions(del));
  del.action((args: string[], _o: unknown, c: Command) =>
    groupsDeleteCommand(args, commandOptions<GroupsCliOptions>(c)),
  );
  return groups;
}
