/**
 * Tree paths as sops's `--extract`, `set` and `unset` take them: `["a"]["b"][0]`.
 */
import { ExitCode, SopsError } from '../errors.js';
import { getEntry, type ListNode, type MapNode, type Node } from './types.js';

export type PathComponent = string | number;

/** Parse `["key"][0]['other']`; an empty string is the whole tree. */
export function parseTreePath(s: string): PathComponent[] {
  const out: PathComponent[] = [];
  let rest = s.trim();
  const bad = () =>
    new SopsError(
      `invalid tree path ${JSON.stringify(s)}: expected components like ["key"] or [0], e.g. '["a"]["b"][0]'`,
      ExitCode.InvalidTreePathFormat,
    );
  while (rest.length) {
    let m = /^\[\s*"((?:[^"\\]|\\.)*)"\s*\]/.exec(rest);
    if (m) {
      out.push(JSON.parse(`"${m[1]}"`) as string);
    } else if ((m = /^\[\s*'([^']*)'\s*\]/.exec(rest))) {
      out.push(m[1]!);
    } else if ((m = /^\[\s*(-?\d+)\s*\]/.exec(rest))) {
      out.push(Number(m[1]));
    } else {
      throw bad();
    }
    rest = rest.slice(m[0].length).trimStart();
  }
  return out;
}

export function formatTreePath(p: readonly PathComponent[]): string {
  return p.map((c) => (typeof c === 'number' ? `[${c}]` : `[${JSON.stringify(c)}]`)).join('');
}

function listValues(l: ListNode): Node[] {
  return l.items.filter((i): i is Node => i.kind !== 'comment');
}

/** The node at `path`, or a SopsError naming the first missing component. */
export function getAtPath(root: MapNode, path: readonly PathComponent[]): Node {
  let cur: Node = root;
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const where = formatTreePath(path.slice(0, i + 1));
    if (typeof c === 'string') {
      if (cur.kind !== 'map')
        throw new SopsError(`component ${where} not found: not a map there`, ExitCode.ErrorGeneric);
      const e = getEntry(cur, c);
      if (!e) throw new SopsError(`component ${where} not found`, ExitCode.ErrorGeneric);
      cur = e.value;
    } else {
      if (cur.kind !== 'list')
        throw new SopsError(`component ${where} is an index, but the tree there is not a list`, ExitCode.ErrorGeneric);
      const vals = listValues(cur);
      if (c < 0 || c >= vals.length)
        throw new SopsError(
          `component ${where} is out of bounds (the list has ${vals.length} items)`,
          ExitCode.ErrorGeneric,
        );
      cur = vals[c]!;
    }
  }
  return cur;
}
