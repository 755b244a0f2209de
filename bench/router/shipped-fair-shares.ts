import { environmentSchema } from '@silo/config';
import type { TenantRouterOptions } from '@silo/tenant-router';

export type FairShareOptions = Pick<
  TenantRouterOptions,
  'maxLeasesPerTenantByTier' | 'maxLeaseWaitersPerTenant' | 'leaseWaitMs'
>;

/**
 * The fair shares Silo ships: each ROUTER_* variable's default as the configuration schema
 * applies it to an unset variable, so the bench follows the defaults wherever they move.
 */
export function shippedFairShares(): FairShareOptions {
  const shape = environmentSchema.shape;
  return {
    maxLeasesPerTenantByTier: {
      starter: shape.ROUTER_MAX_LEASES_PER_TENANT_STARTER.parse(undefined),
      pro: shape.ROUTER_MAX_LEASES_PER_TENANT_PRO.parse(undefined),
      enterprise: shape.ROUTER_MAX_LEASES_PER_TENANT_ENTERPRISE.parse(undefined),
    },
    maxLeaseWaitersPerTenant: shape.ROUTER_MAX_LEASE_WAITERS_PER_TENANT.parse(undefined),
    leaseWaitMs: shape.ROUTER_LEASE_WAIT_MS.parse(undefined),
  };
}

/** One line for the report: what the shipped fair shares are. */
export function describeFairShares(shares: FairShareOptions): string {
  const caps = shares.maxLeasesPerTenantByTier;
  const waiters = shares.maxLeaseWaitersPerTenant ?? 'as many as the cap';
  return (
    `fair shares as shipped (the configuration schema's defaults): lease caps ${caps?.starter}/${caps?.pro}/${caps?.enterprise} ` +
    `(starter/pro/enterprise), binding only while something waits for the connection budget or for room for a DataSource; ` +
    `waiters per tenant ${waiters}, lease wait ${shares.leaseWaitMs} ms`
  );
}
