/**
 * age plugins (sops 3.10+): recipients `age1NAME1…` and identities `AGE-PLUGIN-NAME-1…` are handled
 * by the program `age-plugin-NAME` found in PATH, spoken to over the age plugin protocol (C2SP
 * age-plugin): stanzas (./stanza.ts) on its standard input and output.
 *
 * - wrap (`--age-plugin=recipient-v1`): phase 1 sends `add-recipient`, a grease stanza,
 *   `wrap-file-key`, `extension-labels`, `done`; phase 2 answers the plugin's `recipient-stanza`
 *   (file index 0), `labels`, `msg`, `confirm`, `request-public`, `request-secret` and `error` until
 *   its `done`. Anything else is answered `unsupported`.
 * - unwrap (`--age-plugin=identity-v1`): phase 1 sends `add-identity`, a grease stanza, every stanza
 *   of the file's header as `recipient-stanza 0 …`, `done`; phase 2 takes at most one `file-key 0`,
 *   the same user requests and `error`, until `done`. No file key means the identity did not match.
 *
 * One plugin process per recipient or identity and operation, as age's and sops's clients start it.
 * Secrets (file key, identity, what the user types) travel over the pipe only: never in argv, and
 * the plugin's environment is tsops's minus SOPS_AGE_KEY. The plugin's standard error goes to
 * tsops's; it runs in the temporary directory (plugins must not rely on the working directory).
 * The plugin is ended on every path (stdin closed, SIGINT, SIGKILL after a grace period) and reaped.
 * A plugin that says nothing for 5 minutes is ended; the clock stops while the user is being asked.
 *
 * The user is asked on the terminal through ../../util/tty.ts; requests are asked one at a time even
 * when several plugins run at once. A failed request is answered `fail` (the plugin decides what
 * follows); if the operation then fails, that request's problem (e.g. no terminal) is the message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { parseRecipient, pluginIdentityName } from './key.js';
import { sealFile } from './native.js';
import { type AgeStanza, decodeB64, encodeStanza, StanzaError, StanzaParser } from './stanza.js';

/** How the plugin talks to the user; tests may replace it. */
export interface PluginUI {
  message(text: string): void | Promise<void>;
  /** Resolves to what the user typed; rejects (one-line message) when it cannot ask. */
  requestValue(prompt: string, secret: boolean, plugin: string): Promise<string>;
  confirm(prompt: string, yes: string, no: string | undefined, plugin: string): Promise<boolean>;
}

export interface PluginOptions {
  /** The environment the plugin runs in (PATH finds it); SOPS_AGE_KEY is removed. */
  env: NodeJS.ProcessEnv;
  ui?: PluginUI;
  /** How long the plugin may stay silent (no user request pending); default 5 minutes. */
  timeoutMs?: number;
  /** Verbose log (never receives secrets). */
  log?: (msg: string) => void;
}

/** A plugin problem: the message names the plugin and is one line. */
export class PluginError extends Error {}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const WAIT_NOTICE_MS = 5_000;
const KILL_GRACE_MS = 3_000;
const MAX_LINE = 1 << 20;

// --- names -------------------------------------------------------------------------------------------

// --- the terminal --------------------------------------------------------------------------------------

let uiQueue: Promise<unknown> = Promise.resolve();

/** Run `f` after every earlier user request has finished (one question on the terminal at a time). */
function serialized<T>(f: () => Promise<T>): Promise<T> {
  const run = uiQueue.then(f, f);
  uiQueue = run.catch(() => undefined);
  return run;
}

const terminalUI: PluginUI = {
  async message(text) {
    (await import('../../util/tty.js')).message(text);
  },
  async requestValue(prompt, secret, plugin) {
    // the terminal prompt never echoes: public values are read the same way (as age 1.1 does)
    const what = `the ${secret ? 'secret' : 'value'} age-plugin-${plugin} asks for`;
    return (await import('../../util/tty.js')).promptSecret(prompt, what);
  },
  async confirm(prompt, yes, no) {
    return (await import('../../util/tty.js')).confirm(prompt, yes, no);
  },
};

