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
  alarmName(metric: string): string;
  finalSnapshotIdentifier(at: Date): string;
}

export function tenantResourceNames(prefix: string, slug: string): TenantResourceNames {
  const underscored = `${prefix}_${slug}`.replace(/-/g, '_');
  return {
    instanceIdentifier: `${prefix}-${slug}`,
    masterSecretName: `${prefix}/${slug}/master`,
    appSecretName: `${prefix}/${slug}/app`,
    masterUsername: `${underscored}_admin`,
    appRole: `${underscored}_app`,
    alarmName: (metric) => `${prefix}-${slug}-${metric}`,
    finalSnapshotIdentifier: (at) =>
      `${prefix}-${slug}-final-${at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase()}`,
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
