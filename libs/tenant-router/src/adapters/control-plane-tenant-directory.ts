import {
  HOST_NAME_PATTERN,
  isPlacement,
  tenantResourceNames,
} from '@silo/core/provisioning/tenant-resource-names';
import { isTenantId } from '@silo/core/tenant/tenant-id';
import { isTenantStatus } from '@silo/core/tenant/tenant-status';
import { isTierName } from '@silo/core/tenant/tier';
import { quoteIdentifier } from '@silo/core/sql/sql-identifier';
import type { DataSource } from 'typeorm';
import type {
  RestoreCopyEntry,
  RestoreCopyStatus,
  TenantDirectory,
  TenantDirectoryEntry,
  TenantPlacement,
} from '../tenant-router.types';

/** An AWS region name (`eu-central-1`, `us-gov-west-1`). */
const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
/** The largest PostgreSQL integer (a run is one). */
const MAX_INTEGER = 2_147_483_647;

interface TenantRow {
  id: string;
  slug: string;
  tier: unknown;
  status: unknown;
  schema_version: string | null;
  placement: unknown;
  host_id: string | null;
  host_name: string | null;
  region: string | null;
  route_version: unknown;
  writes_paused: unknown;
}

interface RestoreCopyRow {
  tenant_id: string;
  run: unknown;
  status: unknown;
  region: string | null;
  reader_secret_name: unknown;
  expires_at: unknown;
}

const RESTORE_COPY_STATUSES: readonly RestoreCopyStatus[] = ['AVAILABLE', 'REMOVING', 'REMOVED'];

/**
 * A tenant's restore copy of one run, from the control plane's view
 * `data_plane.tenant_restore_copies`, which the data-plane login may read beside the directory.
 */
export const RESTORE_COPY_SQL =
  'SELECT tenant_id, run, status, region, reader_secret_name, expires_at ' +
  'FROM data_plane.tenant_restore_copies WHERE tenant_id = $1 AND run = $2';

/**
 * The one query: a tenant, its placement and, for a shared one, its host's id and name, from the
 * control plane's view `data_plane.tenant_directory` (its tenants joined with their hosts), the
 * one thing the data-plane login `silo_data_plane` may read there.
 */
export const TENANT_DIRECTORY_SQL =
  'SELECT id, slug, tier, status, schema_version, placement, host_id, host_name, region, route_version, writes_paused ' +
  'FROM data_plane.tenant_directory WHERE id = $1';

/**
 * Reads tenants from the control plane's view `data_plane.tenant_directory` (id, slug, tier,
 * status, schema_version, placement, host_id, host_name, region, route_version, writes_paused). Give it a connection logged in as
 * `silo_data_plane`, which may read that view and nothing else (docs/data-plane.md, "The tenant
 * directory"); the router caches what it returns for its status TTL, so this is one indexed
 * lookup per tenant per TTL. A `schema` tenant's schema is its derived name under `prefix`
 * (`tenantResourceNames`).
 */
export class ControlPlaneTenantDirectory implements TenantDirectory {
  constructor(
    private readonly controlPlane: Pick<DataSource, 'query'>,
    /** SILO_RESOURCE_PREFIX, as the worker named the tenants' schemas. */
    private readonly prefix: string,
  ) {}

  async find(tenantId: string): Promise<TenantDirectoryEntry | null> {
    if (!isTenantId(tenantId)) return null;
    const rows = await this.controlPlane.query<TenantRow[]>(TENANT_DIRECTORY_SQL, [tenantId]);
    const row = rows[0];
    if (!row) return null;
    // The table's checks keep these in range; a value this build does not know means the control
    // plane is newer than the app, which must not be read as some other tier, status or placement.
    if (!isTierName(row.tier)) throw new Error(`tenant ${row.id} has tier ${String(row.tier)}, unknown here`);
    if (!isTenantStatus(row.status)) {
      throw new Error(`tenant ${row.id} has status ${String(row.status)}, unknown here`);
    }
    return {
      id: row.id,
      slug: row.slug,
      tier: row.tier,
      status: row.status,
      schemaVersion: row.schema_version,
      placement: this.placementOf(row, row.status),
      region: this.regionOf(row),
      routeVersion: this.routeVersionOf(row),
      writesPaused: row.writes_paused === true,
    };
  }

