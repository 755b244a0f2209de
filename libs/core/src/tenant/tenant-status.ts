/** Where a tenant is in its life. See design.md, "Tenant lifecycle". */
export const TENANT_STATUSES = [
  'PENDING',
  'PROVISIONING',
  'ACTIVE',
  'SUSPENDED',
  'FAILED',
  'DEPROVISIONING',
  'DELETED',
] as const;

export type TenantStatus = (typeof TENANT_STATUSES)[number];

export function isTenantStatus(value: unknown): value is TenantStatus {
  return typeof value === 'string' && (TENANT_STATUSES as readonly string[]).includes(value);
}
