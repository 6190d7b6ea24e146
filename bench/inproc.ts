/**
 * In-process library decryption, run in a child process of its own (so each library's peak RSS is
 * its own):
 *
 *   node dist/bench/inproc.js LIB FILE FORMAT ITERATIONS
 *
 * LIB:
 * - tsops:       tsops's `decrypt()` (decrypt, verify the MAC, print the plaintext file)
 * - tsops-data:  tsops's `decryptData()` (decrypt, verify the MAC, return plain JavaScript data)
 * - sops-age:    the `sops-age` package's `decryptSops()` (returns plain data; it does not check the MAC)
 *
 * The age identity is $SOPS_AGE_KEY. The file is read once, then ITERATIONS timed calls (the first
 * one cold, as a program that decrypts its config once at start sees it). Prints JSON:
 * { importMs, ms: [...], rss, check } where `check` is the decrypted `bench_marker` value (a sanity
 * check that the library really decrypted the file).
 */
import { readFileSync } from 'node:fs';

type Decrypt = (content: string) => Promise<unknown>;

async function load(lib: string, format: string, key: string): Promise<Decrypt> {
  switch (lib) {
    case 'tsops':
    case 'tsops-data': {
      const api = await import('../src/index.js');
      const o = { format: format as 'yaml', env: { SOPS_AGE_KEY: key } };
      return lib === 'tsops' ? (c) => api.decrypt(c, o) : (c) => api.decryptData(c, o);
    }
    case 'sops-age': {
      const { decryptSops } = await import('sops-age');
      const fileType = format === 'dotenv' ? 'env' : (format as 'yaml' | 'json');
      return (c) => decryptSops(c, { secretKey: key, fileType });
    }
    default:
      throw new Error(`unknown library ${lib}`);
  }
}

function marker(result: unknown): string {
  if (typeof result === 'string') {
    const m = /"?bench_marker"?\s*[:=]\s*"?(\w+)/.exec(result);
    return m ? m[1]! : '(none)';
  }
  if (result && typeof result === 'object') {
    const v = (result as Record<string, unknown>).bench_marker ?? (result as Record<string, unknown>).APP_SETTING_00000;
    return typeof v === 'string' || typeof v === 'number' ? String(v) : '(none)';
  }
  return '(none)';
}

async function main(): Promise<void> {
  const [lib, file, format, iters] = process.argv.slice(2);
  if (!lib || !file || !format) throw new Error('usage: inproc.js LIB FILE FORMAT ITERATIONS');
  const key = process.env.SOPS_AGE_KEY ?? '';
  const content = readFileSync(file, 'utf8');
  const t0 = performance.now();
  const decrypt = await load(lib, format, key);
  const importMs = performance.now() - t0;
  let check = '';
  const ms: number[] = [];
  for (let i = 0; i < Number(iters ?? 3); i++) {
    const t = performance.now();
    const result = await decrypt(content);
    ms.push(performance.now() - t);
    if (i === 0) check = marker(result);
  }
  process.stdout.write(JSON.stringify({ importMs, ms, rss: process.resourceUsage().maxRSS * 1024, check }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`inproc: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
