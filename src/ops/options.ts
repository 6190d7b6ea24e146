/** The options every operation that opens and rewrites one encrypted file takes (edit, set, unset). */
import { openEncrypted, type OpenedFile } from '../file/file.js';
import type { KeyType } from '../keys/types.js';
import type { Format } from '../stores/types.js';

export interface FileChangeOptions {
  /** The file's format. */
  format: Format;
  /** The format the file is written in (default: the input format). */
  outFormat?: Format;
  /** Indentation of YAML/JSON output (default: the `.sops.yaml` `stores` setting, else the store's). */
  indent?: number;
  /** The path that picks the `.sops.yaml` (default: the file). */
  path?: string;
  /** The `.sops.yaml` to use instead of looking it up. */
  config?: string;
  /** Go on even if the file's MAC does not match. */
  ignoreMac?: boolean;
  /** Key types to try first when recovering the data key (default: age, pgp). */
  decryptionOrder?: KeyType[];
  /** Environment for key sources (identities, credentials). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Verbose log sink (never receives secrets). */
  log?: (msg: string) => void;
}

/** Open (decrypt and verify) a file about to be changed: the options of `o` as `openEncrypted` takes them. */
export function openForChange(data: Buffer, o: FileChangeOptions, filename: string | undefined): Promise<OpenedFile> {
  return openEncrypted(data, {
    format: o.format,
    filename,
    log: o.log ?? (() => {}),
    env: o.env,
    ignoreMac: o.ignoreMac,
    decryptionOrder: o.decryptionOrder,
    storeOptions: { indent: o.indent },
  });
}
