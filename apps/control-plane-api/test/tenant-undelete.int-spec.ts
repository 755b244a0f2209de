import type { Role } from '@silo/auth';
import { TenantSecrets } from '@silo/aws';
import { OutboxMessageEntity, TenantChangeEntity, TenantEntity } from '@silo/control-plane-db';
import { tenantResourceNames, tenantTags } from '@silo/core';
import type { InstanceUndeletePlan } from '@silo/fleet';
import { DataSource } from 'typeorm';
import { tenantResource } from '../src/tenants/tenant.responses';
import type { ApiHarness } from './api-harness';
import { backupApiFixture, HOME } from './backup-api-fixture';

jest.setTimeout(60_000);

/**
 * The undelete route against the API alone (no worker runs here): what an undelete request
 * records, what it refuses and why, with DELETED tenants as a deletion leaves them (a final
 * snapshot in the emulator, secrets scheduled for deletion) written directly.
 */
describe('undeleting a tenant (POST /v1/tenants/{id}/undelete)', () => {
  const fixture = backupApiFixture('ud', 'tenant_undelete');
  const { prefix, http, tenant, withInstance } = fixture;
  let api: ApiHarness;
  let ds: DataSource;
  let secrets: TenantSecrets;
  beforeAll(() => {
    ({ api, ds } = fixture.started());
    secrets = api.app.get(TenantSecrets).inRegion(HOME);
  });

  const undelete = async (idOrSlug: string, roles: Role[] = ['admin']) =>
    http()
      .post(`/v1/tenants/${idOrSlug}/undelete`)
      .set('authorization', await api.auth(roles, 'undelete-admin'));
  const changes = (tenantId: string) => ds.getRepository(TenantChangeEntity).find({ where: { tenantId } });
  const jobs = (tenantId: string) =>
    ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
      .getMany();

  /** An instance tenant as its deletion leaves it: DELETED, a final snapshot, its secrets in their recovery window. */
  async function deletedWithSnapshot(
    label: string,
    options: { snapshot?: boolean } = {},
  ): Promise<TenantEntity> {
    const t = await withInstance(label);
    const names = tenantResourceNames(prefix, t.slug);
    const tags = tenantTags(t, api.config.resources.environment);
    for (const name of [names.masterSecretName, names.appSecretName]) {
      await secrets.create(name, { username: 'u', password: 'p' }, { tags, ownerTenantId: t.id });
      await secrets.delete(name, { recoveryWindowDays: 7 }, t.id);
    }
    const { rds } = fixture.started();
    await rds.delete(t.dbInstanceIdentifier!, {
      ownerTenantId: t.id,
      ...(options.snapshot !== false && {
        finalSnapshotIdentifier: names.finalSnapshotIdentifier(new Date()),
      }),
    });
    await ds.getRepository(TenantEntity).update({ id: t.id }, { status: 'DELETED' });
    return ds.getRepository(TenantEntity).findOneByOrFail({ id: t.id });
  }

  it('is admin’s only (403 for ops and sre, nothing recorded), and 404 for a tenant that does not exist', async () => {
    const t = await deletedWithSnapshot('roles');
    for (const roles of [['ops'], ['sre'], ['ops', 'sre']] as Role[][])
      expect((await undelete(t.id, roles)).status).toBe(403);
    expect(await changes(t.id)).toEqual([]);
    const missing = await undelete('no-such-tenant');
    expect([missing.status, missing.body.detail]).toEqual([404, 'No tenant has this id or slug.']);
  });

  it('records an undelete of a DELETED instance tenant: 202, the tenant still DELETED with its change RUNNING and the job in the outbox; a second ask is 409', async () => {
    const t = await deletedWithSnapshot('back');
    const res = await undelete(t.slug);
    expect(res.status).toBe(202);
    expect(tenantResource.safeParse(res.body).success).toBe(true);
    expect(res.body).toMatchObject({
      id: t.id,
      slug: t.slug,
      status: 'DELETED',
      change: { kind: 'undelete', status: 'RUNNING', to: 'ACTIVE' },
    });
    const [change] = await changes(t.id);
    const plan = change.plan as unknown as InstanceUndeletePlan;
    const names = tenantResourceNames(prefix, t.slug);
    expect(plan).toMatchObject({
      placement: 'instance',
      region: HOME,
      instanceIdentifier: names.instanceIdentifier,
      secrets: [{ name: names.masterSecretName }, { name: names.appSecretName }],
    });
    expect(plan.finalSnapshot).toMatch(new RegExp(`^${names.instanceIdentifier}-final-`));
    expect(new Date(plan.recoveryWindowEndsAt!).getTime()).toBeGreaterThan(Date.now());
    expect((await jobs(t.id)).map((j) => [j.jobName, j.jobId])).toEqual([
      ['undelete-tenant', `undelete-${t.id}-${change.run}`],
    ]);
    const again = await undelete(t.id);
    expect([again.status, again.body.heldBy]).toEqual([409, 'change']);
  });

  it('answers 409 naming the rule when there is nothing to undelete from, or the secrets are gone', async () => {
    const noSnapshot = await deletedWithSnapshot('nosnap', { snapshot: false });
    const refused = await undelete(noSnapshot.id);
    expect([refused.status, refused.body.rule]).toEqual([409, 'no-final-snapshot']);

    const late = await deletedWithSnapshot('late');
    const names = tenantResourceNames(prefix, late.slug);
    // What Secrets Manager does when the window ends: the secret is gone.
    await secrets.delete(names.appSecretName, { force: true }, late.id);
    const ended = await undelete(late.id);
    expect([ended.status, ended.body.rule, ended.body.secret]).toEqual([
      409,
      'recovery-window-ended',
      names.appSecretName,
    ]);
    expect(await changes(late.id)).toEqual([]);
    expect(await changes(noSnapshot.id)).toEqual([]);
  });

  it('answers 409 for a tenant that is not DELETED, and 409 no-export for a schema or pool tenant whose deletion exported nothing', async () => {
    const live = await tenant('live', 'instance');
    const notDeleted = await undelete(live.id);
    expect([notDeleted.status, notDeleted.body.tenantStatus]).toEqual([409, 'ACTIVE']);
    for (const placement of ['schema', 'pool'] as const) {
      const shared = await tenant(`sh${placement}`, placement, {
        status: 'DELETED',
        tier: placement === 'schema' ? 'pro' : 'starter',
      });
      const res = await undelete(shared.id);
      expect([res.status, res.body.rule]).toEqual([409, 'no-export']);
      expect(await changes(shared.id)).toEqual([]);
    }
  });
});
