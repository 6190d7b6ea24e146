/**
 * Go regular expressions (RE2 syntax), as sops compiles `path_regex` and the scope regexes with
 * Go's `regexp.Compile` and runs them with `MatchString`: the same syntax, the same errors (`error
 * parsing regexp: …`), an unanchored search, and matching in time linear in the input — the
 * patterns of the scope regexes come from a file's unauthenticated metadata, so a backtracking
 * engine would let a file hang tsops (`^(a+)+$`).
 *
 * The engine is re2js, a JavaScript port of RE2 (the library Go's regexp follows): Perl flags and
 * groups `(?i:…)`, `(?U)`, `(?s)`, `(?m)`, `\A`, `\z`, `\Q…\E`, `\pL`, POSIX classes and their
 * negations, named groups; lookaround and backreferences are refused, as in Go. Matching is on
 * code points, as Go's on UTF-8 text.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

type Re2js = typeof import('re2js');
let engine: Re2js | undefined;

/**
 * re2js, loaded on the first regular expression (its CommonJS build, synchronously): about 190 KB
 * of code and Unicode tables that most files, which have no regex selector, never need.
 */
function re2js(): Re2js {
  return (engine ??= createRequire(import.meta.url)('re2js') as Re2js);
}

/** A pattern that is not a valid Go regular expression; the message is the parser's. */
export class GoRegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoRegexError';
  }
}

/** A compiled Go regular expression. */
export interface GoRegex {
  readonly source: string;
  /** Whether the expression matches anywhere in `s` (Go's `MatchString`). */
  test(s: string): boolean;
}

/** Compile a Go regular expression. Throws `GoRegexError`. */
export function goRegex(source: string): GoRegex {
  const { RE2JS: Engine, RE2JSException } = re2js();
  let re: RE2JS;
  try {
    re = Engine.compile(source);
  } catch (e) {
    if (e instanceof RE2JSException) throw new GoRegexError(e.message);
    throw e;
  }
  return { source, test: (s: string) => re.test(s) };
}
