import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { parameterGroupName, RdsInstances } from '@silo/aws';
import { HostEntity, TenantEntity } from '@silo/control-plane-db';
import { tenantTags, type Placement } from '@silo/core';
import request from 'supertest';
import type { App } from 'supertest/types';
import { DataSource } from 'typeorm';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { startApi, type ApiHarness } from './api-harness';

export const [HOME] = TEST_REGIONS;

/**
 * The API alone (no worker) on a control-plane database of its own, with the built-in tiers
 * (starter pooled, pro a schema each, enterprise an instance each, backups kept), one pool host,
 * and tenants written directly as placement leaves them: what the restore and snapshot routes
 * need. Registers its own beforeAll and afterAll; `started()` holds the API once it runs.
 */
export function backupApiFixture(label: string, databaseName: string) {
  const prefix = `${label}${uniqueToken(3)}`;
  let database: { name: string; url: string };
  let profilesFile: string;
  let api: ApiHarness;
  let ds: DataSource;
  let rds: RdsInstances;
  let pool: HostEntity;
  const instances: { identifier: string; tenantId: string }[] = [];
  const http = () => request(api.app.getHttpServer() as App);

  beforeAll(async () => {
    database = await createOwnDatabase(databaseName);
    profilesFile = builtInTierProfilesFile();
    api = await startApi(
      testConfig({
        DATABASE_URL: database.url,
        SILO_RESOURCE_PREFIX: prefix,
        SILO_TIER_PROFILES_FILE: profilesFile,
        RATE_LIMIT_MUTATIONS: '10000',
      }),
    );
    ds = api.app.get(DataSource);
    rds = api.app.get(RdsInstances).inRegion(HOME);
    pool = await ds.getRepository(HostEntity).save(
      ds.getRepository(HostEntity).create({
        name: 'pool-starter-001',
        placement: 'pool',
        tier: 'starter',
        ordinal: 1,
        status: 'available',
        region: HOME,
        instanceIdentifier: `${prefix}-host-pool-starter-001`,
        endpointHost: 'pool.internal',
        endpointPort: 5432,
        databaseName: 'pool',
        capacityTenants: 100,
        connectionBudget: 200,
        schemaVersion: '0003',
      }),
    );
  });

  afterAll(async () => {
    for (const { identifier, tenantId } of instances)
      await rds.delete(identifier, { ownerTenantId: tenantId }).catch(() => undefined);
    await api?.close();
    if (database) await dropDatabase(database.name);
    if (profilesFile) rmSync(dirname(profilesFile), { recursive: true, force: true });
  }, 60_000);

  /** A tenant as placement leaves it, made directly in the control plane. */
  const tenant = (
    label: string,
    placement: Placement,
    over: Partial<TenantEntity> = {},
  ): Promise<TenantEntity> => {
    const tier = placement === 'instance' ? 'enterprise' : 'starter';
    const slug = `${label}-${uniqueToken(2)}`;
    return ds.getRepository(TenantEntity).save(
      ds.getRepository(TenantEntity).create({
        slug,
        name: label,
        tier,
        status: 'ACTIVE',
        placement,
        region: HOME,
        schemaVersion: '0003',
        ...(placement === 'instance' ? { dbInstanceIdentifier: `${prefix}-${slug}` } : { hostId: pool.id }),
        ...over,
      }),
    );
  };

  /** An enterprise tenant whose instance exists in the emulator. */
  const withInstance = async (label: string): Promise<TenantEntity> => {
    const t = await tenant(label, 'instance');
    const identifier = t.dbInstanceIdentifier!;
    await rds.create(
      {
        identifier,
        engineVersion: '16.4',
        instanceClass: 'db.t3.micro',
        databaseName: 'app',
        masterUsername: 'silo_admin',
        masterPassword: randomBytes(18).toString('base64url'),
        storage: { type: 'gp3', allocatedGiB: 20 },
        multiAz: false,
        deletionProtection: false,
        backupRetentionDays: 7,
        performanceInsights: { enabled: false },
        securityGroupIds: [],
        parameterGroupName: parameterGroupName(prefix, '16.4'),
        tags: tenantTags(t, api.config.resources.environment),
      },
      t.id,
    );
    instances.push({ identifier, tenantId: t.id });
    return t;
  };

  const started = () => ({ api, ds, rds, pool });
  return { prefix, started, http, tenant, withInstance };
}
