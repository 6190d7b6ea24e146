/**
 * Measuring child processes: wall time (spawn to exit) and peak RSS.
 *
 * Peak RSS comes from the child itself: `node --import rss-probe.js` makes the child write
 * `process.resourceUsage().maxRSS` to a file when it exits (no `/usr/bin/time` needed). The probe costs
 * well under a millisecond, and start-up figures are measured without it.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let probeUrl = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), 'rss-probe.js')).href;

/** Use the probe in `dir` (the suite's snapshot of the build) instead of the one beside this file. */
export function useProbeIn(dir: string): void {
  probeUrl = pathToFileURL(join(dir, 'rss-probe.js')).href;
}

export interface RunResult {
  /** wall time from spawn to exit, in milliseconds */
  ms: number;
  /** peak resident set size of the child, in bytes (with `probe`) */
  rss?: number;
  /** CPU time of the child (user + system, all threads), ms (with `probe`) */
  cpu?: number;
  code: number | null;
  stderr: string;
  /** stdout, with `stdout: 'capture'` */
  stdout?: Buffer;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** 'null' (default): /dev/null; 'capture': collected; a path: written there */
  stdout?: 'null' | 'capture' | { file: string };
  /** measure peak RSS (node children only: adds `--import` of the probe) */
  probe?: boolean;
  /** the exit codes that count as success (default [0]) */
  okCodes?: number[];
}

let devNull: number | null = null;
let probeSeq = 0;

/** Run `node ...args` once. */
export function runNode(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, args, o);
}

/** Run a command once; rejects when its exit code is not one of `okCodes`. */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  devNull ??= openSync('/dev/null', 'w');
  let outFd: number | 'pipe' = devNull;
  let ownFd: number | null = null;
  if (o.stdout === 'capture') outFd = 'pipe';
  else if (o.stdout && typeof o.stdout === 'object') outFd = ownFd = openSync(o.stdout.file, 'w', 0o600);
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env) };
  let rssFile: string | null = null;
  let argv = args;
  if (o.probe) {
    rssFile = join(process.env.TSOPS_BENCH_TMP ?? '/tmp', `rss-${process.pid}-${++probeSeq}`);
    env.TSOPS_BENCH_RSS_OUT = rssFile;
    argv = ['--import', probeUrl, ...args];
  } else {
    delete env.TSOPS_BENCH_RSS_OUT;
  }
  return new Promise<RunResult>((resolve, reject) => {
    const t0 = performance.now();
    let t1 = 0;
    const child = spawn(cmd, argv, { env, cwd: o.cwd, stdio: ['ignore', outFd, 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('exit', () => {
      t1 = performance.now();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (ownFd !== null) closeSync(ownFd);
      const r: RunResult = { ms: (t1 || performance.now()) - t0, code, stderr: Buffer.concat(err).toString('utf8') };
      if (o.stdout === 'capture') r.stdout = Buffer.concat(out);
      if (rssFile) {
        try {
          const [rss, cpu] = readFileSync(rssFile, 'utf8').split(' ');
          r.rss = Number(rss) * 1024; // maxRSS is in KiB
          r.cpu = Number(cpu) / 1000;
        } catch {
          /* the child died before its exit handler */
        }
        rmSync(rssFile, { force: true });
      }
      const ok = o.okCodes ?? [0];
      if (code === null || !ok.includes(code)) {
        reject(
          new Error(
            `${[cmd, ...args].join(' ')} exited with ${code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
      } else resolve(r);
    });
  });
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Series {
  ms: number[];
  rss: number[];
  cpu: number[];
}

export const medianMs = (s: Series) => median(s.ms);
export const medianRss = (s: Series) => median(s.rss);
export const medianCpu = (s: Series) => median(s.cpu);

/**
 * Run each task `n` times, interleaved (a, b, c, a, b, c, ...), so slow drift on a shared machine
 * affects every side of a ratio alike. `before` runs untimed before each run of a task (resetting a
 * file the task changes).
 */
export async function interleaved(
  n: number,
  tasks: Array<{ run: () => Promise<RunResult>; before?: () => void }>,
): Promise<Series[]> {
  const out: Series[] = tasks.map(() => ({ ms: [], rss: [], cpu: [] }));
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < tasks.length; t++) {
      tasks[t]!.before?.();
      const r = await tasks[t]!.run();
      out[t]!.ms.push(r.ms);
      if (r.rss !== undefined) out[t]!.rss.push(r.rss);
      if (r.cpu !== undefined) out[t]!.cpu.push(r.cpu);
    }
  }
  return out;
}
