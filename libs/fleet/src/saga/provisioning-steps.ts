import {
  connectionFields,
  instanceSpec,
  publishedEndpoint,
  startWhenAvailable,
} from '../backends/instance-lifecycle';
import { RdsInstances, TenantAlarms, TenantExports, TenantSecrets, type SecretJson } from '@silo/aws';
import { APP_SCHEMA, ProvisioningError, ProvisioningErrorCode, type TenantResourceNames } from '@silo/core';
import {
  appLoginRoles,
  TenantMigrationError,
  type MigrationTarget,
  type TenantMigrateResult,
} from '@silo/tenant-schema';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from '../backends/tenant-database-host';
import type {
  ProvisioningStore,
  SagaContext,
  SagaLog,
  StepCompletion,
  TenantRecord,
} from '../store/provisioning-store';
import type { SharedHosts } from '../placements/shared-hosts';
import type { OwnerCredentials, TenantDatabaseAdmin } from '../tenant-database-admin';
import type { TierProfile } from '../tiers';
import { generatePassword } from './passwords';
import type { ProvisioningSettings } from './provisioning-settings';
import { tenantAlarmSpecs } from './tenant-alarm-specs';

export const PROVISION_STEPS = [
  'prepare-credentials',
  'create-instance',
  'wait-available',
  'publish-connection',
  'bootstrap-database',
  'run-migrations',
  'create-alarms',
  'activate',
] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];

/** `recorded`: the step marked itself done in its own transaction (see {@link StepCompletion}). */
export type StepResult = { kind: 'done'; recorded?: true } | { kind: 'wait'; reason: string };

/** Everything one step of one tenant's run needs. */
export interface StepRun {
  tenant: TenantRecord;
  names: TenantResourceNames;
  profile: TierProfile;
  tags: Record<string, string>;
  ctx: SagaContext;
  /** Secret values read or written during this pass, so each is fetched once per pass. Never persisted. */
  secretValues: Map<string, SecretJson>;
}

export interface StepDeps {
  store: ProvisioningStore;
  rds: RdsInstances;
  secrets: TenantSecrets;
  alarms: TenantAlarms;
  host: TenantDatabaseHost;
  admin: TenantDatabaseAdmin;
  settings: ProvisioningSettings;
  /** Shared tenants' places on hosts (`schema` and `pool` placements). */
  hosts: SharedHosts;
  /** Where a deleted shared tenant's data is exported to (S3). */
  exports: TenantExportStore & { inRegion?(region: string): TenantExportStore };
}

/** What the sagas do with exports: write one at a deletion, read one back at an undelete. */
export type TenantExportStore = Pick<TenantExports, 'put' | 'read' | 'describe'>;

const DONE: StepResult = { kind: 'done' };

/**
 * The provisioning steps. Each is idempotent: run again after a crash at any point, it finds
 * what the earlier run made (by deterministic names) and continues.
 */
export class ProvisioningSteps {
  constructor(
    private readonly deps: StepDeps,
    private readonly log?: SagaLog,
  ) {}

  /** `completion` is how the step is recorded as done, for a step that must do so itself. */
  run(step: ProvisionStep, run: StepRun, completion: StepCompletion): Promise<StepResult> {
    switch (step) {
      case 'prepare-credentials':
        return this.prepareCredentials(run);
      case 'create-instance':
        return this.createInstance(run);
      case 'wait-available':
        return this.waitAvailable(run);
      case 'publish-connection':
        return this.publishConnection(run);
      case 'bootstrap-database':
        return this.bootstrapDatabase(run);
      case 'run-migrations':
        return this.runMigrations(run);
      case 'create-alarms':
        return this.createAlarms(run);
      case 'activate':
        return this.activate(run, completion);
    }
  }

  /** The master secret is written before the instance exists, so no crash can lose the password. */
  private async prepareCredentials(run: StepRun): Promise<StepResult> {
    const { tenant, names, tags } = run;
    const { secrets, store, settings } = this.deps;
    const value = { engine: 'postgres', username: names.masterUsername, password: generatePassword() };
    const { arn, created } = await secrets.create(names.masterSecretName, value, {
      tags,
      kmsKeyId: settings.kmsKeyId,
      ownerTenantId: tenant.id,
    });
    // Created now: this value is the secret. Already there (a re-run): the stored one is kept.
    if (created) run.secretValues.set(names.masterSecretName, value);
    await store.updateDatabaseFacts(tenant.id, { masterSecretArn: arn });
    await this.master(run);
    return DONE;
  }

