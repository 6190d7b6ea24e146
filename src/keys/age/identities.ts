/**
 * Finding the user's age identities the way sops 3.x does, from the environment passed in:
 *
 *  1. SOPS_AGE_SSH_PRIVATE_KEY_FILE: an SSH private key file
 *  2. SOPS_AGE_SSH_PRIVATE_KEY_CMD: a command printing an SSH private key
 *  3. ~/.ssh/id_ed25519 and ~/.ssh/id_rsa, when they exist
 *  4. SOPS_AGE_KEY: identities, one or more per line (`#` lines are comments)
 *  5. SOPS_AGE_KEY_FILE: a file of identities, one per line
 *  6. SOPS_AGE_KEY_CMD: a command printing identities
 *  7. the default keys file: $XDG_CONFIG_HOME/sops/age/keys.txt, else ~/.config/sops/age/keys.txt
 *     (macOS: ~/Library/Application Support/sops/age/keys.txt; Windows: %AppData%\sops\age\keys.txt)
 *
 * Every source found is used (any of them may decrypt). The commands get SOPS_AGE_RECIPIENT (the
 * recipient being decrypted) in their environment and are split into words like sops does (no
 * shell). An Ed25519 SSH key also yields the X25519 identity ssh-to-age derives from it.
 *
 * Identities are loaded once per distinct environment; command output once per recipient.
 *
 * Passphrase-protected keys are "locked sources": a protected SSH key (OpenSSH or PEM) and an
 * age-encrypted identity file (`-----BEGIN AGE ENCRYPTED FILE-----` or binary, encrypted with
 * `age -p`) in any of the places above. The passphrase is asked on the terminal (src/util/tty.ts,
 * no echo) only when nothing else decrypts the data key and, for an SSH key, only when the file
 * was encrypted to that key; at most once per key per run. Prompts are sops's:
 * `Enter passphrase for "PATH":` (SSH keys) and `Enter passphrase for identity 'LOCATION':`
 * (age files; LOCATION is the variable's name or the default keys file's path). Without a
 * terminal, or with a wrong passphrase, that key is reported unusable and the others are still
 * tried (sops stops at that key). Nothing here ever puts key material or a passphrase in a message.
 */
import { createHash, scrypt } from 'node:crypto';
import { readFile } from 'node:fs';
import path from 'node:path';
import type { Identity } from 'age-encryption';
import { bech32Decode, bech32Encode } from './bech32.js';
import { pluginIdentityName } from './key.js';
import { shlexSplit } from './shlex.js';
import { dearmor, openPayload, parseAgeFile, type AgeStanza } from './native.js';
import {
  parseSshPrivateKey,
  parseSshPublicKey,
  sshKeyTag,
  SshKeyEncryptedError,
  WrongPassphraseError,
  type LockedSshKey,
  type SshPrivateKey,
} from './ssh-keys.js';
import { ed25519SeedToX25519Secret, ed25519ToX25519Public, openZeroNonce } from './x25519.js';

export const ENV = {
  key: 'SOPS_AGE_KEY',
  keyFile: 'SOPS_AGE_KEY_FILE',
  keyCmd: 'SOPS_AGE_KEY_CMD',
  sshKeyFile: 'SOPS_AGE_SSH_PRIVATE_KEY_FILE',
  sshKeyCmd: 'SOPS_AGE_SSH_PRIVATE_KEY_CMD',
  recipient: 'SOPS_AGE_RECIPIENT',
} as const;

/** An identity in the form typage's Decrypter.addIdentity takes. */
export type AgeIdentity = string | Identity;

/** What one place yielded, for messages: e.g. `SOPS_AGE_KEY (2 identities)`. */
export interface SourceReport {
  /** Position in sops's order (see the module comment). */
  order: number;
  label: string;
  status: string;
}

/**
 * A place whose identities need a passphrase. `open` asks for it (once: the result is kept) and
 * resolves to the identities, or to none with the report's status saying why.
 */
export interface LockedSource {
  /** Could these identities open a file with these stanzas, for this recipient? (Asked before prompting.) */
  wanted(stanzas: AgeStanza[] | null, recipient: string): boolean;
  open(): Promise<AgeIdentity[]>;
}

export interface IdentitySet {
  identities: AgeIdentity[];
  reports: SourceReport[];
  /** Variables not set, for messages. */
  unset: string[];
  /** Passphrase-protected places, opened only when needed. */
  locked: LockedSource[];
}

