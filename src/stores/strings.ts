/**
 * Strings cut from a whole file's text. V8 makes a slice of 13 characters or more a view that keeps
 * the entire text alive; a store keeps such views only for values that the decrypt/encrypt walk
 * replaces (the `ENC[…]` text), and copies what outlives the walk (keys, metadata, comments), so a
 * large file's text is freed as soon as its values are decrypted.
 */

/** `s.slice(a, b)` as a string of its own, never a view into `s`. */
export function flatSlice(s: string, a: number, b: number): string {
  // below 13 characters a slice is a copy; above, the concatenation is flattened into a new string
  // that the slice then views
  return b - a < 13 ? s.slice(a, b) : (' ' + s.slice(a, b)).slice(1);
}

/** A copy of `s` that holds no larger string alive. */
export function flatCopy(s: string): string {
  return flatSlice(s, 0, s.length);
}
