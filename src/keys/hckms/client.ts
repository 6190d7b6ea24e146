/**
 * HuaweiCloud KMS master keys (`hckms`, sops 3.12+), as sops uses them: the data key, base64, is
 * the `plain_text` of KMS `EncryptData` (`POST /v1.0/{project_id}/kms/encrypt-data`, key_id = the
 * key UUID, `SYMMETRIC_DEFAULT`) and `enc` holds the `cipher_text` KMS returns; `DecryptData`
 * (`…/decrypt-data`, with the cipher text and the key UUID) gives the base64 back.
 *
 * What sops's client (Huawei's Go SDK) reads, tsops reads from the caller's `KeyContext.env`:
 * - The endpoint of the key's region: `HUAWEICLOUD_SDK_REGION_KMS_<REGION>` (region upper-cased,
 *   `-` → `_`; comma-separated endpoints, the later ones tried when the first cannot be reached),
 *   else the SDK's list of KMS regions (`https://kms.<region>.myhuaweicloud.com`, …). An unknown
 *   region fails as in sops. The same variable points tests at a loopback server.
 * - Credentials, in the order of the Go SDK's basic credential chain: `HUAWEICLOUD_SDK_AK` +
 *   `HUAWEICLOUD_SDK_SK` (`HUAWEICLOUD_SDK_PROJECT_ID`, `HUAWEICLOUD_SDK_SECURITY_TOKEN`); else the
 *   `[basic]` section of `HUAWEICLOUD_SDK_CREDENTIALS_FILE` or `~/.huaweicloud/credentials` (`ak`,
 *   `sk`, `project_id`, `security_token`, `iam_endpoint`). The ECS metadata service and federated
 *   (`idp_id`/`id_token_file`) credentials are not supported.
 * - Without a project id, the project named after the region is looked up in IAM (`GET
 *   /v3/projects?name=REGION`) at `iam_endpoint`, `HUAWEICLOUD_SDK_IAM_ENDPOINT` or
 *   `https://iam.myhuaweicloud.com`, as the SDK does (tsops never creates one).
 * - HTTPS_PROXY / NO_PROXY as sops's Go client reads them (../proxy.ts).
 * - Each attempt has a timeout (`TSOPS_HCKMS_TIMEOUT_MS`, default 10 s); failed connections,
 *   timeouts, 429 and 5xx answers are retried (3 attempts in all, `TSOPS_HCKMS_MAX_ATTEMPTS`).
 *
 * Requests are signed with SDK-HMAC-SHA256 by Huawei's SDK core (`@huaweicloud/huaweicloud-sdk-core`:
 * Huawei publishes no KMS package for Node, so the two calls are built on its client). Its own
 * logger (which prints failed requests, headers included, on standard output) is replaced by a
 * silent one, and its HTTP errors are read here so KMS's error code and message are kept.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, MasterKeyError, SopsError } from '../../errors.js';
import type { HckmsKey, KeyContext, KeySource } from '../types.js';
import { describeKey } from '../identity.js';
import { ProxyingHttpsAgent } from '../proxy.js';

/** KMS endpoints of the Go SDK (huaweicloud-sdk-go-v3 services/kms/v2/region), by region id. */
const KMS_REGIONS: Record<string, string> = {
  'eu-west-101': 'https://kms.eu-west-101.myhuaweicloud.eu',
  'cn-north-4': 'https://kms.cn-north-4.myhuaweicloud.com',
  'cn-north-1': 'https://kms.cn-north-1.myhuaweicloud.com',
  'cn-north-2': 'https://kms.cn-north-2.myhuaweicloud.com',
  'cn-east-2': 'https://kms.cn-east-2.myhuaweicloud.com',
  'cn-east-3': 'https://kms.cn-east-3.myhuaweicloud.com',
  'cn-south-1': 'https://kms.cn-south-1.myhuaweicloud.com',
  'cn-south-2': 'https://kms.cn-south-2.myhuaweicloud.com',
  'af-south-1': 'https://kms.af-south-1.myhuaweicloud.com',
  'cn-southwest-2': 'https://kms.cn-southwest-2.myhuaweicloud.com',
  'ap-southeast-2': 'https://kms.ap-southeast-2.myhuaweicloud.com',
  'ap-southeast-1': 'https://kms.ap-southeast-1.myhuaweicloud.com',
  'ap-southeast-3': 'https://kms.ap-southeast-3.myhuaweicloud.com',
  'la-south-2': 'https://kms.la-south-2.myhuaweicloud.com',
  'sa-brazil-1': 'https://kms.sa-brazil-1.myhuaweicloud.com',
  'na-mexico-1': 'https://kms.na-mexico-1.myhuaweicloud.com',
  'la-north-2': 'https://kms.la-north-2.myhuaweicloud.com',
  'cn-north-9': 'https://kms.cn-north-9.myhuaweicloud.com',
  'ap-southeast-4': 'https://kms.ap-southeast-4.myhuaweicloud.com',
  'tr-west-1': 'https://kms.tr-west-1.myhuaweicloud.com',
  'ae-ad-1': 'https://kms.ae-ad-1.myhuaweicloud.com',
};

