/**
 * What every command works out from its flags: the input and output formats, where output goes,
 * the verbose log, and (for encryption) which keys and scope to use — from flags, else from the
 * matching `.sops.yaml` creation rule.
 */
import { readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { DecryptionOrderError, ExitCode, SopsError } from '../errors.js';
import { KEY_TYPES, type KeyGroup, type MasterKey } from '../keys/types.js';
import { formatFromPath } from '../stores/index.js';
import { FORMATS, type Format } from '../stores/types.js';
import { pickScope, resolveScope, type Scope } from '../scope/scope.js';
import { parseThresholdFlag } from '../shamir/threshold.js';
import { parseDecryptionOrder } from '../file/datakey.js';
import { openEncrypted, type FileInput, type OpenedFile } from '../file/file.js';
import { findConfigFile } from '../config/find.js';
import { lockForUpdate, readInput, writeFileAtomic } from '../util/fs.js';
import type { CliOptions } from './options.js';

/**
 * Read one byte from standard input, blocking (a terminal or a pipe); false at end of input. For
 * sops's "press a key" prompts when standard input is not a terminal.
 */
export function readStdinByte(): boolean {
  const buf = Buffer.alloc(1);
  for (;;) {
    try {
      return readSync(0, buf, 0, 1, null) === 1;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      if (code === 'EOF') return false;
      throw e;
    }
  }
}

export function makeLog(o: CliOptions): (msg: string) => void {
  return o.verbose ? (msg) => process.stderr.write(`[tsops] ${msg}\n`) : () => {};
}

type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/**
 * One log line in sops's shape (logrus through sops's logging package): `[NAME]\t INFO[0000] msg` on a
 * terminal, `[NAME]\t time="…" level=info msg="…"` otherwise, so tools that grep sops's --verbose
 * output (helm-secrets: "Data key recovered successfully") find the same words. Never secrets.
 */
export function sopsLogLine(level: LogLevel, name: string, msg: string): string {
  if (process.stderr.isTTY) {
    const tag = level === 'warning' ? 'WARN' : level.slice(0, 4).toUpperCase();
    return `[${name}]\t ${tag}[0000] ${msg}\n`;
  }
  const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const quoted = /^[A-Za-z0-9\-._/@^+]+$/.test(msg) ? msg : JSON.stringify(msg);
  return `[${name}]\t time="${time}" level=${level} msg=${quoted}\n`;
}

/** sops's warnings are printed whatever the verbosity. */
export function sopsWarn(msg: string, name = 'CMD'): void {
  process.stderr.write(sopsLogLine('warning', name, msg));
}

/** sops's info lines, printed with --verbose only. */
export function sopsInfo(o: CliOptions, msg: string, name = 'SOPS'): void {
  if (o.verbose) process.stderr.write(sopsLogLine('info', name, msg));
}

function parseFormat(s: string, flag: string): Format {
  const f = s.trim().toLowerCase();
  const alias: Record<string, Format> = { yml: 'yaml', env: 'dotenv' };
  const out = alias[f] ?? f;
  if (!(FORMATS as readonly string[]).includes(out)) {
    throw new SopsError(
      `invalid ${flag} ${JSON.stringify(s)}: use one of ${FORMATS.join(', ')}`,
      ExitCode.ErrorGeneric,
    );
  }
  return out as Format;
}

export interface IoPlan {
  /** The file to read (undefined: standard input). */
  file: string | undefined;
  /** The path that decides the format and the creation rule. */
  path: string | undefined;
  inFormat: Format;
  outFormat: Format;
  indent: number | undefined;
}

export function planIo(file: string | undefined, o: CliOptions): IoPlan {
  const stdin = file === undefined || file === '-';
  const path = o.filenameOverride ?? (stdin ? undefined : file);
  let inFormat: Format;
  if (o.inputType) inFormat = parseFormat(o.inputType, '--input-type');
  else if (path) inFormat = formatFromPath(path);
  else {
    throw new SopsError(
      'reading standard input: give --input-type (or --filename-override) so tsops knows its format',
      ExitCode.NoFileSpecified,
    );
  }
  // as sops: the output format comes from --output-type, else from the file name (not from
  // --input-type); standard input with no name keeps the input format
  const outFormat = o.outputType ? parseFormat(o.outputType, '--output-type') : path ? formatFromPath(path) : inFormat;
  let indent: number | undefined;
  if (o.indent !== undefined) {
    indent = Number(o.indent);
    if (!Number.isInteger(indent) || indent < 0 || indent > 16)
      throw new SopsError(
        `invalid --indent ${JSON.stringify(o.indent)}: a whole number from 0 to 16`,
        ExitCode.ErrorGeneric,
      );
  }
  return { file: stdin ? undefined : file, path, inFormat, outFormat, indent };
}

export function readPlanned(p: IoPlan): Buffer {
  const data = readInput(p.file);
  if (data.length >= LARGE_INPUT) keepYoungGenerationSmall();
  return data;
}

/** From this size on, an input's tree is large enough for the young generation's size to matter. */
const LARGE_INPUT = 1 << 20;
let youngKeptSmall = false;

/**
 * Building a large file's tree makes V8 grow its young generation to the maximum (two 16 MB
 * semi-spaces, all resident) since most of what it allocates survives. In the CLI's own process
 * (never in the library: it is a process-wide setting) it stays at its starting size: about 35 MB less
 * peak RSS on the 17 MB benchmark files at the same CPU time. (The flag is read when the young
 * generation would grow, so setting it at run time works; node:v8 costs some milliseconds to load,
 * so only a large input pays for it.)
 */
function keepYoungGenerationSmall(): void {
  if (youngKeptSmall) return;
  youngKeptSmall = true;
  try {
    (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString(
      '--semi-space-growth-factor=1',
    );
  } catch {
    // only costs memory
  }
}

/**
 * Read the planned input of a command that may write it back: with --in-place, first take the
 * file's advisory lock (src/util/lock.ts), so that concurrent tsops commands do not lose changes.
 */
export async function readForChange(p: IoPlan, o: Pick<CliOptions, 'inPlace' | 'verbose'>): Promise<Buffer> {
  return (await readerForChange(p, o))();
}

/** readForChange's lock, then a reader for openPlanned, which holds the bytes only while it needs them. */
export async function readerForChange(p: IoPlan, o: Pick<CliOptions, 'inPlace' | 'verbose'>): Promise<() => Buffer> {
  if (o.inPlace && p.file) await lockForUpdate(p.file, { log: makeLog(o) });
  return () => readPlanned(p);
}

/** Write a command's result: in place, to --output, or to standard output. */
export function writeResult(data: Buffer, p: IoPlan, o: CliOptions): void {
  if (o.inPlace) {
    if (!p.file) throw new SopsError('--in-place needs a file, not standard input', ExitCode.ErrorGeneric);
    writeFileAtomic(p.file, data, undefined, makeLog(o));
  } else if (o.output) {
    writeFileAtomic(o.output, data, undefined, makeLog(o));
  } else {
    process.stdout.write(data);
  }
}

export function decryptionOrder(o: CliOptions) {
  const spec = o.decryptionOrder;
  if (!spec) return parseDecryptionOrder(spec);
  const seen = new Set<string>();
  for (const t of spec.split(',')) {
    if (seen.has(t)) throw new DecryptionOrderError(`Duplicate decryption key type: ${t}`);
    seen.add(t);
  }
  // sops orders the types it knows and passes over the others: warn, never refuse
  const known = [...seen].filter((t) => {
    const ok = (KEY_TYPES as readonly string[]).includes(t.trim()) || t.trim() === '';
    if (!ok)
      sopsWarn(
        `unknown key type ${JSON.stringify(t)} in the decryption order is ignored (known: ${KEY_TYPES.join(', ')})`,
      );
    return ok;
  });
  return parseDecryptionOrder(known.join(','));
}

/** The `.sops.yaml` for `path` (or --config), if any; `.sops.yml` next to nothing gets sops's warning. */
export function findConfigFor(path: string | undefined, o: CliOptions): string | undefined {
  return findConfigFile({
    explicit: o.config,
    fileDir: path ? dirname(resolve(path)) : undefined,
    cwd: process.cwd(),
    warn: warnOnce,
  });
}

let warned = false;
function warnOnce(msg: string): void {
  if (warned) return;
  warned = true;
  sopsWarn(msg);
}

/**
 * The output indentation for a command that only reads (decrypt): --indent, else the config's
 * `stores:` setting. A config that cannot be read never stops a decryption (sops issue 868).
 * The config module (YAML parser, regex engine) loads only when there is a config file.
 */
export async function outputIndent(io: IoPlan, o: CliOptions): Promise<number | undefined> {
  if (io.indent !== undefined) return io.indent;
  if (!findConfigFor(io.path, o)) return undefined;
  try {
    const { indentFor } = await import('../config/config.js');
    return indentFor(io.outFormat, { flag: io.indent, path: io.path, config: o.config, warn: warnOnce });
  } catch {
    return undefined;
  }
}

/** Open (decrypt and verify) the planned input with the decryption flags every command shares. */
export async function openPlanned(
  io: IoPlan,
  o: CliOptions,
  log: (m: string) => void,
  data: FileInput = () => readPlanned(io),
  name = io.path ?? 'standard input',
  trackIvs = true,
): Promise<OpenedFile> {
  const opened = await openEncrypted(data, {
    trackIvs,
    format: io.inFormat,
    filename: name,
    log,
    ignoreMac: o.ignoreMac,
    decryptionOrder: decryptionOrder(o),
    storeOptions: { indent: io.indent },
  });
  sopsInfo(o, 'Data key recovered successfully');
  return opened;
}

/** Keys given with flags (or their environment variables), as one key group. */
export async function keysFromFlags(o: CliOptions): Promise<MasterKey[]> {
  const keys: MasterKey[] = [];
  const ids = await import('../keys/identity.js');
  if (o.age) keys.push(...ids.parseAgeRecipients(o.age));
  if (o.pgp) keys.push(...ids.parsePgpFingerprints(o.pgp));
  if (o.kms) {
    const context = o.encryptionContext ? ids.parseEncryptionContext(o.encryptionContext) : undefined;
    keys.push(...ids.parseKmsArns(o.kms, context, o.awsProfile));
  }
  if (o.gcpKms) keys.push(...ids.parseGcpKmsIds(o.gcpKms));
  if (o.hckms) keys.push(...ids.parseHckmsKeyIds(o.hckms));
  if (o.azureKv) keys.push(...ids.parseAzureKeyUrls(o.azureKv));
  if (o.hcVaultTransit) keys.push(...ids.parseVaultUris(o.hcVaultTransit));
  return keys;
}

/** The scope settings given with flags (not yet resolved: see resolveScope). */
export function scopeFromFlags(o: CliOptions): Scope {
  return pickScope(o);
}

const NO_KEYS = 'config file not found, or has no creation rules, and no keys provided through command line options';

export interface EncryptionPlan {
  keyGroups: KeyGroup[];
  shamirThreshold: number;
  scope: Scope;
  /** Indentation from the config's `stores` section, if any. */
  indent?: number;
  /** Where the settings came from, for --verbose. */
  source: string;
}

/**
 * The keys and scope for encrypting `path`: key flags win (as in sops); otherwise the first matching
 * creation rule of the `.sops.yaml` found from the file's folder upward, then from the working
 * directory upward (or --config / SOPS_CONFIG). Scope flags override the rule's scope.
 */
export async function planEncryption(
  path: string | undefined,
  o: CliOptions,
  format: Format,
  log: (m: string) => void,
): Promise<EncryptionPlan> {
  // as sops: a malformed --encryption-context stops encryption whatever the keys (exit 6)
  if (o.encryptionContext) (await import('../keys/identity.js')).parseEncryptionContext(o.encryptionContext);
  const flagKeys = await keysFromFlags(o);
  const flagScope = scopeFromFlags(o);
  const threshold = parseThresholdFlag(o.shamirSecretSharingThreshold);
  const cfgMod = await import('../config/config.js');
  const configPath = findConfigFor(path, o);
  const cfg = configPath ? cfgMod.loadConfig(configPath) : undefined;
  const indent = cfgMod.storesIndent(cfg, format);
  if (flagKeys.length) {
    log(`using the keys given on the command line (${flagKeys.length})`);
    const ruleScope = cfg && configPath ? (cfgMod.matchRule(cfg, path ?? '')?.rule.scope ?? {}) : {};
    return {
      keyGroups: [flagKeys],
      shamirThreshold: threshold ?? 0,
      scope: resolveScope({ ...ruleScope, ...flagScope }),
      indent,
      source: 'command line',
    };
  }
  if (!cfg || !configPath) {
    // sops's words (helm-secrets and other tools match them), then what to do about it
    throw new SopsError(
      `${NO_KEYS} (give --age, --pgp, --kms, --gcp-kms, --hckms, --azure-kv or --hc-vault-transit, or SOPS_AGE_RECIPIENTS, SOPS_PGP_FP, …, or add a .sops.yaml with creation_rules)`,
      ExitCode.ErrorGeneric,
    );
  }
  const rulePath = path ?? '';
  const match = cfgMod.matchRule(cfg, rulePath);
  if (!match) {
    throw new SopsError(
      // sops's words first (exit 1 as sops), then which file and path
      `error loading config: no matching creation rules found (no creation rule in ${configPath} matches ${rulePath ? JSON.stringify(rulePath) : 'standard input (use --filename-override)'}; add a rule or give keys with --age/--pgp/…)`,
      ExitCode.ErrorGeneric,
    );
  }
  log(`using creation rule ${match.index} of ${configPath}`);
  const context = o.encryptionContext
    ? (await import('../keys/identity.js')).parseEncryptionContext(o.encryptionContext)
    : undefined;
  const s = cfgMod.ruleToEncryptionSettings(match.rule, { kmsEncryptionContext: context });
  const scope = resolveScope({ ...match.rule.scope, ...flagScope });
  return {
    keyGroups: s.keyGroups,
    shamirThreshold: threshold ?? s.shamirThreshold,
    scope,
    indent,
    source: `${configPath} rule ${match.index}`,
  };
}

/**
 * A subcommand's own options, plus `--verbose` / `--config` given before it. (Not all of
 * `optsWithGlobals()`: the top-level key flags take values from SOPS_AGE_RECIPIENTS etc., which
 * must not leak into a subcommand's flags of the same name.)
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the command's flags, which commander cannot type
export function commandOptions<T extends { verbose?: boolean; config?: string }>(c: Command): T {
  const g = c.optsWithGlobals<CliOptions>();
  const own = c.opts<T>();
  return { ...own, verbose: own.verbose ?? g.verbose, config: own.config ?? g.config };
}