/** How long a key command may run (it may wait for a password manager or a touch). */
const CMD_TIMEOUT_MS = 5 * 60_000;
const CMD_MAX_OUTPUT = 16 << 20;

// --- paths -----------------------------------------------------------------------------------------

function homeDir(env: NodeJS.ProcessEnv): string | undefined {
  const h = process.platform === 'win32' ? env.USERPROFILE : env.HOME;
  return h || undefined;
}

/** Go's os.UserConfigDir, with sops's XDG_CONFIG_HOME override on macOS. */
function userConfigDir(env: NodeJS.ProcessEnv): { dir?: string; error?: string } {
  if (process.platform === 'win32') {
    return env.APPDATA ? { dir: env.APPDATA } : { error: '%AppData% is not defined' };
  }
  if (process.platform === 'darwin') {
    if (env.XDG_CONFIG_HOME) return { dir: env.XDG_CONFIG_HOME };
    const home = homeDir(env);
    return home ? { dir: path.join(home, 'Library', 'Application Support') } : { error: '$HOME is not defined' };
  }
  if (env.XDG_CONFIG_HOME) {
    if (!path.isAbsolute(env.XDG_CONFIG_HOME)) return { error: 'the path in $XDG_CONFIG_HOME is relative' };
    return { dir: env.XDG_CONFIG_HOME };
  }
  const home = homeDir(env);
  return home ? { dir: path.join(home, '.config') } : { error: 'neither $XDG_CONFIG_HOME nor $HOME is defined' };
}

function display(p: string, env: NodeJS.ProcessEnv): string {
  const home = homeDir(env);
  if (home && (p === home || p.startsWith(home.endsWith(path.sep) ? home : home + path.sep))) {
    return `~${p.slice(home.replace(/[\\/]+$/, '').length)}`;
  }
  return p;
}

function countIdentities(n: number): string {
  return n === 1 ? '1 identity' : `${n} identities`;
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function fsProblem(e: unknown): string {
  switch (errCode(e)) {
    case 'ENOENT':
      return 'missing';
    case 'EACCES':
    case 'EPERM':
      return 'not readable: permission denied';
    case 'EISDIR':
      return 'not readable: is a directory';
    default:
      return `not readable: ${errCode(e) ?? 'error'}`;
  }
}

// --- parsing ---------------------------------------------------------------------------------------

interface Parsed {
  identities: AgeIdentity[];
  status: string;
  /** A passphrase-protected source; `report` is the place's report, whose status `open` updates. */
  locked?: (report: SourceReport) => LockedSource;
}

/**
 * Parse identity text (a keys file, SOPS_AGE_KEY, a command's output). One bad line makes the whole
 * source unusable, as in sops; the message gives the line number, never its content.
 */
export function parseIdentityText(text: string, manyPerLine: boolean): Parsed {
  const identities: AgeIdentity[] = [];
  let plugins = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    for (const word of manyPerLine ? line.split(/\s+/) : [line]) {
      const problem = checkIdentity(word);
      if (problem) return { identities: [], status: `unusable: line ${i + 1} ${problem}` };
      identities.push(word); // plugin identities too: ./client.ts hands them to ./plugin.ts
      if (word.startsWith('AGE-PLUGIN-')) plugins++;
    }
  }
  let status = countIdentities(identities.length);
  if (plugins) status += `, ${plugins} for ${plugins === 1 ? 'an age plugin' : 'age plugins'}`;
  return { identities, status };
}

/** undefined when `s` is a usable identity (age plugin identities included); else the problem. */
function checkIdentity(s: string): string | undefined {
  if (s.startsWith('AGE-PLUGIN-'))
    return pluginIdentityName(s) ? undefined : 'is a malformed age plugin identity (AGE-PLUGIN-NAME-1…)';
  const pq = s.startsWith('AGE-SECRET-KEY-PQ-1');
  if (!pq && !s.startsWith('AGE-SECRET-KEY-1')) return 'is not an age identity (AGE-SECRET-KEY-1…)';
  try {
    const { hrp, bytes } = bech32Decode(s);
    if (hrp !== (pq ? 'age-secret-key-pq-' : 'age-secret-key-') || bytes.length !== 32)
      return 'is a malformed age identity';
  } catch {
    return 'is a malformed age identity (bad checksum or characters)';
  }
  return undefined;
}

