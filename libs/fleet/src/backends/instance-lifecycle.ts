import {
  parameterGroupName,
  TERMINAL_INSTANCE_STATES,
  type InstanceSpec,
  type InstanceView,
  type RdsInstances,
  type SecretJson,
} from '@silo/aws';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import type { TierProfile } from '../tiers';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from './tenant-database-host';

/**
 * What a tenant's instance and a shared host's instance have in common, from CreateDBInstance to
 * a PostgreSQL server that answers: the sagas of both call these, each with its own names,
 * tags and records.
 */

/**
 * The CreateDBInstance request for an instance sized and protected by `profile`, encrypted with
 * the tenants' key, in Silo's parameter group for the profile's engine family
 * (`<prefix>-postgres<major>`: logical replication on, for moves; made by `RdsInstances.create`).
 */
export function instanceSpec(
  profile: TierProfile,
  settings: Pick<ProvisioningSettings, 'prefix' | 'kmsKeyId' | 'subnetGroup' | 'securityGroupIds'>,
  instance: {
    identifier: string;
    databaseName: string;
    master: { username: string; password: string };
    tags: Record<string, string>;
  },
): InstanceSpec {
  return {
    identifier: instance.identifier,
    engineVersion: profile.engineVersion,
    instanceClass: profile.instanceClass,
    databaseName: instance.databaseName,
    masterUsername: instance.master.username,
    masterPassword: instance.master.password,
    storage: profile.storage,
    multiAz: profile.multiAz,
    deletionProtection: profile.deletionProtection,
    backupRetentionDays: profile.backupRetentionDays,
    performanceInsights: profile.performanceInsights,
    kmsKeyId: settings.kmsKeyId,
    subnetGroupName: settings.subnetGroup,
    securityGroupIds: settings.securityGroupIds,
    parameterGroupName: parameterGroupName(settings.prefix, profile.engineVersion),
    tags: instance.tags,
  };
}

/**
 * The instance once RDS says it is available; a wait before that (the job comes back, never
 * sleeping in a worker). A missing instance, or one in a terminal state, fails for good.
 */
export async function whenAvailable(
  rds: Pick<RdsInstances, 'describe'>,
  identifier: string,
): Promise<{ kind: 'available'; view: InstanceView } | { kind: 'wait'; reason: string }> {
  const view = await rds.describe(identifier);
  if (!view) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `RDS instance ${identifier} disappeared while waiting for it`,
    );
  }
  if (TERMINAL_INSTANCE_STATES.has(view.status)) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INSTANCE_TERMINAL_STATE,
      `RDS instance ${identifier} is ${view.status}`,
    );
  }
  if (view.status !== 'available') return { kind: 'wait', reason: `instance is ${view.status}` };
  return { kind: 'available', view };
}

/**
 * Never sleeps: once the instance is available ({@link whenAvailable}), the backend makes sure
 * its database answers with the master credentials.
 */
export async function startWhenAvailable(
  rds: Pick<RdsInstances, 'describe'>,
  backend: Pick<TenantDatabaseHost, 'start'>,
  identifier: string,
  master: () => Promise<{ username: string; password: string }>,
): Promise<{ kind: 'done' } | { kind: 'wait'; reason: string }> {
  const found = await whenAvailable(rds, identifier);
  if (found.kind === 'wait') return found;
  const { username, password } = await master();
  await backend.start({
    identifier,
    rdsEndpoint: found.view.endpoint,
    masterUsername: username,
    masterPassword: password,
  });
  return { kind: 'done' };
}

/**
 * Deletes an instance the tenant owns with no final snapshot (what a failed or ended change made
 * beside the tenant) and, once RDS no longer knows it, what the backend made for it: `wait` while
 * it cannot be deleted yet or is being deleted. Idempotent.
 */
export async function removeInstanceWithoutSnapshot(
  deps: { rds: Pick<RdsInstances, 'delete' | 'describe'>; host: Pick<TenantDatabaseHost, 'remove'> },
  instance: { identifier: string; ownerTenantId: string; roles: string[]; keepAutomatedBackups?: boolean },
): Promise<{ kind: 'removed' } | { kind: 'wait'; reason: string }> {
  const { identifier, ownerTenantId } = instance;
  const outcome = await deps.rds.delete(identifier, {
    ownerTenantId,
    ...(instance.keepAutomatedBackups && { deleteAutomatedBackups: false }),
  });
  if (outcome === 'busy') return { kind: 'wait', reason: `${identifier} cannot be deleted yet` };
  if ((outcome === 'deleting' || outcome === 'already-deleting') && (await deps.rds.describe(identifier)))
    return { kind: 'wait', reason: `${identifier} is being deleted` };
  await deps.host.remove({ identifier, roles: instance.roles });
  return { kind: 'removed' };
}

/** Where an instance that {@link startWhenAvailable} saw answers; it must still exist. */
export async function publishedEndpoint(
  rds: Pick<RdsInstances, 'describe'>,
  backend: Pick<TenantDatabaseHost, 'endpointOf'>,
  identifier: string,
): Promise<TenantDatabaseEndpoint> {
  const view = await rds.describe(identifier);
  if (!view) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `RDS instance ${identifier} is gone`,
    );
  }
  return backend.endpointOf({ identifier, rdsEndpoint: view.endpoint });
}

/** The connection fields of an RDS secret's JSON: where the instance's database answers. */
export function connectionFields(endpoint: TenantDatabaseEndpoint, instanceIdentifier: string): SecretJson {
  return {
    engine: 'postgres',
    host: endpoint.host,
    port: endpoint.port,
    dbname: endpoint.database,
    dbInstanceIdentifier: instanceIdentifier,
  };
}
