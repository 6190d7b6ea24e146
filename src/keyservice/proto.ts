/**
 * sops's key service protocol (keyservice.proto, shipped next to this file): its descriptor in
 * protobuf.js JSON form (loaded by @grpc/proto-loader's `fromJSON`, so the bundle needs no file at
 * run time), and the mapping between tsops's master keys and the protocol's `Key` message.
 * Nothing here imports gRPC.
 */
import type { MasterKey } from '../keys/types.js';
import { parseHckmsKeyId } from '../keys/identity.js';

const str = (id: number) => ({ type: 'string', id });

/** keyservice.proto as protobuf.js JSON: same names and field numbers, no package. */
export const KEYSERVICE_PROTO = {
  nested: {
    Key: {
      oneofs: {
        key_type: {
          oneof: ['kms_key', 'pgp_key', 'gcp_kms_key', 'azure_keyvault_key', 'vault_key', 'age_key', 'hckms_key'],
        },
      },
      fields: {
        kms_key: { type: 'KmsKey', id: 1 },
        pgp_key: { type: 'PgpKey', id: 2 },
        gcp_kms_key: { type: 'GcpKmsKey', id: 3 },
        azure_keyvault_key: { type: 'AzureKeyVaultKey', id: 4 },
        vault_key: { type: 'VaultKey', id: 5 },
        age_key: { type: 'AgeKey', id: 6 },
        hckms_key: { type: 'HckmsKey', id: 7 },
      },
    },
    PgpKey: { fields: { fingerprint: str(1) } },
    KmsKey: {
      fields: { arn: str(1), role: str(2), context: { keyType: 'string', type: 'string', id: 3 }, aws_profile: str(4) },
    },
    GcpKmsKey: { fields: { resource_id: str(1) } },
    VaultKey: { fields: { vault_address: str(1), engine_path: str(2), key_name: str(3) } },
    AzureKeyVaultKey: { fields: { vault_url: str(1), name: str(2), version: str(3) } },
    AgeKey: { fields: { recipient: str(1) } },
    HckmsKey: { fields: { key_id: str(1) } },
    EncryptRequest: { fields: { key: { type: 'Key', id: 1 }, plaintext: { type: 'bytes', id: 2 } } },
    EncryptResponse: { fields: { ciphertext: { type: 'bytes', id: 1 } } },
    DecryptRequest: { fields: { key: { type: 'Key', id: 1 }, ciphertext: { type: 'bytes', id: 2 } } },
    DecryptResponse: { fields: { plaintext: { type: 'bytes', id: 1 } } },
    KeyService: {
      methods: {
        Encrypt: { requestType: 'EncryptRequest', responseType: 'EncryptResponse', comment: '' },
        Decrypt: { requestType: 'DecryptRequest', responseType: 'DecryptResponse', comment: '' },
      },
    },
  },
};

/** @grpc/proto-loader options: field names as in the .proto, only the fields that are set. */
export const LOADER_OPTIONS = { keepCase: true, defaults: false, oneofs: true, longs: String, enums: String };

/** The `Key` message as @grpc/proto-loader reads and writes it. */
export interface ProtoKey {
  key_type?: string;
  kms_key?: { arn?: string; role?: string; context?: Record<string, string>; aws_profile?: string };
  pgp_key?: { fingerprint?: string };
  gcp_kms_key?: { resource_id?: string };
  azure_keyvault_key?: { vault_url?: string; name?: string; version?: string };
  vault_key?: { vault_address?: string; engine_path?: string; key_name?: string };
  age_key?: { recipient?: string };
  hckms_key?: { key_id?: string };
}

