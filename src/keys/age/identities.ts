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
 * Passphrase-protected SSH keys and age-encrypted identity files are skipped (tsops does not prompt).
 * Nothing here ever puts key material in a message.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Identity } from 'age-encryption';
import { bech32Decode, bech32Encode } from './bech32.js';
import { pluginIdentityName } from './key.js';
import { shlexSplit } from './shlex.js';
import { parseSshPrivateKey, SshKeyEncryptedError } from './ssh-keys.js';
import { ed25519SeedToX25519Secret } from './x25519.js';

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

export interface IdentitySet {
  identities: AgeIdentity[];
  reports: SourceReport[];
  /** Variables not set, for messages. */
  unset: string[];
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
}

/**
 * Parse identity text (a keys file, SOPS_AGE_KEY, a command's output). One bad line makes the whole
 * source unusable, as in sops; the message gives the line number, never its content.
 */
export function parseIdentityText(text: string, manyPerLine: boolean): Parsed {
  if (text.startsWith('-----BEGIN AGE') || text.startsWith('age-encryption')) {
    return {
      identities: [],
      status: 'a passphrase-protected age identity file, skipped: tsops cannot ask for its passphrase',
    };
  }
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

/** Identities for an SSH private key: the ssh stanza identity, and for Ed25519 the derived X25519 one. */
function parseSshIdentities(text: string): Parsed {
  try {
    const key = parseSshPrivateKey(text);
    // the SSH stanza code (and the age library it builds on) loads only when such a stanza is tried
    const ssh: Identity = {
      unwrapFileKey: async (stanzas) => (await import('./ssh-stanzas.js')).sshIdentity(key).unwrapFileKey(stanzas),
    };
    const ids: AgeIdentity[] = [ssh];
    if (key.type === 'ssh-ed25519') {
      ids.push(bech32Encode('AGE-SECRET-KEY-', ed25519SeedToX25519Secret(key.seed)).toUpperCase());
    }
    return { identities: ids, status: `${key.type} key` };
  } catch (e) {
    if (e instanceof SshKeyEncryptedError) {
      return { identities: [], status: 'passphrase-protected, skipped: tsops cannot ask for SSH key passphrases' };
    }
    return { identities: [], status: `unusable: ${(e as Error).message}` };
  }
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

async function readSource(file: string): Promise<{ text?: string; problem?: string }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (e) {
    return { problem: fsProblem(e) };
  }
}

/** Everything that does not depend on the recipient (files and SOPS_AGE_KEY). */
async function loadStatic(env: NodeJS.ProcessEnv): Promise<IdentitySet> {
  const set: IdentitySet = { identities: [], reports: [], unset: [] };
  const add = (order: number, label: string, p: Parsed) => {
    set.identities.push(...p.identities);
    set.reports.push({ order, label, status: p.status });
  };

  const sshFile = env[ENV.sshKeyFile];
  if (sshFile !== undefined) {
    const label = `${ENV.sshKeyFile}=${display(sshFile, env)}`;
    const r = await readSource(sshFile);
    add(1, label, r.text !== undefined ? parseSshIdentities(r.text) : { identities: [], status: r.problem! });
  } else set.unset.push(ENV.sshKeyFile);

  if (env[ENV.sshKeyCmd] === undefined) set.unset.push(ENV.sshKeyCmd);

  const home = homeDir(env);
  if (home) {
    for (const name of ['id_ed25519', 'id_rsa']) {
      const file = path.join(home, '.ssh', name);
      const r = await readSource(file);
      add(
        3,
        display(file, env),
        r.text !== undefined ? parseSshIdentities(r.text) : { identities: [], status: r.problem! },
      );
    }
  }

  const key = env[ENV.key];
  if (key !== undefined) add(4, ENV.key, parseIdentityText(key, true));
  else set.unset.push(ENV.key);

  const keyFile = env[ENV.keyFile];
  if (keyFile !== undefined) {
    const r = await readSource(keyFile);
    add(
      5,
      `${ENV.keyFile}=${display(keyFile, env)}`,
      r.text !== undefined ? parseIdentityText(r.text, false) : { identities: [], status: r.problem! },
    );
  } else set.unset.push(ENV.keyFile);

  if (env[ENV.keyCmd] === undefined) set.unset.push(ENV.keyCmd);

  const cfg = userConfigDir(env);
  if (cfg.dir) {
    const file = path.join(cfg.dir, 'sops', 'age', 'keys.txt');
    const r = await readSource(file);
    add(
      7,
      display(file, env),
      r.text !== undefined ? parseIdentityText(r.text, false) : { identities: [], status: r.problem! },
    );
  } else {
    set.reports.push({ order: 7, label: 'default keys file', status: `unknown location: ${cfg.error}` });
  }
  return set;
}

/** The two commands, which are told the recipient. */
async function loadCommands(env: NodeJS.ProcessEnv, recipient: string): Promise<IdentitySet> {
  const set: IdentitySet = { identities: [], reports: [], unset: [] };
  const sshCmd = env[ENV.sshKeyCmd];
  if (sshCmd !== undefined) {
    const r = await runKeyCommand(sshCmd, env, recipient);
    const p = r.out ? parseSshIdentities(r.out.toString('utf8')) : { identities: [], status: r.problem! };
    set.identities.push(...p.identities);
    set.reports.push({ order: 2, label: ENV.sshKeyCmd, status: p.status });
  }
  const keyCmd = env[ENV.keyCmd];
  if (keyCmd !== undefined) {
    const r = await runKeyCommand(keyCmd, env, recipient);
    const p = r.out ? parseIdentityText(r.out.toString('utf8'), false) : { identities: [], status: r.problem! };
    set.identities.push(...p.identities);
    set.reports.push({ order: 6, label: ENV.keyCmd, status: p.status });
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
    return Promise.resolve({ identities: [], reports: [], unset: [] });
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
