// Shared by the rotate / updatekeys / groups / exec tests: extra age identities and looking inside
// encrypted YAML files without decrypting them.
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { parse } from 'yaml';
import { Sandbox } from './editing.js';
import { closeOracle, oracleAvailable, oracleUnavailableReason } from './sops-oracle.js';

export interface AgePair {
  identity: string;
  recipient: string;
}

export async function newAgePair(): Promise<AgePair> {
  const identity = await generateIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The data part of an encrypted YAML file (everything before its top-level `sops:`). */
export function dataPart(yamlText: string): string {
  const at = yamlText.search(/^sops:/m);
  if (at < 0) throw new Error('no sops section');
  return yamlText.slice(0, at);
}

/** Every `ENC[...]` of the data part, in order. */
export function encValues(yamlText: string): string[] {
  return dataPart(yamlText).match(/ENC\[[^\]]*\]/g) ?? [];
}

/** The `sops` metadata of an encrypted YAML file, as plain data. */
export function sopsMeta(yamlText: string): Record<string, unknown> {
  return (parse(yamlText) as { sops: Record<string, unknown> }).sops;
}

/** The age recipients per key group of an encrypted YAML file. */
export function ageGroups(yamlText: string): string[][] {
  const m = sopsMeta(yamlText) as {
    age?: Array<{ recipient: string }>;
    key_groups?: Array<{ age?: Array<{ recipient: string }> }>;
  };
  if (m.key_groups) return m.key_groups.map((g) => (g.age ?? []).map((k) => k.recipient));
  return [(m.age ?? []).map((k) => k.recipient)];
}

/** What the groups and updatekeys tests share: a sandbox, two more age key pairs, and whether the real-sops oracle runs. */
export interface KeyTestSetup {
  sb: Sandbox;
  second: AgePair;
  third: AgePair;
  oracle: boolean;
  /** Why the oracle is not available ('' when it is). */
  oracleWhy: string;
}

/** Set up a key test (call in `before`); `tearDownKeyTest` in `after`. */
export async function setUpKeyTest(prefix: string): Promise<KeyTestSetup> {
  const sb = new Sandbox(prefix);
  const [second, third] = await Promise.all([newAgePair(), newAgePair()]);
  const oracle = await oracleAvailable();
  const oracleWhy = oracle ? '' : `real-sops oracle not available: ${oracleUnavailableReason() ?? 'unknown reason'}`;
  return { sb, second, third, oracle, oracleWhy };
}

export async function tearDownKeyTest(s: KeyTestSetup | undefined): Promise<void> {
  await closeOracle();
  s?.sb.cleanup();
}
