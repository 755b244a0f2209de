import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { TenantSecrets } from '../../../libs/aws/src';
import { TenantEventEntity } from '../../../libs/control-plane-db/src';
import { createFleet, dropFleet, type FleetTenant } from '../../../libs/fleet/test/rollout-fleet';
import { loadTenantMigrations, readTenantLedger } from '../../../libs/tenant-schema/src';
import { withClient, openSession } from '../../../libs/tenant-schema/test/tenant-db-fixtures';
import { eventually } from '../../../test/support/eventually';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { rolloutResource, schemaVersionsResource } from '../src/rollouts/rollout.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(180_000);

const FLEET_MIGRATIONS = resolve(__dirname, '../../../test/fixtures/tenant-migrations/fleet');
const prefix = `ro${uniqueToken(3)}`;

interface RolloutBody {
  id: string;
  status: string;
  pausedBecause: string | null;
  pausedReason: string | null;
  counts: Record<'pending' | 'running' | 'succeeded' | 'failed' | 'skipped', number>;
  plan: {
    index: number;
    kind: string;
    tenants: { slug: string; state: string; reachedVersion: string | null; attempt: number }[];
  }[];
  failedTenants: {
    slug: string;
    versionReached: string | null;
    failingMigration: string | null;
    sqlState: string | null;
    code: string | null;
    message: string | null;
  }[];
  skippedTenants: {
    slug: string;
    wave: number | null;
    fromVersion: string | null;
    reason: string | null;
    skippedBy: string | null;
    skippedAt: string | null;
  }[];
  events: { type: string; actor: string; message: string }[];
}

