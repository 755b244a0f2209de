import {
  connectionFields,
  instanceSpec,
  publishedEndpoint,
  startWhenAvailable,
} from '../backends/instance-lifecycle';
import { type RdsInstances, type SecretJson, type TenantAlarms, type TenantSecrets } from '@silo/aws';
import type { HostEntity } from '@silo/control-plane-db';
import {
  APP_SCHEMA,
  isTierName,
  ProvisioningError,
  ProvisioningErrorCode,
  type HostResourceNames,
  type SharedPlacement,
} from '@silo/core';
import { appLoginRoles, TenantMigrationError } from '@silo/tenant-schema';
import type { TenantDatabaseEndpoint, TenantDatabaseHost } from '../backends/tenant-database-host';
import { generatePassword } from '../saga/passwords';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import type { OwnerCredentials, TenantDatabaseAdmin } from '../tenant-database-admin';
import type { TierProfile } from '../tiers';
import { hostAlarmSpecs } from './host-alarm-specs';
import type { HostAwsResources } from './host-aws-resources';
import type { HostSagaLog } from './host-journal';
import type { HostStepCompletion, HostStepStore } from './host-step-store';

/** Every step a host's create saga may run, in order; a schema host skips the pool's two. */
export const HOST_CREATE_STEPS = [
  'prepare-credentials',
  'create-instance',
  'wait-available',
  'publish-connection',
  'pool-role',
  'migrate-pool',
  'create-alarms',
  'activate',
] as const;
export type HostCreateStep = (typeof HOST_CREATE_STEPS)[number];

const POOL_ONLY: readonly HostCreateStep[] = ['pool-role', 'migrate-pool'];

/** The create steps of a host of `placement`: a schema host needs nothing per host beyond its database. */
export function hostCreateSteps(placement: SharedPlacement): readonly HostCreateStep[] {
  return placement === 'pool' ? HOST_CREATE_STEPS : HOST_CREATE_STEPS.filter((s) => !POOL_ONLY.includes(s));
}

/** `recorded`: the step marked itself done in its own transaction. */
export type HostStepResult = { kind: 'done'; recorded?: true } | { kind: 'wait'; reason: string };

/** Everything the host sagas need. */
export interface HostSagaDeps {
  store: HostStepStore;
  /** The host's instance and secrets, ownership judged by the host's tag. */
  resources: HostAwsResources;
  rds: Pick<RdsInstances, 'describe'>;
  secrets: Pick<TenantSecrets, 'read' | 'write'>;
  alarms: Pick<TenantAlarms, 'put' | 'delete'>;
  /** The TENANT_DATABASE_HOST backend: RDS itself, or the local instance backend. */
  backend: TenantDatabaseHost;
  admin: Pick<TenantDatabaseAdmin, 'bootstrapAppRole' | 'runMigrations'>;
  settings: ProvisioningSettings;
}

/** One host's pass. */
export interface HostRun {
  host: HostEntity;
  names: HostResourceNames;
  tags: Record<string, string>;
  /** Secret values read or written during this pass, so each is fetched once per pass. Never persisted. */
  secretValues: Map<string, SecretJson>;
}

const DONE: HostStepResult = { kind: 'done' };

/**
 * The steps of a host's create saga. Each is idempotent: run again after a crash at any point,
 * it finds what the earlier run made (by the host's deterministic names and its tag) and goes on.
 */
export class HostCreateSteps {
  constructor(
    private readonly deps: HostSagaDeps,
    private readonly log: HostSagaLog,
  ) {}

  run(step: HostCreateStep, run: HostRun, completion: HostStepCompletion): Promise<HostStepResult> {
    switch (step) {
      case 'prepare-credentials':
        return this.prepareCredentials(run);
      case 'create-instance':
        return this.createInstance(run);
      case 'wait-available':
        return this.waitAvailable(run);
      case 'publish-connection':
        return this.publishConnection(run);
      case 'pool-role':
        return this.poolRole(run);
      case 'migrate-pool':
        return this.migratePool(run);
      case 'create-alarms':
        return this.createAlarms(run);
      case 'activate':
        return this.activate(run, completion);
    }
  }

  /** The master secret is written before the instance exists, so no crash can lose the password. */
  private async prepareCredentials(run: HostRun): Promise<HostStepResult> {
    const { host, names, tags } = run;
    const value = { engine: 'postgres', username: names.masterUsername, password: generatePassword() };
    const { created } = await this.deps.resources.createSecret(
      names.masterSecretName,
      value,
      { tags, kmsKeyId: this.deps.settings.kmsKeyId },
      host.id,
    );
    // Created now: this value is the secret. Already there (a re-run): the stored one is kept.
    if (created) run.secretValues.set(names.masterSecretName, value);
    await this.master(run);
    return DONE;
  }

  private async createInstance(run: HostRun): Promise<HostStepResult> {
    const { host, names, tags } = run;
    const { resources, settings } = this.deps;
    const profile = hostProfile(settings, host);
    const master = await this.master(run);
    await resources.createInstance(
      instanceSpec(profile, settings, {
        identifier: names.instanceIdentifier,
        databaseName: host.databaseName,
        master,
        tags,
      }),
      host.id,
    );
    return DONE;
  }

  /** Never sleeps: an instance that is not available yet makes the job wait and come back. */
  private waitAvailable(run: HostRun): Promise<HostStepResult> {
    return startWhenAvailable(this.deps.rds, this.deps.backend, run.names.instanceIdentifier, () =>
      this.master(run),
    );
  }

