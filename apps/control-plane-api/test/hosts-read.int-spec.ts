import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsClients, TenantAlarms } from '@silo/aws';
import { HostEntity, TenantEntity } from '@silo/control-plane-db';
import { hostResourceNames, hostTags } from '@silo/core';
import { HostAllocator } from '@silo/fleet';
import request from 'supertest';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { FleetAlarms } from '../src/alarms/fleet-alarms.service';
import { hostList, hostResource } from '../src/hosts/host.responses';
import { hostView } from '../src/hosts/host.view';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

// The view and the documented schema are the same type: a field added to one and not the other
// fails the typecheck.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const viewMatchesSchema: Same<ReturnType<typeof hostView>, z.output<typeof hostResource>> = true;

const prefix = `hr${uniqueToken(3)}`;

describe('GET /v1/hosts and /v1/hosts/{id}', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  let ds: DataSource;
  let sre: string;
  const http = () => request(api.app.getHttpServer());

  /** Places `count` new tenants of the tier with the API's own allocator. */
  async function placeTenants(
    count: number,
    placement: 'pool' | 'schema',
    tier: 'starter' | 'pro',
    tenantsPerHost: number,
  ): Promise<HostEntity[]> {
    const hosts: HostEntity[] = [];
    for (let i = 0; i < count; i++) {
      const tenant = await ds.getRepository(TenantEntity).save({
        slug: `hr-${uniqueToken(4)}`,
        name: 'Hosted',
        tier,
        status: 'PROVISIONING',
        placement,
      });
      const placed = await api.app
        .get(HostAllocator)
        .placeTenant(tenant.id, { placement, tier, capacity: { tenantsPerHost, connectionBudget: 40 } });
      hosts.push(placed.host);
    }
    return hosts;
  }

  beforeAll(async () => {
    database = await createOwnDatabase('hosts_read');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ALARM_ACTIONS: 'none',
    });
    api = await startApi(config);
    ds = api.app.get(DataSource);
    sre = await api.auth(['sre']);
  });
  afterAll(async () => {
    await api?.close();
    if (database) await dropDatabase(database.name);
  });

  it('shows a host with its tenants placed, capacity and endpoint, and nothing secret', async () => {
    const [host] = await placeTenants(3, 'pool', 'starter', 5);
    await ds.query(
      `UPDATE hosts SET status = 'available', endpoint_host = 'pool.internal', endpoint_port = 5433 WHERE id = $1`,
      [host.id],
    );
    const res = await http().get(`/v1/hosts/${host.id}`).set('authorization', sre).expect(200);
    expect(res.body).toEqual({
      id: host.id,
      name: 'pool-starter-001',
      placement: 'pool',
      tier: 'starter',
      region: 'us-east-1',
      status: 'available',
      instanceIdentifier: `${prefix}-host-pool-starter-001`,
      tenantsPlaced: 3,
      capacity: { tenants: 5, connectionBudget: 40 },
      endpoint: { host: 'pool.internal', port: 5433, database: 'app' },
      error: null,
      emptySince: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      deletedAt: null,
      alarms: { items: [], readAt: expect.any(String) },
      findings: [],
    });
    expect(hostResource.strict().safeParse(res.body).success).toBe(true);
    expect(JSON.stringify(res.body)).not.toMatch(/secret|password|arn:/i);
    // An uppercase id names the same host.
    await http().get(`/v1/hosts/${host.id.toUpperCase()}`).set('authorization', sre).expect(200);
  });

  it('shows the endpoint as null until it is known, and why a failed host failed', async () => {
    const [host] = await placeTenants(1, 'schema', 'pro', 10);
    const error = {
      code: 'AWS_PERMANENT',
      message: 'InsufficientDBInstanceCapacity',
      step: 'create-instance',
    };
    await ds.query(`UPDATE hosts SET status = 'failed', error = $2 WHERE id = $1`, [host.id, error]);
    const res = await http().get(`/v1/hosts/${host.id}`).set('authorization', sre).expect(200);
    expect(res.body).toMatchObject({ status: 'failed', endpoint: null, error, tenantsPlaced: 1 });
  });

  it('shows the host’s own alarms from CloudWatch, not a tenant’s', async () => {
    const [host] = await placeTenants(1, 'pool', 'pro', 10);
    const names = hostResourceNames(prefix, host.name);
    const alarms = new TenantAlarms(new AwsClients(api.config));
    await alarms.put({
      name: names.alarmName('CPUUtilization'),
      metric: 'CPUUtilization',
      comparison: 'GreaterThanThreshold',
      threshold: 80,
      instanceIdentifier: names.instanceIdentifier,
      description: 'Average CPU above 80% for 15 minutes',
      actions: [],
      tags: hostTags(host, 'test'),
    });
    await api.app.get(FleetAlarms).refresh();
    const res = await http().get(`/v1/hosts/${host.id}`).set('authorization', sre).expect(200);
    expect(res.body.alarms.items).toEqual([
      expect.objectContaining({
        name: `${prefix}-host-${host.name}-CPUUtilization`,
        metric: 'CPUUtilization',
        threshold: 80,
      }),
    ]);
    // In the list too, from the same read.
    const list = await http().get('/v1/hosts?placement=pool&tier=pro').set('authorization', sre).expect(200);
    const listed = (list.body.items as { id: string; alarms: { items: unknown[] } }[]).find(
      (h) => h.id === host.id,
    );
    expect(listed?.alarms.items).toHaveLength(1);

    // A tenant placed on the host names it, and its alarms are the host's, said to be so.
    const [tenant] = await ds.getRepository(TenantEntity).findBy({ hostId: host.id });
    const shown = await http().get(`/v1/tenants/${tenant.id}`).set('authorization', sre).expect(200);
    expect(shown.body).toMatchObject({
      placement: 'pool',
      host: { id: host.id, name: host.name },
      database: null,
    });
    const own = await http().get(`/v1/tenants/${tenant.id}/alarms`).set('authorization', sre).expect(200);
    expect(own.body).toMatchObject({ of: 'host', host: { id: host.id, name: host.name } });
    expect(own.body.items).toEqual([
      expect.objectContaining({ name: `${prefix}-host-${host.name}-CPUUtilization` }),
    ]);
    const page = await http().get(`/v1/tenants?tier=pro`).set('authorization', sre).expect(200);
    expect(
      (page.body.items as { id: string; host: unknown }[]).find((t) => t.id === tenant.id)?.host,
    ).toEqual({
      id: host.id,
      name: host.name,
    });
    expect(shown.body.firingAlarms).toBe(0);

    // Once the host's alarm fires, every tenant on it counts it.
    await new AwsClients(api.config).cloudWatch.send(
      new SetAlarmStateCommand({
        AlarmName: names.alarmName('CPUUtilization'),
        StateValue: 'ALARM',
        StateReason: 'test',
      }),
    );
    await api.app.get(FleetAlarms).refresh();
    const firing = await http().get(`/v1/tenants/${tenant.id}`).set('authorization', sre).expect(200);
    expect(firing.body.firingAlarms).toBe(1);

    // Its credentials are its host's pool login: rotated with the host, for all its tenants.
    await ds.getRepository(TenantEntity).update({ id: tenant.id }, { status: 'ACTIVE' });
    const rotation = await http()
      .post(`/v1/tenants/${tenant.id}/rotate-credentials`)
      .set('authorization', await api.auth(['admin']))
      .send({})
      .expect(422);
    expect(rotation.body).toMatchObject({ rule: 'host-pool-login', hostId: host.id, host: host.name });
    expect(rotation.body.detail).toContain(`POST /v1/hosts/${host.id}/rotate-credentials`);
    expect(await ds.query('SELECT 1 FROM tenant_changes WHERE tenant_id = $1', [tenant.id])).toEqual([]);
  });

  it('lists hosts newest first in pages, filtered by placement, tier and status', async () => {
    const tier = 'starter';
    // Capacity 1: each tenant its own host, so that there are enough hosts to page through.
    const made = await placeTenants(5, 'schema', tier, 1);
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const res = await http()
        .get(`/v1/hosts?placement=schema&tier=${tier}&limit=2&cursor=${cursor}`)
        .set('authorization', sre)
        .expect(200);
      expect(hostList.safeParse(res.body).success).toBe(true);
      seen.push(...(res.body.items as { id: string }[]).map((h) => h.id));
      cursor = res.body.nextCursor as string | null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(made.map((h) => h.id).reverse());

    await ds.query(`UPDATE hosts SET status = 'failed' WHERE id = $1`, [made[2].id]);
    const failed = await http()
      .get('/v1/hosts?status=failed,deleting&placement=schema&tier=starter')
      .set('authorization', sre)
      .expect(200);
    expect((failed.body.items as { id: string }[]).map((h) => h.id)).toEqual([made[2].id]);
    const none = await http().get('/v1/hosts?tier=enterprise').set('authorization', sre).expect(200);
    expect(none.body).toEqual({ items: [], nextCursor: null });
  });

  it('answers 404 problem+json for an unknown id and 400 naming path.id for one that is not a UUID', async () => {
    const missing = await http()
      .get('/v1/hosts/00000000-0000-4000-8000-000000000000')
      .set('authorization', sre)
      .expect(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, detail: 'No host has this id.' });

    for (const bad of ['pool-starter-001', 'not-a-uuid', '00000000-0000-4000-8000-00000000000']) {
      const res = await http().get(`/v1/hosts/${bad}`).set('authorization', sre).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors).toEqual([{ field: 'path.id', message: 'must be a UUID' }]);
    }
  });

  it.each([
    ['placement=instance', 'query.placement'],
    ['status=resting', 'query.status'],
    ['tier=gold', 'query.tier'],
    ['limit=0', 'query.limit'],
    ['limit=201', 'query.limit'],
    ['cursor=bm9wZQ', 'query.cursor'],
    ['owner=me', 'query.owner'],
  ])('refuses %s with 400 naming %s', async (query, field) => {
    const res = await http().get(`/v1/hosts?${query}`).set('authorization', sre).expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.body.errors as { field: string }[]).map((e) => e.field)).toEqual([field]);
  });

  it('keeps the host view and the documented schema the same type', () => {
    expect(viewMatchesSchema).toBe(true);
  });

  it('does not take a tenant list cursor for a host list', async () => {
    const tenantCursor = Buffer.from(
      `v1.1700000000000000.${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`,
    ).toString('base64url');
    await http().get(`/v1/hosts?cursor=${tenantCursor}`).set('authorization', sre).expect(400);
  });
});
