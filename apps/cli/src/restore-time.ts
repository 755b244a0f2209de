/** A `--to` read: the moment (and the zone it was read in, when it had no offset), or why it is none. */
export type ResolvedTime = { ok: true; at: Date; zone: string | null } | { ok: false; problem: string };

/** The clock and zone a friendly time is read against: injected, so that tests fix both. */
export interface TimeContext {
  now: Date;
  /** An IANA zone (zoneOf has checked it): where "yesterday 10:32" is 10:32. */
  zone: string;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

const FORMS = 'ISO 8601 (2026-12-07T10:32:00Z), "2026-12-07 10:32", "yesterday 10:32" or "today 10:32"';

// A date and a time of day, with an offset (an absolute moment) or without one (the zone's).
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/i;
// A time of day on a day named relative to today in the zone (bare: today).
const DAY_TIME = /^(?:(today|yesterday)\s+(?:at\s+)?)?(\d{1,2}):(\d{2})(?::(\d{2}))?$/i;

/**
 * Reads an operator's restore time: ISO 8601 with an offset as it says; a date and time without
 * one, or "today"/"yesterday" and a time of day, as wall-clock time in `ctx.zone`. Refused, with
 * why: a form it does not know, a date or time of day that does not exist, a local time the zone
 * skips or passes twice (a daylight-saving change), and a moment after `ctx.now`.
 */
export function resolveTime(input: string, ctx: TimeContext): ResolvedTime {
  const text = input.trim();
  const fail = (problem: string): ResolvedTime => ({ ok: false, problem });
  let wall: Wall;
  let offsetMinutes: number | null = null;
  const full = DATE_TIME.exec(text);
  const relative = full ? null : DAY_TIME.exec(text);
  if (full) {
    const [, y, mo, d, h, mi, s, frac, offset] = full;
    wall = {
      year: Number(y),
      month: Number(mo),
      day: Number(d),
      hour: Number(h),
      minute: Number(mi),
      second: Number(s ?? 0),
      ms: frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0,
    };
    if (!isDate(wall)) return fail(`${y}-${mo}-${d} is not a date`);
    if (offset) {
      offsetMinutes = parseOffset(offset);
      if (offsetMinutes === null) return fail(`${offset} is not an offset`);
    }
  } else if (relative) {
    const [, day, h, mi, s] = relative;
    const today = wallAt(ctx.now, ctx.zone);
    const date = new Date(
      Date.UTC(today.year, today.month - 1, today.day - (day?.toLowerCase() === 'yesterday' ? 1 : 0)),
    );
    wall = {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: Number(h),
      minute: Number(mi),
      second: Number(s ?? 0),
      ms: 0,
    };
  } else {
    return fail(`not a time; give ${FORMS}`);
  }
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59)
    return fail(`${clock(wall)} is not a time of day`);

  let at: Date;
  if (offsetMinutes !== null) {
    at = new Date(wallEpoch(wall) - offsetMinutes * 60_000);
  } else {
    const candidates = localCandidates(wall, ctx.zone);
    const where = `on ${day(wall)} in ${ctx.zone}`;
    if (candidates.length === 0)
      return fail(
        `${clock(wall)} does not exist ${where} (the clocks skip it); give ISO 8601 with an offset`,
      );
    if (candidates.length > 1)
      return fail(
        `${clock(wall)} ${where} happens twice (${candidates.map(isoSeconds).join(' and ')}); give ISO 8601 with an offset`,
      );
    at = candidates[0];
  }
  if (at.getTime() > ctx.now.getTime())
    return fail(`${isoSeconds(at)} is in the future (now is ${isoSeconds(ctx.now)})`);
  return { ok: true, at, zone: offsetMinutes === null ? ctx.zone : null };
}

/** The zone's canonical IANA name, or null when it is none (`--tz Mars/Olympus`). */
export function zoneOf(name: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** The zone this machine is in (TZ, else the system's), as Intl knows it. */
export function localZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** `2026-12-07T09:32:00Z`: milliseconds only when there are any. */
export function isoSeconds(at: Date): string {
  return at.toISOString().replace('.000Z', 'Z');
}

/** `2026-12-07 10:32:00` as a clock in `zone` shows `at`. */
export function wallClock(at: Date, zone: string): string {
  const w = wallAt(at, zone);
  return `${day(w)} ${clock(w)}`;
}

function wallAt(at: Date, zone: string): Wall {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return {
    year: part('year'),
    month: part('month'),
    day: part('day'),
    hour: part('hour'),
    minute: part('minute'),
    second: part('second'),
    ms: at.getUTCMilliseconds(),
  };
}

/**
 * The moments whose wall clock in `zone` reads `wall`: one as a rule, none in a gap the clocks
 * skip, two in the hour they pass twice. Offsets are those a day either side, since no zone
 * changes its offset twice within two days.
 */
function localCandidates(wall: Wall, zone: string): Date[] {
  const asUtc = wallEpoch(wall);
  const offsets = new Set([-86_400_000, 86_400_000].map((d) => offsetAt(asUtc + d, zone)));
  return [...offsets]
    .map((offset) => new Date(asUtc - offset))
    .filter((at) => wallEpoch(wallAt(at, zone)) === asUtc)
    .sort((a, b) => a.getTime() - b.getTime());
}

function offsetAt(epoch: number, zone: string): number {
  const at = new Date(Math.floor(epoch / 1000) * 1000);
  return wallEpoch({ ...wallAt(at, zone), ms: 0 }) - at.getTime();
}

function wallEpoch(w: Wall): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms);
}

function isDate(w: Wall): boolean {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day));
  return d.getUTCFullYear() === w.year && d.getUTCMonth() === w.month - 1 && d.getUTCDate() === w.day;
}

/** `+01:00`, `-0530`, `+02` as minutes east of UTC; Z is 0; null past ±23:59. */
function parseOffset(text: string): number | null {
  if (text.toUpperCase() === 'Z') return 0;
  const [, sign, hh, mm] = /^([+-])(\d{2}):?(\d{2})?$/.exec(text)!;
  const hours = Number(hh);
  const minutes = Number(mm ?? 0);
  if (hours > 23 || minutes > 59) return null;
  return (sign === '-' ? -1 : 1) * (hours * 60 + minutes);
}

const pad = (n: number) => String(n).padStart(2, '0');
const day = (w: Wall) => `${w.year}-${pad(w.month)}-${pad(w.day)}`;
const clock = (w: Wall) => `${pad(w.hour)}:${pad(w.minute)}${w.second ? `:${pad(w.second)}` : ''}`;
