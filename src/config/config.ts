/**
 * The `.sops.yaml` configuration file: finding it, reading it, and choosing the creation rule for a
 * file — with sops 3.x's semantics:
 *
 * - like sops, only the rule that applies matters: a problem in a creation rule (a bad key, an
 *   invalid setting) fails a command only when that rule is the first one matching the file, or
 *   when matching reaches a rule whose `path_regex` does not compile; destination rules likewise
 *   only when `publish` uses them;
 * - unknown keys (anywhere) are ignored as sops ignores them, with one warning naming the file,
 *   the place and the closest valid key — printed when the rule they are in is used; a rule left
 *   without `path_regex` by a typo (it matches every file) is warned about whenever the file is read;
 * - strictness is opt-in: `TSOPS_STRICT_CONFIG=1` (or `strict: true`) and `tsops config check`
 *   (`checkConfig`) turn every warning and every problem of every rule into an error.
 *
 * Every error is a `SopsError` whose message names the file, the rule (`creation_rules[2]`) and
 * the setting (exit code `ErrorReadingConfig`), except where sops's own message and code are kept
 * (an empty key group: `Could not generate data key: [empty key group provided]`, exit 1).
 *
 * Regular expressions are Go (RE2) expressions, compiled with ../scope/goregex.ts. Key identifiers are
 * parsed with ../keys/identity.ts. No key SDK is imported.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ExitCode, SopsError } from '../errors.js';
import {
  conflictMessage,
  resolveScope,
  SCOPE_SELECTORS,
  MAC_ONLY_ENCRYPTED_KEY,
  selectorsSet,
  type Scope,
} from '../scope/scope.js';
import type { KeyGroup, KmsKey, MasterKey } from '../keys/types.js';
import type { Format } from '../stores/types.js';
import { goRegex, GoRegexError, type GoRegex } from '../scope/goregex.js';
import {
  HCKMS_ID_FORM,
  keyId,
  parseAgeRecipient,
  parseAzureKeyUrl,
  parseGcpKmsId,
  parseHckmsKeyId,
  parseKmsArn,
  parsePgpFingerprint,
  parseVaultUri,
  splitAzureKeyUrls,
  splitKeyList,
} from '../keys/identity.js';
import { closest } from './suggest.js';
import { findConfigFile } from './find.js';
import { shamirSplitProblem } from '../shamir/threshold.js';

// finding the file: ./find.ts (without the YAML parser and the regex engine, for commands that only
// look for a config)
export { CONFIG_FILE_NAME, findConfigFile } from './find.js';

/** One `creation_rules` entry (or a destination rule's `recreation_rule`), parsed and checked. */
export interface CreationRule {
  /** Where the rule is written, for messages: `creation_rules[2] of /repo/.sops.yaml`. */
  location: string;
  /** The Go regular expression matched against the file's path; undefined matches every file. */
  pathRegex?: string;
  /**
   * The keys, with `enc` ''. From `key_groups` (one entry per group, `merge` flattened, duplicates
   * removed, as sops) or else from the rule's top-level key settings (one group, or none when the
   * rule lists no keys).
   */
  keyGroups: KeyGroup[];
  /** Whether `keyGroups` came from `key_groups`. */
  fromKeyGroups: boolean;
  /** `shamir_threshold`; 0 when unset. */
  shamirThreshold: number;
  /** The scope settings the rule sets (no default applied; see `resolveScope`). */
  scope: Scope;
  /** The rule's `aws_profile` (applies to its top-level `kms` keys). */
  awsProfile?: string;
}

/** One `destination_rules` entry (used by `publish`). */
export interface DestinationRule {
  location: string;
  pathRegex?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  gcsBucket?: string;
  gcsPrefix?: string;
  vaultPath?: string;
  vaultAddress?: string;
  vaultKvMountName?: string;
  vaultKvVersion?: number;
  recreationRule?: CreationRule;
  omitExtensions: boolean;
}

export interface StoreIndent {
  /** Spaces per level. JSON: 0 = no indentation, -1 = one tab (sops's default). YAML: 2 to 9. */
  indent?: number;
}

/** The top-level `stores` section: only what the file sets. */
export interface StoresConfig {
  yaml?: StoreIndent;
  json?: StoreIndent;
  jsonBinary?: StoreIndent;
}

export interface SopsConfig {
  /** Absolute path of the config file. */
  path: string;
  /** Absolute path of its folder (paths are matched relative to it). */
  dir: string;
  /** The creation rules in file order; [] when the file has none. */
  creationRules: CreationRule[];
  destinationRules: DestinationRule[];
  stores: StoresConfig;
  /** Top-level keys tsops does not know and ignored (typically YAML anchor holders). */
  ignoredKeys: string[];
}

// ---------------------------------------------------------------------------------------------
// Reading the file

