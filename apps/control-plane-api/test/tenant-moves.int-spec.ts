import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@silo/auth';
import {
  HostEntity,
  OutboxMessageEntity,
  ProvisioningStepEntity,
  TenantChangeEntity,
  TenantEntity,
  TenantEventEntity,
} from '@silo/control-plane-db';
import type { Placement, TierName } from '@silo/core';
import { DEFAULT_TIER_PROFILES, type MovePlan } from '@silo/fleet';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

const [HOME, SECOND] = TEST_REGIONS;
const strip = <T extends { tier: string }>({ tier: _tier, ...rest }: T) => rest;

/**
 * starter and pro pooled on hosts sized alike, enterprise an instance each: a pooled tenant's
 * move to pro is one to a host of that tier, its move to enterprise one to an instance.
 */
const PROFILES = {
  starter: strip(DEFAULT_TIER_PROFILES.starter),
  pro: strip(DEFAULT_TIER_PROFILES.starter),
  enterprise: strip(DEFAULT_TIER_PROFILES.enterprise),
};

describe('moves of live tenants (POST /v1/tenants/{id}/move, …/move/abort)', () => {
  let database: { name: string; url: string };
  let profilesDir: string;
  let api: ApiHarness;
  let ds: DataSource;
  let pool: HostEntity;
  const http = () => request(api.app.getHttpServer());

  beforeAll(async () => {
    database = await createOwnDatabase('tenant_moves');
    profilesDir = mkdtempSync(join(tmpdir(), 'silo-tenant-moves-'));
    const file = join(profilesDir, 'tiers.json');
    writeFileSync(file, JSON.stringify({ tiers: PROFILES }));
    api = await startApi(
      testConfig({
        DATABASE_URL: database.url,
        SILO_RESOURCE_PREFIX: `mv${uniqueToken(3)}`,
        SILO_TIER_PROFILES_FILE: file,
        RATE_LIMIT_MUTATIONS: '10000',
      }),
    );
    ds = api.app.get(DataSource);
    pool = await ds.getRepository(HostEntity).save(
      ds.getRepository(HostEntity).create({
        name: 'pool-starter-001',
        placement: 'pool',
        tier: 'starter',
        ordinal: 1,
        status: 'available',
        region: HOME,
        instanceIdentifier: 'silo-host-pool-starter-001',
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
    await api?.close();
    if (database) await dropDatabase(database.name);
    if (profilesDir) rmSync(profilesDir, { recursive: true, force: true });
  }, 60_000);

  /** A live tenant as placement leaves it, made directly in the control plane. */
  const tenant = (
    label: string,
    placement: Placement,
    over: Partial<TenantEntity> = {},
  ): Promise<TenantEntity> => {
    const tier: TierName = placement === 'instance' ? 'enterprise' : 'starter';
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
        ...(placement === 'instance' ? { dbInstanceIdentifier: `silo-${slug}` } : { hostId: pool.id }),
        ...over,
      }),
    );
  };
  const move = async (idOrSlug: string, body: unknown, roles: Role[] = ['admin']) =>
    http()
      .post(`/v1/tenants/${idOrSlug}/move`)
      .set('authorization', await api.auth(roles, 'move-admin'))
      .send(body as object);
  const abort = async (idOrSlug: string, roles: Role[] = ['admin']) =>
    http()
      .post(`/v1/tenants/${idOrSlug}/move/abort`)
      .set('authorization', await api.auth(roles, 'move-admin'));
  const get = async (id: string) => {
    const res = await http()
      .get(`/v1/tenants/${id}`)
      .set('authorization', await api.auth(['sre']))
      .expect(200);
    return tenantResource.parse(res.body);
  };
  const changes = (tenantId: string) =>
    ds.getRepository(TenantChangeEntity).find({ where: { tenantId }, order: { run: 'ASC' } });
  const moveJobs = (tenantId: string) =>
    ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
      .andWhere(`o.job_name = 'move-tenant'`)
      .getMany();
  const eventsOf = async (tenantId: string, type: string) =>
    ds.getRepository(TenantEventEntity).find({ where: { tenantId, type }, order: { id: 'ASC' } });
  const moveStep = (
    tenantId: string,
    run: number,
    step: string,
    position: number,
    status: 'done' | 'running',
  ) =>
    ds.getRepository(ProvisioningStepEntity).insert({
      tenantId,
      saga: 'move',
      run,
      step,
      position,
      status,
      attempts: 1,
      failures: 0,
      startedAt: new Date(),
      finishedAt: status === 'done' ? new Date() : null,
    });

  it('refuses what Silo cannot move to with 422 naming the rule, and records nothing', async () => {
    const pooled = await tenant('pooled', 'pool');
    const schema = await tenant('schema', 'schema', { tier: 'pro' });
    const unmigrated = await tenant('unmigrated', 'pool', { schemaVersion: null });
    const cases: [TenantEntity, object, Record<string, unknown>][] = [
      // The placement follows the tier: starter pools its tenants.
      [
        pooled,
        { placement: 'instance', tier: 'starter' },
        { rule: 'placement-of-tier', tier: 'starter', tierPlacement: 'pool', placement: 'instance' },
      ],
      [pooled, { placement: 'schema' }, { rule: 'placement-of-tier', placement: 'schema' }],
      [pooled, { region: HOME }, { rule: 'same-place' }],
      [pooled, { placement: 'pool', region: HOME, tier: 'starter' }, { rule: 'same-place' }],
      // A schema tenant of a tier that pools now: its tables cannot stream into a pool's.
      [
        schema,
        { tier: 'starter' },
        { rule: 'move-not-supported', fromPlacement: 'schema', toPlacement: 'pool' },
      ],
      [unmigrated, { tier: 'enterprise' }, { rule: 'schema-version-unknown' }],
    ];
    for (const [t, body, expected] of cases) {
      const res = await move(t.id, body);
      expect([body, res.status]).toEqual([body, 422]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ title: 'Unprocessable Content', status: 422, ...expected });
      expect(res.body.detail).toEqual(expect.any(String));
    }

    const far = await move(pooled.slug, { region: 'ap-south-1', tier: 'enterprise' });
    expect(far.status).toBe(422);
    expect(far.body).toMatchObject({
      allowedRegions: [HOME, SECOND],
      errors: [{ field: 'region', message: expect.stringContaining('ap-south-1') }],
    });

    for (const t of [pooled, schema, unmigrated]) {
      expect(await changes(t.id)).toEqual([]);
      expect(await moveJobs(t.id)).toEqual([]);
      expect((await get(t.id)).change).toBeNull();
    }
  });

  it('refuses a body that is not {placement?, region?, tier?} with at least one of them (400)', async () => {
    const pooled = await tenant('badbody', 'pool');
    for (const body of [
      {},
      { tier: 'enterprise', extra: 1 },
      { placement: 'shared' },
      { tier: 'platinum' },
      { region: 'Frankfurt' },
      [],
    ]) {
      const res = await move(pooled.id, body);
      expect([body, res.status]).toEqual([body, 400]);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: expect.any(String) })]),
      );
    }
    const none = await http()
      .post(`/v1/tenants/${pooled.id}/move`)
      .set('authorization', await api.auth(['admin']));
    expect(none.status).toBe(400);
    expect(await changes(pooled.id)).toEqual([]);
  });

  it('is admin’s only (403 for ops and sre), and 404 for a tenant that does not exist', async () => {
    const pooled = await tenant('roles', 'pool');
    for (const roles of [['ops'], ['sre'], ['ops', 'sre']] as Role[][]) {
      expect((await move(pooled.id, { tier: 'enterprise' }, roles)).status).toBe(403);
      expect((await abort(pooled.id, roles)).status).toBe(403);
    }
    expect(await changes(pooled.id)).toEqual([]);
    const missing = await move('no-such-tenant', { tier: 'enterprise' });
    expect([missing.status, missing.body.detail]).toEqual([404, 'No tenant has this id or slug.']);
    expect((await move('00000000-0000-4000-8000-000000000000', { tier: 'enterprise' })).status).toBe(404);
    expect((await abort('no-such-tenant')).status).toBe(404);
  });

  it('records a move (a change of kind move RUNNING) and its job in the outbox; another change of the tenant is then 409', async () => {
    const pooled = await tenant('moving', 'pool');
    const res = await move(pooled.slug, { tier: 'enterprise', region: SECOND });
    expect(res.status).toBe(202);
    const view = tenantResource.parse(res.body);
    // Nothing has moved yet: the worker runs the saga.
    expect(view).toMatchObject({
      id: pooled.id,
      tier: 'starter',
      placement: 'pool',
      region: HOME,
      status: 'ACTIVE',
    });
    expect(view.change).toEqual({
      kind: 'move',
      run: 1,
      from: `pool@${HOME}`,
      to: `instance@${SECOND}`,
      apply: 'now',
      status: 'RUNNING',
      notes: [],
      steps: [],
      pendingModifiedValues: null,
      error: null,
      toTier: 'enterprise',
      abortRequested: false,
      cutOver: null,
      sourceRemovalDueAt: null,
      requestedBy: 'move-admin',
      requestedAt: expect.any(String),
      finishedAt: null,
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password/i);

    const [change] = await changes(pooled.id);
    const plan = change.plan as unknown as MovePlan;
    expect(plan).toMatchObject({
      from: { placement: 'pool', region: HOME, tier: 'starter', hostId: pool.id },
      to: { placement: 'instance', region: SECOND, tier: 'enterprise' },
      abortRequested: false,
    });
    const jobs = await moveJobs(pooled.id);
    expect(jobs.map((j) => [j.jobName, j.jobId])).toEqual([['move-tenant', `move-${pooled.id}-1`]]);
    expect(await eventsOf(pooled.id, 'tenant.change_requested')).toEqual([
      expect.objectContaining({
        actor: 'move-admin',
        data: expect.objectContaining({ kind: 'move', run: 1 }),
      }),
    ]);

    const again = await move(pooled.id, { tier: 'enterprise' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ heldBy: 'change', tenant: pooled.slug });
    const tierChange = await http()
      .patch(`/v1/tenants/${pooled.id}`)
      .set('authorization', await api.auth(['admin']))
      .send({ tier: 'pro' });
    expect([tierChange.status, tierChange.body.heldBy]).toEqual([409, 'change']);
    const deletion = await http()
      .delete(`/v1/tenants/${pooled.id}?confirm=${pooled.slug}`)
      .set('authorization', await api.auth(['admin']));
    expect(deletion.status).toBe(409);
    expect((await changes(pooled.id)).map((c) => c.run)).toEqual([1]);
    expect(await moveJobs(pooled.id)).toHaveLength(1);
  });

  it('answers 409 for a move of a tenant that is not live, and while another change is open', async () => {
    const failed = await tenant('failed', 'pool', { status: 'FAILED' });
    const notLive = await move(failed.id, { tier: 'enterprise' });
    expect(notLive.status).toBe(409);
    expect(notLive.body).toMatchObject({ tenantStatus: 'FAILED' });

    const rotating = await tenant('rotating', 'instance');
    const rotation = await http()
      .post(`/v1/tenants/${rotating.id}/rotate-credentials`)
      .set('authorization', await api.auth(['admin']))
      .send({});
    expect(rotation.status).toBe(202);
    const held = await move(rotating.id, { tier: 'starter' });
    expect(held.status).toBe(409);
    expect(held.body).toMatchObject({ heldBy: 'change' });
    // Nor is a rotation a move to abort.
    const notAMove = await abort(rotating.id);
    expect(notAMove.status).toBe(409);
    expect(notAMove.body.detail).toContain('has no move running');
    expect((await changes(rotating.id)).map((c) => c.kind)).toEqual(['rotation']);
  });

  it('aborts a recorded move before its cut-over: abortRequested on the plan and the view, one event however often asked', async () => {
    const pooled = await tenant('aborted', 'pool');
    expect((await abort(pooled.id)).status).toBe(409); // no move at all
    expect((await move(pooled.id, { tier: 'enterprise' })).status).toBe(202);
    await moveStep(pooled.id, 1, 'target-credentials', 0, 'done');
    await moveStep(pooled.id, 1, 'target-instance', 1, 'running');

    const res = await abort(pooled.slug);
    expect(res.status).toBe(202);
    const view = tenantResource.parse(res.body);
    expect(view.change).toMatchObject({ kind: 'move', status: 'RUNNING', abortRequested: true });
    expect(view.change!.steps.map((s) => [s.saga, s.name, s.status])).toEqual([
      ['move', 'target-credentials', 'done'],
      ['move', 'target-instance', 'running'],
    ]);
    const [change] = await changes(pooled.id);
    expect((change.plan as unknown as MovePlan).abortRequested).toBe(true);
    expect((await abort(pooled.id)).status).toBe(202);
    expect(await eventsOf(pooled.id, 'tenant.move_abort_requested')).toEqual([
      expect.objectContaining({ actor: 'move-admin', data: { run: 1 } }),
    ]);

    // Once the saga has ended the move, there is none to abort.
    await ds.getRepository(TenantChangeEntity).update(
      { tenantId: pooled.id, run: 1 },
      {
        status: 'FAILED',
        errorCode: 'MOVE_ABORTED',
        errorMessage: 'the move was aborted before its cut-over',
        errorStep: 'target-instance',
        finishedAt: new Date(),
      },
    );
    const ended = await abort(pooled.id);
    expect(ended.status).toBe(409);
    expect((await get(pooled.id)).change).toMatchObject({
      status: 'FAILED',
      error: { code: 'MOVE_ABORTED', step: 'target-instance' },
      abortRequested: true,
    });
  });

  it('refuses an abort once the cut-over has begun (409 heldBy change), and then shows the move’s figures', async () => {
    const pooled = await tenant('cutting', 'pool');
    expect((await move(pooled.id, { tier: 'enterprise' })).status).toBe(202);
    await moveStep(pooled.id, 1, 'start-copy', 7, 'done');
    await moveStep(pooled.id, 1, 'cut-over', 9, 'running');
    const late = await abort(pooled.id);
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ heldBy: 'change', tenant: pooled.slug });
    expect(late.body.detail).toContain('cut-over');

    const paused = await tenant('paused', 'pool');
    expect((await move(paused.id, { tier: 'enterprise' })).status).toBe(202);
    await ds.getRepository(TenantEntity).update({ id: paused.id }, { writesPausedAt: new Date() });
    expect((await abort(paused.id)).status).toBe(409);

    // The switch records its figures on the plan (as the saga does); the view shows them.
    const dueAt = new Date(Date.now() + 24 * 3600_000).toISOString();
    const cutOver = { frozenForMs: 180, pausedForMs: 240, tables: [{ table: 'notes', rows: 12 }] };
    await ds.query(
      `UPDATE tenant_changes SET plan = plan || $3::jsonb, status = 'SUCCEEDED', finished_at = now() WHERE tenant_id = $1 AND run = $2`,
      [pooled.id, 1, JSON.stringify({ cutOver, sourceRemovalDueAt: dueAt, switched: true })],
    );
    const done = await get(pooled.id);
    expect(done.change).toMatchObject({
      kind: 'move',
      status: 'SUCCEEDED',
      cutOver,
      sourceRemovalDueAt: dueAt,
    });
    expect(done.change!.steps.map((s) => s.name)).toEqual(['start-copy', 'cut-over']);
    expect((await abort(pooled.id)).status).toBe(409);
  });
});
