import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { instanceAdminUrl } from '../../../test/support/test-services';
import { TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { localSnapshot } from '../../tenant-schema/src';
import { SAGA_DEPS, TenantOnboarding, TenantSnapshots } from '../src';
import type { StepDeps } from '../src/saga/provisioning-steps';

jest.setTimeout(240_000);

const prefix = `sn${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'snapshots-1' };

/** A manual snapshot of an instance tenant through the worker, against moto, Redis and the local backend. */
describe('a manual snapshot of an instance tenant (snapshot-tenant job)', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let ds: DataSource;

  beforeAll(async () => {
    database = await createOwnDatabase('snapshots');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ...fastLocalSagaEnvironment(),
    });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  it('keeps the database’s dump on the local backend and has RDS take the snapshot tagged as the tenant’s', async () => {
    const { tenant } = await app
      .get(TenantOnboarding)
      .createTenant({ slug: `snap-${uniqueToken(2)}`, name: 'snap', tier: 'enterprise' }, CTX);
    const live = await eventually(
      async () => {
        const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
        if (row.status === 'FAILED')
          throw new Error(`tenant failed: ${row.failureStep} ${row.failureMessage}`);
        expect(row.status).toBe('ACTIVE');
        return row;
      },
      120_000,
      100,
    );
    const instance = live.dbInstanceIdentifier!;

    const { identifier } = await app.get(TenantSnapshots).requestSnapshot(tenant.id, CTX);
    const taken = await eventually(
      async () => {
        const events = await ds.getRepository(TenantEventEntity).find({
          where: [
            { tenantId: tenant.id, type: 'tenant.snapshot_taken' },
            { tenantId: tenant.id, type: 'tenant.snapshot_failed' },
          ],
        });
        expect(events).toHaveLength(1);
        return events[0];
      },
      60_000,
      100,
    );
    expect([taken.type, taken.data]).toEqual(['tenant.snapshot_taken', { snapshot: identifier, instance }]);

    expect(await localSnapshot(instanceAdminUrl(), identifier)).toMatchObject({
      instanceIdentifier: instance,
    });
    const snapshot = await app.get<StepDeps>(SAGA_DEPS).rds.snapshot(identifier);
    expect(snapshot).toMatchObject({
      identifier,
      type: 'manual',
      instanceIdentifier: instance,
      tags: expect.objectContaining({
        'silo:tenant-id': tenant.id,
        'silo:tenant-slug': live.slug,
        'silo:tier': 'enterprise',
        'managed-by': 'silo',
      }),
    });
    const listed = await app.get(TenantSnapshots).snapshots(live);
    expect(listed).toContainEqual(expect.objectContaining({ identifier, type: 'manual', restorable: true }));
  });
});
