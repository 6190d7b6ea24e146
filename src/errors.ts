/**
 * Exit statuses, numerically equal to sops 3.x's (cmd/sops/codes), and the error type that carries
 * one. Every failure the CLI reports is a `SopsError`: one line of message, one exit code.
 */
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

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class SopsError extends Error {
  constructor(
    message: string,
    readonly code: number = ExitCode.ErrorGeneric,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SopsError';
  }
}

/** A file that cannot be parsed: the message names the file (when known) and the problem. */
export class FileError extends SopsError {
  constructor(message: string, code: number = ExitCode.CouldNotReadInputFile) {
    super(message, code);
    this.name = 'FileError';
  }
}

/** The message of any thrown value, without a stack. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