type Obj = { [k: string]: unknown };

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'bigint') return `the number ${v}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `the ${typeof v} ${v}`;
  return `the ${typeof v}`;
}

/** A YAML scalar as text, as Go's fmt prints it. */
function scalarText(v: string | number | boolean | bigint): string {
  return String(v);
}

/** Where the warnings about a part of the file go. */
interface Sink {
  /** Printed when the part (a rule) is used; all of them in strict mode and by `checkConfig`. */
  warnings: string[];
  /** Printed whenever the file is read (a rule that matches every file by mistake). */
  loud: string[];
}

/** The location of a setting and the errors about it. */
class Where {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly sink: Sink = { warnings: [], loud: [] },
  ) {}
  /** `creation_rules[0] of /x/.sops.yaml` */
  toString(): string {
    return this.path === '' ? this.file : `${this.path} of ${this.file}`;
  }
  child(segment: string | number): Where {
    const seg = typeof segment === 'number' ? `[${segment}]` : this.path === '' ? segment : `.${segment}`;
    return new Where(this.file, this.path + seg, this.sink);
  }
  /** The same place, with its own warnings (a rule). */
  fresh(): Where {
    return new Where(this.file, this.path);
  }
  fail(msg: string): never {
    throw new SopsError(msg, ExitCode.ErrorReadingConfig);
  }
  /** "invalid <key> in <here>: <why>" */
  invalid(key: string, why: string): never {
    return this.fail(`invalid ${key} in ${this}: ${why}`);
  }
  warn(msg: string): void {
    this.sink.warnings.push(msg);
  }
}

/** Common misspellings and names from other places that Levenshtein does not catch. */
const RULE_ALIASES: Record<string, string> = {
  filename_regex: 'path_regex',
  file_regex: 'path_regex',
  path: 'path_regex',
  regex: 'path_regex',
  gpg: 'pgp',
  azure_kv: 'azure_keyvault',
  azure_key_vault: 'azure_keyvault',
  azkv: 'azure_keyvault',
  hc_vault: 'hc_vault_transit_uri',
  hc_vault_uri: 'hc_vault_transit_uri',
  hc_vault_uris: 'hc_vault_transit_uri',
  hc_vault_transit: 'hc_vault_transit_uri',
  vault: 'hc_vault_transit_uri',
  vault_uri: 'hc_vault_transit_uri',
  groups: 'key_groups',
  shamir_secret_sharing_threshold: 'shamir_threshold',
  threshold: 'shamir_threshold',
};
const GROUP_ALIASES: Record<string, string> = {
  gpg: 'pgp',
  azure_kv: 'azure_keyvault',
  azure_key_vault: 'azure_keyvault',
  azkv: 'azure_keyvault',
  hc_vault_transit_uri: 'hc_vault',
  hc_vault_uris: 'hc_vault',
  vault: 'hc_vault',
};
const SPECIAL_HINTS: Record<string, string> = {
  encryption_context:
    'a KMS encryption context is set per key under key_groups (kms: [{arn: …, context: {…}}]) or with --encryption-context',
  context:
    'a KMS encryption context is set per key under key_groups (kms: [{arn: …, context: {…}}]) or with --encryption-context',
  role: 'a KMS role is written ARN+ROLE_ARN in kms, or as role: in a key_groups kms entry',
};

/**
 * Warn about the keys of `o` that are not in `known` (sops ignores them): one warning each, naming
 * the closest valid key. Returns the unknown keys with their suggestion.
 */
function checkKeys(
  o: Obj,
  known: readonly string[],
  where: Where,
  aliases: Record<string, string> = {},
): Map<string, string | undefined> {
  const unknown = new Map<string, string | undefined>();
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const hint = SPECIAL_HINTS[k];
    const suggestion = (aliases[k] && known.includes(aliases[k]) ? aliases[k] : undefined) ?? closest(k, known);
    unknown.set(k, suggestion);
    const why = suggestion
      ? `did you mean ${suggestion}?`
      : hint && known.includes('key_groups')
        ? hint
        : `known keys: ${known.join(', ')}`;
    where.warn(`unknown key ${k} in ${where} (${why}); sops ignores it, and so does tsops`);
  }
  return unknown;
}

function mapAt(v: unknown, where: Where, what: string): Obj {
  if (!isObj(v)) where.fail(`${where} must be a map (${what}), got ${describe(v)}`);
  return v;
}

/** A string setting: absent/null → undefined; numbers become their text (as Go's YAML decoder). */
function str(o: Obj, key: string, where: Where): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return where.invalid(key, `expected a string, got ${describe(v)}`);
}

function int(o: Obj, key: string, where: Where): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return where.invalid(key, `expected an integer, got ${describe(v)}`);
}

const YAML_TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const YAML_FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** A boolean setting: true/false, and the YAML 1.1 spellings Go's decoder also accepts. */
function bool(o: Obj, key: string, where: Where): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && YAML_TRUE.has(v)) return true;
  if (typeof v === 'string' && YAML_FALSE.has(v)) return false;
  return where.invalid(key, `expected true or false, got ${describe(v)}`);
}

/** A Go regular expression setting, checked by compiling it. */
function regex(o: Obj, key: string, where: Where): string | undefined {
  return regexWith(o, key, where)?.source;
}

function regexWith(o: Obj, key: string, where: Where): { source: string; re: GoRegex } | undefined {
  const r = str(o, key, where);
  if (r === undefined || r === '') return undefined;
  return { source: r, re: compileGo(r, key, where) };
}

/** Compiled `path_regex`es of the rules read by `parseConfig`, and of others once used. */
const compiled = new WeakMap<object, GoRegex>();

function compileGo(r: string, key: string, where: Where): GoRegex {
  try {
    return goRegex(r);
  } catch (e) {
    if (e instanceof GoRegexError)
      return where.invalid(key, `${JSON.stringify(r)} is not a valid regular expression: ${e.message}`);
    throw e;
  }
}

/** Run a key-identifier parser, turning its error into one that says where the identifier is. */
function keyAt<T>(where: Where, key: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof SopsError) where.invalid(key, e.message);
    throw e;
  }
}

// --- creation rules ---------------------------------------------------------------------------

const TOP_KEY_SETTINGS = ['age', 'pgp', 'kms', 'gcp_kms', 'hckms', 'azure_keyvault', 'hc_vault_transit_uri'] as const;

const RULE_KEYS = [
  'path_regex',
  ...TOP_KEY_SETTINGS,
  'aws_profile',
  'key_groups',
  'shamir_threshold',
  ...SCOPE_SELECTORS.map((s) => s.key),
  MAC_ONLY_ENCRYPTED_KEY,
] as const;

const GROUP_KEYS = ['merge', 'age', 'pgp', 'kms', 'gcp_kms', 'hckms', 'azure_keyvault', 'hc_vault'] as const;

/**
 * A rule-level key setting: a comma-separated string or a list of strings, flattened to entries
 * (list items may themselves hold commas, as sops joins and splits them).
 */
function keyList(o: Obj, key: string, where: Where): string[] {
  const v = o[key];
  // Azure lists refuse empty entries, as sops's MasterKeysFromURLs does
  const split = key === 'azure_keyvault' ? splitAzureKeyUrls : splitKeyList;
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return split(v);
  if (Array.isArray(v)) {
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        if (isObj(item) && key === 'kms') {
          where
            .child(key)
            .child(i)
            .fail(
              `${where.child(key).child(i)} is a map: kms entries with arn/role/context/aws_profile are written under key_groups; a rule's kms takes ARN or ARN+ROLE_ARN strings`,
            );
        }
        where.invalid(
          `${key}[${i}]`,
          `expected a string, got ${describe(item)}${typeof item === 'number' || typeof item === 'bigint' ? ' (quote it)' : ''}`,
        );
      }
      out.push(...split(item));
    });
    return out;
  }
  if (isObj(v) && key === 'kms') {
    where.invalid(
      key,
      "got a map: kms entries with arn/role/context/aws_profile are written under key_groups; a rule's kms takes a comma-separated string or a list of ARN[+ROLE_ARN] strings",
    );
  }
  const hint = typeof v === 'number' || typeof v === 'bigint' ? ' (quote it)' : '';
  return where.invalid(key, `expected a comma-separated string or a list of strings, got ${describe(v)}${hint}`);
}

