import type { TierName } from '@silo/core';
import { HOST_JOB_NAMES } from './host-jobs';
import { SNAPSHOT_TENANT_JOB } from './snapshot-jobs';

export const PROVISION_TENANT_JOB = 'provision-tenant';
export const DEPROVISION_TENANT_JOB = 'deprovision-tenant';
/** One tenant of a schema rollout: its migrations up to the rollout's target. */
export const MIGRATE_TENANT_JOB = 'migrate-tenant';
/** One host's pool database in a schema rollout, for every pooled tenant of the host at once. */
export const MIGRATE_POOL_JOB = 'migrate-pool';
/** A reconcile pass: every RECONCILE_INTERVAL_SECONDS (job scheduler `silo-reconcile`) and on demand. */
export const RECONCILE_JOB = 'reconcile';
export const RECONCILE_SCHEDULER = 'silo-reconcile';
/** Deletes the orphans an operator asked for (POST /v1/orphans/delete). */
export const DELETE_ORPHANS_JOB = 'delete-orphans';
/** One change to a live tenant (a tier change): the modify saga. */
export const MODIFY_TENANT_JOB = 'modify-tenant';
/** One credential rotation of a tenant: the rotate saga. */
export const ROTATE_CREDENTIALS_JOB = 'rotate-credentials';
/** One move of a live tenant to another placement or region: the move saga. */
export const MOVE_TENANT_JOB = 'move-tenant';
/** A moved tenant's source, removed once MOVE_SOURCE_RETENTION_HOURS have passed since the switch. */
export const REMOVE_MOVED_SOURCE_JOB = 'remove-moved-source';
/** One restore of a tenant (a copy beside it, this far): the restore saga. */
export const RESTORE_TENANT_JOB = 'restore-tenant';
/** A restore copy, removed once RESTORE_COPY_TTL_HOURS have passed or on request. */
export const REMOVE_RESTORE_COPY_JOB = 'remove-restore-copy';
/** One undelete of a DELETED tenant: the undelete saga. */
export const UNDELETE_TENANT_JOB = 'undelete-tenant';
/** Every job the `provisioning` queue carries; the worker refuses to start without one handler each. */
export const PROVISIONING_JOB_NAMES = [
  PROVISION_TENANT_JOB,
  DEPROVISION_TENANT_JOB,
  MIGRATE_TENANT_JOB,
  MIGRATE_POOL_JOB,
  RECONCILE_JOB,
  DELETE_ORPHANS_JOB,
  MODIFY_TENANT_JOB,
  ROTATE_CREDENTIALS_JOB,
  MOVE_TENANT_JOB,
  REMOVE_MOVED_SOURCE_JOB,
  RESTORE_TENANT_JOB,
  REMOVE_RESTORE_COPY_JOB,
  UNDELETE_TENANT_JOB,
  SNAPSHOT_TENANT_JOB,
  ...HOST_JOB_NAMES,
] as const;

/** Ids only: the worker reads everything else from the control plane and Secrets Manager. */
export interface TenantJobData {
  tenantId: string;
}

/** One job per tenant and provisioning run: enqueueing it twice is a no-op. */
export function provisionJobId(tenantId: string, run: number): string {
  return `provision-${tenantId}-${run}`;
}

/** Ids only: which rollout, which tenant, and which dispatch of it (a resume retries with the next). */
export interface MigrateTenantJobData {
  rolloutId: string;
  tenantId: string;
  attempt: string;
}

/** One job per rollout, tenant and dispatch: relaying it twice adds it once. */
export function migrateJobId(rolloutId: string, tenantId: string, attempt: number): string {
  return `migrate-${rolloutId}-${tenantId}-${attempt}`;
}

/** Ids only: which rollout, which pool host, and which dispatch of its tenants. */
export interface MigratePoolJobData {
  rolloutId: string;
  hostId: string;
  attempt: string;
}

/** One job per rollout, pool host and dispatch. */
export function migratePoolJobId(rolloutId: string, hostId: string, attempt: number): string {
  return `migrate-pool-${rolloutId}-${hostId}-${attempt}`;
}

/** One job per tenant and change: enqueueing it twice is a no-op. */
export function modifyJobId(tenantId: string, run: number): string {
  return `modify-${tenantId}-${run}`;
}

/** One job per tenant and change: enqueueing it twice is a no-op. */
export function rotateJobId(tenantId: string, run: number): string {
  return `rotate-${tenantId}-${run}`;
}

/** One job per tenant and change: enqueueing it twice is a no-op. */
export function moveJobId(tenantId: string, run: number): string {
  return `move-${tenantId}-${run}`;
}

/** One job per tenant and change: enqueueing it twice is a no-op. */
export function restoreJobId(tenantId: string, run: number): string {
  return `restore-${tenantId}-${run}`;
}

/** One job per tenant and change: enqueueing it twice is a no-op. */
export function undeleteJobId(tenantId: string, run: number): string {
  return `undelete-${tenantId}-${run}`;
}

/** One removal per tenant and restore copy. */
export function removeRestoreCopyJobId(tenantId: string, run: number): string {
  return `remove-restore-copy-${tenantId}-${run}`;
}

/** One removal per tenant and move. */
export function removeMovedSourceJobId(tenantId: string, run: number): string {
  return `remove-moved-source-${tenantId}-${run}`;
}

/** Ids only: which tenant, and which of its changes (a move) left the source. */
export interface MovedSourceJobData {
  tenantId: string;
  run: number;
}

/** The job of a tenant's change, by the change's kind. */
export function changeJob(
  kind: 'tier' | 'rotation' | 'move' | 'restore' | 'undelete',
  tenantId: string,
  run: number,
): { name: string; id: string } {
  switch (kind) {
    case 'tier':
      return { name: MODIFY_TENANT_JOB, id: modifyJobId(tenantId, run) };
    case 'rotation':
      return { name: ROTATE_CREDENTIALS_JOB, id: rotateJobId(tenantId, run) };
    case 'move':
      return { name: MOVE_TENANT_JOB, id: moveJobId(tenantId, run) };
    case 'restore':
      return { name: RESTORE_TENANT_JOB, id: restoreJobId(tenantId, run) };
    case 'undelete':
      return { name: UNDELETE_TENANT_JOB, id: undeleteJobId(tenantId, run) };
  }
}

/**
 * One job per tenant and provisioning run. A run after the first (a retry, or the life an
 * undelete began) is named with its number: a deletion of an undeleted tenant is not the earlier
 * deletion's job, which the queue may still keep as completed.
 */
export function deprovisionJobId(tenantId: string, run = 1): string {
  return run > 1 ? `deprovision-${tenantId}-${run}` : `deprovision-${tenantId}`;
}

/** BullMQ priority (1 runs first): enterprise tenants outrank starter ones. */
export function tierPriority(tier: TierName): number {
  return { enterprise: 1, pro: 5, starter: 10 }[tier];
}
