/**
 * The diff driver (`diff.tsops.textconv`): git gives the path of a file holding one version's
 * content (a temporary `git-blob-XXXXXX/NAME`, or the work tree file) and shows what the command
 * prints. tsops prints the decrypted file, in its own format, whatever the file is named (see
 * detect.ts). A diff must never fail: content that is not a sops file is printed as it is, and a
 * file that cannot be decrypted (no key, damaged) is printed encrypted with a note for stderr.
 *
 * The output is plaintext on standard output, read by git and shown in the pager; it is never
 * cached (tsops does not set `diff.tsops.cachetextconv`, which would store it in `refs/notes`).
 */
import { messageOf } from '../errors.js';
import { openEncrypted, renderPlain } from '../file/file.js';
import type { KeyType } from '../keys/types.js';
import { detectEncryptedFormat } from './detect.js';

export interface TextconvResult {
  /** What the diff shows. */
  output: Buffer;
  /** Why the content is shown as it is (for stderr), when it was not decrypted. */
  note?: string;
}

export async function textconv(
  data: Buffer,
  o: { name?: string; env?: NodeJS.ProcessEnv; decryptionOrder?: KeyType[]; log?: (m: string) => void } = {},
): Promise<TextconvResult> {
  const format = await detectEncryptedFormat(data, o.name);
  if (!format) return { output: data };
  try {
    const opened = await openEncrypted(data, {
      format,
      filename: o.name,
      env: o.env,
      log: o.log,
      trackIvs: false,
      decryptionOrder: o.decryptionOrder,
    });
    return { output: renderPlain(opened.tree, opened.store) };
  } catch (e) {
    return { output: data, note: `${messageOf(e)} (the diff shows the encrypted content)` };
  }
}
