/**
 * `tsops git setup`: the `.gitattributes` lines for the paths the `.sops.yaml` creation rules name,
 * and the git config of the three drivers. Idempotent: lines and settings already there are left
 * alone, so a second run changes nothing.
 *
 * A rule's `path_regex` is a Go regular expression matched against the path relative to the
 * config's folder; `.gitattributes` takes globs. A simple regex becomes globs that match at least
 * the same paths (a suffix like `\.enc\.ya?ml$` -> `*.enc.yaml`, `*.enc.yml`; a folder like
 * `^secrets/.*` -> `secrets/**`; alternatives expand); anything else (and a rule without
 * `path_regex`) gets the catch-all `*`. Wider is safe for the diff and merge drivers, which show and
 * merge other files as git would; the filter is only ever given to derived globs, never to `*`
 * (a catch-all creation rule would have it encrypt every file of the repository): add such lines by
 * hand. The `.gitattributes` lives in the config's folder, so its patterns and the rules' paths
 * start at the same place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SopsConfig } from '../config/config.js';

/** One regex token: a literal character, `.*`/`.+`, `[^/]*`/`[^/]+`, `.`, an anchor, or alternatives. */
type Tok =
  | { t: 'lit'; c: string }
  | { t: 'any' }
  | { t: 'seg' }
  | { t: 'one' }
  | { t: 'start' }
  | { t: 'end' }
  | { t: 'alt'; alts: Tok[][] };

const MAX_GLOBS = 32;

class Unsupported extends Error {}

/** Parse the subset of Go regex syntax that globs can express; throws Unsupported otherwise. */
function parseRegex(re: string): Tok[][] {
  let i = 0;
  const alternatives = (): Tok[][] => {
    const alts: Tok[][] = [[]];
    while (i < re.length) {
      const c = re[i]!;
      const cur = alts[alts.length - 1]!;
      if (c === ')') return alts;
      if (c === '|') {
        alts.push([]);
        i++;
        continue;
      }
      let tok: Tok;
      if (c === '^') {
        tok = { t: 'start' };
        i++;
      } else if (c === '$') {
        tok = { t: 'end' };
        i++;
      } else if (c === '\\') {
        const n = re[i + 1];
        if (n === undefined || /[A-Za-z0-9]/.test(n)) throw new Unsupported();
        tok = { t: 'lit', c: n };
        i += 2;
      } else if (c === '.') {
        i++;
        if (re[i] === '*' || re[i] === '+') {
          i++;
          tok = { t: 'any' };
        } else tok = { t: 'one' };
      } else if (re.startsWith('[^/]', i) && (re[i + 4] === '*' || re[i + 4] === '+')) {
        i += 5;
        tok = { t: 'seg' };
      } else if (c === '(') {
        i += re.startsWith('(?:', i) ? 3 : 1;
        if (re[i] === '?') throw new Unsupported(); // flags, named groups
        const inner = alternatives();
        if (re[i] !== ')') throw new Unsupported();
        i++;
        tok = { t: 'alt', alts: inner };
      } else if (/[A-Za-z0-9/_\-,=@~%:]/.test(c)) {
        tok = { t: 'lit', c };
        i++;
      } else throw new Unsupported();
      if (re[i] === '?' && (tok.t === 'lit' || tok.t === 'alt')) {
        i++;
        tok = { t: 'alt', alts: [[tok], []] };
      }
      if (re[i] === '*' || re[i] === '+' || re[i] === '?' || re[i] === '{') throw new Unsupported();
      cur.push(tok);
    }
    return alts;
  };
  const top = alternatives();
  if (i !== re.length) throw new Unsupported();
  // expand alternatives into plain sequences
  const expand = (seq: Tok[]): Tok[][] => {
    let out: Tok[][] = [[]];
    for (const tok of seq) {
      if (tok.t !== 'alt') {
        out = out.map((s) => [...s, tok]);
        continue;
      }
      const choices = tok.alts.flatMap(expand);
      out = out.flatMap((s) => choices.map((c) => [...s, ...c]));
      if (out.length > MAX_GLOBS) throw new Unsupported();
    }
    return out;
  };
  return top.flatMap(expand);
}

