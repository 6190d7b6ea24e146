/**
 * Timing the real sops decrypt library (Go) through the test suite's oracle (test/helpers/sops-oracle.ts):
 * one warm Lambda process decrypts the file; the figure is the median time for the large file minus
 * the median time for the small file, measured interleaved in the same process, so start-up and the
 * oracle's fixed transport cost cancel out.
 *
 * What remains still includes work proportional to the file that sops's own `decrypt` does not do:
 * the file travels base64-encoded inside a JSON event, and the Lambda prints the decrypted tree as
 * JSON and sends it back over loopback TLS. This favours sops's side slightly less than it favours
 * tsops: the figure is an upper bound for sops's decrypt.
 *
 * Peak RSS: the Lambda process's VmHWM (/proc) after the large file, and after the small file only.
 * Give each format its own `env.TSOPS_BENCH_SLOT` so each gets a fresh Lambda process, found by it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  closeOracle,
  oracleAvailable,
  oracleUnavailableReason,
  sopsDecrypt,
  type OracleFormat,
} from '../test/helpers/sops-oracle.js';
import { median } from './measure.js';

export interface SopsTiming {
  /** median(large) − median(small), ms */
  ms: number;
  largeMs: number;
  smallMs: number;
  /** VmHWM of the Lambda process after the large runs, bytes */
  peakRss?: number;
  /** VmHWM of the Lambda process after the small file only, bytes */
  baseRss?: number;
}

export async function sopsAvailable(): Promise<string | null> {
  return (await oracleAvailable()) ? null : (oracleUnavailableReason() ?? 'unavailable');
}

/** Peak RSS (bytes) of the sops Lambda processes under this process whose environment has `marker` (NAME=value). */
function lambdaPeaks(marker: string): number[] {
  const peaks: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return peaks;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, 'utf8');
      const ppid = /^PPid:\s*(\d+)/m.exec(status)?.[1];
      const name = /^Name:\s*(\S+)/m.exec(status)?.[1];
      if (Number(ppid) !== process.pid || name !== 'bootstrap') continue;
      if (!readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').includes(marker)) continue;
      const hwm = /^VmHWM:\s*(\d+) kB/m.exec(status)?.[1];
      if (hwm) peaks.push(Number(hwm) * 1024);
    } catch {
      /* gone */
    }
  }
  return peaks;
}

async function timed(content: Buffer, format: OracleFormat, env: Record<string, string>): Promise<number> {
  const t = performance.now();
  const r = await sopsDecrypt(content, format, env);
  const ms = performance.now() - t;
  if (!r.ok) throw new Error(`real sops refused the file: ${r.error.split('\n')[0]}`);
  return ms;
}

/**
 * Time real sops decrypting `large` against `small` (both encrypted for the same identity, same
 * format). `runs` interleaved pairs after a warm-up of each.
 */
export async function timeSops(
  small: Buffer,
  large: Buffer,
  format: OracleFormat,
  env: Record<string, string>,
  runs: number,
): Promise<SopsTiming> {
  const marker = `TSOPS_BENCH_SLOT=${env.TSOPS_BENCH_SLOT ?? ''}`;
  await timed(small, format, env);
  const before = Math.max(0, ...lambdaPeaks(marker));
  await timed(large, format, env);
  const ls: number[] = [];
  const ss: number[] = [];
  for (let i = 0; i < runs; i++) {
    ss.push(await timed(small, format, env));
    ls.push(await timed(large, format, env));
  }
  const after = Math.max(0, ...lambdaPeaks(marker));
  const largeMs = median(ls);
  const smallMs = median(ss);
  return { ms: largeMs - smallMs, largeMs, smallMs, ...(after > 0 ? { peakRss: after, baseRss: before } : {}) };
}

export { closeOracle };