/** The identities of an SSH private key: the ssh stanza identity, and for Ed25519 the derived X25519 one. */
function sshIdentitiesOf(key: SshPrivateKey): AgeIdentity[] {
  // the SSH stanza code (and the age library it builds on) loads only when such a stanza is tried
  const ssh: Identity = {
    unwrapFileKey: async (stanzas) => (await import('./ssh-stanzas.js')).sshIdentity(key).unwrapFileKey(stanzas),
  };
  const ids: AgeIdentity[] = [ssh];
  if (key.type === 'ssh-ed25519') {
    ids.push(bech32Encode('AGE-SECRET-KEY-', ed25519SeedToX25519Secret(key.seed)).toUpperCase());
  }
  return ids;
}

/**
 * Identities for an SSH private key text. `file` is its path (for the prompt and for the `.pub`
 * file a protected PEM key needs), or undefined for a command's output; `name` is how messages
 * name it.
 */
async function parseSshIdentities(text: string, file: string | undefined, name: string): Promise<Parsed> {
  try {
    const key = parseSshPrivateKey(text);
    return { identities: sshIdentitiesOf(key), status: `${key.type} key` };
  } catch (e) {
    if (e instanceof SshKeyEncryptedError) return lockedSsh(e.locked, file, name);
    return { identities: [], status: `unusable: ${(e as Error).message}` };
  }
}

/** A passphrase-protected SSH key: a locked source that asks only for a file encrypted to it. */
async function lockedSsh(locked: LockedSshKey, file: string | undefined, name: string): Promise<Parsed> {
  let pub = locked.publicKey;
  if (!pub) {
    // a protected PEM key shows no public key: sops reads it from KEY.pub, as does tsops
    if (file === undefined) {
      return { identities: [], status: 'passphrase-protected PEM key without a public key: unusable' };
    }
    const r = await readSource(`${file}.pub`);
    if (!r.data)
      return { identities: [], status: `passphrase-protected PEM key; its public key ${name}.pub is ${r.problem}` };
    try {
      pub = parseSshPublicKey(r.data.toString('utf8'));
    } catch (e) {
      return { identities: [], status: `passphrase-protected PEM key; ${name}.pub: ${(e as Error).message}` };
    }
  }
  const publicKey = pub;
  const tag = sshKeyTag(publicKey.blob);
  // the age recipient ssh-to-age derives from an Ed25519 key (its X25519 identity's recipient)
  const derived = publicKey.ed25519 ? bech32Encode('age', ed25519ToX25519Public(publicKey.ed25519)) : undefined;
  const what = `${publicKey.type} key`;
  return {
    identities: [],
    status: `passphrase-protected ${what}`,
    locked: (report) => {
      let opened: Promise<AgeIdentity[]> | undefined;
      return {
        wanted: (stanzas, recipient) =>
          stanzas === null ||
          stanzas.some((st) => st.type === publicKey.type && st.args[0] === tag) ||
          (derived !== undefined && recipient === derived && stanzas.some((st) => st.type === 'X25519')),
        open: () =>
          (opened ??= (async () => {
            const pass = await askPassphrase(
              // sops's prompt (Go's %q of the path)
              `Enter passphrase for ${JSON.stringify(file ?? name)}:`,
              `the passphrase of ${name}`,
              report,
              `passphrase-protected ${what}`,
            );
            if (pass === undefined) return [];
            try {
              const key = await locked.unlock(pass);
              report.status = `passphrase-protected ${what}, opened`;
              return sshIdentitiesOf(key);
            } catch (e) {
              report.status =
                e instanceof WrongPassphraseError
                  ? `passphrase-protected ${what}: wrong passphrase`
                  : `passphrase-protected ${what}: ${(e as Error).message}`;
              return [];
            }
          })()),
      };
    },
  };
}

/**
 * Ask for a passphrase on the terminal; undefined (and the report's status says why) when there
 * is no terminal or the question could not be asked. The passphrase itself is never stored here.
 */
async function askPassphrase(
  question: string,
  what: string,
  report: SourceReport,
  status: string,
): Promise<string | undefined> {
  const tty = await import('../../util/tty.js');
  try {
    return await tty.promptSecret(question, what);
  } catch (e) {
    report.status =
      e instanceof tty.NoTerminalError
        ? `${status}: no terminal to ask for its passphrase`
        : `${status}: ${(e as Error).message}`;
    return undefined;
  }
}

