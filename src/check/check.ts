/**
 * `tsops check`: a gate for CI and pre-commit that needs no key. For every file a creation rule
 * names (and every file that carries sops metadata) it reports, one problem per line:
 *
 * - `not-encrypted`: a `path_regex` rule matches the file but it has no sops metadata;
 * - `invalid-metadata`: the metadata cannot be read (the checks every command makes when it loads
 *   a file, src/metadata/metadata.ts), or it has no MAC, a MAC or wrapped key that is not in
 *   sops's format, no master key, or a threshold above its number of key groups;
 * - `plaintext-value`: a value the file's scope says is encrypted is not `ENC[…]` (pasted in);
 * - `key-drift`: the master keys or threshold differ from the matching rule's — the comparison
 *   `updatekeys` makes (src/ops/updatekeys.ts `compareWithRule`); the fix is that `updatekeys`;
 * - `old-data-key`: with `maxAge`, the data key is provably older than that;
 * - `config`: the `.sops.yaml` cannot be read, or the matching rule cannot be used;
 * - `unreadable`: a file named explicitly cannot be read.
 *
 * Which files: the paths given (default the working directory); a folder inside a Git work tree is
 * listed by Git (tracked files and untracked ones not ignored: a gitignored decrypted copy is not
 * a problem), otherwise walked (`.git` and `node_modules` skipped, symbolic links not followed).
 * `.sops.yaml` files are never checked. A rule without `path_regex` (a catch-all, which names the
 * keys, not the files that must be encrypted) makes no file subject; files with sops metadata are
 * still checked against it.
 *
 * The data key's age: a data key is made when a file is encrypted or rotated, and every master key
 * is wrapped then (age entries record no time; others record `created_at`); `lastmodified` changes
 * with every edit. The data key is therefore at least as old as the earliest of every key's
 * `created_at` and `lastmodified`, and that is the age compared with `maxAge`: a file reported is
 * certainly due for rotation, while an age-only file edited recently (whose data key may be older)
 * is not reported.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseEncrypted } from '../aes/cipher.js';
import { SopsError, messageOf } from '../errors.js';
import { describeKey } from '../keys/identity.js';
import { parseMetadata, type Metadata } from '../metadata/metadata.js';
import { collectTargets, compareWithRule } from '../ops/updatekeys.js';
import { formatFromPath, storeFor } from '../stores/index.js';
import type { Format } from '../stores/types.js';
import { describePath, unencryptedValues } from '../tree/crypt.js';
import type { Tree } from '../tree/types.js';
import { formatGoRfc3339, parseGoRfc3339 } from '../util/gotime.js';

export type CheckProblemKind =
  'not-encrypted' | 'invalid-metadata' | 'plaintext-value' | 'key-drift' | 'old-data-key' | 'config' | 'unreadable';

export interface CheckProblem {
  /** The file (relative to `cwd` when under it). */
  file: string;
  kind: CheckProblemKind;
  /** What is wrong (never a value of the file). */
  message: string;
  /** What to do about it, e.g. the exact command to run. */
  fix?: string;
}

export interface CheckOptions {
  /** The folder relative paths are resolved from (default: the working directory). */
  cwd?: string;
  /** The `.sops.yaml` to use instead of looking it up from each file's folder. */
  config?: string;
  /** The format of every file (default: from each file's extension). */
  inputType?: Format;
  /** Report data keys older than this many milliseconds (see `parseDuration`). */
  maxAge?: number;
  /** The time ages are measured at (default: now). */
  now?: Date;
  /** List folders inside a Git work tree with Git, skipping ignored files (default true). */
  git?: boolean;
}

export interface CheckResult {
  /** How many files were checked (subject to a rule or carrying sops metadata). */
  checked: number;
  problems: CheckProblem[];
}

// --- durations ------------------------------------------------------------------------------------

const UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * A duration: a sequence of numbers with units `s`, `m`, `h` (Go's), `d`, `w` and `y` (365 days),
 * e.g. `90d`, `2160h`, `1y`, `1w3d`. Throws a SopsError (exit 1) otherwise.
 */
export function parseDuration(s: string): number {
  const text = s.trim();
  const re = /(\d+(?:\.\d+)?)([smhdwy])/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (!text || at !== text.length || total <= 0) {
    throw new SopsError(
      `invalid duration ${JSON.stringify(s)}: use a number and a unit (s, m, h, d, w, y), e.g. 90d, 2160h, 1y`,
    );
  }
  return total;
}

function formatAge(ms: number): string {
  for (const [unit, name] of [
    ['d', 'day'],
    ['h', 'hour'],
    ['m', 'minute'],
  ] as const) {
    const n = Math.floor(ms / UNITS[unit]!);
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'}`;
  }
  const n = Math.floor(ms / 1000);
  return `${n} second${n === 1 ? '' : 's'}`;
}

// --- finding the files ----------------------------------------------------------------------------

interface Candidate {
  abs: string;
  explicit: boolean;
}

/** The files of a folder as Git lists them (tracked, and untracked not ignored); undefined outside a work tree. */
function gitFiles(dir: string): string[] | undefined {
  const r = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: dir,
    encoding: 'buffer',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (r.status !== 0) return undefined;
  const out = r.stdout.toString('utf8');
  const files = [...new Set(out.split('\0').filter(Boolean))];
  return files.map((f) => join(dir, f)).sort();
}

function candidates(paths: string[], cwd: string, git: boolean): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const add = (abs: string, explicit: boolean) => {
    if (seen.has(abs)) return;
    seen.add(abs);
    out.push({ abs, explicit });
  };
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      /* reported when read */
    }
    if (!isDir) {
      add(abs, true);
      continue;
    }
    const listed = git ? gitFiles(abs) : undefined;
    if (listed) {
      for (const f of listed) {
        try {
          if (lstatSync(f).isFile()) add(f, false); // (deleted files and links are left out)
        } catch {
          /* listed by Git, gone from the work tree */
        }
      }
    } else {
      for (const t of collectTargets([abs])) if (!t.skip) add(resolve(t.path), false);
    }
  }
  return out;
}

// --- one file -------------------------------------------------------------------------------------

/** A shell word for a path in a printed command. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_\-./@%+=:,]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

type ConfigModule = typeof import('../config/config.js');
type SopsConfig = import('../config/config.js').SopsConfig;

interface Run {
  o: CheckOptions;
  cwd: string;
  cfgMod: ConfigModule;
  /** Loaded configs by path; an Error when the config cannot be read (reported once). */
  configs: Map<string, SopsConfig | Error>;
  problems: CheckProblem[];
  name: (abs: string) => string;
}

function configFor(abs: string, run: Run): SopsConfig | undefined {
  const path = run.cfgMod.findConfigFile({ explicit: run.o.config, fileDir: dirname(abs), cwd: run.cwd });
  if (!path) return undefined;
  let cfg = run.configs.get(path);
  if (!cfg) {
    try {
      cfg = run.cfgMod.loadConfig(path);
    } catch (e) {
      cfg = e instanceof Error ? e : new Error(messageOf(e));
      run.problems.push({ file: run.name(path), kind: 'config', message: cfg.message });
    }
    run.configs.set(path, cfg);
  }
  return cfg instanceof Error ? undefined : cfg;
}

/** The earliest time the metadata records (see the module comment), in ms since the epoch. */
function dataKeyBorn(m: Metadata): number | undefined {
  let born: number | undefined;
  const times = [m.lastModified, ...m.keyGroups.flat().map((k) => k.createdAt ?? '')];
  for (const t of times) {
    const g = t ? parseGoRfc3339(t) : undefined;
    if (!g) continue;
    const ms = Date.parse(formatGoRfc3339(g));
    if (!Number.isNaN(ms) && (born === undefined || ms < born)) born = ms;
  }
  return born;
}

/** The well-formedness checks beyond what loading the metadata checks. */
function metadataProblems(m: Metadata): string[] {
  const out: string[] = [];
  if (!m.mac) out.push('the file has no MAC');
  else {
    try {
      parseEncrypted(m.mac);
    } catch {
      out.push("the MAC is not in sops's encrypted format");
    }
  }
  const keys = m.keyGroups.flat();
  if (keys.length === 0) out.push('the file lists no master keys');
  for (const k of keys) if (!k.enc) out.push(`${describeKey(k)} holds no encrypted data key`);
  if (m.keyGroups.length > 1 && m.shamirThreshold > m.keyGroups.length) {
    out.push(`shamir_threshold ${m.shamirThreshold} is more than its ${m.keyGroups.length} key groups`);
  }
  if (!m.version) out.push('the metadata has no version');
  return out;
}

