/*
 * age-plugin-tsopstest: a TEST-ONLY age plugin, written from the C2SP age-plugin specification for
 * tsops's tests. Its "wrap" is NOT encryption: anyone who knows the recipient can undo it. Never use
 * it for anything but tests.
 *
 * Keys: 32 random bytes K.
 *   identity   AGE-PLUGIN-TSOPSTEST-1…  bech32 of K
 *   recipient  age1tsopstest1…          bech32 of R = SHA-256("tsopstest recipient" || K)
 * Stanza: `-> tsopstest TAG` with TAG = base64(SHA-256("tsopstest tag" || R)[0..4]) and body
 *   fileKey XOR SHA-256("tsopstest pad" || R)[0..16] (16 bytes).
 *
 * State machines: `--age-plugin=recipient-v1` and `--age-plugin=identity-v1` as the spec describes
 * (unknown phase-1 commands ignored, unknown stanzas ignored, `error` for a tsopstest stanza with a
 * bad shape). `--generate` prints a new identity with its recipient in a comment, like age-keygen.
 *
 * Behaviour switches (environment, test configuration only):
 *   TSOPSTEST_MSG=text       send `msg` first
 *   TSOPSTEST_PIN=pin        send `request-secret`; the answer must be `pin` (else `error`)
 *   TSOPSTEST_PUBLIC=1       send `request-public` (the answer is only logged)
 *   TSOPSTEST_CONFIRM=1      send `confirm` (yes "Go on", no "Stop"); "no" gives an `error`
 *   TSOPSTEST_UNKNOWN=1      send a command the client does not know; expect `unsupported`
 *   TSOPSTEST_ERROR=text     send `error internal` with that text instead of a result
 *   TSOPSTEST_EXIT=code      print a line on stderr and exit with `code` before answering
 *   TSOPSTEST_HANG=1         never answer after phase 1
 *   TSOPSTEST_PIDFILE=file   write the plugin's process id there at start
 *   TSOPSTEST_LOG=file       append one JSON line per run: argv, cwd, whether SOPS_AGE_KEY was in the
 *                            environment, the commands received and the client's answers
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');

// --- bech32 (BIP 173, no length limit, as age uses it) -------------------------------------------
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
function polymod(values) {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i];
  }
  return chk >>> 0;
}
function hrpExpand(hrp) {
  const a = [...hrp].map((c) => c.charCodeAt(0) >> 5);
  const b = [...hrp].map((c) => c.charCodeAt(0) & 31);
  return [...a, 0, ...b];
}
function convert(data, from, to, pad) {
  let acc = 0;
  let bits = 0;
  const out = [];
  for (const v of data) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & ((1 << to) - 1));
    }
  }
  if (pad && bits > 0) out.push((acc << (to - bits)) & ((1 << to) - 1));
  return out;
}
function bech32Encode(hrp, bytes) {
  const data = convert(bytes, 8, 5, true);
  const mod = polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const sum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...data, ...sum].map((d) => CHARSET[d]).join('')}`;
}
function bech32Decode(s) {
  const str = s.toLowerCase();
  const sep = str.lastIndexOf('1');
  const hrp = str.slice(0, sep);
  const data = [...str.slice(sep + 1)].map((c) => CHARSET.indexOf(c));
  if (sep < 1 || data.some((d) => d < 0) || polymod([...hrpExpand(hrp), ...data]) !== 1) return null;
  return { hrp, bytes: Buffer.from(convert(data.slice(0, -6), 5, 8, false)) };
}

// --- the test "wrap" --------------------------------------------------------------------------------
const sha = (...parts) =>
  crypto
    .createHash('sha256')
    .update(Buffer.concat(parts.map((p) => Buffer.from(p))))
    .digest();
const recipientOf = (k) => sha('tsopstest recipient', k);
const tagOf = (r) => sha('tsopstest tag', r).subarray(0, 4).toString('base64').replace(/=+$/, '');
const xor16 = (a, r) => {
  const pad = sha('tsopstest pad', r);
  return Buffer.from(a.subarray(0, 16).map((b, i) => b ^ pad[i]));
};

// --- stanzas -----------------------------------------------------------------------------------------
const b64 = (b) => Buffer.from(b).toString('base64').replace(/=+$/, '');
function stanza(type, args = [], body = Buffer.alloc(0)) {
  const text = b64(body);
  const lines = text.match(/.{1,64}/g) || [];
  if (text.length % 64 === 0) lines.push('');
  return `-> ${[type, ...args].join(' ')}\n${lines.join('\n')}\n`;
}

let input = '';
const ready = [];
let waiting = null;
let current = null;
let ended = false;
process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk) => {
  input += chunk;
  let nl;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    if (!current) {
      if (!line.startsWith('-> ')) fatal(`unexpected line from the client: ${JSON.stringify(line.slice(0, 40))}`);
      const [type, ...args] = line.slice(3).split(' ');
      current = { type, args, body: [] };
    } else {
      current.body.push(line);
      if (line.length < 64) {
        const s = { type: current.type, args: current.args, body: Buffer.from(current.body.join(''), 'base64') };
        current = null;
        if (waiting) {
          const w = waiting;
          waiting = null;
          w(s);
        } else ready.push(s);
      }
    }
  }
});
process.stdin.on('end', () => {
  ended = true;
  if (waiting) fatal('the client closed the connection');
});
function next() {
  if (ready.length) return Promise.resolve(ready.shift());
  if (ended) fatal('the client closed the connection');
  return new Promise((resolve) => (waiting = resolve));
}
function fatal(msg) {
  process.stderr.write(`age-plugin-tsopstest: ${msg}\n`);
  process.exit(1);
}
function send(type, args, body) {
  // the log is written before the last word: the client may end the plugin as soon as it has it
  if (type === 'done' || type === 'error') writeLog();
  process.stdout.write(stanza(type, args, body));
}
const log = { argv: process.argv.slice(2), cwd: process.cwd(), sopsAgeKeyInEnv: 'SOPS_AGE_KEY' in process.env };
log.received = [];
log.answers = [];
let logged = false;
function writeLog() {
  if (logged) return;
  logged = true;
  if (process.env.TSOPSTEST_LOG) fs.appendFileSync(process.env.TSOPSTEST_LOG, `${JSON.stringify(log)}\n`);
}

/** Phase 1: commands until `done`. */
async function phase1() {
  const cmds = [];
  for (;;) {
    const s = await next();
    log.received.push(s.type);
    if (s.type === 'done') return cmds;
    cmds.push(s);
  }
}