describe('schema rollouts on the real stack (API, worker, PostgreSQL, Redis, moto)', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  let worker: INestApplicationContext;
  let ds: DataSource;
  let admin: string;
  let sre: string;
  const fleet: FleetTenant[] = [];
  let starters: FleetTenant[];
  let pros: FleetTenant[];
  let enterprises: FleetTenant[];
  let common: Omit<Parameters<typeof createFleet>[0], 'tier' | 'count'>;
  const set = loadTenantMigrations({ dir: FLEET_MIGRATIONS });

  beforeAll(async () => {
    database = await createOwnDatabase('rollouts');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      TENANT_MIGRATIONS_DIR: FLEET_MIGRATIONS,
      TENANT_MIGRATION_LOCK_TIMEOUT_MS: '500',
      WORKER_CONCURRENCY: '5',
      ...fastLocalSagaEnvironment(),
    });
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    api = await startApi(config);
    ds = worker.get(DataSource);
    admin = await api.auth(['admin'], 'rollout-admin');
    sre = await api.auth(['sre']);
    const secrets = worker.get(TenantSecrets);
    common = {
      dataSource: ds,
      secrets,
      prefix,
      environment: 'test',
      version: '0001',
      set,
      registry: fleet,
    };
    starters = await createFleet({ ...common, tier: 'starter', count: 30 });
    pros = await createFleet({ ...common, tier: 'pro', count: 5 });
    enterprises = await createFleet({ ...common, tier: 'enterprise', count: 4 });
  });

  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await dropFleet(prefix, fleet);
    if (database) await dropDatabase(database.name);
  });

  async function rollout(id: string): Promise<RolloutBody> {
    const res = await request(api.app.getHttpServer())
      .get(`/v1/schema-rollouts/${id}`)
      .set('authorization', sre);
    expect(res.status).toBe(200);
    // The body is what the OpenAPI document says it is.
    rolloutResource.parse(res.body);
    return res.body as RolloutBody;
  }

  async function settled(id: string, status: string): Promise<RolloutBody> {
    return eventually(async () => {
      const body = await rollout(id);
      if (body.status !== status || body.counts.running > 0) {
        throw new Error(
          `rollout is ${body.status} with ${body.counts.running} running: ${JSON.stringify(body.counts)}`,
        );
      }
      return body;
    }, 120_000);
  }

  const post = (path: string, body?: unknown) =>
    request(api.app.getHttpServer())
      .post(path)
      .set('authorization', admin)
      .send(body as object);

  const ledgerVersions = async (t: FleetTenant) => (await readTenantLedger(t.owner)).map((e) => e.version);

  it('refuses bad bodies naming the field, an unknown target, and the sre role', async () => {
    const bad = await post('/v1/schema-rollouts', { waves: [50, 40], maxConcurrency: 0, extra: 1 });
    expect(bad.status).toBe(400);
    expect((bad.body as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual([
      'extra',
      'maxConcurrency',
      'waves',
    ]);
    const unknown = await post('/v1/schema-rollouts', { targetVersion: '0009', tiers: ['starter'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail).toContain('0009 is not a version');
    const forbidden = await request(api.app.getHttpServer())
      .post('/v1/schema-rollouts')
      .set('authorization', sre)
      .send({ tiers: ['starter'] });
    expect(forbidden.status).toBe(403);
    expect(
      (await request(api.app.getHttpServer()).get('/v1/schema-rollouts/not-a-uuid').set('authorization', sre))
        .status,
    ).toBe(404);
    // Steering is admin's; reading is every role's.
    const ops = await api.auth(['ops']);
    const server = api.app.getHttpServer();
    for (const path of [
      '/v1/schema-rollouts',
      `/v1/schema-rollouts/${randomUUID()}/pause`,
      `/v1/schema-rollouts/${randomUUID()}/resume`,
      `/v1/schema-rollouts/${randomUUID()}/abort`,
    ]) {
      for (const who of [ops, sre])
        expect((await request(server).post(path).set('authorization', who).send({})).status).toBe(403);
      expect((await request(server).post(path).send({})).status).toBe(401);
    }
    expect((await post(`/v1/schema-rollouts/${randomUUID()}/pause`)).status).toBe(404);
    for (const path of ['/v1/schema-rollouts', '/v1/schema-versions']) {
      expect((await request(server).get(path).set('authorization', ops)).status).toBe(200);
    }
  });

  it('pauses at a failing tenant of the second wave, touches no tenant of the third, and converges after a repair and resume', async () => {
    // The fifth starter is in the first wave after the canary; 0002 conflicts with its app.tags.
    const broken = starters[4];
    await withClient(broken.owner, (c) => c.query('CREATE TABLE app.tags (x int)'));

    const started = await post('/v1/schema-rollouts', {
      targetVersion: '0003',
      canary: 2,
      waves: [50, 100],
      maxConcurrency: 4,
      failureThreshold: 1,
      pauseBetweenWaves: false,
      tiers: ['starter'],
    });
    expect(started.status).toBe(202);
    const id = (started.body as RolloutBody).id;
    expect(started.headers.location).toBe(`/v1/schema-rollouts/${id}`);
    expect((started.body as RolloutBody).plan.map((w) => [w.kind, w.tenants.length])).toEqual([
      ['canary', 2],
      ['wave', 14],
      ['wave', 14],
    ]);
    expect((started.body as RolloutBody).plan[0].tenants.map((t) => t.slug)).toEqual([
      starters[0].slug,
      starters[1].slug,
    ]);

    // Another rollout while this one is open: 409.
    expect((await post('/v1/schema-rollouts', { tiers: ['pro'] })).status).toBe(409);

    const paused = await settled(id, 'PAUSED');
    expect(paused.pausedBecause).toBe('failures');
    expect(paused.failedTenants).toEqual([
      {
        tenantId: broken.id,
        slug: broken.slug,
        wave: 1,
        versionReached: '0001',
        failingMigration: '0002_add_due_date.sql',
        sqlState: '42P07',
        code: 'MIGRATION_FAILED',
        message: expect.stringContaining('relation "tags" already exists'),
      },
    ]);
    expect(JSON.stringify(paused)).not.toContain(broken.owner.password);
    expect(JSON.stringify(paused)).not.toContain('127.0.0.1');
    // The canary is through; the wave with the failure stopped where it was; the next is untouched.
    expect(paused.plan[0].tenants.every((t) => t.state === 'succeeded')).toBe(true);
    expect(
      paused.plan[1].tenants.map((t) => t.state).filter((s) => s !== 'succeeded' && s !== 'pending'),
    ).toEqual(['failed']);
    expect(paused.plan[2].tenants.every((t) => t.state === 'pending')).toBe(true);
    for (const t of starters.slice(16)) expect(await ledgerVersions(t)).toEqual(['0001']);
    const brokenEvents = await ds
      .getRepository(TenantEventEntity)
      .findBy({ tenantId: broken.id, type: 'schema.migration_failed' });
    expect(brokenEvents).toHaveLength(1);
    expect(brokenEvents[0].data).toMatchObject({
      rolloutId: id,
      sqlState: '42P07',
      migration: '0002_add_due_date.sql',
    });

    // Repair by hand, resume: the failed tenant goes first, then the rest.
    await withClient(broken.owner, (c) => c.query('DROP TABLE app.tags'));
    const resumed = await post(`/v1/schema-rollouts/${id}/resume`);
    expect(resumed.status).toBe(200);
    const done = await settled(id, 'SUCCEEDED');
    expect(done.counts).toEqual({ pending: 0, running: 0, succeeded: 30, failed: 0, skipped: 0 });
    expect(done.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['rollout.started', 'rollout.paused', 'rollout.resumed', 'rollout.succeeded']),
    );
    expect(done.events.find((e) => e.type === 'rollout.resumed')?.actor).toBe('rollout-admin');
    for (const t of starters) expect(await ledgerVersions(t)).toEqual(['0001', '0002', '0003']);

    const versions = await request(api.app.getHttpServer())
      .get('/v1/schema-versions')
      .set('authorization', sre);
    schemaVersionsResource.parse(versions.body);
    expect(versions.body).toMatchObject({
      newest: '0003',
      versions: [
        { version: '0001', tenants: 9 },
        { version: '0003', tenants: 30 },
      ],
      behind: { count: 9 },
    });
    const metrics = (await request(api.app.getHttpServer()).get('/metrics').set('authorization', sre)).text;
    expect(metrics).toContain('silo_tenants_by_schema_version{version="0003"} 30');
    expect(metrics).toContain(
      `silo_schema_rollout_tenants{rollout="${id}",status="SUCCEEDED",state="succeeded"} 30`,
    );
    const tenant = await request(api.app.getHttpServer())
      .get(`/v1/tenants/${broken.id}`)
      .set('authorization', sre);
    expect(tenant.body.database.schemaVersion).toBe('0003');
    // A rollout from a status that does not allow it.
    expect((await post(`/v1/schema-rollouts/${id}/pause`)).status).toBe(409);
  });

  it('fails a tenant whose table is locked and one whose ledger was tampered with, while the others proceed', async () => {
    const [locked, tampered, ...fine] = pros;
    await withClient(tampered.owner, (c) =>
      c.query(`UPDATE public.silo_schema_ledger SET checksum = repeat('0', 64) WHERE version = '0001'`),
    );
    const holder = await openSession(locked.owner);
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE app.notes IN ACCESS SHARE MODE');
      const started = await post('/v1/schema-rollouts', {
        canary: 0,
        waves: [100],
        failureThreshold: 3,
        tiers: ['pro'],
      });
      expect(started.status).toBe(202);
      const finished = await settled((started.body as RolloutBody).id, 'FAILED');
      expect(finished.counts).toMatchObject({ succeeded: 3, failed: 2 });
      const bySlug = new Map(finished.failedTenants.map((f) => [f.slug, f]));
      expect(bySlug.get(locked.slug)).toMatchObject({
        sqlState: '55P03',
        failingMigration: '0002_add_due_date.sql',
        versionReached: '0001',
      });
      expect(bySlug.get(tampered.slug)).toMatchObject({
        code: 'CHECKSUM_MISMATCH',
        failingMigration: '0001_create_notes.sql',
      });
      expect(bySlug.get(tampered.slug)?.message).toContain('0'.repeat(64));
      for (const t of fine) expect(await ledgerVersions(t)).toEqual(['0001', '0002', '0003']);
      expect(await ledgerVersions(tampered)).toEqual(['0001']);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('waits for approval between waves, skips a tenant that started deprovisioning, and aborts for good', async () => {
    const started = await post('/v1/schema-rollouts', {
      targetVersion: '0002',
      canary: 1,
      waves: [50, 100],
      pauseBetweenWaves: true,
      tiers: ['enterprise'],
    });
    expect(started.status).toBe(202);
    const id = (started.body as RolloutBody).id;
    const gate = await settled(id, 'PAUSED');
    expect(gate.pausedBecause).toBe('approval');
    expect(gate.pausedReason).toBe('wave 0 is done; resume to start wave 1');
    expect(gate.plan.map((w) => w.tenants.map((t) => t.state))).toEqual([
      ['succeeded'],
      ['pending', 'pending'],
      ['pending'],
    ]);

    // The next wave's first tenant starts deprovisioning before the gate opens.
    const leaving = enterprises[1];
    const deletion = await request(api.app.getHttpServer())
      .delete(`/v1/tenants/${leaving.id}?confirm=${leaving.slug}`)
      .set('authorization', admin);
    expect(deletion.status).toBe(202);
    expect((await post(`/v1/schema-rollouts/${id}/resume`)).status).toBe(200);
    const second = await settled(id, 'PAUSED');
    expect(second.plan[1].tenants.map((t) => [t.slug, t.state])).toEqual([
      [leaving.slug, 'skipped'],
      [enterprises[2].slug, 'succeeded'],
    ]);
    expect(second.skippedTenants).toEqual([
      expect.objectContaining({
        slug: leaving.slug,
        wave: 1,
        reason: expect.stringMatching(/^tenant is (DEPROVISIONING|DELETED)$/),
        skippedBy: 'system:worker',
      }),
    ]);
    const events = await ds.getRepository(TenantEventEntity).findBy({ tenantId: leaving.id });
    expect(events.map((e) => e.type)).not.toContain('schema.migrated');

    const aborted = await post(`/v1/schema-rollouts/${id}/abort`);
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({
      status: 'ABORTED',
      counts: { pending: 1, skipped: 1, succeeded: 2 },
    });
    expect((await post(`/v1/schema-rollouts/${id}/resume`)).status).toBe(409);
    expect(await ledgerVersions(enterprises[3])).toEqual(['0001']);
    const list = await request(api.app.getHttpServer())
      .get('/v1/schema-rollouts?limit=2')
      .set('authorization', sre);
    const first = list.body as { items: { id: string }[]; nextCursor: string | null };
    expect(first.items).toHaveLength(2);
    expect(first.items[0].id).toBe(id);
    const rest = await request(api.app.getHttpServer())
      .get(`/v1/schema-rollouts?limit=2&cursor=${first.nextCursor}`)
      .set('authorization', sre);
    expect(rest.body).toMatchObject({ items: [expect.any(Object)], nextCursor: null });
    const seen = [...first.items, ...(rest.body as { items: { id: string }[] }).items].map((r) => r.id);
    expect(new Set(seen).size).toBe(3);
  });

  it('skips tenants already at or past the target instead of refusing the rollout, and leaves out the tenants `exclude` names (unknown ones are 422)', async () => {
    // Every starter is at 0003 by now: a rollout to 0002 used to be refused for them.
    const missing = randomUUID();
    const unknown = await post('/v1/schema-rollouts', {
      targetVersion: '0002',
      tiers: ['starter'],
      exclude: [starters[0].slug, 'no-such-tenant', missing],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.body).toMatchObject({
      unknownTenants: ['no-such-tenant', missing],
      errors: [{ field: 'exclude', message: `names no tenant: no-such-tenant, ${missing}` }],
    });
    expect(unknown.body.detail).toContain(`no-such-tenant, ${missing}`);
    const malformed = await post('/v1/schema-rollouts', { tiers: ['starter'], exclude: ['Not A Slug'] });
    expect(malformed.status).toBe(400);
    expect((malformed.body as { errors: { field: string }[] }).errors[0].field).toMatch(/^exclude/);

    const fresh = await createFleet({ ...common, tier: 'starter', count: 3 });
    const [migrates, byId, bySlug] = fresh;
    const started = await post('/v1/schema-rollouts', {
      targetVersion: '0002',
      canary: 0,
      waves: [100],
      tiers: ['starter'],
      exclude: [byId.id.toUpperCase(), bySlug.slug],
    });
    expect(started.status).toBe(202);
    const body = started.body as RolloutBody;
    expect(body.plan.flatMap((w) => w.tenants.map((t) => t.slug))).toEqual([migrates.slug]);
    expect(body.counts.skipped).toBe(32);
    expect(body.events.find((e) => e.type === 'rollout.started')?.message).toBe(
      'rollout to 0002 started: 1 tenant(s) in 1 wave(s), 32 skipped',
    );

    const done = await settled(body.id, 'SUCCEEDED');
    expect(done.counts).toEqual({ pending: 0, running: 0, succeeded: 1, failed: 0, skipped: 32 });
    const skipped = new Map(done.skippedTenants.map((t) => [t.slug, t]));
    for (const t of starters) {
      expect(skipped.get(t.slug)).toMatchObject({
        wave: null,
        fromVersion: '0003',
        reason: 'already at or past the target',
        skippedBy: 'rollout-admin',
        skippedAt: expect.any(String),
      });
    }
    for (const t of [byId, bySlug]) {
      expect(skipped.get(t.slug)).toMatchObject({
        wave: null,
        fromVersion: '0001',
        reason: 'excluded when the rollout started',
        skippedBy: 'rollout-admin',
      });
    }
    expect(done.events.filter((e) => e.type === 'rollout.tenants_skipped').map((e) => e.message)).toEqual([
      expect.stringMatching(/^2 tenant\(s\) skipped, excluded when the rollout started: /),
      expect.stringMatching(/^30 tenant\(s\) skipped, already at or past the target: /),
    ]);
    expect(done.events.find((e) => e.type === 'rollout.succeeded')?.message).toBe(
      '1 tenant(s) at 0002; 32 skipped',
    );
    expect(await ledgerVersions(migrates)).toEqual(['0001', '0002']);
    for (const t of [byId, bySlug]) expect(await ledgerVersions(t)).toEqual(['0001']);
    expect(await ledgerVersions(starters[0])).toEqual(['0001', '0002', '0003']);
    const [{ schema_version }] = await ds.query<{ schema_version: string }[]>(
      'SELECT schema_version FROM tenants WHERE id = $1',
      [starters[0].id],
    );
    expect(schema_version).toBe('0003');

    // A target the migrations do not have is still refused.
    expect((await post('/v1/schema-rollouts', { targetVersion: '0004', tiers: ['starter'] })).status).toBe(
      422,
    );
  });

  it('skips a tenant that always fails: resume stops retrying it, it counts against no threshold, and the rollout succeeds without it', async () => {
    const batch = await createFleet({ ...common, tier: 'starter', count: 3 });
    const [bad, ...good] = batch;
    await withClient(bad.owner, (c) =>
      c.query(`UPDATE public.silo_schema_ledger SET checksum = repeat('0', 64) WHERE version = '0001'`),
    );
    // The previous test's tenants are left out; the first starters are past 0003 already.
    const earlier = fleet.filter((t) => t.tier === 'starter' && !starters.includes(t) && !batch.includes(t));
    const started = await post('/v1/schema-rollouts', {
      targetVersion: '0003',
      canary: 1,
      waves: [100],
      failureThreshold: 1,
      tiers: ['starter'],
      exclude: earlier.map((t) => t.id),
    });
    expect(started.status).toBe(202);
    const id = (started.body as RolloutBody).id;
    expect((started.body as RolloutBody).plan[0].tenants.map((t) => t.slug)).toEqual([bad.slug]);

    const paused = await settled(id, 'PAUSED');
    expect(paused.pausedBecause).toBe('failures');
    expect(paused.failedTenants).toEqual([
      expect.objectContaining({ slug: bad.slug, code: 'CHECKSUM_MISMATCH' }),
    ]);
    // Resumed, it is retried first and fails again: the rollout never gets past it.
    expect((await post(`/v1/schema-rollouts/${id}/resume`)).status).toBe(200);
    const again = await settled(id, 'PAUSED');
    expect(again.failedTenants.map((f) => f.slug)).toEqual([bad.slug]);
    expect(again.plan[0].tenants[0].attempt).toBe(2);
    expect(again.plan[1].tenants.map((t) => t.state)).toEqual(['pending', 'pending']);

    const skipPath = (tenant: string, rollout = id) =>
      `/v1/schema-rollouts/${rollout}/tenants/${tenant}/skip`;
    const reason = 'ledger of 0001 edited by hand; repaired in OPS-1234';
    const noReason = await post(skipPath(bad.slug), {});
    expect([noReason.status, (noReason.body as { errors: { field: string }[] }).errors]).toEqual([
      400,
      [expect.objectContaining({ field: 'reason' })],
    ]);
    expect((await post(skipPath(bad.slug), { reason: '   ' })).status).toBe(400);
    for (const who of [sre, await api.auth(['ops'])]) {
      const res = await request(api.app.getHttpServer())
        .post(skipPath(bad.slug))
        .set('authorization', who)
        .send({ reason });
      expect(res.status).toBe(403);
    }
    const notIn = await post(skipPath(enterprises[0].slug), { reason });
    expect([notIn.status, notIn.body.detail]).toEqual([
      404,
      `tenant ${enterprises[0].slug} is not one of rollout ${id}'s tenants`,
    ]);
    expect((await post(skipPath(bad.id, randomUUID()), { reason })).status).toBe(404);
    // Neither an id nor a slug (here with a NUL, which PostgreSQL would refuse): no tenant of it.
    expect((await post(skipPath('a%00b'), { reason })).status).toBe(404);
    const twice = await post(skipPath(starters[0].slug), { reason });
    expect([twice.status, twice.body.tenantState]).toEqual([409, 'skipped']);

    const skipped = await post(skipPath(bad.slug), { reason });
    expect(skipped.status).toBe(200);
    const afterSkip = skipped.body as RolloutBody;
    rolloutResource.parse(afterSkip);
    // Skipping steers no rollout: a paused one stays paused until resumed.
    expect(afterSkip.status).toBe('PAUSED');
    expect(afterSkip.failedTenants).toEqual([]);
    expect(afterSkip.plan[0].tenants[0]).toMatchObject({ slug: bad.slug, state: 'skipped' });
    expect(afterSkip.skippedTenants.find((t) => t.slug === bad.slug)).toMatchObject({
      wave: 0,
      fromVersion: '0001',
      reason,
      skippedBy: 'rollout-admin',
    });
    expect(afterSkip.events[afterSkip.events.length - 1]).toMatchObject({
      type: 'rollout.tenant_skipped',
      actor: 'rollout-admin',
      message: `${bad.slug} (failed) skipped by rollout-admin: ${reason}`,
    });
    const tenantEvents = await ds
      .getRepository(TenantEventEntity)
      .findBy({ tenantId: bad.id, type: 'schema.migration_skipped' });
    expect(tenantEvents.map((e) => [e.actor, e.data])).toEqual([
      ['rollout-admin', { rolloutId: id, from: 'failed', reason }],
    ]);

    // With a failure threshold of 1, the rollout now runs to its end.
    const resumed = await post(`/v1/schema-rollouts/${id}/resume`);
    expect(resumed.status).toBe(200);
    const done = await settled(id, 'SUCCEEDED');
    expect(done.counts).toEqual({ pending: 0, running: 0, succeeded: 2, failed: 0, skipped: 34 });
    expect(done.plan[0].tenants[0]).toMatchObject({ slug: bad.slug, state: 'skipped', attempt: 2 });
    expect(done.events.find((e) => e.type === 'rollout.succeeded')?.message).toBe(
      '2 tenant(s) at 0003; 34 skipped',
    );
    expect(await ledgerVersions(bad)).toEqual(['0001']);
    for (const t of good) expect(await ledgerVersions(t)).toEqual(['0001', '0002', '0003']);
    const finished = await post(skipPath(good[0].slug), { reason });
    expect([finished.status, finished.body.rolloutStatus]).toEqual([409, 'SUCCEEDED']);
  });

  it('finishes a FAILED rollout as SUCCEEDED once its last failed tenant is skipped', async () => {
    // The pro rollout ended FAILED with the locked and the tampered tenant.
    const list = await request(api.app.getHttpServer())
      .get('/v1/schema-rollouts?limit=100')
      .set('authorization', sre);
    const failed = (list.body as { items: { id: string; status: string }[] }).items.filter(
      (r) => r.status === 'FAILED',
    );
    expect(failed).toHaveLength(1);
    const id = failed[0].id;
    const [locked, tampered] = pros;
    const first = await post(`/v1/schema-rollouts/${id}/tenants/${locked.id}/skip`, {
      reason: 'migrated by hand',
    });
    expect([first.status, first.body.status, first.body.counts.failed]).toEqual([200, 'FAILED', 1]);
    const last = await post(`/v1/schema-rollouts/${id}/tenants/${tampered.slug}/skip`, {
      reason: 'ledger under investigation',
    });
    expect(last.status).toBe(200);
    expect(last.body).toMatchObject({
      status: 'SUCCEEDED',
      counts: { succeeded: 3, failed: 0, skipped: 2 },
      failedTenants: [],
    });
    const events = (last.body as RolloutBody).events;
    expect(events[events.length - 1]).toMatchObject({
      type: 'rollout.succeeded',
      actor: 'rollout-admin',
      message: '3 tenant(s) at 0003; 2 skipped',
    });
  });
});
