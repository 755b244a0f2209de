import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsClients, TenantAlarms, type AlarmView } from '@silo/aws';
import { HostEntity, TenantEntity } from '@silo/control-plane-db';
import {
  hostName,
  hostResourceNames,
  hostTags,
  ProvisioningError,
  ProvisioningErrorCode,
  tenantResourceNames,
  tenantTags,
  type TierName,
} from '@silo/core';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_TIER_PROFILES, hostAlarmSpecs, tenantAlarmSpecs } from '@silo/fleet';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { eventually } from '../../../test/support/eventually';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { fleetAlarmList, HOST_TENANTS_LISTED } from '../src/alarms/alarms.responses';
import { FleetAlarms } from '../src/alarms/fleet-alarms.service';
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
    // The API read CloudWatch when it started, before these alarms: read again now.
    await api.app.get(FleetAlarms).refresh();
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
    expect(page.items.map((a) => [a.tenant?.slug, a.metric, a.tenant?.tier]).sort()).toEqual(
      [
        [tenants.ent.slug, 'CPUUtilization', 'enterprise'],
        [tenants.ent.slug, 'FreeStorageSpace', 'enterprise'],
        [tenants.pro.slug, 'DatabaseConnections', 'pro'],
      ].sort(),
    );
    expect(page.items.every((a) => a.state === 'ALARM' && a.of === 'tenant' && a.tenant?.id)).toBe(true);
    expect(page.items.every((a) => a.host === null && a.hostTenants === null)).toBe(true);
    const times = page.items.map((a) => Date.parse(a.updatedAt!));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(page.nextCursor).toBeNull();
    // The default state is ALARM; an empty cursor is the first page.
    expect(await get('/v1/alarms?cursor=')).toEqual(page);
  });

  it('filters by tier, pages with a cursor, and lists the other states', async () => {
    const pro = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM&tier=pro,starter'));
    expect(pro.items.map((a) => a.tenant?.slug)).toEqual([tenants.pro.slug]);
    const first = fleetAlarmList.parse(await get('/v1/alarms?limit=2'));
    expect(first.items).toHaveLength(2);
    const second = fleetAlarmList.parse(await get(`/v1/alarms?limit=2&cursor=${first.nextCursor}`));
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((a) => a.name)).size).toBe(3);
    // (moto starts alarms OK; CloudWatch starts them INSUFFICIENT_DATA.)
    const quiet = fleetAlarmList.parse(await get('/v1/alarms?state=OK&limit=200'));
    expect(quiet.items.filter((a) => a.tenant?.slug === tenants.calm.slug)).toHaveLength(4);
    expect(quiet.items.filter((a) => a.tenant?.slug === tenants.ent.slug)).toHaveLength(2);
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

  it('counts firing alarms on the tenants list, from the same background read', async () => {
    const list = tenantList.parse(await get('/v1/tenants?limit=200'));
    const count = (label: string) => list.items.find((t) => t.id === tenants[label].id)?.firingAlarms;
    expect([count('ent'), count('pro'), count('calm')]).toEqual([2, 1, 0]);
    // A state change is seen at the next background read, not by a read of the API.
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

  it('lists a shared host’s alarms naming the host and the tenants on it, filtered by the host’s tier; a deleted host’s are left out', async () => {
    const hostsRepo = ds.getRepository(HostEntity);
    const newHost = (ordinal: number, status: 'available' | 'deleted') => {
      const name = hostName('pool', 'starter', ordinal);
      return hostsRepo.save(
        hostsRepo.create({
          name,
          placement: 'pool',
          tier: 'starter',
          ordinal,
          status,
          instanceIdentifier: hostResourceNames(prefix, name).instanceIdentifier,
          endpointHost: '127.0.0.1',
          endpointPort: 5432,
          databaseName: 'app',
          capacityTenants: 50,
          connectionBudget: 100,
          error: null,
          emptySince: null,
          deletedAt: status === 'deleted' ? new Date() : null,
          schemaVersion: '0002',
        }),
      );
    };
    const host = await newHost(1, 'available');
    const gone = await newHost(2, 'deleted');
    const repo = ds.getRepository(TenantEntity);
    const token = uniqueToken(2);
    // More tenants than a host alarm lists, and a DELETED one that no longer counts.
    const pooled = await repo.save(
      Array.from({ length: HOST_TENANTS_LISTED + 1 }, (_, i) =>
        repo.create({
          slug: `pool-${token}-${String(i).padStart(2, '0')}`,
          name: `pooled ${i}`,
          tier: 'starter',
          status: 'ACTIVE',
          placement: 'pool',
          hostId: host.id,
        }),
      ),
    );
    await repo.save(
      repo.create({
        slug: `pool-${token}-left`,
        name: 'left',
        tier: 'starter',
        status: 'DELETED',
        placement: 'pool',
        hostId: host.id,
      }),
    );
    const alarms = new TenantAlarms(aws);
    for (const h of [host, gone]) {
      const names = hostResourceNames(prefix, h.name);
      for (const spec of hostAlarmSpecs(names, DEFAULT_TIER_PROFILES.starter, {
        actions: [],
        tags: hostTags(h, 'test'),
      })) {
        await alarms.put(spec);
      }
      await aws.cloudWatch.send(
        new SetAlarmStateCommand({
          AlarmName: names.alarmName('CPUUtilization'),
          StateValue: 'ALARM',
          StateReason: 'test',
        }),
      );
    }
    await api.app.get(FleetAlarms).refresh();

    const page = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM&limit=200'));
    const onHosts = page.items.filter((a) => a.of === 'host');
    expect(onHosts).toEqual([
      expect.objectContaining({
        name: hostResourceNames(prefix, host.name).alarmName('CPUUtilization'),
        metric: 'CPUUtilization',
        state: 'ALARM',
        tenant: null,
        host: { id: host.id, name: host.name, placement: 'pool', tier: 'starter' },
        hostTenants: {
          count: HOST_TENANTS_LISTED + 1,
          items: pooled
            .map((t) => ({ id: t.id, slug: t.slug, tier: 'starter' }))
            .sort((a, b) => a.slug.localeCompare(b.slug))
            .slice(0, HOST_TENANTS_LISTED),
        },
      }),
    ]);
    const starter = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM&tier=starter'));
    expect(starter.items.map((a) => a.host?.name ?? a.tenant?.slug)).toContain(host.name);
    const enterprise = fleetAlarmList.parse(await get('/v1/alarms?state=ALARM&tier=enterprise'));
    expect(enterprise.items.filter((a) => a.of === 'host')).toEqual([]);
    const quiet = fleetAlarmList.parse(await get('/v1/alarms?state=OK&limit=200'));
    expect(
      quiet.items
        .filter((a) => a.host?.id === host.id)
        .map((a) => a.metric)
        .sort(),
    ).toEqual(['DatabaseConnections', 'FreeStorageSpace', 'FreeableMemory']);
    // The tenant view says the same: a pooled tenant's alarms are its host's.
    const own = (await get(`/v1/tenants/${pooled[0].id}/alarms`)) as {
      of: string;
      items: { state: string }[];
    };
    expect(own.of).toBe('host');
    expect(own.items.filter((a) => a.state === 'ALARM')).toHaveLength(1);
  });
});

