/**
 * The `sops` metadata section: reading it from the plain data a store hands over (in any of the
 * layouts sops has written over the years) and writing it back in the layout sops 3.x writes —
 * keys sorted at every level, empty settings omitted, key lists under `key_groups` only when there
 * is more than one group.
 */
import { ExitCode, SopsError } from '../errors.js';
import { conflictMessage, SCOPE_KEYS, scopeFromKeys, scopeToKeys, selectorsSet, type Scope } from '../scope/scope.js';
import type { Plain } from '../tree/types.js';
import { KEY_TYPES, type KeyGroup, type MasterKey } from '../keys/types.js';
import { keyFromMap, keyToMap } from '../keys/identity.js';
import { formatGoRfc3339, parseGoRfc3339 } from '../util/gotime.js';

/** The sops file-format version tsops writes: the sops release whose format it implements. */
export const SOPS_FORMAT_VERSION = '3.13.2';

export interface Metadata {
  keyGroups: KeyGroup[];
  /** 0 when unset (every group needed). */
  shamirThreshold: number;
  /** RFC 3339 UTC without fractions, as written. */
  lastModified: string;
  /** The encrypted MAC (`ENC[...]`), or '' in a file without one. */
  mac: string;
  version: string;
  scope: Scope;
}

/** The key lists tsops reads and writes: each known key type's list, named as the type. */
const KEY_LISTS = KEY_TYPES;

/** Fields of the `sops` section that are not key lists (anything else holding a list of entries is one). */
const NOT_KEY_LISTS = new Set(['key_groups', 'shamir_threshold', 'lastmodified', 'mac', 'version', ...SCOPE_KEYS]);

type Obj = { [k: string]: Plain };

function isObj(v: Plain | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v !== 'bigint';
}

/**
 * Metadata sops cannot read: its stores hand the error back as it is, and the command exits with
 * the generic code 1 (cmd/sops's toExitError), whichever command reads the file.
 */
function bad(msg: string): SopsError {
  return new SopsError(`invalid sops metadata: ${msg}`, ExitCode.ErrorGeneric);
}

function strField(o: Obj, k: string, where: string, required = true): string {
  const v = o[k];
  if (v === undefined || v === null) {
    if (required) throw bad(`${where} has no ${k}`);
    return '';
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  throw bad(`${where}.${k} must be a string`);
}

/** A timestamp sops reads with time.Parse(RFC3339) (an empty or missing one too): the text as written. */
function timeField(o: Obj, k: string, where: string): string {
  const v = o[k] === undefined || o[k] === null ? '' : strField(o, k, where);
  if (!parseGoRfc3339(v)) throw bad(`${where}.${k} ${JSON.stringify(v)} is not an RFC 3339 time`);
  return v;
}

function parseKey(type: (typeof KEY_LISTS)[number], e: Plain, where: string): MasterKey {
  if (!isObj(e)) throw bad(`${where} must be a map`);
  const enc = strField(e, 'enc', where, false);
  // age entries have no created_at; every other key type's is parsed by sops (time.Parse RFC3339)
  const createdAt = type === 'age' ? undefined : timeField(e, 'created_at', where);
  const reader = {
    str: (field: string, required = false) => strField(e, field, where, required),
    map: (field: string) => {
      const v = e[field];
      if (!isObj(v)) return undefined;
      const out: Record<string, string> = {};
      // a map or list here prints as [object Object] (sops refuses it when it unmarshals; not decided here)
      // eslint-disable-next-line @typescript-eslint/no-base-to-string
      for (const [k, x] of Object.entries(v)) out[k] = x === null ? '' : String(x);
      return out;
    },
  };
  return keyFromMap(type, reader, enc, createdAt);
}

/**
 * A list of a key type tsops does not know (a newer sops's): a non-empty list of maps that each
 * hold an `enc`. Its entries are kept as they are (see `OtherKey`); anything else is left alone.
 */
function otherList(name: string, list: Plain | undefined): MasterKey[] {
  if (!Array.isArray(list) || list.length === 0) return [];
  if (!list.every((e) => isObj(e) && typeof e['enc'] === 'string')) return [];
  return (list as Obj[]).map((e) => ({
    type: 'other' as const,
    list: name,
    fields: { ...e },
    enc: e['enc'] as string,
  }));
}

function parseGroup(o: Obj, where: string): KeyGroup {
  const group: KeyGroup = [];
  for (const type of KEY_LISTS) {
    const list = o[type];
    if (list === undefined || list === null || list === '') continue;
    if (!Array.isArray(list)) throw bad(`${where}${type} must be a list`);
    list.forEach((e, i) => group.push(parseKey(type, e, `${where}${type}[${i}]`)));
  }
  for (const name of Object.keys(o)) {
    if ((KEY_LISTS as readonly string[]).includes(name) || NOT_KEY_LISTS.has(name)) continue;
    group.push(...otherList(name, o[name]));
  }
  return group;
}

function toInt(v: Plain | undefined, name: string): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'string' ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw bad(`${name} must be a whole number`);
  return n;
}

