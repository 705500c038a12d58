/**
 * How the query language reads typed arguments (dates, counts, agent versions) and orders values.
 * Shared by the parser, which rejects bad arguments up front, and the evaluator, which compares.
 */

/**
 * A registeredAt argument: the instant it names and the precision it was written with. A date
 * alone compares by UTC calendar day; a date-time compares to the second (or millisecond, if the
 * argument has a fraction), so `registeredAt == 2018-06-18` holds all day long.
 */
export interface QueryDate {
  readonly epochMs: number;
  readonly unit: 'day' | 'second' | 'millisecond';
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Reads the date formats ECS documents: 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z,
 * 2018-06-18T22:28:28 and 2018-06-18 (no zone means UTC). Returns undefined for anything else,
 * including impossible dates such as 2018-02-30.
 *
 * @example parseQueryDate('2018-06-18') // { epochMs: 1529280000000, unit: 'day' }
 */
export function parseQueryDate(text: string): QueryDate | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const ms = m[7] === undefined ? 0 : Math.round(Number(m[7]) * 1000);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC rolls 2018-02-30 over into March; a round trip catches it.
  const d = new Date(utc);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMs = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const [oh, om] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
    if (oh > 23 || om > 59) return undefined;
    offsetMs = sign * (oh * 60 + om) * 60_000;
  }
  const unit = m[4] === undefined ? 'day' : m[7] === undefined ? 'second' : 'millisecond';
  return { epochMs: utc - offsetMs, unit };
}

/** `instant` cut down to the precision of `unit`, so that it compares with an argument of that unit. */
export function truncateTo(epochMs: number, unit: QueryDate['unit']): number {
  switch (unit) {
    case 'day':
      return Math.floor(epochMs / 86_400_000) * 86_400_000;
    case 'second':
      return Math.floor(epochMs / 1000) * 1000;
    case 'millisecond':
      return epochMs;
  }
}

/** A runningTasksCount argument: a whole number, written in decimal digits. */
export function parseCount(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const VERSION_RE = /^v?(\d+(?:\.\d+)*)/;

/** Numeric order when both sides are numbers, else code-unit string order. For attribute values. */
export function compareValues(a: string, b: string): number {
  if (NUMBER_RE.test(a) && NUMBER_RE.test(b)) return Math.sign(Number(a) - Number(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Agent versions order by their dotted numbers (1.10.0 > 1.9.2; 1.14 == 1.14.0); a suffix such
 * as '-rc1' is ignored. Anything that does not start with a number falls back to string order.
 */
export function compareVersions(a: string, b: string): number {
  const ma = VERSION_RE.exec(a);
  const mb = VERSION_RE.exec(b);
  if (!ma || !mb) return a < b ? -1 : a > b ? 1 : 0;
  const pa = ma[1]!.split('.').map(Number);
  const pb = mb[1]!.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * A matches/not_matches pattern as a RegExp that must match the whole value, as Java's
 * `Pattern.matches` does (ECS documents Java regular expressions). Throws SyntaxError if invalid.
 */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}
