import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsClients, TenantAlarms } from '@silo/aws';
import { TenantEntity } from '@silo/control-plane-db';
import { tenantResourceNames, tenantTags, type TierName } from '@silo/core';
import { DEFAULT_TIER_PROFILES, tenantAlarmSpecs } from '@silo/provisioning';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fleetAlarmList } from '../src/alarms/alarms.responses';
import { tenantList } from '../src/tenants/tenant.responses';
import { startApi, type ApiHarness } from './api-harness';

jest.setTimeout(60_000);

const prefix = `fa${uniqueToken(3)}`;

describe('GET /v1/alarms: every tenant’s alarms in one state', () => {
  let database: { name: string; url: string };
  let api: ApiHarness;
  let aws: AwsClients;
  let ds: DataSource;
  const tenants: Record<string, TenantEntity> = {};

  beforeAll(async () => {
    database = await createOwnDatabase('fleet_alarms');
    const config = testConfig({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ALARM_ACTIONS: 'none',
    });
    api = await startApi(config);
    ds = api.app.get(DataSource);
    aws = new AwsClients(config);
    const alarms = new TenantAlarms(aws);
    const seed: [string, TierName][] = [
      ['ent', 'enterprise'],
      ['pro', 'pro'],
      ['calm', 'starter'],
    ];
    for (const [label, tier] of seed) {
      const repo = ds.getRepository(TenantEntity);
      const tenant = await repo.save(
        repo.create({ slug: `${label}-${uniqueToken(2)}`, name: label, tier, status: 'ACTIVE' }),
      );
      tenants[label] = tenant;
      const names = tenantResourceNames(prefix, tenant.slug);
      for (const spec of tenantAlarmSpecs(names, DEFAULT_TIER_PROFILES[tier], {
        actions: [],
        tags: tenantTags(tenant, 'test'),
      })) {
        await alarms.put(spec);
      }
    }
    // An alarm under the prefix that names no tenant (an orphan) is never shown.
    await alarms.put({
      ...tenantAlarmSpecs(tenantResourceNames(prefix, 'gone-tenant'), DEFAULT_TIER_PROFILES.starter, {
        actions: [],
        tags: {},
      })[0],
    });
    const fire = (slug: string, metric: string) =>
      aws.cloudWatch.send(
        new SetAlarmStateCommand({
          AlarmName: tenantResourceNames(prefix, slug).alarmName(metric as 'CPUUtilization'),
          StateValue: 'ALARM',
          StateReason: 'test',
        }),
      );
    await fire(tenants.ent.slug, 'CPUUtilization');
    await fire(tenants.ent.slug, 'FreeStorageSpace');
    await fire(tenants.pro.slug, 'DatabaseConnections');
    await fire('gone-tenant', 'CPUUtilization');
  });

  afterAll(async () => {
    await api?.close();
    aws?.onApplicationShutdown();
    if (database) await dropDatabase(database.name);
  });

  const get = async (path: string, expected = 200) => {
    const res = await request(api.app.getHttpServer())
      .get(path)
      .set('authorization', await api.auth(['sre']));
    expect(res.status).toBe(expected);
    return res.body as unknown;
  };

  it('lists the firing alarms of every tenant with tenant id, slug and tier, newest first; orphans left out', async () => {
    const page = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM'));
    expect(page.items.map((a) => [a.tenant.slug, a.metric, a.tenant.tier]).sort()).toEqual(
      [
        [tenants.ent.slug, 'CPUUtilization', 'enterprise'],
        [tenants.ent.slug, 'FreeStorageSpace', 'enterprise'],
        [tenants.pro.slug, 'DatabaseConnections', 'pro'],
      ].sort(),
    );
    expect(page.items.every((a) => a.state === 'ALARM' && a.tenant.id)).toBe(true);
    const times = page.items.map((a) => Date.parse(a.updatedAt!));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(page.nextCursor).toBeNull();
    // The default state is ALARM; an empty cursor is the first page.
    expect(await get('/v1/alarms?cursor=')).toEqual(page);
  });

  it('filters by tier, pages with a cursor, and lists the other states', async () => {
    const pro = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM&tier=pro,starter'));
    expect(pro.items.map((a) => a.tenant.slug)).toEqual([tenants.pro.slug]);
    const first = fleetAlarmList.parse(await get('/v1/alarms?limit=2'));
    expect(first.items).toHaveLength(2);
    const second = fleetAlarmList.parse(await get(`/v1/alarms?limit=2&cursor=${first.nextCursor}`));
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((a) => a.name)).size).toBe(3);
    // (moto starts alarms OK; CloudWatch starts them INSUFFICIENT_DATA.)
    const quiet = fleetAlarmList.parse(await get('/v1/alarms?state=OK&limit=200'));
    expect(quiet.items.filter((a) => a.tenant.slug === tenants.calm.slug)).toHaveLength(4);
    expect(quiet.items.filter((a) => a.tenant.slug === tenants.ent.slug)).toHaveLength(2);
    expect(fleetAlarmList.parse(await get('/v1/alarms?state=INSUFFICIENT_DATA')).items).toEqual([]);
  });

  it('refuses a bad state, tier, limit or cursor, naming it', async () => {
    for (const [query, field] of [
      ['state=FIRING', 'query.state'],
      ['tier=gold', 'query.tier'],
      ['limit=0', 'query.limit'],
      ['cursor=nope', 'query.cursor'],
      ['colour=red', 'query.colour'],
    ]) {
      const body = (await get(`/v1/alarms?${query}`, 400)) as { errors: { field: string }[] };
      expect(body.errors.map((e) => e.field)).toContain(field);
    }
  });

  it('counts firing alarms on the tenants list, from the same short cache', async () => {
    const list = tenantList.parse(await get('/v1/tenants?limit=200'));
    const count = (label: string) => list.items.find((t) => t.id === tenants[label].id)?.firingAlarms;
    expect([count('ent'), count('pro'), count('calm')]).toEqual([2, 1, 0]);
    // A state change within the cache's 15 s is not read again: one CloudWatch read serves all.
    await aws.cloudWatch.send(
      new SetAlarmStateCommand({
        AlarmName: tenantResourceNames(prefix, tenants.calm.slug).alarmName('CPUUtilization'),
        StateValue: 'ALARM',
        StateReason: 'test',
      }),
    );
    const again = tenantList.parse(await get('/v1/tenants?limit=200'));
    expect(again.items.find((t) => t.id === tenants.calm.id)?.firingAlarms).toBe(0);
  });
});
