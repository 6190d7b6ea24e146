/**
 * Changing one value of an encrypted file without an editor, as sops's `set` and `unset`: the
 * file is opened, the value set or removed, and the file re-encrypted with its data key; every
 * other value keeps its exact ciphertext.
 */
import { EmptyFileError, InvalidSetError } from '../errors.js';
import { sealTree } from '../file/file.js';
import { SingleUseIvStash } from '../file/reuse.js';
import { SOPS_PREFIX } from '../stores/dotenv.js';
import { storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { PathNotFoundError, setAtPath, unsetAtPath } from '../tree/mutate.js';
import { formatTreePath, type PathComponent } from '../tree/path.js';
import type { MapNode, Node } from '../tree/types.js';
import { outputIndent } from './indent.js';
import { openForChange, type FileChangeOptions } from './options.js';

export interface SetOptions extends FileChangeOptions {
  /**
   * set: return undefined (nothing to write) when the value is already there; unset: return
   * undefined when there is nothing at the path.
   */
  idempotent?: boolean;
  /** Name of the file, for messages. */
  filename?: string;
}

/** What a dotenv, INI or binary file can hold at a path; a SopsError (exit 7) otherwise. */
export function checkValueForFormat(format: Format, path: readonly PathComponent[], value: Node): void {
  const bad = (msg: string) => new InvalidSetError(`cannot set ${formatTreePath(path)} in a ${format} file: ${msg}`);
  const flat = (v: Node) => v.kind === 'scalar';
  // the metadata's place: a second `sops` key (dotenv: a `sops_` line) makes a file nobody can open
  const top = path[0];
  if (typeof top === 'string' && (format === 'dotenv' ? top.startsWith(SOPS_PREFIX) : top === 'sops')) {
    throw bad(
      format === 'dotenv'
        ? `keys starting with "${SOPS_PREFIX}" hold the file's sops metadata`
        : 'the top-level "sops" key holds the file\'s sops metadata',
    );
  }
  switch (format) {
    case 'dotenv':
      if (path.length !== 1 || typeof path[0] !== 'string')
        throw bad('a dotenv file is flat: the path is one key, e.g. \'["API_KEY"]\'');
      if (!flat(value)) throw bad('a dotenv value is a single string (or number or boolean), not a map, list or null');
      return;
    case 'ini':
      if (path.some((c) => typeof c !== 'string') || path.length > 2) {
        throw bad(
          'an INI file holds sections of keys: the path is \'["section"]["key"]\' (or \'["section"]\' with a map of strings)',
        );
      }
      if (path.length === 2 && !flat(value))
        throw bad('an INI value is a single string (or number or boolean), not a map, list or null');
      if (
        path.length === 1 &&
        (value.kind !== 'map' || value.items.some((it) => it.kind === 'entry' && !flat(it.value)))
      ) {
        throw bad('a section is a map of keys to strings, e.g. {"key": "value"}');
      }
      return;
    case 'binary':
      if (path.length !== 1 || path[0] !== 'data' || value.kind !== 'scalar' || value.type !== 'str') {
        throw bad('a binary file holds one string, its content: the path is \'["data"]\' and the value a JSON string');
      }
      return;
    default:
      return;
  }
}

/**
 * Open the file, apply `change` to its first document, and re-encrypt it. `change` returns false
 * when nothing changed; with `skipUnchanged` the result is then undefined (nothing to write).
 */
async function modify(
  data: Buffer,
  o: SetOptions,
  change: (doc: MapNode, format: Format) => boolean,
  skipUnchanged: boolean,
): Promise<Buffer | undefined> {
  const log = o.log ?? (() => {});
  const file = o.filename;
  const outFormat = o.outFormat ?? o.format;
  const opened = await openForChange(data, o, file);
  const doc = opened.tree.docs[0];
  if (!doc) throw new EmptyFileError(`${file ?? 'the file'}: the file has no document to change`);
  if (!change(doc, outFormat) && skipUnchanged) {
    log('the value is already there: the file is not written');
    return undefined;
  }
  const indent = await outputIndent(o.path ?? file, o, outFormat, o.indent);
  const store = await storeFor(outFormat, { indent });
  return sealTree(opened.tree, opened.metadata, store, {
    filename: file,
    log,
    env: o.env,
    dataKey: opened.dataKey,
    stash: new SingleUseIvStash(opened.stash),
    keepWrappedKeys: true,
  });
}

/** Set the value at `path` (a missing key is created; the list length appends); returns the new encrypted file. */
export async function setValue(
  data: Buffer,
  path: readonly PathComponent[],
  value: Node,
  o: SetOptions,
): Promise<Buffer | undefined> {
  return modify(
    data,
    o,
    (doc, format) => {
      checkValueForFormat(format, path, value);
      return setAtPath(doc, path, value);
    },
    !!o.idempotent,
  );
}

/**
 * Remove the key or list item at `path`; returns the new encrypted file. Nothing at the path is a
 * PathNotFoundError, or (with `idempotent`) undefined.
 */
export async function unsetValue(
  data: Buffer,
  path: readonly PathComponent[],
  o: SetOptions,
): Promise<Buffer | undefined> {
  try {
    return await modify(
      data,
      o,
      (doc) => {
        unsetAtPath(doc, path);
        return true;
      },
      false,
    );
  } catch (e) {
    if (e instanceof PathNotFoundError && o.idempotent) {
      (o.log ?? (() => {}))(`${e.message}: nothing to do (--idempotent)`);
      return undefined;
    }
    throw e;
  }
}
