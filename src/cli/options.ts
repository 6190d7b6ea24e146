/**
 * The flags tsops shares with sops, declared once and added to each command that takes them, with
 * the environment variables sops reads for them.
 */
import { Option, type Command } from 'commander';
import type { Scope } from '../scope/scope.js';

/** The scope flags (`--encrypted-regex` …) are the Scope fields. */
export interface CliOptions extends Scope {
  verbose?: boolean;
  config?: string;
  // input / output
  inputType?: string;
  outputType?: string;
  output?: string;
  inPlace?: boolean;
  filenameOverride?: string;
  indent?: string;
  // decryption
  extract?: string;
  ignoreMac?: boolean;
  decryptionOrder?: string;
  // keys
  age?: string;
  pgp?: string;
  kms?: string;
  gcpKms?: string;
  hckms?: string;
  azureKv?: string;
  hcVaultTransit?: string;
  awsProfile?: string;
  encryptionContext?: string;
  shamirSecretSharingThreshold?: string;
  // legacy mode
  encrypt?: boolean;
  decrypt?: boolean;
  rotate?: boolean;
  set?: string;
  unset?: string;
  showMasterKeys?: boolean;
  // many files per call (with -i)
  recursive?: boolean;
  keepGoing?: boolean;
  // re-encryption reuse (minimal diffs)
  reuseFrom?: string;
  reuse?: boolean;
  // accepted as sops accepts them (tsops never checks for updates)
  disableVersionCheck?: boolean;
  checkForUpdates?: boolean;
  enableLocalKeyservice?: boolean;
  keyservice?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--verbose', 'log what tsops does (keys tried, files read) on stderr; never secrets'))
    .addOption(
      new Option('--config <path>', 'path to the .sops.yaml to use instead of looking it up').env('SOPS_CONFIG'),
    )
    .addOption(
      new Option('--disable-version-check', 'accepted for sops compatibility (tsops never checks for updates)').env(
        'SOPS_DISABLE_VERSION_CHECK',
      ),
    )
    .addOption(
      new Option(
        '--check-for-updates',
        'accepted for sops compatibility (tsops never checks for updates over the network)',
      ),
    )
    .addOption(
      new Option(
        '--enable-local-keyservice',
        'use the keys of this machine (default; --enable-local-keyservice=false: only the --keyservice servers) [env: SOPS_ENABLE_LOCAL_KEYSERVICE]',
      ),
    )
    .addOption(new Option('--no-enable-local-keyservice').hideHelp())
    .addOption(
      new Option(
        '--keyservice <uri>',
        'a key service to use after the local one, tried in order: tcp://host:port or unix:///path (repeatable) [env: SOPS_KEYSERVICE, comma-separated]',
      ).argParser(collect),
    );
}

export function addIoOptions(cmd: Command, { inPlace = true } = {}): Command {
  cmd
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from the file extension)',
      ),
    )
    .addOption(new Option('--output-type <type>', 'output format (default: the input format)'))
    .addOption(new Option('--output <path>', 'write to this file (atomically) instead of standard output'))
    .addOption(
      new Option(
        '--filename-override <path>',
        'use this path for the format and the .sops.yaml rule (e.g. when reading standard input)',
      ),
    )
    .addOption(new Option('--indent <n>', 'indentation of YAML/JSON output (default: YAML 4, JSON a tab)'));
  if (inPlace)
    cmd.addOption(new Option('-i, --in-place', 'write the result back to the file (atomically, keeping its mode)'));
  return cmd;
}

/** Help text of the decrypting commands: where age identities come from, and passphrase prompts. */
export const AGE_IDENTITIES_HELP = `
age identities (as sops finds them): SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD,
~/.ssh/id_ed25519, ~/.ssh/id_rsa, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, then
$XDG_CONFIG_HOME/sops/age/keys.txt (default ~/.config/sops/age/keys.txt).
Passphrase-protected keys (SSH keys made with ssh-keygen -N, identity files encrypted with age -p)
are asked for on the terminal (/dev/tty, never echoed) only when the file needs that key, at most
once per run, e.g. Enter passphrase for "/home/me/.ssh/id_ed25519": or
Enter passphrase for identity 'SOPS_AGE_KEY_FILE': . Without a terminal, or with a wrong
passphrase, that key is reported in the error and the other keys are still tried.`;

