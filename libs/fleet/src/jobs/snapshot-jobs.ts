import { utcStamp } from '@silo/core';

/** One manual snapshot of an instance tenant (POST /v1/tenants/{id}/snapshots), taken by the worker. */
export const SNAPSHOT_TENANT_JOB = 'snapshot-tenant';

/** Ids only: which tenant, which of its instances, and the snapshot's name. */
export interface SnapshotTenantJobData {
  tenantId: string;
  instanceIdentifier: string;
  snapshotIdentifier: string;
}

/** The name of a manual snapshot of `instanceIdentifier` asked for at `at` (RDS identifiers are lower case). */
export function manualSnapshotIdentifier(instanceIdentifier: string, at: Date): string {
  return `${instanceIdentifier}-manual-${utcStamp(at)}`.toLowerCase();
}

/** One job per tenant and second asked for: the same request relayed twice adds it once. */
export function snapshotJobId(tenantId: string, at: Date): string {
  return `snapshot-${tenantId}-${utcStamp(at)}`;
}
