/**
 * The YAML store (sops's `stores/yaml`): loading, metadata under `sops`, and printing.
 */
import { Parser } from 'yaml';
import { FileError } from '../../errors.js';
import {
  entry,
  fromPlain,
  getEntry,
  type MapNode,
  type Node,
  type Plain,
  toPlain,
  type Tree,
} from '../../tree/types.js';
import type { Store, StoreOptions } from '../types.js';
import { Lines } from './lines.js';
import { composeCheck, decode, decodeText, parseYaml } from './load.js';
import { printYamlBytes, printYamlValue } from './print.js';

/** The metadata key of every sops document. */
const SOPS_KEY = 'sops';

function yamlIndent(opts: StoreOptions | undefined): number {
  const n = opts?.indent;
  if (n === undefined || n === 0) return 4;
  if (n < 0) throw new FileError('YAML Negative indentation not accepted');
  return n;
}

/** The full syntax check of a YAML text (the yaml Composer's). */
function checkText(src: string): void {
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  composeCheck(src, new Lines(src), new Parser().parse(src));
}

/** The YAML store (sops's `stores/yaml`). */
export function createYamlStore(opts?: StoreOptions): Store {
  const indent = () => yamlIndent(opts);
  return {
    format: 'yaml',
    loadPlain(data: Buffer): Tree {
      const { src, ascii } = decodeText(data);
      return parseYaml(src, true, true, ascii);
    },
    loadEncrypted(data: Buffer): { tree: Tree; metadata: Plain | undefined; check: () => void } {
      const { src, ascii } = decodeText(data);
      const tree = parseYaml(src, false, true, ascii);
      let metadata: Plain | undefined;
      tree.docs.forEach((doc, di) => {
        if (di === 0) {
          const meta = getEntry(doc, SOPS_KEY);
          if (meta) {
            if (meta.value.kind !== 'map') throw new FileError(`Found ${SOPS_KEY} entry that is not a mapping`);
            metadata = toPlain(meta.value);
          }
        }
        doc.items = doc.items.filter((it) => it.kind !== 'entry' || it.key !== SOPS_KEY);
      });
      // (the text's check: the caller need not keep the bytes for it)
      return { tree, metadata, check: () => checkText(src) };
    },
    check(data: Buffer): void {
      checkText(decode(data));
    },
    emitPlain(tree: Tree): Buffer {
      return printYamlBytes(tree.docs, { indent: indent() });
    },
    emitEncrypted(tree: Tree, metadata: Plain): Buffer {
      // (every document gets the metadata as its last entry)
      const tail: MapNode = { kind: 'map', items: [entry(SOPS_KEY, fromPlain(metadata))] };
      const docs = tree.docs.length ? tree.docs : [{ kind: 'map', items: [] } as MapNode];
      return printYamlBytes(docs, { indent: indent() }, tail);
    },
    emitValue(node: Node): Buffer {
      return Buffer.from(printYamlValue(node), 'utf8');
    },
  };
}