/** An HTTP proxy in front of the emulator that counts the CloudWatch calls going through it. */
class CloudWatchCallCounter {
  calls = 0;
  private constructor(private readonly server: Server) {}

  static async start(upstream: string): Promise<CloudWatchCallCounter> {
    const target = new URL(upstream);
    const server = createServer((req, res) => {
      // SigV4's credential scope names the service: CloudWatch signs as `monitoring`.
      if (/\/monitoring\/aws4_request/.test(req.headers.authorization ?? '')) counter.calls++;
      const forward = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    const counter = new CloudWatchCallCounter(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return counter;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('alarm reads served from the background read of CloudWatch', () => {
  const ownPrefix = `fb${uniqueToken(3)}`;
  let database: { name: string; url: string };
  let counter: CloudWatchCallCounter;
  let api: ApiHarness;
  let aws: AwsClients;
  let tenant: TenantEntity;
  let backgroundReads: jest.SpyInstance;

  beforeAll(async () => {
    database = await createOwnDatabase('fleet_alarms_bg');
    const direct = testConfig({ DATABASE_URL: database.url, SILO_RESOURCE_PREFIX: ownPrefix });
    counter = await CloudWatchCallCounter.start(direct.aws.endpoint!);
    // Every read of the fleet view goes through withPrefix, the background read, on any instance.
    backgroundReads = jest.spyOn(TenantAlarms.prototype, 'withPrefix');
    api = await startApi(
      testConfig({
        DATABASE_URL: database.url,
        SILO_RESOURCE_PREFIX: ownPrefix,
        AWS_ENDPOINT_URL: counter.url,
        // One region: these tests hold and release the one background read of CloudWatch.
        SILO_REGIONS: TEST_REGIONS[0],
      }),
    );
    aws = new AwsClients(direct);
    const repo = api.app.get(DataSource).getRepository(TenantEntity);
    tenant = await repo.save(
      repo.create({ slug: `bg-${uniqueToken(2)}`, name: 'bg', tier: 'pro', status: 'ACTIVE' }),
    );
    const alarms = new TenantAlarms(aws);
    for (const spec of tenantAlarmSpecs(
      tenantResourceNames(ownPrefix, tenant.slug),
      DEFAULT_TIER_PROFILES.pro,
      { actions: [], tags: tenantTags(tenant, 'test') },
    )) {
      await alarms.put(spec);
    }
    await aws.cloudWatch.send(
      new SetAlarmStateCommand({
        AlarmName: tenantResourceNames(ownPrefix, tenant.slug).alarmName('CPUUtilization'),
        StateValue: 'ALARM',
        StateReason: 'test',
      }),
    );
    await api.app.get(FleetAlarms).refresh();
  });

  afterAll(async () => {
    backgroundReads?.mockRestore();
    await api?.close();
    await counter?.close();
    aws?.onApplicationShutdown();
    if (database) await dropDatabase(database.name);
  });

  const http = () => request(api.app.getHttpServer());

  it('answers any number of alarm and tenant reads with no CloudWatch call beyond the background read', async () => {
    const sre = await api.auth(['sre']);
    for (let i = 0; i < 15; i++) {
      const alarms = await http()
        .get(`/v1/tenants/${tenant.id}/alarms`)
        .set('authorization', sre)
        .expect(200);
      expect(alarms.body.items).toHaveLength(4);
      await http().get('/v1/alarms?state=ALARM').set('authorization', sre).expect(200);
      const one = await http().get(`/v1/tenants/${tenant.slug}`).set('authorization', sre).expect(200);
      expect(one.body.firingAlarms).toBe(1);
      await http().get('/v1/tenants?limit=5').set('authorization', sre).expect(200);
    }
    // One DescribeAlarms page per background read (fewer than 100 alarms under this prefix);
    // a read that went to CloudWatch itself would add its own call. A background read that
    // started just now may still be on its way to the proxy.
    await eventually(() =>
      Promise.resolve().then(() => expect(counter.calls).toBe(backgroundReads.mock.calls.length)),
    );
    expect(counter.calls).toBeGreaterThan(0);
    expect(backgroundReads.mock.calls.length).toBeLessThan(15);
  });

  it('aborts a background read that is over, so a CloudWatch that hangs keeps no call open', async () => {
    const fleet = api.app.get(FleetAlarms);
    // The adapter hands the signal to the SDK: an aborted one ends the call against the emulator.
    await expect(
      fleet['alarms'].withPrefix(api.config.resources.prefix, AbortSignal.abort()),
    ).rejects.toThrow();
    const views = await fleet['alarms'].withPrefix(api.config.resources.prefix);
    let signal: AbortSignal | undefined;
    let release: (views: AlarmView[]) => void = () => undefined;
    const read = jest.spyOn(fleet['alarms'], 'withPrefix').mockImplementation((_prefix, s) => {
      signal = s;
      return new Promise<AlarmView[]>((resolve) => (release = resolve));
    });
    try {
      const refreshing = fleet.refresh();
      expect(signal?.aborted).toBe(false);
      release(views);
      await refreshing;
      expect(signal?.aborted).toBe(true);
    } finally {
      read.mockRestore();
    }
  });

  it('answers a tenant read at once, from the last good read, while CloudWatch hangs', async () => {
    const sre = await api.auth(['sre']);
    const fleet = api.app.get(FleetAlarms);
    const before = await http().get(`/v1/tenants/${tenant.id}/alarms`).set('authorization', sre).expect(200);
    let release: (views: AlarmView[]) => void = () => undefined;
    const hanging = jest
      .spyOn(fleet['alarms'], 'withPrefix')
      .mockImplementation(() => new Promise<AlarmView[]>((resolve) => (release = resolve)));
    try {
      // A refresh is in flight and CloudWatch does not answer it.
      const refreshing = fleet.refresh();
      expect(hanging).toHaveBeenCalled();
      const one = await http()
        .get(`/v1/tenants/${tenant.id}`)
        .set('authorization', sre)
        .timeout(5000)
        .expect(200);
      expect(one.body.firingAlarms).toBe(1);
      const alarms = await http()
        .get(`/v1/tenants/${tenant.id}/alarms`)
        .set('authorization', sre)
        .timeout(5000)
        .expect(200);
      expect(alarms.body).toEqual(before.body);
      const fleetView = await http().get('/v1/alarms').set('authorization', sre).timeout(5000).expect(200);
      expect(fleetView.body.readAt).toBe(before.body.readAt);
      release([]);
      await refreshing;
    } finally {
      hanging.mockRestore();
    }
  });

  it('keeps the last good answer, with its age, when a background read fails', async () => {
    const sre = await api.auth(['sre']);
    const fleet = api.app.get(FleetAlarms);
    await fleet.refresh();
    const before = await http().get(`/v1/tenants/${tenant.id}/alarms`).set('authorization', sre).expect(200);
    const failing = jest
      .spyOn(fleet['alarms'], 'withPrefix')
      .mockRejectedValue(new ProvisioningError(ProvisioningErrorCode.AWS_UNAVAILABLE, 'throttled'));
    try {
      await expect(fleet.refresh()).rejects.toThrow('throttled');
      const after = await http().get(`/v1/tenants/${tenant.id}/alarms`).set('authorization', sre).expect(200);
      expect(after.body).toEqual(before.body);
      expect(Date.parse(after.body.readAt)).toBeLessThan(Date.now());
      const one = await http().get(`/v1/tenants/${tenant.id}`).set('authorization', sre).expect(200);
      expect(one.body.firingAlarms).toBe(1);
    } finally {
      failing.mockRestore();
    }
  });
});

describe('alarm reads before the first read of CloudWatch', () => {
  let api: ApiHarness;
  let release: (views: AlarmView[]) => void = () => undefined;
  let firstRead: jest.SpyInstance;

  beforeAll(async () => {
    firstRead = jest
      .spyOn(TenantAlarms.prototype, 'withPrefix')
      .mockImplementation(() => new Promise<AlarmView[]>((resolve) => (release = resolve)));
    // One region: the test holds and releases the one first read of CloudWatch.
    api = await startApi(
      testConfig({ SILO_RESOURCE_PREFIX: `fc${uniqueToken(3)}`, SILO_REGIONS: TEST_REGIONS[0] }),
    );
  });

  afterAll(async () => {
    release([]);
    firstRead?.mockRestore();
    await api?.close();
  });

  it('shows the firing count as unknown on tenant reads, and alarm reads wait for the first read', async () => {
    const sre = await api.auth(['sre']);
    const http = () => request(api.app.getHttpServer());
    const repo = api.app.get(DataSource).getRepository(TenantEntity);
    const tenant = await repo.save(
      repo.create({ slug: `fc-${uniqueToken(3)}`, name: 'fc', tier: 'starter', status: 'ACTIVE' }),
    );
    const one = await http()
      .get(`/v1/tenants/${tenant.id}`)
      .set('authorization', sre)
      .timeout(5000)
      .expect(200);
    expect(one.body.firingAlarms).toBeNull();
    let answered = false;
    const waiting = http()
      .get(`/v1/tenants/${tenant.id}/alarms`)
      .set('authorization', sre)
      .then((res) => {
        answered = true;
        return res;
      });
    await eventually(() => Promise.resolve().then(() => expect(firstRead).toHaveBeenCalled()));
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    release([]);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], readAt: expect.any(String), of: 'tenant', host: null });
  });
});