export function addDecryptOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--extract <path>', 'print only this part of the tree, e.g. \'["data"]["password"]\''))
    .addOption(new Option('--ignore-mac', 'decrypt even if the MAC does not match (the file was changed outside sops)'))
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
}

export function addKeyOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '-a, --age <recipients>',
        'comma-separated age recipients (age1…, ssh-ed25519 …, ssh-rsa …; plugin recipients age1NAME1… run age-plugin-NAME)',
      ).env('SOPS_AGE_RECIPIENTS'),
    )
    .addOption(new Option('-p, --pgp <fingerprints>', 'comma-separated PGP fingerprints').env('SOPS_PGP_FP'))
    .addOption(
      new Option('-k, --kms <arns>', 'comma-separated AWS KMS key ARNs (arn or arn+role-arn)').env('SOPS_KMS_ARN'),
    )
    .addOption(new Option('--gcp-kms <ids>', 'comma-separated GCP Cloud KMS key resource IDs').env('SOPS_GCP_KMS_IDS'))
    .addOption(
      new Option('--hckms <ids>', 'comma-separated HuaweiCloud KMS key IDs (REGION:KEY_UUID)').env(
        'SOPS_HUAWEICLOUD_KMS_IDS',
      ),
    )
    .addOption(
      new Option('--azure-kv <urls>', 'comma-separated Azure Key Vault key URLs').env('SOPS_AZURE_KEYVAULT_URLS'),
    )
    .addOption(
      new Option('--hc-vault-transit <uris>', 'comma-separated HashiCorp Vault transit key URIs').env(
        'SOPS_VAULT_URIS',
      ),
    )
    .addOption(new Option('--aws-profile <name>', 'AWS profile for the KMS keys given with --kms'))
    .addOption(new Option('--encryption-context <pairs>', 'AWS KMS encryption context, key:value,key2:value2'))
    .addOption(
      new Option('--shamir-secret-sharing-threshold <n>', 'number of key groups needed to decrypt (default: all)'),
    );
}

/** The flags of commands that read and rewrite one encrypted file (edit, set, unset). */
export function addFileOptions(cmd: Command, ignoreMacHelp: string): Command {
  return cmd
    .addOption(
      new Option(
        '--input-type <type>',
        'input format: yaml, json, dotenv, ini or binary (default: from the file extension)',
      ),
    )
    .addOption(new Option('--output-type <type>', 'output format (default: the input format)'))
    .addOption(new Option('--indent <n>', 'indentation of YAML/JSON output'))
    .addOption(new Option('--ignore-mac', ignoreMacHelp))
    .addOption(
      new Option('--decryption-order <types>', 'comma-separated key types to try first (default: age,pgp)').env(
        'SOPS_DECRYPTION_ORDER',
      ),
    );
}

export function addScopeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--unencrypted-suffix <suffix>',
        'leave values whose key ends with this suffix unencrypted (default: _unencrypted)',
      ),
    )
    .addOption(new Option('--encrypted-suffix <suffix>', 'encrypt only values whose key ends with this suffix'))
    .addOption(new Option('--unencrypted-regex <re>', 'leave values whose key matches this regex unencrypted'))
    .addOption(new Option('--encrypted-regex <re>', 'encrypt only values whose key matches this regex'))
    .addOption(
      new Option('--unencrypted-comment-regex <re>', 'leave values after a comment matching this regex unencrypted'),
    )
    .addOption(new Option('--encrypted-comment-regex <re>', 'encrypt only values after a comment matching this regex'))
    .addOption(new Option('--mac-only-encrypted', 'compute the MAC over encrypted values only'));
}

/**
 * A subcommand's options over its parents' (commander's optsWithGlobals() lets a parent's default
 * or environment value win over the subcommand's own flag).
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the command's flags, which commander cannot type
export function subcommandOptions<T = CliOptions>(c: Command): T {
  const chain: Command[] = [];
  for (let x: Command | null = c; x; x = x.parent) chain.unshift(x);
  return Object.assign({}, ...chain.map((x) => x.opts())) as T;
}

/** `--recursive` and `--keep-going`, for the commands that take many files with -i (src/cli/many.ts). */
export function addManyOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--recursive', 'with -i: folders given are searched for files (beyond sops)'))
    .addOption(
      new Option(
        '--keep-going',
        'with several files: do every file that can be done instead of stopping at the first failure, with nothing changed (beyond sops)',
      ),
    );
}
