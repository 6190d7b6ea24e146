/**
 * One command over many files (sops issues 945, 1204): `encrypt -i`, `decrypt -i` and `rotate -i`
 * given several files, or folders with `--recursive`. (`updatekeys` has taken files and folders
 * from the start: src/ops/updatekeys.ts, whose folder walk this reuses.)
 *
 * All or nothing, in three passes:
 * 1. plan: every file is found (folders walked: `.git` and `node_modules` skipped, symbolic links
 *    not followed), locked (src/util/lock.ts), read, and checked by the task (a file named on the
 *    command line that the task cannot take fails; one found in a folder is skipped, with the
 *    reason) and checked for write permission;
 * 2. compute: the task makes every file's new content in memory, recovering each distinct data key
 *    once (DataKeyCache: one key-service round trip per distinct data key, for this call only);
 * 3. write: each file atomically, as a single-file command writes it.
 * The first failure stops the run before the next pass touches anything — so a failing file in
 * pass 1 or 2 leaves every file as it was — unless `keepGoing`: then every file that can be done is
 * done, and each failure is reported. Every lock is released on every path.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ExitCode, NoFileError, ReadError, SopsError, messageOf } from '../errors.js';
import { DataKeyCache } from '../file/datakey-cache.js';
import { lockForUpdate, readInput, unlockFile, writeFileAtomic } from '../util/fs.js';
import { collectTargets } from './updatekeys.js';

/** One file of the run. */
export interface ManyFile {
  /** The name shown (relative to the working directory when under it). */
  name: string;
  abs: string;
  /** Named on the command line (else found in a folder). */
  explicit: boolean;
  data: Buffer;
}

/** What is done to each file. */
export interface ManyTask<P = unknown> {
  /**
   * Check a file before anything is touched; returns what `run` needs, or `{ skip: reason }` for a
   * file found in a folder that the task does not take. Throws when the file cannot be done.
   */
  plan(file: ManyFile): Promise<P | { skip: string }>;
  /** The file's new content (undefined: nothing to write). */
  run(file: ManyFile, planned: P, dataKeys: DataKeyCache): Promise<Buffer | undefined>;
}

export type ManyStatus = 'done' | 'unchanged' | 'skipped' | 'failed' | 'not touched';

export interface ManyOutcome {
  file: string;
  status: ManyStatus;
  reason?: string;
  /** The exit code of a failure. */
  code?: number;
}

export interface ManyOptions {
  /** Walk folders (without it a folder is an error, as sops's `publish` says). */
  recursive?: boolean;
  /** Go on after a failure: do every file that can be done. */
  keepGoing?: boolean;
  /** The folder relative paths are resolved from (default: the working directory). */
  cwd?: string;
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
  /** Told before each file is computed: its number (from 1), how many there are, its name. */
  progress?: (n: number, total: number, file: string) => void;
}

export interface ManyResult {
  outcomes: ManyOutcome[];
  /** The first failure, if any (its exit code is the run's). */
  failure?: SopsError;
  /** How many data keys were recovered through the key sources (the rest came from the cache). */
  unwraps: number;
}

/** Whether arguments call for the many-files run: more than one, or a folder. */
export function isManyFiles(paths: readonly string[]): boolean {
  if (paths.length > 1) return true;
  try {
    return paths.length === 1 && statSync(paths[0]!).isDirectory();
  } catch {
    return false;
  }
}

function asSopsError(e: unknown): SopsError {
  return e instanceof SopsError ? e : new SopsError(messageOf(e), ExitCode.ErrorGeneric, { cause: e });
}

interface Entry<P> {
  file: ManyFile;
  planned?: P;
  out?: Buffer;
  outcome: ManyOutcome;
  locked: boolean;
}

