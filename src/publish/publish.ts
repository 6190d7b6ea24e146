/**
 * `publish`: send sops files to the destination their `.sops.yaml` `destination_rules` name, as
 * sops 3.13 does (cmd/sops/subcommand/publish):
 *
 * - the first destination rule whose `path_regex` matches the path *as given* (a folder's files as
 *   the folder path joined with their names) applies; none → `error loading config: no matching
 *   destination found in config`; a rule naming no destination → `no destination configured for
 *   this file`;
 * - the name at the destination is the file's base name, or with `recursive` its path relative to
 *   the folder given; `omitExtensions` (or the rule's `omit_extensions`) drops the extension;
 * - S3 and GCS receive the encrypted file: as it is, or — when the rule's `recreation_rule` has
 *   keys in its first key group — decrypted and encrypted again with a new data key for the
 *   recreation rule's key groups (its Shamir threshold and `unencrypted_suffix` /
 *   `encrypted_suffix`; sops's default `_unencrypted` when it sets neither), the changes to the
 *   key groups printed first;
 * - Vault KV receives the decrypted values (every document's top-level keys; nested maps stay maps);
 * - unless `yes`, each upload is confirmed (`uploading FILE to WHERE ? (y/n): `); "n" cancels — an
 *   error for one file, a printed line and the next file with `recursive`;
 * - the first failure stops: exit status 1, except a file that cannot be read (2) and the
 *   decryption's own statuses (a key not recovered 128, a MAC mismatch 51, …).
 *
 * Nothing local is ever written. The S3 and GCS SDKs are imported only when used.
 */
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import * as cfgMod from '../config/config.js';
import { keyContext, loadEncrypted, newMetadata, openEncrypted, sealTree } from '../file/file.js';
import type { KeyType } from '../keys/types.js';
import { diffKeyGroups } from '../ops/updatekeys.js';
import { keyString } from '../keys/identity.js';
import { formatFromPath } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { toPlain, type Plain } from '../tree/types.js';
import { destinationOf, destinationUrl, type Destination } from './destinations.js';

export interface PublishOptions {
  /** Upload without asking. */
  yes?: boolean;
  /** Asked before each upload unless `yes`, with sops's question; true uploads. */
  confirm?: (question: string) => boolean | Promise<boolean>;
  /** Drop the file's extension at the destination. */
  omitExtensions?: boolean;
  /** Publish every file under a folder (names at the destination relative to it). */
  recursive?: boolean;
  /** The `.sops.yaml` to use (default: looked up from the path's folder, then the working directory). */
  config?: string;
  cwd?: string;
  /** Environment for keys, credentials and endpoints (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The format of every file (default: from each file's extension). */
  inputType?: Format;
  decryptionOrder?: KeyType[];
  /** --verbose lines (never secrets). */
  log?: (msg: string) => void;
  /** What sops prints on standard output: key group changes, a canceled file with `recursive`. */
  show?: (text: string) => void;
  /** sops's log lines (a Vault secret already up to date, a failed read of it). */
  say?: (level: 'info' | 'warning', msg: string) => void;
  /** Colour the key group changes as sops does on a terminal. */
  color?: boolean;
}

export interface PublishOutcome {
  /** The file as walked (the path given, or the folder joined with its name). */
  file: string;
  /** Where it went (`s3://…`, `gcs://…`, `https://vault…/v1/…`). */
  destination: string;
  status: 'published' | 'up to date' | 'canceled';
  /** The file was encrypted again for the recreation rule's keys. */
  reencrypted?: boolean;
}

/** A failure as sops's publish reports it: its own status for reading and decrypting, else 1. */
const KEPT_CODES = new Set<number>([
  ExitCode.CouldNotReadInputFile,
  ExitCode.ErrorDumpingTree,
  ExitCode.ErrorEncryptingMac,
  ExitCode.ErrorEncryptingTree,
  ExitCode.ErrorDecryptingMac,
  ExitCode.ErrorDecryptingTree,
  ExitCode.MacMismatch,
  ExitCode.MacNotFound,
  ExitCode.CouldNotRetrieveKey,
  ExitCode.DuplicateDecryptionKeyType,
]);