/** Send a phase-2 command and wait for the answer. */
async function ask(type, args, body) {
  send(type, args, body);
  const a = await next();
  log.answers.push([a.type, ...a.args]);
  return a;
}

/** The user interactions the switches ask for; returns an error message or null. */
async function interact() {
  const env = process.env;
  if (env.TSOPSTEST_EXIT) {
    process.stderr.write('age-plugin-tsopstest: exiting early on purpose\n');
    process.exit(Number(env.TSOPSTEST_EXIT));
  }
  if (env.TSOPSTEST_HANG) await new Promise(() => setInterval(() => {}, 1 << 30));
  if (env.TSOPSTEST_UNKNOWN) {
    const a = await ask('frobnicate', ['1'], Buffer.from('x'));
    if (a.type !== 'unsupported') return `expected "unsupported", got ${a.type}`;
  }
  if (env.TSOPSTEST_MSG) await ask('msg', [], Buffer.from(env.TSOPSTEST_MSG));
  if (env.TSOPSTEST_CONFIRM) {
    const a = await ask('confirm', [b64('Go on'), b64('Stop')], Buffer.from('Really use the tsopstest key?'));
    if (a.type !== 'ok') return 'confirmation not given';
    if (a.args[0] !== 'yes') return 'the user said stop';
  }
  if (env.TSOPSTEST_PUBLIC) {
    const a = await ask('request-public', [], Buffer.from('Your name:'));
    log.publicValue = a.type === 'ok' ? a.body.toString() : null;
  }
  if (env.TSOPSTEST_PIN !== undefined) {
    const a = await ask('request-secret', [], Buffer.from('Enter the tsopstest PIN:'));
    if (a.type !== 'ok') return 'a PIN is required';
    if (a.body.toString() !== env.TSOPSTEST_PIN) return 'wrong PIN';
  }
  if (env.TSOPSTEST_ERROR) return env.TSOPSTEST_ERROR;
  return null;
}