  /**
   * The tenant's restore copy of restore change `run` ({@link RESTORE_COPY_SQL}), whatever its
   * status; null when it has none, or for what is not a tenant id or a run, without asking.
   */
  async findRestoreCopy(tenantId: string, run: number): Promise<RestoreCopyEntry | null> {
    if (!isTenantId(tenantId) || !Number.isSafeInteger(run) || run < 1 || run > MAX_INTEGER) return null;
    const rows = await this.controlPlane.query<RestoreCopyRow[]>(RESTORE_COPY_SQL, [tenantId, run]);
    const row = rows[0];
    if (!row) return null;
    const what = `the restore copy ${run} of tenant ${tenantId}`;
    if (!RESTORE_COPY_STATUSES.includes(row.status as RestoreCopyStatus))
      throw new Error(`${what} has status ${String(row.status)}, unknown here`);
    if (typeof row.reader_secret_name !== 'string' || row.reader_secret_name.length === 0)
      throw new Error(`${what} names no reader secret`);
    // pg answers a timestamptz as a Date; other drivers may give its text.
    const expiresAt =
      row.expires_at instanceof Date
        ? row.expires_at
        : new Date(typeof row.expires_at === 'string' ? row.expires_at : Number.NaN);
    if (Number.isNaN(expiresAt.getTime())) throw new Error(`${what} has no valid expiry`);
    return {
      tenantId: row.tenant_id,
      run: Number(row.run),
      status: row.status as RestoreCopyStatus,
      region: this.regionOf({ id: tenantId, region: row.region }),
      readerSecretName: row.reader_secret_name,
      expiresAt,
    };
  }

  private regionOf(row: { id: string; region: string | null }): string | null {
    if (row.region === null) return null;
    // Names a Secrets Manager endpoint: nothing but an AWS region's shape.
    if (typeof row.region !== 'string' || !REGION_PATTERN.test(row.region))
      throw new Error(
        `tenant ${row.id} has region ${JSON.stringify(String(row.region).slice(0, 40))}, not a region`,
      );
    return row.region;
  }

  private routeVersionOf(row: TenantRow): number {
    // pg answers an integer column as a number; a bigint one would come as a string.
    const version = typeof row.route_version === 'string' ? Number(row.route_version) : row.route_version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
      throw new Error(
        `tenant ${row.id} has route version ${String(row.route_version)}, not a positive integer`,
      );
    return version;
  }

  private placementOf(row: TenantRow, status: string): TenantPlacement | null {
    if (!isPlacement(row.placement)) {
      throw new Error(`tenant ${row.id} has placement ${String(row.placement)}, unknown here`);
    }
    switch (row.placement) {
      case 'instance':
        return { kind: 'instance' };
      case 'schema': {
        const schema = tenantResourceNames(this.prefix, row.slug).tenantSchema;
        quoteIdentifier(schema, `schema of tenant ${row.id}`);
        return { kind: 'schema', schema };
      }
      case 'pool': {
        // Placed once its onboarding takes a place; before that (never ACTIVE) there is no host.
        if (row.host_id === null) {
          if (status === 'ACTIVE' || status === 'SUSPENDED')
            throw new Error(`tenant ${row.id} is pooled and ${status} but placed on no host`);
          return null;
        }
        if (row.host_name === null || !HOST_NAME_PATTERN.test(row.host_name))
          throw new Error(`tenant ${row.id} is pooled on host ${row.host_id}, which has no valid name`);
        return { kind: 'pool', hostId: row.host_id, hostName: row.host_name };
      }
    }
  }
}