function globOf(seq: Tok[]): string[] {
  let toks = [...seq];
  const anchoredStart = toks[0]?.t === 'start';
  if (anchoredStart) toks.shift();
  const anchoredEnd = toks[toks.length - 1]?.t === 'end';
  if (anchoredEnd) toks.pop();
  let openStart = !anchoredStart;
  let openEnd = !anchoredEnd;
  while (toks[0]?.t === 'any') {
    toks = toks.slice(1);
    openStart = true;
  }
  while (toks[toks.length - 1]?.t === 'any') {
    toks = toks.slice(0, -1);
    openEnd = true;
  }
  if (toks.length === 0) return ['*'];
  let body = '';
  toks.forEach((tok, k) => {
    const prev = toks[k - 1];
    const next = toks[k + 1];
    switch (tok.t) {
      case 'lit':
        if (tok.c === ' ') throw new Unsupported();
        body += /[*?[\\!]/.test(tok.c) ? `\\${tok.c}` : tok.c;
        break;
      case 'seg':
        body += '*';
        break;
      case 'one':
        body += '?';
        break;
      case 'any': {
        const afterSlash = prev?.t === 'lit' && prev.c === '/';
        if (!afterSlash || next === undefined) throw new Unsupported();
        body += next.t === 'lit' && next.c === '/' ? '**' : '**/*';
        break;
      }
      default:
        throw new Unsupported(); // an anchor in the middle
    }
  });
  if (openStart) body = body.includes('/') ? `**/*${body}` : `*${body}`;
  else if (!body.includes('/')) body = `/${body}`;
  if (!openEnd) return [body];
  if (body.endsWith('/')) return [`${body}**`];
  return [`${body}*`, `${body}*/**`];
}

/** Globs matching at least the paths `pathRegex` matches, or undefined when it is not simple enough. */
export function globsFor(pathRegex: string | undefined): string[] | undefined {
  if (pathRegex === undefined) return undefined;
  try {
    const globs = [...new Set(parseRegex(pathRegex).flatMap(globOf))];
    if (globs.includes('*')) return undefined;
    return globs.length <= MAX_GLOBS ? globs : undefined;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

// --- the plan --------------------------------------------------------------------------------------

export interface SetupPlan {
  /** The `.gitattributes` to add lines to (undefined: no `.sops.yaml`, config only). */
  attributesFile?: string;
  /** The lines it should have. */
  lines: string[];
  /** `git config` settings: [key, value]. */
  config: Array<[string, string]>;
  /** How each rule was turned into patterns, for --print and the report. */
  notes: string[];
}

/** The driver settings, for `command` (how git runs tsops, e.g. `tsops` or `/opt/tsops/bin/tsops`). */
export function driverConfig(command: string): Array<[string, string]> {
  return [
    ['diff.tsops.textconv', `${command} git diff`],
    ['merge.tsops.name', 'tsops: three-way merge of sops files by value'],
    ['merge.tsops.driver', `${command} git merge-driver %O %A %B %P`],
    ['filter.tsops.clean', `${command} git clean %f`],
    ['filter.tsops.smudge', `${command} git smudge %f`],
    ['filter.tsops.required', 'true'],
  ];
}

export const ATTRIBUTES_HEADER = '# tsops git setup: sops files are decrypted in diffs and merged value by value';

/** What setup writes for `cfg` (undefined: no `.sops.yaml` found). */
export function planSetup(cfg: SopsConfig | undefined, o: { command: string; filter: boolean }): SetupPlan {
  const config = driverConfig(o.command);
  if (!cfg) {
    return {
      lines: [],
      config,
      notes: ['no .sops.yaml found: only the git config is written; add .gitattributes lines by hand'],
    };
  }
  const notes: string[] = [];
  const lines: string[] = [ATTRIBUTES_HEADER];
  const add = (l: string) => {
    if (!lines.includes(l)) lines.push(l);
  };
  let catchAll = false;
  for (const [n, rule] of cfg.creationRules.entries()) {
    const globs = globsFor(rule.pathRegex);
    const what = rule.pathRegex === undefined ? 'no path_regex' : `path_regex ${JSON.stringify(rule.pathRegex)}`;
    if (globs) {
      notes.push(`creation_rules[${n}] (${what}) -> ${globs.join(' ')}`);
      for (const g of globs) add(`${g} diff=tsops merge=tsops${o.filter ? ' filter=tsops' : ''}`);
    } else {
      catchAll = true;
      notes.push(
        `creation_rules[${n}] (${what}) is not a simple suffix or folder pattern -> * for diff and merge (other files show and merge as usual)` +
          (o.filter ? '; the filter is NOT given to *: add "PATTERN filter=tsops" lines for these files by hand' : ''),
      );
    }
  }
  if (catchAll) add('* diff=tsops merge=tsops');
  // the config and attributes themselves are never sops files
  add('/.sops.yaml !diff !merge !filter');
  add('/.gitattributes !diff !merge !filter');
  if (cfg.creationRules.length === 0) notes.push(`${cfg.path} has no creation rules: no file patterns written`);
  return { attributesFile: join(dirname(cfg.path), '.gitattributes'), lines, config, notes };
}

/** The lines of `plan` that the attributes file does not have yet. */
export function missingAttributeLines(plan: SetupPlan): string[] {
  if (!plan.attributesFile) return [];
  const have = new Set(
    existsSync(plan.attributesFile)
      ? readFileSync(plan.attributesFile, 'utf8')
          .split(/\r?\n/)
          .map((l) => l.trim())
      : [],
  );
  return plan.lines.filter((l) => !have.has(l));
}