/** A list setting inside a key group. */
function groupList(o: Obj, key: string, where: Where): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    return where.invalid(key, `expected a list (one entry per line starting with "- "), got ${describe(v)}`);
  }
  return v;
}

function groupString(item: unknown, where: Where, key: string, i: number): string {
  if (typeof item === 'string') return item;
  if (typeof item === 'number' || typeof item === 'bigint') return String(item);
  return where.invalid(`${key}[${i}]`, `expected a string, got ${describe(item)}`);
}

function parseGroup(v: unknown, where: Where, depth = 0): KeyGroup {
  const o = mapAt(v, where, 'a key group: age, pgp, kms, gcp_kms, hckms, azure_keyvault, hc_vault or merge');
  checkKeys(o, GROUP_KEYS, where, GROUP_ALIASES);
  const keys: MasterKey[] = [];
  if (depth > 32) where.fail(`${where} nests merge too deeply`);
  groupList(o, 'merge', where).forEach((g, i) => {
    keys.push(...parseGroup(g, where.child('merge').child(i), depth + 1));
  });
  groupList(o, 'age', where).forEach((item, i) => {
    const s = groupString(item, where, 'age', i);
    keys.push(...splitKeyList(s).map((r) => keyAt(where, `age[${i}]`, () => parseAgeRecipient(r))));
    if (splitKeyList(s).length === 0) where.invalid(`age[${i}]`, 'empty recipient');
  });
  groupList(o, 'pgp', where).forEach((item, i) => {
    const s = groupString(item, where, 'pgp', i);
    keys.push(keyAt(where, `pgp[${i}]`, () => parsePgpFingerprint(s)));
  });
  groupList(o, 'kms', where).forEach((item, i) => {
    const w = where.child('kms').child(i);
    if (typeof item === 'string') {
      w.fail(`${w} must be a map like {arn: ARN, role: ROLE_ARN}, got ${describe(item)}`);
    }
    const e = mapAt(item, w, 'arn, role, context, aws_profile');
    checkKeys(e, ['arn', 'role', 'context', 'aws_profile'], w);
    const arn = str(e, 'arn', w);
    if (!arn) return w.fail(`${w} has no arn`);
    const key: KmsKey = { type: 'kms', arn, enc: '', awsProfile: str(e, 'aws_profile', w) ?? '' };
    const role = str(e, 'role', w);
    if (role) key.role = role;
    const ctx = e['context'];
    if (ctx !== undefined && ctx !== null) {
      const c = mapAt(ctx, w.child('context'), 'the KMS encryption context, key: value');
      const context: Record<string, string> = {};
      for (const k of Object.keys(c)) {
        const val = c[k];
        if (val !== null && typeof val === 'object')
          return w.child('context').invalid(k, `expected a string, got ${describe(val)}`);
        context[k] = val === null || val === undefined ? '' : scalarText(val as string | number | boolean | bigint);
      }
      if (Object.keys(context).length > 0) key.context = context;
    }
    keys.push(key);
  });
  groupList(o, 'gcp_kms', where).forEach((item, i) => {
    const w = where.child('gcp_kms').child(i);
    if (typeof item === 'string')
      w.fail(`${w} must be a map like {resource_id: projects/…/cryptoKeys/KEY}, got ${describe(item)}`);
    const e = mapAt(item, w, 'resource_id');
    checkKeys(e, ['resource_id'], w);
    const id = str(e, 'resource_id', w);
    if (!id) return w.fail(`${w} has no resource_id`);
    keys.push(keyAt(w, 'resource_id', () => parseGcpKmsId(id)));
  });
  groupList(o, 'hckms', where).forEach((item, i) => {
    const w = where.child('hckms').child(i);
    if (typeof item === 'string') w.fail(`${w} must be a map like {key_id: ${HCKMS_ID_FORM}}, got ${describe(item)}`);
    const e = mapAt(item, w, 'key_id');
    checkKeys(e, ['key_id'], w);
    const id = str(e, 'key_id', w);
    if (!id) return w.fail(`${w} has no key_id`);
    keys.push(keyAt(w, 'key_id', () => parseHckmsKeyId(id)));
  });
  groupList(o, 'azure_keyvault', where).forEach((item, i) => {
    const w = where.child('azure_keyvault').child(i);
    if (typeof item === 'string')
      w.fail(
        `${w} must be a map like {vaultUrl: https://VAULT.vault.azure.net, key: NAME, version: VERSION}, got ${describe(item)}`,
      );
    const e = mapAt(item, w, 'vaultUrl, key, version');
    checkKeys(e, ['vaultUrl', 'key', 'version'], w);
    const vaultUrl = str(e, 'vaultUrl', w);
    const name = str(e, 'key', w);
    if (!vaultUrl) return w.fail(`${w} has no vaultUrl`);
    if (!name) return w.fail(`${w} has no key`);
    keys.push({ type: 'azure_kv', vaultUrl, name, version: str(e, 'version', w) ?? '', enc: '' });
  });
  groupList(o, 'hc_vault', where).forEach((item, i) => {
    const s = groupString(item, where, 'hc_vault', i);
    if (s.trim() === '') return;
    keys.push(keyAt(where, `hc_vault[${i}]`, () => parseVaultUri(s)));
  });
  const unique = new Map<string, MasterKey>();
  for (const k of keys) if (!unique.has(keyId(k))) unique.set(keyId(k), k);
  return [...unique.values()];
}