  /** Completes the master secret into the RDS secret JSON shape and records the endpoint on the host. */
  private async publishConnection(run: HostRun): Promise<HostStepResult> {
    const { host, names } = run;
    const { rds, backend, secrets, store } = this.deps;
    const endpoint = await publishedEndpoint(rds, backend, names.instanceIdentifier);
    const master = await this.master(run);
    const completed = {
      ...master.secret,
      ...connectionFields(endpoint, names.instanceIdentifier),
      username: master.username,
      password: master.password,
    };
    await secrets.write(names.masterSecretName, completed);
    run.secretValues.set(names.masterSecretName, completed);
    await store.recordEndpoint(host.id, {
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
    });
    return DONE;
  }

  /**
   * The pool's login secret is written before the role, for the same reason as the master secret.
   * It names the first of the alternating logins, a member of the pool's app role, which holds the
   * grants and no tenant: the router sets the tenant per transaction.
   */
  private async poolRole(run: HostRun): Promise<HostStepResult> {
    const { host, names, tags } = run;
    const { resources, secrets, admin, settings } = this.deps;
    const endpoint = this.endpoint(run);
    const [login] = appLoginRoles(names.poolAppRole);
    const value = {
      ...connectionFields(endpoint, names.instanceIdentifier),
      username: login,
      password: generatePassword(),
    };
    const { created } = await resources.createSecret(
      names.poolAppSecretName,
      value,
      { tags, kmsKeyId: settings.kmsKeyId },
      host.id,
    );
    // A re-run keeps the login and password already stored, so the roles converge to the secret.
    const stored = created ? value : await secrets.read(names.poolAppSecretName);
    const username = stored?.username;
    const password = stored?.password;
    if (
      typeof password !== 'string' ||
      !password ||
      !appLoginRoles(names.poolAppRole).includes(String(username))
    ) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${names.poolAppSecretName} has no password or names a user other than the pool logins`,
      );
    }
    // The pool's tenants share this login: its CONNECTION LIMIT is the host's connection budget.
    const { revokedMemberships } = await admin.bootstrapAppRole(endpoint, await this.owner(run), {
      role: names.poolAppRole,
      login: String(username),
      password,
      connectionLimit: host.connectionBudget,
    });
    if (revokedMemberships.length > 0) {
      this.log.warn(
        { hostId: host.id, revokedMemberships },
        'revoked role memberships granted to the pool roles by hand',
      );
    }
    return DONE;
  }

  /** The pool database's migrations, once for all its tenants; the version is the host's. */
  private async migratePool(run: HostRun): Promise<HostStepResult> {
    const { host } = run;
    const { admin, settings, store } = this.deps;
    let result;
    try {
      result = await admin.runMigrations(this.endpoint(run), await this.owner(run), settings.migrations, {
        ...settings.migrationTimeouts,
        appliedBy: 'provision',
        tenant: host.name,
        into: { placement: 'pool', schema: APP_SCHEMA },
      });
    } catch (error) {
      if (!(error instanceof TenantMigrationError)) throw error;
      throw new ProvisioningError(
        error.retryable
          ? ProvisioningErrorCode.DATABASE_UNAVAILABLE
          : ProvisioningErrorCode.DATABASE_REJECTED,
        error.message,
        { cause: error },
      );
    }
    await store.recordSchemaVersion(host.id, result.schemaVersion);
    return DONE;
  }

  private async createAlarms(run: HostRun): Promise<HostStepResult> {
    const { settings, alarms } = this.deps;
    for (const alarm of hostAlarmSpecs(run.names, hostProfile(settings, run.host), {
      actions: settings.alarmActions,
      tags: run.tags,
    })) {
      await alarms.put(alarm);
    }
    return DONE;
  }

  /** `available` and this step done in one transaction: a crash cannot leave one without the other. */
  private async activate(run: HostRun, completion: HostStepCompletion): Promise<HostStepResult> {
    const activated = await this.deps.store.activate(run.host.id, completion);
    if (!activated) {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `host ${run.host.name} is no longer being created`,
      );
    }
    return { kind: 'done', recorded: true };
  }

  /** Where the host's database answers, from what publish-connection recorded. */
  endpoint({ host, names }: HostRun): TenantDatabaseEndpoint {
    const { endpointHost, endpointPort } = host;
    return this.deps.backend.endpointOf({
      identifier: names.instanceIdentifier,
      rdsEndpoint: endpointHost && endpointPort ? { host: endpointHost, port: endpointPort } : null,
    });
  }

  private async owner(run: HostRun): Promise<OwnerCredentials> {
    const { username, password } = await this.master(run);
    return { username, password };
  }

  /** The master secret, read from Secrets Manager at most once per pass. */
  private async master(run: HostRun): Promise<{ username: string; password: string; secret: SecretJson }> {
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

/** The profile that sizes the host: its tier's, which must share hosts of the host's placement. */
export function hostProfile(settings: Pick<ProvisioningSettings, 'tiers'>, host: HostEntity): TierProfile {
  const profile = isTierName(host.tier) ? settings.tiers[host.tier] : undefined;
  if (!profile || profile.placement !== host.placement) {
    throw new ProvisioningError(
      ProvisioningErrorCode.INCONSISTENT_STATE,
      `tier ${host.tier} has no profile placing its tenants on ${host.placement} hosts`,
    );
  }
  return profile;
}
