/**
 * `tsops git setup|diff|merge-driver|clean|smudge|resolve`: tsops as git's diff driver (textconv),
 * merge driver and clean/smudge filter for sops files. Argument handling over src/git/.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode, SopsError } from '../errors.js';
import { clean, smudge } from '../git/filter.js';
import { conflictMessage, conflictText, mergeEncrypted } from '../git/merge.js';
import { detectEncryptedFormat } from '../git/detect.js';
import { git, gitDir, indexVersion } from '../git/run.js';
import { missingAttributeLines, planSetup } from '../git/setup.js';
import { textconv } from '../git/textconv.js';
import { readInput, writeFileAtomic } from '../util/fs.js';
import { commandOptions, decryptionOrder, makeLog, sopsWarn } from './context.js';
import type { CliOptions } from './options.js';

type GitCliOptions = CliOptions & { global?: boolean; print?: boolean; filter?: boolean; command?: string };

function opts(c: Command): GitCliOptions {
  return commandOptions<GitCliOptions>(c);
}

function note(msg: string): void {
  process.stderr.write(`tsops: ${msg}\n`);
}

// --- setup ---------------------------------------------------------------------------------------------

async function setupCommand(o: GitCliOptions): Promise<void> {
  const cfgMod = await import('../config/config.js');
  const configPath = cfgMod.findConfigFile({ explicit: o.config, cwd: process.cwd() });
  const cfg = configPath && existsSync(configPath) ? cfgMod.loadConfig(configPath) : undefined;
  const plan = planSetup(cfg, { command: o.command ?? 'tsops', filter: !!o.filter });
  const scope = o.global ? '--global' : '--local';
  if (o.print) {
    const out: string[] = [];
    if (plan.attributesFile) out.push(`# ${plan.attributesFile}`, ...plan.lines, '');
    out.push('# git config', ...plan.config.map(([k, v]) => `git config ${scope} ${k} ${shellQuote(v)}`), '');
    out.push('# how the creation rules became patterns', ...plan.notes.map((n) => `#   ${n}`), '');
    process.stdout.write(out.join('\n'));
    return;
  }
  const changed: string[] = [];
  for (const [k, v] of plan.config) {
    const cur = git(['config', scope, '--get', k]);
    if (cur.status === 0 && cur.stdout.toString('utf8').replace(/\n$/, '') === v) continue;
    const set = git(['config', scope, k, v]);
    if (set.status !== 0)
      throw new SopsError(`git config ${scope} ${k} failed: ${set.stderr.trim()}`, ExitCode.CouldNotWriteOutputFile);
    changed.push(`git config ${scope} ${k}`);
  }
  const missing = missingAttributeLines(plan);
  if (plan.attributesFile && missing.length) {
    const before = existsSync(plan.attributesFile) ? readFileSync(plan.attributesFile, 'utf8') : '';
    const sepNl = before === '' || before.endsWith('\n') ? '' : '\n';
    writeFileAtomic(plan.attributesFile, before + sepNl + missing.join('\n') + '\n', 0o644);
    changed.push(`${plan.attributesFile}: ${missing.length} line(s) added`);
  }
  for (const n of plan.notes) note(n);
  process.stdout.write(changed.length ? changed.map((c) => `${c}\n`).join('') : 'nothing to change\n');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// --- diff (textconv) ---------------------------------------------------------------------------------

async function diffCommand(file: string, o: GitCliOptions): Promise<void> {
  const r = await textconv(readInput(file), { name: file, log: makeLog(o), decryptionOrder: decryptionOrder(o) });
  if (r.note) note(r.note);
  process.stdout.write(r.output);
}

// --- merge driver ------------------------------------------------------------------------------------

function conflictCopyWanted(): boolean {
  const env = process.env['TSOPS_MERGE_CONFLICT_COPY'];
  if (env !== undefined && env !== '') return env !== '0' && env.toLowerCase() !== 'false';
  const r = git(['config', '--bool', '--get', 'tsops.mergeConflictCopy']);
  return r.status === 0 && r.stdout.toString('utf8').trim() === 'true';
}

/** Where the decrypted conflict copy of `name` goes: inside the git folder, never in the work tree. */
function conflictCopyPath(name: string): string | undefined {
  const dir = gitDir();
  if (!dir) return undefined;
  const base = join(dir, 'tsops-conflicts');
  const p = resolve(base, name);
  return p.startsWith(base + sep) ? p : undefined;
}