/** What reading a rule found besides the rule itself. */
interface RuleState {
  /** Warnings (unknown keys, ignored settings), printed when the rule is used. */
  warnings: string[];
  /** Why the rule cannot be used at all: thrown when it is the rule that applies. */
  error?: SopsError;
  /** Why its `path_regex` cannot be used: thrown when matching reaches the rule (as sops). */
  pathError?: SopsError;
  /** Why encrypting with it would fail (reported by `checkConfig` and in strict mode). */
  useProblems: string[];
}

const ruleStates = new WeakMap<object, RuleState>();

function stateOf(rule: object): RuleState {
  return ruleStates.get(rule) ?? { warnings: [], useProblems: [] };
}

/** A rule's path_regex, compiled; a bad one is kept in the rule's state (it matters only when matching). */
function readPathRegex(rule: CreationRule | DestinationRule, o: Obj, where: Where, state: RuleState): void {
  try {
    const pathRegex = regexWith(o, 'path_regex', where);
    if (pathRegex !== undefined) {
      rule.pathRegex = pathRegex.source;
      compiled.set(rule, pathRegex.re);
    }
  } catch (e) {
    if (!(e instanceof SopsError)) throw e;
    state.pathError = e;
  }
}

/**
 * Read one creation rule. Never throws: a problem is kept in the rule's state (see `RuleState`)
 * and only matters when the rule is used. `loud` receives warnings printed whenever the file is read.
 */
function parseCreationRule(v: unknown, at: Where, loud: string[]): CreationRule {
  const where = at.fresh();
  const rule: CreationRule = {
    location: where.toString(),
    keyGroups: [],
    fromKeyGroups: false,
    shamirThreshold: 0,
    scope: {},
  };
  const state: RuleState = { warnings: where.sink.warnings, useProblems: [] };
  ruleStates.set(rule, state);
  try {
    const o = mapAt(v, where, 'a creation rule');
    // path_regex first: matching needs it even when the rest of the rule is broken
    readPathRegex(rule, o, where, state);
    const unknown = checkKeys(o, RULE_KEYS, where, RULE_ALIASES);
    if (o['path_regex'] === undefined) {
      for (const [key, suggestion] of unknown) {
        if (suggestion === 'path_regex') {
          loud.push(
            `${where} has no path_regex, so it matches EVERY file (and hides the rules after it): did you mean path_regex instead of ${key}?`,
          );
        }
      }
    }
    readCreationRule(rule, o, where, state);
  } catch (e) {
    if (!(e instanceof SopsError)) throw e;
    state.error = e;
  }
  return rule;
}