async function checkFile(c: Candidate, run: Run): Promise<boolean> {
  const { o, cfgMod } = run;
  const file = run.name(c.abs);
  const problem = (kind: CheckProblemKind, message: string, fix?: string) =>
    run.problems.push({ file, kind, message, ...(fix ? { fix } : {}) });
  if (basename(c.abs) === cfgMod.CONFIG_FILE_NAME) return false;
  let data: Buffer;
  try {
    data = readFileSync(c.abs);
  } catch (e) {
    if (!c.explicit) return false;
    const code = (e as NodeJS.ErrnoException).code;
    problem('unreadable', `cannot read the file: ${code === 'ENOENT' ? 'no such file or directory' : messageOf(e)}`);
    return true;
  }
  // which rule applies (a rule that cannot be used is a problem of every file it matches)
  const cfg = configFor(c.abs, run);
  let match: ReturnType<ConfigModule['matchRule']>;
  if (cfg) {
    try {
      match = cfgMod.matchRule(cfg, c.abs, { cwd: run.cwd });
    } catch (e) {
      // (a rule that cannot be matched, e.g. a path_regex that does not compile: reported once)
      const message = messageOf(e);
      if (!run.problems.some((p) => p.kind === 'config' && p.message === message)) {
        run.problems.push({ file: run.name(cfg.path), kind: 'config', message });
      }
    }
  }
  const named = !!match?.rule.pathRegex;
  const maybeSops = data.includes('sops');
  if (!named && !maybeSops) return false;

  const format = o.inputType ?? formatFromPath(c.abs);
  const encryptFix = `tsops encrypt -i ${shellWord(file)}`;
  let tree: Tree;
  let plainMetadata;
  try {
    ({ tree, metadata: plainMetadata } = (await storeFor(format)).loadEncrypted(data));
  } catch (e) {
    if (!named && !(c.explicit && maybeSops)) return false;
    if (!maybeSops) problem('not-encrypted', `${match!.rule.location} says it is encrypted, but it is not`, encryptFix);
    else problem('invalid-metadata', `cannot be read as a sops ${format} file: ${messageOf(e)}`);
    return true;
  }
  if (plainMetadata === undefined) {
    if (!named) return false;
    problem('not-encrypted', `${match!.rule.location} says it is encrypted, but it has no sops metadata`, encryptFix);
    return true;
  }
  let metadata: Metadata;
  try {
    metadata = parseMetadata(plainMetadata);
  } catch (e) {
    problem('invalid-metadata', messageOf(e), 'restore the file from version control');
    return true;
  }
  for (const m of metadataProblems(metadata)) problem('invalid-metadata', m, 'restore the file from version control');

  let plain: string[][] = [];
  try {
    plain = unencryptedValues(tree, metadata.scope);
  } catch (e) {
    problem('invalid-metadata', messageOf(e));
  }
  for (const p of plain) {
    problem(
      'plaintext-value',
      `the value at ${describePath(p)} is not encrypted, but the file's settings say it should be`,
      `treat the value as leaked: delete it from the file, then tsops set ${shellWord(file)} ${shellWord(describePath(p))} VALUE`,
    );
  }

  if (match) {
    try {
      const cmp = compareWithRule(metadata, match.rule, cfgMod);
      if (cmp.changes) {
        const parts: string[] = [];
        cmp.diffs.forEach((d, i) => {
          const g = cmp.diffs.length > 1 ? `group ${i + 1}: ` : '';
          for (const k of d.added) parts.push(`${g}missing ${describeKey(k)}`);
          for (const k of d.removed) parts.push(`${g}extra ${describeKey(k)}`);
          if (d.orderChanged) parts.push(`${g}keys in another order`);
        });
        if (cmp.threshold !== metadata.shamirThreshold) {
          parts.push(`shamir_threshold ${metadata.shamirThreshold} instead of ${cmp.threshold}`);
        }
        const configFlag = o.config ? ` --config ${shellWord(o.config)}` : '';
        problem(
          'key-drift',
          `master keys differ from ${match.rule.location}: ${parts.join(', ')}`,
          `tsops updatekeys${configFlag} ${shellWord(file)}`,
        );
      }
    } catch (e) {
      problem('config', `${match.rule.location} cannot be used: ${messageOf(e)}`);
    }
  }

  if (o.maxAge !== undefined) {
    const born = dataKeyBorn(metadata);
    const now = (o.now ?? new Date()).getTime();
    if (born !== undefined && now - born > o.maxAge) {
      problem(
        'old-data-key',
        `the data key is at least ${formatAge(now - born)} old (more than --max-age ${formatAge(o.maxAge)})`,
        `tsops rotate -i ${shellWord(file)}`,
      );
    }
  }
  return true;
}

// --- all the files --------------------------------------------------------------------------------

/** Check the files at `paths` (files, or folders; default the working directory). Needs no key. */
export async function checkPaths(paths: string[], o: CheckOptions = {}): Promise<CheckResult> {
  const cwd = resolve(o.cwd ?? process.cwd());
  const run: Run = {
    o,
    cwd,
    cfgMod: await import('../config/config.js'),
    configs: new Map(),
    problems: [],
    name: (abs) => {
      const r = relative(cwd, abs);
      return r && !r.startsWith('..') ? r : abs;
    },
  };
  let checked = 0;
  for (const c of candidates(paths.length ? paths : ['.'], cwd, o.git ?? true)) {
    if (await checkFile(c, run)) checked++;
  }
  return { checked, problems: run.problems };
}

/** One problem as a line: `file: problem (fix: …)`. */
export function formatProblem(p: CheckProblem): string {
  return `${p.file}: ${p.message}${p.fix ? ` (fix: ${p.fix})` : ''}`;
}