function generic(e: unknown): SopsError {
  if (e instanceof SopsError) {
    if (e.code === ExitCode.ErrorGeneric) return e;
    const out = new SopsError(e.message, ExitCode.ErrorGeneric, { cause: e });
    return out;
  }
  return new SopsError(messageOf(e), ExitCode.ErrorGeneric, { cause: e });
}

function fsWhy(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
  };
  return (err.code && text[err.code]) ?? err.message;
}

/** The files under `root`, in the order Go's filepath.Walk visits them (names sorted; links not followed). */
function walk(root: string, cwd: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(nodePath.resolve(cwd, p));
    if (!st.isDirectory()) {
      out.push(p);
      return;
    }
    const names = readdirSync(nodePath.resolve(cwd, p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const n of names) visit(nodePath.join(p, n));
  };
  const names = readdirSync(nodePath.resolve(cwd, root)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const n of names) visit(nodePath.join(root, n));
  return out;
}

/** sops's listing of key group changes (PrettyPrintDiffs), after its header line. */
function groupChanges(diffs: ReturnType<typeof diffKeyGroups>, color: boolean): string {
  const wrap = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const [underline, green, red] = [wrap('4'), wrap('32'), wrap('31')];
  let s = "The following changes will be made to the file's key groups:\n";
  diffs.forEach((d, i) => {
    s += underline(`Group ${i + 1}`) + '\n';
    for (const k of d.common) s += `    ${keyString(k)}\n`;
    for (const k of d.added) s += green(`+++ ${keyString(k)}`) + '\n';
    for (const k of d.removed) s += red(`--- ${keyString(k)}`) + '\n';
  });
  return s;
}

/** The decrypted tree as the map sops's Vault publisher writes (every document's top-level keys). */
function vaultData(docs: Parameters<typeof toPlain>[0][]): { [k: string]: Plain } {
  const out: { [k: string]: Plain } = {};
  for (const doc of docs) {
    if (doc.kind !== 'map') continue;
    for (const it of doc.items) if (it.kind === 'entry') out[it.key] = toPlain(it.value);
  }
  return out;
}

/**
 * Publish `path` (a sops file, or with `recursive` a folder of them) to its destination; resolves
 * to what happened to each file. Throws a `SopsError` (sops's message and exit status) at the
 * first failure; files before it stay published.
 */
export async function publish(path: string, o: PublishOptions = {}): Promise<PublishOutcome[]> {
  const cwd = o.cwd ?? process.cwd();
  const env = o.env ?? process.env;
  const log = o.log ?? (() => {});
  if (!o.yes && !o.confirm) throw new SopsError('publish: give yes: true or a confirm callback', ExitCode.ErrorGeneric);
  const abs = nodePath.resolve(cwd, path);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    throw new SopsError(`stat ${path}: ${fsWhy(e)}`, ExitCode.ErrorGeneric, { cause: e });
  }
  if (isDir && !o.recursive)
    throw new SopsError("can't operate on a directory without --recursive flag.", ExitCode.ErrorGeneric);

  let cfg: cfgMod.SopsConfig;
  try {
    const configPath = cfgMod.findConfigFile({
      explicit: o.config,
      fileDir: isDir ? abs : nodePath.dirname(abs),
      cwd,
      warn: cfgMod.warnOnStderr,
    });
    if (!configPath) throw new SopsError('config file not found', ExitCode.ErrorGeneric);
    log(`publish: config ${configPath}`);
    cfg = cfgMod.loadConfig(configPath);
  } catch (e) {
    throw generic(e);
  }

  const files = isDir ? walk(path, cwd) : [path];
  const outcomes: PublishOutcome[] = [];
  for (const file of files) {
    outcomes.push(await publishOne(file, isDir ? path : undefined, cfg, o, { cwd, env, log }));
  }
  return outcomes;
}