function readCreationRule(rule: CreationRule, o: Obj, where: Where, state: RuleState): void {
  const awsProfile = str(o, 'aws_profile', where) || undefined;

  // Scope settings: at most one of the six selectors, as sops.
  const scope: Scope = {};
  for (const { field, key, regex: isRegex } of SCOPE_SELECTORS) {
    const value = isRegex ? regex(o, key, where) : str(o, key, where);
    if (value) (scope as Record<string, string>)[field] = value;
  }
  const selectors = selectorsSet(scope);
  if (selectors.length > 1)
    where.fail(`conflicting settings in ${where}: ${conflictMessage(selectors, 'for the same rule')}`);
  const mac = bool(o, MAC_ONLY_ENCRYPTED_KEY, where);
  if (mac) scope.macOnlyEncrypted = true;

  // Keys: key_groups, or else the rule's top-level key settings.
  const topLevel = TOP_KEY_SETTINGS.filter(
    (k) =>
      o[k] !== undefined && o[k] !== null && o[k] !== '' && !(Array.isArray(o[k]) && (o[k] as unknown[]).length === 0),
  );
  const rawGroups = o['key_groups'];
  let keyGroups: KeyGroup[];
  let fromKeyGroups = false;
  if (rawGroups !== undefined && rawGroups !== null && !(Array.isArray(rawGroups) && rawGroups.length === 0)) {
    if (!Array.isArray(rawGroups))
      where.invalid('key_groups', `expected a list of key groups, got ${describe(rawGroups)}`);
    const ignored = [...topLevel, ...(awsProfile ? ['aws_profile'] : [])];
    if (ignored.length > 0) {
      where.warn(
        `conflicting settings in ${where}: both key_groups and ${ignored.join(', ')} are set; sops ignores the rule's top-level keys when key_groups is set, and so does tsops: move them into a key group`,
      );
    }
    fromKeyGroups = true;
    keyGroups = rawGroups.map((g, i) => {
      const gw = where.child('key_groups').child(i);
      const parsed = parseGroup(g, gw);
      if (parsed.length === 0) {
        state.useProblems.push(
          `${gw} has no keys: a key group needs at least one key, or nothing can decrypt its share (sops: Could not generate data key: [empty key group provided])`,
        );
      }
      return parsed;
    });
  } else {
    const group: MasterKey[] = [];
    keyList(o, 'age', where).forEach((r) => group.push(keyAt(where, 'age', () => parseAgeRecipient(r))));
    keyList(o, 'pgp', where).forEach((fp) => group.push(keyAt(where, 'pgp', () => parsePgpFingerprint(fp))));
    keyList(o, 'kms', where).forEach((arn) =>
      group.push(keyAt(where, 'kms', () => parseKmsArn(arn, undefined, awsProfile))),
    );
    keyList(o, 'gcp_kms', where).forEach((id) => group.push(keyAt(where, 'gcp_kms', () => parseGcpKmsId(id))));
    keyList(o, 'hckms', where).forEach((id) => group.push(keyAt(where, 'hckms', () => parseHckmsKeyId(id))));
    keyList(o, 'azure_keyvault', where).forEach((u) =>
      group.push(keyAt(where, 'azure_keyvault', () => parseAzureKeyUrl(u))),
    );
    keyList(o, 'hc_vault_transit_uri', where).forEach((u) =>
      group.push(keyAt(where, 'hc_vault_transit_uri', () => parseVaultUri(u))),
    );
    keyGroups = group.length > 0 ? [group] : [];
  }

  const shamirThreshold = int(o, 'shamir_threshold', where) ?? 0;
  if (shamirThreshold < 0) where.invalid('shamir_threshold', `${shamirThreshold} is negative`);
  const groupCount = keyGroups.length;
  if (shamirThreshold > groupCount && groupCount <= 1) {
    where.warn(
      `shamir_threshold ${shamirThreshold} in ${where} is larger than the number of key groups (${groupCount}); with one key group it is not used`,
    );
  } else {
    const problem = shamirSplitProblem(groupCount, shamirThreshold);
    if (problem !== undefined) {
      state.useProblems.push(
        shamirThreshold === 1
          ? `shamir_threshold 1 in ${where} with ${groupCount} key groups: sops cannot split the data key so (${problem}); to let any one key decrypt, put all the keys in one key group`
          : `shamir_threshold ${shamirThreshold} in ${where} is larger than the number of key groups (${groupCount}): sops cannot split the data key so (${problem})`,
      );
    }
  }

  rule.keyGroups = keyGroups;
  rule.fromKeyGroups = fromKeyGroups;
  rule.shamirThreshold = shamirThreshold;
  rule.scope = scope;
  if (awsProfile !== undefined) rule.awsProfile = awsProfile;
}

// --- destination rules, stores ----------------------------------------------------------------

const DESTINATION_KEYS = [
  'path_regex',
  's3_bucket',
  's3_prefix',
  'gcs_bucket',
  'gcs_prefix',
  'vault_path',
  'vault_address',
  'vault_kv_mount_name',
  'vault_kv_version',
  'recreation_rule',
  'omit_extensions',
] as const;

/** Read one destination rule; never throws (see `parseCreationRule`). */
function parseDestinationRule(v: unknown, at: Where, loud: string[]): DestinationRule {
  const where = at.fresh();
  const rule: DestinationRule = { location: where.toString(), omitExtensions: false };
  const state: RuleState = { warnings: where.sink.warnings, useProblems: [] };
  ruleStates.set(rule, state);
  try {
    const o = mapAt(v, where, 'a destination rule');
    readPathRegex(rule, o, where, state);
    checkKeys(o, DESTINATION_KEYS, where);
    rule.omitExtensions = bool(o, 'omit_extensions', where) ?? false;
    const strings: Array<[keyof DestinationRule, string]> = [
      ['s3Bucket', 's3_bucket'],
      ['s3Prefix', 's3_prefix'],
      ['gcsBucket', 'gcs_bucket'],
      ['gcsPrefix', 'gcs_prefix'],
      ['vaultPath', 'vault_path'],
      ['vaultAddress', 'vault_address'],
      ['vaultKvMountName', 'vault_kv_mount_name'],
    ];
    for (const [field, key] of strings) {
      const s = str(o, key, where);
      if (s) (rule as unknown as Record<string, string>)[field] = s;
    }
    const version = int(o, 'vault_kv_version', where);
    if (version !== undefined && version !== 0) {
      // sops publishes to KV version 2 when the setting is anything but 1 or 2
      if (version !== 1 && version !== 2)
        where.warn(
          `invalid vault_kv_version in ${where}: expected 1 or 2, got ${version}; sops then uses version 2, and so does tsops`,
        );
      else rule.vaultKvVersion = version;
    }
    const destinations = ['s3_bucket', 'gcs_bucket', 'vault_path'].filter((k) => str(o, k, where));
    if (destinations.length > 1) {
      where.fail(
        `conflicting settings in ${where}: more than one destination (${destinations.join(', ')}); a destination rule can only have one`,
      );
    }
    const rec = o['recreation_rule'];
    if (rec !== undefined && rec !== null)
      rule.recreationRule = parseCreationRule(rec, where.child('recreation_rule'), loud);
  } catch (e) {
    if (!(e instanceof SopsError)) throw e;
    state.error = e;
  }
  return rule;
}

