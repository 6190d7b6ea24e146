/**
 * Benchmark inputs: deterministic plaintext files (a fixed PRNG seed, so every run measures the same
 * bytes). Values are random alphanumerics and numbers, never real secrets.
 *
 * - small: ~40 values of every YAML type, nested maps, a list and a comment;
 * - large: `groups × perGroup` values in two levels of maps (100k values ≈ 5 MB of YAML, ≈ 5.3 MB of JSON);
 * - dotenv: one `KEY=value` line per value.
 *
 * Every generated YAML/JSON file starts with `bench_marker: before`, the value the edit benchmark's
 * editor changes.
 */

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function word(rand: () => number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += ALNUM[Math.floor(rand() * ALNUM.length)]!;
  return s;
}

/** A leaf of the large files: mostly 27–43 character strings, some ints, floats and booleans (as real configs). */
type Leaf = string | number | boolean;

function leaf(rand: () => number, i: number): Leaf {
  const r = i % 20;
  if (r === 7) return Math.floor(rand() * 1_000_000);
  if (r === 13) return Math.round(rand() * 1e6) / 1e3 + 0.5; // never an integer
  if (r === 17) return rand() < 0.5;
  return word(rand, 27 + Math.floor(rand() * 17));
}

export interface Shape {
  groups: number;
  perGroup: number;
}

/** Shape of a file of about `values` leaves (50 per group). */
export function shapeFor(values: number): Shape {
  const perGroup = 50;
  return { groups: Math.ceil(values / perGroup), perGroup };
}

function groupName(g: number): string {
  return `service_${String(g).padStart(6, '0')}`;
}

function keyName(k: number): string {
  return `setting_${String(k).padStart(3, '0')}`;
}

function yamlLeaf(v: Leaf): string {
  return typeof v === 'string' ? v : String(v);
}

/** The large YAML file (block style, indent 4 as sops writes it). Built in chunks to keep memory flat. */
export function largeYaml(shape: Shape, seed = 1): string {
  const rand = prng(seed);
  const parts: string[] = ['bench_marker: before\n'];
  let n = 0;
  for (let g = 0; g < shape.groups; g++) {
    const lines = [`${groupName(g)}:`];
    for (let k = 0; k < shape.perGroup; k++) {
      // every 10th group holds one list of 5 values instead of 5 scalar keys
      if (g % 10 === 3 && k === 0) {
        lines.push('    hosts:');
        for (let j = 0; j < 5; j++) lines.push(`        - ${yamlLeaf(leaf(rand, n++))}`);
        k += 4;
        continue;
      }
      lines.push(`    ${keyName(k)}: ${yamlLeaf(leaf(rand, n++))}`);
    }
    parts.push(lines.join('\n') + '\n');
  }
  return parts.join('');
}

/** The large JSON file (the same tree, tab-indented as sops writes JSON). */
export function largeJson(shape: Shape, seed = 1): string {
  const rand = prng(seed);
  const parts: string[] = ['{\n\t"bench_marker": "before"'];
  let n = 0;
  for (let g = 0; g < shape.groups; g++) {
    const lines: string[] = [];
    for (let k = 0; k < shape.perGroup; k++) {
      if (g % 10 === 3 && k === 0) {
        const items: string[] = [];
        for (let j = 0; j < 5; j++) items.push(`\t\t\t${JSON.stringify(leaf(rand, n++))}`);
        lines.push(`\t\t"hosts": [\n${items.join(',\n')}\n\t\t]`);
        k += 4;
        continue;
      }
      lines.push(`\t\t"${keyName(k)}": ${JSON.stringify(leaf(rand, n++))}`);
    }
    parts.push(`,\n\t"${groupName(g)}": {\n${lines.join(',\n')}\n\t}`);
  }
  parts.push('\n}\n');
  return parts.join('');
}

/** A dotenv file of `lines` assignments. */
export function dotenv(lines: number, seed = 3): string {
  const rand = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`APP_SETTING_${String(i).padStart(5, '0')}=${yamlLeaf(leaf(rand, i))}`);
  return out.join('\n') + '\n';
}

/** The small file: about 40 values of every type, as a typical service config. */
export function smallYaml(seed = 2): string {
  const rand = prng(seed);
  const w = (n = 24) => word(rand, n);
  return [
    'bench_marker: before',
    '# database settings',
    'database:',
    '    host: db.internal.example',
    '    port: 5432',
    `    user: ${w(8)}`,
    `    password: ${w(32)}`,
    '    pool: 20',
    '    timeout: 2.5',
    '    ssl: true',
    'cache:',
    '    host: cache.internal.example',
    '    port: 6379',
    `    password: ${w(32)}`,
    '    ttl_seconds: 3600',
    'api:',
    `    key: ${w(40)}`,
    `    secret: ${w(40)}`,
    '    endpoints:',
    '        - https://a.example/v1',
    '        - https://b.example/v1',
    '        - https://c.example/v1',
    '    rate_limit: 100',
    '    debug: false',
    'oauth:',
    `    client_id: ${w(16)}`,
    `    client_secret: ${w(48)}`,
    '    scopes:',
    '        - read',
    '        - write',
    '        - admin',
    'smtp:',
    '    host: smtp.example',
    '    port: 587',
    `    user: ${w(10)}`,
    `    password: ${w(24)}`,
    'features:',
    '    new_ui: true',
    '    beta_search: false',
    '    max_items: 250',
    '    ratio: 0.75',
    'tls:',
    `    cert_fingerprint: ${w(64)}`,
    `    key_passphrase: ${w(32)}`,
    `signing_key: ${w(44)}`,
    `webhook_token: ${w(36)}`,
    '',
  ].join('\n');
}

/** Count the leaves of a generated YAML file (lines holding a value). */
export function countYamlValues(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    if (t.startsWith('- ') || !t.endsWith(':')) n++;
  }
  return n;
}
