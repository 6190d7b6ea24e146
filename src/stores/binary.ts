/**
 * The binary store: any file, kept whole as one string under `data` (sops's `BinaryStore`). The
 * encrypted file is a JSON file with `data` and `sops`, exactly as the JSON store writes it.
 */
import { FileError } from '../errors.js';
import { entry, getEntry, type Node, type Plain, type Scalar, type Tree } from '../tree/types.js';
import { createJsonStore } from './json.js';
import type { Store, StoreOptions } from './types.js';

/** The tree of a plaintext file: its bytes as the `data` string (raw bytes kept when not UTF-8). */
export function binaryTree(data: Buffer): Tree {
  const text = data.toString('utf8');
  const value: Scalar = { kind: 'scalar', type: 'str', text };
  if (!Buffer.from(text, 'utf8').equals(data)) value.raw = Buffer.from(data);
  return { docs: [{ kind: 'map', items: [entry('data', value)] }] };
}

/** The binary store (sops's `stores/json.BinaryStore`). */
export function createBinaryStore(opts?: StoreOptions): Store {
  const json = createJsonStore(opts);
  return {
    format: 'binary',
    loadPlain(data: Buffer): Tree {
      return binaryTree(data);
    },
    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined } {
      return json.loadEncrypted(data);
    },
    emitPlain(tree: Tree): Buffer {
      if (tree.docs.length !== 1)
        throw new FileError('error emitting binary store: there must be exactly one tree branch', 4);
      const e = getEntry(tree.docs[0]!, 'data');
      if (!e) throw new FileError('error emitting binary store: no binary data found in tree', 4);
      const v = e.value;
      if (v.kind !== 'scalar' || (v.type !== 'str' && v.type !== 'bytes')) {
        throw new FileError("error emitting binary store: 'data' key in tree does not have a string value", 4);
      }
      return v.raw ? Buffer.from(v.raw) : Buffer.from(v.text, 'utf8');
    },
    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      return json.emitEncrypted(tree, metadata);
    },
    emitValue(_node: Node): Buffer {
      throw new FileError('Binary files are not structured and extracting a single value is not possible', 4);
    },
  };
}
