/**
 * The dotenv store, as sops 3.13 reads and writes `.env` files (stores/dotenv):
 *
 * - one top-level map; each line is split at its first `=` and nothing else is interpreted: no
 *   quotes, no trimming (`foo = bar` is the key `foo ` with the value ` bar`), no `export`;
 * - a line starting with `#` is a comment (its text is what follows the `#`); empty lines are
 *   dropped; any other line without `=` is an error;
 * - in values the two characters `\n` read as a newline and a newline is written as `\n`; no other
 *   escape exists (`\t`, `\\`, `\"` stay as they are);
 * - every value read is a string; writing a number, boolean or time prints it as sops does
 *   (see scalar-text.ts), and a map or list cannot be written;
 * - the `sops` metadata is flattened (flatten.ts) into `sops_`-prefixed lines after the data,
 *   sorted by key.
 */
import { ExitCode, FileError, SopsError } from '../errors.js';
import {
  entry,
  map,
  str,
  type Comment,
  type MapEntry,
  type MapNode,
  type Node,
  type Plain,
  type Tree,
} from '../tree/types.js';
import { flattenMetadata, unflattenMetadata } from './flatten.js';
import { decodeGoBytes, encodeGoBytes, goStringScalar } from '../util/gostring.js';
import { goTypeName, scalarText } from './scalar-text.js';
import { OutBuf } from './outbuf.js';
import { flatCopy, flatSlice } from './strings.js';
import type { Store, StoreOptions } from './types.js';

/** The prefix of every metadata line. */
export const SOPS_PREFIX = 'sops_';

function parse(data: Buffer): MapNode {
  const items: Array<MapEntry | Comment> = [];
  // bytes kept as sops keeps them (Go strings): a value that is not UTF-8 keeps its bytes
  const s = decodeGoBytes(data);
  // (a well-formed text holds no such bytes: its values need no look)
  const plain = s.isWellFormed();
  const n = s.length;
  let line = 0;
  for (let start = 0; start < n;) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = n;
    line++;
    if (end > start) {
      if (s.charCodeAt(start) === 35) {
        items.push({ kind: 'comment', text: flatSlice(s, start + 1, end).toWellFormed() });
      } else {
        const eq = s.indexOf('=', start);
        if (eq < 0 || eq > end) {
          // (the line itself is not quoted: it may hold a secret)
          throw new FileError(`invalid dotenv input: line ${line} is neither a comment nor KEY=VALUE (it has no "=")`);
        }
        // the value stays a view into the text (the walk replaces it); the key is a copy
        let value = s.slice(eq + 1, end);
        if (value.includes('\\n')) value = value.replaceAll('\\n', '\n');
        items.push(
          entry(flatSlice(s, start, eq), plain ? { kind: 'scalar', type: 'str', text: value } : goStringScalar(value)),
        );
      }
    }
    start = end + 1;
  }
  return map(items);
}

/** Why a key cannot be written to a dotenv file without reading back as something else, if it cannot. */
function badKey(key: string): string | undefined {
  if (key.includes('\n')) return 'holds a newline';
  if (key.includes('=')) return 'holds "="';
  if (key.startsWith('#')) return 'starts with "#"';
  return undefined;
}

function print(items: ReadonlyArray<MapEntry | Comment>): Buffer {
  // an estimate of the size (3 bytes of UTF-8 at most per UTF-16 unit); a longer text only grows the buffer
  let size = 0;
  for (const it of items) {
    if (it.kind === 'comment') size += it.text.length;
    else if (it.value.kind === 'scalar') size += it.key.length + (it.value.raw?.length ?? it.value.text.length);
    size += 8;
  }
  const out = new OutBuf(3 * size);
  for (const it of items) {
    if (it.kind === 'comment') {
      // one comment line per line of text (a newline would end the comment)
      for (const line of it.text.split('\n')) out.add(`#${line.toWellFormed()}\n`);
      continue;
    }
    if (it.value.kind === 'map' || it.value.kind === 'list') {
      throw new SopsError(
        `cannot use complex value in dotenv file: the value of ${JSON.stringify(it.key)} is a ${it.value.kind}`,
        ExitCode.ErrorDumpingTree,
      );
    }
    // Beyond sops, which writes such a key and so a file that reads back differently (or not at all):
    // refused, since a dotenv line has no quoting.
    const why = badKey(it.key);
    if (why)
      throw new SopsError(
        `cannot write the dotenv key ${JSON.stringify(it.key.toWellFormed())}: it ${why}`,
        ExitCode.ErrorDumpingTree,
      );
    const text = goText(it.value);
    const line = `${it.key}=${text.includes('\n') ? text.replaceAll('\n', '\\n') : text}\n`;
    // keys keep the bytes they were read with, values their raw bytes (util/gostring.ts)
    if (line.isWellFormed()) out.add(line);
    else out.addBytes(encodeGoBytes(line));
  }
  return out.bytes();
}

/** A leaf's text: a value's raw bytes kept (as util/gostring.ts strings), any other text as UTF-8. */
function goText(n: Node): string {
  if (n.kind === 'scalar' && n.raw) return decodeGoBytes(n.raw);
  return scalarText(n).toWellFormed();
}

/** A dotenv store. It has no options (StoreOptions are accepted for a uniform factory signature). */
export function createDotenvStore(_opts: StoreOptions = {}): Store {
  return {
    format: 'dotenv',

    loadPlain(data: Buffer): Tree {
      return { docs: [parse(data)] };
    },

    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined } {
      const doc = parse(data);
      const kept: Array<MapEntry | Comment> = [];
      const flat: Array<[string, string]> = [];
      for (const it of doc.items) {
        if (it.kind === 'entry' && it.key.startsWith(SOPS_PREFIX)) {
          // (copies: the metadata outlives the file's text)
          flat.push([it.key.slice(SOPS_PREFIX.length), flatCopy(scalarText(it.value))]);
        } else {
          kept.push(it);
        }
      }
      if (flat.length === 0) return { tree: { docs: [doc] }, metadata: undefined };
      return { tree: { docs: [map(kept)] }, metadata: unflattenMetadata(flat) };
    },

    emitPlain(tree: Tree): Buffer {
      return print(tree.docs[0]?.items ?? []);
    },

    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      const md = flattenMetadata(metadata).map(([k, v]) => entry(SOPS_PREFIX + k, str(v)));
      return print([...(tree.docs[0]?.items ?? []), ...md]);
    },

    emitValue(node: Node): Buffer {
      if (node.kind === 'scalar' && node.type === 'str')
        return node.raw ? Buffer.from(node.raw) : Buffer.from(node.text, 'utf8');
      throw new SopsError(
        `the dotenv store only supports emitting strings, got ${goTypeName(node)}`,
        ExitCode.ErrorDumpingTree,
      );
    },
  };
}
