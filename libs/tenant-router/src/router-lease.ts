import type { TierName } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { TenantShare } from './fair-shares';
import type { TenantLease } from './tenant-router.types';
import type { TenantSlot } from './tenant-slot';

/** A lease as the router hands it out: its slot, its place in the tenant's share, when it began. Internal. */
export class RouterLease implements TenantLease {
  private released = false;

  constructor(
    readonly slot: TenantSlot,
    readonly schemaVersion: string | null,
    /** The tenant's share this lease holds a place in, and the tier it was counted under. */
    readonly share: TenantShare,
    readonly tier: TierName,
    readonly leasedAt: number,
    private readonly onRelease: (lease: RouterLease) => void,
    private readonly onAuthenticationFailure: (slot: TenantSlot) => Promise<void>,
  ) {}

  reportAuthenticationFailure(): Promise<void> {
    return this.onAuthenticationFailure(this.slot);
  }

  get tenantId(): string {
    return this.slot.tenantId;
  }

  get dataSource(): DataSource {
    return this.slot.dataSource;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}
