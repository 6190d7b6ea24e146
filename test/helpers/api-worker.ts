/**
 * The library API (src/api.ts) in a child Node process, called from a test by message.
 *
 * Some settings of a key service's SDK are process-wide and read when the process starts: the CA
 * certificates Node trusts (NODE_EXTRA_CA_CERTS), gRPC's roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH),
 * the Azure SDK's proxy (HTTPS_PROXY). A test that needs them gives them to `startApiWorker` and
 * calls the API there exactly as a program would; each call's key-service settings go in its
 * options (`env`). Plaintexts travel over the IPC channel, never in argv.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ApiOp = 'encrypt' | 'decrypt' | 'decryptData';

interface Request {
  id: number;
  op: ApiOp;
  input: string | Buffer;
  options: Record<string, unknown>;
}

type Reply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; name: string; message: string; code?: number };

/** An error the API threw in the worker: its class name, one-line message and exit code. */
export class ApiError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

export interface ApiWorker {
  /** `api.encrypt(input, options)` in the worker. */
  encrypt(input: string, options: Record<string, unknown>): Promise<string>;
  /** `api.decrypt(input, options)` in the worker. */
  decrypt(input: string, options: Record<string, unknown>): Promise<string>;
  /** `api.decryptData(input, options)` in the worker. */
  decryptData(input: string, options: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/** Start a worker whose process environment is exactly `env`. */
export function startApiWorker(env: NodeJS.ProcessEnv): ApiWorker {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    env,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let next = 1;
  let gone: string | undefined;
  const fail = (why: string) => {
    gone ??= why;
    for (const p of pending.values()) p.reject(new Error(`api worker: ${why}`));
    pending.clear();
  };
  child.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(new ApiError(m.name, m.message, m.code));
  });
  child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
  child.on('error', (e) => fail(e.message));
  const call = (op: ApiOp, input: string | Buffer, options: Record<string, unknown>) =>
    new Promise<unknown>((resolve, reject) => {
      if (gone) return reject(new Error(`api worker: ${gone}`));
      const id = next++;
      pending.set(id, { resolve, reject });
      child.send({ id, op, input, options } satisfies Request);
    });
  return {
    encrypt: (input, options) => call('encrypt', input, options) as Promise<string>,
    decrypt: (input, options) => call('decrypt', input, options) as Promise<string>,
    decryptData: (input, options) => call('decryptData', input, options),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        if (child.connected) child.disconnect();
        // bounded: a child whose exit was missed never holds the test file open
        setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5_000).unref();
      }),
  };
}

// --- the child side ---------------------------------------------------------------------------------

async function serve(): Promise<void> {
  const api = await import('../../src/api.js');
  process.on('message', (m: Request) => {
    void (async () => {
      let reply: Reply;
      try {
        const o = m.options as never;
        const value =
          m.op === 'encrypt'
            ? await api.encrypt(m.input, o)
            : m.op === 'decrypt'
              ? await api.decrypt(m.input, o)
              : await api.decryptData(m.input, o);
        reply = { id: m.id, ok: true, value };
      } catch (e) {
        const err = e as { name?: string; message?: string; code?: unknown; constructor?: { name?: string } };
        reply = {
          id: m.id,
          ok: false,
          name: err.constructor?.name ?? err.name ?? 'Error',
          message: String(err.message ?? e),
          ...(typeof err.code === 'number' ? { code: err.code } : {}),
        };
      }
      process.send!(reply);
    })();
  });
  // The parent closes the channel to stop the worker; then nothing keeps the process alive.
  process.on('disconnect', () => process.exit(0));
}

if (process.send && process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void serve();