/** Text from a plugin made safe for one line on a terminal. */
function printable(body: Buffer | string, max = 300): string {
  const s = Buffer.isBuffer(body) ? body.toString('utf8') : body;
  const one = s
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ')
    .trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

// --- the connection ----------------------------------------------------------------------------------

class Connection {
  private readonly parser = new StanzaParser(16 << 20);
  private buf = '';
  private readonly queue: AgeStanza[] = [];
  private waiter: { resolve: (s: AgeStanza) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private exited: Promise<void>;
  private exitStatus: string | null = null;
  private readonly onProcessExit = () => this.child.kill('SIGKILL');

  private constructor(
    private readonly child: ChildProcess,
    readonly program: string,
    private readonly timeoutMs: number,
    private readonly notice: (() => void) | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitStatus = signal ? `killed by ${signal}` : `exit status ${code}`;
        this.fail(new PluginError(`${program} exited (${this.exitStatus}) before finishing`));
        process.removeListener('exit', this.onProcessExit);
        resolve();
      });
    });
    process.on('exit', this.onProcessExit);
    child.on('error', () => {
      /* a failed kill: the plugin is gone already */
    });
    child.stdin!.on('error', () => {
      /* the plugin closed its input: reported when its answer is missing */
    });
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (chunk: string) => {
      this.receive(chunk);
    });
  }

  /** Start `age-plugin-NAME --age-plugin=MACHINE`. */
  static async open(name: string, machine: string, opts: PluginOptions): Promise<Connection> {
    const program = `age-plugin-${name}`;
    const env = { ...opts.env };
    delete env.SOPS_AGE_KEY;
    const child = spawn(program, [`--age-plugin=${machine}`], {
      env,
      cwd: tmpdir(),
      stdio: ['pipe', 'pipe', 'inherit'],
      windowsHide: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e: NodeJS.ErrnoException) => {
        reject(
          new PluginError(
            e.code === 'ENOENT'
              ? `age plugin ${program} not found in PATH (install it to use ${name} recipients and identities)`
              : `could not start age plugin ${program}: ${e.code ?? e.message}`,
            { cause: e },
          ),
        );
      });
    });
    opts.log?.(`age: started ${program} --age-plugin=${machine}`);
    const ui = opts.ui ?? terminalUI;
    const notice = () => {
      try {
        Promise.resolve(ui.message(`age: waiting on ${name} plugin...`)).catch(() => undefined);
      } catch {
        /* a notice that cannot be shown is no reason to stop */
      }
    };
    return new Connection(child, program, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, notice);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(this.failure);
    }
  }

  private receive(chunk: string): void {
    if (this.failure) return;
    this.buf += chunk;
    let nl: number;
    try {
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const s = this.parser.line(line);
        if (s) this.queue.push(s);
      }
      if (this.buf.length > MAX_LINE) throw new StanzaError('line too long');
    } catch (e) {
      this.fail(new PluginError(`${this.program} sent a malformed message: ${(e as Error).message}`));
      this.child.kill('SIGKILL');
      return;
    }
    if (this.waiter && this.queue.length) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(this.queue.shift()!);
    }
  }

  send(type: string, args: string[] = [], body: Buffer = Buffer.alloc(0)): void {
    if (!this.child.stdin!.writable) return;
    this.child.stdin!.write(encodeStanza({ type, args, body }));
  }

  /** The plugin's next stanza; rejects when it exits, misbehaves or stays silent too long. */
  read(): Promise<AgeStanza> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<AgeStanza>((resolve, reject) => {
      const minutes = this.timeoutMs / 60_000;
      const limit = setTimeout(() => {
        this.fail(
          new PluginError(
            `${this.program} did not answer within ${minutes >= 1 ? `${minutes} minutes` : `${this.timeoutMs} ms`}`,
          ),
        );
        this.child.kill('SIGKILL');
      }, this.timeoutMs);
      const notice = this.notice && setTimeout(this.notice, Math.min(WAIT_NOTICE_MS, this.timeoutMs));
      const done = () => {
        clearTimeout(limit);
        if (notice) clearTimeout(notice);
      };
      this.waiter = {
        resolve: (s) => {
          done();
          resolve(s);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
    });
  }

  /** End the plugin (stdin closed, SIGINT, SIGKILL after a grace period) and wait until it is reaped. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.exitStatus === null) {
      this.child.kill('SIGINT');
      const grace = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
      await this.exited;
      clearTimeout(grace);
    }
  }
}

// --- user requests (both state machines) -----------------------------------------------------------

interface Session {
  conn: Connection;
  name: string;
  ui: PluginUI;
  /** The first user request that could not be answered, for the message if the operation fails. */
  uiProblem?: string;
}

