/**
 * The batched AES-256-GCM engine (src/aes/gcm-batch.ts, constant-time GHASH in src/aes/ghash.ts) is
 * node's aes-256-gcm, differentially: random keys, IV lengths, AAD and plaintext lengths across the
 * block boundaries, batches of many sizes, and every kind of damage gives today's outcome.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { decryptParsed, encryptValue, parseEncrypted } from '../src/aes/cipher.js';
import { decryptValues, encryptValues, GcmKey, Status, tuning, type PlainValue } from '../src/aes/gcm-batch.js';
import { encodeGoBytes } from '../src/util/gostring.js';

/** A value encrypted by node's GCM with any IV, in sops's layout. */
function nodeEncrypt(plain: Buffer, key: Buffer, aad: string, iv: Buffer, type = 'str'): string {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  c.setAAD(encodeGoBytes(aad));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

/** Today's outcome for one value: its plaintext, or which step threw. */
function oldOutcome(v: string, key: Buffer, aad: string): Buffer | Status {
  let parsed;
  try {
    parsed = parseEncrypted(v);
  } catch {
    return Status.Malformed;
  }
  try {
    return decryptParsed(parsed, key, aad);
  } catch {
    return Status.AuthFailed;
  }
}

function newOutcomes(key: Buffer, values: string[], aads: string[]): Array<Buffer | Status> {
  const r = decryptValues(new GcmKey(key), values, aads);
  return values.map((_, i) =>
    r.status[i] === Status.Ok
      ? Buffer.from(r.buf.subarray(r.start[i], r.end[i]))
      : r.status[i] === Status.Malformed
        ? Status.Malformed
        : Status.AuthFailed,
  );
}

/** Each test on the engine (tuning.small 0) and on the small-batch path (node's GCM per value). */
function both(name: string, fn: () => void): void {
  for (const small of [0, 1 << 30]) {
    test(`${name}${small ? ' (small-batch path)' : ''}`, () => {
      const saved = tuning.small;
      tuning.small = small;
      try {
        fn();
      } finally {
        tuning.small = saved;
      }
    });
  }
}

const IV_LENGTHS = [32, 12, 1, 17, 64, 16, 15, 33];
const TEXT = 'aé€😀\u0000z';

function randomText(n: number): Buffer {
  // ASCII and multi-byte UTF-8 mixed, cut to exactly n bytes (may end inside a character: raw bytes)
  let s = '';
  while (Buffer.byteLength(s) < n)
    s += Math.random() < 0.3 ? TEXT.charAt(Math.floor(Math.random() * TEXT.length)) : 'k';
  return Buffer.from(s).subarray(0, n);
}

both('gcm-batch: decrypts exactly what node encrypted, all IV/AAD/plaintext lengths, one batch', () => {
  for (let round = 0; round < 3; round++) {
    const key = randomBytes(32);
    const values: string[] = [];
    const aads: string[] = [];
    const plains: Buffer[] = [];
    for (let len = 1; len <= 200; len++) {
      const ivLen = IV_LENGTHS[len % IV_LENGTHS.length]!;
      const aad = randomText((len * 7 + round) % 70).toString('utf8');
      const plain = randomText(len);
      values.push(nodeEncrypt(plain, key, aad, randomBytes(ivLen)));
      aads.push(aad);
      plains.push(plain);
    }
    const got = newOutcomes(key, values, aads);
    for (let i = 0; i < values.length; i++) {
      assert.deepEqual(got[i], plains[i], `value ${i}`);
      assert.deepEqual(got[i], oldOutcome(values[i]!, key, aads[i]!));
    }
  }
});

both('gcm-batch: every IV length from 1 to 80 and AAD lengths 0..48 (block boundaries)', () => {
  const key = randomBytes(32);
  const values: string[] = [];
  const aads: string[] = [];
  const plains: Buffer[] = [];
  for (let ivLen = 1; ivLen <= 80; ivLen++) {
    for (const aLen of [0, 1, 15, 16, 17, 31, 32, 33, 48]) {
      const plain = randomText((ivLen * 3 + aLen) % 50 || 1);
      const aad = 'p'.repeat(aLen);
      values.push(nodeEncrypt(plain, key, aad, randomBytes(ivLen), 'int'));
      aads.push(aad);
      plains.push(plain);
    }
  }
  const r = decryptValues(new GcmKey(key), values, aads);
  for (let i = 0; i < values.length; i++) {
    assert.equal(r.status[i], Status.Ok, `value ${i}`);
    assert.deepEqual(Buffer.from(r.buf.subarray(r.start[i], r.end[i])), plains[i]);
    assert.equal(r.types[i], 'int');
  }
});

both('gcm-batch: long values (many GHASH groups) and AAD with raw bytes (Go strings)', () => {
  const key = randomBytes(32);
  const values: string[] = [];
  const aads: string[] = [];
  const plains: Buffer[] = [];
  for (const n of [255, 256, 257, 271, 272, 273, 1000, 4096, 20000]) {
    const plain = randomBytes(n);
    const aad = n % 2 ? 'k\udc80\udcff:' + 'a'.repeat(n % 300) + ':' : 'x'.repeat(n % 1500);
    values.push(nodeEncrypt(plain, key, aad, randomBytes(n % 3 ? 32 : 12)));
    aads.push(aad);
    plains.push(plain);
  }
  assert.deepEqual(newOutcomes(key, values, aads), plains);
});

both('gcm-batch: batches of 1..N give the same results as one batch', () => {
  const key = randomBytes(32);
  const gk = new GcmKey(key);
  const values: string[] = [];
  const aads: string[] = [];
  for (let i = 0; i < 40; i++) {
    aads.push(`a:${i}:`);
    values.push(encryptValue(randomText(i + 1), 'str', key, aads[i]!));
  }
  const whole = decryptValues(gk, values, aads);
  for (const size of [1, 2, 3, 7, 16, 39]) {
    for (let from = 0; from < values.length; from += size) {
      const to = Math.min(values.length, from + size);
      const r = decryptValues(gk, values, aads, from, to);
      for (let i = from; i < to; i++) {
        assert.equal(r.status[i - from], Status.Ok);
        assert.deepEqual(
          r.buf.subarray(r.start[i - from], r.end[i - from]),
          whole.buf.subarray(whole.start[i], whole.end[i]),
        );
      }
    }
  }
  assert.equal(decryptValues(gk, values, aads, 5, 5).status.length, 0);
});

both('gcm-batch: damage of every kind fails as today (same status per value, the others unharmed)', () => {
  const key = randomBytes(32);
  const aad = 'db:password:';
  const good = encryptValue('s3cret value, long enough for two blocks', 'str', key, aad);
  const damaged: string[] = [good];
  const aads: string[] = [aad];
  // one flipped bit in every character of the text (each field, the separators, the type)
  for (let i = 0; i < good.length; i++) {
    for (const bit of [1, 4, 32]) {
      damaged.push(good.slice(0, i) + String.fromCharCode(good.charCodeAt(i) ^ bit) + good.slice(i + 1));
      aads.push(aad);
    }
  }
  const v = parseEncrypted(good);
  const fields = (data: Buffer, iv: Buffer, tag: Buffer, type = 'str') =>
    `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
  damaged.push(
    encryptValue('x', 'str', key, 'other:'), // wrong AAD
    encryptValue('x', 'str', randomBytes(32), aad), // wrong key
    fields(v.data, v.iv, v.tag.subarray(0, 12)), // short tag
    fields(v.data, v.iv, Buffer.concat([v.tag, Buffer.of(0)])), // long tag
    fields(v.data, Buffer.alloc(0), v.tag), // empty IV
    fields(v.data.subarray(1), v.iv, v.tag), // data cut
    good.replace(',iv:', ',iv:AAAA'), // IV lengthened
    good + 'trailing', // text after the ']' is ignored, as sops's regex does
    good.replace(']', ']\n]'), // a newline ends the match
    good.replace('data:', 'data:='), // not canonical base64
    good.replace('type:str', 'type:'), // empty type
    'ENC[AES256_GCM,data:,iv:,tag:,type:str]',
    'plain text',
    '',
  );
  while (aads.length < damaged.length) aads.push(aad);
  const got = newOutcomes(key, damaged, aads);
  for (let i = 0; i < damaged.length; i++) {
    assert.deepEqual(got[i], oldOutcome(damaged[i]!, key, aads[i]!), `case ${i}: ${damaged[i]}`);
  }
  assert.ok(got.some((g) => g === Status.Malformed));
  assert.ok(got.some((g) => g === Status.AuthFailed));
  // a wrong AAD on the good value, in a batch with good ones
  const r = newOutcomes(key, [good, good, good], [aad, 'db:passwd:', aad]);
  assert.deepEqual(r, [oldOutcome(good, key, aad), Status.AuthFailed, oldOutcome(good, key, aad)]);
});

both('gcm-batch: encryptValues is node GCM both ways; a given IV gives encryptValue`s exact text', () => {
  for (let round = 0; round < 2; round++) {
    const key = randomBytes(32);
    const gk = new GcmKey(key);
    const items: PlainValue[] = [];
    for (let len = 1; len <= 200; len++) {
      const plain = len % 3 === 0 ? randomText(len).toString('utf8') : randomText(len);
      const ivLen = IV_LENGTHS[len % IV_LENGTHS.length]!;
      const aad = len % 5 === 0 ? 'k\udcff:' : randomText(len % 40).toString('utf8');
      items.push({ plain, type: len % 2 ? 'str' : 'comment', aad, iv: len % 4 === 0 ? undefined : randomBytes(ivLen) });
    }
    const out = encryptValues(gk, items);
    const back = decryptValues(
      gk,
      out,
      items.map((it) => it.aad),
    );
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      const bytes = typeof it.plain === 'string' ? Buffer.from(it.plain, 'utf8') : Buffer.from(it.plain);
      const p = parseEncrypted(out[i]!);
      assert.equal(p.type, it.type);
      assert.equal(p.iv.length, it.iv ? it.iv.length : 32);
      // node's GCM opens what the engine wrote
      const d = createDecipheriv('aes-256-gcm', key, p.iv, { authTagLength: 16 });
      d.setAAD(encodeGoBytes(it.aad));
      d.setAuthTag(p.tag);
      assert.deepEqual(Buffer.concat([d.update(p.data), d.final()]), bytes, `item ${i}`);
      // the engine opens it too, and node's encryption with the same IV is the same text
      assert.equal(back.status[i], Status.Ok);
      assert.deepEqual(Buffer.from(back.buf.subarray(back.start[i], back.end[i])), bytes);
      assert.equal(out[i], nodeEncrypt(bytes, key, it.aad, p.iv, it.type));
      if (it.iv && it.iv.length === 32) assert.equal(out[i], encryptValue(bytes, it.type, key, it.aad, p.iv));
    }
    // an empty plaintext gives an empty data field, as encryptValue's (which sops's regex does not read)
    const iv = randomBytes(32);
    const [empty] = encryptValues(gk, [{ plain: '', type: 'str', aad: 'e:', iv }]);
    assert.equal(empty, encryptValue('', 'str', key, 'e:', iv));
    // fresh IVs are fresh
    const fresh = out.filter((_, i) => !items[i]!.iv);
    assert.equal(new Set(fresh.map((o) => parseEncrypted(o).iv.toString('hex'))).size, fresh.length);
  }
});

both('gcm-batch: a key that is not 32 bytes, or an empty IV to reuse, is refused', () => {
  assert.throws(() => new GcmKey(randomBytes(16)), RangeError);
  assert.throws(
    () => encryptValues(new GcmKey(randomBytes(32)), [{ plain: 'x', type: 'str', aad: ':', iv: Buffer.alloc(0) }]),
    RangeError,
  );
});
