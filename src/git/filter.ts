/**
 * The clean/smudge filter (`filter.tsops.clean = tsops git clean %f`, `smudge = tsops git smudge
 * %f`, `required = true`): the work tree holds plaintext, the index and the history hold sops files.
 *
 * clean (work tree -> index), plaintext on standard input:
 * - content that is already a sops file goes in as it is (a teammate without the filter, or a
 *   checkout the smudge filter could not decrypt);
 * - when the index (else HEAD) holds an encrypted version, that version is opened (MAC verified) and
 *   is the reference, as `tsops edit` uses the file it changes: content equal to it (values,
 *   types, comments, order) gives back the index's blob byte for byte, so `git status` stays clean
 *   after a checkout; otherwise the content is sealed with its data key and metadata, keeping the
 *   ciphertext of every unchanged value: a one-value change is a one-value diff (plus `mac` and
 *   `lastmodified`). The file's own keys win over the creation rule, as with `edit` (change them
 *   with `tsops updatekeys` / `rotate`);
 * - otherwise a file a creation rule matches is encrypted for that rule with a new data key;
 * - otherwise (no rule, nothing encrypted in the index) the content goes in untouched.
 * Any failure (no key to open the index's version, a key service down, unparsable content) throws:
 * the command exits non-zero and prints nothing, and with `filter.tsops.required = true` git
 * refuses to stage the file. Plaintext never reaches the index through this filter.
 *
 * smudge (index -> work tree): a sops file is decrypted; anything else, and a sops file that cannot
 * be decrypted (no key: a teammate who may not read it), is passed through as it is with a note, so
 * a checkout always works.
 */
import { basename, dirname, resolve } from 'node:path';
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { hasSopsMetadata, loadPlain, newMetadata, openEncrypted, renderPlain, sealTree } from '../file/file.js';
import { SingleUseIvStash } from '../file/reuse.js';
import type { KeyType } from '../keys/types.js';
import { isEncrypted } from '../ops/filestatus.js';
import { formatFromPath, storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { nodesEqual } from '../tree/mutate.js';
import type { Tree } from '../tree/types.js';
import { detectEncryptedFormat } from './detect.js';
import { indexVersion } from './run.js';

export interface FilterOptions {
  /** The top of the work tree (git runs filters there; default: the working directory). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  log?: (m: string) => void;
  decryptionOrder?: KeyType[];
  /** `--config`: the `.sops.yaml` to use instead of the one found from the file's folder. */
  config?: string;
  /** The version to compare with (default: read from the index with git). Empty: none. */
  previous?: Buffer;
}

export interface CleanResult {
  output: Buffer;
  /** What was done, for --verbose. */
  action: 'passed-through' | 'already-encrypted' | 'unchanged' | 'reencrypted' | 'encrypted';
}

async function sopsEncrypted(data: Buffer, format: Format): Promise<boolean> {
  try {
    return await isEncrypted(data, format);
  } catch {
    return false;
  }
}

function treesEqual(a: Tree, b: Tree): boolean {
  return a.docs.length === b.docs.length && a.docs.every((d, i) => nodesEqual(d, b.docs[i]!));
}

async function configFor(path: string, o: FilterOptions) {
  const cfgMod = await import('../config/config.js');
  const cwd = o.cwd ?? process.cwd();
  const configPath = cfgMod.findConfigFile({
    explicit: o.config,
    fileDir: dirname(resolve(cwd, path)),
    cwd,
  });
  if (!configPath) return undefined;
  const cfg = cfgMod.loadConfig(configPath);
  return { cfgMod, cfg, match: cfgMod.matchRule(cfg, path, { cwd }) };
}

/** Files that configure the repository and tsops itself: never sops files, whatever a rule says. */
const NEVER_ENCRYPTED = new Set(['.sops.yaml', '.gitattributes', '.gitignore']);

/** The clean filter: `plain` (the work tree's content of `path`) as it goes into the index. */
export async function clean(plain: Buffer, path: string, o: FilterOptions = {}): Promise<CleanResult> {
  const log = o.log ?? (() => {});
  const format = formatFromPath(path);
  if (NEVER_ENCRYPTED.has(basename(path))) return { output: plain, action: 'passed-through' };
  if (await sopsEncrypted(plain, format)) return { output: plain, action: 'already-encrypted' };
  const previous = o.previous ?? indexVersion(path, { cwd: o.cwd, env: o.env }) ?? Buffer.alloc(0);
  const prevFormat = previous.length ? await detectEncryptedFormat(previous, path) : undefined;
  if (prevFormat && (await sopsEncrypted(previous, prevFormat))) {
    log(`${path}: comparing with the encrypted version in the index`);
    const opened = await openEncrypted(previous, {
      format: prevFormat,
      filename: `${path} (index)`,
      env: o.env,
      log,
      decryptionOrder: o.decryptionOrder,
    });
    const { tree } = await loadPlain(plain, prevFormat, { filename: path });
    if (hasSopsMetadata(tree, prevFormat)) throw sopsKeyError(path);
    if (treesEqual(tree, opened.tree)) return { output: previous, action: 'unchanged' };
    const metadata = { ...opened.metadata, mac: '', lastModified: '' };
    const output = await sealTree(tree, metadata, opened.store, {
      filename: path,
      log,
      env: o.env,
      dataKey: opened.dataKey,
      stash: new SingleUseIvStash(opened.stash),
      keepWrappedKeys: true,
    });
    return { output, action: 'reencrypted' };
  }
  const found = await configFor(path, o);
  if (!found?.match) {
    log(`${path}: no creation rule matches and the index holds no sops file: passed through`);
    return { output: plain, action: 'passed-through' };
  }
  const { cfgMod, cfg, match } = found;
  log(`${path}: new sops file, creation rule ${match.index} of ${cfg.path}`);
  const settings = cfgMod.ruleToEncryptionSettings(match.rule);
  const indent = cfgMod.storesIndent(cfg, format);
  const { tree, store } = await loadPlain(plain, format, { filename: path, storeOptions: { indent } });
  if (hasSopsMetadata(tree, format)) throw sopsKeyError(path);
  const output = await sealTree(tree, newMetadata(settings), store, { filename: path, log, env: o.env });
  return { output, action: 'encrypted' };
}

function sopsKeyError(path: string): SopsError {
  return new SopsError(
    `${path}: the file has a top-level "sops" key but is not a valid sops file; fix or remove it`,
    ExitCode.ErrorGeneric,
  );
}

export interface SmudgeResult {
  output: Buffer;
  /** Why the content was passed through as it is, when it is a sops file that was not decrypted. */
  note?: string;
}

/** The smudge filter: the index's content of `path` as the work tree gets it. Never throws. */
export async function smudge(data: Buffer, path: string, o: FilterOptions = {}): Promise<SmudgeResult> {
  const format = await detectEncryptedFormat(data, path);
  if (!format) return { output: data };
  try {
    const opened = await openEncrypted(data, {
      format,
      filename: path,
      env: o.env,
      log: o.log,
      trackIvs: false,
      decryptionOrder: o.decryptionOrder,
    });
    let indent: number | undefined;
    try {
      indent = (await import('../config/config.js')).indentFor(format, { path, cwd: o.cwd, config: o.config });
    } catch {
      indent = undefined;
    }
    return { output: renderPlain(opened.tree, await storeFor(format, { indent })) };
  } catch (e) {
    return { output: data, note: `${messageOf(e)} (left encrypted in the work tree)` };
  }
}
