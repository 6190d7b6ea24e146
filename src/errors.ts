/**
 * Errors and exit statuses. Every failure tsops reports is a `SopsError`: one line of message and
 * one exit status, numerically equal to sops 3.x's (cmd/sops/codes/codes.go). Each class of failure
 * has its own error class below, tied to its exit status in one place (the table of classes); an
 * error that wraps another keeps it as its `cause`.
 */

/** sops's exit statuses, by sops's names (cmd/sops/codes/codes.go, sops 3.13.2). */
export const ExitCode = {
  ErrorGeneric: 1,
  CouldNotReadInputFile: 2,
  CouldNotWriteOutputFile: 3,
  ErrorDumpingTree: 4,
  ErrorReadingConfig: 5,
  ErrorInvalidKMSEncryptionContextFormat: 6,
  ErrorInvalidSetFormat: 7,
  ErrorConflictingParameters: 8,
  ErrorEncryptingMac: 21,
  ErrorEncryptingTree: 23,
  ErrorDecryptingMac: 24,
  ErrorDecryptingTree: 25,
  CannotChangeKeysFromNonExistentFile: 49,
  MacMismatch: 51,
  MacNotFound: 52,
  ConfigFileNotFound: 61,
  KeyboardInterrupt: 85,
  InvalidTreePathFormat: 91,
  NeedAtLeastOneDocument: 92,
  NoFileSpecified: 100,
  CouldNotRetrieveKey: 128,
  NoEncryptionKeyFound: 111,
  DuplicateDecryptionKeyType: 112,
  FileHasNotBeenModified: 200,
  NoEditorFound: 201,
  FailedToCompareVersions: 202,
  FileAlreadyEncrypted: 203,
} as const;

export type ExitCodeName = keyof typeof ExitCode;
export type ExitCodeValue = (typeof ExitCode)[ExitCodeName];

export interface SopsErrorOptions {
  /** The error this one reports (kept for --verbose and for programs, never printed as the message). */
  cause?: unknown;
}

