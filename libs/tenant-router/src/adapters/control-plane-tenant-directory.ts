import { isTenantStatus, isTierName, isTenantId } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { TenantDirectory, TenantDirectoryEntry } from '../tenant-router.types';

/** Tenant ids are the control plane's uuids; anything else names no tenant (and is never sent as SQL). */

/**
 * Reads tenants from the control-plane `tenants` table: id, slug, tier, status and schema_version
 * only. Give it a DataSource whose role may only SELECT those columns; the router caches what it
 * returns for its status TTL, so this is one indexed lookup per tenant per TTL.
 */
export class ControlPlaneTenantDirectory implements TenantDirectory {
  constructor(private readonly controlPlane: Pick<DataSource, 'query'>) {}

  async find(tenantId: string): Promise<TenantDirectoryEntry | null> {
    if (!isTenantId(tenantId)) return null;
    const rows = await this.controlPlane.query<
      Array<{ id: string; slug: string; tier: unknown; status: unknown; schema_version: string | null }>
    >('SELECT id, slug, tier, status, schema_version FROM tenants WHERE id = $1', [tenantId]);
    const row = rows[0];
    if (!row) return null;
    // The table's checks keep both in range; a value this build does not know means the control
    // plane is newer than the app, which must not be read as some other tier or status.
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
    };
  }
}