async function recipientV1() {
  const cmds = await phase1();
  const recipients = [];
  const keys = [];
  for (const c of cmds) {
    if (c.type === 'add-recipient') {
      const d = bech32Decode(c.args[0] || '');
      if (!d || d.hrp !== 'age1tsopstest' || d.bytes.length !== 32) {
        await ask('error', ['recipient', String(recipients.length)], Buffer.from('not a tsopstest recipient'));
        return;
      }
      recipients.push(d.bytes);
    } else if (c.type === 'add-identity') {
      const d = bech32Decode(c.args[0] || '');
      if (!d || d.hrp !== 'age-plugin-tsopstest-' || d.bytes.length !== 32) {
        await ask('error', ['identity', '0'], Buffer.from('not a tsopstest identity'));
        return;
      }
      recipients.push(recipientOf(d.bytes));
    } else if (c.type === 'wrap-file-key') keys.push(c.body);
    // anything else (grease, extension-labels) is ignored, as the spec says
  }
  const problem = await interact();
  if (problem) {
    await ask('error', ['internal'], Buffer.from(problem));
    return;
  }
  for (let f = 0; f < keys.length; f++) {
    for (const r of recipients) await ask('recipient-stanza', [String(f), 'tsopstest', tagOf(r)], xor16(keys[f], r));
  }
  send('done');
}

async function identityV1() {
  const cmds = await phase1();
  const identities = [];
  const files = new Map();
  for (const c of cmds) {
    if (c.type === 'add-identity') {
      const d = bech32Decode(c.args[0] || '');
      if (!d || d.hrp !== 'age-plugin-tsopstest-' || d.bytes.length !== 32) {
        await ask('error', ['identity', String(identities.length)], Buffer.from('not a tsopstest identity'));
        send('done');
        return;
      }
      identities.push(recipientOf(d.bytes));
    } else if (c.type === 'recipient-stanza') {
      const [file, type, ...args] = c.args;
      if (!files.has(file)) files.set(file, []);
      files.get(file).push({ type, args, body: c.body });
    }
  }
  const problem = await interact();
  if (problem) {
    await ask('error', ['internal'], Buffer.from(problem));
    send('done');
    return;
  }
  for (const [file, stanzas] of files) {
    let found = null;
    for (let i = 0; i < stanzas.length && !found; i++) {
      const s = stanzas[i];
      if (s.type !== 'tsopstest') continue; // not ours: ignored
      if (s.args.length !== 1 || s.body.length !== 16) {
        await ask('error', ['stanza', file, String(i)], Buffer.from('malformed tsopstest stanza'));
        break;
      }
      const r = identities.find((x) => tagOf(x) === s.args[0]);
      if (r) found = xor16(s.body, r);
    }
    if (found) await ask('file-key', [file], found);
  }
  send('done');
}

async function main() {
  if (process.env.TSOPSTEST_PIDFILE) fs.writeFileSync(process.env.TSOPSTEST_PIDFILE, String(process.pid));
  const arg = process.argv[2] || '';
  if (arg === '--generate') {
    const k = crypto.randomBytes(32);
    process.stdout.write(
      `# recipient: ${bech32Encode('age1tsopstest', recipientOf(k))}\n` +
        `${bech32Encode('age-plugin-tsopstest-', k).toUpperCase()}\n`,
    );
    return;
  }
  if (arg === '--age-plugin=recipient-v1') await recipientV1();
  else if (arg === '--age-plugin=identity-v1') await identityV1();
  else fatal(`unknown state machine ${JSON.stringify(arg)}`);
  // wait for the client to close the connection (age sends SIGINT or closes stdin)
  if (!ended) await new Promise((resolve) => process.stdin.once('end', resolve));
}

main().then(
  () => process.exit(0),
  (e) => fatal(e.message),
);
