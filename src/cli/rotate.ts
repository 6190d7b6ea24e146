/**
 * `tsops rotate FILE` (and sops's legacy `-r`): decrypt the file, give it a new data key, and
 * encrypt every value again with it — optionally adding master keys to the first key group
 * (`--add-age`, `--add-pgp`, `--add-kms`, `--add-gcp-kms`, `--add-azure-kv`,
 * `--add-hc-vault-transit`) and removing master keys from every group (`--rm-…`), as sops does.
 *
 * The rotation itself is src/ops/rotate.ts; this module reads the flags and the file and writes
 * the result.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { keysFromSpecs, keyString } from '../ops/key-specs.js';
import { rotate, type RotateKeyChanges } from '../ops/rotate.js';
import { commandOptions, decryptionOrder, makeLog, planIo, readForChange, writeResult } from './context.js';
import { addGlobalOptions, addIoOptions, addManyOptions, type CliOptions } from './options.js';

export interface RotateCliOptions extends CliOptions {
  addAge?: string;
  rmAge?: string;
  addPgp?: string;
  rmPgp?: string;
  addKms?: string;
  rmKms?: string;
  addGcpKms?: string;
  rmGcpKms?: string;
  addHckms?: string;
  rmHckms?: string;
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
  ['hckms', 'HuaweiCloud KMS key IDs (REGION:KEY_UUID)'],
  ['azure-kv', 'Azure Key Vault key URLs'],
  ['hc-vault-transit', 'HashiCorp Vault transit key URIs (https://vault.example.org:8200/v1/transit/keys/dev)'],
];

/** The `--add-…` / `--rm-…` flags (for `rotate` and the legacy `-r`). */
export function addRotateKeyOptions(cmd: Command): Command {
  for (const [flag, what] of KEY_FLAGS) {
    cmd.addOption(
      new Option(
        `--add-${flag} <list>`,
        `rotate: add these comma-separated ${what} to the file's master keys (first key group)`,
      ),
    );
    cmd.addOption(
      new Option(`--rm-${flag} <list>`, `rotate: remove these comma-separated ${what} from the file's master keys`),
    );
  }
  return cmd;
}

function hasKeyChanges(o: RotateCliOptions): boolean {
  return [
    o.addAge,
    o.rmAge,
    o.addPgp,
    o.rmPgp,
    o.addKms,
    o.rmKms,
    o.addGcpKms,
    o.rmGcpKms,
    o.addHckms,
    o.rmHckms,
    o.addAzureKv,
    o.rmAzureKv,
    o.addHcVaultTransit,
    o.rmHcVaultTransit,
  ].some((v) => v !== undefined && v !== '');
}

/**
 * `rotate FILE`: with `legacy` (sops's `-r`), a missing file is reported with sops's legacy-mode
 * words and exit code.
 */
export async function rotateCommand(
  file: string | undefined,
  o: RotateCliOptions,
  { legacy = false } = {},
): Promise<void> {
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
    if (legacy)
      throw new SopsError(
        `Error: cannot operate on non-existent file ${JSON.stringify(abs)}`,
        ExitCode.NoFileSpecified,
      );
  }
  const log = makeLog(o);
  const io = planIo(file, o);
  const data = await readForChange(io, o);
  const changes = await keyChanges(o, log);
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

/** The `--add-…` / `--rm-…` flags as key changes. */
async function keyChanges(o: RotateCliOptions, log: (m: string) => void): Promise<RotateKeyChanges> {
  const kmsOptions = { encryptionContext: o.encryptionContext, awsProfile: o.awsProfile };
  const changes: RotateKeyChanges = {
    add: await keysFromSpecs(
      {
        age: o.addAge,
        pgp: o.addPgp,
        kms: o.addKms,
        gcpKms: o.addGcpKms,
        hckms: o.addHckms,
        azureKv: o.addAzureKv,
        hcVaultTransit: o.addHcVaultTransit,
      },
      kmsOptions,
    ),
    remove: await keysFromSpecs(
      {
        age: o.rmAge,
        pgp: o.rmPgp,
        kms: o.rmKms,
        gcpKms: o.rmGcpKms,
        hckms: o.rmHckms,
        azureKv: o.rmAzureKv,
        hcVaultTransit: o.rmHcVaultTransit,
      },
      kmsOptions,
    ),
  };
  for (const k of changes.add) log(`adding ${keyString(k)}`);
  for (const k of changes.remove) log(`removing ${keyString(k)}`);
  return changes;
}

/** `rotate [FILE…]`: one file as always; with `-i`, several files or folders (beyond sops). */
export async function rotateFilesCommand(files: string[], o: RotateCliOptions): Promise<void> {
  if (!o.inPlace && files.length <= 1) return rotateCommand(files[0], o);
  const many = await import('./many.js');
  const pick = many.pickFiles(files, o);
  if (!pick.many) return rotateCommand(pick.file, o);
  const log = makeLog(o);
  const changes = await keyChanges(o, log);
  const order = decryptionOrder(o);
  return many.runManyCommand('rotate', files, o, {
    plan: (f) => many.planSopsFile(f, o),
    run: (f, io, dataKeys) =>
      rotate(f.data, {
        format: io.inFormat,
        outFormat: io.outFormat,
        indent: io.indent,
        changes,
        ignoreMac: o.ignoreMac,
        decryptionOrder: order,
        log,
        filename: f.name,
        dataKeys,
      }),
  });
}

export function addRotateCommand(program: Command): Command {
  const cmd = program
    .command('rotate')
    .description('generate a new data encryption key and reencrypt all values with the new key')
    .argument('[files...]', 'the encrypted file; with -i, several files or folders (--recursive)');
  addManyOptions(addIoOptions(cmd));
  cmd
    .addOption(new Option('--ignore-mac', 'rotate even if the MAC does not match (the file was changed outside sops)'))
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    )
    .addOption(
      new Option(
        '--encryption-context <pairs>',
        'AWS KMS encryption context for the keys given with --add-kms, key:value,key2:value2',
      ),
    )
    .addOption(new Option('--aws-profile <name>', 'AWS profile for the keys given with --add-kms'));
  addRotateKeyOptions(cmd);
  addGlobalOptions(cmd);
  cmd.action((files: string[], _o: unknown, c: Command) =>
    rotateFilesCommand(files, commandOptions<RotateCliOptions>(c)),
  );
  return cmd;
}
