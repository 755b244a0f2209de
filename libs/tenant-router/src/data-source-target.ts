import type { TenantAppCredentials, TenantDirectoryEntry, TenantPlacement } from './tenant-router.types';
import type { TenantSlot } from './tenant-slot';

/** Log fields naming what a DataSource serves (never a secret). */
export type TargetLabel = { tenantId: string } | { hostId: string; hostName: string };

/**
 * What one DataSource serves, and everything the router keeps to open it: a tenant's own
 * database or schema (`instance`, `schema` placements), or a pool host's database, shared by
 * every pooled tenant of that host. Its secret, its opening, its failure backoff and its
 * rotation are shared by every tenant it serves. Internal to the router.
 */
export interface DataSourceTarget {
  /** `instance/<tenant id>`, `schema/<tenant id>/<schema>` or `pool/<host id>`. */
  readonly key: string;
  readonly label: TargetLabel;
  readonly placement: TenantPlacement;
  /**
   * The directory entry the secret is fetched with: the tenant's own, or for a pool the latest
   * of any tenant of the host (any of them names the host's secret).
   */
  entry: TenantDirectoryEntry;
  /**
   * For a tenant's own target: the tenant's route version its credentials and DataSource are for;
   * a higher one in the directory (a move) drops both. A pool host's keeps its first.
   */
  routeVersion: number;
  /** Tenant states bound to it; a target none is bound to is forgotten once idle. */
  users: number;
  credentials: TenantAppCredentials | undefined;
  credentialsExpireAt: number;
  credentialsFetch: Promise<TenantAppCredentials> | undefined;
  /** The credentials the current DataSource logged in with. */
  slotCredentials: TenantAppCredentials | undefined;
  /** The DataSource handed out now; never a retired one. */
  slot: TenantSlot | undefined;
  opening: Promise<TenantSlot> | undefined;
  failedUntil: number;
  failure: unknown;
  rotation: Promise<void> | undefined;
}

/**
 * The key of the DataSource that serves `entry`: its tenant's own, or its pool host's; undefined
 * for a tenant not placed yet.
 */
export function targetKeyOf(entry: TenantDirectoryEntry): string | undefined {
  const placement = entry.placement;
  switch (placement?.kind) {
    case undefined:
      return undefined;
    case 'pool':
      return `pool/${placement.hostId}`;
    case 'schema':
      return `schema/${entry.id}/${placement.schema}`;
    default:
      return `instance/${entry.id}`;
  }
}

/** A target seen for the first time: nothing cached. */
export function newTarget(
  key: string,
  entry: TenantDirectoryEntry,
  placement: TenantPlacement,
): DataSourceTarget {
  return {
    key,
    label:
      placement.kind === 'pool'
        ? { hostId: placement.hostId, hostName: placement.hostName }
        : { tenantId: entry.id },
    placement,
    entry,
    routeVersion: entry.routeVersion,
    users: 0,
    credentials: undefined,
    credentialsExpireAt: 0,
    credentialsFetch: undefined,
    slotCredentials: undefined,
    slot: undefined,
    opening: undefined,
    failedUntil: 0,
    failure: undefined,
    rotation: undefined,
  };
}

/** True for a pool host's target, which serves many tenants. */
export function isShared(target: DataSourceTarget): boolean {
  return target.placement.kind === 'pool';
}

/** Words for messages: "tenant <id>" or "pool host <name>". */
export function describeTarget(target: DataSourceTarget): string {
  return 'hostId' in target.label ? `pool host ${target.label.hostName}` : `tenant ${target.label.tenantId}`;
}

/** No tenant bound, nothing cached, nothing under way: the router may forget the target. */
export function targetForgettable(target: DataSourceTarget, now: number): boolean {
  return (
    target.users === 0 &&
    target.slot === undefined &&
    target.opening === undefined &&
    target.credentialsFetch === undefined &&
    target.rotation === undefined &&
    now >= target.credentialsExpireAt &&
    now >= target.failedUntil
  );
}
