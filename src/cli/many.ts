/**
 * The command-line side of one command over many files (src/ops/many.ts): the flags, the checks
 * before anything is read, the tasks of `encrypt -i` and `decrypt -i` (and the plan `rotate -i`
 * shares), the progress line and the per-file report on standard error, and the exit status —
 * sops's code of the first failure.
 *
 * Used only when a command is given more than one file or a folder with `-i`; one file keeps the
 * single-file path byte for byte. Without `-i`, several files get sops's warning and only the first
 * is used, as sops does.
 */
import { basename } from 'node:path';
import { ConflictingParametersError, ExitCode, MetadataNotFoundError, SopsError } from '../errors.js';
import {
  hasSopsMetadata,
  loadEncrypted,
  loadPlain,
  newMetadata,
  openEncrypted,
  renderPlain,
  sealTree,
} from '../file/file.js';
import { isManyFiles, runMany, type ManyFile, type ManyStatus, type ManyTask } from '../ops/many.js';
import { storeFor } from '../stores/index.js';
import { parseTreePath } from '../tree/path.js';
import type { Tree } from '../tree/types.js';
import {
  decryptionOrder,
  makeLog,
  outputIndent,
  planEncryption,
  planIo,
  sopsWarn,
  type EncryptionPlan,
  type IoPlan,
} from './context.js';
import type { CliOptions } from './options.js';

/**
 * Which path a command over `files` takes: the many-files run (with `-i`, more than one file or a
 * folder), or the first file for the single-file path — with sops's warning when more were given.
 */
export function pickFiles(files: string[], o: CliOptions): { many: true } | { many: false; file: string | undefined } {
  if (o.inPlace && isManyFiles(files)) return { many: true };
  if (files.length > 1) {
    sopsWarn('More than one positional argument provided. Only the first one will be used!');
    const flag = files.slice(1).find((f) => f.startsWith('-'));
    if (flag) {
      sopsWarn(
        `Note that one of the ignored positional argument is ${JSON.stringify(flag)}, which looks like a flag. Flags must always be provided before the first positional argument!`,
      );
    }
  }
  return { many: false, file: files[0] };
}

/** The flags that name one file cannot go with many. */
function refuseManyConflicts(o: CliOptions): void {
  if (o.output) throw new ConflictingParametersError('Error: cannot operate on both --output and --in-place');
  if (o.filenameOverride) {
    throw new ConflictingParametersError(
      'Error: --filename-override names one file; give one file with it, not several',
    );
  }
  if (o.reuseFrom)
    throw new ConflictingParametersError('Error: --reuse-from names one file; give one file with it, not several');
}

const PROGRESS_MIN = 10;
const PROGRESS_EVERY = 25;

/**
 * The progress line on standard error when a call covers many files (10 or more): `[3/40] path`,
 * rewritten in place on a terminal (unless `rewrite` is false: when other lines are printed between
 * files); otherwise a line for the first file, every 25th and the last.
 */