/** A master key as the protocol describes it (no wrapped data key: that travels beside it). */
export function keyToProto(k: MasterKey): ProtoKey {
  switch (k.type) {
    case 'age':
      return { age_key: { recipient: k.recipient } };
    case 'pgp':
      return { pgp_key: { fingerprint: k.fp } };
    case 'kms':
      return {
        kms_key: { arn: k.arn, role: k.role ?? '', context: { ...(k.context ?? {}) }, aws_profile: k.awsProfile ?? '' },
      };
    case 'gcp_kms':
      return { gcp_kms_key: { resource_id: k.resourceId } };
    case 'azure_kv':
      return { azure_keyvault_key: { vault_url: k.vaultUrl, name: k.name, version: k.version } };
    case 'hc_vault':
      return { vault_key: { vault_address: k.vaultAddress, engine_path: k.enginePath, key_name: k.keyName } };
    case 'hckms':
      return { hckms_key: { key_id: k.keyId } };
    case 'other':
      throw new Error(`a key service cannot use "${k.list}" keys (a key type tsops does not know)`);
  }
}

/** Why a request's key cannot be used: sops's gRPC status NotFound and its words. */
export class UnknownKeyError extends Error {}

/** The master key a request names (with an empty `enc`), as the server uses it. */
export function keyFromProto(p: ProtoKey | null | undefined): MasterKey {
  if (!p) throw new UnknownKeyError('Must provide a key');
  const s = (v: string | undefined) => v ?? '';
  if (p.age_key) return { type: 'age', enc: '', recipient: s(p.age_key.recipient) };
  if (p.pgp_key) return { type: 'pgp', enc: '', fp: s(p.pgp_key.fingerprint) };
  if (p.kms_key) {
    const k = p.kms_key;
    const ctx = k.context && Object.keys(k.context).length ? { ...k.context } : undefined;
    return {
      type: 'kms',
      enc: '',
      arn: s(k.arn),
      ...(k.role ? { role: k.role } : {}),
      ...(ctx ? { context: ctx } : {}),
      ...(k.aws_profile ? { awsProfile: k.aws_profile } : {}),
    };
  }
  if (p.gcp_kms_key) return { type: 'gcp_kms', enc: '', resourceId: s(p.gcp_kms_key.resource_id) };
  if (p.azure_keyvault_key) {
    const k = p.azure_keyvault_key;
    return { type: 'azure_kv', enc: '', vaultUrl: s(k.vault_url), name: s(k.name), version: s(k.version) };
  }
  if (p.vault_key) {
    const k = p.vault_key;
    return {
      type: 'hc_vault',
      enc: '',
      vaultAddress: s(k.vault_address),
      enginePath: s(k.engine_path),
      keyName: s(k.key_name),
    };
  }
  if (p.hckms_key) {
    try {
      return parseHckmsKeyId(s(p.hckms_key.key_id));
    } catch (e) {
      throw new UnknownKeyError((e as Error).message);
    }
  }
  if (p.key_type === undefined) throw new UnknownKeyError('Must provide a key');
  throw new UnknownKeyError('Unknown key type');
}

/** A request's key in words, for the server's log and prompt (sops's wording where sops has one). */
export function describeProtoKey(p: ProtoKey | null | undefined): string {
  if (p?.pgp_key) return `PGP key with fingerprint ${s(p.pgp_key.fingerprint)}`;
  if (p?.kms_key) return `AWS KMS key with ARN ${s(p.kms_key.arn)}`;
  if (p?.gcp_kms_key) return `GCP KMS key with resource ID ${s(p.gcp_kms_key.resource_id)}`;
  if (p?.azure_keyvault_key) {
    const k = p.azure_keyvault_key;
    return `Azure Key Vault key with URL ${s(k.vault_url)}/keys/${s(k.name)}/${s(k.version)}`;
  }
  if (p?.vault_key) {
    const k = p.vault_key;
    return `Hashicorp Vault key with URI ${s(k.vault_address)}/v1/${s(k.engine_path)}/keys/${s(k.key_name)}`;
  }
  if (p?.hckms_key) return `HuaweiCloud KMS key with ID ${s(p.hckms_key.key_id)}`;
  if (p?.age_key) return `age key with recipient ${s(p.age_key.recipient)}`;
  return 'Unknown key type';
}

function s(v: string | undefined): string {
  return v ?? '';
}

/** gRPC status codes by number, with the names Go's grpc prints (`rpc error: code = Unknown desc = …`). */
export const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];
