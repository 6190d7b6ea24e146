import type { Node, Plain, Tree } from '../tree/types.js';

export type Format = 'yaml' | 'json' | 'dotenv' | 'ini' | 'binary';
export const FORMATS: readonly Format[] = ['yaml', 'json', 'dotenv', 'ini', 'binary'];

export interface StoreOptions {
  /** Indentation for emitted YAML/JSON (`--indent`, `stores:` in .sops.yaml). */
  indent?: number;
}

/**
 * A store turns one file format into the format-neutral tree and back. It knows nothing of
 * encryption: encrypted values are plain strings to it, and the `sops` metadata is plain data in
 * the layout sops writes for YAML/JSON (stores that flatten it, dotenv and INI, unflatten it).
 *
 * Every load throws a `FileError` (src/errors.ts) whose message says what is wrong, never a stack.
 */
export interface Store {
  readonly format: Format;
  /** Parse a plaintext file. */
  loadPlain(data: Buffer): Tree;
  /**
   * Parse an encrypted file: its tree without the metadata, and the metadata. Returns
   * `metadata: undefined` when the file has no `sops` metadata (the caller reports it). `check`,
   * when given, is `check(data)` on the text already parsed: the caller may then let go of the bytes.
   */
  loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined; check?: () => void };
  /**
   * The full syntax check, for a store whose `loadEncrypted` skips part of it for speed (files
   * written by sops/tsops are well-formed, and their MAC catches damage). Called when opening a file
   * failed, so that a malformed file is reported as malformed. Throws a `FileError`.
   */
  check?(data: Buffer): void;
  /** Print a tree as a plaintext file. */
  emitPlain(tree: Tree): Buffer;
  /** Print an encrypted tree with its metadata (plain data, keys already in sops's order). */
  emitEncrypted(tree: Tree, metadata: Plain): Buffer;
  /** Print one non-map value, as `--extract` shows it. */
  emitValue(node: Node): Buffer;
}
