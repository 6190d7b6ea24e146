/**
 * The merge driver (`merge.tsops.driver = tsops git merge-driver %O %A %B %P`): a three-way merge
 * of sops files at the level of values, on the decrypted trees of base (%O), ours (%A) and theirs
 * (%B). Git gives the three versions as temporary files holding their ENCRYPTED content; the merged
 * result replaces %A, encrypted. No plaintext is written anywhere (the opt-in conflict copy aside:
 * see conflictCopy).
 *
 * - A value changed on one side only takes that side's value; the same change on both sides is no
 *   conflict; a value changed differently on both sides, or deleted on one side and changed on the
 *   other, is a conflict, named by its path (never its value).
 * - Maps keep ours' order; a key theirs added is inserted after the key that precedes it in theirs
 *   (the nearest one the result has), with its comments. Comments belong to the entry they stand
 *   before (an inline comment to the entry it ends); they merge like values. Lists merge item by
 *   item when no side changed their length, else as one value.
 * - `mac` and `lastmodified` never conflict: they are computed again.
 * - The keys: the result is sealed with ours' data key and metadata, keeping the ciphertext of every
 *   value ours has unchanged; values taken from theirs are encrypted again with that key (their
 *   ciphertext belongs to theirs' data key). When only theirs changed the keys (a rotation, an
 *   `updatekeys`, other scope settings), theirs' data key and metadata are used instead, so the
 *   change is not undone. Key changes on both sides that differ (e.g. rotate on one, updatekeys on
 *   the other) are a conflict: never silently dropped. Both sides rotating alone (each a new data
 *   key, the same keys) keeps ours' new key.
 */
import { timingSafeEqual } from 'node:crypto';
import { openEncrypted, sealTree, type OpenedFile } from '../file/file.js';
import { SingleUseIvStash } from '../file/reuse.js';
import { keyId } from '../keys/identity.js';
import type { KeyGroup, KeyType } from '../keys/types.js';
import type { Format } from '../stores/types.js';
import { nodesEqual } from '../tree/mutate.js';
import { formatTreePath, type PathComponent } from '../tree/path.js';
import type { Comment, ListNode, MapEntry, MapNode, Node, Tree } from '../tree/types.js';

export interface Conflict {
  /** Where: the value's path, as `["db"]["password"]`, or a description (metadata, documents). */
  where: string;
  why: string;
}

type Side = 'ours' | 'theirs';

// --- the tree merge ---------------------------------------------------------------------------------

/** One map entry (or list item) with the comments that stand before it and its inline comments. */
interface Unit {
  key: string;
  lead: Comment[];
  node: Node;
  trail: Comment[];
}

interface Units {
  units: Unit[];
  byKey: Map<string, Unit>;
  /** Comments after the last entry. */
  tail: Comment[];
  /** Keys seen twice (such a map merges as one value). */
  duplicate: boolean;
}

function unitsOf(items: ReadonlyArray<MapEntry | Comment | Node>, isMap: boolean): Units {
  const units: Unit[] = [];
  const byKey = new Map<string, Unit>();
  let pending: Comment[] = [];
  let duplicate = false;
  let last: Unit | undefined;
  let index = 0;
  for (const it of items) {
    if (it.kind === 'comment') {
      if (it.inline && last && pending.length === 0) last.trail.push(it);
      else pending.push(it);
      continue;
    }
    const key = isMap ? (it as MapEntry).key : String(index++);
    const node = isMap ? (it as MapEntry).value : (it as Node);
    last = { key, lead: pending, node, trail: [] };
    pending = [];
    if (byKey.has(key)) duplicate = true;
    byKey.set(key, last);
    units.push(last);
  }
  return { units, byKey, tail: pending, duplicate };
}

function commentsEqual(a: readonly Comment[], b: readonly Comment[]): boolean {
  return a.length === b.length && a.every((c, i) => c.text === b[i]!.text && !!c.inline === !!b[i]!.inline);
}

class TreeMerger {
  readonly conflicts: Conflict[] = [];
  constructor(private readonly prefer: Side) {}

  private conflict(path: readonly PathComponent[], why: string, extra = ''): void {
    this.conflicts.push({ where: (path.length ? formatTreePath(path) : 'the top level') + extra, why });
  }

