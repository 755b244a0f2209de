import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Role } from '@silo/auth';
import { parameterGroupName, RdsInstances } from '@silo/aws';
import { HostEntity, OutboxMessageEntity, TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { tenantTags, type Placement } from '@silo/core';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { snapshotList, snapshotRequested } from '../src/tenants/tenant-snapshot.responses';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

const [HOME] = TEST_REGIONS;

/**
 * The snapshot routes against the API alone (no worker runs here): what a snapshot request
 * records and refuses, and the snapshots RDS (moto) and a deleted shared tenant's events hold.
 */
describe('snapshots of tenants (GET/POST /v1/tenants/{id}/snapshots)', () => {
  const prefix = `sn${uniqueToken(3)}`;
  let database: { name: string; url: string };
  let profilesFile: string;
  let api: ApiHarness;
  let ds: DataSource;
  let rds: RdsInstances;
  let pool: HostEntity;
  const instances: { identifier: string; tenantId: string }[] = [];
  const http = () => request(api.app.getHttpServer());

  beforeAll(async () => {
    database = await createOwnDatabase('tenant_snapshots');
    // Starter pooled, enterprise an instance each (backups kept 35 days).
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

  const take = async (idOrSlug: string, roles: Role[] = ['admin']) =>
    http()
      .post(`/v1/tenants/${idOrSlug}/snapshots`)
      .set('authorization', await api.auth(roles, 'snapshot-admin'));
  const list = async (idOrSlug: string, roles: Role[] = ['sre']) =>
    http()
      .get(`/v1/tenants/${idOrSlug}/snapshots`)
      .set('authorization', await api.auth(roles));
  const jobs = (tenantId: string) =>
    ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
      .getMany();
  const eventsOf = (tenantId: string, type: string) =>
    ds.getRepository(TenantEventEntity).find({ where: { tenantId, type }, order: { id: 'ASC' } });

  it('is admin’s only to request (403 for ops and sre), sre’s and admin’s to list, and 404 for a tenant that does not exist', async () => {
    const t = await tenant('roles', 'instance');
    for (const roles of [['ops'], ['sre'], ['ops', 'sre']] as Role[][])
      expect((await take(t.id, roles)).status).toBe(403);
    expect((await list(t.id, ['ops'])).status).toBe(403);
    expect((await list(t.id, ['admin'])).status).toBe(200);
    expect(await jobs(t.id)).toEqual([]);
    const missing = await take('no-such-tenant');
    expect([missing.status, missing.body.detail]).toEqual([404, 'No tenant has this id or slug.']);
    expect((await list('no-such-tenant')).status).toBe(404);
  });

  it('refuses a schema or pool tenant (422 snapshot-not-supported) and one that is not live (409), recording nothing', async () => {
    const pooled = await tenant('pooled', 'pool');
    const refused = await take(pooled.slug);
    expect(refused.status).toBe(422);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 422, rule: 'snapshot-not-supported', placement: 'pool' });
    expect(refused.body.detail).toMatch(/exported/);

    const failed = await tenant('failed', 'instance', { status: 'FAILED' });
    const busy = await take(failed.id);
    expect([busy.status, busy.body.tenantStatus]).toEqual([409, 'FAILED']);

    for (const t of [pooled, failed]) {
      expect(await jobs(t.id)).toEqual([]);
      expect(await eventsOf(t.id, 'tenant.snapshot_requested')).toEqual([]);
    }
  });

  it('records a manual snapshot: 202 with its name, its job in the outbox and the request’s event', async () => {
    const t = await tenant('manual', 'instance', { status: 'SUSPENDED' });
    const before = Date.now();
    const res = await take(t.slug);
    expect(res.status).toBe(202);
    const answered = snapshotRequested.parse(res.body);
    expect(answered.status).toBe('requested');
    expect(answered.identifier).toMatch(new RegExp(`^${t.dbInstanceIdentifier}-manual-\\d{8}-\\d{6}$`));
    const stamp = answered.identifier.slice(-15);
    const at = new Date(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`,
    );
    expect(Math.abs(at.getTime() - before)).toBeLessThan(5_000);

    const [job] = await jobs(t.id);
    expect([job.jobName, job.jobId, job.payload]).toEqual([
      'snapshot-tenant',
      `snapshot-${t.id}-${stamp}`,
      { tenantId: t.id, instanceIdentifier: t.dbInstanceIdentifier, snapshotIdentifier: answered.identifier },
    ]);
    expect(await eventsOf(t.id, 'tenant.snapshot_requested')).toEqual([
      expect.objectContaining({
        actor: 'snapshot-admin',
        data: { snapshot: answered.identifier, instance: t.dbInstanceIdentifier },
      }),
    ]);
  });

  it('lists an instance tenant’s snapshots from RDS, oldest first, restorable when available', async () => {
    const t = await withInstance('listed');
    const instance = t.dbInstanceIdentifier!;
    const empty = snapshotList.parse((await list(t.id)).body);
    expect(empty.items.filter((s) => s.type === 'manual')).toEqual([]);

    const tags = tenantTags(t, api.config.resources.environment);
    for (const n of [1, 2])
      await rds.createSnapshot(instance, `${instance}-manual-${n}`, { tags, ownerTenantId: t.id });

    const res = await list(t.slug);
    expect(res.status).toBe(200);
    const { items } = snapshotList.parse(res.body);
    const manual = items.filter((s) => s.type === 'manual');
    expect(manual.map((s) => s.identifier)).toEqual([`${instance}-manual-1`, `${instance}-manual-2`]);
    expect(manual[0]).toEqual({
      identifier: `${instance}-manual-1`,
      type: 'manual',
      status: 'available',
      createdAt: expect.any(String),
      restorable: true,
      export: null,
    });
    const times = items.map((s) => s.createdAt ?? '9999');
    expect([...times].sort()).toEqual(times);
  });

  it('lists a deleted shared tenant’s exports from its events, and nothing for one that lives', async () => {
    const live = await tenant('shared', 'schema');
    expect((await list(live.id)).body).toEqual({ items: [] });

    const gone = await tenant('gone', 'pool', { status: 'DELETED' });
    const key = `${prefix}/exports/${gone.slug}/20261207-103200.ndjson`;
    await ds.getRepository(TenantEventEntity).insert({
      tenantId: gone.id,
      type: 'step.completed',
      message: 'export-rows done',
      actor: 'system:worker',
      data: { step: 'export-rows', saga: 'deprovision', attempts: 1, bucket: 'exports', key, bytes: 42 },
    });
    const { items } = snapshotList.parse((await list(gone.slug)).body);
    expect(items).toEqual([
      {
        identifier: key,
        type: 'export',
        status: 'available',
        createdAt: expect.any(String),
        restorable: false,
        export: { bucket: 'exports', key, bytes: 42 },
      },
    ]);
  });

  it('shows an estimated restorable window on a live instance tenant, and none on others', async () => {
    const createdAt = new Date(Date.now() - 3 * 86_400_000);
    const t = await tenant('window', 'instance');
    await ds.getRepository(TenantEntity).update({ id: t.id }, { createdAt });
    const view = tenantResource.parse(
      (
        await http()
          .get(`/v1/tenants/${t.id}`)
          .set('authorization', await api.auth(['ops']))
      ).body,
    );
    expect(view.restorable).toEqual({ earliest: createdAt.toISOString(), latest: expect.any(String) });
    const lag = Date.now() - new Date(view.restorable!.latest).getTime();
    expect(lag).toBeGreaterThanOrEqual(5 * 60_000);
    expect(lag).toBeLessThan(5 * 60_000 + 10_000);

    const pooled = await tenant('nowindow', 'pool');
    const other = tenantResource.parse(
      (
        await http()
          .get(`/v1/tenants/${pooled.id}`)
          .set('authorization', await api.auth(['ops']))
      ).body,
    );
    expect(other.restorable).toBeNull();
  });
});
