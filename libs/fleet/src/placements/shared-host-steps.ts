import { tenantExportKey, type TenantExportKind } from '@silo/aws';
import type { Readable } from 'node:stream';
import {
  hostResourceNames,
  ProvisioningError,
  ProvisioningErrorCode,
  type SharedPlacement,
} from '@silo/core';
import type { TenantDatabaseEndpoint } from '../backends/tenant-database-host';
import { HostError } from '../hosts/host.errors';
import { placementRequestOf } from '../hosts/host-allocator';
import type { StepDeps, StepRun } from '../saga/provisioning-steps';
import type { StepCompletion } from '../store/provisioning-store';
import type { OwnerCredentials } from '../tenant-database-admin';
import { classifyPgError } from '../tenant-database-errors';
import { isSharedTierProfile } from '../tiers';
import type { PlacementStepResult } from './placement-lifecycle';
import type { SharedHostView } from './shared-hosts';

/** A host that answers: where, and as its owner (the host's master user). */
export interface HostAccess {
  host: SharedHostView;
  endpoint: TenantDatabaseEndpoint;
  owner: OwnerCredentials;
}

/**
 * The steps and reads every shared placement has: taking a place on a host, waiting for the host
 * and reaching its database as its owner. Only the tenant's own `placement` decides; the host is
 * the one its record names.
 */
export class SharedHostSteps {
  constructor(
    private readonly deps: StepDeps,
    private readonly placement: SharedPlacement,
  ) {}