function toBool(v: Plain | undefined): boolean {
  return v === true || v === 'true' || v === 'True';
}

/** Read the metadata sops wrote. */
export function parseMetadata(p: Plain): Metadata {
  if (!isObj(p)) throw bad('the sops section must be a map');
  let keyGroups: KeyGroup[];
  const kg = p['key_groups'];
  if (Array.isArray(kg) && kg.length > 0) {
    keyGroups = kg.map((g, i) => {
      if (!isObj(g)) throw bad(`key_groups[${i}] must be a map`);
      return parseGroup(g, `key_groups[${i}].`);
    });
  } else {
    keyGroups = [parseGroup(p, '')];
  }
  const scope: Scope = scopeFromKeys(p, (v) => toBool(v as Plain));
  // sops's Metadata.ToInternal: at most one of the six selectors (stores/stores.go)
  const selectors = selectorsSet(scope);
  if (selectors.length > 1) throw bad(conflictMessage(selectors));
  // a map or list prints as [object Object], which the RFC 3339 check below refuses
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  const lastModified = p['lastmodified'] === undefined || p['lastmodified'] === null ? '' : String(p['lastmodified']);
  if (!parseGoRfc3339(lastModified)) throw bad(`lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 time`);
  const version = p['version'];
  return {
    keyGroups,
    shamirThreshold: toInt(p['shamir_threshold'], 'shamir_threshold'),
    lastModified,
    mac: typeof p['mac'] === 'string' ? p['mac'] : '',
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a map or list prints as [object Object] (not decided here)
    version: version === undefined || version === null ? '' : String(version),
    scope,
  };
}

function sortObj(o: Obj): Obj {
  const out: Obj = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}

/** One key entry in sops's layout. */
export function keyToPlain(k: MasterKey): Obj {
  // an entry of an unknown list is written back as it was read
  if (k.type === 'other') return sortObj({ ...(k.fields as Obj), enc: k.enc });
  const o: Obj = { ...keyToMap(k), enc: k.enc };
  if (k.type !== 'age') o['created_at'] = k.createdAt ?? '';
  return sortObj(o);
}

function groupToPlain(g: KeyGroup, into: Obj): void {
  for (const type of KEY_LISTS) {
    const keys = g.filter((k) => k.type === type);
    if (keys.length) into[type] = keys.map(keyToPlain);
  }
  for (const k of g) {
    if (k.type !== 'other' || (KEY_LISTS as readonly string[]).includes(k.list) || NOT_KEY_LISTS.has(k.list)) continue;
    const list = (into[k.list] ??= []) as Plain[];
    list.push(keyToPlain(k));
  }
}

/** The metadata in sops 3.x's layout (YAML/JSON); stores that flatten it do so from this. */
export function metadataToPlain(m: Metadata): Obj {
  const o: Obj = {};
  if (m.keyGroups.length === 1) groupToPlain(m.keyGroups[0]!, o);
  else if (m.keyGroups.length > 1) {
    o['key_groups'] = m.keyGroups.map((g) => {
      const go: Obj = {};
      groupToPlain(g, go);
      return sortObj(go);
    });
  }
  if (m.shamirThreshold) o['shamir_threshold'] = m.shamirThreshold;
  o['lastmodified'] = m.lastModified;
  o['mac'] = m.mac;
  scopeToKeys(m.scope, o);
  o['version'] = m.version;
  return sortObj(o);
}

/** `lastmodified` as sops writes it: UTC RFC 3339 without fractions. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The additional data of the MAC: `lastmodified` parsed and printed again as RFC 3339 (a `+00:00`
 * offset becomes `Z`, fractions are dropped).
 */
export function macAad(lastModified: string): string {
  const t = parseGoRfc3339(lastModified);
  if (!t) throw bad(`lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 time`);
  return formatGoRfc3339(t);
}
