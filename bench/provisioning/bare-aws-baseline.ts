import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parameterGroupName, RdsInstances, TenantAlarms, TenantSecrets, type AwsClients } from '@silo/aws';
import { tenantResourceNames, tenantTags, TIER_NAMES } from '@silo/core';
import { tenantAlarmSpecs, type ProvisioningSettings } from '@silo/fleet';
import { type PhaseTimings } from './bench-report';

/**
 * The AWS calls of one tenant's provisioning and nothing else: no saga, no queue, no control-plane
 * database, no tenant database. They go through the same libs/aws adapters as the saga's (so the
 * requests are the same), `concurrency` tenants at a time, each tenant's calls in sequence.
 */
export async function runBareAwsBaseline(options: {
  aws: AwsClients;
  settings: ProvisioningSettings;
  tenants: number;
  concurrency: number;
  /** The slug of tenant `i`; only names come from it. */
  slug: (i: number) => string;
  signal: AbortSignal;
}): Promise<PhaseTimings> {
  const { aws, settings, signal } = options;
  const secrets = new TenantSecrets(aws);
  const rds = new RdsInstances(aws);
  const alarms = new TenantAlarms(aws);

  const oneTenant = async (i: number): Promise<void> => {
    const tier = TIER_NAMES[i % TIER_NAMES.length];
    const tenant = { id: randomUUID(), slug: options.slug(i), tier };
    const names = tenantResourceNames(settings.prefix, tenant.slug);
    const profile = settings.tiers[tier];
    const tags = tenantTags(tenant, settings.environment);
    const owner = { tags, kmsKeyId: settings.kmsKeyId, ownerTenantId: tenant.id };
    const masterPassword = password();

    await secrets.create(
      names.masterSecretName,
      { engine: 'postgres', username: names.masterUsername, password: masterPassword },
      owner,
    );
    await rds.create(
      {
        identifier: names.instanceIdentifier,
        engineVersion: profile.engineVersion,
        parameterGroupName: parameterGroupName(settings.prefix, profile.engineVersion),
        instanceClass: profile.instanceClass,
        databaseName: settings.databaseName,
        masterUsername: names.masterUsername,
        masterPassword,
        storage: profile.storage,
        multiAz: profile.multiAz,
        deletionProtection: profile.deletionProtection,
        backupRetentionDays: profile.backupRetentionDays,
        performanceInsights: profile.performanceInsights,
        kmsKeyId: settings.kmsKeyId,
        subnetGroupName: settings.subnetGroup,
        securityGroupIds: settings.securityGroupIds,
        tags,
      },
      tenant.id,
    );
    const view = await rds.describe(names.instanceIdentifier);
    const connection = {
      engine: 'postgres',
      host: view?.endpoint?.host ?? '127.0.0.1',
      port: view?.endpoint?.port ?? 5432,
      dbname: names.instanceIdentifier,
      dbInstanceIdentifier: names.instanceIdentifier,
    };
    await secrets.write(names.masterSecretName, {
      ...connection,
      username: names.masterUsername,
      password: masterPassword,
    });
    await secrets.create(
      names.appSecretName,
      { ...connection, username: names.appRole, password: password() },
      owner,
    );
    for (const alarm of tenantAlarmSpecs(names, profile, { actions: settings.alarmActions, tags })) {
      await alarms.put(alarm);
    }
  };

  const doneAtMs: number[] = [];
  const workMs: number[] = [];
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, options.tenants) }, async () => {
      while (next < options.tenants) {
        signal.throwIfAborted();
        const began = performance.now();
        await oneTenant(next++);
        const end = performance.now();
        workMs.push(end - began);
        doneAtMs.push(end - start);
      }
    }),
  );
  const cpu = process.cpuUsage(cpuStart);
  return {
    tenants: options.tenants,
    wallMs: performance.now() - start,
    cpuMs: (cpu.user + cpu.system) / 1000,
    timeToDoneMs: doneAtMs,
    workMs,
  };
}

/** The shape of the saga's generated passwords (32 URL-safe characters). */
function password(): string {
  return randomBytes(24).toString('base64url');
}