/** Answer a user request; false when `s` is not one (the caller answers `unsupported`). */
async function handleUserRequest(ses: Session, s: AgeStanza): Promise<boolean> {
  const { conn, name, ui } = ses;
  const note = (e: unknown) => {
    ses.uiProblem ??= printable((e as Error).message);
    conn.send('fail');
  };
  switch (s.type) {
    case 'msg':
      try {
        await serialized(async () => ui.message(`age: ${name} plugin: ${printable(s.body, 2000)}`));
        conn.send('ok');
      } catch (e) {
        note(e);
      }
      return true;
    case 'request-secret':
    case 'request-public':
      try {
        const value = await serialized(() =>
          ui.requestValue(printable(s.body, 2000), s.type === 'request-secret', name),
        );
        conn.send('ok', [], Buffer.from(value, 'utf8'));
      } catch (e) {
        note(e);
      }
      return true;
    case 'confirm': {
      const yes = s.args[0] !== undefined ? decodeB64(s.args[0]) : null;
      const no = s.args[1] !== undefined ? decodeB64(s.args[1]) : undefined;
      if (s.args.length < 1 || s.args.length > 2 || !yes || no === null) {
        throw new PluginError(`${conn.program} sent a malformed confirm request`);
      }
      try {
        const choseYes = await serialized(() =>
          ui.confirm(printable(s.body, 2000), printable(yes, 100), no?.length ? printable(no, 100) : undefined, name),
        );
        conn.send('ok', [choseYes ? 'yes' : 'no']);
      } catch (e) {
        note(e);
      }
      return true;
    }
    default:
      return false;
  }
}

/** Send a grease stanza (unknown commands must be ignored in phase 1; this keeps plugins honest). */
function grease(conn: Connection): void {
  conn.send(`grease-${randomBytes(4).toString('hex')}`, [String(randomBytes(1)[0]! % 100)], randomBytes(8));
}

async function withSession<T>(
  name: string,
  machine: string,
  opts: PluginOptions,
  run: (ses: Session) => Promise<T>,
): Promise<T> {
  const conn = await Connection.open(name, machine, opts);
  const ses: Session = { conn, name, ui: opts.ui ?? terminalUI };
  try {
    return await run(ses);
  } catch (e) {
    if (ses.uiProblem && e instanceof PluginError && !/ sent a malformed /.test(e.message)) {
      throw new PluginError(ses.uiProblem, { cause: e }); // it names the plugin
    }
    throw e;
  } finally {
    await conn.close();
  }
}

// --- recipient-v1 ------------------------------------------------------------------------------------