/** Write PLAINTEXT `data` to `p`: 0700 folders, a 0600 file (opt-in only). */
function writePrivate(p: string, data: Buffer): void {
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  chmodSync(join(dirname(p)), 0o700);
  const fd = openSync(p, 'w', 0o600);
  try {
    chmodSync(p, 0o600);
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

async function mergeDriverCommand(
  base: string,
  ours: string,
  theirs: string,
  pathname: string | undefined,
  o: GitCliOptions,
): Promise<void> {
  const name = pathname ?? ours;
  const [b, a, t] = [readInput(base), readInput(ours), readInput(theirs)];
  const format =
    (await detectEncryptedFormat(a, pathname)) ??
    (await detectEncryptedFormat(t, pathname)) ??
    (b.length ? await detectEncryptedFormat(b, pathname) : undefined);
  if (!format) {
    // not sops files: git's own line merge, as without the driver
    const r = git(['merge-file', '-L', 'ours', '-L', 'base', '-L', 'theirs', ours, base, theirs]);
    if (r.status !== 0) throw new SopsError('', r.status > 0 && r.status < 128 ? 1 : 2);
    return;
  }
  const log = makeLog(o);
  let indent: number | undefined;
  try {
    indent = (await import('../config/config.js')).indentFor(format, { path: name });
  } catch {
    indent = undefined;
  }
  let result;
  try {
    result = await mergeEncrypted(b, a, t, {
      format,
      name,
      log,
      indent,
      decryptionOrder: decryptionOrder(o),
    });
  } catch (e) {
    if (e instanceof SopsError)
      throw e.rephrased(`tsops: ${name}: cannot merge, left as ours (encrypted): ${e.message}`);
    throw e;
  }
  if ('merged' in result) {
    writeFileAtomic(ours, result.merged, undefined, log);
    if (result.keysFrom === 'theirs') note(`${name}: merged with theirs' keys (only theirs changed them)`);
    return;
  }
  let msg = conflictMessage(name, result.conflicts);
  if (conflictCopyWanted()) {
    const p = conflictCopyPath(name);
    if (p) {
      writePrivate(p, conflictText(result.trees, result.store));
      msg +=
        `\ntsops: decrypted copy with conflict markers (PLAINTEXT, 0600): ${relative(process.cwd(), p)}; ` +
        `resolve it, then run: tsops git resolve ${name}`;
    }
  } else {
    msg += `\ntsops: resolve with: tsops edit ${name} (or set TSOPS_MERGE_CONFLICT_COPY=1 for a decrypted copy with conflict markers)`;
  }
  throw new SopsError(msg, ExitCode.ErrorGeneric);
}

// --- resolve -------------------------------------------------------------------------------------------

async function resolveCommand(file: string, o: GitCliOptions): Promise<void> {
  const top = git(['rev-parse', '--show-toplevel']);
  if (top.status !== 0) throw new SopsError('tsops git resolve: not in a git work tree', ExitCode.ErrorGeneric);
  const root = top.stdout.toString('utf8').trim();
  const rel = relative(root, resolve(file)).split(sep).join('/');
  const copy = conflictCopyPath(rel);
  if (!copy || !existsSync(copy))
    throw new SopsError(`tsops git resolve: no conflict copy for ${rel}`, ExitCode.CouldNotReadInputFile);
  const plain = readFileSync(copy);
  if (/^(<<<<<<< |>>>>>>> |=======$)/m.test(plain.toString('utf8')))
    throw new SopsError(`${copy} still has conflict markers`, ExitCode.ErrorGeneric);
  const previous = indexVersion(rel, { cwd: root });
  const r = await clean(plain, rel, {
    cwd: root,
    log: makeLog(o),
    decryptionOrder: decryptionOrder(o),
    previous: previous ?? Buffer.alloc(0),
  });
  writeFileAtomic(resolve(root, rel), r.output, undefined, makeLog(o));
  rmSync(copy, { force: true });
  process.stdout.write(`${rel}: resolved and encrypted; now: git add ${rel}\n`);
}

// --- filter --------------------------------------------------------------------------------------------

async function cleanCommand(file: string, o: GitCliOptions): Promise<void> {
  const r = await clean(readInput(undefined), file, { log: makeLog(o), decryptionOrder: decryptionOrder(o) });
  process.stdout.write(r.output);
}

async function smudgeCommand(file: string, o: GitCliOptions): Promise<void> {
  const r = await smudge(readInput(undefined), file, { log: makeLog(o), decryptionOrder: decryptionOrder(o) });
  if (r.note) sopsWarn(r.note);
  process.stdout.write(r.output);
}

// --- registration -----------------------------------------------------------------------------------------

export function addGitCommand(program: Command): Command {
  const cmd = program
    .command('git')
    .description(
      'tsops as git diff driver, merge driver and clean/smudge filter for sops files (see README "Using tsops with Git")',
    );
  const common = (c: Command) =>
    c
      .addOption(new Option('--verbose', 'say what is done on stderr (never secrets)'))
      .addOption(new Option('--decryption-order <types>', 'key types to try first').env('SOPS_DECRYPTION_ORDER'))
      .addOption(new Option('--config <file>', 'the .sops.yaml to use').env('SOPS_CONFIG'));
  common(
    cmd
      .command('setup')
      .description('write .gitattributes lines for the creation rules and the git config of the drivers')
      .option('--global', 'write the driver settings to the global git config (the attributes stay per repository)')
      .option('--print', 'print what would be written, and how each rule became patterns, instead of writing')
      .option('--filter', 'also give the matched files the clean/smudge filter (plaintext work tree)')
      .option('--command <cmd>', 'how git runs tsops (default: tsops)'),
  ).action((_o: unknown, c: Command) => setupCommand(opts(c)));
  common(
    cmd
      .command('diff')
      .description('textconv: print FILE decrypted (its encrypted text when it cannot be decrypted)')
      .argument('<file>', 'the file git gives'),
  ).action((file: string, _o: unknown, c: Command) => diffCommand(file, opts(c)));
  common(
    cmd
      .command('merge-driver')
      .description('merge driver: %O %A %B %P; merges values, writes the result to %A encrypted; exit 1 on a conflict')
      .argument('<base>', '%O')
      .argument('<ours>', '%A (replaced by the result)')
      .argument('<theirs>', '%B')
      .argument('[path]', '%P, the path in the repository'),
  ).action((b: string, a: string, t: string, p: string | undefined, _o: unknown, c: Command) =>
    mergeDriverCommand(b, a, t, p, opts(c)),
  );
  common(
    cmd
      .command('clean')
      .description('clean filter: plaintext on stdin, the encrypted file on stdout')
      .argument('<file>', '%f'),
  ).action((file: string, _o: unknown, c: Command) => cleanCommand(file, opts(c)));
  common(
    cmd
      .command('smudge')
      .description('smudge filter: the encrypted file on stdin, plaintext on stdout')
      .argument('<file>', '%f'),
  ).action((file: string, _o: unknown, c: Command) => smudgeCommand(file, opts(c)));
  common(
    cmd
      .command('resolve')
      .description(
        'encrypt the resolved conflict copy of FILE (TSOPS_MERGE_CONFLICT_COPY) into FILE and remove the copy',
      )
      .argument('<file>', 'the conflicted file'),
  ).action((file: string, _o: unknown, c: Command) => resolveCommand(file, opts(c)));
  return cmd;
}
