/**
 * Key services: the ONE place where a master key wraps or unwraps a data key (or Shamir share).
 * Everything that wraps or unwraps (src/file/datakey.ts, so encrypt, decrypt, edit, set, rotate,
 * updatekeys and groups) calls `wrapKey` / `unwrapKey` here.
 *
 * As in sops, the key services are tried in order for each key: this machine's keys first ("the
 * local key service", unless disabled with `--enable-local-keyservice=false` or
 * SOPS_ENABLE_LOCAL_KEYSERVICE=false), then each remote key service (`--keyservice URI`,
 * SOPS_KEYSERVICE) in the order given, until one succeeds. With the local key service disabled the
 * keys of this machine are never used, whatever happens remotely.
 *
 * The remote client (gRPC, src/keyservice/client.ts) is imported only when a remote key service is
 * actually asked: a file opened with local keys loads none of it.
 */
import { ExitCode, SopsError, messageOf } from '../errors.js';
import { keySourceFor } from '../keys/index.js';
import type { KeyContext, KeyServices, MasterKey } from '../keys/types.js';

/** The default: this machine's keys only. */
export const LOCAL_ONLY: KeyServices = Object.freeze({ local: true, remote: Object.freeze([]) });

let processDefault: KeyServices | undefined;

/**
 * The key services of this process when a caller gives none (the CLI sets them from its flags and
 * environment once, before a command runs). `undefined` goes back to the environment's.
 */
export function setDefaultKeyServices(s: KeyServices | undefined): void {
  processDefault = s;
}

/** Go's strconv.ParseBool, which sops's flag library uses for boolean flags and their variables. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/**
 * The key services from the environment (SOPS_KEYSERVICE, SOPS_ENABLE_LOCAL_KEYSERVICE, sops 3.11)
 * and the flags, as sops's flag library combines them: SOPS_KEYSERVICE is comma-separated and the
 * `--keyservice` flags are added after its entries; `--enable-local-keyservice[=BOOL]` wins over
 * SOPS_ENABLE_LOCAL_KEYSERVICE, which is true when unset and false when set but empty.
 */
export function keyServicesFrom(
  env: NodeJS.ProcessEnv,
  flags: { keyservice?: readonly string[]; enableLocalKeyservice?: boolean } = {},
): KeyServices {
  let local = true;
  const raw = env['SOPS_ENABLE_LOCAL_KEYSERVICE'];
  if (raw !== undefined) {
    const b = raw === '' ? false : parseGoBool(raw);
    if (b === undefined) {
      throw new SopsError(
        `invalid SOPS_ENABLE_LOCAL_KEYSERVICE ${JSON.stringify(raw)}: use true or false (or 1 / 0)`,
        ExitCode.ErrorGeneric,
      );
    }
    local = b;
  }
  if (flags.enableLocalKeyservice !== undefined) local = flags.enableLocalKeyservice;
  const remote = [
    ...(env['SOPS_KEYSERVICE'] ?? '').split(',').map((s) => s.trim()),
    ...(flags.keyservice ?? []).map((s) => s.trim()),
  ].filter((s) => s !== '');
  return { local, remote };
}

/** The key services a context uses: its own, else the process's, else the environment's. */
export function keyServicesOf(ctx: KeyContext): KeyServices {
  return ctx.keyServices ?? processDefault ?? keyServicesFrom(ctx.env);
}

/** How a remote key service is named in messages (the URI as given). */
function remoteName(uri: string): string {
  return `key service ${uri}`;
}

async function viaServices<T>(
  ctx: KeyContext,
  local: () => Promise<T>,
  remote: (uri: string) => Promise<T>,
): Promise<T> {
  const services = keyServicesOf(ctx);
  if (!services.local && services.remote.length === 0) {
    throw new Error(
      'no key service to ask: the local key service is disabled (--enable-local-keyservice=false or ' +
        'SOPS_ENABLE_LOCAL_KEYSERVICE) and no --keyservice / SOPS_KEYSERVICE is given',
    );
  }
  // only this machine's keys: their error as it is
  if (services.remote.length === 0) return local();
  const failures: string[] = [];
  const causes: unknown[] = [];
  if (services.local) {
    try {
      return await local();
    } catch (e) {
      failures.push(`local key service: ${messageOf(e)}`);
      causes.push(e);
    }
  }
  for (const uri of services.remote) {
    try {
      return await remote(uri);
    } catch (e) {
      failures.push(`${remoteName(uri)}: ${messageOf(e)}`);
      causes.push(e);
    }
  }
  throw new Error(failures.join('; '), { cause: causes.length === 1 ? causes[0] : new AggregateError(causes) });
}

async function client() {
  return import('./client.js');
}

/** Wrap `part` with `k` through the key services; returns the new `enc` of `k`. */
export async function wrapKey(k: MasterKey, part: Buffer, ctx: KeyContext): Promise<string> {
  return viaServices(
    ctx,
    async () => (await keySourceFor<MasterKey>(k.type)).wrap(k, part, ctx),
    async (uri) => (await (await client()).remoteEncrypt(uri, k, part, ctx)).toString('utf8'),
  );
}

/** Unwrap `k`'s `enc` through the key services; returns the data key (or share). */
export async function unwrapKey(k: MasterKey, ctx: KeyContext): Promise<Buffer> {
  return viaServices(
    ctx,
    async () => (await keySourceFor<MasterKey>(k.type)).unwrap(k, ctx),
    async (uri) => (await client()).remoteDecrypt(uri, k, Buffer.from(k.enc, 'utf8'), ctx),
  );
}