  /** Three-way merge of one value; `o` is undefined when the base lacks it (added on both sides). */
  node(o: Node | undefined, a: Node, b: Node, path: PathComponent[]): Node {
    if (nodesEqual(a, b)) return a;
    if (o && nodesEqual(o, a)) return b;
    if (o && nodesEqual(o, b)) return a;
    if (a.kind === 'map' && b.kind === 'map' && (!o || o.kind === 'map')) {
      const merged = this.items(o?.items ?? [], a.items, b.items, path, true);
      if (merged) return { kind: 'map', items: merged as MapNode['items'] };
    }
    if (a.kind === 'list' && b.kind === 'list' && o?.kind === 'list') {
      const n = (l: ListNode) => l.items.filter((i) => i.kind !== 'comment').length;
      if (n(o) === n(a) && n(a) === n(b)) {
        const merged = this.items(o.items, a.items, b.items, path, false);
        if (merged) return { kind: 'list', items: merged as ListNode['items'] };
      }
    }
    this.conflict(path, o ? 'changed differently on both sides' : 'added differently on both sides');
    return this.prefer === 'ours' ? a : b;
  }

  private comments(o: Comment[], a: Comment[], b: Comment[], path: PathComponent[], where: string): Comment[] {
    if (commentsEqual(a, b)) return a;
    if (commentsEqual(o, a)) return b;
    if (commentsEqual(o, b)) return a;
    this.conflict(path, 'comments changed differently on both sides', ` (${where})`);
    return this.prefer === 'ours' ? a : b;
  }

  /** Merge the items of a map (or of a list of the same length on all sides); undefined: merge as one value. */
  private items(
    oi: ReadonlyArray<MapEntry | Comment | Node>,
    ai: ReadonlyArray<MapEntry | Comment | Node>,
    bi: ReadonlyArray<MapEntry | Comment | Node>,
    path: PathComponent[],
    isMap: boolean,
  ): Array<MapEntry | Comment | Node> | undefined {
    const uo = unitsOf(oi, isMap);
    const ua = unitsOf(ai, isMap);
    const ub = unitsOf(bi, isMap);
    if (uo.duplicate || ua.duplicate || ub.duplicate) return undefined;
    const sub = (k: string): PathComponent[] => [...path, isMap ? k : Number(k)];
    const unitEqual = (x: Unit, y: Unit) =>
      nodesEqual(x.node, y.node) && commentsEqual(x.lead, y.lead) && commentsEqual(x.trail, y.trail);
    const out: Unit[] = [];
    for (const a of ua.units) {
      const o = uo.byKey.get(a.key);
      const b = ub.byKey.get(a.key);
      if (b) {
        out.push({
          key: a.key,
          lead: this.comments(o?.lead ?? [], a.lead, b.lead, sub(a.key), 'before it'),
          node: this.node(o?.node, a.node, b.node, sub(a.key)),
          trail: this.comments(o?.trail ?? [], a.trail, b.trail, sub(a.key), 'at its end'),
        });
      } else if (o) {
        // theirs deleted it
        if (unitEqual(o, a)) continue;
        this.conflict(sub(a.key), 'deleted by theirs, changed by ours');
        if (this.prefer === 'ours') out.push(a);
      } else {
        out.push(a); // ours added it
      }
    }
    for (let j = 0; j < ub.units.length; j++) {
      const b = ub.units[j]!;
      if (ua.byKey.has(b.key)) continue;
      const o = uo.byKey.get(b.key);
      if (o) {
        // ours deleted it
        if (unitEqual(o, b)) continue;
        this.conflict(sub(b.key), 'deleted by ours, changed by theirs');
        if (this.prefer === 'ours') continue;
      }
      // theirs added it (or, preferring theirs, kept a value ours deleted): after its nearest
      // predecessor in theirs that the result has, else first
      let at = 0;
      for (let k = j - 1; k >= 0; k--) {
        const idx = out.findIndex((u) => u.key === ub.units[k]!.key);
        if (idx >= 0) {
          at = idx + 1;
          break;
        }
      }
      out.splice(at, 0, b);
    }
    const tail = this.comments(uo.tail, ua.tail, ub.tail, path, 'at the end');
    const items: Array<MapEntry | Comment | Node> = [];
    for (const u of out) {
      items.push(...u.lead);
      items.push(isMap ? { kind: 'entry', key: u.key, value: u.node } : u.node);
      items.push(...u.trail);
    }
    items.push(...tail);
    return items;
  }

