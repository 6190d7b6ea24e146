/**
 * The parts of editing an encrypted file that are not the editor: opening the file (or starting a
 * new one from sops's example for its format), the text the editor is given, parsing what the
 * editor left, and sealing the result — as sops's `edit`:
 *
 * - the file is re-encrypted with the same data key, keeping the ciphertext of every value whose
 *   path and plaintext did not change (minimal Git diffs), the wrapped keys, a new MAC and
 *   lastmodified;
 * - a file that does not exist is encrypted for the settings `newFile` gives (the creation rule or
 *   the key flags) with a new data key;
 * - with `showMasterKeys` the editor sees the metadata too, and the keys and settings come from
 *   what it left: the wrapped keys are kept when the keys are the same, the data key is wrapped
 *   again when keys were added, and a new data key is used when a key was removed.
 *
 * The editor, its temporary file and the terminal are the CLI's (src/cli/edit.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DumpError, ReadError, WriteError, messageOf } from '../errors.js';
import { wrapDataKey } from '../file/datakey.js';
import {
  hasSopsMetadata,
  keyContext,
  newMetadata,
  sealTree,
  type EncryptSettings,
  type SealOptions,
} from '../file/file.js';
import { reuseOpened, SingleUseIvStash } from '../file/reuse.js';
import { metadataToPlain, parseMetadata, type Metadata } from '../metadata/metadata.js';
import { storeFor } from '../stores/index.js';
import type { Format, Store } from '../stores/types.js';
import { IvStash } from '../tree/crypt.js';
import { entry, map, str, type Tree } from '../tree/types.js';
import { outputIndent } from './indent.js';
import { openForChange, type FileChangeOptions } from './options.js';

// --- the example a new file starts from (sops's EmitExample) --------------------------------------

const WELCOME = 'Welcome to SOPS! Edit this file as you please!';

/** The tree sops shows when a new file is edited: the complex example (YAML, JSON), the nested one (INI), the flat one (dotenv), or the welcome text (binary). */
export function exampleTree(format: Format): Tree {
  switch (format) {
    case 'yaml':
    case 'json':
      return {
        docs: [
          map([
            entry('hello', str(WELCOME)),
            entry('example_key', str('example_value')),
            { kind: 'comment', text: ' Example comment' },
            entry('example_array', { kind: 'list', items: [str('example_value1'), str('example_value2')] }),
            entry('example_number', { kind: 'scalar', type: 'float', text: '1234.56789' }),
            entry('example_booleans', {
              kind: 'list',
              items: [
                { kind: 'scalar', type: 'bool', text: 'true' },
                { kind: 'scalar', type: 'bool', text: 'false' },
              ],
            }),
          ]),
        ],
      };
    case 'ini':
      return {
        docs: [
          map([
            entry(
              'Welcome!',
              map([
                { kind: 'comment', text: ' This is an example file.' },
                entry('hello', str(WELCOME)),
                entry('example_key', str('example_value')),
              ]),
            ),
          ]),
        ],
      };
    case 'dotenv':
      return {
        docs: [
          map([
            { kind: 'comment', text: ' This is an example file.' },
            entry('hello', str(WELCOME)),
            entry('example_key', str('example_value')),
            entry('example_multiline', str('foo\nbar\nbaz')),
          ]),
        ],
      };
    case 'binary':
      return { docs: [map([entry('data', str(WELCOME))])] };
  }
}

// --- opening --------------------------------------------------------------------------------------

export interface EditOptions extends FileChangeOptions {
  /** Show the sops metadata (master keys) in the editor. */
  showMasterKeys?: boolean;
  /** The keys and scope for a file that does not exist yet (and the `stores` indentation, if any). */
  newFile?: () => Promise<EncryptSettings & { indent?: number }>;
}

/** A file opened for editing. */
export interface EditSession {
  tree: Tree;
  metadata: Metadata;
  dataKey: Buffer;
  /** The IVs of the values as read (undefined for a new file). */
  stash: IvStash | undefined;
  /** The store of the output format. */
  store: Store;
  /** The text the editor is given. */
  original: Buffer;
}