const DEFAULT_IAM_ENDPOINT = 'https://iam.myhuaweicloud.com';
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ATTEMPTS = 3;

/** The variable that names a region's KMS endpoints (the Go SDK's region environment provider). */
export function endpointVariable(region: string): string {
  return `HUAWEICLOUD_SDK_REGION_KMS_${region.toUpperCase().replace(/-/g, '_')}`;
}

/** The KMS endpoints of a region, as the Go SDK finds them; throws for a region it does not know. */
export function kmsEndpoints(region: string, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = (env[endpointVariable(region)] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const endpoints = fromEnv.length ? fromEnv : KMS_REGIONS[region] ? [KMS_REGIONS[region]] : [];
  if (!endpoints.length) {
    throw new Error(
      `invalid region ${JSON.stringify(region)}: it is not in the supported regions of HuaweiCloud KMS (${Object.keys(KMS_REGIONS).sort().join(', ')}); set ${endpointVariable(region)} to its endpoint`,
    );
  }
  for (const e of endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(e);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
      throw new Error(`${endpointVariable(region)}: ${JSON.stringify(e)} is not an http(s) URL`);
  }
  return endpoints.map((e) => e.replace(/\/+$/, ''));
}

interface Credentials {
  ak: string;
  sk: string;
  projectId: string;
  securityToken: string;
  iamEndpoint: string;
  /** Where they came from (for --verbose; never the secret). */
  source: string;
}

/** The `[basic]` section of an INI credentials file (the Go SDK's profile provider reads it so). */
function iniSection(text: string, name: string): Record<string, string> | undefined {
  let current = '';
  let found: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([^\]]*)\]$/.exec(line);
    if (sec) {
      current = sec[1]!.trim().toLowerCase();
      if (current === name) found ??= {};
      continue;
    }
    if (current !== name) continue;
    const eq = line.search(/[=:]/);
    if (eq < 0) continue;
    found![line.slice(0, eq).trim().toLowerCase()] = line
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return found;
}

/** Credentials as the Go SDK's basic chain finds them: environment, then the credentials file. */
export function hckmsCredentials(env: NodeJS.ProcessEnv): Credentials {
  const ak = env['HUAWEICLOUD_SDK_AK'] ?? '';
  const sk = env['HUAWEICLOUD_SDK_SK'] ?? '';
  const iamFromEnv = env['HUAWEICLOUD_SDK_IAM_ENDPOINT'] ?? '';
  if (ak && sk) {
    return {
      ak,
      sk,
      projectId: env['HUAWEICLOUD_SDK_PROJECT_ID'] ?? '',
      securityToken: env['HUAWEICLOUD_SDK_SECURITY_TOKEN'] ?? '',
      iamEndpoint: iamFromEnv,
      source: 'HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK',
    };
  }
  const home = env['HOME'] || os.homedir();
  const file = env['HUAWEICLOUD_SDK_CREDENTIALS_FILE'] || path.join(home, '.huaweicloud', 'credentials');
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
      });
  }
  const basic = text === undefined ? undefined : iniSection(text, 'basic');
  if (basic?.['ak'] && basic['sk']) {
    return {
      ak: basic['ak'],
      sk: basic['sk'],
      projectId: basic['project_id'] ?? '',
      securityToken: basic['security_token'] ?? '',
      iamEndpoint: basic['iam_endpoint'] || iamFromEnv,
      source: file,
    };
  }
  throw new Error(
    `failed to get HuaweiCloud credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or write ak and sk in the [basic] section of ${file}`,
  );
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const v = env[name];
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v.trim());
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new SopsError(
      `${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(v)}`,
      ExitCode.ErrorGeneric,
    );
  return n;
}

