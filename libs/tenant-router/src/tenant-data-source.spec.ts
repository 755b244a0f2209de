import type { DataSource } from 'typeorm';
import { growPoolOnlyWhen } from './tenant-data-source';

/** The parts of pg-pool that growPoolOnlyWhen reads, with one client busy and one request queued. */
function busyPool() {
  const listeners: Array<() => void> = [];
  const pool = {
    _clients: [{}],
    _idle: [] as unknown[],
    waitingCount: 1,
    pulses: [] as boolean[],
    _isFull: () => false,
    _pulseQueue(this: { pulses: boolean[]; _isFull: () => boolean }) {
      // pg-pool opens a client for the queued request when the pool is not full.
      this.pulses.push(!this._isFull());
    },
    on: (event: string, listener: () => void) => {
      if (event === 'release') listeners.push(listener);
    },
  };
  return { pool, dataSource: { driver: { master: pool } } as unknown as DataSource };
}

describe('growPoolOnlyWhen', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('holds a request while the budget is spent, and lets the pool grow once the hold is over', () => {
    const { pool, dataSource } = busyPool();
    let clock = 1_000;
    growPoolOnlyWhen(
      dataSource,
      () => false,
      250,
      () => clock,
    );
    expect(pool._isFull()).toBe(true);
    clock += 100;
    expect(pool._isFull()).toBe(true);
    clock += 150;
    jest.advanceTimersByTime(250);
    expect(pool.pulses).toEqual([true]);
  });

  it('ends the hold when its timer fires even if the clock shows less than the hold gone', () => {
    const { pool, dataSource } = busyPool();
    let clock = 1_000;
    growPoolOnlyWhen(
      dataSource,
      () => false,
      250,
      () => clock,
    );
    expect(pool._isFull()).toBe(true);
    // The timer fires a millisecond "early" by the clock, as libuv's loop time allows.
    clock += 249;
    jest.advanceTimersByTime(250);
    expect(pool.pulses).toEqual([true]);
  });

  it('grows at once while the budget has room, and takes an idle client without holding', () => {
    const { pool, dataSource } = busyPool();
    let room = true;
    growPoolOnlyWhen(
      dataSource,
      () => room,
      250,
      () => 0,
    );
    expect(pool._isFull()).toBe(false);
    room = false;
    pool._idle = [{}];
    expect(pool._isFull()).toBe(false);
  });
});
