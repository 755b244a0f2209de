import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { TenantSecrets } from '../../../libs/aws/src';
import { TenantEventEntity } from '../../../libs/control-plane-db/src';
import { createFleet, dropFleet, type FleetTenant } from '../../../libs/provisioning/test/rollout-fleet';
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
    tenants: { slug: string; state: string; reachedVersion: string | null }[];
  }[];
  failedTenants: {
    slug: string;
    versionReached: string | null;
    failingMigration: string | null;
    sqlState: string | null;
    code: string | null;
    message: string | null;
  }[];
  events: { type: string; actor: string }[];
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
    const common = {
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
});
