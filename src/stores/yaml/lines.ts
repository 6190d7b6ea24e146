/**
 * Positions in a YAML source: the line and column of an offset, for error messages and comment
 * placement (the line index is built on first use).
 */

export class Lines {
  private starts: number[] | null = null;
  constructor(private readonly src: string) {}
  private index(): number[] {
    if (this.starts) return this.starts;
    const s = [0];
    let i = -1;
    while ((i = this.src.indexOf('\n', i + 1)) !== -1) s.push(i + 1);
    this.starts = s;
    return s;
  }
  /** 0-based line of an offset. */
  line(off: number): number {
    const s = this.index();
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  /** 0-based column of an offset. */
  col(off: number): number {
    return off - this.index()[this.line(off)]!;
  }
}