// --- age identity files encrypted with a passphrase (age -p) ----------------------------------------

const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
/** The largest scrypt work factor accepted (as Go age's default for identities: 2^22). */
const MAX_SCRYPT_LOG_N = 22;

/** Is this text (or these bytes) an age-encrypted file, armored or binary? (sops looks at the first 14 bytes.) */
function isAgeEncrypted(data: Buffer): boolean {
  const head = data.subarray(0, 14).toString('latin1');
  return head === '-----BEGIN AGE' || head === 'age-encryption';
}

/**
 * An age-encrypted identity file: locked until its passphrase decrypts it (age's scrypt recipient),
 * then parsed as an identity file. `location` is what sops names it in the prompt.
 */
function lockedAgeFile(data: Buffer, location: string): Parsed {
  const bin = data.subarray(0, 14).toString('latin1') === '-----BEGIN AGE' ? dearmor(data.toString('latin1')) : data;
  const file = bin ? parseAgeFile(bin) : null;
  if (!file) return { identities: [], status: 'an age-encrypted identity file that cannot be read' };
  const st = file.stanzas[0];
  if (file.stanzas.length !== 1 || st?.type !== 'scrypt') {
    return {
      identities: [],
      status: file.stanzas.some((x) => x.type === 'scrypt')
        ? 'unusable: an scrypt recipient must be the only one'
        : 'an age-encrypted identity file not encrypted with a passphrase (age -p): unusable',
    };
  }
  const stanza = st;
  const status = 'passphrase-protected age identity file';
  return {
    identities: [],
    status,
    locked: (report) => {
      let opened: Promise<AgeIdentity[]> | undefined;
      return {
        wanted: () => true,
        open: () =>
          (opened ??= (async () => {
            const pass = await askPassphrase(
              `Enter passphrase for identity '${location}':`,
              `the passphrase of the age identity file ${report.label}`,
              report,
              status,
            );
            if (pass === undefined) return [];
            let fileKey: Buffer | null;
            try {
              fileKey = await scryptUnwrap(stanza, pass);
            } catch (e) {
              report.status = `${status}: ${(e as Error).message}`;
              return [];
            }
            if (!fileKey) {
              report.status = `${status}: wrong passphrase`;
              return [];
            }
            let text: string;
            try {
              text = openPayload(file, fileKey).toString('utf8');
            } catch (e) {
              report.status = `${status}: ${(e as Error).message}`;
              return [];
            } finally {
              fileKey.fill(0);
            }
            const inner = parseIdentityText(text, false);
            report.status = `${status}, opened: ${inner.status}`;
            return inner.identities;
          })()),
      };
    },
  };
}

/** age's scrypt stanza: the file key, or null when the passphrase does not open it. */
async function scryptUnwrap(stanza: AgeStanza, passphrase: string): Promise<Buffer | null> {
  const [saltArg, logNArg] = stanza.args;
  const salt = saltArg === undefined ? null : Buffer.from(saltArg, 'base64');
  if (stanza.args.length !== 2 || !salt || salt.length !== 16 || !/^[1-9][0-9]?$/.test(logNArg ?? '')) {
    throw new Error('invalid scrypt stanza');
  }
  const logN = Number(logNArg);
  if (logN > MAX_SCRYPT_LOG_N) throw new Error(`scrypt work factor too large (2^${logN})`);
  if (stanza.body.length !== 32) throw new Error('invalid scrypt stanza body');
  const N = 2 ** logN;
  const key = await new Promise<Buffer>((resolve, reject) => {
    scrypt(
      Buffer.from(passphrase, 'utf8'),
      Buffer.concat([Buffer.from(SCRYPT_LABEL, 'latin1'), salt]),
      32,
      { N, r: 8, p: 1, maxmem: 129 * 8 * N + (1 << 20) },
      (err, k) => (err ? reject(err) : resolve(k)),
    );
  });
  try {
    return openZeroNonce(key, stanza.body);
  } finally {
    key.fill(0);
  }
}

/** Identity text, or a locked age-encrypted identity file. */
function parseIdentities(data: Buffer, manyPerLine: boolean, location: string): Parsed {
  if (isAgeEncrypted(data)) return lockedAgeFile(data, location);
  return parseIdentityText(data.toString('utf8'), manyPerLine);
}

