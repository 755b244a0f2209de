import type { Role } from '@silo/auth';
import { RdsInstances } from '@silo/aws';
import { OutboxMessageEntity, TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { tenantTags } from '@silo/core';
import { DataSource } from 'typeorm';
import { snapshotList, snapshotRequested } from '../src/tenants/tenant-snapshot.responses';
import { tenantResource } from '../src/tenants/tenant.responses';
import type { ApiHarness } from './api-harness';
import { backupApiFixture } from './backup-api-fixture';

jest.setTimeout(60_000);

/**
 * The snapshot routes against the API alone (no worker runs here): what a snapshot request
 * records and refuses, and the snapshots RDS (moto) and a deleted shared tenant's events hold.
 */
describe('snapshots of tenants (GET/POST /v1/tenants/{id}/snapshots)', () => {
  const fixture = backupApiFixture('sn', 'tenant_snapshots');
  const { prefix, http, tenant, withInstance } = fixture;
  let api: ApiHarness;
  let ds: DataSource;
  let rds: RdsInstances;
  beforeAll(() => {
    ({ api, ds, rds } = fixture.started());
  });

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

  it("records a schema or pool tenant's snapshot as an export of its data, and refuses one that is not live (409), recording nothing", async () => {
    const pooled = await tenant('pooled', 'pool');
    const asked = await take(pooled.slug);
    expect(asked.status).toBe(202);
    const answered = snapshotRequested.parse(asked.body);
    expect(answered.identifier).toMatch(
      new RegExp(`^${prefix}/exports/${pooled.slug}/\\d{8}-\\d{6}\\.ndjson$`),
    );
    expect((await jobs(pooled.id)).map((j) => j.payload)).toEqual([
      expect.objectContaining({
        tenantId: pooled.id,
        snapshotIdentifier: answered.identifier,
        exportKind: 'rows',
      }),
    ]);

    const failed = await tenant('failed', 'instance', { status: 'FAILED' });
    const busy = await take(failed.id);
    expect([busy.status, busy.body.tenantStatus]).toEqual([409, 'FAILED']);
    const gone = await tenant('gone', 'schema', { status: 'DELETED' });
    expect((await take(gone.id)).status).toBe(409);

    for (const t of [gone, failed]) {
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