  private async createInstance(run: StepRun): Promise<StepResult> {
    const { tenant, names, profile, tags } = run;
    const { rds, store, settings } = this.deps;
    const master = await this.master(run);
    await rds.create(
      instanceSpec(profile, settings, {
        identifier: names.instanceIdentifier,
        databaseName: settings.databaseName,
        master,
        tags,
      }),
      tenant.id,
    );
    await store.updateDatabaseFacts(tenant.id, {
      instanceIdentifier: names.instanceIdentifier,
      instanceClass: profile.instanceClass,
      engine: 'postgres',
      engineVersion: profile.engineVersion,
      multiAz: profile.multiAz,
      storageEncrypted: true,
    });
    return DONE;
  }

  /** Never sleeps: an instance that is not available yet makes the job wait and come back. */
  private waitAvailable(run: StepRun): Promise<StepResult> {
    return startWhenAvailable(this.deps.rds, this.deps.host, run.names.instanceIdentifier, () =>
      this.master(run),
    );
  }

  /** Completes the master secret into the RDS secret JSON shape. */
  private async publishConnection(run: StepRun): Promise<StepResult> {
    const { tenant, names } = run;
    const { rds, host, secrets, store } = this.deps;
    const endpoint = await publishedEndpoint(rds, host, names.instanceIdentifier);
    const master = await this.master(run);
    const completed = {
      ...master.secret,
      ...connectionFields(endpoint, names.instanceIdentifier),
      username: master.username,
      password: master.password,
    };
    await secrets.write(names.masterSecretName, completed);
    run.secretValues.set(names.masterSecretName, completed);
    await store.updateDatabaseFacts(tenant.id, {
      endpointHost: endpoint.host,
      endpointPort: endpoint.port,
      databaseName: endpoint.database,
    });
    return DONE;
  }

  /**
   * The app secret is written before the role, for the same reason as the master secret. It names
   * the first of the alternating logins (`…_app_a`), a member of the app role that holds the grants.
   */
  private async bootstrapDatabase(run: StepRun): Promise<StepResult> {
    const { tenant, names } = run;
    const endpoint = this.endpoint(tenant, names);
    await bootstrapTenantApp(this.deps, run, {
      endpoint,
      owner: await this.owner(run),
      connection: connectionFields(endpoint, names.instanceIdentifier),
      schema: APP_SCHEMA,
      log: this.log,
    });
    return DONE;
  }

  /** The newest version of the tenant schema, whatever a rollout running meanwhile targets. */
  private async runMigrations(run: StepRun): Promise<StepResult> {
    const { tenant, names } = run;
    const { store } = this.deps;
    const result = await migrateForProvisioning(
      this.deps,
      this.endpoint(tenant, names),
      await this.owner(run),
      tenant.slug,
      { placement: 'instance', schema: APP_SCHEMA, tenantId: tenant.id },
    );
    await store.updateDatabaseFacts(tenant.id, { schemaVersion: result.schemaVersion });
    return DONE;
  }

  private async createAlarms({ names, profile, tags }: StepRun): Promise<StepResult> {
    for (const alarm of tenantAlarmSpecs(names, profile, {
      actions: this.deps.settings.alarmActions,
      tags,
    })) {
      await this.deps.alarms.put(alarm);
    }
    return DONE;
  }

  /** ACTIVE and this step done in one transaction: a crash cannot leave one without the other. */
  private async activate({ tenant, ctx }: StepRun, completion: StepCompletion): Promise<StepResult> {
    await this.deps.store.transition(
      tenant.id,
      'PROVISIONING',
      'ACTIVE',
      { sagaStartedAt: null, completeStep: completion },
      { type: 'tenant.activated', message: `tenant ${tenant.slug} is ACTIVE`, data: { tier: tenant.tier } },
      ctx,
    );
    return { kind: 'done', recorded: true };
  }

  /** Where the tenant database answers, from what publish-connection recorded. */
  endpoint(tenant: TenantRecord, names: TenantResourceNames): TenantDatabaseEndpoint {
    const { endpointHost, endpointPort } = tenant.database;
    return this.deps.host.endpointOf({
      identifier: names.instanceIdentifier,
      rdsEndpoint: endpointHost && endpointPort ? { host: endpointHost, port: endpointPort } : null,
    });
  }