export interface HckmsOptions {
  /** The delay before the first retry (then 2×, 3×…). Default 200 ms. */
  retryDelayMs?: number;
}

/** A silent logger for the SDK's HTTP client (its default prints failed requests on stdout). */
const SILENT = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => 'error',
  setName: () => {},
};

/** What the SDK answers: the JSON body and the status (every status resolves; see validateStatus). */
type Answer = Record<string, unknown> & { httpStatusCode?: number };

/** A failed attempt; `retry` when another attempt may succeed. */
class Attempt extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** KMS's `{"error": {"error_code", "error_msg"}}` (or the gateway's flat form) as one line. */
function serviceError(a: Answer): string {
  const nested = a['error'];
  const e = (typeof nested === 'object' && nested !== null ? nested : a) as Record<string, unknown>;
  const code = typeof e['error_code'] === 'string' ? e['error_code'] : '';
  const msg = typeof e['error_msg'] === 'string' ? e['error_msg'].replace(/\s+/g, ' ').trim() : '';
  const text = [code, msg].filter(Boolean).join(': ');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Session {
  call(
    method: 'GET' | 'POST',
    url: string,
    query: Record<string, string>,
    body?: Record<string, unknown>,
  ): Promise<Answer>;
}

/** An SDK client for `endpoints` signing with `cred`, with tsops's agent, timeout and retries. */
async function session(
  endpoints: string[],
  cred: Credentials,
  projectId: string,
  env: NodeJS.ProcessEnv,
  ctx: KeyContext,
  opts: HckmsOptions,
): Promise<Session> {
  const [{ HcClient }, { DefaultHttpClient }, { BasicCredentials }] = await Promise.all([
    import('@huaweicloud/huaweicloud-sdk-core/HcClient.js'),
    import('@huaweicloud/huaweicloud-sdk-core/http/DefaultHttpClient.js'),
    import('@huaweicloud/huaweicloud-sdk-core'),
  ]);
  const timeoutMs = positiveInt(env, 'TSOPS_HCKMS_TIMEOUT_MS', DEFAULT_TIMEOUT_MS, 600_000);
  const attempts = positiveInt(env, 'TSOPS_HCKMS_MAX_ATTEMPTS', DEFAULT_MAX_ATTEMPTS, 10);
  const retryDelayMs = opts.retryDelayMs ?? 200;
  const credential = new BasicCredentials().withAk(cred.ak).withSk(cred.sk);
  if (projectId) credential.withProjectId(projectId);
  if (cred.securityToken) credential.withSecurityToken(cred.securityToken);
  const httpClient = new DefaultHttpClient(
    {
      logger: SILENT as never,
      axiosRequestConfig: {
        timeout: timeoutMs,
        httpsAgent: new ProxyingHttpsAgent(env),
        proxy: false,
        maxRedirects: 0,
        // every answer comes back as an answer: KMS's error body is read below, not by the SDK
        validateStatus: () => true,
      },
    },
    endpoints,
  );
  const client = new HcClient(httpClient).withCredential(credential).withEndpoints(endpoints);
  return {
    async call(method, url, query, body) {
      for (let attempt = 1; ; attempt++) {
        try {
          let answer: Answer;
          try {
            answer = (await client.sendRequest({
              method,
              url,
              contentType: 'application/json;charset=UTF-8',
              queryParams: { ...query },
              pathParams: {},
              headers: {},
              ...(body ? { data: { ...body } } : {}),
            })) as unknown as Answer;
          } catch (e) {
            // a connection failure or timeout (HTTP answers resolve): the SDK keeps only the message
            const raw = e as { errorMsg?: unknown; message?: unknown };
            const m =
              typeof raw.errorMsg === 'string'
                ? raw.errorMsg
                : typeof raw.message === 'string'
                  ? raw.message
                  : String(e);
            const text = /timeout of \d+ms exceeded/.test(m) ? `no answer within ${timeoutMs / 1000} s` : m;
            throw new Attempt(
              text.replace(/\s+/g, ' ').trim() || 'the request failed',
              !/ENOTFOUND|certificate|self.signed/i.test(m),
            );
          }
          const status = answer.httpStatusCode ?? 0;
          if (status >= 200 && status < 300) return answer;
          const why = `HTTP ${status}${serviceError(answer) ? ` ${serviceError(answer)}` : ''}`;
          throw new Attempt(why, status === 429 || (status >= 500 && status !== 501));
        } catch (e) {
          if (!(e instanceof Attempt)) throw e;
          if (!e.retry || attempt >= attempts) {
            throw new Error(`${e.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, { cause: e });
          }
          ctx.log(`hckms: ${e.message}; retrying`);
          await sleep(retryDelayMs * attempt);
        }
      }
    },
  };
}

/** The project id: from the credentials, else IAM's project named after the region. */
async function projectIdFor(
  region: string,
  cred: Credentials,
  env: NodeJS.ProcessEnv,
  ctx: KeyContext,
  opts: HckmsOptions,
): Promise<string> {
  if (cred.projectId) return cred.projectId;
  const iam = (cred.iamEndpoint || DEFAULT_IAM_ENDPOINT).replace(/\/+$/, '');
  ctx.log(`hckms: no project id configured; looking up the project of ${region} at ${iam}`);
  const s = await session([iam], cred, '', env, ctx, opts);
  let answer: Answer;
  try {
    answer = await s.call('GET', '/v3/projects', { name: region });
  } catch (e) {
    throw new Error(`failed to find the project id of region ${region} in IAM: ${(e as Error).message}`, { cause: e });
  }
  const projects = answer['projects'];
  if (Array.isArray(projects) && projects.length === 1) {
    const id = (projects[0] as Record<string, unknown>)['id'];
    if (typeof id === 'string' && id) return id;
  }
  throw new Error(
    `no project id found for region ${region}: set HUAWEICLOUD_SDK_PROJECT_ID (or project_id in the credentials file)`,
  );
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A HuaweiCloud KMS key source; `opts` only tune retries (for tests). */
export function createHckmsSource(opts: HckmsOptions = {}): KeySource<HckmsKey> {
  async function kms(
    key: HckmsKey,
    op: 'encrypt-data' | 'decrypt-data',
    body: Record<string, unknown>,
    ctx: KeyContext,
    code: number,
  ): Promise<Answer> {
    const verb = op === 'encrypt-data' ? 'encrypt sops data key with' : 'decrypt sops data key with';
    try {
      const endpoints = kmsEndpoints(key.region, ctx.env);
      const cred = hckmsCredentials(ctx.env);
      ctx.log(`hckms: credentials from ${cred.source}`);
      const projectId = await projectIdFor(key.region, cred, ctx.env, ctx, opts);
      ctx.log(`hckms: ${op} with ${key.keyId} at ${endpoints[0]}`);
      const s = await session(endpoints, cred, projectId, ctx.env, ctx, opts);
      return await s.call('POST', `/v1.0/{project_id}/kms/${op}`, {}, body);
    } catch (e) {
      if (e instanceof SopsError) throw e;
      throw new MasterKeyError(describeKey(key), `failed to ${verb} HuaweiCloud KMS: ${(e as Error).message}`, code, {
        cause: e,
      });
    }
  }

  return {
    async wrap(key, dataKey, ctx) {
      const code = ExitCode.ErrorGeneric;
      const out = await kms(
        key,
        'encrypt-data',
        { key_id: key.keyUuid, plain_text: dataKey.toString('base64'), encryption_algorithm: 'SYMMETRIC_DEFAULT' },
        ctx,
        code,
      );
      const ct = out['cipher_text'];
      if (typeof ct !== 'string' || ct === '')
        throw new MasterKeyError(describeKey(key), 'HuaweiCloud KMS answered without a cipher_text', code);
      return ct;
    },

    async unwrap(key, ctx) {
      const code = ExitCode.CouldNotRetrieveKey;
      if (!key.enc) throw new MasterKeyError(describeKey(key), 'the file holds no encrypted data key for it', code);
      const out = await kms(
        key,
        'decrypt-data',
        { cipher_text: key.enc, encryption_algorithm: 'SYMMETRIC_DEFAULT', key_id: key.keyUuid },
        ctx,
        code,
      );
      const pt = out['plain_text'];
      if (typeof pt !== 'string' || !STD_BASE64.test(pt))
        throw new MasterKeyError(
          describeKey(key),
          'failed to base64 decode decrypted data key: HuaweiCloud KMS answered without a base64 plain_text',
          code,
        );
      return Buffer.from(pt, 'base64');
    },
  };
}

/** The HuaweiCloud KMS key source with default options. */
export const source: KeySource<HckmsKey> = createHckmsSource();
