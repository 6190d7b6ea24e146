/**
 * tsops: encrypted secrets files, file-format-compatible with sops 3.x. See README.md.
 */
export { decrypt, decryptBytes, decryptData, decryptFile, encrypt } from './api.js';
export type { DecryptOptions, EncryptOptions } from './api.js';
export { SopsError, ExitCode } from './errors.js';
export type { Format } from './stores/types.js';
export type { KeyGroup, MasterKey, KeyType } from './keys/types.js';
export type { Scope } from './scope/scope.js';
export { openEncrypted, sealTree, loadEncrypted } from './file/file.js';
