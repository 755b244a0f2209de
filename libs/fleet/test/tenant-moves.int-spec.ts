import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../../apps/provisioning-worker/src/worker.module';
import { builtInTierProfilesFile } from '../../../test/support/built-in-tier-profiles';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import {
  fastLocalSagaEnvironment,
  localMoveBackendEnvironment,
  testConfig,
  uniqueToken,
} from '../../../test/support/test-config';
import { AwsClients } from '../../aws/src';
import { TenantChangeEntity, TenantEntity, TenantEventEntity } from '../../control-plane-db/src';
import { hostResourceNames, tenantResourceNames, type TierName } from '../../core/src';
import { MOVED_TENANT_SQLSTATE } from '../../tenant-schema/src';
import { TenantMoves, TenantOnboarding, type MovePlan } from '../src';

jest.setTimeout(240_000);

const prefix = `mv${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'moves-1' };

type Secret = { host: string; port: number; dbname: string; username: string; password: string };

/**
 * Moves of live tenants through the worker, against moto, Redis and the local backend's own
 * cluster (wal_level=logical): the copy is PostgreSQL's logical replication for real.
 */
describe('moving live tenants between placements', () => {
  let database: { name: string; url: string };
  let app: INestApplicationContext;
  let aws: AwsClients;
  let ds: DataSource;
  let onboarding: TenantOnboarding;
  let moves: TenantMoves;

  beforeAll(async () => {
    database = await createOwnDatabase('moves');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile({
        starter: { tenantsPerHost: 10, connectionBudget: 100 },
        pro: { tenantsPerHost: 10, connectionBudget: 100 },
      }),
      ...fastLocalSagaEnvironment(),
      // Logical replication needs the local backend's own clusters (wal_level=logical).
      ...localMoveBackendEnvironment(),
      MOVE_SOURCE_RETENTION_HOURS: '0',
      WORKER_CONCURRENCY: '4',
    });
    app = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    aws = new AwsClients(config);
    ds = app.get(DataSource);
    onboarding = app.get(TenantOnboarding);
    moves = app.get(TenantMoves);
  });

  afterAll(async () => {
    await app?.close();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  async function until(id: string, status: string): Promise<TenantEntity> {
    return eventually(
      async () => {
        const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
        if (row.status === 'FAILED' && status !== 'FAILED')
          throw new Error(`tenant failed: ${row.failureStep} ${row.failureCode} ${row.failureMessage}`);
        expect(row.status).toBe(status);
        return row;
      },
      120_000,
      100,
    );
  }

  async function moveEnds(tenantId: string): Promise<TenantChangeEntity> {
    return eventually(
      async () => {
        const tenant = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenantId });
        const change = await ds
          .getRepository(TenantChangeEntity)
          .findOneByOrFail({ tenantId, run: tenant.changeRun });
        expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
        return change;
      },
      180_000,
      100,
    );
  }

  async function onboard(tier: TierName, label: string): Promise<TenantEntity> {
    const { tenant } = await onboarding.createTenant(
      { slug: `${label}-${uniqueToken(2)}`, name: label, tier },
      CTX,
    );
    return until(tenant.id, 'ACTIVE');
  }

  async function secret(name: string): Promise<Secret> {
    const { SecretString } = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
    return JSON.parse(SecretString!) as Secret;
  }

  /** A session as the tenant's application has it: its own login, or its host's pool login with the tenant set. */
  async function session(tenant: TenantEntity): Promise<Client> {
    const row = await ds
      .getRepository(TenantEntity)
      .findOneOrFail({ where: { id: tenant.id }, relations: { host: true } });
    const s =
      row.placement === 'pool'
        ? await secret(hostResourceNames(prefix, row.host!.name).poolAppSecretName)
        : await secret(tenantResourceNames(prefix, row.slug).appSecretName);
    const client = new Client({
      host: s.host,
      port: s.port,
      database: s.dbname,
      user: s.username,
      password: s.password,
    });
    client.on('error', () => undefined);
    await client.connect();
    if (row.placement === 'pool')
      await client.query(`SELECT set_config('app.tenant_id', $1, false)`, [row.id]);
    return client;
  }

  async function notes(tenant: TenantEntity): Promise<string[]> {
    const client = await session(tenant);
    try {
      const { rows } = await client.query<{ text: string }>('SELECT text FROM notes ORDER BY text');
      return rows.map((r) => r.text);
    } finally {
      await client.end();
    }
  }

  /** Inserts notes one at a time until stopped or refused by the frozen source; what committed is acknowledged. */
  function writer(client: Client, label: string) {
    const acknowledged: string[] = [];
    const refused: string[] = [];
    let stopped = false;
    const done = (async () => {
      for (let i = 0; !stopped; i++) {
        const text = `${label}-${String(i).padStart(5, '0')}`;
        try {
          await client.query('INSERT INTO notes (text) VALUES ($1)', [text]);
          acknowledged.push(text);
        } catch (error) {
          refused.push((error as { code?: string }).code ?? 'none');
          if ((error as { code?: string }).code === MOVED_TENANT_SQLSTATE) return;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    })();
    return {
      acknowledged,
      refused,
      stop: async () => {
        stopped = true;
        await done;
      },
    };
  }

  it('promotes a pooled tenant to its own instance under writes, the neighbour on its host untouched, and removes its rows from the pool', async () => {
    const moving = await onboard('starter', 'grow');
    const neighbour = await onboard('starter', 'stay');
    expect(moving.hostId).toBe(neighbour.hostId);
    const mine = writer(await session(moving), 'm');
    const theirs = writer(await session(neighbour), 'n');
    await eventually(() => Promise.resolve(expect(mine.acknowledged.length).toBeGreaterThan(20)), 20_000, 20);

    await moves.requestMove(moving.id, { tier: 'enterprise' }, CTX);
    const change = await moveEnds(moving.id);
    await mine.stop();
    await theirs.stop();
    expect(change).toMatchObject({
      kind: 'move',
      status: 'SUCCEEDED',
      from: 'pool@' + change.from.split('@')[1],
    });
    const plan = change.plan as unknown as MovePlan;
    expect(plan.cutOver?.tables.find((t) => t.table === 'notes')?.rows).toBeGreaterThanOrEqual(
      mine.acknowledged.length,
    );

    const after = await ds.getRepository(TenantEntity).findOneByOrFail({ id: moving.id });
    expect(after).toMatchObject({
      placement: 'instance',
      tier: 'enterprise',
      hostId: null,
      routeVersion: 2,
      writesPausedAt: null,
      dbInstanceIdentifier: tenantResourceNames(prefix, moving.slug).instanceIdentifier,
    });
    // Every acknowledged write, once, in the tenant's own instance, read with its own login.
    expect(await notes(after)).toEqual([...mine.acknowledged].sort());
    // The neighbour never saw an error, and keeps all its rows on the host.
    expect(theirs.refused).toEqual([]);
    expect(await notes(neighbour)).toEqual([...theirs.acknowledged].sort());
    // With no retention the source's rows go at once: none of the moved tenant's are left in the pool.
    await eventually(
      async () => {
        const events = await ds
          .getRepository(TenantEventEntity)
          .findBy({ tenantId: moving.id, type: 'tenant.move_source_removed' });
        expect(events).toHaveLength(1);
      },
      60_000,
      200,
    );
    const pool = await session(neighbour);
    try {
      await pool.query(`SELECT set_config('app.tenant_id', $1, false)`, [moving.id]);
      expect((await pool.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }]);
    } finally {
      await pool.end();
    }
  });

  it('moves an instance tenant into a pool (a downgrade) and a schema tenant to its own instance', async () => {
    const big = await onboard('enterprise', 'shrink');
    const bridge = await onboard('pro', 'bridge');
    for (const tenant of [big, bridge]) {
      const client = await session(tenant);
      await client.query(`INSERT INTO notes (text) SELECT 'seed ' || g FROM generate_series(1, 500) g`);
      await client.end();
    }
    await moves.requestMove(big.id, { tier: 'starter' }, CTX);
    await moves.requestMove(bridge.id, { tier: 'enterprise' }, CTX);
    const [down, up] = [await moveEnds(big.id), await moveEnds(bridge.id)];
    expect([down.status, down.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect([up.status, up.errorMessage]).toEqual(['SUCCEEDED', null]);
    const pooled = await ds.getRepository(TenantEntity).findOneByOrFail({ id: big.id });
    expect(pooled).toMatchObject({ placement: 'pool', tier: 'starter', dbInstanceIdentifier: null });
    expect(pooled.hostId).not.toBeNull();
    expect(await notes(pooled)).toHaveLength(500);
    const own = await ds.getRepository(TenantEntity).findOneByOrFail({ id: bridge.id });
    expect(own).toMatchObject({ placement: 'instance', tier: 'enterprise', hostId: null });
    // The tenant's own app secret names its new instance now; the staging secret is gone.
    const app = await secret(tenantResourceNames(prefix, bridge.slug).appSecretName);
    expect(app.dbname).toBe(tenantResourceNames(prefix, bridge.slug).instanceIdentifier);
    expect(await notes(own)).toHaveLength(500);
  });

  it('moves a pooled tenant and an instance tenant into schemas of their own on one host, beside a neighbour that sees nothing', async () => {
    const neighbour = await onboard('pro', 'resident');
    const small = await onboard('starter', 'upgrade');
    const big = await onboard('enterprise', 'settle');
    const client = await session(big);
    await client.query(`INSERT INTO notes (text) SELECT 'seed ' || g FROM generate_series(1, 300) g`);
    await client.end();
    const mine = writer(await session(small), 's');
    const theirs = writer(await session(neighbour), 'r');
    await eventually(() => Promise.resolve(expect(mine.acknowledged.length).toBeGreaterThan(20)), 20_000, 20);

    // Both copies stage their target schema under the name `app` on the host: they take turns.
    await moves.requestMove(small.id, { tier: 'pro' }, CTX);
    await moves.requestMove(big.id, { tier: 'pro' }, CTX);
    const [up, down] = [await moveEnds(small.id), await moveEnds(big.id)];
    await mine.stop();
    await theirs.stop();
    expect([up.status, up.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect([down.status, down.errorMessage]).toEqual(['SUCCEEDED', null]);

    for (const [tenant, rows] of [
      [small, [...mine.acknowledged].sort()],
      [big, 300],
    ] as const) {
      const after = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect(after).toMatchObject({ placement: 'schema', tier: 'pro', dbInstanceIdentifier: null });
      expect(after.hostId).toBe(neighbour.hostId);
      // Read with the tenant's own login, whose search_path is its schema on the host.
      const app = await secret(tenantResourceNames(prefix, after.slug).appSecretName);
      expect(app.username).toMatch(new RegExp(`^${tenantResourceNames(prefix, after.slug).appRole}`));
      const got = await notes(after);
      if (typeof rows === 'number') expect(got).toHaveLength(rows);
      else expect(got).toEqual(rows);
    }
    expect(theirs.refused).toEqual([]);
    expect(await notes(neighbour)).toEqual([...theirs.acknowledged].sort());
    // Nothing staged is left: each schema has its own name back, no `app` on the host.
    const host = await session(neighbour);
    try {
      const { rows } = await host.query<{ nspname: string }>(
        `SELECT nspname FROM pg_namespace WHERE nspname = ANY($1) ORDER BY nspname`,
        [['app', ...[small, big].map((t) => tenantResourceNames(prefix, t.slug).tenantSchema)]],
      );
      expect(rows.map((r) => r.nspname)).toEqual(
        [small, big].map((t) => tenantResourceNames(prefix, t.slug).tenantSchema).sort(),
      );
    } finally {
      await host.end();
    }
  });

  it('a move that fails before its cut-over removes its target and leaves the tenant served where it was', async () => {
    const big = await onboard('enterprise', 'fails');
    const before = await ds.getRepository(TenantEntity).findOneByOrFail({ id: big.id });
    // Every pool host already holds a row of this tenant: the target refuses the copy.
    const hosts = await ds.query<Array<{ name: string }>>(
      `SELECT name FROM hosts WHERE placement = 'pool' AND status = 'available'`,
    );
    expect(hosts.length).toBeGreaterThan(0);
    for (const { name } of hosts) {
      const s = await secret(hostResourceNames(prefix, name).poolAppSecretName);
      const client = new Client({
        host: s.host,
        port: s.port,
        database: s.dbname,
        user: s.username,
        password: s.password,
      });
      await client.connect();
      await client.query(`SELECT set_config('app.tenant_id', $1, false)`, [big.id]);
      await client.query(`INSERT INTO notes (text) VALUES ('in the way')`);
      await client.end();
    }
    await moves.requestMove(big.id, { tier: 'starter' }, CTX);
    const change = await moveEnds(big.id);
    expect(change).toMatchObject({
      status: 'FAILED',
      errorCode: 'MOVE_COPY_FAILED',
      errorStep: 'start-copy',
    });
    expect(change.errorMessage).toContain('already holds rows of tenant');
    const after = await ds.getRepository(TenantEntity).findOneByOrFail({ id: big.id });
    expect(after).toMatchObject({
      status: 'ACTIVE',
      placement: 'instance',
      hostId: null,
      tier: 'enterprise',
      routeVersion: before.routeVersion,
      writesPausedAt: null,
      dbInstanceIdentifier: before.dbInstanceIdentifier,
    });
    // Still served from its instance, writes included: the copy is lifted there.
    const client = await session(after);
    try {
      await client.query(`INSERT INTO notes (text) VALUES ('after the failed move')`);
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'silo_move_%'`,
      );
      expect(rows).toEqual([{ n: 0 }]);
      expect((await client.query(`SELECT count(*)::int AS n FROM pg_publication`)).rows).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
    // The tenant's rows on the reserved host went with the target (the row in the way too); the
    // other hosts' stay as they were.
    const reserved = (change.plan as unknown as MovePlan).to.hostId;
    const [{ name: reservedName }] = await ds.query<Array<{ name: string }>>(
      `SELECT name FROM hosts WHERE id = $1`,
      [reserved],
    );
    const left = new Map<string, number>();
    for (const { name } of hosts) {
      const s = await secret(hostResourceNames(prefix, name).poolAppSecretName);
      const pool = new Client({
        host: s.host,
        port: s.port,
        database: s.dbname,
        user: s.username,
        password: s.password,
      });
      await pool.connect();
      await pool.query(`SELECT set_config('app.tenant_id', $1, false)`, [big.id]);
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM notes');
      await pool.end();
      left.set(name, rows[0].n);
    }
    expect(Object.fromEntries(left)).toEqual(
      Object.fromEntries(hosts.map(({ name }) => [name, name === reservedName ? 0 : 1])),
    );
    const events = await ds
      .getRepository(TenantEventEntity)
      .findBy({ tenantId: big.id, type: 'tenant.change_failed' });
    expect(events).toHaveLength(1);
  });

  it('refuses what it cannot move, and records nothing', async () => {
    const bridge = await onboard('pro', 'stuck');
    await expect(moves.requestMove(bridge.id, { tier: 'starter' }, CTX)).rejects.toMatchObject({
      detail: { rule: 'move-not-supported' },
    });
    await expect(moves.requestMove(bridge.id, { tier: 'pro' }, CTX)).rejects.toMatchObject({
      detail: { rule: 'same-place' },
    });
    await expect(moves.requestMove(bridge.id, { placement: 'instance' }, CTX)).rejects.toMatchObject({
      detail: { rule: 'placement-of-tier' },
    });
    expect(await ds.getRepository(TenantChangeEntity).countBy({ tenantId: bridge.id })).toBe(0);
  });
});
