import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { allInstances } from '../../../test/support/all-instances';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { availableHost } from '../../../test/support/shared-host-fixture';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import {
  fastLocalSagaEnvironment,
  TEST_REGIONS,
  testConfig,
  uniqueToken,
} from '../../../test/support/test-config';
import { AwsClients, type AwsClientSet } from '../../aws/src';
import { HostEntity, TenantEntity } from '../../control-plane-db/src';
import { TenantError, TenantErrorCode, tenantResourceNames } from '../../core/src';
import { TenantOnboarding } from '../src';

jest.setTimeout(180_000);

const [HOME, SECOND] = TEST_REGIONS;
const prefix = `rg${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'regions-1' };

/** What one region of the emulator holds under this test's prefix, read over its HTTP API. */
async function inRegion(clients: AwsClientSet) {
  const instances = await allInstances(clients.rds);
  const secrets = (
    await clients.secretsManager.send(new ListSecretsCommand({ IncludePlannedDeletion: true }))
  ).SecretList;
  const alarms = (await clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: `${prefix}-` })))
    .MetricAlarms;
  return {
    instances: instances.map((i) => i.DBInstanceIdentifier!).filter((id) => id.startsWith(`${prefix}-`)),
    instanceArns: instances
      .filter((i) => i.DBInstanceIdentifier!.startsWith(`${prefix}-`))
      .map((i) => i.DBInstanceArn!),
    secrets: (secrets ?? []).map((s) => s.Name!).filter((name) => name.startsWith(`${prefix}/`)),
    alarms: (alarms ?? []).map((a) => a.AlarmName!),
    alarmArns: (alarms ?? []).map((a) => a.AlarmArn!),
  };
}

describe('tenants of a second region, against moto (one server, every region), PostgreSQL and Redis', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;

  beforeAll(async () => {
    // A database of its own: the allocator must see this test's hosts only.
    database = await createOwnDatabase('regions');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile({
        starter: { tenantsPerHost: 5, connectionBudget: 100 },
        pro: { tenantsPerHost: 5, connectionBudget: 100 },
      }),
      ...fastLocalSagaEnvironment(),
      WORKER_CONCURRENCY: '4',
    });
    expect(config.regions.names).toEqual([HOME, SECOND]);
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    aws = new AwsClients(config);
    ds = app.get(DataSource);
    onboarding = app.get(TenantOnboarding);
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  });

  async function until(id: string, status: string, timeoutMs = 120_000): Promise<TenantEntity> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
      if (row.status === status) return row;
      if (row.status === 'FAILED' && status !== 'FAILED')
        throw new Error(`tenant failed: ${row.failureStep} ${row.failureCode} ${row.failureMessage}`);
      if (Date.now() > deadline) throw new Error(`tenant still ${row.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('makes an instance tenant of the second region there: instance, secrets and alarms, nothing in the first', async () => {
    const slug = `far-${uniqueToken(2)}`;
    const { tenant } = await onboarding.createTenant(
      { slug, name: 'Far Co', tier: 'enterprise', region: SECOND },
      CTX,
    );
    expect(tenant.region).toBe(SECOND);
    const active = await until(tenant.id, 'ACTIVE');
    expect(active.region).toBe(SECOND);

    const names = tenantResourceNames(prefix, slug);
    const second = await inRegion(aws.forRegion(SECOND));
    const home = await inRegion(aws.forRegion(HOME));
    expect(second.instances).toEqual([names.instanceIdentifier]);
    expect(second.instanceArns[0]).toContain(`:${SECOND}:`);
    expect(second.secrets.sort()).toEqual([names.appSecretName, names.masterSecretName].sort());
    expect(second.alarms).toHaveLength(4);
    expect(second.alarms.every((a) => a.startsWith(`${prefix}-${slug}-`))).toBe(true);
    expect(second.alarmArns.every((arn) => arn.includes(`:${SECOND}:`))).toBe(true);
    expect(home).toEqual({ instances: [], instanceArns: [], secrets: [], alarms: [], alarmArns: [] });
  });

  it('places a shared tenant of the second region on a new host there, though a first-region host of its tier has room', async () => {
    // An available pool host of the tier in the first region (region NULL: the default region's, as before regions).
    const { name: homeHost } = await availableHost({
      dataSource: ds,
      aws,
      prefix,
      placement: 'pool',
      tier: 'starter',
      ordinal: 1,
      capacity: 5,
    });
    const near = (
      await onboarding.createTenant({ slug: `near-${uniqueToken(2)}`, name: 'Near', tier: 'starter' }, CTX)
    ).tenant;
    const far = (
      await onboarding.createTenant(
        { slug: `pfar-${uniqueToken(2)}`, name: 'Pooled Far', tier: 'starter', region: SECOND },
        CTX,
      )
    ).tenant;
    expect(near.region).toBe(HOME);
    await until(near.id, 'ACTIVE');
    const farActive = await until(far.id, 'ACTIVE');

    const hosts = ds.getRepository(HostEntity);
    const nearHost = await hosts.findOneByOrFail({
      id: (await ds.getRepository(TenantEntity).findOneByOrFail({ id: near.id })).hostId!,
    });
    const farHost = await hosts.findOneByOrFail({ id: farActive.hostId! });
    expect(nearHost.name).toBe(homeHost);
    expect(farHost.name).not.toBe(homeHost);
    expect(farHost).toMatchObject({
      region: SECOND,
      placement: 'pool',
      tier: 'starter',
      status: 'available',
    });
    // The host's instance, secrets and alarms are in the second region; the first holds its own host only.
    const second = await inRegion(aws.forRegion(SECOND));
    expect(second.instances).toContain(farHost.instanceIdentifier);
    expect(second.secrets.filter((s) => s.includes(`/hosts/${farHost.name}/`))).toHaveLength(2);
    expect(second.alarms.filter((a) => a.includes(farHost.name))).toHaveLength(4);
    const home = await inRegion(aws.forRegion(HOME));
    expect(home.instances).not.toContain(farHost.instanceIdentifier);
    expect(home.secrets.filter((s) => s.includes(`/hosts/${farHost.name}/`))).toEqual([]);
    expect(home.alarms.filter((a) => a.includes(farHost.name))).toEqual([]);
  });

  it('refuses a region that is not configured, naming the configured ones', async () => {
    const attempt = onboarding.createTenant(
      { slug: `nope-${uniqueToken(2)}`, name: 'Nope', tier: 'starter', region: 'ap-south-1' },
      CTX,
    );
    await expect(attempt).rejects.toBeInstanceOf(TenantError);
    await expect(attempt).rejects.toMatchObject({
      code: TenantErrorCode.UNKNOWN_REGION,
      message: `region "ap-south-1" is not one of the configured regions (${HOME}, ${SECOND})`,
    });
    expect(await ds.getRepository(TenantEntity).countBy({ name: 'Nope' })).toBe(0);
  });
});