  /**
   * A place on a host of the tier with room, made by the allocator in one control-plane
   * transaction (a placed tenant keeps its host, so a re-run changes nothing). A new host record
   * is `creating` until the host saga has made it.
   */
  async place(run: StepRun): Promise<PlacementStepResult> {
    const { tenant, profile } = run;
    if (!isSharedTierProfile(profile) || profile.placement !== this.placement) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `tenant ${tenant.slug} is a ${this.placement} tenant, but tier ${tenant.tier} now places its tenants on ${profile.placement}`,
      );
    }
    try {
      const { host, hostCreated } = await this.deps.hosts.place(tenant.id, placementRequestOf(profile));
      return { kind: 'done', data: { host: host.name, hostCreated } };
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      throw new ProvisioningError(ProvisioningErrorCode.INCONSISTENT_STATE, error.message, { cause: error });
    }
  }

  /** Never sleeps: a host still being created makes the job wait and come back; a failed one fails the tenant. */
  async waitHost(run: StepRun): Promise<PlacementStepResult> {
    const host = await this.placedHost(run);
    switch (host.status) {
      case 'available':
        return { kind: 'done', data: { host: host.name } };
      case 'creating':
        return { kind: 'wait', reason: `host ${host.name} is being created` };
      case 'failed':
        throw new ProvisioningError(
          ProvisioningErrorCode.INSTANCE_TERMINAL_STATE,
          `host ${host.name} failed${host.error ? `: ${host.error.message}` : ''}`,
        );
      case 'deleting':
      case 'deleted':
        throw new ProvisioningError(
          ProvisioningErrorCode.INCONSISTENT_STATE,
          `host ${host.name} is ${host.status}; a tenant cannot be placed on it`,
        );
    }
  }

  /** ACTIVE and this step done in one transaction, as for instance tenants. */
  async activate(run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    const { tenant, ctx } = run;
    await this.deps.store.transition(
      tenant.id,
      'PROVISIONING',
      'ACTIVE',
      { sagaStartedAt: null, completeStep: completion },
      {
        type: 'tenant.activated',
        message: `tenant ${tenant.slug} is ACTIVE`,
        data: { tier: tenant.tier, placement: tenant.placement },
      },
      ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /** DELETED and this step done in one transaction; the place counts no more (see TransitionPatch.releasePlace). */
  async markDeleted(run: StepRun, completion: StepCompletion): Promise<PlacementStepResult> {
    const { tenant, ctx } = run;
    await this.deps.store.transition(
      tenant.id,
      'DEPROVISIONING',
      'DELETED',
      { sagaStartedAt: null, completeStep: completion, releasePlace: true },
      { type: 'tenant.deleted', message: `tenant ${tenant.slug} is DELETED`, data: {} },
      ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /**
   * Exports the tenant's data before it is removed: `body` streamed to an encrypted S3 object
   * `<prefix>/exports/<slug>/<timestamp>.<ext>` with the tenant's tags and a retention of
   * TENANT_EXPORT_RETENTION_DAYS. The timestamp is when deletion was requested, so a re-run after
   * a crash writes the same object again rather than a second one. A tenant with no host that
   * answers (never placed, a failed or deleted host) has nothing to export.
   */
  async exportData(
    run: StepRun,
    kind: Extract<TenantExportKind, 'schema-dump' | 'rows'>,
    body: (access: HostAccess) => Readable,
    /** The export's time (its key's); default when the deletion was requested. */
    when?: Date,
  ): Promise<PlacementStepResult> {
    const access = await this.reachableHost(run);
    if (!access) return { kind: 'done', data: { skipped: 'the tenant has no host that answers' } };
    const { settings, exports } = this.deps;
    const { tenant, tags } = run;
    const at = when ?? tenant.sagaStartedAt ?? new Date();
    const key = tenantExportKey(settings.prefix, tenant.slug, kind, at);
    try {
      const stored = await exports.put(key, body(access), {
        kind,
        kmsKeyId: settings.kmsKeyId,
        tags,
        retainUntil: new Date(at.getTime() + settings.exportRetentionDays * 86_400_000),
      });
      return { kind: 'done', data: { bucket: stored.bucket, key: stored.key, bytes: stored.bytes } };
    } catch (error) {
      throw classifyPgError(error, `exporting the data of ${tenant.slug}`);
    }
  }

  /**
   * The tenant's data to S3 as its placement exports it (a schema tenant's `pg_dump`, a pooled
   * tenant's rows), at `when` (see {@link exportData}): at its deletion, or asked for as a manual
   * snapshot.
   */
  exportTenant(run: StepRun, when?: Date): Promise<PlacementStepResult> {
    const { admin } = this.deps;
    return this.placement === 'schema'
      ? this.exportData(
          run,
          'schema-dump',
          ({ endpoint, owner }) =>
            admin.dumpTenantSchema(endpoint, owner, {
              schema: run.names.tenantSchema,
              tenantId: run.tenant.id,
            }),
          when,
        )
      : this.exportData(
          run,
          'rows',
          ({ endpoint, owner }) => admin.exportTenantRows(endpoint, owner, { tenantId: run.tenant.id }),
          when,
        );
  }

  /** Undoes `place`: the tenant's place given back (idempotent). */
  async release(run: StepRun): Promise<void> {
    await this.deps.hosts.release(run.tenant.id);
  }

  /**
   * The tenant's host, if it still answers (available): its endpoint and its owner's credentials
   * from the host's master secret. Null for a tenant not placed or a host that is not available
   * (failed, being deleted: what the tenant had there goes with the host).
   */
  async reachableHost(run: StepRun): Promise<HostAccess | null> {
    if (!run.tenant.hostId) return null;
    const host = await this.deps.hosts.host(run.tenant.hostId);
    if (!host || host.status !== 'available') return null;
    return this.access(run, host);
  }

  /** {@link reachableHost} for a step that cannot go on without it. */
  async hostAccess(run: StepRun): Promise<HostAccess> {
    const host = await this.placedHost(run);
    if (host.status !== 'available') {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `host ${host.name} is ${host.status}, not available`,
      );
    }
    return this.access(run, host);
  }

  private async placedHost(run: StepRun): Promise<SharedHostView> {
    const { tenant } = run;
    const host = tenant.hostId ? await this.deps.hosts.host(tenant.hostId) : null;
    if (!host) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `tenant ${tenant.slug} is not placed on a host`,
      );
    }
    return host;
  }

  private async access(run: StepRun, host: SharedHostView): Promise<HostAccess> {
    const endpoint = this.deps.host.endpointOf({
      identifier: host.instanceIdentifier,
      rdsEndpoint: host.endpoint,
    });
    const secretName = hostResourceNames(this.deps.settings.prefix, host.name).masterSecretName;
    let secret = run.secretValues.get(secretName) ?? null;
    if (!secret) {
      secret = await this.deps.secrets.read(secretName);
      if (secret) run.secretValues.set(secretName, secret);
    }
    const { username, password } = secret ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || !password) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${secretName} is missing or has no username and password`,
      );
    }
    return { host, endpoint, owner: { username, password } };
  }
}
