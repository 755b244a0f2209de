import type { Placement } from '@silo/core/provisioning/tenant-resource-names';
import type { TierName } from '@silo/core/tenant/tier';
import type { DataSource, EntityManager } from 'typeorm';
import type { TenantShare } from './fair-shares';
import { isWriteRefusedAsMoved } from './tenant-data-source';
import { pooledTenantNeedsTransaction, type TenantAccessError } from './tenant-router.errors';
import type { TenantLease } from './tenant-router.types';
import type { TenantSlot } from './tenant-slot';
import { inTransaction } from './tenant-transaction';

/**
 * A lease as the router hands it out: its tenant, its slot (the tenant's own, or its pool host's
 * shared one), its place in the tenant's share, when it began. Internal.
 */
export class RouterLease implements TenantLease {
  private released = false;

  constructor(
    readonly tenantId: string,
    readonly placement: Placement,
    readonly slot: TenantSlot,
    readonly schemaVersion: string | null,
    /** The tenant's share this lease holds a place in, and the tier it was counted under. */
    readonly share: TenantShare,
    readonly tier: TierName,
    readonly leasedAt: number,
    private readonly onRelease: (lease: RouterLease) => void,
    private readonly onAuthenticationFailure: (slot: TenantSlot) => Promise<void>,
    private readonly onWriteRefused: (tenantId: string, cause: unknown) => TenantAccessError,
  ) {}

  reportAuthenticationFailure(): Promise<void> {
    return this.onAuthenticationFailure(this.slot);
  }

  get dataSource(): DataSource {
    if (this.placement === 'pool') throw pooledTenantNeedsTransaction(this.tenantId);
    return this.slot.dataSource;
  }

  /** A write the tenant's database refused as a moved tenant's (25006) fails as TENANT_MOVING. */
  async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await inTransaction(
        this.slot.dataSource,
        this.placement === 'pool' ? this.tenantId : undefined,
        work,
      );
    } catch (error) {
      if (isWriteRefusedAsMoved(error)) throw this.onWriteRefused(this.tenantId, error);
      throw error;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}