export class SopsError extends Error {
  constructor(
    message: string,
    readonly code: number = ExitCode.ErrorGeneric,
    options?: SopsErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * The same failure (same class, same exit status) told with another message — e.g. naming the
   * file it happened in. This error becomes the new one's `cause`.
   */
  rephrased(message: string): SopsError {
    const e = new SopsError(message, this.code, { cause: this });
    Object.setPrototypeOf(e, Object.getPrototypeOf(this) as object);
    for (const k of Object.keys(this)) {
      if (k !== 'message' && k !== 'cause' && k !== 'stack')
        (e as unknown as Record<string, unknown>)[k] = (this as unknown as Record<string, unknown>)[k];
    }
    e.name = this.name;
    return e;
  }
}

/**
 * A class of failure with a fixed exit status, named by sops's name for it (`codeName`). Each class
 * of the table below is one line: `class X extends KnownFailure { static override readonly codeName = … }`.
 */
export abstract class KnownFailure extends SopsError {
  /** sops's name for this failure's exit status (a key of ExitCode). */
  static readonly codeName: ExitCodeName = 'ErrorGeneric';
  constructor(message: string, options?: SopsErrorOptions) {
    super(message, ExitCode[new.target.codeName], options);
  }
}

// --- the table: one class per failure, and the exit status it ends tsops with --------------------

/** The file has no sops metadata: it is not encrypted (sops's MetadataNotFound, a generic failure). */
export class MetadataNotFoundError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorGeneric';
}
/** The input (or a file it needs) cannot be read. */
export class ReadError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'CouldNotReadInputFile';
}
/** The output cannot be written. */
export class WriteError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'CouldNotWriteOutputFile';
}
/** The tree cannot be printed in the output format. */
export class DumpError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorDumpingTree';
}
/** A `.sops.yaml` that cannot be used (or no rule for the file). */
export class ConfigError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorReadingConfig';
}
/** An AWS KMS encryption context that cannot be parsed. */
export class EncryptionContextError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorInvalidKMSEncryptionContextFormat';
}
/** A `set` path or value that cannot be parsed or held. */
export class InvalidSetError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorInvalidSetFormat';
}
/** Flags that cannot be used together. */
export class ConflictingParametersError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorConflictingParameters';
}
/** The MAC cannot be encrypted. */
export class MacEncryptionError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorEncryptingMac';
}
/** A value (or the data key's split) cannot be encrypted. */
export class EncryptionError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorEncryptingTree';
}
/** The MAC cannot be decrypted with the data key at hand (where sops does not call it a mismatch). */
export class MacDecryptionError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorDecryptingMac';
}
/** A value cannot be decrypted. */
export class DecryptionError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ErrorDecryptingTree';
}
/** Keys to add or remove for a file that does not exist. */
export class NonExistentFileError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'CannotChangeKeysFromNonExistentFile';
}
/** The MAC does not match the values (or cannot be decrypted, or is missing): the file was changed. */
export class MacMismatchError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'MacMismatch';
}
/** The file has no MAC. */
export class MacNotFoundError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'MacNotFound';
}
/** No `.sops.yaml` where one is needed. */
export class ConfigNotFoundError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'ConfigFileNotFound';
}
/** Interrupted from the keyboard. */
export class InterruptedError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'KeyboardInterrupt';
}
/** A tree path (`["a"][0]`) that cannot be parsed. */
export class TreePathError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'InvalidTreePathFormat';
}
/** A file without any document. */
export class EmptyFileError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'NeedAtLeastOneDocument';
}
/** No file given. */
export class NoFileError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'NoFileSpecified';
}
/** The data key cannot be recovered (or wrapped) with the master keys. */
export class KeyRetrievalError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'CouldNotRetrieveKey';
}
/** No master key to encrypt with. */
export class NoKeysError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'NoEncryptionKeyFound';
}
/** A key type named twice in the decryption order. */
export class DecryptionOrderError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'DuplicateDecryptionKeyType';
}
/** The editor left the file as it was. */
export class NotModifiedError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'FileHasNotBeenModified';
}
/** No editor can be run. */
export class NoEditorError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'NoEditorFound';
}
/** A sops version that cannot be compared. */
export class VersionCompareError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'FailedToCompareVersions';
}
/** The file to encrypt already has sops metadata. */
export class AlreadyEncryptedError extends KnownFailure {
  static override readonly codeName: ExitCodeName = 'FileAlreadyEncrypted';
}

/** Every failure class, for documentation and tests (the generic failure is SopsError itself, exit 1). */
export const FAILURE_CLASSES = [
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
] as const;

/**
 * A file that cannot be parsed: the message names the file (when known) and the problem. Exit 2
 * unless given another status (a store that cannot print a tree uses 4).
 */
export class FileError extends SopsError {
  constructor(message: string, code: number = ExitCode.CouldNotReadInputFile, options?: SopsErrorOptions) {
    super(message, code, options);
  }
}

/**
 * A failure of one master key whose message already names the key (`KEY: what went wrong`), so the
 * data-key code does not name it again. The exit status is the caller's (retrieval: 128).
 */
export class MasterKeyError extends SopsError {
  constructor(
    /** The key, as describeKey prints it. */
    readonly key: string,
    detail: string,
    code: number = ExitCode.CouldNotRetrieveKey,
    options?: SopsErrorOptions,
  ) {
    super(`${key}: ${detail}`, code, options);
  }
}

/** The message of any thrown value, without a stack. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** `e` with `prefix: ` before its message, as the same kind of error (a non-SopsError becomes a `fallback`). */
export function withPrefix(
  prefix: string | undefined,
  e: unknown,
  fallback: (message: string, options: SopsErrorOptions) => SopsError,
): SopsError {
  const message = prefix ? `${prefix}: ${messageOf(e)}` : messageOf(e);
  if (e instanceof SopsError) return e.rephrased(message);
  return fallback(message, { cause: e });
}
