import { utcStamp } from '@silo/core';

/**
 * One manual snapshot of a tenant (POST /v1/tenants/{id}/snapshots), taken by the worker: an RDS
 * snapshot of an instance tenant's instance, or a schema or pool tenant's export to S3.
 */
export const SNAPSHOT_TENANT_JOB = 'snapshot-tenant';

/**
 * Ids only: which tenant, which of its instances, and the snapshot's name; for a schema or pool
 * tenant `exportKind` and `exportAt` (then `instanceIdentifier` is empty and `snapshotIdentifier` the object key).
 */
export interface SnapshotTenantJobData {
  tenantId: string;
  instanceIdentifier: string;
  snapshotIdentifier: string;
  /** A shared tenant's export: what it holds. */
  exportKind?: 'schema-dump' | 'rows';
  /** A shared tenant's export: when it was asked for (ISO 8601; its key's time). */
  exportAt?: string;
}

/** The name of a manual snapshot of `instanceIdentifier` asked for at `at` (RDS identifiers are lower case). */
export function manualSnapshotIdentifier(instanceIdentifier: string, at: Date): string {
  return `${instanceIdentifier}-manual-${utcStamp(at)}`.toLowerCase();
}

/** One job per tenant and second asked for: the same request relayed twice adds it once. */
export function snapshotJobId(tenantId: string, at: Date): string {
  return `snapshot-${tenantId}-${utcStamp(at)}`;
}
