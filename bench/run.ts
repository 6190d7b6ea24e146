/**
 * `npm run bench`: tsops's benchmark suite. Generates its inputs in a temporary folder, encrypts them
 * with tsops for the test age identity, measures, prints one markdown table and writes it, with a
 * description of the machine, to BENCHMARKS.md.
 *
 *   npm run bench                       the suite (about 3–5 minutes on 2 cores)
 *   npm run bench -- --no-scale         without the scale check (the 1M-value, ~50 MB YAML file: slow)
 *   npm run bench -- --scale-only       only the scale check (prints, leaves BENCHMARKS.md alone)
 *   npm run bench -- --profile          also CPU profiles of start-up and the large-file paths
 *   npm run bench -- --runs 5           runs per large-file figure (default 3; start-up: 5× that)
 *   npm run bench -- --no-write         print only, leave BENCHMARKS.md alone
 *   npm run bench -- --only yaml,sops   only some sections (startup, yaml, json, dotenv, sops, inproc,
 *                                       edit, scale); prints, leaves BENCHMARKS.md alone
 *
 * Every figure is the median of several runs, and every ratio compares two figures measured in the
 * same run, interleaved (a, b, a, b, ...), so machine noise hits both sides alike.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdtempSync,
  symlinkSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dotenv, largeJson, largeYaml, shapeFor, smallYaml } from './gen.js';
import {
  interleaved,
  median,
  medianCpu,
  medianMs,
  medianRss,
  runNode,
  useProbeIn,
  type RunOptions,
  type Series,
} from './measure.js';
import { formatSummary, profileNode } from './profile.js';
import type { Node as TreeNode, Tree } from '../src/tree/types.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// What is measured runs from a snapshot of the build taken at start (see snapshot()).
let DIST = join(ROOT, 'dist');
let BIN = join(ROOT, 'bin', 'tsops');
let FLOOR = join(DIST, 'bench', 'floor.js');
let INPROC = join(DIST, 'bench', 'inproc.js');

/** The test suite's age identity (not a secret: it only ever protects generated data). */
const AGE_KEY = 'AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7';
const AGE_RECIPIENT = 'age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun';

/** The issue's memory target: peak RSS above bare Node per byte of plaintext. */
const RSS_TARGET = 10;
/** The 1M-value file: at most 8 s and 600 MB, and linear (per-value time at most this × the 100k file's). */
const SCALE_TARGET_MS = 8000;
const SCALE_TARGET_RSS = 600 * 1e6;
const SCALE_LINEAR = 1.25;

const LARGE_VALUES = 100_000;
const SCALE_VALUES = 1_000_000;
const DOTENV_LINES = 10_000;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  scale: boolean;
  scaleOnly: boolean;
  profile: boolean;
  runs: number;
  write: boolean;
  /** The sections to run (all when undefined). */
  only?: Set<string>;
}

const SECTIONS = ['startup', 'yaml', 'json', 'dotenv', 'sops', 'inproc', 'edit', 'scale'];