  async owner(run: StepRun): Promise<OwnerCredentials> {
    const { username, password } = await this.master(run);
    return { username, password };
  }

  /** The master secret, read from Secrets Manager at most once per pass. */
  private async master(run: StepRun): Promise<{ username: string; password: string; secret: SecretJson }> {
    const { names } = run;
    let secret = run.secretValues.get(names.masterSecretName) ?? null;
    if (!secret) {
      secret = await this.deps.secrets.read(names.masterSecretName);
      if (secret) run.secretValues.set(names.masterSecretName, secret);
    }
    const username = secret?.username;
    const password = secret?.password;
    if (typeof username !== 'string' || typeof password !== 'string' || !password) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${names.masterSecretName} is missing or has no username and password`,
      );
    }
    return { username, password, secret: secret! };
  }
}

/**
 * Writes the tenant's app secret (`<prefix>/<slug>/app`: `connection` and the first app login
 * with a new password) unless it exists, then makes the app role and that login converge to the
 * stored secret in `endpoint`'s database, reaching `schema` only, with the tenant as the logins'
 * `app.tenant_id`. The secret comes first, so a crash between the two never loses the password;
 * a re-run keeps the user and password already stored (the app role itself, when an earlier
 * version wrote the secret).
 */
export async function bootstrapTenantApp(
  deps: Pick<StepDeps, 'secrets' | 'store' | 'admin' | 'settings'>,
  run: StepRun,
  spec: {
    endpoint: TenantDatabaseEndpoint;
    owner: OwnerCredentials;
    connection: SecretJson;
    schema: string;
    /** The app roles' CONNECTION LIMIT; default none (an instance's own max_connections bounds it). */
    connectionLimit?: number;
    log?: SagaLog;
  },
): Promise<void> {
  const { tenant, names, tags } = run;
  const { secrets, store, admin, settings } = deps;
  const value = {
    ...spec.connection,
    username: appLoginRoles(names.appRole)[0],
    password: generatePassword(),
  };
  const { arn, created } = await secrets.create(names.appSecretName, value, {
    tags,
    kmsKeyId: settings.kmsKeyId,
    ownerTenantId: tenant.id,
  });
  await store.updateDatabaseFacts(tenant.id, { appSecretArn: arn });
  const stored = created ? value : await secrets.read(names.appSecretName);
  const { username, password } = stored ?? {};
  if (
    typeof password !== 'string' ||
    !password ||
    (username !== names.appRole && !appLoginRoles(names.appRole).includes(String(username)))
  ) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `secret ${names.appSecretName} has no password or names a user other than the app logins`,
    );
  }
  const { revokedMemberships } = await admin.bootstrapAppRole(spec.endpoint, spec.owner, {
    role: names.appRole,
    ...(username !== names.appRole && { login: String(username) }),
    password,
    schema: spec.schema,
    ...(spec.connectionLimit !== undefined && { connectionLimit: spec.connectionLimit }),
    tenantId: tenant.id,
  });
  if (revokedMemberships.length > 0) {
    spec.log?.warn(
      { tenantId: tenant.id, revokedMemberships },
      'revoked role memberships granted to the app roles by hand',
    );
  }
}

/**
 * Provisioning's run of the tenant migrations into `into`: the newest version, applied as
 * `provision`; a refused or failed migration a ProvisioningError (retryable when running again may
 * succeed).
 */
export async function migrateForProvisioning(
  deps: Pick<StepDeps, 'admin' | 'settings'>,
  endpoint: TenantDatabaseEndpoint,
  owner: OwnerCredentials,
  slug: string,
  into: MigrationTarget,
): Promise<TenantMigrateResult> {
  const { admin, settings } = deps;
  try {
    return await admin.runMigrations(endpoint, owner, settings.migrations, {
      ...settings.migrationTimeouts,
      appliedBy: 'provision',
      tenant: slug,
      into,
    });
  } catch (error) {
    if (!(error instanceof TenantMigrationError)) throw error;
    throw new ProvisioningError(
      error.retryable ? ProvisioningErrorCode.DATABASE_UNAVAILABLE : ProvisioningErrorCode.DATABASE_REJECTED,
      error.message,
      { cause: error },
    );
  }
}
