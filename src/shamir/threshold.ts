/**
 * The Shamir threshold: the one rule for which thresholds sops can split a data key with, and
 * sops's wording when it cannot.
 *
 * With one key group there is nothing to split: every key wraps the whole data key and the
 * threshold is not used (sops writes it as given). With several groups sops splits the key with
 * its `shamir.Split(key, groups, threshold)`, which refuses a threshold below 2 or above the number
 * of groups; a threshold of 0 (unset) means "all groups".
 */
import { ExitCode, SopsError } from '../errors.js';

/** Why sops's Shamir split refuses `threshold` for `groups` key groups (its words), or undefined. */
export function shamirSplitProblem(groups: number, threshold: number): string | undefined {
  if (groups <= 1) return undefined;
  const t = threshold === 0 ? groups : threshold;
  if (groups < t) return 'parts cannot be less than threshold';
  if (groups > 255) return 'parts cannot exceed 255';
  if (t < 2) return 'threshold must be at least 2';
  return undefined;
}

/**
 * Refuse a threshold the data key cannot be split with, as sops refuses it when it generates the
 * data key (exit code 1), with a line that says what to do instead.
 */
export function checkShamirThreshold(groups: number, threshold: number): void {
  const problem = shamirSplitProblem(groups, threshold);
  if (problem === undefined) return;
  const t = threshold === 0 ? groups : threshold;
  const advice =
    t < 2
      ? 'a threshold of 1 would let any one key group decrypt, which sops cannot read: to let any one key decrypt, put all the keys in one key group'
      : groups > 255
        ? 'use at most 255 key groups'
        : `${t} of ${groups} key groups can never be found: lower the threshold or add key groups`;
  throw new SopsError(
    `Could not generate data key: [could not split data key into parts for Shamir: ${problem}] (${advice})`,
    ExitCode.ErrorGeneric,
  );
}

/**
 * Parse `--shamir-secret-sharing-threshold` as sops's command line does (an integer flag: Go's
 * `strconv.ParseInt(s, 0, 64)` — decimal, `0x`/`0o`/`0b` prefixes, a leading `0` for octal, a sign,
 * `_` between digits). Undefined when the flag is absent or 0, which sops reads as "not given" (the
 * rule's or the file's threshold applies). Whether the value can be used is `checkShamirThreshold`'s
 * business, once the number of key groups is known.
 */
export function parseThresholdFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = parseGoInt(text);
  if (n === undefined) {
    throw new SopsError(
      `invalid value ${JSON.stringify(text)} for flag --shamir-secret-sharing-threshold: parse error (a whole number, e.g. 2)`,
      ExitCode.ErrorGeneric,
    );
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SopsError(
      `invalid value ${JSON.stringify(text)} for flag --shamir-secret-sharing-threshold: value out of range`,
      ExitCode.ErrorGeneric,
    );
  }
  return n === 0n ? undefined : Number(n);
}

/** Go's `strconv.ParseInt(s, 0, 64)` syntax (no range check); undefined when it is not an integer. */
export function parseGoInt(text: string): bigint | undefined {
  let s = text;
  let negative = false;
  if (s.startsWith('+') || s.startsWith('-')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  let base = 10;
  let prefixed = false;
  const p = s.slice(0, 2).toLowerCase();
  if (p === '0x' || p === '0o' || p === '0b') {
    base = p === '0x' ? 16 : p === '0o' ? 8 : 2;
    s = s.slice(2);
    prefixed = true;
  } else if (s.length > 1 && s.startsWith('0')) {
    base = 8;
    s = s.slice(1);
    prefixed = true;
  }
  // underscores only between digits, or right after a base prefix (Go's underscoreOK)
  if (s.includes('_')) {
    if (s.endsWith('_') || s.includes('__') || (s.startsWith('_') && !prefixed)) return undefined;
    s = s.replaceAll('_', '');
  }
  const digits = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/;
  if (!digits.test(s)) return undefined;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : '';
  const v = BigInt(prefix + s);
  return negative ? -v : v;
}