export function progressLine(rewrite = process.stderr.isTTY): {
  progress: (n: number, total: number, file: string) => void;
  end: () => void;
} {
  const tty = rewrite;
  let shown = false;
  return {
    progress(n, total, file) {
      if (total < PROGRESS_MIN) return;
      if (tty) {
        process.stderr.write(`\r\x1b[K[${n}/${total}] ${file}`);
        shown = true;
      } else if (n === 1 || n % PROGRESS_EVERY === 0 || n === total) process.stderr.write(`[${n}/${total}] ${file}\n`);
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Run `task` over `paths`, print the progress and the report, and fail with the first failure's code. */
export async function runManyCommand<P>(
  verb: 'encrypt' | 'decrypt' | 'rotate',
  paths: string[],
  o: CliOptions,
  task: ManyTask<P>,
): Promise<void> {
  refuseManyConflicts(o);
  const err = (s: string) => process.stderr.write(s);
  const line = progressLine();
  const r = await runMany(paths, task, {
    recursive: o.recursive,
    keepGoing: o.keepGoing,
    log: makeLog(o),
    progress: line.progress,
  });
  line.end();
  const done = { encrypt: 'encrypted', decrypt: 'decrypted', rotate: 'rotated' }[verb];
  const label = (s: ManyStatus) => (s === 'done' ? done : s);
  const count = (s: ManyStatus) => r.outcomes.filter((x) => x.status === s).length;
  const parts = (['done', 'unchanged', 'skipped', 'failed', 'not touched'] as ManyStatus[])
    .filter((s) => count(s) > 0 || s === 'done')
    .map((s) => `${count(s)} ${label(s)}`);
  err(`${verb}: ${parts.join(', ')}\n`);
  for (const x of r.outcomes) err(`  ${x.file}: ${label(x.status)}${x.reason ? `: ${x.reason}` : ''}\n`);
  if (!r.failure) return;
  const failed = count('failed');
  throw new SopsError(
    `${verb}: ${failed} file${failed === 1 ? '' : 's'} failed${o.keepGoing ? '' : ' (nothing else was changed; --keep-going does every file that can be done)'}; the first: ${r.failure.message}`,
    r.failure.code,
  );
}

/** tsops's own temp and lock files beside a file (src/util/fs.ts, lock.ts), never taken from a folder. */
const OWN_FILES = /^\..*\.tsops-(lock|\d+-[^.]*\.tmp)$/;

/** The plan of a file that must be a sops file (decrypt, rotate); one in a folder that is not one is skipped. */
export async function planSopsFile(file: ManyFile, o: CliOptions): Promise<IoPlan | { skip: string }> {
  const io = planIo(file.abs, o);
  if (!file.explicit && (OWN_FILES.test(basename(file.abs)) || !file.data.includes('sops'))) {
    return { skip: 'not a sops file' };
  }
  try {
    await loadEncrypted(file.data, { format: io.inFormat, filename: file.name });
  } catch (e) {
    if (!file.explicit && e instanceof MetadataNotFoundError) return { skip: 'not a sops file' };
    throw e;
  }
  return io;
}

/** `decrypt -i` over many files. */
export function decryptTask(o: CliOptions): ManyTask<IoPlan> {
  const order = decryptionOrder(o);
  const log = makeLog(o);
  return {
    plan: (file) => planSopsFile(file, o),
    async run(file, io, dataKeys) {
      const opened = await openEncrypted(file.data, {
        trackIvs: false,
        format: io.inFormat,
        filename: file.name,
        log,
        ignoreMac: o.ignoreMac,
        decryptionOrder: order,
        storeOptions: { indent: io.indent },
        dataKeys,
      });
      const out = await storeFor(io.outFormat, { indent: await outputIndent(io, o) });
      return renderPlain(opened.tree, out, o.extract !== undefined ? parseTreePath(o.extract) : []);
    },
  };
}

/** `encrypt -i` over many files: files in a folder already encrypted, or no rule names, are skipped. */
export function encryptTask(o: CliOptions): ManyTask<{ io: IoPlan; plan: EncryptionPlan; tree: Tree }> {
  const log = makeLog(o);
  return {
    async plan(file) {
      if (!file.explicit && (OWN_FILES.test(basename(file.abs)) || basename(file.abs) === '.sops.yaml')) {
        return { skip: 'not a file to encrypt' };
      }
      const io = planIo(file.abs, o);
      let plan: EncryptionPlan;
      try {
        plan = await planEncryption(file.abs, o, io.outFormat, log);
      } catch (e) {
        if (!file.explicit && e instanceof SopsError && e.message.includes('no matching creation rules')) {
          return { skip: 'no creation rule matches it' };
        }
        throw e;
      }
      const indent = io.indent ?? plan.indent;
      const { tree } = await loadPlain(file.data, io.inFormat, { filename: file.name, storeOptions: { indent } });
      if (hasSopsMetadata(tree, io.inFormat)) {
        if (!file.explicit) return { skip: 'already encrypted' };
        throw new SopsError(
          `${file.name}: the file is already encrypted (it has sops metadata)`,
          ExitCode.FileAlreadyEncrypted,
        );
      }
      return { io, plan, tree };
    },
    async run(file, { io, plan, tree }) {
      const out = await storeFor(io.outFormat, { indent: io.indent ?? plan.indent });
      return sealTree(tree, newMetadata(plan), out, { filename: file.name, log });
    },
  };
}
