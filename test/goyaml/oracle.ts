/**
 * go-yaml v3.0.1 (the YAML library sops uses) as a differential oracle: test/goyaml/main.go, built
 * once per test process from Debian's golang-go and golang-gopkg-yaml.v3-dev (offline, GOPATH
 * mode) into a temporary folder, then fed many documents per run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixtures.js';
import type { Node, Tree } from '../../src/tree/types.js';

const GOPATH = '/usr/share/gocode';
const YAML_V3 = join(GOPATH, 'src', 'gopkg.in', 'yaml.v3');

/** Why the oracle cannot run here, or null when it can. */
export function goyamlUnavailableReason(): string | null {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'go is not installed (apt-get install golang-go)';
  }
  if (!existsSync(join(YAML_V3, 'decode.go')))
    return `${YAML_V3} is missing (apt-get install golang-gopkg-yaml.v3-dev)`;
  return null;
}

let binary: { dir: string; exe: string } | null = null;

function build(): string {
  if (binary) return binary.exe;
  const dir = mkdtempSync(join(tmpdir(), 'tsops-goyaml-'));
  const exe = join(dir, 'goyaml');
  execFileSync('go', ['build', '-o', exe, join(ROOT, 'test', 'goyaml', 'main.go')], {
    env: { ...process.env, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(dir, 'cache'), GOPROXY: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  rmSync(join(dir, 'cache'), { recursive: true, force: true });
  binary = { dir, exe };
  return exe;
}

/** Remove the built program (call from `after`). */
export function closeGoyaml(): void {
  if (binary) rmSync(binary.dir, { recursive: true, force: true });
  binary = null;
}

export type GoMode = 'sops' | 'value' | 'encode' | 'json';
export interface GoRequest {
  mode: GoMode;
  body: string | Buffer;
  /** encode: the indentation */
  arg?: number;
}
/** One answer: `ok` (reads), `yaml` (encode) or `error`. */
export interface GoAnswer {
  ok?: unknown;
  yaml?: string;
  error?: string;
}

/** Run many requests through one go-yaml process. */
export function goyaml(reqs: GoRequest[]): GoAnswer[] {
  const exe = build();
  const parts: Buffer[] = [];
  for (const r of reqs) {
    const body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
    parts.push(Buffer.from(`${r.mode} ${r.arg ?? 0} ${body.length}\n`), body);
  }
  const res = spawnSync(exe, [], { input: Buffer.concat(parts), maxBuffer: 1 << 30, timeout: 120_000 });
  if (res.status !== 0) throw new Error(`goyaml failed (${res.status ?? res.signal}): ${res.stderr?.toString()}`);
  const lines = res.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  if (lines.length !== reqs.length) throw new Error(`goyaml answered ${lines.length} of ${reqs.length} requests`);
  return lines.map((l) => JSON.parse(l) as GoAnswer);
}

// ---------------------------------------------------------------------------------------------
// tsops trees in the oracle's typed form

export type Typed =
  | { t: 'null' }
  | { t: 'str'; v?: string; b64?: string }
  | { t: 'int' | 'uint' | 'float' | 'time'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'comment'; v: string }
  | { t: 'map'; v: Array<[string, Typed]> }
  | { t: 'list'; v: Typed[] };

/** A tsops node in the oracle's form (`comments`: keep comment items, for encode requests). */
export function typedOf(n: Node, comments = false): Typed {
  switch (n.kind) {
    case 'null':
      return { t: 'null' };
    case 'scalar':
      switch (n.type) {
        case 'str':
        case 'bytes':
          return n.raw ? { t: 'str', b64: n.raw.toString('base64') } : { t: 'str', v: n.text };
        case 'int':
        case 'int64':
          return { t: 'int', v: n.text };
        case 'float':
          return { t: 'float', v: n.text };
        case 'bool':
          return { t: 'bool', v: n.text === 'true' };
        case 'time':
          return { t: 'time', v: n.text };
      }
      throw new Error('unknown scalar type');
    case 'list':
      return {
        t: 'list',
        v: n.items.flatMap((i): Typed[] =>
          i.kind === 'comment' ? (comments ? [{ t: 'comment', v: i.text }] : []) : [typedOf(i, comments)],
        ),
      };
    case 'map':
      return {
        t: 'map',
        v: n.items.flatMap((i): Array<[string, Typed]> =>
          i.kind === 'comment'
            ? comments
              ? [['', { t: 'comment', v: i.text }]]
              : []
            : [[i.key, typedOf(i.value, comments)]],
        ),
      };
  }
}

export const typedDocs = (t: Tree): Typed[] => t.docs.map((d) => typedOf(d));

/** A float's text (go-yaml's %g, or tsops's) as a number. */
function floatOf(s: string): number {
  switch (s) {
    case '+Inf':
    case 'Inf':
    case '.inf':
      return Infinity;
    case '-Inf':
    case '-.inf':
      return -Infinity;
  }
  return Number(s);
}

/**
 * The first difference between go-yaml's value `go` and tsops's `ts`, as a path and both sides,
 * or null when they are the same value (floats compared as numbers; a uint64 beyond int64 is a
 * float in tsops with the same digits).
 */
export function firstDifference(go: Typed, ts: Typed, path = '$'): string | null {
  const show = (x: Typed) => JSON.stringify(x).slice(0, 200);
  const differ = () => `${path}: go-yaml ${show(go)} / tsops ${show(ts)}`;
  if (go.t === 'uint') return ts.t === 'float' && ts.v === go.v ? null : differ();
  if (go.t !== ts.t) return differ();
  switch (go.t) {
    case 'float': {
      const a = floatOf(go.v);
      const b = floatOf((ts as { v: string }).v);
      return (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b) ? null : differ();
    }
    case 'map': {
      const b = (ts as typeof go).v;
      if (b.length !== go.v.length)
        return `${path}: go-yaml has ${go.v.length} keys (${go.v.map((p) => p[0]).join(',')}), tsops ${b.length} (${b.map((p) => p[0]).join(',')})`;
      for (let i = 0; i < b.length; i++) {
        if (go.v[i]![0] !== b[i]![0])
          return `${path}: key ${i} go-yaml ${JSON.stringify(go.v[i]![0])} / tsops ${JSON.stringify(b[i]![0])}`;
        const d = firstDifference(go.v[i]![1], b[i]![1], `${path}.${go.v[i]![0]}`);
        if (d) return d;
      }
      return null;
    }
    case 'list': {
      const b = (ts as typeof go).v;
      if (b.length !== go.v.length) return `${path}: go-yaml has ${go.v.length} items, tsops ${b.length}`;
      for (let i = 0; i < b.length; i++) {
        const d = firstDifference(go.v[i]!, b[i]!, `${path}[${i}]`);
        if (d) return d;
      }
      return null;
    }
    default: {
      const t = ts as { v?: unknown; b64?: string };
      const g = go as { v?: unknown; b64?: string };
      return g.v === t.v && g.b64 === t.b64 ? null : differ();
    }
  }
}
