import type { FleetInstance, FleetSecret, FleetSnapshot } from '@silo/aws';
import type { OrphanType } from '@silo/control-plane-db';
import type { TenantStatus } from '@silo/core';

export interface Orphan {
  type: OrphanType;
  name: string;
  arn: string;
  tenantId: string;
  tags: Record<string, string>;
  /** A deleted tenant's or host's final snapshot past FINAL_SNAPSHOT_RETENTION_DAYS. */
  expiredFinalSnapshot?: true;
}

export interface KnownTenant {
  status: TenantStatus;
  slug: string;
  /**
   * An open change holds the tenant: a DELETED one with a change open is being undeleted, and
   * what its undelete restores (instance, secrets, alarms) is its own, not an orphan.
   */
  changing?: boolean;
}

/** A shared host as the control plane records it (`hosts`). */
export interface KnownHost {
  status: 'creating' | 'available' | 'deleting' | 'deleted' | 'failed';
  name: string;
}

/** Whose a tagged resource is: a shared host's (`silo:host-id`) or a tenant's (`silo:tenant-id`). */
export interface KnownOwners {
  tenants: ReadonlyMap<string, KnownTenant>;
  hosts: ReadonlyMap<string, KnownHost>;
}

const DAY_MS = 86_400_000;

/**
 * Whether tags say "Silo made this for this environment" while naming no tenant or host, or a
 * DELETED tenant or a deleted host. A shared host's resources carry `silo:host-id` and no tenant:
 * they belong to the host. Anything not tagged `managed-by=silo` and
 * `silo:environment=<this one>` is never ours to report (or delete), whatever its name.
 */
export function orphanedBy(tags: Record<string, string>, known: KnownOwners, environment: string): boolean {
  if (tags['managed-by'] !== 'silo' || tags['silo:environment'] !== environment) return false;
  return ownerGone(tags, known);
}

function ownerGone(tags: Record<string, string>, known: KnownOwners): boolean {
  const hostId = tags['silo:host-id'];
  if (hostId !== undefined) {
    const host = known.hosts.get(hostId);
    return !host || host.status === 'deleted';
  }
  const owner = known.tenants.get(tags['silo:tenant-id'] ?? '');
  return !owner || (owner.status === 'DELETED' && !owner.changing);
}

/** Whether the owner the tags name is a DELETED tenant or a deleted host (whose final snapshot is kept a while). */
function deletedOwner(tags: Record<string, string>, known: KnownOwners): boolean {
  const hostId = tags['silo:host-id'];
  if (hostId !== undefined) return known.hosts.get(hostId)?.status === 'deleted';
  return known.tenants.get(tags['silo:tenant-id'] ?? '')?.status === 'DELETED';
}

/** A final snapshot's identifier: `<instance>-final-<utc stamp>` (finalSnapshotIdentifier). */
const FINAL_SNAPSHOT = /-final-\d{8}-\d{6}$/;

/**
 * The orphans among instances, secrets and snapshots. An instance being deleted, a secret
 * scheduled for deletion and a DELETED tenant's (or deleted host's) final snapshot younger than
 * the retention are expected, not orphans.
 */
export function findOrphans(
  inventory: { instances: FleetInstance[]; secrets: FleetSecret[]; snapshots: FleetSnapshot[] },
  known: KnownOwners,
  options: { environment: string; finalSnapshotRetentionDays: number; now: Date },
): Orphan[] {
  const orphans: Orphan[] = [];
  const add = (type: OrphanType, name: string, arn: string, tags: Record<string, string>) =>
    orphans.push({ type, name, arn, tenantId: tags['silo:tenant-id'] ?? '', tags });
  const is = (tags: Record<string, string>) => orphanedBy(tags, known, options.environment);

  // An instance being deleted is on its way out (an orphan deletion asked for, or someone else's).
  for (const i of inventory.instances) {
    if (i.status !== 'deleting' && is(i.tags)) add('instance', i.identifier, i.arn, i.tags);
  }
  for (const s of inventory.secrets) {
    if (!s.deletedDate && is(s.tags)) add('secret', s.name, s.arn, s.tags);
  }
  const keptUntil = options.now.getTime() - options.finalSnapshotRetentionDays * DAY_MS;
  for (const s of inventory.snapshots) {
    if (!is(s.tags)) continue;
    const ownerDeleted = deletedOwner(s.tags, known);
    const kept = ownerDeleted && (s.createdAt?.getTime() ?? 0) > keptUntil;
    if (kept) continue;
    add('snapshot', s.identifier, s.arn, s.tags);
    if (ownerDeleted && FINAL_SNAPSHOT.test(s.identifier))
      orphans[orphans.length - 1].expiredFinalSnapshot = true;
  }
  return orphans;
}
