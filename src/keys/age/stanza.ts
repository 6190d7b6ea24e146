/**
 * age stanzas: the recipient stanzas of an age v1 header, and the framing of the age plugin protocol
 * (C2SP age-plugin, which sends commands as stanzas over a plugin's standard input and output).
 *
 *   -> TYPE ARG ARG…            first line: `->`, then SP-separated non-empty printable-ASCII strings
 *   BASE64 BODY, 64 COLUMNS     body: unpadded standard base64, full lines of 64 characters,
 *   LAST LINE (< 64, maybe "")  ended by a shorter line (an empty one when the length is a multiple of 64)
 *
 * Base64 must be canonical (no padding, zero trailing bits), as age's decoder demands. This module
 * holds each of those rules once; ./native.ts (the header) and ./plugin.ts (the pipe) build on it.
 */

export interface AgeStanza {
  type: string;
  args: string[];
  body: Buffer;
}

/** Malformed stanza text. */
export class StanzaError extends Error {}

const COLUMNS = 64;
/** One argument or the type: 1*VCHAR. */
const ARG = /^[\x21-\x7e]+$/;

/** Unpadded standard base64. */
export function encodeB64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64').replace(/=+$/, '');
}

/** Decode canonical unpadded standard base64; null if `s` is anything else. */
export function decodeB64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return null;
  const b = Buffer.from(s, 'base64');
  return encodeB64(b) === s ? b : null;
}

/** A stanza as text, with its final newline. */
export function encodeStanza(s: AgeStanza): string {
  for (const a of [s.type, ...s.args]) {
    if (!ARG.test(a)) throw new StanzaError(`invalid stanza argument ${JSON.stringify(a.slice(0, 40))}`);
  }
  const b64 = encodeB64(s.body);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += COLUMNS) lines.push(b64.slice(i, i + COLUMNS));
  if (b64.length % COLUMNS === 0) lines.push(''); // the body always ends with a short line
  return `-> ${[s.type, ...s.args].join(' ')}\n${lines.join('\n')}\n`;
}

/**
 * Reads stanzas a line at a time (lines without their `\n`). `line` returns a stanza when its body
 * is complete, undefined while more lines are needed, and throws StanzaError on malformed input.
 */
export class StanzaParser {
  private head: string[] | null = null;
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBody = 1 << 20) {}

  /** True between a stanza's first line and the end of its body. */
  get inStanza(): boolean {
    return this.head !== null;
  }

  line(l: string): AgeStanza | undefined {
    if (this.head === null) {
      if (!l.startsWith('-> ')) throw new StanzaError('expected a stanza (a line starting with "-> ")');
      const words = l.slice(3).split(' ');
      if (!words.every((w) => ARG.test(w))) throw new StanzaError('malformed stanza line');
      this.head = words;
      this.parts = [];
      this.size = 0;
      return undefined;
    }
    if (l.length > COLUMNS) throw new StanzaError('stanza body line longer than 64 columns');
    const chunk = decodeB64(l);
    if (!chunk) throw new StanzaError('stanza body is not canonical base64');
    this.size += chunk.length;
    if (this.size > this.maxBody) throw new StanzaError('stanza body too large');
    this.parts.push(chunk);
    if (l.length === COLUMNS) return undefined;
    const [type, ...args] = this.head;
    this.head = null;
    return { type: type!, args, body: Buffer.concat(this.parts) };
  }
}
