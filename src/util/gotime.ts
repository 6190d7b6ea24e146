/**
 * Go's `time.Parse(time.RFC3339, s)`, which sops uses for `lastmodified`, every key's `created_at`
 * and (as `Time.UnmarshalText`) values of `type:time`: `YYYY-MM-DDTHH:MM:SS`, an optional fraction
 * (`.` or `,` and at least one digit), then `Z` or `±hh:mm`. Upper-case `T` and `Z` only; month, day
 * (for that month and year), hour, minute and second must be in range (no leap second).
 */

export interface GoTime {
  /** `YYYY-MM-DD` */
  date: string;
  /** `HH:MM:SS` */
  clock: string;
  /** The zone offset in minutes east of UTC. */
  offsetMinutes: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/;

function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parse as Go's time.Parse(RFC3339) does; undefined when Go refuses the text. */
export function parseGoRfc3339(s: string): GoTime | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetMinutes = m[7] ? (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) : 0;
  return { date: `${m[1]}-${m[2]}-${m[3]}`, clock: `${m[4]}:${m[5]}:${m[6]}`, offsetMinutes };
}

/** Go's `t.Format(time.RFC3339)` of a parsed time: no fraction, `Z` for a zero offset. */
export function formatGoRfc3339(t: GoTime): string {
  if (t.offsetMinutes === 0) return `${t.date}T${t.clock}Z`;
  const abs = Math.abs(t.offsetMinutes);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${t.date}T${t.clock}${t.offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