/** Open `file` for editing (or start it from the example when it does not exist). */
export async function startEdit(file: string, o: EditOptions): Promise<EditSession> {
  const log = o.log ?? (() => {});
  const outFormat = o.outFormat ?? o.format;
  let tree: Tree;
  let metadata: Metadata;
  let dataKey: Buffer;
  let stash: IvStash | undefined;
  let indent = await outputIndent(o.path ?? file, o, outFormat, o.indent);
  if (existsSync(file)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      throw new ReadError(`cannot read ${file}: ${messageOf(e)}`, { cause: e });
    }
    const opened = await openForChange(data, o, file);
    ({ tree, metadata, dataKey, stash } = opened);
  } else {
    if (!existsSync(dirname(resolve(file)))) {
      throw new WriteError(`cannot create ${file}: its folder ${dirname(resolve(file))} does not exist`);
    }
    if (!o.newFile) throw new ReadError(`${file} does not exist`);
    const plan = await o.newFile();
    indent ??= plan.indent;
    metadata = newMetadata(plan);
    dataKey = randomBytes(32);
    await wrapDataKey(metadata, dataKey, keyContext({ log, env: o.env }));
    tree = exampleTree(outFormat);
    log(`${file} does not exist: starting from the example for ${outFormat}`);
  }
  const store = await storeFor(outFormat, { indent });
  let original: Buffer;
  try {
    original = o.showMasterKeys ? store.emitEncrypted(tree, metadataToPlain(metadata)) : store.emitPlain(tree);
  } catch (e) {
    throw new DumpError(`Could not marshal tree: ${messageOf(e)}`, { cause: e });
  }
  return { tree, metadata, dataKey, stash, store, original };
}

// --- what the editor left ----------------------------------------------------------------------------

/** What the editor left, parsed. */
export interface Edited {
  tree: Tree;
  /** The metadata as edited (only with --show-master-keys). */
  metadata?: Metadata;
}

/** Parse what the editor left; a string says why it cannot be used. */
export function parseEdited(data: Buffer, store: Store, showMasterKeys: boolean): Edited | string {
  try {
    if (!showMasterKeys) {
      const tree = store.loadPlain(data);
      if (hasSopsMetadata(tree, store.format))
        return 'Could not load tree: the file has a top-level "sops" key, which is reserved for the metadata.';
      return { tree };
    }
    const loaded = store.loadEncrypted(data);
    if (loaded.metadata === undefined) return 'SOPS metadata is invalid: the "sops" section is missing.';
    let metadata: Metadata;
    try {
      metadata = parseMetadata(loaded.metadata);
    } catch (e) {
      return `SOPS metadata is invalid: ${messageOf(e)}.`;
    }
    if (metadata.keyGroups.every((g) => g.length === 0))
      return "No master keys were provided, so tsops can't encrypt the file.";
    return { tree: loaded.tree, metadata };
  } catch (e) {
    return `Could not load tree, probably due to invalid syntax: ${messageOf(e)}`;
  }
}

// --- sealing ---------------------------------------------------------------------------------------

/** The edited file, encrypted again (see the module comment for which key it gets). */
export async function finishEdit(
  session: EditSession,
  edited: Edited,
  o: { filename?: string; log?: (msg: string) => void; env?: NodeJS.ProcessEnv },
): Promise<Buffer> {
  const log = o.log ?? (() => {});
  const { metadata, dataKey, stash, store } = session;
  const seal: SealOptions = {
    filename: o.filename,
    log,
    env: o.env,
    dataKey,
    stash: stash && new SingleUseIvStash(stash),
    keepWrappedKeys: true,
  };
  let outMetadata = metadata;
  if (edited.metadata) {
    // --show-master-keys: the settings come from the edited metadata; the wrapped keys are kept
    // when its keys are the same, the data key is wrapped again when keys were added, and a new
    // data key is used when a key was removed
    const m = edited.metadata;
    outMetadata = { ...m, mac: '', lastModified: '' };
    const r = reuseOpened(metadata, dataKey, stash ?? new IvStash(), m, log);
    if (!r) {
      seal.dataKey = undefined;
      seal.stash = undefined;
      seal.keepWrappedKeys = false;
      outMetadata.keyGroups = m.keyGroups.map((g) => g.map((k) => ({ ...k, enc: '' })));
    } else {
      outMetadata.keyGroups = r.keyGroups;
      outMetadata.shamirThreshold = r.shamirThreshold;
      seal.stash = r.stash;
      seal.keepWrappedKeys = r.keepWrappedKeys;
    }
  }
  return sealTree(edited.tree, outMetadata, store, seal);
}
