/**
 * Questions to the person at the terminal: a passphrase (never echoed), a yes/no choice, a message.
 * They go through the controlling terminal, `/dev/tty`, so that they work while standard input and
 * output carry a file (`tsops decrypt < in > out`), as sops's age prompts do (sops's age/tui.go
 * opens /dev/tty, else uses standard input and standard error when standard input is a terminal).
 *
 * - `promptSecret(question)` prints `question` and a space, reads one line with echo off and returns
 *   it; the terminal's mode is restored on every way out: Enter, end of input, an error, Ctrl-C
 *   (then tsops gets SIGINT, as when echo is off in sops), SIGTERM/SIGHUP, or process exit. The
 *   answer is never written anywhere.
 * - `confirm(question, yes, no)` asks for a choice between two answers, as age's terminal UI does
 *   for plugins: with `no` the user presses 1 (`yes`) or 2 (`no`); without, Enter confirms.
 * - `message(text)` writes one line to the terminal, or to standard error when there is none.
 *
 * Without a terminal, `promptSecret` and `confirm` throw `NoTerminalError` (one line, exit 1): CI and
 * pipes never hang waiting for a passphrase.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { SopsError } from '../errors.js';

/** There is no terminal to ask on (no /dev/tty, and standard input is not a terminal). */
export class NoTerminalError extends SopsError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `cannot ask for ${what}: no terminal (/dev/tty is not available and standard input is not a terminal)`,
      1,
      options,
    );
  }
}

/** A terminal opened for one question: where to read (raw mode) and where to write. */
interface Terminal {
  input: ReadStream;
  /** The file descriptor prompts are written to. */
  outFd: number;
  /** Close what was opened for this question (not process.stdin). */
  close(): void;
}

/** Open /dev/tty, else fall back to standard input (when it is a terminal) and standard error. */
function openTerminal(what: string): Terminal {
  let fd: number | undefined;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch (e) {
    if (!process.stdin.isTTY) throw new NoTerminalError(what, { cause: e });
  }
  if (fd === undefined) {
    const input = process.stdin as ReadStream;
    return { input, outFd: 2, close: () => input.pause() };
  }
  let input: ReadStream;
  try {
    input = new ReadStream(fd);
  } catch (e) {
    closeSync(fd);
    throw new NoTerminalError(what, { cause: e });
  }
  const tty = input;
  const outFd = fd;
  return { input: tty, outFd, close: () => tty.destroy() }; // destroy closes the descriptor
}

function writeTo(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    /* the terminal went away: nothing more to tell */
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Read keys in raw mode until `onKeys` returns a result (not undefined). The terminal's mode is
 * restored before the promise settles and on signals and process exit. Ctrl-C restores the mode and
 * sends SIGINT to tsops (whose handlers, e.g. `edit`'s clean-up, then run as for a real Ctrl-C).
 */
function readRaw<T>(t: Terminal, prompt: string, onKeys: (b: Buffer) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const input = t.input;
    let restored = false;
    let prompted = false;
    const restore = () => {
      if (restored) return;
      restored = true;
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      process.removeListener('exit', restore);
      try {
        input.setRawMode(false);
      } catch {
        /* the terminal is gone */
      }
      if (prompted) writeTo(t.outFd, '\r\n'); // the answer was not echoed: end the prompt's line
      t.close();
    };
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of SIGNALS) {
      const h = () => {
        // alone? then the signal would have ended tsops: restore, and let it end tsops
        const alone = process.listenerCount(sig) === 1;
        restore();
        if (alone) process.kill(process.pid, sig);
        else reject(new SopsError(`interrupted by ${sig}`));
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    process.on('exit', restore);
    const onData = (b: Buffer) => {
      if (b.includes(0x03)) {
        restore();
        reject(new SopsError('interrupted'));
        process.kill(process.pid, 'SIGINT');
        return;
      }
      let r: T | undefined;
      try {
        r = onKeys(b);
      } catch (e) {
        restore();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (r !== undefined) {
        restore();
        resolve(r);
      }
    };
    const onEnd = () => {
      restore();
      reject(new SopsError('the terminal closed before an answer was given'));
    };
    const onError = (e: Error) => {
      restore();
      reject(new SopsError(`cannot read the terminal: ${e.message}`, 1, { cause: e }));
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    try {
      input.setRawMode(true);
    } catch (e) {
      restore();
      reject(new SopsError(`cannot switch the terminal's echo off: ${(e as Error).message}`, 1, { cause: e }));
      return;
    }
    writeTo(t.outFd, prompt); // after echo is off: nothing typed at the prompt is ever shown
    prompted = true;
    input.resume();
  });
}

/** Remove the last UTF-8 character of `bytes`. */
function dropLastChar(bytes: number[]): void {
  while (bytes.length > 0) {
    const b = bytes.pop()!;
    if ((b & 0xc0) !== 0x80) return; // not a continuation byte: the character's first byte
  }
}

/**
 * Ask for a secret on the terminal: prints `question` and a space, reads a line with echo off (the
 * line ends with Enter; Backspace and Ctrl-U edit it; Ctrl-D on an empty line is end of input and
 * an error), then moves to a new line. `what` names the secret in the NoTerminalError
 * (e.g. `the passphrase of ~/.ssh/id_ed25519`).
 */
export async function promptSecret(question: string, what = 'a secret'): Promise<string> {
  const t = openTerminal(what);
  const line: number[] = [];
  try {
    return await readRaw(t, `${question} `, (b) => {
      for (const c of b) {
        if (c === 0x0d || c === 0x0a) return Buffer.from(line).toString('utf8');
        if (c === 0x7f || c === 0x08) dropLastChar(line);
        else if (c === 0x15) line.length = 0;
        else if (c === 0x04) {
          if (line.length === 0) throw new SopsError(`no answer for ${what} (end of input)`);
        } else if (c >= 0x20 || c === 0x09) line.push(c);
      }
      return undefined;
    });
  } finally {
    line.fill(0);
  }
}

/**
 * Ask the user to choose, as age's terminal UI asks for plugins. With `no`, the question is followed
 * by `(press [1] for "YES" or [2] for "NO")` and a key 1 or 2 answers (other keys ask again); without
 * `no`, by `(press enter for "YES")` and Enter answers true.
 */
export async function confirm(question: string, yes = 'yes', no?: string): Promise<boolean> {
  const t = openTerminal('a confirmation');
  const enterOnly = no === undefined;
  const prompt = enterOnly
    ? `${question} (press enter for ${JSON.stringify(yes)}) `
    : `${question} (press [1] for ${JSON.stringify(yes)} or [2] for ${JSON.stringify(no)}) `;
  return readRaw(t, prompt, (b) => {
    for (const c of b) {
      if (enterOnly && (c === 0x0d || c === 0x0a)) return true;
      if (!enterOnly && c === 0x31) return true;
      if (!enterOnly && c === 0x32) return false;
      if (c === 0x04) throw new SopsError('no answer (end of input)');
    }
    return undefined;
  });
}

/** Write one line for the user on the terminal (standard error when there is none). */
export function message(text: string): void {
  const line = text.endsWith('\n') ? text : `${text}\n`;
  let fd: number | undefined;
  try {
    fd = openSync('/dev/tty', 'w');
  } catch {
    process.stderr.write(line);
    return;
  }
  try {
    writeTo(fd, line);
  } finally {
    closeSync(fd);
  }
}

/** Is there a terminal to ask on? (Without opening a prompt: for callers that want to skip early.) */
export function hasTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return (process.stdin.isTTY as boolean | undefined) === true;
  }
}