function parseArgs(argv: string[]): Options {
  const o: Options = { scale: true, scaleOnly: false, profile: false, runs: 3, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--scale') o.scale = true;
    else if (a === '--no-scale') o.scale = false;
    else if (a === '--scale-only') o.scale = o.scaleOnly = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = (a.includes('=') ? a.slice(7) : (argv[++i] ?? '')).split(',').filter(Boolean);
      const bad = v.filter((x) => !SECTIONS.includes(x));
      if (!v.length || bad.length) throw new Error(`--only takes a list of: ${SECTIONS.join(', ')}`);
      o.only = new Set(v);
      o.scale = o.only.has('scale');
    } else if (a === '--runs' || a.startsWith('--runs=')) {
      const v = Number(a.includes('=') ? a.slice(7) : argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error('--runs needs a positive integer');
      o.runs = v;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('*/')[0]!
          .replace(/^\/\*\*?|^ \* ?/gm, '') + '\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (o.scaleOnly || o.only) o.write = false;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const MB = 1e6;
const fmtMs = (ms: number) =>
  !Number.isFinite(ms)
    ? 'n/a'
    : ms >= 10_000
      ? `${(ms / 1000).toFixed(1)} s`
      : ms >= 1000
        ? `${(ms / 1000).toFixed(2)} s`
        : `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
const fmtMB = (b: number | undefined) =>
  b === undefined || !Number.isFinite(b) ? 'n/a' : `${(b / MB).toFixed(b < 10 * MB ? 1 : 0)} MB`;
const fmtSize = (b: number) => (b < 100_000 ? `${(b / 1000).toFixed(1)} kB` : fmtMB(b));
const fmtX = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');

interface Row {
  what: string;
  tsops: string;
  ref?: string;
  refValue?: string;
  ratio?: string;
  target?: string;
  met?: boolean | null;
}

const rows: Row[] = [];
const notes: string[] = [];
const inputs: string[] = [];
let entryUsed = '';

function add(r: Row): void {
  rows.push(r);
  const cells = [r.what, r.tsops, r.ref ?? '', r.refValue ?? '', r.ratio ?? '', r.target ?? '', met(r.met)];
  process.stdout.write(`  ${cells.filter(Boolean).join('  |  ')}\n`);
}

function met(m: boolean | null | undefined): string {
  return m === true ? 'yes' : m === false ? '**no**' : '';
}

/** A wall-time figure, with the CPU time beside it when the probe measured it. */
function timeCell(s: Series | number): string {
  if (typeof s === 'number') return fmtMs(s);
  return s.cpu.length ? `${fmtMs(medianMs(s))} (CPU ${fmtMs(medianCpu(s))})` : fmtMs(medianMs(s));
}

/**
 * A ratio row: tsops's figure against a reference figure, with an optional upper bound. Series are
 * compared by their median wall time (their CPU time is shown beside it).
 */
function ratioRow(
  what: string,
  tsops: number | Series,
  ref: string,
  refValue: number | Series,
  target?: number,
  fmt?: (n: number) => string,
): void {
  const a = typeof tsops === 'number' ? tsops : medianMs(tsops);
  const b = typeof refValue === 'number' ? refValue : medianMs(refValue);
  const r = a / b;
  add({
    what,
    tsops: fmt ? fmt(a) : timeCell(tsops),
    ref,
    refValue: fmt ? fmt(b) : timeCell(refValue),
    ratio: fmtX(r),
    target: target === undefined ? '' : `≤ ${target}×`,
    met: target === undefined || !Number.isFinite(r) ? null : r <= target,
  });
}

function naRow(what: string, why: string): void {
  add({ what, tsops: why });
}

function table(): string {
  const head = ['Measurement', 'tsops', 'compared with', 'reference', 'ratio', 'target', 'met'];
  const out = [`| ${head.join(' | ')} |`, `| ${['---', '---:', '---', '---:', '---:', '---', '---'].join(' | ')} |`];
  for (const r of rows) {
    out.push(
      `| ${[r.what, r.tsops, r.ref ?? '', r.refValue ?? '', r.ratio ?? '', r.target ?? '', met(r.met)].map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`,
    );
  }
  return out.join('\n');
}

function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown';
  const mhz = cpus[0]?.speed ? ` @ ${cpus[0].speed} MHz` : '';
  return [
    `- CPU: ${model}${mhz}, ${os.availableParallelism()} cores`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${process.arch})`,
    `- Node.js ${process.version}`,
    `- load average when the suite started: ${LOAD_AT_START} (1, 5, 15 min; above the core count means other work competed for the CPU)`,
    `- date: ${new Date().toISOString().slice(0, 10)}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The suite

let TMP = '';
const T0 = performance.now();
const LOAD_AT_START = os
  .loadavg()
  .map((x) => x.toFixed(1))
  .join(', ');

function step(what: string): void {
  process.stdout.write(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${what} ...\n`);
}

/**
 * Copy the build (dist/, bin/, package.json; node_modules linked) into the temp folder and measure
 * that copy: a rebuild of the working tree while the suite runs cannot change what is measured.
 */
function snapshot(): void {
  const snap = join(TMP, 'build');
  // timestamps kept: bin/tsops uses the code cache only when it is at least as new as the bundle
  cpSync(join(ROOT, 'dist'), join(snap, 'dist'), { recursive: true, preserveTimestamps: true });
  cpSync(join(ROOT, 'bin'), join(snap, 'bin'), { recursive: true, preserveTimestamps: true });
  copyFileSync(join(ROOT, 'package.json'), join(snap, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(snap, 'node_modules'), 'dir');
  DIST = join(snap, 'dist');
  BIN = join(snap, 'bin', 'tsops');
  FLOOR = join(DIST, 'bench', 'floor.js');
  INPROC = join(DIST, 'bench', 'inproc.js');
  useProbeIn(join(DIST, 'bench'));
  const mtime = (f: string) => {
    try {
      return statSync(f).mtimeMs;
    } catch {
      return -1;
    }
  };
  const b = mtime(join(DIST, 'tsops.cjs'));
  entryUsed =
    b >= 0 && b >= mtime(join(DIST, 'src', 'cli', 'main.js'))
      ? '`bin/tsops` → the one-file bundle `dist/tsops.cjs` (with its V8 code cache)'
      : '`bin/tsops` → the compiled sources `dist/src/cli/main.js` (no up-to-date bundle: run `node scripts/bundle.mjs`)';
  console.log(`measuring ${entryUsed.replace(/`/g, '')}`);
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SOPS_') || k === 'EDITOR' || k === 'VISUAL' || k.startsWith('npm_') || k === 'NODE_OPTIONS')
      continue;
    env[k] = v;
  }
  env.SOPS_AGE_KEY = AGE_KEY;
  env.TSOPS_BENCH_TMP = TMP;
  env.TSOPS_BENCH_AES_KEY = randomBytes(32).toString('hex');
  return env;
}

function tsops(args: string[], o: RunOptions = {}) {
  return () => runNode([BIN, ...args], { env: ENV, ...o });
}

function floor(kind: string, file: string, format?: string) {
  return () => runNode([FLOOR, kind, file, ...(format ? [format] : [])], { env: ENV, probe: true });
}

let ENV: NodeJS.ProcessEnv = {};

function size(file: string): number {
  return statSync(file).size;
}

interface Files {
  plain: string;
  enc: string;
  format: 'yaml' | 'json' | 'dotenv';
  ext: string;
}

async function encryptTo(plain: string, enc: string): Promise<void> {
  await runNode([BIN, 'encrypt', '--age', AGE_RECIPIENT, plain], { env: ENV, stdout: { file: enc } });
}

/** Commands of the CLI as `tsops --help` lists them. */
async function cliCommands(): Promise<Set<string>> {
  const r = await runNode([BIN, '--help'], { env: ENV, stdout: 'capture' });
  const set = new Set<string>();
  let inCommands = false;
  for (const line of r.stdout!.toString('utf8').split('\n')) {
    if (/^Commands:/.test(line)) inCommands = true;
    else if (inCommands && /^\S/.test(line)) inCommands = false;
    else if (inCommands) {
      const m = /^\s+([a-z][\w-]*)/.exec(line);
      if (m) set.add(m[1]!);
    }
  }
  return set;
}

async function startup(o: Options, small: string): Promise<number> {
  step('start-up');
  const n = Math.max(10, o.runs * 5);
  // warm the file cache first
  await runNode(['-e', '0']);
  await tsops(['decrypt', small])();
  await tsops(['--version'])();
  const [base, dec, ver] = await interleaved(n, [
    { run: () => runNode(['-e', '0'], { env: ENV }) },
    { run: tsops(['decrypt', small]) },
    { run: tsops(['--version']) },
  ]);
  ratioRow(
    'cold start: `tsops decrypt small.enc.yaml` (~40 values), wall',
    medianMs(dec!),
    '`node -e 0`',
    medianMs(base!),
    1.3,
  );
  ratioRow('cold start: `tsops --version`, wall', medianMs(ver!), '`node -e 0`', medianMs(base!));
  // CPU time (user + system, all threads) is steadier than wall time on a shared machine
  const [baseR, decR] = await interleaved(n, [
    { run: () => runNode(['-e', '0'], { env: ENV, probe: true }) },
    { run: tsops(['decrypt', small], { probe: true }) },
  ]);
  ratioRow(
    'cold start: `tsops decrypt small.enc.yaml`, CPU time',
    medianCpu(decR!),
    '`node -e 0`',
    medianCpu(baseR!),
    1.3,
    fmtMs,
  );
  ratioRow(
    'cold start: `tsops decrypt small.enc.yaml`, peak RSS',
    medianRss(decR!),
    '`node -e 0`',
    medianRss(baseR!),
    undefined,
    fmtMB,
  );
  return medianRss(baseR!);
}

/** The AES floor's inputs for one file: one `AAD value` line per leaf (see bench/floor.ts). */
interface AesInputs {
  enc: string;
  plain: string;
  values: number;
}

/**
 * Write the AES floor's inputs for a plaintext file: its leaves (read by tsops's store) with their
 * key paths as sops's additional data, as plaintext and encrypted under the floor's key.
 */
async function aesInputs(f: Files): Promise<AesInputs> {
  const { storeFor } = (await import(join(DIST, 'src', 'stores', 'index.js'))) as {
    storeFor: (f: string) => Promise<{ loadPlain(d: Buffer): Tree }>;
  };
  const { createCipheriv, randomBytes } = await import('node:crypto');
  const key = Buffer.from(ENV.TSOPS_BENCH_AES_KEY!, 'hex');
  const tree = (await storeFor(f.format)).loadPlain(readFileSync(f.plain));
  const plain: string[] = [];
  const enc: string[] = [];
  const leaf = (path: string[], text: string) => {
    const aad = path.length ? path.join(':') + ':' : ':';
    const iv = randomBytes(32);
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(Buffer.from(text, 'utf8')), c.final()]);
    plain.push(`${aad} ${text}`);
    enc.push(
      `${aad} ENC[AES256_GCM,data:${ct.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:str]`,
    );
  };
  const walk = (n: TreeNode, path: string[]) => {
    if (n.kind === 'scalar') leaf(path, n.text);
    else if (n.kind === 'map') {
      for (const it of n.items) if (it.kind === 'entry') walk(it.value, [...path, it.key]);
    } else if (n.kind === 'list') {
      for (const it of n.items) if (it.kind !== 'comment') walk(it, path);
    }
  };
  for (const doc of tree.docs) walk(doc, []);
  const out = { enc: `${f.plain}.aes-enc`, plain: `${f.plain}.aes-plain`, values: plain.length };
  writeFileSync(out.enc, enc.join('\n') + '\n', { mode: 0o600 });
  writeFileSync(out.plain, plain.join('\n') + '\n', { mode: 0o600 });
  return out;
}

interface Floor {
  name: string;
  run: () => ReturnType<ReturnType<typeof floor>>;
  /** the operation it is a floor of (both when absent) */
  op?: 'decrypt' | 'encrypt';
  target?: number;
}

interface LargeResult {
  dec: Series;
  enc: Series;
  /** `node -e 0` in the same interleaved run */
  base: Series;
  /** the floors by name */
  floors: Map<string, Series>;
}

/** decrypt and encrypt of one large file, against the parser and AES floors. */
async function largeFile(o: Options, f: Files, small: Files, baseRss: number, label: string): Promise<LargeResult> {
  step(label);
  const plainSize = size(f.plain);
  const aes = await aesInputs(f);
  const floors: Floor[] = [];
  const n = `${(aes.values / 1000).toFixed(0)}k`;
  floors.push({
    name: `AES floor: read + ${n} AES-GCM decrypts + write`,
    run: floor('aes-decrypt', aes.enc),
    op: 'decrypt',
    target: 2,
  });
  floors.push({
    name: `AES floor: read + ${n} AES-GCM encrypts + write`,
    run: floor('aes-encrypt', aes.plain),
    op: 'encrypt',
    target: 2,
  });
  if (f.format === 'yaml') {
    floors.push({ name: '`yaml` parse + stringify', run: floor('yaml-pkg', f.plain) });
  } else if (f.format === 'json') {
    floors.push({ name: '`JSON.parse` + `JSON.stringify`', run: floor('json-native', f.plain) });
  } else {
    floors.push({ name: 'split and join lines', run: floor('lines', f.plain) });
  }
  floors.push({
    name: `tsops's ${f.format} store alone: loadPlain + emitPlain, no crypto`,
    run: floor('tsops-store', f.plain, f.format),
  });
  const series = await interleaved(o.runs, [
    { run: tsops(['decrypt', f.enc], { probe: true }) },
    { run: tsops(['encrypt', '--age', AGE_RECIPIENT, f.plain], { probe: true }) },
    { run: () => runNode(['-e', '0'], { env: ENV, probe: true }) },
    { run: tsops(['decrypt', small.enc], { probe: true }) },
    ...floors.map((fl) => ({ run: fl.run })),
  ]);
  const [dec, enc, base, smallDec, ...fs] = series as [Series, Series, Series, Series, ...Series[]];
  for (const [op, s] of [
    ['decrypt', dec],
    ['encrypt', enc],
  ] as const) {
    floors.forEach((fl, i) => {
      if (fl.op && fl.op !== op) return;
      ratioRow(`${label}: \`tsops ${op}\`, wall`, s, `floor: ${fl.name}`, fs[i]!, fl.target);
    });
    if (f.format === 'json') {
      // the issue's JSON floor: JSON.parse + JSON.stringify plus the AES floor (one Node start-up)
      const aesI = floors.findIndex((fl) => fl.op === op);
      const jsonI = floors.findIndex((fl) => fl.name.startsWith('`JSON.parse`'));
      const sum = medianMs(fs[aesI]!) + medianMs(fs[jsonI]!) - medianMs(base);
      ratioRow(
        `${label}: \`tsops ${op}\`, wall`,
        medianMs(s),
        `floor: \`JSON.parse\` + \`JSON.stringify\` + the AES floor (one Node start-up: ${fmtMs(medianMs(base))})`,
        sum,
        2,
      );
    }
    const over = medianRss(s) - baseRss;
    add({
      what: `${label}: \`tsops ${op}\`, peak RSS`,
      tsops: fmtMB(medianRss(s)),
      ref: `above \`node -e 0\` (${fmtMB(baseRss)}), per MB of plaintext (${fmtMB(plainSize)})`,
      refValue: fmtMB(over),
      ratio: fmtX(over / plainSize),
      target: `≤ ${RSS_TARGET}×`,
      met: over / plainSize <= RSS_TARGET,
    });
    // the part that grows with the file: above a small file's decrypt (Node plus the code tsops loads)
    const grown = medianRss(s) - medianRss(smallDec);
    add({
      what: `${label}: \`tsops ${op}\`, peak RSS`,
      tsops: fmtMB(medianRss(s)),
      ref: `above a small ${f.format} file's \`tsops decrypt\` (${fmtMB(medianRss(smallDec))}), per MB of plaintext`,
      refValue: fmtMB(grown),
      ratio: fmtX(grown / plainSize),
    });
  }
  floors.forEach((fl, i) => {
    add({
      what: `${label}: peak RSS of the floor ${fl.name}`,
      tsops: '—',
      ref: '',
      refValue: fmtMB(medianRss(fs[i]!)),
    });
  });
  return { dec, enc, base, floors: new Map(floors.map((fl, i) => [fl.name, fs[i]!])) };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  TMP = mkdtempSync(join(os.tmpdir(), 'tsops-bench-'));
  chmodSync(TMP, 0o700);
  ENV = cleanEnv();
  console.log(`tsops benchmark (temp dir ${TMP})\n${machine()}`);
  snapshot();
  const cleanup = () => rmSync(TMP, { recursive: true, force: true });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  const started = performance.now();
  let profiles = '';
  try {
    const pipeline = await pipelineReady();
    // --- inputs
    const shape = shapeFor(LARGE_VALUES);
    const files: Record<string, Files> = {
      small: { plain: join(TMP, 'small.yaml'), enc: join(TMP, 'small.enc.yaml'), format: 'yaml', ext: 'yaml' },
      smallJson: { plain: join(TMP, 'small.json'), enc: join(TMP, 'small.enc.json'), format: 'json', ext: 'json' },
      smallEnv: { plain: join(TMP, 'small.env'), enc: join(TMP, 'small.enc.env'), format: 'dotenv', ext: 'env' },
      yaml: { plain: join(TMP, 'large.yaml'), enc: join(TMP, 'large.enc.yaml'), format: 'yaml', ext: 'yaml' },
      json: { plain: join(TMP, 'large.json'), enc: join(TMP, 'large.enc.json'), format: 'json', ext: 'json' },
      env: { plain: join(TMP, 'large.env'), enc: join(TMP, 'large.enc.env'), format: 'dotenv', ext: 'env' },
    };
    writeFileSync(files.small!.plain, smallYaml(), { mode: 0o600 });
    writeFileSync(files.smallJson!.plain, largeJson({ groups: 1, perGroup: 40 }), { mode: 0o600 });
    writeFileSync(files.smallEnv!.plain, dotenv(40), { mode: 0o600 });
    writeFileSync(files.yaml!.plain, largeYaml(shape), { mode: 0o600 });
    writeFileSync(files.json!.plain, largeJson(shape), { mode: 0o600 });
    writeFileSync(files.env!.plain, dotenv(DOTENV_LINES), { mode: 0o600 });
    const desc = (f: Files) =>
      `${fmtSize(size(f.plain))} plaintext${pipeline ? `, ${fmtSize(size(f.enc))} encrypted` : ''}`;
    if (!pipeline) {
      naRow('every tsops figure', `n/a: ${pipelineProblem}`);
      await floorsOnly(o, files);
      return;
    }
    if (o.scaleOnly) {
      await scale(
        o,
        medianRss((await interleaved(3, [{ run: () => runNode(['-e', '0'], { env: ENV, probe: true }) }]))[0]!),
      );
      return;
    }
    step('encrypting the inputs');
    for (const f of Object.values(files)) await encryptTo(f.plain, f.enc);
    const labels = { yaml: 'large YAML', json: 'large JSON', env: 'dotenv' };
    inputs.push(
      `- small YAML: ~40 values, ${desc(files.small!)}`,
      `- large YAML: ${(LARGE_VALUES / 1000).toFixed(0)}k values, ${desc(files.yaml!)}`,
      `- large JSON: ${(LARGE_VALUES / 1000).toFixed(0)}k values, ${desc(files.json!)}`,
      `- dotenv: ${(DOTENV_LINES / 1000).toFixed(0)}k lines, ${desc(files.env!)}`,
    );
    await sanity(files);

    const want = (section: string) => !o.only || o.only.has(section);

    // --- start-up
    const baseRss = want('startup')
      ? await startup(o, files.small!.enc)
      : medianRss((await interleaved(3, [{ run: () => runNode(['-e', '0'], { env: ENV, probe: true }) }]))[0]!);

    // --- large files
    const yamlRes = want('yaml') ? await largeFile(o, files.yaml!, files.small!, baseRss, labels.yaml) : undefined;
    const jsonRes = want('json') ? await largeFile(o, files.json!, files.smallJson!, baseRss, labels.json) : undefined;
    const envRes = want('dotenv') ? await largeFile(o, files.env!, files.smallEnv!, baseRss, labels.env) : undefined;

    // --- real sops (each compared with the large-file figure measured above)
    if (want('sops')) {
      const sets: Array<[string, string, Series, number]> = [];
      if (yamlRes) sets.push(['yaml', labels.yaml, yamlRes.dec, 0.25]);
      if (jsonRes) sets.push(['json', labels.json, jsonRes.dec, 1]);
      if (envRes) sets.push(['env', labels.env, envRes.dec, 0.5]);
      await realSops(o, files, sets);
    }

    // --- in-process: tsops's library against sops-age
    if (want('inproc')) await inProcess(o, files, labels);

    // --- edit and set
    if (want('edit') && yamlRes) await editSet(o, files.yaml!, labels.yaml, yamlRes.dec);

    // --- scale
    if (o.scale) await scale(o, baseRss, yamlRes);
    else naRow(`scale: ${SCALE_VALUES / 1e6}M values (~50 MB YAML) encrypt + decrypt`, 'skipped (`--no-scale`)');

    if (o.profile) profiles = await profile(files);
  } finally {
    const { closeOracle } = await import('./sops.js').catch(() => ({ closeOracle: async () => {} }));
    await closeOracle();
    cleanup();
  }
  const total = (performance.now() - started) / 1000;
  const out = report(o, total, profiles);
  process.stdout.write(`\n${table()}\n`);
  if (o.write) {
    writeFileSync(join(ROOT, 'BENCHMARKS.md'), out);
    console.log(`\nwrote BENCHMARKS.md (${total.toFixed(0)} s)`);
  }
}

let pipelineProblem = '';

/** The CLI can encrypt and decrypt (the stores are built). */
async function pipelineReady(): Promise<boolean> {
  try {
    statSync(join(DIST, 'src', 'stores', 'index.js'));
  } catch {
    pipelineProblem = 'dist/src/stores/index.js is missing (src/stores/index.ts not built yet)';
    return false;
  }
  try {
    await runNode([BIN, '--version'], { env: ENV });
    return true;
  } catch (e) {
    pipelineProblem = `the CLI does not run: ${(e as Error).message}`;
    return false;
  }
}

/** Without a working CLI: the floors alone, so the harness still shows something. */
async function floorsOnly(o: Options, files: Record<string, Files>): Promise<void> {
  const [base, a, b, c] = await interleaved(o.runs, [
    { run: () => runNode(['-e', '0'], { env: ENV, probe: true }) },
    { run: floor('yaml-pkg', files.yaml!.plain) },
    { run: floor('yaml-cst', files.yaml!.plain) },
    { run: floor('json-native', files.json!.plain) },
  ]);
  add({ what: '`node -e 0`', tsops: '', refValue: `${fmtMs(medianMs(base!))}, ${fmtMB(medianRss(base!))}` });
  add({
    what: 'floor: `yaml` parse + stringify, large YAML',
    tsops: '',
    refValue: `${fmtMs(medianMs(a!))}, ${fmtMB(medianRss(a!))}`,
  });
  add({
    what: 'floor: `yaml` CST + Composer, large YAML',
    tsops: '',
    refValue: `${fmtMs(medianMs(b!))}, ${fmtMB(medianRss(b!))}`,
  });
  add({
    what: 'floor: JSON.parse + stringify, large JSON',
    tsops: '',
    refValue: `${fmtMs(medianMs(c!))}, ${fmtMB(medianRss(c!))}`,
  });
}

/** tsops decrypts what it encrypted back to the same text (a benchmark of a broken path is worthless). */
async function sanity(files: Record<string, Files>): Promise<void> {
  step('checking that decrypt gives the plaintext back');
  for (const key of ['small', 'yaml', 'json', 'env']) {
    const f = files[key]!;
    const r = await runNode([BIN, 'decrypt', f.enc], { env: ENV, stdout: 'capture' });
    const got = r.stdout!.toString('utf8');
    const want = readFileSync(f.plain, 'utf8');
    if (got !== want) {
      const a = got.split('\n');
      const b = want.split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      const msg = `${f.enc}: tsops decrypt does not give back the plaintext byte for byte (first difference at line ${i + 1}: ${JSON.stringify(a[i]?.slice(0, 60))} vs ${JSON.stringify(b[i]?.slice(0, 60))})`;
      console.log(`warning: ${msg}`);
      notes.push(`Round trip: ${msg.replace(TMP + '/', '')}.`);
    }
  }
}

async function realSops(
  o: Options,
  files: Record<string, Files>,
  sets: Array<[string, string, Series, number]>,
): Promise<void> {
  step('real sops (decrypt library)');
  let sops: typeof import('./sops.js');
  try {
    sops = await import('./sops.js');
  } catch (e) {
    for (const [, label] of sets) naRow(`${label}: decrypt vs real sops`, `n/a: ${(e as Error).message}`);
    return;
  }
  const why = await sops.sopsAvailable();
  if (why) {
    for (const [, label] of sets) naRow(`${label}: decrypt vs real sops`, `n/a: oracle unavailable (${why})`);
    return;
  }
  const smallOf: Record<string, Files> = { yaml: files.small!, json: files.smallJson!, env: files.smallEnv! };
  for (const [key, label, dec, target] of sets) {
    const format = key === 'env' ? 'dotenv' : (key as 'yaml' | 'json');
    try {
      // tsops's in-CLI figure compares with sops's in-process one: take tsops's small-file time off too
      const t = await sops.timeSops(
        readFileSync(smallOf[key]!.enc),
        readFileSync(files[key]!.enc),
        format,
        { SOPS_AGE_KEY: AGE_KEY, TSOPS_BENCH_SLOT: key },
        o.runs,
      );
      const [smallT] = await interleaved(o.runs, [{ run: tsops(['decrypt', smallOf[key]!.enc]) }]);
      const ours = medianMs(dec) - medianMs(smallT!);
      ratioRow(
        `${label}: decrypt time above the small file's`,
        ours,
        'real sops decrypt library, same warm process (large − small)',
        t.ms,
        target,
      );
      if (t.peakRss !== undefined) {
        add({
          what: `${label}: real sops peak RSS (Lambda process VmHWM; after the small file: ${fmtMB(t.baseRss)})`,
          tsops: fmtMB(medianRss(dec)),
          ref: 'real sops',
          refValue: fmtMB(t.peakRss),
          ratio: fmtX(medianRss(dec) / t.peakRss),
        });
      }
    } catch (e) {
      naRow(`${label}: decrypt vs real sops`, `n/a: ${(e as Error).message}`);
    }
  }
}

async function inProcess(o: Options, files: Record<string, Files>, labels: Record<string, string>): Promise<void> {
  step('in-process libraries');
  for (const key of ['yaml', 'json']) {
    const f = files[key]!;
    const res: Record<string, { importMs: number; ms: number[]; rss: number; check: string }> = {};
    for (const lib of ['tsops-data', 'sops-age']) {
      try {
        const r = await runNode([INPROC, lib, f.enc, f.format, String(o.runs)], { env: ENV, stdout: 'capture' });
        res[lib] = JSON.parse(r.stdout!.toString('utf8'));
        if (res[lib]!.check !== 'before')
          notes.push(
            `In-process ${lib} on ${key}: the decrypted bench_marker was ${JSON.stringify(res[lib]!.check)}, not "before".`,
          );
      } catch (e) {
        naRow(`${labels[key]}: in-process ${lib}`, `n/a: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const t = res['tsops-data'];
    const sa = res['sops-age'];
    if (!t || !sa) continue;
    ratioRow(
      `${labels[key]}: in-process \`decryptData()\` (to JS data, MAC verified)`,
      median(t.ms),
      '`sops-age` `decryptSops()` (to JS data, no MAC check)',
      median(sa.ms),
    );
    ratioRow(`${labels[key]}: in-process peak RSS, \`decryptData()\``, t.rss, '`sops-age`', sa.rss, undefined, fmtMB);
    ratioRow(
      `${labels[key]}: in-process \`import()\` of the library (tsops loads stores and age on first use)`,
      t.importMs,
      '`sops-age`',
      sa.importMs,
    );
  }
}

async function editSet(o: Options, f: Files, label: string, dec: Series): Promise<void> {
  step('edit / set');
  const cmds = await cliCommands();
  const work = join(TMP, 'work.enc.yaml');
  const reset = () => copyFileSync(f.enc, work);
  if (!cmds.has('edit')) naRow(`${label}: \`tsops edit\``, 'n/a (no `edit` command yet)');
  else {
    const noop = join(TMP, 'editor-noop.sh');
    const change = join(TMP, 'editor-change.sh');
    writeFileSync(noop, '#!/bin/sh\nexit 0\n', { mode: 0o700 });
    writeFileSync(change, '#!/bin/sh\nexec sed -i "s/^bench_marker: before$/bench_marker: after/" "$1"\n', {
      mode: 0o700,
    });
    const [un, ch] = await interleaved(o.runs, [
      { before: reset, run: tsops(['edit', work], { env: { ...ENV, EDITOR: noop }, okCodes: [200], probe: true }) },
      { before: reset, run: tsops(['edit', work], { env: { ...ENV, EDITOR: change }, probe: true }) },
    ]);
    const check = await runNode([BIN, 'decrypt', '--extract', '["bench_marker"]', work], {
      env: ENV,
      stdout: 'capture',
    });
    if (check.stdout!.toString('utf8') !== 'after')
      notes.push(
        `edit: after the changing editor, bench_marker decrypts to ${JSON.stringify(check.stdout!.toString('utf8'))}, not "after".`,
      );
    ratioRow(
      `${label}: \`tsops edit\`, editor changes nothing (exit 200), wall`,
      un!,
      '`tsops decrypt` of the same file',
      dec,
    );
    ratioRow(
      `${label}: \`tsops edit\`, editor changes one value (re-encrypts), wall`,
      ch!,
      '`tsops decrypt` of the same file',
      dec,
    );
    add({ what: `${label}: \`tsops edit\` (one value changed), peak RSS`, tsops: fmtMB(medianRss(ch!)) });
  }
  if (!cmds.has('set')) naRow(`${label}: \`tsops set\``, 'n/a (no `set` command yet)');
  else {
    const [s] = await interleaved(o.runs, [
      { before: reset, run: tsops(['set', work, '["bench_marker"]', '"after"'], { probe: true }) },
    ]);
    ratioRow(`${label}: \`tsops set\` of one value, wall`, s!, '`tsops decrypt` of the same file', dec);
    add({ what: `${label}: \`tsops set\`, peak RSS`, tsops: fmtMB(medianRss(s!)) });
  }
  rmSync(work, { force: true });
}

async function scale(o: Options, baseRss: number, large?: LargeResult): Promise<void> {
  step('scale check');
  const plain = join(TMP, 'scale.yaml');
  const enc = join(TMP, 'scale.enc.yaml');
  writeFileSync(plain, largeYaml(shapeFor(SCALE_VALUES), 7), { mode: 0o600 });
  const plainSize = size(plain);
  const label = `scale: ${SCALE_VALUES / 1e6}M values (${fmtMB(plainSize)} YAML)`;
  const runs = Math.min(o.runs, 2);
  try {
    await encryptTo(plain, enc);
    const [e, d] = await interleaved(runs, [
      { run: tsops(['encrypt', '--age', AGE_RECIPIENT, plain], { probe: true }) },
      { run: tsops(['decrypt', enc], { probe: true }) },
    ]);
    for (const [op, s] of [
      ['encrypt', e!],
      ['decrypt', d!],
    ] as const) {
      ratioRow(`${label}: \`tsops ${op}\` (${runs} runs), wall`, medianMs(s), 'the target', SCALE_TARGET_MS, 1);
      const rss = medianRss(s);
      ratioRow(`${label}: \`tsops ${op}\`, peak RSS`, rss, 'the target', SCALE_TARGET_RSS, 1, fmtMB);
      const over = rss - baseRss;
      add({
        what: `${label}: \`tsops ${op}\`, peak RSS above \`node -e 0\` per MB of plaintext`,
        tsops: fmtMB(over),
        ref: '',
        refValue: '',
        ratio: fmtX(over / plainSize),
        target: `≤ ${RSS_TARGET}×`,
        met: over / plainSize <= RSS_TARGET,
      });
      if (large) {
        // linear: the time per value of the 1M file against the 100k file's (measured earlier in this run)
        const small = op === 'encrypt' ? large.enc : large.dec;
        const per = (ms: number, n: number) => (ms - medianMs(large.base)) / n;
        ratioRow(
          `${label}: \`tsops ${op}\`, time per value (start-up taken off)`,
          per(medianMs(s), SCALE_VALUES),
          '100k-value file, same run',
          per(medianMs(small), LARGE_VALUES),
          SCALE_LINEAR,
          (x) => `${(x * 1000).toFixed(1)} µs`,
        );
      }
    }
  } catch (e) {
    naRow(label, `failed: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(plain, { force: true });
    rmSync(enc, { force: true });
  }
}

async function profile(files: Record<string, Files>): Promise<string> {
  step('profiles');
  const parts: string[] = [];
  // bin/tsops (the bundle) for start-up as users run it; the unbundled sources elsewhere, so the
  // profile names tsops's modules
  const cli = join(DIST, 'bench', 'cli-unbundled.js');
  const cases: Array<[string, string[]]> = [
    ['start-up: `bin/tsops decrypt small.enc.yaml`', [BIN, 'decrypt', files.small!.enc]],
    ['start-up, unbundled sources: `tsops decrypt small.enc.yaml`', [cli, 'decrypt', files.small!.enc]],
    ['`tsops decrypt` large YAML (unbundled sources)', [cli, 'decrypt', files.yaml!.enc]],
    ['`tsops encrypt` large YAML (unbundled sources)', [cli, 'encrypt', '--age', AGE_RECIPIENT, files.yaml!.plain]],
    ['`tsops decrypt` large JSON (unbundled sources)', [cli, 'decrypt', files.json!.enc]],
    ['`tsops encrypt` large JSON (unbundled sources)', [cli, 'encrypt', '--age', AGE_RECIPIENT, files.json!.plain]],
  ];
  for (const [title, args] of cases) {
    try {
      parts.push(formatSummary(title, await profileNode(args, { env: ENV }, 12)));
    } catch (e) {
      parts.push(`#### ${title}\n\nfailed: ${(e as Error).message}`);
    }
  }
  const text = parts.join('\n\n');
  process.stdout.write(`\n${text}\n`);
  return text;
}

function report(o: Options, totalS: number, profiles: string): string {
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); do not edit by hand. Re-run on your machine with',
    '`npm run bench` (`--no-scale` skips the 1M-value file, `--profile` adds CPU profiles, `--runs N`).',
    '',
    '## Machine',
    '',
    machine(),
    '',
    '## Inputs',
    '',
    ...inputs,
    `- the CLI measured: ${entryUsed || 'n/a'}`,
    '',
    `## Results (${o.runs} runs per large-file figure, ${Math.max(10, o.runs * 5)} per start-up figure; medians; total ${totalS.toFixed(0)} s)`,
    '',
    table(),
    '',
    '## How these are measured',
    '',
    '- Inputs are generated in a temporary folder (fixed seed): the small file has ~40 values; the large',
    '  files have 100k values in 2,000 maps of 50 (every tenth map holds a 5-item list), mostly 27–43',
    '  character strings with ints, floats and booleans; the dotenv file has 10k lines. tsops encrypts',
    '  them for one age recipient.',
    '- Wall time is spawn to exit of `node bin/tsops ...` with stdout on /dev/null. Peak RSS is the',
    "  child's own `process.resourceUsage().maxRSS`, written at exit by a preloaded probe",
    '  (bench/rss-probe.ts), with its CPU time (user + system, all threads), shown as "(CPU …)": on a busy',
    '  machine CPU time is the steadier figure. Figures that are compared were run interleaved in the same',
    '  session, and ratios are of wall times. What runs is a copy of the build taken when the suite starts.',
    '- Floors are child processes that read the plaintext, parse it and print it with no crypto: the',
    "  `yaml` package's document API, the `yaml` CST parser and composer that tsops's YAML store runs,",
    "  and tsops's own store (its loadPlain + emitPlain) — so `tsops ÷ store floor` is what the crypto",
    '  walk, the MAC, the key unwrap and the metadata add.',
    "- Real sops: the sops Go decrypt library as the test suite's oracle runs it (test/helpers/sops-oracle.ts),",
    "  one warm process; its figure is median(large file) − median(small file), and tsops's is compared",
    "  the same way (its CLI time for the large file minus that for the small file). The oracle's time still",
    '  includes moving the file base64-encoded in and the decrypted tree as JSON out over loopback, so it',
    '  is an upper bound for sops itself. The real sops library only decrypts: encrypt has no sops figure.',
    '- `sops-age` (npm, a devDependency used only here) decrypts to JavaScript data and does not verify',
    "  the MAC; tsops's `decryptData()` (which does) is the like-for-like call. Each library runs in a child",
    '  process of its own; the first of its calls is cold, the figure is the median of all.',
    '- `edit` uses an editor script: one that changes nothing (tsops exits 200 and leaves the file alone)',
    '  and one that changes one value with `sed` (the re-encryption path). `set` changes the same value.',
    ...(notes.length ? ['', '## Notes from this run', '', ...notes.map((n) => `- ${n}`)] : []),
    ...(profiles ? ['', '## CPU profiles (`--profile`)', '', profiles] : []),
    '',
  ].join('\n');
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
