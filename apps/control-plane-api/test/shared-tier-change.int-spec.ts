import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsClients } from '@silo/aws';
import type { SiloConfig } from '@silo/config';
import { TenantChangeEntity, TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { tenantResourceNames, type TierName } from '@silo/core';
import { DEFAULT_TIER_PROFILES, SHARED_MODIFY_STEPS, TenantOnboarding } from '@silo/fleet';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WorkerModule } from '../../provisioning-worker/src/worker.module';
import { eventually } from '../../../test/support/eventually';
import { removeTenantInstancesUnder } from '../../../test/support/local-tenant-instance';
import { fastLocalSagaEnvironment, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { hostResource } from '../src/hosts/host.responses';
import { tenantResource } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(180_000);

const prefix = `st${uniqueToken(3)}`;
const CTX = { actor: 'ops-test', correlationId: 'shared-tier-change-it' };

/** A tier profiles file's `tiers`: each profile without its name. */
type ProfileFile = Record<TierName, Record<string, unknown>>;
const strip = <T extends { tier: string }>({ tier: _tier, ...rest }: T) => rest;
const starter = strip(DEFAULT_TIER_PROFILES.starter);
const pro = strip(DEFAULT_TIER_PROFILES.pro);

/**
 * Pooled fleet: starter and pro pooled on hosts sized alike (two tenants a host), enterprise pooled
 * on bigger hosts. Schema fleet: starter and pro a schema each on hosts sized alike, enterprise an
 * instance. The built-in tier names are the only ones, so each fleet is a profiles file of its own.
 */
const POOLED: ProfileFile = {
  starter: { ...starter, capacity: { tenantsPerHost: 2, connectionBudget: 100 } },
  pro: { ...starter, capacity: { tenantsPerHost: 2, connectionBudget: 100 } },
  enterprise: { ...pro, placement: 'pool', capacity: { tenantsPerHost: 50, connectionBudget: 400 } },
};
const SCHEMA: ProfileFile = {
  starter: { ...pro, capacity: { tenantsPerHost: 2, connectionBudget: 100 } },
  pro: { ...pro, capacity: { tenantsPerHost: 2, connectionBudget: 100 } },
  enterprise: strip(DEFAULT_TIER_PROFILES.enterprise),
};

describe('tier changes of schema and pool tenants that keep their host (PATCH /v1/tenants/{id})', () => {
  let database: { name: string; url: string };
  let profilesDir: string;
  let api: ApiHarness | undefined;
  let worker: INestApplicationContext | undefined;
  let ds: DataSource;
  let aws: AwsClients;

  beforeAll(async () => {
    database = await createOwnDatabase('shared_tier_change');
    profilesDir = mkdtempSync(join(tmpdir(), 'silo-shared-tier-change-'));
  });

  afterAll(async () => {
    await stop();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
    if (profilesDir) rmSync(profilesDir, { recursive: true, force: true });
  });

  /** An API and a worker on `profiles`, on the same control-plane database. */
  const start = async (label: string, profiles: ProfileFile): Promise<SiloConfig> => {
    await stop();
    const file = join(profilesDir, `${label}.json`);
    writeFileSync(file, JSON.stringify({ tiers: profiles }));
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: file,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    aws = new AwsClients(config);
    api = await startApi(config);
    ds = api.app.get(DataSource);
    worker = await (
      await Test.createTestingModule({ imports: [WorkerModule.register(config)] }).compile()
    ).init();
    return config;
  };
  async function stop(): Promise<void> {
    await api?.close();
    await worker?.close();
    aws?.onApplicationShutdown();
    api = undefined;
    worker = undefined;
  }

  const onboard = async (tier: TierName, label: string): Promise<TenantEntity> => {
    const { tenant } = await worker!
      .get(TenantOnboarding)
      .createTenant({ slug: `${label}-${uniqueToken(2)}`, name: label, tier }, CTX);
    return eventually(async () => {
      const row = await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id });
      expect([row.status, row.failureMessage]).toEqual(['ACTIVE', null]);
      return row;
    }, 90_000);
  };
  const patch = async (id: string, body: object) =>
    request(api!.app.getHttpServer())
      .patch(`/v1/tenants/${id}`)
      .set('authorization', await api!.auth(['admin'], 'tier-admin'))
      .send(body);
  const get = async (path: string) => {
    const res = await request(api!.app.getHttpServer())
      .get(path)
      .set('authorization', await api!.auth(['sre']));
    expect(res.status).toBe(200);
    return res.body as unknown;
  };
  const tenant = async (id: string) => tenantResource.parse(await get(`/v1/tenants/${id}`));
  const host = async (id: string) => hostResource.parse(await get(`/v1/hosts/${id}`));
  const settled = (tenantId: string, run: number) =>
    eventually(async () => {
      const change = await ds.getRepository(TenantChangeEntity).findOneByOrFail({ tenantId, run });
      expect(['SUCCEEDED', 'FAILED']).toContain(change.status);
      return change;
    }, 60_000);
  const changeCount = (tenantId: string) => ds.getRepository(TenantChangeEntity).countBy({ tenantId });

  it('pool: starter → pro on hosts sized alike keeps the tenant on its host and in its count; a tier with other hosts is refused naming what differs', async () => {
    await start('pooled', POOLED);
    const a = await onboard('starter', 'pa');
    const hostId = a.hostId!;
    expect((await host(hostId)).tenantsPlaced).toBe(1);

    const accepted = await patch(a.id, { tier: 'pro' });
    expect(accepted.status).toBe(202);
    expect(tenantResource.parse(accepted.body).change).toMatchObject({
      kind: 'tier',
      to: 'pro',
      status: 'RUNNING',
    });
    const change = await settled(a.id, 1);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);

    const after = await tenant(a.id);
    expect(after).toMatchObject({ tier: 'pro', status: 'ACTIVE', placement: 'pool', host: { id: hostId } });
    expect(after.change!.steps.map((s) => [s.name, s.status])).toEqual(
      SHARED_MODIFY_STEPS.map((step) => [step, 'done']),
    );
    expect(after.change!.notes[0]).toContain(`stays on its pool host ${(await host(hostId)).name}`);
    const changed = await ds
      .getRepository(TenantEventEntity)
      .findOneByOrFail({ tenantId: a.id, type: 'tenant.tier_changed' });
    expect(changed.data).toMatchObject({ from: 'starter', to: 'pro', host: (await host(hostId)).name });

    // The host still counts the tenant, now of another tier: one more starter fills it (two a
    // host), the next goes to a second host, and a pro tenant goes to a host of the pro tier.
    expect((await host(hostId)).tenantsPlaced).toBe(1);
    const b = await onboard('starter', 'pb');
    expect(b.hostId).toBe(hostId);
    expect((await host(hostId)).tenantsPlaced).toBe(2);
    const c = await onboard('starter', 'pc');
    expect(c.hostId).not.toBe(hostId);
    const p = await onboard('pro', 'pp');
    expect((await host(p.hostId!)).tier).toBe('pro');
    expect(p.hostId).not.toBe(hostId);

    // enterprise pools its tenants on hosts of another class and capacity: that is a move.
    const refused = await patch(a.id, { tier: 'enterprise' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ rule: 'host-sizing-differs', host: (await host(hostId)).name });
    expect(refused.body.detail).toContain('instanceClass "db.t4g.medium" (the tier\'s "db.m6i.large")');
    expect(refused.body.detail).toContain("tenantsPerHost 2 (the tier's 50)");
    expect(refused.body.detail).toContain(
      'is a move between hosts: POST /v1/tenants/{id}/move {"tier": "enterprise"}',
    );
    expect(await changeCount(a.id)).toBe(1);

    // Back to starter, asked for the maintenance window: nothing waits for one.
    const back = await patch(a.id, { tier: 'starter', apply: 'maintenance-window' });
    expect(back.status).toBe(202);
    expect((await settled(a.id, 2)).status).toBe('SUCCEEDED');
    const final = await tenant(a.id);
    expect(final).toMatchObject({ tier: 'starter', host: { id: hostId } });
    expect(final.change!.notes).toContain(
      'applied at once: nothing waits for a maintenance window when no instance is modified',
    );
    expect((await host(hostId)).tenantsPlaced).toBe(2);
  });

  it('schema: starter → pro keeps the tenant’s schema, login and host, tags its app secret with the tier; another placement is refused', async () => {
    const config = await start('schema', SCHEMA);
    const s = await onboard('starter', 'sa');
    const names = tenantResourceNames(prefix, s.slug);
    const secretBefore = (
      await aws.secretsManager.send(
        new GetSecretValueCommand({ SecretId: names.appSecretName, VersionStage: 'AWSCURRENT' }),
      )
    ).SecretString!;

    expect((await patch(s.id, { tier: 'pro' })).status).toBe(202);
    const change = await settled(s.id, 1);
    expect([change.status, change.errorMessage]).toEqual(['SUCCEEDED', null]);
    expect(await tenant(s.id)).toMatchObject({ tier: 'pro', placement: 'schema', host: { id: s.hostId } });
    const { Tags } = await aws.secretsManager.send(
      new DescribeSecretCommand({ SecretId: names.appSecretName }),
    );
    expect(Object.fromEntries((Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      'silo:tier': 'pro',
      'silo:tenant-id': s.id,
      'silo:environment': config.resources.environment,
    });

    // Its login, its schema and its rows are as they were: the secret did not change.
    const now = (
      await aws.secretsManager.send(
        new GetSecretValueCommand({ SecretId: names.appSecretName, VersionStage: 'AWSCURRENT' }),
      )
    ).SecretString!;
    expect(now).toBe(secretBefore);
    const creds = JSON.parse(now) as {
      host: string;
      port: number;
      dbname: string;
      username: string;
      password: string;
    };
    const client = new Client({
      host: creds.host,
      port: creds.port,
      database: creds.dbname,
      user: creds.username,
      password: creds.password,
    });
    await client.connect();
    try {
      await client.query(`INSERT INTO notes (text) VALUES ('after the tier change')`);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM notes');
      expect(rows[0].n).toBe(1);
      const { rows: schema } = await client.query<{ s: string }>('SELECT current_schema() AS s');
      expect(schema[0].s).toBe(names.tenantSchema);
    } finally {
      await client.end();
    }

    const promotion = await patch(s.id, { tier: 'enterprise' });
    expect(promotion.status).toBe(422);
    expect(promotion.body).toMatchObject({
      rule: 'placement-change',
      fromPlacement: 'schema',
      toPlacement: 'instance',
    });
    expect(await changeCount(s.id)).toBe(1);
  });
});
