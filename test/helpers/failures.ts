/**
 * Shared by the key-service tests: a loopback port nothing listens on, and the one-line error a
 * promise rejects with.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { SopsError } from '../../src/errors.js';

/** A port on 127.0.0.1 that was free a moment ago (bound, then closed): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The message a promise rejects with, checked to be a one-line Error. */
export async function failure(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => assert.fail('expected a failure'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
  assert.doesNotMatch(e.message, /\n/);
  return e.message;
}

/** The SopsError a promise rejects with (`oneLine`: its message checked to be one line). */
export async function sopsFailure(p: Promise<unknown>, { oneLine = true } = {}): Promise<SopsError> {
  const e = await p.then(
    () => assert.fail('expected a rejection'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof SopsError, `expected a SopsError, got ${String(e)}`);
  if (oneLine) assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  return e;
}