// --- commands --------------------------------------------------------------------------------------

/** Run a key command (sops-style word splitting, no shell); resolves to stdout or a problem. */
async function runKeyCommand(
  cmd: string,
  env: NodeJS.ProcessEnv,
  recipient: string,
): Promise<{ out?: Buffer; problem?: string }> {
  let argv: string[];
  try {
    argv = shlexSplit(cmd);
  } catch (e) {
    return { problem: `could not parse the command: ${(e as Error).message}` };
  }
  if (argv.length === 0) return { problem: 'empty command' };
  // (node:child_process loads only for a key command: it costs a decryption's start several ms)
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...env, [ENV.recipient]: recipient },
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CMD_TIMEOUT_MS);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > CMD_MAX_OUTPUT) {
        tooBig = true;
        child.kill();
      } else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.reduce((n, x) => n + x.length, 0) < 8192) err.push(b);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({
        problem:
          errCode(e) === 'ENOENT'
            ? `command not found: ${JSON.stringify(argv[0])}`
            : `could not run the command: ${errCode(e) ?? e.message}`,
      });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (tooBig) return resolve({ problem: 'the command printed more than 16 MiB' });
      if (code === 0) return resolve({ out: Buffer.concat(out) });
      const why = timedOut
        ? `timed out after ${CMD_TIMEOUT_MS / 60_000} minutes`
        : signal
          ? `killed by ${signal}`
          : `exit status ${code}`;
      const detail = summarizeStderr(Buffer.concat(err).toString('utf8'));
      resolve({ problem: `the command failed (${why})${detail ? `: ${detail}` : ''}` });
    });
  });
}

/** The last non-empty stderr line, shortened, with anything looking like an age secret removed. */
function summarizeStderr(s: string): string {
  const lines = s
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const last = (lines[lines.length - 1] ?? '').replace(/AGE-(SECRET-KEY|PLUGIN)-[0-9A-Z-]+/gi, '<redacted>');
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}

// --- loading ---------------------------------------------------------------------------------------

async function readSource(file: string): Promise<{ data?: Buffer; problem?: string }> {
  try {
    // (node:fs's callback form: loading node:fs/promises costs a decryption's start a few ms)
    return { data: await new Promise<Buffer>((ok, fail) => readFile(file, (e, d) => (e ? fail(e) : ok(d)))) };
  } catch (e) {
    return { problem: fsProblem(e) };
  }
}

/** An empty identity set and the one way sources are added to it (identities, report, locked key). */
function identitySet(): { set: IdentitySet; add: (order: number, label: string, p: Parsed) => void } {
  const set: IdentitySet = { identities: [], reports: [], unset: [], locked: [] };
  const add = (order: number, label: string, p: Parsed) => {
    set.identities.push(...p.identities);
    const report = { order, label, status: p.status };
    set.reports.push(report);
    if (p.locked) set.locked.push(p.locked(report));
  };
  return { set, add };
}

/** Everything that does not depend on the recipient (files and SOPS_AGE_KEY). */
async function loadStatic(env: NodeJS.ProcessEnv): Promise<IdentitySet> {
  const { set, add } = identitySet();
  const missing = (problem: string | undefined): Parsed => ({ identities: [], status: problem ?? 'missing' });

  const sshFile = env[ENV.sshKeyFile];
  if (sshFile !== undefined) {
    const label = `${ENV.sshKeyFile}=${display(sshFile, env)}`;
    const r = await readSource(sshFile);
    add(1, label, r.data ? await parseSshIdentities(r.data.toString('utf8'), sshFile, label) : missing(r.problem));
  } else set.unset.push(ENV.sshKeyFile);

  if (env[ENV.sshKeyCmd] === undefined) set.unset.push(ENV.sshKeyCmd);

  const home = homeDir(env);
  if (home) {
    for (const name of ['id_ed25519', 'id_rsa']) {
      const file = path.join(home, '.ssh', name);
      const r = await readSource(file);
      const label = display(file, env);
      add(3, label, r.data ? await parseSshIdentities(r.data.toString('utf8'), file, label) : missing(r.problem));
    }
  }

  const key = env[ENV.key];
  if (key !== undefined) add(4, ENV.key, parseIdentities(Buffer.from(key, 'utf8'), true, ENV.key));
  else set.unset.push(ENV.key);

  const keyFile = env[ENV.keyFile];
  if (keyFile !== undefined) {
    const r = await readSource(keyFile);
    add(
      5,
      `${ENV.keyFile}=${display(keyFile, env)}`,
      r.data ? parseIdentities(r.data, false, ENV.keyFile) : missing(r.problem),
    );
  } else set.unset.push(ENV.keyFile);

  if (env[ENV.keyCmd] === undefined) set.unset.push(ENV.keyCmd);

  const cfg = userConfigDir(env);
  if (cfg.dir) {
    const file = path.join(cfg.dir, 'sops', 'age', 'keys.txt');
    const r = await readSource(file);
    add(7, display(file, env), r.data ? parseIdentities(r.data, false, file) : missing(r.problem));
  } else {
    set.reports.push({ order: 7, label: 'default keys file', status: `unknown location: ${cfg.error}` });
  }
  return set;
}

