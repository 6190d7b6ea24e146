/**
 * tsops: encrypted secrets files, file-format-compatible with sops 3.x. See README.md.
 */
export {
  addKeyGroup,
  decrypt,
  decryptBytes,
  decryptData,
  decryptFile,
  deleteKeyGroup,
  encrypt,
  rotate,
  setValue,
  unsetValue,
  updateKeys,
} from './api.js';
export type {
  DecryptOptions,
  EncryptOptions,
  FileOperationOptions,
  KeyGroupOptions,
  KeySpecs,
  RotateOptions,
  SetValueOptions,
  UpdatekeysOptions,
  UpdatekeysResult,
  UpdateOutcome,
  UpdateStatus,
} from './api.js';
export {
  ExitCode,
  FAILURE_CLASSES,
  SopsError,
  KnownFailure,
  MetadataNotFoundError,
  ReadError,
  WriteError,
  DumpError,
  ConfigError,
  EncryptionContextError,
  InvalidSetError,
  ConflictingParametersError,
  MacEncryptionError,
  EncryptionError,
  MacDecryptionError,
  DecryptionError,
  NonExistentFileError,
  MacMismatchError,
  MacNotFoundError,
  ConfigNotFoundError,
  InterruptedError,
  TreePathError,
  EmptyFileError,
  NoFileError,
  KeyRetrievalError,
  NoKeysError,
  DecryptionOrderError,
  NotModifiedError,
  NoEditorError,
  VersionCompareError,
  AlreadyEncryptedError,
  FileError,
  MasterKeyError,
} from './errors.js';
export type { ExitCodeName, ExitCodeValue, SopsErrorOptions } from './errors.js';
export { PathNotFoundError } from './tree/mutate.js';
export type { PathComponent } from './tree/path.js';
export type { Format } from './stores/types.js';
export type { KeyGroup, MasterKey, KeyType } from './keys/types.js';
export type { Scope } from './scope/scope.js';
export { openEncrypted, sealTree, loadEncrypted } from './file/file.js';
export { checkPaths, parseDuration } from './check/check.js';
export { loadEnv, DEFAULT_ENV_FILES } from './env/env.js';
export type { LoadEnvOptions } from './env/env.js';
export type { CheckOptions, CheckProblem, CheckProblemKind, CheckResult } from './check/check.js';
export { publish } from './publish/publish.js';
export type { PublishOptions, PublishOutcome } from './publish/publish.js';
