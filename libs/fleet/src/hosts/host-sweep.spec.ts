import type { HostEntity } from '@silo/control-plane-db';
import { HostError, HostErrorCode } from './host.errors';
import { DEFAULT_EMPTY_HOST_GRACE_MS, HostSweep } from './host-sweep';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const now = new Date('2026-12-02T12:00:00Z');

function retirement(hosts: Pick<HostEntity, 'id' | 'name' | 'emptySince'>[], refuse: string[] = []) {
  return {
    recordEmptyHosts: jest.fn(() => Promise.resolve(1)),
    emptyPastGrace: jest.fn(() => Promise.resolve(hosts as HostEntity[])),
    beginDeletion: jest.fn((id: string) =>
      refuse.includes(id)
        ? Promise.reject(new HostError(HostErrorCode.HOST_HAS_TENANTS, 'placed again'))
        : Promise.resolve({ id } as HostEntity),
    ),
  };
}

describe('HostSweep', () => {
  it('asks for hosts empty past the configured grace period and begins deleting them', async () => {
    const r = retirement([{ id: 'h1', name: 'pool-starter-001', emptySince: new Date(0) }]);
    const sweep = new HostSweep(r, { graceMs: 3 * 3_600_000 });
    await expect(sweep.sweep(silent, now)).resolves.toEqual({ recorded: 1, deleting: ['h1'] });
    expect(r.recordEmptyHosts).toHaveBeenCalledWith(now);
    expect(r.emptyPastGrace).toHaveBeenCalledWith(3 * 3_600_000, now);
    expect(r.beginDeletion).toHaveBeenCalledWith('h1');
  });

  it('waits 24 hours when no grace period is given, and deletes at once with a grace of 0', async () => {
    expect(new HostSweep(retirement([])).graceMs).toBe(DEFAULT_EMPTY_HOST_GRACE_MS);
    expect(DEFAULT_EMPTY_HOST_GRACE_MS).toBe(24 * 3_600_000);
    const r = retirement([]);
    await new HostSweep(r, { graceMs: 0 }).sweep(silent, now);
    expect(r.emptyPastGrace).toHaveBeenCalledWith(0, now);
  });

  it('keeps a host that got a tenant again since it was read', async () => {
    const r = retirement(
      [
        { id: 'h1', name: 'pool-starter-001', emptySince: new Date(0) },
        { id: 'h2', name: 'pool-starter-002', emptySince: new Date(0) },
      ],
      ['h1'],
    );
    await expect(new HostSweep(r, { graceMs: 0 }).sweep(silent, now)).resolves.toEqual({
      recorded: 1,
      deleting: ['h2'],
    });
  });

  it('refuses a negative or non-finite grace period', () => {
    expect(() => new HostSweep(retirement([]), { graceMs: -1 })).toThrow(
      'graceMs must be a non-negative number',
    );
    expect(() => new HostSweep(retirement([]), { graceMs: Number.NaN })).toThrow(
      'graceMs must be a non-negative number',
    );
  });
});
