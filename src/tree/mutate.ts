/**
 * Changing a tree at a path, with the semantics of sops's `set` and `unset`:
 *
 * - `setAtPath` replaces the value at the path, creating every missing map key on the way; a list
 *   index equal to the list's length appends; a scalar or null in the middle of the path is
 *   replaced by the structure the rest of the path describes. It reports whether anything changed.
 * - `unsetAtPath` removes a map key or a list item; a missing key or index is a `PathNotFoundError`
 *   (which `unset --idempotent` ignores).
 *
 * Comments in maps and lists are kept where they are and never count as list items.
 */
import { ExitCode, SopsError } from '../errors.js';
import { formatTreePath, type PathComponent } from './path.js';
import {
  entry,
  floatValue,
  formatFloat,
  map,
  NULL,
  type Comment,
  type ListNode,
  type MapNode,
  type Node,
} from './types.js';

/** A key or list index on the path does not exist. */
export class PathNotFoundError extends SopsError {
  constructor(message: string) {
    super(message, ExitCode.ErrorGeneric);
    this.name = 'PathNotFoundError';
  }
}

function describe(n: Node): string {
  return n.kind === 'scalar'
    ? `a ${n.type === 'str' ? 'string' : n.type} value`
    : n.kind === 'null'
      ? 'null'
      : `a ${n.kind}`;
}

/** Position in `l.items` of the `index`-th value (comments skipped), or -1. */
function itemPosition(l: ListNode, index: number): number {
  let seen = 0;
  for (let i = 0; i < l.items.length; i++) {
    if (l.items[i]!.kind === 'comment') continue;
    if (seen === index) return i;
    seen++;
  }
  return -1;
}

function listLength(l: ListNode): number {
  let n = 0;
  for (const it of l.items) if (it.kind !== 'comment') n++;
  return n;
}

/** The structure `path` describes with `leaf` at its end: `["a"][0]` → `{a: [leaf]}`. */
function build(path: readonly PathComponent[], leaf: Node): Node {
  let cur = leaf;
  for (let i = path.length - 1; i >= 0; i--) {
    const c = path[i]!;
    cur = typeof c === 'number' ? { kind: 'list', items: [cur] } : map([entry(c, cur)]);
  }
  return cur;
}

function checkBuildable(path: readonly PathComponent[], from: number): void {
  for (let i = from; i < path.length; i++) {
    const c = path[i]!;
    if (typeof c === 'number' && c !== 0) {
      throw new SopsError(
        `cannot set ${formatTreePath(path)}: ${formatTreePath(path.slice(0, i + 1))} would be item ${c} of a new, empty list (use [0])`,
        ExitCode.ErrorInvalidSetFormat,
      );
    }
  }
}

/**
 * Set the value at `path` (at least one component) to `value`, in place. Returns true when the
 * tree changed (false when the same value was already there).
 */
export function setAtPath(root: MapNode, path: readonly PathComponent[], value: Node): boolean {
  if (path.length === 0)
    throw new SopsError(
      'cannot set the whole document: give a path such as \'["key"]\'',
      ExitCode.ErrorInvalidSetFormat,
    );
  let cur: MapNode | ListNode = root;
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const last = i === path.length - 1;
    const where = formatTreePath(path.slice(0, i + 1));
    let child: Node | undefined;
    let replace: (n: Node) => void;
    if (cur.kind === 'map') {
      if (typeof c !== 'string') {
        throw new SopsError(
          `cannot set ${formatTreePath(path)}: ${where} is a list index, but the value there is a map`,
          ExitCode.ErrorInvalidSetFormat,
        );
      }
      const m: MapNode = cur;
      const e = m.items.find((it) => it.kind === 'entry' && it.key === c);
      if (!e || e.kind !== 'entry') {
        checkBuildable(path, i + 1);
        m.items.push(entry(c, build(path.slice(i + 1), value)));
        return true;
      }
      child = e.value;
      replace = (n) => (e.value = n);
    } else {
      if (typeof c !== 'number') {
        throw new SopsError(
          `cannot set ${formatTreePath(path)}: ${where} is a map key, but the value there is a list`,
          ExitCode.ErrorInvalidSetFormat,
        );
      }
      const l: ListNode = cur;
      const len = listLength(l);
      if (c < 0 || c > len) {
        throw new SopsError(
          `cannot set ${formatTreePath(path)}: index ${c} is out of bounds (the list has ${len} item${len === 1 ? '' : 's'}; [${len}] appends)`,
          ExitCode.ErrorInvalidSetFormat,
        );
      }
      if (c === len) {
        checkBuildable(path, i + 1);
        l.items.push(build(path.slice(i + 1), value));
        return true;
      }
      const pos = itemPosition(l, c);
      child = l.items[pos] as Node;
      replace = (n) => (l.items[pos] = n);
    }
    if (last) {
      if (nodesEqual(child, value)) return false;
      replace(value);
      return true;
    }
    if (child.kind === 'map' || child.kind === 'list') {
      cur = child;
      continue;
    }
    // a scalar or null in the middle of the path: replaced by what the rest of the path describes
    checkBuildable(path, i + 1);
    replace(build(path.slice(i + 1), value));
    return true;
  }
  /* c8 ignore next */
  return false;
}

