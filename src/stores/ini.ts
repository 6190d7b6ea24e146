/**
 * The INI store, as sops 3.13 reads and writes INI files (stores/ini, on go-ini: see goini.ts):
 *
 * - each section is a top-level map entry holding a map of its keys; every value is a string.
 *   Keys before the first section belong to the section `DEFAULT`, which is always there: first,
 *   and empty when the file has no such keys (it is not written back when empty). A repeated
 *   section header starts a new section of the same name, kept apart (sops ≥ 3.9, go-ini's
 *   `AllowNonUniqueSections`); a key repeated within one section is refused in a plaintext file
 *   (go-ini keeps the last value only; beyond sops, which drops the first one silently);
 * - values are bytes, as Go strings: a value that is not UTF-8 keeps its bytes;
 * - comments keep their text without the leading `;`/`#` and spaces. A comment before a section
 *   header becomes the first item of that section's map; a comment before a key (or at the end of
 *   its line) becomes the item right after that key. When writing, a section's leading comment goes
 *   before its header and any other comment before the key it follows (one per key, the last wins);
 * - the `sops` metadata is flattened (flatten.ts) into a last `[sops]` section, keys sorted;
 * - writing a number, boolean or time prints it as sops does (scalar-text.ts); a value that is a
 *   map or list cannot be written, nor a top-level value that is not a map.
 */
import { ExitCode, FileError, SopsError, messageOf } from '../errors.js';
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
import { IniFile, parseIni, writeIni, type IniKey, type IniSection } from './goini.js';
import { decodeGoBytes, encodeGoBytes, goStringScalar } from '../util/gostring.js';
import { scalarText } from './scalar-text.js';
import type { Store, StoreOptions } from './types.js';

/** The section holding the metadata. */
export const SOPS_SECTION = 'sops';

/** The text after go-ini's comment characters: leading `;` (or `#`) and spaces removed. */
function stripCommentChar(c: string): string {
  if (c.startsWith(';')) return c.replace(/^[; ]+/, '');
  if (c.startsWith('#')) return c.replace(/^[# ]+/, '');
  return c;
}

function decode(data: Buffer): string {
  // go-ini skips a UTF-8 byte order mark (and the two bytes of a UTF-16 one, without decoding it)
  let start = 0;
  if (data.length >= 2 && ((data[0] === 0xfe && data[1] === 0xff) || (data[0] === 0xff && data[1] === 0xfe))) start = 2;
  else if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) start = 3;
  return decodeGoBytes(data.subarray(start));
}

function sectionMap(sec: IniSection): MapNode {
  const items: Array<MapEntry | Comment> = [];
  if (sec.comment !== '') items.push({ kind: 'comment', text: stripCommentChar(sec.comment).toWellFormed() });
  for (const k of sec.keys) {
    items.push(entry(k.name, goStringScalar(k.value)));
    if (k.comment !== '') items.push({ kind: 'comment', text: stripCommentChar(k.comment).toWellFormed() });
  }
  return map(items);
}

function toTree(file: IniFile, skip?: string): Tree {
  return { docs: [map(file.sections.filter((s) => s.name !== skip).map((s) => entry(s.name, sectionMap(s))))] };
}

function dumpError(msg: string): SopsError {
  return new SopsError(`cannot write INI: ${msg}`, ExitCode.ErrorDumpingTree);
}

/** Fill an INI file from a tree, as sops's encodeTree does. */
function fill(file: IniFile, items: ReadonlyArray<MapEntry | Comment>): void {
  for (const it of items) {
    if (it.kind === 'comment') continue; // a comment outside any section has no place in INI
    if (it.value.kind !== 'map') {
      throw dumpError(`the top-level key ${JSON.stringify(it.key)} holds a ${it.value.kind}, not a section (a map)`);
    }
    if (it.key === '') throw dumpError('a section name cannot be empty');
    if (it.key.includes('\n')) throw dumpError(`the section name ${JSON.stringify(it.key)} holds a newline`);
    const sec = file.section(it.key);
    const seen = new Set<string>();
    const sub = it.value.items;
    let first = 0;
    if (sub[0]?.kind === 'comment') {
      sec.comment = sub[0].text;
      first = 1;
    }
    let last: IniKey | undefined;
    for (const x of sub.slice(first)) {
      if (x.kind === 'comment') {
        if (last) last.comment = x.text;
        continue;
      }
      if (x.value.kind === 'map' || x.value.kind === 'list') {
        throw dumpError(
          `the value of ${JSON.stringify(x.key)} in section ${JSON.stringify(it.key)} is a ${x.value.kind}`,
        );
      }
      if (x.key === '') throw dumpError(`a key name in section ${JSON.stringify(it.key)} is empty`);
      if (x.key.includes('\n'))
        throw dumpError(`the key ${JSON.stringify(x.key)} in section ${JSON.stringify(it.key)} holds a newline`);
      // go-ini would keep only the last of two keys of one name (beyond sops: refused, never lost)
      if (seen.has(x.key))
        throw dumpError(`the key ${JSON.stringify(x.key)} appears twice in section ${JSON.stringify(it.key)}`);
      seen.add(x.key);
      last = file.setKey(sec, x.key, goText(x.value));
    }
  }
}

/** A leaf's text, keeping the bytes of a value that is not UTF-8. */
function goText(n: Node): string {
  return n.kind === 'scalar' && n.raw ? decodeGoBytes(n.raw) : scalarText(n);
}

/** Refuse a plaintext file in which a key repeats within a section (go-ini keeps the last value only). */
function refuseRepeatedKeys(file: IniFile): void {
  for (const sec of file.sections) {
    for (const k of sec.keys) {
      if (k.replaced !== undefined) {
        throw new FileError(
          `invalid INI input: line ${k.line}: the key ${JSON.stringify(k.name.toWellFormed())} repeats line ${k.replaced} in section ` +
            `${JSON.stringify(sec.name.toWellFormed())}; only one value would be kept (rename or remove one)`,
        );
      }
    }
  }
}

// --- Go's encoding/json, for --extract of a non-string value -------------------------------------

function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c >= 0xd800 && c <= 0xdfff)
      out += '\\ufffd'; // a lone surrogate: not valid UTF-8
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

