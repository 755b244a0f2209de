import { HostError, HostErrorCode } from './host.errors';
import type { HostRetirement } from './host-retirement';
import type { HostSagaLog } from './host-journal';

/** How long an available host stays empty before it is deleted when no grace is given: 24 hours (HOST_EMPTY_GRACE_HOURS's default). */
export const DEFAULT_EMPTY_HOST_GRACE_MS = 24 * 3_600_000;

export interface HostSweepOptions {
  /** How long a host must have been empty before its deletion starts. Default {@link DEFAULT_EMPTY_HOST_GRACE_MS}. */
  graceMs?: number;
}

export interface HostSweepResult {
  /** Hosts whose `empty_since` this pass set or cleared. */
  recorded: number;
  /** Hosts this pass moved to `deleting` (their delete job is in the outbox). */
  deleting: string[];
}

/**
 * The periodic pass over the hosts: records since when each available host is empty, and begins
 * deleting those empty past the grace period. Safe to run in several workers at once: the
 * decision to delete takes the placements' lock and refuses a host that has tenants again.
 */
export class HostSweep {
  readonly graceMs: number;

  constructor(
    private readonly retirement: Pick<
      HostRetirement,
      'recordEmptyHosts' | 'emptyPastGrace' | 'beginDeletion'
    >,
    options: HostSweepOptions = {},
  ) {
    this.graceMs = options.graceMs ?? DEFAULT_EMPTY_HOST_GRACE_MS;
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0)
      throw new Error('graceMs must be a non-negative number');
  }

  async sweep(log: HostSagaLog, now: Date = new Date()): Promise<HostSweepResult> {
    const recorded = await this.retirement.recordEmptyHosts(now);
    const deleting: string[] = [];
    for (const host of await this.retirement.emptyPastGrace(this.graceMs, now)) {
      try {
        await this.retirement.beginDeletion(host.id);
        deleting.push(host.id);
        log.info(
          { hostId: host.id, host: host.name, emptySince: host.emptySince },
          'empty host past its grace period; deleting it',
        );
      } catch (error) {
        // A tenant placed since the read: the host stays.
        if (error instanceof HostError && error.code === HostErrorCode.HOST_HAS_TENANTS) continue;
        throw error;
      }
    }
    return { recorded, deleting };
  }
}