/** Remove the map key or list item at `path` (at least one component), in place. */
export function unsetAtPath(root: MapNode, path: readonly PathComponent[]): void {
  if (path.length === 0)
    throw new SopsError(
      'cannot unset the whole document: give a path such as \'["key"]\'',
      ExitCode.ErrorInvalidSetFormat,
    );
  let cur: Node = root;
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const last = i === path.length - 1;
    const where = formatTreePath(path.slice(0, i + 1));
    if (cur.kind === 'map') {
      if (typeof c !== 'string') {
        throw new SopsError(
          `cannot unset ${formatTreePath(path)}: ${where} is a list index, but the value there is a map`,
          ExitCode.ErrorGeneric,
        );
      }
      const pos = cur.items.findIndex((it) => it.kind === 'entry' && it.key === c);
      if (pos < 0) throw new PathNotFoundError(`cannot unset ${formatTreePath(path)}: key ${where} not found`);
      if (last) {
        cur.items.splice(pos, 1);
        return;
      }
      cur = (cur.items[pos] as { value: Node }).value;
    } else if (cur.kind === 'list') {
      if (typeof c !== 'number') {
        throw new SopsError(
          `cannot unset ${formatTreePath(path)}: ${where} is a map key, but the value there is a list`,
          ExitCode.ErrorGeneric,
        );
      }
      const pos = c < 0 ? -1 : itemPosition(cur, c);
      if (pos < 0) {
        const len = listLength(cur);
        throw new PathNotFoundError(
          `cannot unset ${formatTreePath(path)}: index ${c} is out of bounds (the list has ${len} item${len === 1 ? '' : 's'})`,
        );
      }
      if (last) {
        cur.items.splice(pos, 1);
        return;
      }
      cur = cur.items[pos] as Node;
    } else {
      throw new SopsError(
        `cannot unset ${formatTreePath(path)}: ${formatTreePath(path.slice(0, i))} is ${describe(cur)}, not a map or list`,
        ExitCode.ErrorGeneric,
      );
    }
  }
}

function sameType(a: string, b: string): boolean {
  const norm = (t: string) => (t === 'int64' ? 'int' : t === 'bytes' ? 'str' : t);
  return norm(a) === norm(b);
}

function itemsEqual(
  a: ReadonlyArray<Node | Comment | { kind: 'entry'; key: string; value: Node }>,
  b: typeof a,
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind !== y.kind) return false;
    if (x.kind === 'comment') {
      if (x.text !== (y as Comment).text) return false;
    } else if (x.kind === 'entry') {
      const e = y as { key: string; value: Node };
      if (x.key !== e.key || !nodesEqual(x.value, e.value)) return false;
    } else if (!nodesEqual(x, y as Node)) return false;
  }
  return true;
}

/** Deep equality of two values as sops sees them (type and text; presentation hints ignored). */
export function nodesEqual(a: Node, b: Node): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'null':
      return true;
    case 'scalar': {
      const s = b as typeof a;
      if (!sameType(a.type, s.type)) return false;
      if (a.raw || s.raw) return Buffer.from(a.raw ?? Buffer.from(a.text)).equals(s.raw ?? Buffer.from(s.text));
      if (a.type === 'float') return formatFloat(floatValue(a.text)) === formatFloat(floatValue(s.text));
      return a.text === s.text;
    }
    case 'list':
      return itemsEqual(a.items, (b as ListNode).items);
    case 'map':
      return itemsEqual(a.items, (b as MapNode).items);
  }
}

// --- JSON values (`set`'s VALUE) ------------------------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Parse a JSON text into a tree node: objects keep their key order (a repeated key keeps its last
 * value, in its first position), integers within int64 are `int`, other numbers `float`.
 * Throws a SopsError (exit 7) that never quotes the text, which may be a secret.
 */
export function nodeFromJson(text: string): Node {
  try {
    JSON.parse(text); // validation only: the tree is built below, keeping what JSON.parse loses
  } catch {
    throw new SopsError(
      'the value is not valid JSON (a string needs double quotes, e.g. \'"text"\'; numbers, true/false, null, objects and arrays are JSON too)',
      ExitCode.ErrorInvalidSetFormat,
    );
  }
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): Node => {
    ws();
    const c = text[i]!;
    if (c === '{') {
      i++;
      const m = map();
      ws();
      if (text[i] === '}') {
        i++;
        return m;
      }
      for (;;) {
        ws();
        const key = str();
        ws();
        i++; // ':'
        const v = value();
        const existing = m.items.find((it) => it.kind === 'entry' && it.key === key);
        if (existing && existing.kind === 'entry') existing.value = v;
        else m.items.push(entry(key, v));
        ws();
        if (text[i++] === '}') return m;
      }
    }
    if (c === '[') {
      i++;
      const l: ListNode = { kind: 'list', items: [] };
      ws();
      if (text[i] === ']') {
        i++;
        return l;
      }
      for (;;) {
        l.items.push(value());
        ws();
        if (text[i++] === ']') return l;
      }
    }
    if (c === '"') return { kind: 'scalar', type: 'str', text: str() };
    if (text.startsWith('true', i)) {
      i += 4;
      return { kind: 'scalar', type: 'bool', text: 'true' };
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return { kind: 'scalar', type: 'bool', text: 'false' };
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return NULL;
    }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))!;
    i += m[0].length;
    if (!m[1] && !m[2]) {
      const n = BigInt(m[0]);
      if (n >= INT64_MIN && n <= INT64_MAX) return { kind: 'scalar', type: 'int', text: n.toString() };
    }
    return { kind: 'scalar', type: 'float', text: formatFloat(Number(m[0])) };
  };
  return value();
}
