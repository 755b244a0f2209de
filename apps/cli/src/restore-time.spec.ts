import { isoSeconds, resolveTime, wallClock, zoneOf, type TimeContext } from './restore-time';

// Tuesday 8 December 2026, 10:00 in Berlin (UTC+1 in winter).
const NOW = new Date('2026-12-08T09:00:00Z');
const BERLIN: TimeContext = { now: NOW, zone: 'Europe/Berlin' };

const at = (input: string, ctx: TimeContext = BERLIN) => {
  const r = resolveTime(input, ctx);
  if (!r.ok) throw new Error(`expected a time for "${input}", got: ${r.problem}`);
  return isoSeconds(r.at);
};
const problem = (input: string, ctx: TimeContext = BERLIN) => {
  const r = resolveTime(input, ctx);
  if (r.ok) throw new Error(`expected "${input}" refused, got ${r.at.toISOString()}`);
  return r.problem;
};

describe('resolveTime', () => {
  it('reads "yesterday" and "today" with a time of day as the wall clock of the zone', () => {
    expect(at('yesterday 10:32')).toBe('2026-12-07T09:32:00Z');
    expect(at('Yesterday at 10:32:15')).toBe('2026-12-07T09:32:15Z');
    expect(at('today 08:15')).toBe('2026-12-08T07:15:00Z');
    expect(at('8:15')).toBe('2026-12-08T07:15:00Z');
    expect(at('yesterday 10:32', { now: NOW, zone: 'UTC' })).toBe('2026-12-07T10:32:00Z');
    expect(at('yesterday 10:32', { now: NOW, zone: 'America/New_York' })).toBe('2026-12-07T15:32:00Z');
    expect(resolveTime('yesterday 10:32', BERLIN)).toMatchObject({ ok: true, zone: 'Europe/Berlin' });
  });

  it('takes "yesterday" as the zone’s yesterday, not UTC’s', () => {
    // 23:30 UTC on the 7th is already 00:30 on the 8th in Berlin: its yesterday is the 7th.
    const lateEvening = new Date('2026-12-07T23:30:00Z');
    expect(at('yesterday 10:32', { now: lateEvening, zone: 'Europe/Berlin' })).toBe('2026-12-07T09:32:00Z');
    expect(at('yesterday 10:32', { now: lateEvening, zone: 'UTC' })).toBe('2026-12-06T10:32:00Z');
  });

  it('reads a date and time without an offset in the zone, and one with an offset as it says', () => {
    expect(at('2026-12-06 10:32')).toBe('2026-12-06T09:32:00Z');
    expect(at('2026-12-06T10:32:15.250')).toBe('2026-12-06T09:32:15.250Z');
    expect(at('2026-07-06 10:32')).toBe('2026-07-06T08:32:00Z'); // summer time, UTC+2
    expect(at('2026-12-07T10:32:00Z')).toBe('2026-12-07T10:32:00Z');
    expect(at('2026-12-07t10:32z')).toBe('2026-12-07T10:32:00Z');
    expect(at('2026-12-07T10:32:00+05:30')).toBe('2026-12-07T05:02:00Z');
    expect(at('2026-12-07T10:32:00-0800')).toBe('2026-12-07T18:32:00Z');
    expect(resolveTime('2026-12-07T10:32:00Z', BERLIN)).toMatchObject({ ok: true, zone: null });
  });

  it('refuses what is not a time, naming the forms it takes', () => {
    for (const input of ['', 'last tuesday', 'yesterday', '10.32', '07/12/2026 10:32', '1733563920'])
      expect(problem(input)).toBe(
        'not a time; give ISO 8601 (2026-12-07T10:32:00Z), "2026-12-07 10:32", "yesterday 10:32" or "today 10:32"',
      );
  });

  it('refuses dates, times of day and offsets that do not exist, naming which', () => {
    expect(problem('2026-02-30 10:32')).toBe('2026-02-30 is not a date');
    expect(problem('2026-13-01T10:32:00Z')).toBe('2026-13-01 is not a date');
    expect(problem('yesterday 25:00')).toBe('25:00 is not a time of day');
    expect(problem('yesterday 10:60')).toBe('10:60 is not a time of day');
    expect(problem('2026-12-07T10:32:00+25:00')).toBe('+25:00 is not an offset');
  });

  it('refuses a time after now', () => {
    expect(problem('today 10:32')).toBe(
      '2026-12-08T09:32:00Z is in the future (now is 2026-12-08T09:00:00Z)',
    );
    expect(problem('2027-01-01T00:00:00Z')).toMatch(/is in the future/);
  });

  it('refuses a local time the clocks skip or pass twice, with both moments of the second', () => {
    expect(problem('2026-03-29 02:30')).toBe(
      '02:30 does not exist on 2026-03-29 in Europe/Berlin (the clocks skip it); give ISO 8601 with an offset',
    );
    expect(problem('2026-10-25 02:30')).toBe(
      '02:30 on 2026-10-25 in Europe/Berlin happens twice (2026-10-25T00:30:00Z and 2026-10-25T01:30:00Z); give ISO 8601 with an offset',
    );
    // With the offset it is one moment.
    expect(at('2026-10-25T02:30:00+01:00')).toBe('2026-10-25T01:30:00Z');
  });
});

describe('zoneOf and wallClock', () => {
  it('names a zone canonically, and none for a name that is not one', () => {
    expect(zoneOf('Europe/Berlin')).toBe('Europe/Berlin');
    expect(zoneOf('utc')).toBe('UTC');
    expect(zoneOf('Mars/Olympus')).toBeNull();
    expect(zoneOf('+01:00 please')).toBeNull();
  });

  it('shows a moment as a clock of the zone shows it', () => {
    expect(wallClock(new Date('2026-12-07T09:32:00Z'), 'Europe/Berlin')).toBe('2026-12-07 10:32');
    expect(wallClock(new Date('2026-12-07T23:59:30Z'), 'UTC')).toBe('2026-12-07 23:59:30');
  });
});
