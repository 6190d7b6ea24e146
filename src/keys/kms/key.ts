/**
 * AWS KMS key identifiers, as sops 3.x reads them (no AWS SDK imported here):
 *
 * - `ARN` or `ARN+ROLE_ARN`, spaces removed; the role starts at `+arn:` (any partition);
 * - lists are comma-separated, empty entries skipped;
 * - the encryption context (`--encryption-context k:v,k2:v2`) and AWS profile travel with the key;
 *   an empty context is no context (sops's `ParseKMSContext` gives nil for "");
 * - the ARN itself is checked when the key is used (`kmsArnRegion`), as sops does.
 *
 * Identity: the ARN, the role, the context (order-free) and the profile.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { KmsKey } from '../types.js';
import { splitKeyList, type KeyFieldReader } from '../age/key.js';

/** A KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`); group 1 is the region. */
const KEY_ARN = /^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)\/.+$/;

/** The context when it has entries, else undefined (an empty context is no context). */
function contextOrNothing(context: Record<string, string> | undefined): Record<string, string> | undefined {
  return context && Object.keys(context).length > 0 ? { ...context } : undefined;
}

/**
 * `ARN` or `ARN+ROLE_ARN` (spaces removed, as sops), with the encryption context (from
 * `--encryption-context`) and AWS profile (`--aws-profile`, or the rule's `aws_profile`) it is to
 * be used with.
 */
export function parseKmsArn(spec: string, context?: Record<string, string>, awsProfile?: string): KmsKey {
  const s = spec.replace(/ /g, '').trim();
  if (s === '') throw new SopsError('empty AWS KMS ARN', ExitCode.ErrorGeneric);
  const roleAt = s.indexOf('+arn:');
  const key: KmsKey = { type: 'kms', arn: roleAt > 0 ? s.slice(0, roleAt) : s, enc: '', awsProfile: awsProfile ?? '' };
  if (roleAt > 0) key.role = s.slice(roleAt + 1);
  const ctx = contextOrNothing(context);
  if (ctx) key.context = ctx;
  return key;
}

/** Comma-separated `ARN[+ROLE_ARN]` entries (`--kms`, SOPS_KMS_ARN, a rule's `kms:`). */
export function parseKmsArns(list: string, context?: Record<string, string>, awsProfile?: string): KmsKey[] {
  return splitKeyList(list).map((s) => parseKmsArn(s, context, awsProfile));
}

/** The region of a KMS key ARN, or undefined when `arn` is not one sops could use. */
export function kmsRegion(arn: string): string | undefined {
  return KEY_ARN.exec(arn)?.[1];
}

/** The region of a KMS key ARN, or a `SopsError` when the ARN is not one sops could use. */
export function kmsArnRegion(arn: string): string {
  const region = kmsRegion(arn);
  if (region === undefined) {
    throw new SopsError(
      `invalid AWS KMS ARN ${JSON.stringify(arn)}: expected arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME`,
      ExitCode.ErrorGeneric,
    );
  }
  return region;
}

/**
 * An encryption context as `--encryption-context` takes it: `key:value,key:value`, every item
 * with exactly one `:` (nothing trimmed). Empty input is no context (undefined), as in sops.
 * Anything malformed is refused (exit code 6, as sops).
 */
export function parseEncryptionContext(spec: string): Record<string, string> | undefined {
  if (spec === '') return undefined;
  const out: Record<string, string> = {};
  for (const pair of spec.split(',')) {
    const kv = pair.split(':');
    if (kv.length !== 2) {
      throw new SopsError(
        `invalid KMS encryption context format: ${JSON.stringify(pair)} is not key:value (expected key:value,key2:value2)`,
        ExitCode.ErrorInvalidKMSEncryptionContextFormat,
      );
    }
    out[kv[0]!] = kv[1]!;
  }
  return out;
}

/** The key as sops prints it (`ARN`), with `+ROLE` when there is one. */
export function kmsKeyString(k: KmsKey): string {
  return `${k.arn}${k.role ? `+${k.role}` : ''}`;
}

/** What makes two KMS entries the same key: ARN, role, context (order-free) and profile. */
export function kmsKeyId(k: KmsKey): string {
  const context = Object.entries(k.context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([k.arn, k.role ?? '', context, k.awsProfile ?? '']);
}

/** A KMS entry's fields as sops writes them: `role` and `context` only when set, `aws_profile` always. */
export function kmsToMap(k: KmsKey): Record<string, string | Record<string, string>> {
  const o: Record<string, string | Record<string, string>> = { arn: k.arn };
  if (k.role) o['role'] = k.role;
  const ctx = contextOrNothing(k.context);
  if (ctx)
    o['context'] = Object.fromEntries(
      Object.keys(ctx)
        .sort()
        .map((c) => [c, ctx[c]!]),
    );
  o['aws_profile'] = k.awsProfile ?? '';
  return o;
}

/** A KMS entry from its fields. */
export function kmsFromMap(r: KeyFieldReader, enc: string, createdAt: string | undefined): KmsKey {
  const role = r.str('role');
  const context = r.map('context');
  return {
    type: 'kms',
    arn: r.str('arn', true),
    enc,
    createdAt,
    ...(role ? { role } : {}),
    ...(context ? { context } : {}),
    awsProfile: r.str('aws_profile'),
  };
}
