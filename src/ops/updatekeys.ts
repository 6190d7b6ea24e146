/**
 * Bringing the master keys of sops files in line with their `.sops.yaml` creation rule, as sops's
 * `updatekeys` does: compare the file's key groups with the rule's, and (once confirmed) wrap the
 * file's existing data key for the rule's key groups. No value is decrypted or re-encrypted: every
 * value's ciphertext, the MAC and `lastmodified` stay as they are; only the wrapped data keys (and
 * `shamir_threshold`) change.
 *
 * Beyond sops (its issue 1071): a path may be a folder, searched recursively for sops files (files
 * with sops metadata; `.git` and `node_modules` are not entered, symbolic links not followed, other
 * files skipped); every file gets an outcome, and a failure does not stop the others. The threshold
 * is the one given, else the rule's `shamir_threshold`, else the file's (sops keeps the file's: its
 * issue 1610), never more than the number of groups.
 *
 * Note: the data key stays the same, so a removed key can still open copies of the file made
 * before; rotating (src/ops/rotate.ts) gives the file a new data key.
 */
import { readFileSync, readdirSync, lstatSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { decryptParsed, parseEncrypted } from '../aes/cipher.js';
import {
  ConfigError,
  ConfigNotFoundError,
  DumpError,
  ExitCode,
  KeyRetrievalError,
  MacDecryptionError,
  NoKeysError,
  ReadError,
  SopsError,
  messageOf,
  withPrefix,
} from '../errors.js';
import { DataKeyCache } from '../file/datakey-cache.js';
import { recoverDataKey, wrapDataKey } from '../file/datakey.js';
import { keyContext } from '../file/file.js';
import type { KeyGroup, KeyType, MasterKey } from '../keys/types.js';
import { macAad, metadataToPlain, parseMetadata, type Metadata } from '../metadata/metadata.js';
import { formatFromPath, storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { checkShamirThreshold } from '../shamir/threshold.js';
import { lockForUpdate, unlockFile, writeFileAtomic } from '../util/fs.js';
import { keyId, keyString } from './key-specs.js';

// --- comparing key groups ------------------------------------------------------------------------

/** How one key group changes: keys kept, added and removed (in sops's order), and whether the kept keys move. */
export interface GroupDiff {
  common: MasterKey[];
  added: MasterKey[];
  removed: MasterKey[];
  /** Same keys, different order (sops 3.13 re-wraps for that too). */
  orderChanged: boolean;
}

/** Compare the file's key groups (`ours`) with the rule's (`theirs`), group by group. */
export function diffKeyGroups(ours: KeyGroup[], theirs: KeyGroup[]): GroupDiff[] {
  const diffs: GroupDiff[] = [];
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    const our = ours[i] ?? [];
    const their = theirs[i] ?? [];
    const ourIds = new Set(our.map(keyId));
    const theirIds = new Set(their.map(keyId));
    const d: GroupDiff = { common: [], added: [], removed: [], orderChanged: false };
    for (const k of their) (ourIds.has(keyId(k)) ? d.common : d.added).push(k);
    for (const k of our) if (!theirIds.has(keyId(k))) d.removed.push(k);
    if (d.added.length === 0 && d.removed.length === 0) {
      d.orderChanged = our.length !== their.length || our.some((k, j) => keyId(k) !== keyId(their[j]!));
    }
    diffs.push(d);
  }
  return diffs;
}

/** A file's key groups and threshold compared with its creation rule's: what `updatekeys` would write. */
export interface RuleComparison {
  /** The rule's key groups (`enc` ''). */
  groups: KeyGroup[];
  /** The threshold the file gets. */
  threshold: number;
  diffs: GroupDiff[];
  /** Whether the file differs from the rule (keys, their order, or the threshold). */
  changes: boolean;
}

/**
 * Compare a file's metadata with the creation rule that matches it (as `updatekeys` does, and
 * `tsops check`): the threshold is `thresholdOverride`, else the rule's `shamir_threshold`, else
 * the file's (sops keeps the file's: its issue 1610), never more than the number of groups.
 */
export function compareWithRule(
  metadata: Metadata,
  rule: import('../config/config.js').CreationRule,
  cfgMod: typeof import('../config/config.js'),
  thresholdOverride?: number,
): RuleComparison {
  const settings = cfgMod.ruleToEncryptionSettings(rule);
  const groups = settings.keyGroups.filter((g) => g.length > 0);
  if (groups.length === 0)
    throw new NoKeysError(`${rule.location} lists no keys, so the file would have no master keys`);
  let threshold = thresholdOverride ?? (settings.shamirThreshold || metadata.shamirThreshold);
  threshold = Math.min(threshold, groups.length);
  checkShamirThreshold(groups.length, threshold);
  const diffs = diffKeyGroups(metadata.keyGroups, groups);
  const keysChange = diffs.some((d) => d.added.length > 0 || d.removed.length > 0 || d.orderChanged);
  return { groups, threshold, diffs, changes: keysChange || threshold !== metadata.shamirThreshold };
}

function colorizer(enabled: boolean) {
  const wrap = (code: string) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { underline: wrap('4'), green: wrap('32'), red: wrap('31') };
}

/** The change listing sops prints before asking. */
export function formatChanges(diffs: GroupDiff[], oldThreshold: number, newThreshold: number, color = false): string {
  const c = colorizer(color);
  let s = "The following changes will be made to the file's groups:\n";
  if (oldThreshold > 0 && oldThreshold === newThreshold) s += `shamir_threshold: ${newThreshold}\n`;
  else {
    if (newThreshold > 0) s += c.green(`+++ shamir_threshold: ${newThreshold}`) + '\n';
    if (oldThreshold > 0) s += c.red(`--- shamir_threshold: ${oldThreshold}`) + '\n';
  }
  diffs.forEach((d, i) => {
    s += c.underline(`Group ${i + 1}`) + '\n';
    for (const k of d.common) s += `    ${keyString(k)}\n`;
    for (const k of d.added) s += c.green(`+++ ${keyString(k)}`) + '\n';
    for (const k of d.removed) s += c.red(`--- ${keyString(k)}`) + '\n';
  });
  diffs.forEach((d, i) => {
    if (d.orderChanged && d.common.length > 0) s += `Key order changed in group ${i + 1}\n`;
  });
  return s;
}

// --- one file ------------------------------------------------------------------------------------

export type UpdateStatus = 'updated' | 'up to date' | 'left unchanged' | 'would update' | 'skipped' | 'failed';

export interface UpdateOutcome {
  file: string;
  status: UpdateStatus;
  reason?: string;
  /** Exit code of a failure. */
  code?: number;
}

export interface UpdatekeysOptions {
  /** Apply the changes without asking. */
  yes?: boolean;
  /** Only show the changes; write nothing. */
  dryRun?: boolean;
  /** The format of every file (default: from each file's extension). */
  inputType?: Format;
  /** The `.sops.yaml` to use instead of looking it up from each file's folder. */
  config?: string;
  /** The Shamir threshold to set (default: the rule's, else the file's). */
  shamirThreshold?: number;
  /** Key types to try first when recovering the data key (default: age, pgp). */
  decryptionOrder?: KeyType[];
  /** The folder relative paths are resolved from (default: the working directory). */
  cwd?: string;
  /** Environment for key sources (identities, credentials). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
  /** The progress lines sops prints on standard error ("Syncing keys for file …"). Default: none. */
  report?: (line: string) => void;
  /** The change listing shown before asking (sops prints it on standard output). */
  show?: (listing: string) => void;
  /** Colour the change listing (ANSI). */
  color?: boolean;
  /**
   * Asked before a file is changed (unless `yes` or `dryRun`): true applies the changes. Without
   * it, a file that needs changes fails (the changes need confirmation).
   */
  confirm?: () => boolean | Promise<boolean>;
  /** Told before each file: its number (from 1), how many there are, its name (a progress line). */
  progress?: (done: number, total: number, file: string) => void;
}

interface Run {
  o: UpdatekeysOptions;
  cwd: string;
  log: (m: string) => void;
  report: (s: string) => void;
  configs: Map<string, import('../config/config.js').SopsConfig>;
  cfgMod: typeof import('../config/config.js');
  /** One unwrap per distinct data key over the whole call. */
  dataKeys: DataKeyCache;
}

class Skip extends Error {}

/** The data key opens the file's MAC: it is the file's data key (and not, say, a wrong share). */
function checkDataKey(m: Metadata, dataKey: Buffer): void {
  if (!m.mac) return;
  try {
    decryptParsed(parseEncrypted(m.mac), dataKey, macAad(m.lastModified));
  } catch (e) {
    throw new MacDecryptionError(
      'the data key recovered from the master keys does not open this file (its MAC does not decrypt with it); the file was not changed',
      { cause: e },
    );
  }
}

async function updateFile(path: string, explicit: boolean, run: Run): Promise<Omit<UpdateOutcome, 'file'>> {
  const abs = resolve(run.cwd, path);
  // the advisory lock (src/util/lock.ts): released when the file is written, or here
  await lockForUpdate(abs, { log: run.log });
  try {
    return await updateLocked(path, abs, explicit, run);
  } finally {
    unlockFile(abs);
  }
}

async function updateLocked(
  path: string,
  abs: string,
  explicit: boolean,
  run: Run,
): Promise<Omit<UpdateOutcome, 'file'>> {
  const { o, cfgMod } = run;
  let data: Buffer;
  try {
    data = readFileSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ReadError(
      `cannot read the file: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : messageOf(e)}`,
      { cause: e },
    );
  }
  const format = o.inputType ?? formatFromPath(abs);
  const notSops = (why: string): never => {
    if (explicit) throw new ReadError(`sops metadata not found: ${why}`);
    throw new Skip(`not a sops file (${why})`);
  };
  if (!explicit && !data.includes('sops')) notSops('no sops metadata');
  let loaded;
  try {
    loaded = (await storeFor(format)).loadEncrypted(data);
  } catch (e) {
    if (explicit) throw withPrefix(`could not read the ${format} file`, e, (m, c) => new ReadError(m, c));
    throw new Skip(`not a sops file (not a valid ${format} file)`);
  }
  if (loaded.metadata === undefined) return notSops('no sops metadata');
  const metadata = parseMetadata(loaded.metadata);

  run.report(`Syncing keys for file ${abs}`);
  const configPath = cfgMod.findConfigFile({
    explicit: o.config,
    fileDir: dirname(abs),
    cwd: run.cwd,
    warn: (m) => run.report(m),
  });
  if (!configPath) {
    throw new ConfigNotFoundError(
      `config file not found: no ${cfgMod.CONFIG_FILE_NAME} in ${dirname(abs)} or above it, nor in the working directory or above it (give one with --config)`,
    );
  }
  let cfg = run.configs.get(configPath);
  if (!cfg) {
    cfg = cfgMod.loadConfig(configPath);
    run.configs.set(configPath, cfg);
  }
  if (cfg.creationRules.length === 0)
    throw new ConfigError(`The config file ${configPath} does not contain any creation rule`);
  const match = cfgMod.matchRule(cfg, abs, { cwd: run.cwd });
  if (!match) throw new ConfigError(`error loading config: no matching creation rules found in ${configPath}`);
  const { groups, threshold, diffs, changes } = compareWithRule(metadata, match.rule, cfgMod, o.shamirThreshold);
  if (!changes) {
    run.report(`File ${abs} already up to date`);
    return { status: 'up to date' };
  }
  o.show?.(formatChanges(diffs, metadata.shamirThreshold, threshold, !!o.color));
  if (o.dryRun) {
    run.report(`[dry-run] Would update file ${abs} (no changes written)`);
    return { status: 'would update' };
  }
  if (!o.yes) {
    if (!o.confirm) throw new SopsError('the changes need confirmation: apply them with yes, or give a way to confirm');
    if (!(await o.confirm())) {
      run.report(`File ${abs} left unchanged`);
      return { status: 'left unchanged' };
    }
  }

  const ctx = keyContext({ log: run.log, env: o.env });
  let dataKey: Buffer;
  try {
    dataKey = await run.dataKeys.get(metadata, () => recoverDataKey(metadata, ctx, o.decryptionOrder));
  } catch (e) {
    throw new KeyRetrievalError(messageOf(e), { cause: e });
  }
  checkDataKey(metadata, dataKey);

  const updated: Metadata = { ...metadata, keyGroups: groups, shamirThreshold: threshold };
  if (metadata.keyGroups.length === 1 && groups.length === 1) {
    // one group before and after: the data key itself is wrapped, so the keys that stay keep
    // their wrapped key; only the new ones are wrapped
    const old = new Map(metadata.keyGroups[0]!.map((k) => [keyId(k), k]));
    const fresh: MasterKey[] = [];
    for (const k of groups[0]!) {
      const prev = old.get(keyId(k));
      if (prev && prev.enc) {
        k.enc = prev.enc;
        if (prev.createdAt) k.createdAt = prev.createdAt;
      } else fresh.push(k);
    }
    if (fresh.length) await wrapDataKey({ ...updated, keyGroups: [fresh], shamirThreshold: 0 }, dataKey, ctx);
  } else {
    // several groups: the data key is split into new shares, one per group, each wrapped anew
    await wrapDataKey(updated, dataKey, ctx);
  }
  let output: Buffer;
  try {
    output = (await storeFor(format, { indent: cfgMod.storesIndent(cfg, format) })).emitEncrypted(
      loaded.tree,
      metadataToPlain(updated),
    );
  } catch (e) {
    throw new DumpError(`Could not marshal tree: ${messageOf(e)}`, { cause: e });
  }
  writeFileAtomic(abs, output);
  run.report(`File ${abs} synced with new keys`);
  if (diffs.some((d) => d.removed.length > 0)) {
    run.report(
      `Note: the removed keys can still decrypt earlier copies of ${path} (the data key is unchanged); run "tsops rotate -i ${path}" to give it a new data key`,
    );
  }
  return { status: 'updated' };
}

// --- finding the files ------------------------------------------------------------------------------

const SKIP_DIRS = new Set(['.git', 'node_modules']);

interface Target {
  path: string;
  /** Named on the command line (a non-sops file is then an error, not skipped). */
  explicit: boolean;
  /** Already known not to be usable (a symbolic link in a folder). */
  skip?: string;
}

/** The files under a folder, depth first in name order. */
function walk(dir: string, into: Target[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(p, into);
    } else if (e.isFile()) into.push({ path: p, explicit: false });
    else if (e.isSymbolicLink()) into.push({ path: p, explicit: false, skip: 'symbolic link (not followed)' });
  }
}

