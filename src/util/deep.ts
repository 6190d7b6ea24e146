/**
 * Deep nesting: go-yaml reads up to 10000 levels, but tsops's tree builder, crypt walk, MAC and
 * printers recurse, and the default JavaScript stack (about 1 MB) runs out near 1000 levels. A cheap
 * byte scan spots input that may nest deeply; only such input is handled on a worker thread with a
 * large stack. Everything else runs as before, on the calling thread.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

type WorkerThreads = typeof import('node:worker_threads');
/** node:worker_threads, loaded on first use: most commands never need it (it costs a start about 1 ms). */
const workerThreads = (): WorkerThreads => createRequire(import.meta.url)('node:worker_threads') as WorkerThreads;

/** Nesting below this runs on the calling thread (the default stack holds several times more). */
const DEEP = 200;
/** The worker's stack: 10000 levels of YAML or JSON need about 40 MB; room to spare. */
const STACK_MB = 256;

/** Character classes of the scan: 0 nothing to count, then newline, open bracket, close bracket, blank, `-`/`:`. */
const OTHER = 0;
const NEWLINE = 1;
const OPEN = 2;
const CLOSE = 3;
const BLANK = 4;
const MARK = 5;
const CLASS = new Uint8Array(65536);
CLASS[0x0a] = NEWLINE;
CLASS[0x5b] = CLASS[0x7b] = OPEN;
CLASS[0x5d] = CLASS[0x7d] = CLOSE;
CLASS[0x20] = CLASS[0x09] = BLANK;
CLASS[0x2d] = CLASS[0x3a] = MARK;

/** Where a scan stands between two pieces of the input. */
interface ScanState {
  brackets: number;
  line: number;
  indent: boolean;
}

/**
 * Whether `data` may nest deeper than the calling thread's stack comfortably holds: open brackets
 * minus closed ones, or a line's indentation plus its `-` and `:` marks (block nesting), beyond 200.
 * Over-counting (brackets in strings) only costs a worker thread; one linear pass, no allocation.
 */
export function mayNestDeeply(data: string | Uint8Array): boolean {
  const st: ScanState = { brackets: 0, line: 0, indent: true };
  return typeof data === 'string' ? scanText(data, st) : scanBytes(data, data.length, st);
}

/** mayNestDeeply for the content of the file at `path`, read a piece at a time (never whole). */
export function fileMayNestDeeply(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    const st: ScanState = { brackets: 0, line: 0, indent: true };
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return false;
      if (scanBytes(buf, n, st)) return true;
    }
  } finally {
    closeSync(fd);
  }
}

// (two copies of one loop, over bytes and over UTF-16 units: a shared one through a callback is
// several times slower; a byte's class is that of the same UTF-16 unit)
function scanBytes(data: Uint8Array, n: number, st: ScanState): boolean {
  let { brackets, line, indent } = st;
  for (let i = 0; i < n; i++) {
    const k = CLASS[data[i]!]!;
    if (k === OTHER) {
      indent = false;
      continue;
    }
    if (k === NEWLINE) {
      line = 0;
      indent = true;
    } else if (k === OPEN) {
      if (++brackets > DEEP) return true;
      indent = false;
    } else if (k === CLOSE) {
      if (brackets > 0) brackets--;
      indent = false;
    } else if (k === BLANK) {
      if (indent && ++line > DEEP) return true;
    } else {
      indent = false;
      if (++line > DEEP) return true;
    }
  }
  st.brackets = brackets;
  st.line = line;
  st.indent = indent;
  return false;
}

function scanText(data: string, st: ScanState): boolean {
  let { brackets, line, indent } = st;
  for (let i = 0, n = data.length; i < n; i++) {
    const k = CLASS[data.charCodeAt(i)]!;
    if (k === OTHER) {
      indent = false;
      continue;
    }
    if (k === NEWLINE) {
      line = 0;
      indent = true;
    } else if (k === OPEN) {
      if (++brackets > DEEP) return true;
      indent = false;
    } else if (k === CLOSE) {
      if (brackets > 0) brackets--;
      indent = false;
    } else if (k === BLANK) {
      if (indent && ++line > DEEP) return true;
    } else {
      indent = false;
      if (++line > DEEP) return true;
    }
  }
  st.brackets = brackets;
  st.line = line;
  st.indent = indent;
  return false;
}

/** Whether a large-stack worker may be started here (not already inside one). */
export function canDeepen(): boolean {
  return workerThreads().isMainThread;
}

/**
 * The worker: imports the module, runs one export and posts its outcome; an error goes back as plain
 * data (its class name, looked up again in src/errors.ts, its message and cloneable own fields).
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { moduleUrl, exported, args } = workerData;
function flatten(e) {
  if (!(e instanceof Error)) return e;
  const props = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'cause' || typeof v === 'function') continue;
    try { structuredClone(v); props[k] = v; } catch {}
  }
  return { cls: e.constructor.name, name: e.name, message: e.message, props };
}
import(moduleUrl)
  .then((mod) => mod[exported](...args))
  .then((value) => parentPort.postMessage({ ok: true, value }), (e) => parentPort.postMessage({ ok: false, error: flatten(e) }));
`;

/** The outcome a worker posts back. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Run `exported(...args)` of the module at `moduleUrl` on a worker thread with a large stack and
 * return its result; errors come back as the same Error class from `errorClasses` when named there.
 */
export async function runDeep<T>(moduleUrl: string, exported: string, args: unknown[]): Promise<T> {
  // (the worker's code is inline so that it also works from the one-file bundle)
  const worker = new (workerThreads().Worker)(WORKER_CODE, {
    eval: true,
    workerData: { moduleUrl, exported, args },
    resourceLimits: { stackSizeMb: STACK_MB },
    stdin: false,
  });
  const outcome = await new Promise<Outcome>((resolve, reject) => {
    let got: Outcome | undefined;
    worker.once('message', (m: Outcome) => (got = m));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (got) resolve(got);
      else reject(new Error(`the worker thread stopped (exit code ${String(code)}) before it finished`));
    });
  });
  if (outcome.ok) return outcome.value as T;
  throw await revive(outcome.error);
}

/** An error posted by the worker, rebuilt with its class from src/errors.ts when it has one. */
async function revive(posted: unknown): Promise<unknown> {
  if (!posted || typeof posted !== 'object' || !('message' in posted)) return posted;
  const p = posted as { name?: string; message: string; props?: Record<string, unknown>; cls?: string };
  const errors = (await import('../errors.js')) as unknown as Record<string, unknown>;
  const cls = p.cls ? errors[p.cls] : undefined;
  const proto = typeof cls === 'function' ? (cls as { prototype: object }).prototype : Error.prototype;
  const e = Object.create(proto) as Error;
  Object.defineProperty(e, 'message', { value: p.message, writable: true, configurable: true });
  if (p.name && p.name !== (proto as Error).name)
    Object.defineProperty(e, 'name', { value: p.name, writable: true, configurable: true });
  Object.assign(e, p.props ?? {});
  return e;
}