/** The two commands, which are told the recipient. */
async function loadCommands(env: NodeJS.ProcessEnv, recipient: string): Promise<IdentitySet> {
  const { set, add } = identitySet();
  const sshCmd = env[ENV.sshKeyCmd];
  if (sshCmd !== undefined) {
    const r = await runKeyCommand(sshCmd, env, recipient);
    add(
      2,
      ENV.sshKeyCmd,
      r.out
        ? await parseSshIdentities(r.out.toString('utf8'), undefined, ENV.sshKeyCmd)
        : { identities: [], status: r.problem! },
    );
  }
  const keyCmd = env[ENV.keyCmd];
  if (keyCmd !== undefined) {
    const r = await runKeyCommand(keyCmd, env, recipient);
    add(6, ENV.keyCmd, r.out ? parseIdentities(r.out, false, ENV.keyCmd) : { identities: [], status: r.problem! });
  }
  return set;
}

// --- cache -----------------------------------------------------------------------------------------

const CACHE_VARS = ['HOME', 'USERPROFILE', 'APPDATA', 'XDG_CONFIG_HOME', ...Object.values(ENV)] as const;

/** A digest of the variables that decide where identities come from (the cache key; no secret kept in clear). */
function envDigest(env: NodeJS.ProcessEnv): string {
  const h = createHash('sha256');
  for (const v of CACHE_VARS) h.update(`${v}\0${env[v] ?? '\u0001unset'}\0`);
  return h.digest('hex');
}

const staticCache = new Map<string, Promise<IdentitySet>>();
const commandCache = new Map<string, Promise<IdentitySet>>();

/** File and SOPS_AGE_KEY identities for `env`, loaded once per distinct environment. */
export function staticIdentities(env: NodeJS.ProcessEnv): Promise<IdentitySet> {
  const k = envDigest(env);
  let p = staticCache.get(k);
  if (!p) {
    p = loadStatic(env);
    staticCache.set(k, p);
  }
  return p;
}

/** Identities from SOPS_AGE_SSH_PRIVATE_KEY_CMD / SOPS_AGE_KEY_CMD, run once per environment and recipient. */
export function commandIdentities(env: NodeJS.ProcessEnv, recipient: string): Promise<IdentitySet> {
  if (env[ENV.keyCmd] === undefined && env[ENV.sshKeyCmd] === undefined) {
    return Promise.resolve({ identities: [], reports: [], unset: [], locked: [] });
  }
  const k = `${envDigest(env)}\0${recipient}`;
  let p = commandCache.get(k);
  if (!p) {
    p = loadCommands(env, recipient);
    commandCache.set(k, p);
  }
  return p;
}

/** Forget loaded identities (tests; long-running processes after the user's keys changed). */
export function clearIdentityCache(): void {
  staticCache.clear();
  commandCache.clear();
}

/** `tried …` text for a failure message: every place looked at, in sops's order. */
export function describeSources(sets: IdentitySet[]): string {
  const reports = sets.flatMap((s) => s.reports).sort((a, b) => a.order - b.order);
  const unset = [...new Set(sets.flatMap((s) => s.unset))].filter(
    (v) => !reports.some((r) => r.label === v || r.label.startsWith(`${v}=`)),
  );
  const tried = reports.map((r) => `${r.label} (${r.status})`).join(', ');
  return `tried ${tried || 'nothing'}${unset.length ? `; not set: ${unset.join(', ')}` : ''}`;
}