/** Wrap `fileKey` to one plugin recipient: the stanzas for the age header. */
export async function wrapFileKey(recipient: string, fileKey: Buffer, opts: PluginOptions): Promise<AgeStanza[]> {
  let parsed;
  try {
    parsed = parseRecipient(recipient);
  } catch (e) {
    throw new PluginError((e as Error).message, { cause: e });
  }
  if (parsed.kind !== 'plugin') throw new PluginError(`not an age plugin recipient: ${recipient}`);
  const name = parsed.plugin;
  return withSession(name, 'recipient-v1', opts, async (ses) => {
    const { conn } = ses;
    conn.send('add-recipient', [recipient]);
    grease(conn);
    conn.send('wrap-file-key', [], fileKey);
    conn.send('extension-labels');
    conn.send('done');
    const stanzas: AgeStanza[] = [];
    let labels = false;
    for (;;) {
      const s = await conn.read();
      switch (s.type) {
        case 'recipient-stanza': {
          if (s.args.length < 2 || !/^\d+$/.test(s.args[0]!)) {
            throw new PluginError(`${conn.program} sent a malformed recipient-stanza`);
          }
          if (s.args[0] !== '0') throw new PluginError(`${conn.program} sent a stanza for a file it was not given`);
          stanzas.push({ type: s.args[1]!, args: s.args.slice(2), body: s.body });
          conn.send('ok');
          break;
        }
        case 'labels':
          if (labels) throw new PluginError(`${conn.program} sent labels twice`);
          labels = true;
          conn.send('ok');
          break;
        case 'error':
          conn.send('ok');
          throw new PluginError(`${conn.program}: ${printable(s.body) || 'error'}`);
        case 'done':
          if (stanzas.length === 0) throw new PluginError(`${conn.program} returned no recipient stanza`);
          return stanzas;
        default:
          if (!(await handleUserRequest(ses, s))) conn.send('unsupported');
      }
    }
  });
}

/** The armored age file of `dataKey` for one plugin recipient (what sops stores in `enc`). */
export async function encryptToPlugin(recipient: string, dataKey: Buffer, opts: PluginOptions): Promise<string> {
  const fileKey = randomBytes(16);
  const stanzas = await wrapFileKey(recipient, fileKey, opts);
  return sealFile(dataKey, fileKey, stanzas);
}

// --- identity-v1 -------------------------------------------------------------------------------------

/** The file key one plugin identity unwraps from a header's stanzas, or null if it matches none. */
export async function unwrapFileKey(
  identity: string,
  stanzas: readonly AgeStanza[],
  opts: PluginOptions,
): Promise<Buffer | null> {
  const name = pluginIdentityName(identity);
  if (!name) throw new PluginError('not an age plugin identity (AGE-PLUGIN-NAME-1…)');
  return withSession(name, 'identity-v1', opts, async (ses) => {
    const { conn } = ses;
    conn.send('add-identity', [identity]);
    grease(conn);
    for (const st of stanzas) conn.send('recipient-stanza', ['0', st.type, ...st.args], st.body);
    conn.send('done');
    let fileKey: Buffer | null = null;
    for (;;) {
      const s = await conn.read();
      switch (s.type) {
        case 'file-key':
          if (s.args.length !== 1 || !/^\d+$/.test(s.args[0]!)) {
            throw new PluginError(`${conn.program} sent a malformed file-key`);
          }
          if (s.args[0] !== '0') throw new PluginError(`${conn.program} sent a key for a file it was not given`);
          if (fileKey) throw new PluginError(`${conn.program} sent two file keys`);
          fileKey = s.body;
          conn.send('ok');
          break;
        case 'error':
          conn.send('ok');
          throw new PluginError(`${conn.program}: ${printable(s.body) || 'error'}`);
        case 'done':
          // no key after an unanswered request: that is the reason to tell
          if (!fileKey && ses.uiProblem) throw new PluginError(`${conn.program} returned no file key`);
          return fileKey;
        default:
          if (!(await handleUserRequest(ses, s))) conn.send('unsupported');
      }
    }
  });
}

/** Stanzas as the age library (typage) hands them to an identity: the type is args[0]. */
interface LibraryStanza {
  readonly args: string[];
  readonly body: Uint8Array;
}

/** A plugin identity in the shape the age library's Decrypter takes. */
export function pluginIdentity(
  identity: string,
  opts: PluginOptions,
): { unwrapFileKey(stanzas: LibraryStanza[]): Promise<Uint8Array | null> } {
  return {
    async unwrapFileKey(stanzas) {
      const ours = stanzas.map((s) => ({ type: s.args[0] ?? '', args: s.args.slice(1), body: Buffer.from(s.body) }));
      return unwrapFileKey(identity, ours, opts);
    },
  };
}
