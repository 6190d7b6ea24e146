/**
 * Building a store's output straight into bytes: text is gathered in a short string and written
 * into one Buffer as it grows, so a large file never exists as a list of parts, then one giant
 * string, then a copy of that string as bytes.
 *
 * The Buffer is sized from the caller's bound on the output (`hint`); a bound that is too large
 * costs nothing but address space (pages never written are never resident), one that is too small
 * costs a copy when the buffer is replaced by a larger one.
 */

/** Pending text written out in one native call once it is this long. */
const FLUSH_AT = 16 * 1024;
/** The smallest buffer allocated (below it, Node's shared pool serves it). */
const MIN_SIZE = 64 * 1024;

export class OutBuf {
  private buf: Buffer;
  private pos = 0;
  private pending = '';

  /** `hint`: the expected size in bytes (an upper bound is best). */
  constructor(hint = 0) {
    this.buf = Buffer.allocUnsafe(Math.max(MIN_SIZE, Math.ceil(hint)));
  }

  /** Append text (written as UTF-8; lone surrogates as U+FFFD, as `Buffer.from` writes them). */
  add(s: string): void {
    this.pending += s;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  /** Append bytes. */
  addBytes(b: Uint8Array): void {
    this.flush();
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private flush(): void {
    const s = this.pending;
    if (s.length === 0) return;
    this.pending = '';
    // a UTF-16 code unit is at most 3 bytes of UTF-8
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written. The builder must not be used afterwards. */
  bytes(): Buffer {
    this.flush();
    return this.buf.subarray(0, this.pos);
  }
}