async function publishOne(
  file: string,
  root: string | undefined,
  cfg: cfgMod.SopsConfig,
  o: PublishOptions,
  c: { cwd: string; env: NodeJS.ProcessEnv; log: (msg: string) => void },
): Promise<PublishOutcome> {
  const abs = nodePath.resolve(c.cwd, file);
  let rule: cfgMod.DestinationRule;
  let dest: Destination | undefined;
  try {
    const m = cfgMod.matchDestinationRule(cfg, file);
    if (!m) throw new SopsError('error loading config: no matching destination found in config', 1);
    rule = m.rule;
    c.log(`publish: ${file}: destination_rules[${m.index}]`);
    dest = destinationOf(rule);
  } catch (e) {
    throw generic(e);
  }
  if (!dest) throw new SopsError('no destination configured for this file', ExitCode.ErrorGeneric);

  let name = root !== undefined ? nodePath.relative(root, file) : nodePath.basename(abs);
  if (nodePath.sep !== '/') name = name.split(nodePath.sep).join('/');
  if (o.omitExtensions || rule.omitExtensions) {
    const ext = nodePath.extname(abs);
    if (ext && name.endsWith(ext)) name = name.slice(0, -ext.length);
  }

  let data: Buffer;
  try {
    data = readFileSync(abs);
  } catch (e) {
    throw new SopsError(`Error reading file: read ${file}: ${fsWhy(e)}`, ExitCode.CouldNotReadInputFile, {
      cause: e,
    });
  }
  const format = o.inputType ?? formatFromPath(file);
  const indent = cfgMod.storesIndent(cfg, format);
  const openOpts = {
    format,
    filename: file,
    env: c.env,
    log: c.log,
    decryptionOrder: o.decryptionOrder,
    storeOptions: { indent },
    trackIvs: false,
  };
  // is it a sops file at all? (sops: the store's own error, status 1)
  try {
    await loadEncrypted(data, openOpts);
  } catch (e) {
    throw generic(e);
  }

  let body: Buffer | undefined;
  let values: { [k: string]: Plain } | undefined;
  let reencrypted = false;
  const open = async () => {
    try {
      return await openEncrypted(data, openOpts);
    } catch (e) {
      throw e instanceof SopsError && KEPT_CODES.has(e.code) ? e : generic(e);
    }
  };
  if (dest.kind === 'vault') {
    values = vaultData((await open()).tree.docs);
  } else if ((rule.recreationRule?.keyGroups[0]?.length ?? 0) > 0) {
    c.log('publish: re-encrypting the file for the recreation rule before publishing');
    const recreation = rule.recreationRule!;
    let settings;
    try {
      settings = cfgMod.ruleToEncryptionSettings(recreation);
    } catch (e) {
      throw generic(e);
    }
    const opened = await open();
    const diffs = diffKeyGroups(opened.metadata.keyGroups, settings.keyGroups);
    if (diffs.some((d) => d.added.length > 0 || d.removed.length > 0)) o.show?.(groupChanges(diffs, o.color ?? false));
    const metadata = newMetadata({
      keyGroups: settings.keyGroups,
      shamirThreshold: settings.shamirThreshold,
      scope: {
        ...(recreation.scope.unencryptedSuffix ? { unencryptedSuffix: recreation.scope.unencryptedSuffix } : {}),
        ...(recreation.scope.encryptedSuffix ? { encryptedSuffix: recreation.scope.encryptedSuffix } : {}),
      },
    });
    try {
      body = await sealTree(opened.tree, metadata, opened.store, { env: c.env, log: c.log, filename: file });
    } catch (e) {
      throw e instanceof SopsError && KEPT_CODES.has(e.code) ? e : generic(e);
    }
    reencrypted = true;
  } else {
    body = data;
  }

  const destination = destinationUrl(dest, name, c.env);
  if (!o.yes) {
    const ok = await o.confirm!(`uploading ${abs} to ${destination} ? (y/n): `);
    if (!ok) {
      const msg = `Publication of ${abs} canceled`;
      if (root === undefined) throw new SopsError(msg, ExitCode.ErrorGeneric);
      o.show?.(`${msg}\n`);
      return { file, destination, status: 'canceled' };
    }
  }

  try {
    switch (dest.kind) {
      case 's3':
        await (await import('./s3.js')).uploadS3(dest.bucket, dest.prefix + name, body!, c.env, c.log);
        break;
      case 'gcs':
        await (await import('./gcs.js')).uploadGcs(dest.bucket, dest.prefix + name, body!, c.env, c.log);
        break;
      case 'vault': {
        const ctx = keyContext({ env: c.env, log: c.log });
        const r = await (await import('./vault.js')).uploadVault(dest, name, values!, ctx, o.say ?? (() => {}));
        if (!r.written) return { file, destination, status: 'up to date' };
        break;
      }
    }
  } catch (e) {
    throw generic(e);
  }
  return { file, destination, status: 'published', ...(reencrypted ? { reencrypted } : {}) };
}