/** The files to look at for the paths given (folders expanded), each once. */
export function collectTargets(paths: string[]): Target[] {
  const out: Target[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      /* reported when read */
    }
    const found: Target[] = [];
    if (isDir) walk(p, found);
    else found.push({ path: p, explicit: true });
    for (const t of found) {
      const key = resolve(t.path);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(t);
    }
  }
  return out;
}

// --- all the files -----------------------------------------------------------------------------------

export interface UpdatekeysResult {
  /** One per file looked at, in order. */
  outcomes: UpdateOutcome[];
  /** How many files were looked at. */
  files: number;
  /** Whether a folder was given (the files were searched for). */
  folders: boolean;
}

const display = (p: string, cwd: string) => {
  const r = relative(cwd, resolve(cwd, p));
  return r && !r.startsWith('..') ? r : p;
};

/**
 * Update the keys of the sops files at `paths` (files, or folders searched for sops files). A
 * single file named alone fails as in sops: its error is thrown. Otherwise every file gets an
 * outcome, and a failed file does not stop the others.
 */
export async function updateKeys(paths: string[], o: UpdatekeysOptions = {}): Promise<UpdatekeysResult> {
  const run: Run = {
    o,
    cwd: o.cwd ?? process.cwd(),
    log: o.log ?? (() => {}),
    report: o.report ?? (() => {}),
    configs: new Map(),
    cfgMod: await import('../config/config.js'),
    dataKeys: new DataKeyCache(),
  };
  const given = o.cwd ? paths.map((p) => resolve(run.cwd, p)) : paths;
  const targets = collectTargets(given);
  const folders = given.some((p) => {
    try {
      return lstatSync(p).isDirectory() || statSync(p).isDirectory();
    } catch {
      return false;
    }
  });
  const outcomes: UpdateOutcome[] = [];
  for (const t of targets) {
    const name = display(t.path, run.cwd);
    o.progress?.(outcomes.length + 1, targets.length, name);
    if (t.skip) {
      run.report(`Skipping ${name}: ${t.skip}`);
      outcomes.push({ file: name, status: 'skipped', reason: t.skip });
      continue;
    }
    try {
      outcomes.push({ ...(await updateFile(t.path, t.explicit, run)), file: name });
    } catch (e) {
      if (e instanceof Skip) {
        run.log(`skipping ${name}: ${e.message}`);
        outcomes.push({ file: name, status: 'skipped', reason: e.message });
        continue;
      }
      // one file named alone fails as in sops: its own message and exit code
      if (targets.length === 1 && !folders) throw e instanceof SopsError ? e : new SopsError(messageOf(e));
      const code = e instanceof SopsError ? e.code : ExitCode.ErrorGeneric;
      run.report(`Failed to update ${name}: ${messageOf(e)}`);
      outcomes.push({ file: name, status: 'failed', reason: messageOf(e), code });
    }
  }
  return { outcomes, files: targets.length, folders };
}
