import type { Role } from '@silo/auth';
import { RdsInstances } from '@silo/aws';
import {
  OutboxMessageEntity,
  TenantChangeEntity,
  TenantEntity,
  TenantEventEntity,
  TenantRestoreCopyEntity,
} from '@silo/control-plane-db';
import type { RestorePlan } from '@silo/fleet';
import { DataSource } from 'typeorm';
import { restoreCopyList, restoreCopyResource } from '../src/tenants/tenant-restore.responses';
import { tenantResource } from '../src/tenants/tenant.responses';
import type { ApiHarness } from './api-harness';
import { backupApiFixture, HOME } from './backup-api-fixture';

jest.setTimeout(60_000);

/**
 * The restore routes against the API alone (no worker runs here): what a restore request records,
 * what it refuses and why, and the copies as the saga leaves them, written directly.
 */
describe('restores of tenants (POST/GET /v1/tenants/{id}/restores, DELETE …/restores/{run})', () => {
  const fixture = backupApiFixture('rs', 'tenant_restores');
  const { prefix, http, tenant, withInstance } = fixture;
  let api: ApiHarness;
  let ds: DataSource;
  let rds: RdsInstances;
  beforeAll(() => {
    ({ api, ds, rds } = fixture.started());
  });

  const restore = async (idOrSlug: string, body: unknown, roles: Role[] = ['admin']) =>
    http()
      .post(`/v1/tenants/${idOrSlug}/restores`)
      .set('authorization', await api.auth(roles, 'restore-admin'))
      .send(body as object);
  const copies = async (idOrSlug: string, roles: Role[] = ['sre']) =>
    http()
      .get(`/v1/tenants/${idOrSlug}/restores`)
      .set('authorization', await api.auth(roles));
  const removeCopy = async (idOrSlug: string, run: string | number, roles: Role[] = ['admin']) =>
    http()
      .delete(`/v1/tenants/${idOrSlug}/restores/${run}`)
      .set('authorization', await api.auth(roles, 'restore-admin'));
  const changes = (tenantId: string) =>
    ds.getRepository(TenantChangeEntity).find({ where: { tenantId }, order: { run: 'ASC' } });
  const jobs = (tenantId: string) =>
    ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
      .getMany();
  const eventsOf = (tenantId: string, type: string) =>
    ds.getRepository(TenantEventEntity).find({ where: { tenantId, type }, order: { id: 'ASC' } });
  const AT = '2026-12-07T10:32:00Z';

  it('is admin’s only to request (403 for ops and sre), and 404 for a tenant that does not exist', async () => {
    const t = await tenant('roles', 'instance');
    for (const roles of [['ops'], ['sre'], ['ops', 'sre']] as Role[][]) {
      expect((await restore(t.id, { source: { latest: true }, mode: 'copy' }, roles)).status).toBe(403);
      expect((await removeCopy(t.id, 1, roles)).status).toBe(403);
    }
    expect((await copies(t.id, ['ops'])).status).toBe(403);
    expect(await changes(t.id)).toEqual([]);
    const missing = await restore('no-such-tenant', { source: { latest: true }, mode: 'copy' });
    expect([missing.status, missing.body.detail]).toEqual([404, 'No tenant has this id or slug.']);
    expect((await copies('no-such-tenant')).status).toBe(404);
    expect((await removeCopy('no-such-tenant', 1)).status).toBe(404);
  });

  it('refuses a body that is not {source, mode} with exactly one source kind (400 naming the field)', async () => {
    const t = await tenant('badbody', 'instance');
    const cases: [unknown, string][] = [
      [{}, 'source'],
      [{ source: { latest: true } }, 'mode'],
      [{ source: { latest: true }, mode: 'overwrite' }, 'mode'],
      [{ source: { latest: true }, mode: 'copy', extra: 1 }, 'extra'],
      [{ source: { latest: true, extra: 1 }, mode: 'copy' }, 'source.extra'],
      [{ source: {}, mode: 'copy' }, 'source'],
      [{ source: { pointInTime: AT, latest: true }, mode: 'copy' }, 'source'],
      [{ source: { pointInTime: 'yesterday' }, mode: 'copy' }, 'source.pointInTime'],
      [{ source: { pointInTime: '2026-12-07T10:32' }, mode: 'copy' }, 'source.pointInTime'],
      [{ source: { latest: false }, mode: 'copy' }, 'source.latest'],
      [{ source: { snapshot: '' }, mode: 'copy' }, 'source.snapshot'],
      [{ source: 'latest', mode: 'copy' }, 'source'],
      [[], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await restore(t.id, body);
      expect([body, res.status]).toEqual([body, 400]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect([body, res.body.errors]).toEqual([
        body,
        expect.arrayContaining([expect.objectContaining({ field, message: expect.any(String) })]),
      ]);
    }
    const none = await http()
      .post(`/v1/tenants/${t.id}/restores`)
      .set('authorization', await api.auth(['admin']));
    expect(none.status).toBe(400);
    expect(await changes(t.id)).toEqual([]);
  });

  it('refuses what Silo cannot restore with 422 naming the rule, and records nothing', async () => {
    const pooled = await tenant('pooled', 'pool');
    const live = await withInstance('windowed');
    // Its instance is not in RDS: no restorable backups.
    const gone = await tenant('gone', 'instance');
    const cases: [TenantEntity, object, Record<string, unknown>][] = [
      [
        pooled,
        { source: { snapshot: 'rds:anything' }, mode: 'copy' },
        { rule: 'restore-not-supported', placement: 'pool' },
      ],
      // Its host's instance is not in RDS: nothing to restore it from.
      [pooled, { source: { latest: true }, mode: 'copy' }, { rule: 'no-backups' }],

      [
        live,
        { source: { snapshot: 'rds:anything' }, mode: 'copy' },
        { rule: 'snapshot-unknown', snapshot: 'rds:anything' },
      ],
      [gone, { source: { latest: true }, mode: 'copy' }, { rule: 'no-backups' }],
      [
        live,
        { source: { pointInTime: '2020-01-01T00:00:00Z' }, mode: 'copy' },
        { rule: 'outside-restore-window', earliest: expect.any(String), latest: expect.any(String) },
      ],
    ];
    for (const [t, body, expected] of cases) {
      const res = await restore(t.id, body);
      expect([body, res.status]).toEqual([body, 422]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ title: 'Unprocessable Content', status: 422, ...expected });
      expect(res.body.detail).toEqual(expect.any(String));
    }
    const outside = await restore(live.id, { source: { pointInTime: '2020-01-01T00:00:00Z' }, mode: 'copy' });
    const { earliest, latest } = outside.body as { earliest: string; latest: string };
    expect(new Date(earliest).toISOString()).toBe(earliest);
    expect(new Date(latest).getTime()).toBeGreaterThanOrEqual(new Date(earliest).getTime());
    expect(new Date(earliest).getTime()).toBeGreaterThan(new Date('2020-01-01T00:00:00Z').getTime());

    for (const t of [pooled, live, gone]) {
      expect(await changes(t.id)).toEqual([]);
      expect(await jobs(t.id)).toEqual([]);
    }
  });

  it('records a restore as a copy (a change of kind restore RUNNING) and its job; another change is then 409', async () => {
    const t = await withInstance('restoring');
    expect((await copies(t.slug)).body).toEqual({ items: [] });
    const window = (await rds.restorableWindow(t.dbInstanceIdentifier!))!;
    const at = window.earliest.toISOString();

    const res = await restore(t.slug, { source: { pointInTime: at }, mode: 'copy' });
    expect(res.status).toBe(202);
    const view = tenantResource.parse(res.body);
    // Nothing is restored yet: the worker runs the saga, the tenant is untouched.
    expect(view).toMatchObject({ id: t.id, status: 'ACTIVE', placement: 'instance', tier: 'enterprise' });
    expect(view.change).toMatchObject({
      kind: 'restore',
      run: 1,
      from: `pointInTime ${at}`,
      to: 'copy',
      apply: 'now',
      status: 'RUNNING',
      steps: [],
      error: null,
      requestedBy: 'restore-admin',
      finishedAt: null,
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password/i);

    const [change] = await changes(t.id);
    expect(change.plan as unknown as RestorePlan).toMatchObject({
      mode: 'copy',
      source: { pointInTime: at },
      restoreTime: at,
      sourceInstance: t.dbInstanceIdentifier,
      region: HOME,
      copy: {
        instanceIdentifier: `${prefix}-restore-${t.slug}-1`,
        readerSecretName: `${prefix}/restore-${t.slug}-1/app`,
      },
    });
    expect((await jobs(t.id)).map((j) => [j.jobName, j.jobId])).toEqual([
      ['restore-tenant', `restore-${t.id}-1`],
    ]);
    expect(await eventsOf(t.id, 'tenant.change_requested')).toEqual([
      expect.objectContaining({
        actor: 'restore-admin',
        data: expect.objectContaining({ kind: 'restore', run: 1 }),
      }),
    ]);
    // No copy until the saga has made it.
    expect((await copies(t.id)).body).toEqual({ items: [] });

    const again = await restore(t.id, { source: { latest: true }, mode: 'copy' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ heldBy: 'change', tenant: t.slug });
    expect((await changes(t.id)).map((c) => c.run)).toEqual([1]);
  });

  it('lists the copies newest first, names their secrets only, and removes one now on request', async () => {
    const t = await tenant('copies', 'instance');
    const expiresAt = new Date(Date.now() + 72 * 3600_000);
    const copy = (run: number, over: Partial<TenantRestoreCopyEntity> = {}) =>
      ds.getRepository(TenantRestoreCopyEntity).insert({
        tenantId: t.id,
        run,
        status: 'AVAILABLE',
        source: { pointInTime: AT },
        region: null,
        instanceIdentifier: `${prefix}-restore-${t.slug}-${run}`,
        readerSecretName: `${prefix}/restore-${t.slug}-${run}/app`,
        masterSecretName: `${prefix}/restore-${t.slug}-${run}/master`,
        endpointHost: 'copy.internal',
        endpointPort: 5432,
        databaseName: 'app',
        expiresAt,
        ...over,
      });
    await copy(1, { status: 'REMOVED', removedAt: new Date(), source: { latest: true } });
    await copy(2);

    const listed = await copies(t.id);
    expect(listed.status).toBe(200);
    const { items } = restoreCopyList.parse(listed.body);
    expect(items.map((c) => [c.run, c.status])).toEqual([
      [2, 'AVAILABLE'],
      [1, 'REMOVED'],
    ]);
    expect(items[0]).toEqual({
      run: 2,
      status: 'AVAILABLE',
      source: { pointInTime: AT },
      region: HOME,
      instanceIdentifier: `${prefix}-restore-${t.slug}-2`,
      readerSecretName: `${prefix}/restore-${t.slug}-2/app`,
      endpoint: { host: 'copy.internal', port: 5432, database: 'app' },
      createdAt: expect.any(String),
      expiresAt: expiresAt.toISOString(),
      removedAt: null,
    });
    expect(items[1]).toMatchObject({ source: { latest: true }, removedAt: expect.any(String) });
    expect(JSON.stringify(listed.body)).not.toMatch(/password|master/i);
    expect((await copies(t.id, ['admin'])).status).toBe(200);

    const removed = await removeCopy(t.slug, 2);
    expect(removed.status).toBe(202);
    const answered = restoreCopyResource.parse(removed.body);
    expect(answered).toMatchObject({ run: 2, status: 'AVAILABLE' });
    expect(new Date(answered.expiresAt).getTime()).toBeLessThanOrEqual(Date.now());
    expect((await jobs(t.id)).map((j) => [j.jobName, j.jobId])).toEqual([
      ['remove-restore-copy', `remove-restore-copy-${t.id}-2-now`],
    ]);
    expect(await eventsOf(t.id, 'tenant.restore_copy_removal_requested')).toEqual([
      expect.objectContaining({ actor: 'restore-admin', data: { run: 2 } }),
    ]);
    // A removed copy is answered as it is, and nothing more is queued.
    const again = await removeCopy(t.id, 1);
    expect([again.status, again.body.status]).toEqual([202, 'REMOVED']);
    expect(await jobs(t.id)).toHaveLength(1);
  });

  it('answers 404 for a copy that does not exist and 400 for a run that is not a positive integer', async () => {
    const t = await tenant('norun', 'instance');
    const missing = await removeCopy(t.id, 7);
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe(`${t.slug} has no restore copy 7.`);
    for (const run of ['0', '-1', '1.5', 'abc', '01', '99999999999']) {
      const res = await removeCopy(t.id, run);
      expect([run, res.status]).toEqual([run, 400]);
      expect(res.body.errors).toEqual([{ field: 'path.run', message: expect.any(String) }]);
    }
    expect(await jobs(t.id)).toEqual([]);
  });
});
