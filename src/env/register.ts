/**
 * `node --import tsops/register app.js`: the env file's values are in `process.env` before the
 * app's first line runs (the top-level await holds Node until they are). See src/env/env.ts for
 * which file and how. No file named and none of the default names present: nothing happens. A
 * failure (a named file missing, no key, a wrong MAC) is one line on standard error and sops's
 * exit code: the app does not start without its secrets.
 */
import { SopsError, messageOf } from '../errors.js';
import { loadEnv } from './env.js';

try {
  await loadEnv({
    log: process.env['TSOPS_ENV_VERBOSE'] ? (m) => process.stderr.write(`[tsops] ${m}\n`) : undefined,
  });
} catch (e) {
  process.stderr.write(`tsops/register: ${messageOf(e)}\n`);
  process.exit(e instanceof SopsError ? e.code : 1);
}
