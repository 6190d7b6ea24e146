/**
 * Split a command line into words the way sops does for SOPS_AGE_KEY_CMD (github.com/google/shlex):
 * whitespace separates words; '…' quotes literally; "…" quotes with backslash escaping any character;
 * a backslash outside quotes escapes the next character; `#` at the start of a word comments out the
 * rest of the line. No shell is involved: no variables, globs, pipes or `~`.
 */
export function shlexSplit(s: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let i = 0;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < s.length) {
    const c = s[i]!;
    if (word === null) {
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (c === '#') {
        while (i < s.length && s[i] !== '\n') i++;
        continue;
      }
      word = '';
    }
    if (isSpace(c)) {
      words.push(word);
      word = null;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= s.length) throw new Error('the command ends after an escape character');
      word += s[i + 1]!;
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error('the command has an unclosed single quote');
      word += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('the command has an unclosed double quote');
        const d = s[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          if (i + 1 >= s.length) throw new Error('the command has an unclosed double quote');
          word += s[i + 1]!;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
    } else {
      word += c;
      i++;
    }
  }
  if (word !== null) words.push(word);
  return words;
}
