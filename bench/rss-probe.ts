/**
 * Preloaded into benchmarked node processes (`node --import rss-probe.js ...`): at exit, writes the
 * process's peak resident set size (KiB, `process.resourceUsage().maxRSS`) and its CPU time (user +
 * system, microseconds, every thread) to $TSOPS_BENCH_RSS_OUT as `maxRSS cpu`.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.TSOPS_BENCH_RSS_OUT;
if (out) {
  delete process.env.TSOPS_BENCH_RSS_OUT; // not inherited by what the process spawns (editors)
  process.on('exit', () => {
    try {
      const u = process.resourceUsage();
      writeFileSync(out, `${u.maxRSS} ${u.userCPUTime + u.systemCPUTime}`);
    } catch {
      /* nothing to report to */
    }
  });
}
