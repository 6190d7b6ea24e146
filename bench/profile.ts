/**
 * Where the time goes: run a command under `node --cpu-prof` and summarise the profile by function
 * (self time) and by module (a package under node_modules, a tsops source file, Node's internals).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, type RunOptions } from './measure.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  byFunction: Array<{ name: string; ms: number }>;
  byModule: Array<{ name: string; ms: number }>;
}

/** A short module name for a script URL. */
export function moduleOf(url: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const d = url.indexOf('/dist/');
  if (d >= 0) return `tsops ${url.slice(d + 1)}`;
  return url.replace(/^file:\/\//, '');
}

export function summarize(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    const file = cf.url ? cf.url.replace(/^file:\/\/.*\/(node_modules|dist)\//, '$1/') : '';
    const name = `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const m = cf.url ? moduleOf(cf.url) : cf.functionName.startsWith('(') ? cf.functionName : '(native / V8)';
    mod.set(m, (mod.get(m) ?? 0) + us);
    total += us;
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000 }));
  return { totalMs: total / 1000, byFunction: sorted(fn), byModule: sorted(mod) };
}

/** Run `node ...args` under the CPU profiler and summarise its profile. */
export async function profileNode(args: string[], o: RunOptions = {}, top = 15): Promise<ProfileSummary> {
  const dir = mkdtempSync(join(process.env.TSOPS_BENCH_TMP ?? '/tmp', 'prof-'));
  try {
    await runNode(['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200', ...args], o);
    const f = readdirSync(dir).find((x) => x.endsWith('.cpuprofile'));
    if (!f) throw new Error('no profile written');
    return summarize(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, top);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const lines = [
    `#### ${title} (sampled ${s.totalMs.toFixed(0)} ms)`,
    '',
    '| self time by module | ms | % |',
    '| --- | ---: | ---: |',
  ];
  for (const m of s.byModule)
    lines.push(`| ${m.name} | ${m.ms.toFixed(1)} | ${((100 * m.ms) / s.totalMs).toFixed(1)} |`);
  lines.push('', '| self time by function | ms | % |', '| --- | ---: | ---: |');
  for (const f of s.byFunction)
    lines.push(
      `| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.ms.toFixed(1)} | ${((100 * f.ms) / s.totalMs).toFixed(1)} |`,
    );
  return lines.join('\n');
}