/** Run `task` over the files at `paths` (see the module comment). */
export async function runMany<P>(paths: string[], task: ManyTask<P>, o: ManyOptions = {}): Promise<ManyResult> {
  const cwd = o.cwd ?? process.cwd();
  const log = o.log ?? (() => {});
  const dataKeys = new DataKeyCache();
  const entries: Entry<P>[] = [];
  let failure: SopsError | undefined;
  const fail = (en: Entry<P> | undefined, e: unknown, name = en?.file.name ?? '') => {
    const err = asSopsError(e);
    failure ??= err;
    const outcome: ManyOutcome = { file: name, status: 'failed', reason: err.message, code: err.code };
    if (en) en.outcome = outcome;
    return outcome;
  };
  const name = (abs: string) => {
    const r = relative(cwd, abs);
    return r && !r.startsWith('..') ? r : abs;
  };
  const unlockAll = () => {
    for (const en of entries) {
      if (en.locked) unlockFile(en.file.abs);
      en.locked = false;
    }
  };
  const stopped = () => failure !== undefined && !o.keepGoing;
  const result = (): ManyResult => ({ outcomes: outcomes(), failure, unwraps: dataKeys.misses });
  const early: ManyOutcome[] = [];
  const outcomes = () => [...early, ...entries.map((en) => en.outcome)];

  try {
    // 1. plan
    const targets: Array<{ abs: string; explicit: boolean; skip?: string }> = [];
    for (const p of paths) {
      const abs = resolve(cwd, p);
      let dir = false;
      try {
        dir = statSync(abs).isDirectory();
      } catch {
        /* a missing file fails below */
      }
      if (dir && !o.recursive) {
        early.push(fail(undefined, new SopsError(`can't operate on a directory without --recursive flag.`), name(abs)));
        continue;
      }
      if (dir) for (const t of collectTargets([abs])) targets.push({ ...t, abs: resolve(t.path) });
      else targets.push({ abs, explicit: true });
    }
    const seen = new Set<string>();
    for (const t of targets) {
      if (stopped()) break;
      if (seen.has(t.abs)) continue;
      seen.add(t.abs);
      const en: Entry<P> = {
        file: { name: name(t.abs), abs: t.abs, explicit: t.explicit, data: Buffer.alloc(0) },
        outcome: { file: name(t.abs), status: 'not touched' },
        locked: false,
      };
      entries.push(en);
      if (t.skip) {
        en.outcome = { file: en.file.name, status: 'skipped', reason: t.skip };
        continue;
      }
      try {
        let isFile = false;
        try {
          isFile = statSync(t.abs).isFile();
        } catch {
          throw new NoFileError(`Error: cannot operate on non-existent file ${JSON.stringify(t.abs)}`);
        }
        if (!isFile) throw new ReadError(`${en.file.name}: not a regular file`);
        await lockForUpdate(t.abs, { log });
        en.locked = true;
        en.file.data = readInput(t.abs);
        const planned = await task.plan(en.file);
        if (planned && typeof planned === 'object' && 'skip' in planned) {
          if (t.explicit) throw new SopsError(`${en.file.name}: ${planned.skip}`);
          en.outcome = { file: en.file.name, status: 'skipped', reason: planned.skip };
          unlockFile(t.abs);
          en.locked = false;
          continue;
        }
        try {
          accessSync(t.abs, constants.W_OK);
        } catch (e) {
          throw new SopsError(
            `${en.file.name}: cannot write the file: permission denied`,
            ExitCode.CouldNotWriteOutputFile,
            {
              cause: e,
            },
          );
        }
        en.planned = planned;
      } catch (e) {
        fail(en, e);
      }
    }
    if (stopped()) return result();

    // 2. compute
    const todo = entries.filter((en) => en.planned !== undefined && en.outcome.status === 'not touched');
    for (let i = 0; i < todo.length; i++) {
      const en = todo[i]!;
      o.progress?.(i + 1, todo.length, en.file.name);
      try {
        en.out = await task.run(en.file, en.planned!, dataKeys);
        if (en.out === undefined) en.outcome = { file: en.file.name, status: 'unchanged' };
      } catch (e) {
        fail(en, e);
        if (stopped()) return result();
      }
    }
    if (stopped()) return result();

    // 3. write
    for (const en of todo) {
      if (en.out === undefined || en.outcome.status !== 'not touched') continue;
      try {
        en.locked = false; // (writeFileAtomic releases it, also when it fails)
        writeFileAtomic(en.file.abs, en.out, undefined, log);
        en.outcome = { file: en.file.name, status: 'done' };
      } catch (e) {
        fail(en, e);
        if (stopped()) return result();
      } finally {
        en.out = undefined;
      }
    }
    return result();
  } finally {
    unlockAll();
  }
}