function parseStores(v: unknown, where: Where): StoresConfig {
  if (v === undefined || v === null) return {};
  const o = mapAt(v, where, 'yaml, json, json_binary, dotenv, ini');
  checkKeys(o, ['yaml', 'json', 'json_binary', 'dotenv', 'ini'], where);
  const out: StoresConfig = {};
  const indentOf = (key: 'yaml' | 'json' | 'json_binary', min: number): StoreIndent | undefined => {
    const s = o[key];
    if (s === undefined || s === null) return undefined;
    const w = where.child(key);
    const m = mapAt(s, w, 'indent');
    checkKeys(m, ['indent'], w);
    const indent = int(m, 'indent', w);
    if (indent === undefined) return {};
    if (indent < min)
      w.invalid('indent', `${indent} is too small (${key === 'yaml' ? 'use 2 to 9' : '0 = none, -1 = one tab'})`);
    return { indent };
  };
  const yaml = indentOf('yaml', 0);
  const json = indentOf('json', -1);
  const jsonBinary = indentOf('json_binary', -1);
  if (yaml) out.yaml = yaml;
  if (json) out.json = json;
  if (jsonBinary) out.jsonBinary = jsonBinary;
  for (const key of ['dotenv', 'ini'] as const) {
    const s = o[key];
    if (s === undefined || s === null) continue;
    const w = where.child(key);
    checkKeys(mapAt(s, w, 'no settings'), [], w);
  }
  return out;
}

const TOP_KEYS = ['creation_rules', 'destination_rules', 'stores'] as const;
const TOP_ALIASES: Record<string, string> = {
  rules: 'creation_rules',
  creation_rule: 'creation_rules',
  creationRules: 'creation_rules',
};

/** How a config file is read. */
export interface ConfigReadOptions {
  /**
   * Every warning and every problem of every rule is an error (exit code 5), as `tsops config
   * check` reports them. `loadConfig`'s default: the environment variable `TSOPS_STRICT_CONFIG`
   * set to anything but '' / '0' / 'false'.
   */
  strict?: boolean;
  /**
   * Where warnings go (one line each, without a prefix): those about the whole file when it is
   * read, those about a rule when the rule is used. `loadConfig`'s default: standard error, as
   * `warning: …`. `parseConfig`'s default: nowhere.
   */
  warn?: (msg: string) => void;
}

/** Per config: where its warnings go, and the rules already warned about. */
const configStates = new WeakMap<object, { warn?: (msg: string) => void; warned: Set<object> }>();

/** The environment's choice of strictness (`TSOPS_STRICT_CONFIG`). */
export function strictFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env['TSOPS_STRICT_CONFIG'] ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

const printed = new Set<string>();

/** Warnings on standard error, one line each, each once per process (a config may be read twice). */
export function warnOnStderr(msg: string): void {
  if (printed.has(msg)) return;
  printed.add(msg);
  process.stderr.write(`warning: ${msg}\n`);
}

/**
 * Read a config file. Throws `SopsError` (exit code `ErrorReadingConfig`) when it cannot be read
 * or parsed as YAML, or its top level is malformed; problems inside a rule are kept with the rule
 * and matter only when it is used (see `matchRule`) — unless `strict`.
 */
export function loadConfig(path: string, opts: ConfigReadOptions = {}): SopsConfig {
  const abs = nodePath.resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new SopsError(`could not read config file ${abs}: ${why}`, ExitCode.ErrorReadingConfig);
  }
  return parseConfig(text, abs, { strict: opts.strict ?? strictFromEnv(), warn: opts.warn ?? warnOnStderr });
}

/** Everything wrong with a config, in file order, each one line (what `tsops config check` prints). */
export interface ConfigProblem {
  /** 'error': fails a command when the rule is used (always, for the file's own problems); 'warning': ignored, as sops does. */
  severity: 'error' | 'warning';
  message: string;
}

function fileProblems(cfg: SopsConfig): ConfigProblem[] {
  const out: ConfigProblem[] = (fileWarnings.get(cfg) ?? []).map((message) => ({
    severity: 'warning' as const,
    message,
  }));
  const rules: object[] = [...cfg.creationRules];
  for (const d of cfg.destinationRules) {
    rules.push(d);
    if (d.recreationRule) rules.push(d.recreationRule);
  }
  for (const rule of rules) {
    const st = stateOf(rule);
    // warnings first: an unknown key often explains the error after it (`vault_url` → "has no vaultUrl")
    for (const w of st.warnings) out.push({ severity: 'warning', message: w });
    if (st.pathError) out.push({ severity: 'error', message: st.pathError.message });
    if (st.error) out.push({ severity: 'error', message: st.error.message });
    for (const p of st.useProblems) out.push({ severity: 'error', message: p });
  }
  const catchAll = cfg.creationRules.findIndex((r) => !r.pathRegex && !stateOf(r).pathError);
  if (catchAll >= 0 && catchAll < cfg.creationRules.length - 1) {
    out.push({
      severity: 'warning',
      message: `${cfg.creationRules[catchAll + 1]!.location}${catchAll + 2 < cfg.creationRules.length ? ' and the rules after it' : ''} can never apply: ${cfg.creationRules[catchAll]!.location} has no path_regex and matches every file first`,
    });
  }
  return out;
}

