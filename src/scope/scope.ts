/**
 * The encryption scope: which values of a file are encrypted. One place for what sops spreads over
 * its config, flags and metadata: the settings and their names (YAML key, flag), the default
 * (`unencrypted_suffix: _unencrypted` when no selector is set), the rule that at most one of the six
 * selectors may be set (the comment regexes count, as in sops), and their compilation (Go
 * regular expressions, ./goregex.ts).
 *
 * Used by the config (creation rules), the metadata (read and written), the command-line flags, the
 * library API and the tree walk; imports nothing but the error type.
 */
import { ExitCode, SopsError } from '../errors.js';
import { goRegex, GoRegexError, type GoRegex } from './goregex.js';

/** The encryption-scope settings (at most one of the six selectors). */
export interface Scope {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: string;
  encryptedRegex?: string;
  unencryptedCommentRegex?: string;
  encryptedCommentRegex?: string;
  macOnlyEncrypted?: boolean;
}

/** The six selectors' field names. */
export type ScopeSelector = Exclude<keyof Scope, 'macOnlyEncrypted'>;

/** Each selector: its Scope field, its key in `.sops.yaml` and the metadata, whether it is a regex. */
export const SCOPE_SELECTORS: ReadonlyArray<{
  readonly field: ScopeSelector;
  readonly key: string;
  readonly regex: boolean;
}> = [
  { field: 'unencryptedSuffix', key: 'unencrypted_suffix', regex: false },
  { field: 'encryptedSuffix', key: 'encrypted_suffix', regex: false },
  { field: 'unencryptedRegex', key: 'unencrypted_regex', regex: true },
  { field: 'encryptedRegex', key: 'encrypted_regex', regex: true },
  { field: 'unencryptedCommentRegex', key: 'unencrypted_comment_regex', regex: true },
  { field: 'encryptedCommentRegex', key: 'encrypted_comment_regex', regex: true },
];

/** The key of `macOnlyEncrypted` in `.sops.yaml` and the metadata. */
export const MAC_ONLY_ENCRYPTED_KEY = 'mac_only_encrypted';

/** Every scope key of `.sops.yaml` and the metadata. */
export const SCOPE_KEYS: readonly string[] = [...SCOPE_SELECTORS.map((s) => s.key), MAC_ONLY_ENCRYPTED_KEY];

/** The scope when nothing selects: keys ending in `_unencrypted` stay plain. */
export const DEFAULT_UNENCRYPTED_SUFFIX = '_unencrypted';

/** The YAML keys of the selectors set in `scope` (empty strings count as unset). */
export function selectorsSet(scope: Scope): string[] {
  return SCOPE_SELECTORS.filter((s) => typeof scope[s.field] === 'string' && scope[s.field] !== '').map((s) => s.key);
}

/** sops's message when more than one selector is set. */
export function conflictMessage(found: readonly string[], where = 'in the same file'): string {
  return `cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex ${where} (found ${found.join(' and ')})`;
}

/**
 * The scope to encrypt with, from settings already merged (command-line flags over a rule's, or a
 * library caller's): refuses more than one of the six selectors (exit code
 * `ErrorConflictingParameters`, as sops), and selects the `_unencrypted` suffix when none is set.
 * Empty strings count as unset. The result always has exactly one selector.
 */
export function resolveScope(scope: Scope): Scope {
  const out: Scope = {};
  for (const { field } of SCOPE_SELECTORS) {
    const v = scope[field];
    if (typeof v === 'string' && v !== '') out[field] = v;
  }
  const set = selectorsSet(out);
  if (set.length > 1) throw new SopsError(conflictMessage(set), ExitCode.ErrorConflictingParameters);
  if (set.length === 0) out.unencryptedSuffix = DEFAULT_UNENCRYPTED_SUFFIX;
  if (scope.macOnlyEncrypted) out.macOnlyEncrypted = true;
  return out;
}

/** The scope settings among `o`'s fields (command-line flags use the Scope field names). */
export function pickScope(o: Scope): Scope {
  const s: Scope = {};
  for (const { field } of SCOPE_SELECTORS) {
    const v = o[field];
    if (typeof v === 'string' && v !== '') s[field] = v;
  }
  if (o.macOnlyEncrypted) s.macOnlyEncrypted = true;
  return s;
}

/**
 * The scope written in a map by YAML key (the metadata): selectors whose value is a non-empty
 * string, and `mac_only_encrypted` when `isTrue` says so.
 */
export function scopeFromKeys(o: Readonly<Record<string, unknown>>, isTrue: (v: unknown) => boolean): Scope {
  const s: Scope = {};
  for (const { field, key } of SCOPE_SELECTORS) {
    const v = o[key];
    if (typeof v === 'string' && v !== '') s[field] = v;
  }
  if (isTrue(o[MAC_ONLY_ENCRYPTED_KEY])) s.macOnlyEncrypted = true;
  return s;
}

/** Write `scope` into a map by YAML key (the metadata), as sops writes it. */
export function scopeToKeys(scope: Scope, o: Record<string, unknown>): void {
  for (const { field, key } of SCOPE_SELECTORS) {
    const v = scope[field];
    if (typeof v === 'string' && v !== '') o[key] = v;
  }
  if (scope.macOnlyEncrypted) o[MAC_ONLY_ENCRYPTED_KEY] = true;
}

/** The scope, ready to apply: suffixes ('' = unset) and compiled regexes. */
export interface CompiledScope {
  unencryptedSuffix: string;
  encryptedSuffix: string;
  unencryptedRegex: GoRegex | null;
  encryptedRegex: GoRegex | null;
  unencryptedCommentRegex: GoRegex | null;
  encryptedCommentRegex: GoRegex | null;
  macOnlyEncrypted: boolean;
}

/**
 * Compile a scope's regexes (Go RE2 syntax, linear-time matching). An invalid one throws a
 * `SopsError` with exit code `code` naming the setting.
 */
export function compileScope(s: Scope, code: number = ExitCode.ErrorGeneric): CompiledScope {
  const re = (r: string | undefined, key: string): GoRegex | null => {
    if (!r) return null;
    try {
      return goRegex(r);
    } catch (e) {
      if (e instanceof GoRegexError) throw new SopsError(`invalid ${key} ${JSON.stringify(r)}: ${e.message}`, code);
      throw e;
    }
  };
  return {
    unencryptedSuffix: s.unencryptedSuffix ?? '',
    encryptedSuffix: s.encryptedSuffix ?? '',
    unencryptedRegex: re(s.unencryptedRegex, 'unencrypted_regex'),
    encryptedRegex: re(s.encryptedRegex, 'encrypted_regex'),
    unencryptedCommentRegex: re(s.unencryptedCommentRegex, 'unencrypted_comment_regex'),
    encryptedCommentRegex: re(s.encryptedCommentRegex, 'encrypted_comment_regex'),
    macOnlyEncrypted: !!s.macOnlyEncrypted,
  };
}
