import { Injectable } from '@nestjs/common';
import { TenantError, TenantErrorCode } from '@silo/core';
import type { TenantEntity } from '@silo/control-plane-db';
import { estimatedRestorableWindow, HostQueries, ProvisioningSettings, TenantQueries } from '@silo/fleet';
import { FleetAlarms } from '../alarms/fleet-alarms.service';
import { tenantView } from './tenant.view';

/** One tenant as the tenant routes answer it: its steps, findings, latest change, alarms and host. */
@Injectable()
export class TenantViews {
  constructor(
    private readonly queries: TenantQueries,
    private readonly hosts: HostQueries,
    private readonly fleetAlarms: FleetAlarms,
    private readonly settings: ProvisioningSettings,
  ) {}

  /** The tenant of a route's `{idOrSlug}`; TENANT_NOT_FOUND (404) when there is none. */
  async required(idOrSlug: string): Promise<TenantEntity> {
    const tenant = await this.queries.findByIdOrSlug(idOrSlug);
    // Answered 404 by tenantErrorProblem.
    if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${idOrSlug}`);
    return tenant;
  }

  async view(found: TenantEntity): Promise<ReturnType<typeof tenantView>> {
    const [steps, findings, changes] = await Promise.all([
      this.queries.steps(found.id),
      this.queries.findingsOf([found.id]),
      this.queries.changesOf([found.id]),
    ]);
    // A change that ended after the tenant was read changed the tenant in its own transaction
    // (a tier change's new tier): read after the change, the tenant is at least as new as it.
    const ended = changes.get(found.id)?.change;
    const tenant =
      ended && ended.status !== 'RUNNING' ? ((await this.queries.findByIdOrSlug(found.id)) ?? found) : found;
    const firing = this.fleetAlarms.firingCounts();
    return tenantView(
      tenant,
      steps,
      findings.get(tenant.id) ?? [],
      changes.get(tenant.id) ?? null,
      firing ? (firing.get(tenant.id) ?? 0) : null,
      await this.hostOf(tenant),
      this.restorableOf(tenant),
    );
  }

  /** The tenant's restorable window, estimated from its tier (no AWS call: see estimatedRestorableWindow). */
  restorableOf(tenant: TenantEntity, now = new Date()) {
    return estimatedRestorableWindow(tenant, this.settings.tiers[tenant.tier]?.backupRetentionDays ?? 0, now);
  }

  /** The shared host a schema or pool tenant is placed on (null for instance tenants and before placement). */
  async hostOf(tenant: TenantEntity): Promise<{ id: string; name: string } | null> {
    if (!tenant.hostId) return null;
    const found = await this.hosts.find(tenant.hostId);
    return found ? { id: found.host.id, name: found.host.name } : null;
  }
}
