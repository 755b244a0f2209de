import type { TenantEntity } from '@silo/control-plane-db';

/** How far RDS's latest restorable time usually trails now. */
export const RESTORE_LAG_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** An instance tenant's restorable window as estimated without asking RDS. */
export interface EstimatedRestorableWindow {
  earliest: Date;
  latest: Date;
}

/**
 * The restorable window of a live instance tenant, estimated from its tier's backup retention and
 * when it was created: earliest the later of its creation and now less `backupRetentionDays`,
 * latest now less {@link RESTORE_LAG_MS}. Null for a tier that keeps no backups, a tenant that is
 * not on an instance of its own or not ACTIVE or SUSPENDED, or one too new to have a window. An
 * estimate for display (no AWS call): a restore request checks RDS's real window.
 */
export function estimatedRestorableWindow(
  tenant: Pick<TenantEntity, 'placement' | 'status' | 'dbInstanceIdentifier' | 'hostId' | 'createdAt'>,
  backupRetentionDays: number,
  now: Date = new Date(),
): EstimatedRestorableWindow | null {
  if (backupRetentionDays <= 0) return null;
  // A shared tenant is restored from its host's backups, kept by the same tier's retention.
  if (tenant.placement === 'instance' ? !tenant.dbInstanceIdentifier : !tenant.hostId) return null;
  if (tenant.status !== 'ACTIVE' && tenant.status !== 'SUSPENDED') return null;
  const earliest = new Date(
    Math.max(tenant.createdAt.getTime(), now.getTime() - backupRetentionDays * DAY_MS),
  );
  const latest = new Date(now.getTime() - RESTORE_LAG_MS);
  return latest < earliest ? null : { earliest, latest };
}
