import type { TierName } from '@silo/core';

export const PROVISION_TENANT_JOB = 'provision-tenant';
export const DEPROVISION_TENANT_JOB = 'deprovision-tenant';
/** Every job the `provisioning` queue carries; the worker refuses to start without one handler each. */
export const PROVISIONING_JOB_NAMES = [PROVISION_TENANT_JOB, DEPROVISION_TENANT_JOB] as const;

/** Ids only: the worker reads everything else from the control plane and Secrets Manager. */
export interface TenantJobData {
  tenantId: string;
}

/** One job per tenant and provisioning run: enqueueing it twice is a no-op. */
export function provisionJobId(tenantId: string, run: number): string {
  return `provision-${tenantId}-${run}`;
}

export function deprovisionJobId(tenantId: string): string {
  return `deprovision-${tenantId}`;
}

/** BullMQ priority (1 runs first): enterprise tenants outrank starter ones. */
export function tierPriority(tier: TierName): number {
  return { enterprise: 1, pro: 5, starter: 10 }[tier];
}
