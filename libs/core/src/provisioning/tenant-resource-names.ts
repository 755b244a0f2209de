/**
 * Every AWS and database name Silo gives a tenant's resources, derived from the prefix and the
 * slug only, so that a re-run after a crash finds what the crashed run made. See design.md,
 * "AWS naming and tags".
 */
export interface TenantResourceNames {
  instanceIdentifier: string;
  masterSecretName: string;
  appSecretName: string;
  /** RDS master user, owner of the tenant database (letters, digits, _). */
  masterUsername: string;
  /** The tenant application's login role. */
  appRole: string;
  /** The tenant's schema on a shared host (`schema` placement); letters, digits, _. */
  tenantSchema: string;
  alarmName(metric: string): string;
  finalSnapshotIdentifier(at: Date): string;
}

/**
 * A time in UTC to the second, `20260102-030405`: the stamp in a final snapshot's name and an
 * export's object key, so that a re-run after a crash at the same recorded time names the same thing.
 */
export function utcStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** The final snapshot of an instance deleted at `at` (RDS identifiers are lower case). */
function finalSnapshotOf(instanceIdentifier: string, at: Date): string {
  return `${instanceIdentifier}-final-${utcStamp(at)}`.toLowerCase();
}

export function tenantResourceNames(prefix: string, slug: string): TenantResourceNames {
  const underscored = `${prefix}_${slug}`.replace(/-/g, '_');
  return {
    instanceIdentifier: `${prefix}-${slug}`,
    masterSecretName: `${prefix}/${slug}/master`,
    appSecretName: `${prefix}/${slug}/app`,
    masterUsername: `${underscored}_admin`,
    appRole: `${underscored}_app`,
    tenantSchema: `${underscored}`,
    alarmName: (metric) => `${prefix}-${slug}-${metric}`,
    finalSnapshotIdentifier: (at) => finalSnapshotOf(`${prefix}-${slug}`, at),
  };
}

/**
 * The names of a tenant's restore copy (the restore change `run`): an instance beside the
 * tenant's own, its master secret, and the read-only login's secret and role. Slugs never begin
 * with `restore-`, so no tenant's own names can be these.
 */
export interface RestoreCopyNames {
  instanceIdentifier: string;
  /**
   * A restore in place: the restored instance until the switch renames it to the tenant's own
   * name (the tenant's instance, renamed to {@link instanceIdentifier}, is then the copy).
   */
  incomingIdentifier: string;
  masterSecretName: string;
  readerSecretName: string;
  /**
   * The copy's owner where the backend makes one (the local backend: roles are a server's, and
   * the tenant's own owner lives on the same server). On RDS a restore keeps its source's master user.
   */
  localOwner: string;
  readerRole: string;
}

export function restoreCopyNames(prefix: string, slug: string, run: number): RestoreCopyNames {
  if (!Number.isInteger(run) || run < 1) throw new Error(`${run} is not a change run`);
  const own = tenantResourceNames(prefix, slug);
  const name = `restore-${slug}-${run}`;
  return {
    instanceIdentifier: `${prefix}-${name}`,
    incomingIdentifier: `${prefix}-${name}-new`,
    masterSecretName: `${prefix}/${name}/master`,
    readerSecretName: `${prefix}/${name}/app`,
    localOwner: `${own.masterUsername}_r${run}`,
    readerRole: `${own.appRole}_reader_${run}`,
  };
}

/** The tags on every resource Silo creates for a tenant. */
export function tenantTags(
  tenant: { id: string; slug: string; tier: string },
  environment: string,
): Record<string, string> {
  return {
    'silo:tenant-id': tenant.id,
    'silo:tenant-slug': tenant.slug,
    'silo:tier': tenant.tier,
    'silo:environment': environment,
    'managed-by': 'silo',
  };
}

/**
 * The tag that says what a restored instance was restored from (besides the tenant's own):
 * `snapshot:<snapshot id>`, or `instance:<source id>@<ISO restore time | latest>` for a
 * point-in-time restore. A re-run of a restore finds its target by it.
 */
export const RESTORED_FROM_TAG = 'silo:restored-from';

/** Where a tenant's data lives (design.md, "Placements"). */
export const PLACEMENTS = ['instance', 'schema', 'pool'] as const;
export type Placement = (typeof PLACEMENTS)[number];
/** The placements that share a host between tenants. */
export type SharedPlacement = Exclude<Placement, 'instance'>;

export function isPlacement(value: unknown): value is Placement {
  return typeof value === 'string' && (PLACEMENTS as readonly string[]).includes(value);
}

/** The schema every tenant table lives in, in `instance` and `pool` placements. */
export const APP_SCHEMA = 'app';

/**
 * The names of a shared host's resources. `name` is the host's own short name
 * (`pool-starter-001`): lower-case letters, digits and hyphens, derived from its placement, tier
 * and ordinal so a re-run after a crash finds what the crashed run made.
 */
export interface HostResourceNames {
  instanceIdentifier: string;
  masterSecretName: string;
  /** The pool login's secret (pool hosts), in the app secret's JSON shape. */
  poolAppSecretName: string;
  masterUsername: string;
  /** The pool's app role, shared by every pooled tenant of the host (its logins alternate). */
  poolAppRole: string;
  alarmName(metric: string): string;
  finalSnapshotIdentifier(at: Date): string;
}

export const HOST_NAME_PATTERN = /^(pool|schema)-[a-z]+-\d{3,6}$/;

export function hostName(placement: SharedPlacement, tier: string, ordinal: number): string {
  return `${placement}-${tier}-${String(ordinal).padStart(3, '0')}`;
}

export function hostResourceNames(prefix: string, name: string): HostResourceNames {
  if (!HOST_NAME_PATTERN.test(name)) throw new Error(`${JSON.stringify(name)} is not a host name`);
  const underscored = `${prefix}_host_${name}`.replace(/-/g, '_');
  return {
    instanceIdentifier: `${prefix}-host-${name}`,
    masterSecretName: `${prefix}/hosts/${name}/master`,
    poolAppSecretName: `${prefix}/hosts/${name}/pool-app`,
    masterUsername: `${underscored}_admin`,
    poolAppRole: `${underscored}_pool_app`,
    alarmName: (metric) => `${prefix}-host-${name}-${metric}`,
    finalSnapshotIdentifier: (at) => finalSnapshotOf(`${prefix}-host-${name}`, at),
  };
}

/** The tags on every resource Silo creates for a shared host. */
export function hostTags(
  host: { id: string; name: string; placement: SharedPlacement; tier: string },
  environment: string,
): Record<string, string> {
  return {
    'silo:host-id': host.id,
    'silo:host-name': host.name,
    'silo:placement': host.placement,
    'silo:tier': host.tier,
    'silo:environment': environment,
    'managed-by': 'silo',
  };
}
