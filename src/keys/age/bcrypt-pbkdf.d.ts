// Types for the bcrypt-pbkdf package (it ships none): OpenBSD's bcrypt_pbkdf, C-style.
declare module 'bcrypt-pbkdf' {
  const bcrypt: {
    /** Fill key[0..keyLen) from the passphrase and salt; returns 0, or -1 on bad arguments. */
    pbkdf(
      pass: Uint8Array,
      passLen: number,
      salt: Uint8Array,
      saltLen: number,
      key: Uint8Array,
      keyLen: number,
      rounds: number,
    ): number;
  };
  export default bcrypt;
}