  tree(o: Tree | undefined, a: Tree, b: Tree): Tree {
    const docsEqual = sameTree;
    if (docsEqual(a, b)) return a;
    if (o && docsEqual(o, a)) return b;
    if (o && docsEqual(o, b)) return a;
    const n = a.docs.length;
    if (b.docs.length === n && (!o || o.docs.length === n)) {
      const docs = a.docs.map((d, i) => {
        const path: PathComponent[] = [];
        const before = this.conflicts.length;
        const merged = this.node(o?.docs[i], d, b.docs[i]!, path) as MapNode;
        if (n > 1) for (const c of this.conflicts.slice(before)) c.where = `document ${i + 1}: ${c.where}`;
        return merged;
      });
      return { docs };
    }
    this.conflicts.push({ where: 'the YAML documents', why: 'documents added or removed differently on both sides' });
    return this.prefer === 'ours' ? a : b;
  }
}

/**
 * Three-way merge of decrypted trees. On a conflict the result holds `prefer`'s side at that place
 * (ours by default); the conflicts name every such place.
 */
export function mergeTrees(
  base: Tree | undefined,
  ours: Tree,
  theirs: Tree,
  prefer: Side = 'ours',
): { tree: Tree; conflicts: Conflict[] } {
  const m = new TreeMerger(prefer);
  const tree = m.tree(base, ours, theirs);
  return { tree, conflicts: m.conflicts };
}

function sameTree(x: Tree, y: Tree): boolean {
  return x.docs.length === y.docs.length && x.docs.every((d, i) => nodesEqual(d, y.docs[i]!));
}

// --- the keys -----------------------------------------------------------------------------------------

function groupsOf(gs: KeyGroup[]): string {
  return JSON.stringify(gs.filter((g) => g.length > 0).map((g) => [...new Set(g.map(keyId))].sort()));
}

/** What a side did to the keys, relative to the base: undefined when nothing. */
function keyChanges(base: OpenedFile | undefined, side: OpenedFile): string[] | undefined {
  if (!base) return undefined;
  const what: string[] = [];
  if (!sameKey(base.dataKey, side.dataKey)) what.push('a new data key (rotate)');
  if (groupsOf(base.metadata.keyGroups) !== groupsOf(side.metadata.keyGroups)) what.push('other keys (updatekeys)');
  if (base.metadata.shamirThreshold !== side.metadata.shamirThreshold) what.push('another Shamir threshold');
  if (JSON.stringify(base.metadata.scope) !== JSON.stringify(side.metadata.scope))
    what.push('other encryption settings');
  return what.length ? what : undefined;
}

