/**
 * go-yaml's scalar analysis and style selection (yaml_emitter_analyze_scalar /
 * select_scalar_style): which styles can write a value.
 */

export const enum Style {
  Plain = 1,
  Single = 2,
  Double = 3,
  Literal = 4,
}

export interface Analysis {
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

export const isBreakCode = (c: number) => c === 0x0a || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029;
/** go-yaml's is_printable, per code point. */
export const isPrintable = (c: number) =>
  c === 0x0a || (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff);

/** Strings made only of these characters need no per-character analysis. */
const SIMPLE = /^[A-Za-z0-9_./=+()$^~;<][A-Za-z0-9_ ./=+()$@^~;<>-]*$/;

export const SIMPLE_ANALYSIS: Analysis = {
  multiline: false,
  flowPlain: true,
  blockPlain: true,
  single: true,
  block: true,
};

/** The characters of an encrypted value as sops writes it (`ENC[AES256_GCM,data:…,type:str]`, base64 fields). */
const ENC_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=,:[]_') ENC_CHAR[c.charCodeAt(0)] = 1;

/**
 * Whether `value` is `ENC[` and then only the characters of an encrypted value, not ending in `:`
 * (every encrypted value sops writes is). Its analysis is always ENC_ANALYSIS: its `[` is a flow
 * indicator, and it has no space, `: `, `#`, line break or special character. (A character loop:
 * several times faster than a regular expression over the ~170 characters of a value.)
 */
function isEncLike(value: string): boolean {
  const n = value.length;
  if (!value.startsWith('ENC[') || value.charCodeAt(n - 1) === 0x3a) return false;
  for (let i = 4; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 127 || ENC_CHAR[c] === 0) return false;
  }
  return true;
}

const ENC_ANALYSIS: Analysis = {
  multiline: false,
  flowPlain: false,
  blockPlain: true,
  single: true,
  block: true,
};

export function analyze(value: string): Analysis {
  if (value.length === 0) return { multiline: false, flowPlain: false, blockPlain: true, single: true, block: false };
  if (SIMPLE.test(value) && value.charCodeAt(value.length - 1) !== 32 && !value.startsWith('...'))
    return SIMPLE_ANALYSIS;
  if (value.charCodeAt(0) === 0x45 && isEncLike(value)) return ENC_ANALYSIS;
  return analyzeChars(value);
}

/** The analysis, character by character (go-yaml's loop). */
export function analyzeChars(value: string): Analysis {
  let blockInd = false;
  let flowInd = false;
  let lineBreaks = false;
  let special = false;
  let tabs = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let prevSpace = false;
  let prevBreak = false;
  if (value.startsWith('---') || value.startsWith('...')) {
    blockInd = true;
    flowInd = true;
  }
  let precededByWs = true;
  const n = value.length;
  for (let i = 0; i < n;) {
    const c = value.codePointAt(i)!;
    const w = c > 0xffff ? 2 : 1;
    const next = i + w < n ? value.charCodeAt(i + w) : -1;
    const followedByWs = next === -1 || next === 32 || next === 9;
    if (i === 0) {
      switch (c) {
        case 35:
        case 44:
        case 91:
        case 93:
        case 123:
        case 125:
        case 38:
        case 42:
        case 33:
        case 124:
        case 62:
        case 39:
        case 34:
        case 37:
        case 64:
        case 96: // # , [ ] { } & * ! | > ' " % @ `
          flowInd = true;
          blockInd = true;
          break;
        case 63:
        case 58: // ? :
          flowInd = true;
          if (followedByWs) blockInd = true;
          break;
        case 45: // -
          if (followedByWs) {
            flowInd = true;
            blockInd = true;
          }
          break;
      }
    } else {
      switch (c) {
        case 44:
        case 63:
        case 91:
        case 93:
        case 123:
        case 125: // , ? [ ] { }
          flowInd = true;
          break;
        case 58: // :
          flowInd = true;
          if (followedByWs) blockInd = true;
          break;
        case 35: // #
          if (precededByWs) {
            flowInd = true;
            blockInd = true;
          }
          break;
      }
    }
    if (c === 9) tabs = true;
    else if (!isPrintable(c)) special = true;
    if (c === 32) {
      if (i === 0) leadingSpace = true;
      if (i + w === n) trailingSpace = true;
      if (prevBreak) breakSpace = true;
      prevSpace = true;
      prevBreak = false;
    } else if (isBreakCode(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i + w === n) trailingBreak = true;
      if (prevSpace) spaceBreak = true;
      prevSpace = false;
      prevBreak = true;
    } else {
      prevSpace = false;
      prevBreak = false;
    }
    precededByWs = c === 32 || c === 9 || isBreakCode(c);
    i += w;
  }
  const a: Analysis = { multiline: lineBreaks, flowPlain: true, blockPlain: true, single: true, block: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) a.flowPlain = a.blockPlain = false;
  if (trailingSpace) a.block = false;
  if (breakSpace) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || tabs || special) a.flowPlain = a.blockPlain = a.single = false;
  if (spaceBreak || special) a.block = false;
  if (lineBreaks) a.flowPlain = a.blockPlain = false;
  if (flowInd) a.flowPlain = false;
  if (blockInd) a.blockPlain = false;
  return a;
}

export function selectStyle(style: Style, a: Analysis, value: string, flowLevel: number, simpleKey: boolean): Style {
  if (simpleKey && a.multiline) style = Style.Double;
  if (style === Style.Plain) {
    if ((flowLevel > 0 && !a.flowPlain) || (flowLevel === 0 && !a.blockPlain)) style = Style.Single;
    if (value.length === 0 && (flowLevel > 0 || simpleKey)) style = Style.Single;
  }
  if (style === Style.Single && !a.single) style = Style.Double;
  if (style === Style.Literal && (!a.block || flowLevel > 0 || simpleKey)) style = Style.Double;
  return style;
}