function goJson(n: Node | Comment): string {
  switch (n.kind) {
    case 'null':
      return 'null';
    case 'comment':
      return `{"Value":${goJsonString(n.text)}}`;
    case 'list':
      return `[${n.items.map(goJson).join(',')}]`;
    case 'map': // a sops.TreeBranch: a list of {Key, Value} items
      return `[${n.items
        .map((it) =>
          it.kind === 'entry'
            ? `{"Key":${goJsonString(it.key)},"Value":${goJson(it.value)}}`
            : `{"Key":${goJson(it)},"Value":null}`,
        )
        .join(',')}]`;
    case 'scalar':
      switch (n.type) {
        case 'int':
        case 'int64':
        case 'bool':
          return n.text;
        case 'float': {
          const f = Number(n.text);
          if (!Number.isFinite(f)) throw new SopsError(`json: unsupported value: ${n.text}`, ExitCode.ErrorDumpingTree);
          return Object.is(f, -0) ? '-0' : String(f);
        }
        default:
          return goJsonString(n.text);
      }
  }
}

/** An INI store. It has no options (StoreOptions are accepted for a uniform factory signature). */
export function createIniStore(_opts: StoreOptions = {}): Store {
  const load = (data: Buffer): IniFile => {
    try {
      return parseIni(decode(data));
    } catch (e) {
      if (e instanceof FileError) throw e;
      throw new FileError(`invalid INI input: ${messageOf(e)}`);
    }
  };

  return {
    format: 'ini',

    loadPlain(data: Buffer): Tree {
      const file = load(data);
      refuseRepeatedKeys(file);
      return toTree(file);
    },

    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined } {
      const file = load(data);
      const secs = file.sections.filter((s) => s.name === SOPS_SECTION);
      if (secs.length === 0) return { tree: toTree(file), metadata: undefined };
      // sops reads the metadata with unique sections: repeated [sops] sections merge, the last value wins
      const metadata = unflattenMetadata(
        secs.flatMap((sec) => sec.keys.map((k) => [k.name, k.value.toWellFormed()] as const)),
      );
      return { tree: toTree(file, SOPS_SECTION), metadata };
    },

    emitPlain(tree: Tree): Buffer {
      // sops writes into go-ini's empty file without its DEFAULT section: sections in tree order
      const file = new IniFile(false);
      for (const doc of tree.docs) fill(file, doc.items);
      return encodeGoBytes(writeIni(file));
    },

    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      const file = new IniFile(false);
      for (const doc of tree.docs) fill(file, doc.items);
      const md = flattenMetadata(metadata).map(([k, v]) => entry(k, str(v)));
      fill(file, [entry(SOPS_SECTION, map(md))]);
      return encodeGoBytes(writeIni(file));
    },

    emitValue(node: Node): Buffer {
      // --extract prints a string as it is; anything else as sops's INI store does, in Go's JSON
      if (node.kind === 'scalar' && (node.type === 'str' || node.type === 'bytes'))
        return node.raw ? Buffer.from(node.raw) : Buffer.from(node.text, 'utf8');
      return Buffer.from(goJson(node), 'utf8');
    },
  };
}