function sameKey(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whose data key and metadata the merged file gets, or a conflict. */
function chooseKeys(
  base: OpenedFile | undefined,
  ours: OpenedFile,
  theirs: OpenedFile,
): { side: Side } | { conflict: Conflict } {
  const a = keyChanges(base, ours);
  const b = keyChanges(base, theirs);
  if (!b) return { side: 'ours' };
  if (!a) return { side: 'theirs' };
  const sameSettings =
    groupsOf(ours.metadata.keyGroups) === groupsOf(theirs.metadata.keyGroups) &&
    ours.metadata.shamirThreshold === theirs.metadata.shamirThreshold &&
    JSON.stringify(ours.metadata.scope) === JSON.stringify(theirs.metadata.scope);
  if (sameSettings) return { side: 'ours' }; // the same keys on both sides (at most each its own new data key)
  return {
    conflict: {
      where: 'the sops metadata (keys)',
      why: `key changes on both sides: ours has ${a.join(' and ')}, theirs has ${b.join(' and ')}`,
    },
  };
}

// --- the driver ---------------------------------------------------------------------------------------

export interface MergeOptions {
  format: Format;
  env?: NodeJS.ProcessEnv;
  log?: (m: string) => void;
  decryptionOrder?: KeyType[];
  /** YAML/JSON indentation of the result (default: the store's). */
  indent?: number;
  /** The path in the repository (%P), for messages. */
  name?: string;
}

export type MergeResult =
  | { merged: Buffer; keysFrom: Side }
  | {
      conflicts: Conflict[];
      /** The decrypted trees, for the opt-in conflict copy (see conflictCopy). Never written by this module. */
      trees: { base: Tree | undefined; ours: Tree; theirs: Tree };
      store: OpenedFile['store'];
    };

/**
 * Merge three encrypted versions (base may be empty: a file added on both sides). Throws a
 * SopsError when one cannot be opened (no key, bad MAC): the caller leaves ours as it is.
 */
export async function mergeEncrypted(
  base: Buffer,
  ours: Buffer,
  theirs: Buffer,
  o: MergeOptions,
): Promise<MergeResult> {
  const open = (data: Buffer, which: string) =>
    openEncrypted(data, {
      format: o.format,
      filename: `${o.name ?? 'the file'} (${which})`,
      env: o.env,
      log: o.log,
      decryptionOrder: o.decryptionOrder,
      storeOptions: { indent: o.indent },
    });
  const [b, a, t] = await Promise.all([
    base.length ? open(base, 'base') : Promise.resolve(undefined),
    open(ours, 'ours'),
    open(theirs, 'theirs'),
  ]);
  const keys = chooseKeys(b, a, t);
  const { tree, conflicts } = mergeTrees(b?.tree, a.tree, t.tree);
  if ('conflict' in keys) conflicts.unshift(keys.conflict);
  if ('conflict' in keys || conflicts.length)
    return { conflicts, trees: { base: b?.tree, ours: a.tree, theirs: t.tree }, store: a.store };
  const side = keys.side;
  const from = side === 'ours' ? a : t;
  // nothing to merge into that side: its file as it is (no new mac or lastmodified)
  if (sameTree(tree, from.tree)) return { merged: side === 'ours' ? ours : theirs, keysFrom: side };
  o.log?.(`merged ${o.name ?? 'the file'} with ${side}' data key and metadata`);
  const metadata = { ...from.metadata, keyGroups: from.metadata.keyGroups, mac: '', lastModified: '' };
  const merged = await sealTree(tree, metadata, a.store, {
    filename: o.name,
    log: o.log,
    env: o.env,
    dataKey: from.dataKey,
    stash: new SingleUseIvStash(from.stash),
    keepWrappedKeys: true,
  });
  return { merged, keysFrom: side };
}

/** The message for a conflict: the file and every conflicting place, never a value. */
export function conflictMessage(name: string, conflicts: readonly Conflict[]): string {
  const places = conflicts.map((c) => `${c.where}: ${c.why}`).join('; ');
  return `tsops: ${name}: merge conflict, left as ours (encrypted): ${places}`;
}

// --- the opt-in conflict copy ---------------------------------------------------------------------------

/**
 * The text of the decrypted conflict copy: the merged file with each conflicting region shown as
 * git shows one (`<<<<<<< ours`, `=======`, `>>>>>>> theirs`), from a line diff of the merge
 * resolved to ours and resolved to theirs. PLAINTEXT: the caller writes it only when asked to,
 * 0600, outside the work tree.
 */
export function conflictText(
  trees: { base: Tree | undefined; ours: Tree; theirs: Tree },
  store: OpenedFile['store'],
): Buffer {
  const ours = store.emitPlain(mergeTrees(trees.base, trees.ours, trees.theirs, 'ours').tree).toString('utf8');
  const theirs = store.emitPlain(mergeTrees(trees.base, trees.ours, trees.theirs, 'theirs').tree).toString('utf8');
  return Buffer.from(markLines(ours.split('\n'), theirs.split('\n')).join('\n'), 'utf8');
}

/** A two-way line merge with conflict markers around the lines that differ (LCS; trims common ends first). */
function markLines(a: string[], b: string[]): string[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const x = a.slice(pre, a.length - suf);
  const y = b.slice(pre, b.length - suf);
  const out = a.slice(0, pre);
  if (x.length * y.length > 4_000_000) {
    out.push('<<<<<<< ours', ...x, '=======', ...y, '>>>>>>> theirs');
  } else {
    // lcs[i][j]: the longest common subsequence of x[i..] and y[j..]
    const lcs: Uint32Array[] = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--)
      for (let j = y.length - 1; j >= 0; j--)
        lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    let hunkA: string[] = [];
    let hunkB: string[] = [];
    const flush = () => {
      if (hunkA.length || hunkB.length) out.push('<<<<<<< ours', ...hunkA, '=======', ...hunkB, '>>>>>>> theirs');
      hunkA = [];
      hunkB = [];
    };
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        flush();
        out.push(x[i]!);
        i++;
        j++;
      } else if (j >= y.length || (i < x.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) hunkA.push(x[i++]!);
      else hunkB.push(y[j++]!);
    }
    flush();
  }
  out.push(...a.slice(a.length - suf));
  return out;
}
