/**
 * PGP master keys, as sops 3.x uses them: the data key (or a Shamir share) encrypted to a key
 * fingerprint as an armored PGP message.
 *
 * Through GnuPG (the binary in SOPS_GPG_EXEC, else `gpg`; GNUPGHOME and the agent as the environment
 * says), with sops's arguments:
 *   wrap:   gpg --no-default-recipient --yes --encrypt -a -r FP --trusted-key LONGID --no-encrypt-to
 *           (the data key on stdin; `--trusted-key` lets a freshly imported, uncertified key work)
 *   unwrap: gpg -d   (the armored message on stdin; agent, smartcard and pinentry work as for sops)
 *
 * Without GnuPG, or when the user names key files, OpenPGP.js does the work (see ./pgp/openpgp.ts):
 * TSOPS_PGP_PUBLIC_KEYS / TSOPS_PGP_PRIVATE_KEYS, tried before gpg when set (as sops tries its
 * built-in OpenPGP before gpg). Secrets never appear in a child's argv.
 */
import { ExitCode, SopsError } from '../../errors.js';
import type { KeyContext, KeySource, PgpKey } from '../types.js';
import { describeGpgFailure, GpgNotFoundError, runGpg } from './gpg.js';

const PUBLIC_KEYS_ENV = 'TSOPS_PGP_PUBLIC_KEYS';
const PRIVATE_KEYS_ENV = 'TSOPS_PGP_PRIVATE_KEYS';

/** The last 16 hex digits (the long key ID), as sops passes to --trusted-key. */
function longKeyId(fp: string): string {
  return fp.length > 16 ? fp.slice(-16) : fp;
}

function openpgpModule() {
  return import('./openpgp.js');
}

async function wrap(key: PgpKey, dataKey: Buffer, ctx: KeyContext): Promise<string> {
  const fp = key.fp;
  const problems: string[] = [];
  if (ctx.env[PUBLIC_KEYS_ENV] || ctx.env[PRIVATE_KEYS_ENV]) {
    const m = await openpgpModule();
    try {
      const out = await m.encryptWithKeyFiles(fp, dataKey, ctx.env);
      ctx.log(`pgp: encrypted the data key to ${fp} with OpenPGP.js`);
      return out;
    } catch (e) {
      if (!(e instanceof m.KeyNotInFilesError))
        throw new SopsError(
          `could not encrypt the data key to PGP key ${fp}: ${(e as Error).message}`,
          ExitCode.ErrorGeneric,
        );
      problems.push(e.message);
    }
  }
  const args = [
    '--no-default-recipient',
    '--yes',
    '--encrypt',
    '-a',
    '-r',
    fp,
    '--trusted-key',
    longKeyId(fp),
    '--no-encrypt-to',
  ];
  try {
    const r = await runGpg(args, dataKey, ctx.env);
    const out = r.stdout.toString('utf8').trim();
    if (r.code === 0 && !r.timedOut && out.startsWith('-----BEGIN PGP MESSAGE-----')) {
      ctx.log(`pgp: encrypted the data key to ${fp} with gpg`);
      return out;
    }
    problems.push(`gpg: ${describeGpgFailure(r, ctx.env)}`);
  } catch (e) {
    if (!(e instanceof GpgNotFoundError))
      throw new SopsError(
        `could not encrypt the data key to PGP key ${fp}: ${(e as Error).message}`,
        ExitCode.ErrorGeneric,
      );
    problems.push(
      `${e.message}${ctx.env[PUBLIC_KEYS_ENV] ? '' : `; without gpg, set ${PUBLIC_KEYS_ENV} to key files`}`,
    );
  }
  throw new SopsError(`could not encrypt the data key to PGP key ${fp}: ${problems.join('; ')}`, ExitCode.ErrorGeneric);
}

async function unwrap(key: PgpKey, ctx: KeyContext): Promise<Buffer> {
  const fp = key.fp;
  const fail = (msg: string) =>
    new SopsError(`could not decrypt the data key with PGP key ${fp}: ${msg}`, ExitCode.CouldNotRetrieveKey);
  if (!key.enc) throw fail('the key has no encrypted data key');
  const problems: string[] = [];
  if (ctx.env[PRIVATE_KEYS_ENV]) {
    const m = await openpgpModule();
    try {
      const out = await m.decryptWithKeyFiles(key.enc, ctx.env);
      ctx.log(`pgp: decrypted the data key for ${fp} with OpenPGP.js`);
      return out;
    } catch (e) {
      if (!(e instanceof m.KeyNotInFilesError)) throw fail((e as Error).message);
      problems.push(e.message);
    }
  }
  try {
    const r = await runGpg(['-d'], key.enc, ctx.env);
    if (r.code === 0 && !r.timedOut && r.stdout.length > 0) {
      ctx.log(`pgp: decrypted the data key for ${fp} with gpg`);
      return r.stdout;
    }
    problems.push(`gpg: ${describeGpgFailure(r, ctx.env)}`);
  } catch (e) {
    if (!(e instanceof GpgNotFoundError)) throw fail((e as Error).message);
    problems.push(
      `${e.message}${ctx.env[PRIVATE_KEYS_ENV] ? '' : `; without gpg, set ${PRIVATE_KEYS_ENV} to secret key files`}`,
    );
  }
  throw fail(problems.join('; '));
}

/** The PGP key source. */
export const source: KeySource<PgpKey> = { wrap, unwrap };