const fileWarnings = new WeakMap<object, string[]>();

/**
 * Every problem of a config file (`tsops config check`): the file's own (unreadable, not YAML —
 * thrown as by `loadConfig`), then per rule the errors that would fail a command using it and the
 * warnings about what sops ignores.
 */
export function checkConfig(path: string): ConfigProblem[] {
  return fileProblems(loadConfig(path, { strict: false, warn: () => {} }));
}

/**
 * Check config text as if read from `path` (used by `loadConfig`; handy for tests and tools). See
 * `ConfigReadOptions` (the defaults here: not strict, warnings dropped).
 */
export function parseConfig(text: string, path: string, opts: ConfigReadOptions = {}): SopsConfig {
  const abs = nodePath.resolve(path);
  const root = new Where(abs, '');
  const docs = parseAllDocuments(text, { merge: true, intAsBigInt: true, prettyErrors: true, uniqueKeys: true });
  let data: unknown = null;
  if (Array.isArray(docs) && docs.length > 0) {
    const doc = docs[0]!;
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!.message.split('\n')[0]!.replace(/:$/, '');
      root.fail(`could not parse config file ${abs}: ${first}`);
    }
    try {
      data = doc.toJS({ maxAliasCount: 10000 });
    } catch (e) {
      root.fail(`could not parse config file ${abs}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const cfg: SopsConfig = {
    path: abs,
    dir: nodePath.dirname(abs),
    creationRules: [],
    destinationRules: [],
    stores: {},
    ignoredKeys: [],
  };
  configStates.set(cfg, { ...(opts.warn ? { warn: opts.warn } : {}), warned: new Set() });
  if (data === null || data === undefined) return cfg;
  if (!isObj(data))
    return root.fail(`invalid config file ${abs}: expected a map with creation_rules, got ${describe(data)}`);
  const top: Obj = data;

  for (const k of Object.keys(top)) {
    if ((TOP_KEYS as readonly string[]).includes(k)) continue;
    const suggestion = TOP_ALIASES[k] ?? closest(k, TOP_KEYS);
    if (suggestion)
      root.warn(`unknown key ${k} in ${abs} (did you mean ${suggestion}?); sops ignores it, and so does tsops`);
    else cfg.ignoredKeys.push(k);
  }

  const list = (key: string): unknown[] => {
    const v = top[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return root.invalid(key, `expected a list, got ${describe(v)}`);
    return v;
  };
  const loud: string[] = [];
  cfg.creationRules = list('creation_rules').map((r, i) =>
    parseCreationRule(r, root.child('creation_rules').child(i), loud),
  );
  cfg.destinationRules = list('destination_rules').map((r, i) =>
    parseDestinationRule(r, root.child('destination_rules').child(i), loud),
  );
  cfg.stores = parseStores(top['stores'], root.child('stores'));
  fileWarnings.set(cfg, [...loud, ...root.sink.warnings]);

  if (opts.strict) {
    const first = fileProblems(cfg)[0];
    if (first) {
      throw new SopsError(
        `${first.message} [TSOPS_STRICT_CONFIG: every config warning is an error]`,
        ExitCode.ErrorReadingConfig,
      );
    }
  } else if (opts.warn) {
    for (const w of fileWarnings.get(cfg)!) opts.warn(w);
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Using the rules

function ruleRegex(rule: { pathRegex?: string; location: string }): GoRegex | undefined {
  const pathError = ruleStates.get(rule)?.pathError;
  if (pathError) throw pathError;
  if (!rule.pathRegex) return undefined;
  let re = compiled.get(rule);
  if (!re) {
    try {
      re = goRegex(rule.pathRegex);
    } catch (e) {
      if (e instanceof GoRegexError) {
        throw new SopsError(
          `invalid path_regex in ${rule.location}: ${JSON.stringify(rule.pathRegex)} is not a valid regular expression: ${e.message}`,
          ExitCode.ErrorReadingConfig,
        );
      }
      throw e;
    }
    compiled.set(rule, re);
  }
  return re;
}

/**
 * The path sops matches `path_regex` against: the file's absolute path (resolved against `cwd`,
 * default the process's, without following symlinks — as sops's CLI makes it absolute first) with
 * the config folder and one separator removed when it is under that folder, else the absolute path;
 * `/` separators.
 */
export function pathForMatching(cfg: Pick<SopsConfig, 'dir'>, filePath: string, cwd: string = process.cwd()): string {
  const abs = nodePath.resolve(cwd, filePath);
  const prefix = cfg.dir + nodePath.sep;
  const rel = abs.startsWith(prefix) ? abs.slice(prefix.length) : abs;
  return nodePath.sep === '/' ? rel : rel.split(nodePath.sep).join('/');
}

/**
 * The first creation rule whose `path_regex` matches `filePath` (see `pathForMatching`; an
 * unanchored search, as Go's `MatchString`); a rule without `path_regex` matches every file.
 * Undefined if none matches (sops: "no matching creation rules found").
 */
export function matchRule(
  cfg: SopsConfig,
  filePath: string,
  opts: { cwd?: string } = {},
): { rule: CreationRule; index: number } | undefined {
  const target = pathForMatching(cfg, filePath, opts.cwd);
  for (let index = 0; index < cfg.creationRules.length; index++) {
    const rule = cfg.creationRules[index]!;
    const re = ruleRegex(rule);
    if (!re || re.test(target)) {
      use(cfg, rule);
      return { rule, index };
    }
  }
  return undefined;
}

/**
 * A rule is being used: its warnings are printed (once per config), and its error thrown.
 */
function use(cfg: SopsConfig, ...rules: object[]): void {
  const cs = configStates.get(cfg);
  for (const rule of rules) {
    const st = ruleStates.get(rule);
    if (!st) continue;
    if (cs && !cs.warned.has(rule)) {
      cs.warned.add(rule);
      if (cs.warn) for (const w of st.warnings) cs.warn(w);
    }
    if (st.error) throw st.error;
  }
}

/**
 * The first destination rule matching `filePath` — matched against the path exactly as given
 * (sops's `publish` does not make it relative to the config's folder). Undefined if none. A
 * `path_regex` that does not compile matches nothing, as in sops (with a warning).
 */
export function matchDestinationRule(
  cfg: SopsConfig,
  filePath: string,
): { rule: DestinationRule; index: number } | undefined {
  const target = nodePath.sep === '/' ? filePath : filePath.split(nodePath.sep).join('/');
  for (let index = 0; index < cfg.destinationRules.length; index++) {
    const rule = cfg.destinationRules[index]!;
    let re: GoRegex | undefined;
    try {
      re = ruleRegex(rule);
    } catch (e) {
      if (!(e instanceof SopsError)) throw e;
      const cs = configStates.get(cfg);
      if (cs && !cs.warned.has(rule)) {
        cs.warned.add(rule);
        cs.warn?.(`${e.message}; sops skips that destination rule, and so does tsops`);
      }
      continue;
    }
    if (!re || re.test(target)) {
      use(cfg, rule, ...(rule.recreationRule ? [rule.recreationRule] : []));
      return { rule, index };
    }
  }
  return undefined;
}

/**
 * The indentation the `stores:` section of `cfg` sets for writing `format`, if any: `yaml`, `json`,
 * and `json_binary` for binary files (written as JSON when encrypted).
 */
export function storesIndent(cfg: SopsConfig | undefined, format: Format): number | undefined {
  if (!cfg) return undefined;
  if (format === 'yaml') return cfg.stores.yaml?.indent;
  if (format === 'json') return cfg.stores.json?.indent;
  if (format === 'binary') return cfg.stores.jsonBinary?.indent;
  return undefined;
}

/**
 * The indentation to write `format` with: `flag` (--indent) when given, else the `stores:` setting
 * of the `.sops.yaml` that applies to `path` (`config` names one instead; see `findConfigFile`),
 * else undefined (the store's default). A named config that does not exist sets nothing; one that
 * cannot be read throws, as `loadConfig`.
 */
export function indentFor(
  format: Format,
  o: { flag?: number; path?: string; config?: string; cwd?: string; warn?: (msg: string) => void } = {},
): number | undefined {
  if (o.flag !== undefined) return o.flag;
  if (format !== 'yaml' && format !== 'json' && format !== 'binary') return undefined;
  const cwd = o.cwd ?? process.cwd();
  const configPath = findConfigFile({
    explicit: o.config,
    fileDir: o.path ? nodePath.dirname(nodePath.resolve(cwd, o.path)) : undefined,
    cwd,
    warn: o.warn,
  });
  if (!configPath || !existsSync(configPath)) return undefined;
  return storesIndent(loadConfig(configPath), format);
}

/** sops's message (and exit code 1) when a rule gives no keys, or a key group without keys. */
export const EMPTY_KEY_GROUP = 'Could not generate data key: [empty key group provided]';

function cloneKey(k: MasterKey): MasterKey {
  const c = { ...k };
  if (c.type === 'kms' && c.context) c.context = { ...c.context };
  return c;
}

/**
 * What a rule yields for encryption: fresh copies of its key groups (`enc` ''), its Shamir
 * threshold (0 = unset) and its scope with the default applied (see `resolveScope`).
 * `kmsEncryptionContext` (from `--encryption-context`) is given to the rule's top-level `kms` keys,
 * as sops does; keys under `key_groups` carry their own `context`.
 * Throws, as sops does when it generates the data key, when the rule lists no keys or has an empty
 * key group (`Could not generate data key: [empty key group provided]`, exit code 1); when the
 * rule could not be read.
 */
export function ruleToEncryptionSettings(
  rule: CreationRule,
  opts: { kmsEncryptionContext?: Record<string, string> } = {},
): { keyGroups: KeyGroup[]; shamirThreshold: number; scope: Scope } {
  const error = ruleStates.get(rule)?.error;
  if (error) throw error;
  const ctx =
    opts.kmsEncryptionContext && Object.keys(opts.kmsEncryptionContext).length > 0
      ? opts.kmsEncryptionContext
      : undefined;
  const keyGroups = rule.keyGroups.map((g) =>
    g.map((k) => {
      const c = cloneKey(k);
      if (c.type === 'kms' && !rule.fromKeyGroups && ctx) c.context = { ...ctx };
      return c;
    }),
  );
  if (keyGroups.length === 0 || keyGroups.some((g) => g.length === 0))
    throw new SopsError(EMPTY_KEY_GROUP, ExitCode.ErrorGeneric);
  return { keyGroups, shamirThreshold: rule.shamirThreshold, scope: resolveScope(rule.scope) };
}
