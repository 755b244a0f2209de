import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { uniqueToken } from '../../../test/support/test-config';
import { databaseUrl, testServices } from '../../../test/support/test-services';
import {
  controlPlaneDataSourceOptions,
  HostEntity,
  migrateControlPlane,
  TenantEntity,
  type HostStatus,
} from '../../control-plane-db/src';
import { quoteIdentifier, type SharedPlacement } from '../../core/src';
import { HostAllocator, HostError, HostErrorCode, HostRetirement, type PlacementRequest } from '../src';

// A database of its own: hosts are per placement and tier, and other files' tenants must not
// take or fill this file's places.
const database = `silo_hosts_${uniqueToken()}`;
const url = databaseUrl(testServices.postgresAdminUrl, database);
let ds: DataSource;
let allocator: HostAllocator;
let retirement: HostRetirement;

beforeAll(async () => {
  await migrateControlPlane({ url, createDatabase: true });
  ds = await new DataSource(
    controlPlaneDataSourceOptions({ url, poolMax: 24, connectTimeoutMs: 3000, applicationName: 'silo-test' }),
  ).initialize();
  allocator = new HostAllocator(ds, { prefix: 'silo', databaseName: 'app' });
  retirement = new HostRetirement(ds);
});

// Dropping databases can outlast jest's 5 s on a loaded machine.
afterAll(async () => {
  await ds?.destroy();
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
  await admin.end();
}, 60_000);

/** A tier of its own per test, so tests never share hosts. */
function tierName(): string {
  return `t${uniqueToken(3).replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)])}`;
}

function request(
  tier: string,
  tenantsPerHost: number,
  placement: SharedPlacement = 'pool',
): PlacementRequest {
  return { placement, tier, capacity: { tenantsPerHost, connectionBudget: 50 } };
}

async function newTenants(
  count: number,
  tier: string,
  placement: SharedPlacement = 'pool',
): Promise<string[]> {
  const rows = await ds.getRepository(TenantEntity).save(
    Array.from({ length: count }, () => ({
      slug: `h-${uniqueToken(6)}`,
      name: 'Pooled',
      tier: tier as never,
      status: 'PROVISIONING' as const,
      placement,
    })),
  );
  return rows.map((t) => t.id);
}

async function placedPerHost(
  tier: string,
): Promise<Array<{ name: string; placed: number; capacity: number }>> {
  return ds.query(
    `SELECT h.name, h.capacity_tenants AS capacity,
            (SELECT count(*)::int FROM tenants t WHERE t.host_id = h.id AND t.status <> 'DELETED') AS placed
       FROM hosts h WHERE h.tier = $1 ORDER BY h.ordinal`,
    [tier],
  );
}

async function setHostStatus(name: string, status: HostStatus): Promise<void> {
  await ds.query(
    `UPDATE hosts SET status = $2::text,
            endpoint_host = CASE WHEN $2::text = 'available' THEN 'db.internal' ELSE endpoint_host END,
            endpoint_port = CASE WHEN $2::text = 'available' THEN 5432 ELSE endpoint_port END,
            deleted_at = CASE WHEN $2::text = 'deleted' THEN now() END
      WHERE name = $1`,
    [name, status],
  );
}

describe('HostAllocator.placeTenant on PostgreSQL', () => {
  it('makes the first host when none exists, fills it, then makes the next', async () => {
    const tier = tierName();
    const [a, b, c] = await newTenants(3, tier);
    const first = await allocator.placeTenant(a, request(tier, 2));
    expect(first).toMatchObject({ hostCreated: true, alreadyPlaced: false, tenantsPlaced: 1 });
    expect(first.host).toMatchObject({
      name: `pool-${tier}-001`,
      placement: 'pool',
      tier,
      ordinal: 1,
      status: 'creating',
      instanceIdentifier: `silo-host-pool-${tier}-001`,
      databaseName: 'app',
      capacityTenants: 2,
      connectionBudget: 50,
      endpointHost: null,
    });
    const second = await allocator.placeTenant(b, request(tier, 2));
    expect(second).toMatchObject({ hostCreated: false, tenantsPlaced: 2 });
    expect(second.host.id).toBe(first.host.id);
    const third = await allocator.placeTenant(c, request(tier, 2));
    expect(third).toMatchObject({ hostCreated: true, tenantsPlaced: 1 });
    expect(third.host.name).toBe(`pool-${tier}-002`);
    expect(await ds.getRepository(TenantEntity).findOneByOrFail({ id: c })).toMatchObject({
      placement: 'pool',
      hostId: third.host.id,
    });
  });

  it('lets concurrent placements racing for the last places neither overfill a host nor make a second new host', async () => {
    for (let round = 0; round < 5; round++) {
      const tier = tierName();
      const [seed1, seed2, seed3] = await newTenants(3, tier);
      for (const id of [seed1, seed2, seed3]) await allocator.placeTenant(id, request(tier, 5));
      await setHostStatus(`pool-${tier}-001`, 'available');
      // Two places left on host 001; seven racers: two fit there, five on exactly one new host.
      const racers = await newTenants(7, tier);
      const results = await Promise.all(racers.map((id) => allocator.placeTenant(id, request(tier, 5))));
      expect(results.filter((r) => r.hostCreated)).toHaveLength(1);
      expect(await placedPerHost(tier)).toEqual([
        { name: `pool-${tier}-001`, placed: 5, capacity: 5 },
        { name: `pool-${tier}-002`, placed: 5, capacity: 5 },
      ]);
      // What each call said it did adds up to what the database holds.
      expect(results.map((r) => r.tenantsPlaced).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 4, 5, 5]);
    }
  });

  it('packs twenty concurrent placements onto the fewest hosts', async () => {
    const tier = tierName();
    const racers = await newTenants(20, tier, 'schema');
    const results = await Promise.all(
      racers.map((id) => allocator.placeTenant(id, request(tier, 6, 'schema'))),
    );
    expect(results.filter((r) => r.hostCreated)).toHaveLength(4);
    expect((await placedPerHost(tier)).map((h) => h.placed)).toEqual([6, 6, 6, 2]);
  });

  it('answers the same host when a placed tenant is placed again, also when both calls race', async () => {
    const tier = tierName();
    const [solo, raced] = await newTenants(2, tier);
    const first = await allocator.placeTenant(solo, request(tier, 3));
    const again = await allocator.placeTenant(solo, request(tier, 3));
    expect(again).toMatchObject({ alreadyPlaced: true, hostCreated: false, tenantsPlaced: 1 });
    expect(again.host.id).toBe(first.host.id);

    const both = await Promise.all([
      allocator.placeTenant(raced, request(tier, 3)),
      allocator.placeTenant(raced, request(tier, 3)),
    ]);
    expect(both[0].host.id).toBe(both[1].host.id);
    expect(both.map((r) => r.alreadyPlaced).sort()).toEqual([false, true]);
    expect(await placedPerHost(tier)).toEqual([{ name: `pool-${tier}-001`, placed: 2, capacity: 3 }]);
  });

  it('chooses the fullest host with room, an available one before one still being created', async () => {
    const tier = tierName();
    const seeds = await newTenants(4, tier);
    // 001 gets one tenant, 002 two (via a full 001 of capacity 1, then capacity 3 for later ones).
    await allocator.placeTenant(seeds[0], request(tier, 1));
    await allocator.placeTenant(seeds[1], request(tier, 3));
    await allocator.placeTenant(seeds[2], request(tier, 3));
    await ds.query(`UPDATE hosts SET capacity_tenants = 3 WHERE name = $1`, [`pool-${tier}-001`]);
    await setHostStatus(`pool-${tier}-001`, 'available');
    // 002 (creating) holds two, 001 (available) one: the fullest wins over the available one.
    const [next] = await newTenants(1, tier);
    expect((await allocator.placeTenant(next, request(tier, 3))).host.name).toBe(`pool-${tier}-002`);
    // Now 002 is full; 001 has room.
    expect((await allocator.placeTenant(seeds[3], request(tier, 3))).host.name).toBe(`pool-${tier}-001`);
    // Equal counts: the available one first.
    const tie = tierName();
    const [x, y, z] = await newTenants(3, tie);
    await allocator.placeTenant(x, request(tie, 1));
    await allocator.placeTenant(y, request(tie, 1));
    await ds.query(`UPDATE hosts SET capacity_tenants = 2 WHERE tier = $1`, [tie]);
    await setHostStatus(`pool-${tie}-002`, 'available');
    expect((await allocator.placeTenant(z, request(tie, 2))).host.name).toBe(`pool-${tie}-002`);
  });

  it('places no tenant on a failed, deleting or deleted host, and never reuses an ordinal', async () => {
    const tier = tierName();
    const [a, b, c, d] = await newTenants(4, tier);
    await allocator.placeTenant(a, request(tier, 5));
    await setHostStatus(`pool-${tier}-001`, 'failed');
    expect((await allocator.placeTenant(b, request(tier, 5))).host.name).toBe(`pool-${tier}-002`);
    await setHostStatus(`pool-${tier}-002`, 'deleting');
    expect((await allocator.placeTenant(c, request(tier, 5))).host.name).toBe(`pool-${tier}-003`);
    await ds.query(
      `UPDATE tenants SET status = 'DELETED' WHERE host_id = (SELECT id FROM hosts WHERE name = $1)`,
      [`pool-${tier}-003`],
    );
    await setHostStatus(`pool-${tier}-003`, 'deleted');
    expect((await allocator.placeTenant(d, request(tier, 5))).host.name).toBe(`pool-${tier}-004`);
  });

  it('counts a DELETED tenant no longer, so its place is taken again', async () => {
    const tier = tierName();
    const [a, b] = await newTenants(2, tier);
    const first = await allocator.placeTenant(a, request(tier, 1));
    await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE id = $1`, [a]);
    const second = await allocator.placeTenant(b, request(tier, 1));
    expect(second).toMatchObject({ hostCreated: false, tenantsPlaced: 1 });
    expect(second.host.id).toBe(first.host.id);
  });

  it('keeps placements and tiers apart', async () => {
    const tier = tierName();
    const other = tierName();
    const [pooled] = await newTenants(1, tier, 'pool');
    const [schema] = await newTenants(1, tier, 'schema');
    const [otherTier] = await newTenants(1, other, 'pool');
    const hosts = await Promise.all([
      allocator.placeTenant(pooled, request(tier, 10, 'pool')),
      allocator.placeTenant(schema, request(tier, 10, 'schema')),
      allocator.placeTenant(otherTier, request(other, 10, 'pool')),
    ]);
    expect(hosts.map((h) => h.host.name)).toEqual([
      `pool-${tier}-001`,
      `schema-${tier}-001`,
      `pool-${other}-001`,
    ]);
  });

  it("clears a host's empty_since when a tenant is placed on it", async () => {
    const tier = tierName();
    const [a, b] = await newTenants(2, tier);
    const { host } = await allocator.placeTenant(a, request(tier, 5));
    await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE id = $1`, [a]);
    await ds.query(`UPDATE hosts SET empty_since = now() WHERE id = $1`, [host.id]);
    await allocator.placeTenant(b, request(tier, 5));
    expect((await ds.getRepository(HostEntity).findOneByOrFail({ id: host.id })).emptySince).toBeNull();
  });

  it.each<[string, (tier: string) => Promise<string>, PlacementRequest['placement']]>([
    ['an unknown tenant', () => Promise.resolve('00000000-0000-4000-8000-000000000000'), 'pool'],
    ['a tenant of another placement', async (tier) => (await newTenants(1, tier, 'schema'))[0], 'pool'],
    [
      'an instance tenant',
      async (tier) => {
        const [id] = await newTenants(1, tier);
        await ds.query(`UPDATE tenants SET placement = 'instance' WHERE id = $1`, [id]);
        return id;
      },
      'pool',
    ],
    [
      'a DELETED tenant',
      async (tier) => {
        const [id] = await newTenants(1, tier);
        await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE id = $1`, [id]);
        return id;
      },
      'pool',
    ],
  ])('refuses to place %s, and makes no host for it', async (_, tenant, placement) => {
    const tier = tierName();
    const id = await tenant(tier);
    const error = await allocator.placeTenant(id, request(tier, 5, placement)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    expect((error as HostError).code).toBe(HostErrorCode.TENANT_NOT_PLACEABLE);
    expect(await placedPerHost(tier)).toEqual([]);
  });

  it('refuses a tenant of another tier than the request', async () => {
    const tier = tierName();
    const [id] = await newTenants(1, tier);
    await expect(allocator.placeTenant(id, request(tierName(), 5))).rejects.toMatchObject({
      code: HostErrorCode.TENANT_NOT_PLACEABLE,
    });
  });

  it('refuses a capacity that is not a positive integer', async () => {
    const tier = tierName();
    const [id] = await newTenants(1, tier);
    await expect(allocator.placeTenant(id, request(tier, 0))).rejects.toThrow('capacity.tenantsPerHost');
  });
});

describe('HostRetirement on PostgreSQL', () => {
  async function availableHostWith(
    tenants: number,
  ): Promise<{ tier: string; host: HostEntity; ids: string[] }> {
    const tier = tierName();
    const ids = await newTenants(Math.max(tenants, 1), tier);
    const { host } = await allocator.placeTenant(ids[0], request(tier, 10));
    for (const id of ids.slice(1, tenants)) await allocator.placeTenant(id, request(tier, 10));
    if (tenants === 0) await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE id = $1`, [ids[0]]);
    await setHostStatus(host.name, 'available');
    return { tier, host, ids };
  }

  const statusOf = async (id: string) => (await ds.getRepository(HostEntity).findOneByOrFail({ id })).status;

  it('refuses to delete a host with tenants placed, and leaves it available', async () => {
    const { host } = await availableHostWith(2);
    const error = await retirement.beginDeletion(host.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    expect(error).toMatchObject({ code: HostErrorCode.HOST_HAS_TENANTS, detail: { tenantsPlaced: '2' } });
    expect(await statusOf(host.id)).toBe('available');
  });

  it('refuses to delete a host still being created, and names no host it does not know', async () => {
    const tier = tierName();
    const [id] = await newTenants(1, tier);
    const { host } = await allocator.placeTenant(id, request(tier, 10));
    await ds.query(`UPDATE tenants SET status = 'DELETED' WHERE id = $1`, [id]);
    await expect(retirement.beginDeletion(host.id)).rejects.toMatchObject({ code: HostErrorCode.HOST_BUSY });
    await expect(retirement.beginDeletion('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      code: HostErrorCode.HOST_NOT_FOUND,
    });
  });

  it('moves an empty host to deleting, once, and places no tenant on it afterwards', async () => {
    const { tier, host } = await availableHostWith(0);
    expect((await retirement.beginDeletion(host.id)).status).toBe('deleting');
    expect((await retirement.beginDeletion(host.id)).status).toBe('deleting');
    const [next] = await newTenants(1, tier);
    expect((await allocator.placeTenant(next, request(tier, 10))).host.name).toBe(`pool-${tier}-002`);
  });

  it('never leaves a tenant on a deleting host when a placement and a deletion race', async () => {
    for (let round = 0; round < 10; round++) {
      const { tier, host } = await availableHostWith(0);
      const [racer] = await newTenants(1, tier);
      const [placed, deletion] = await Promise.all([
        allocator.placeTenant(racer, request(tier, 10)),
        retirement.beginDeletion(host.id).then(
          (h) => h.status,
          (e: HostError) => e.code,
        ),
      ]);
      if (deletion === 'deleting') expect(placed.host.id).not.toBe(host.id);
      else expect([deletion, placed.host.id]).toEqual([HostErrorCode.HOST_HAS_TENANTS, host.id]);
    }
  });

  it('records since when available hosts are empty, clears it when a tenant comes back, and lists those past the grace', async () => {
    const { tier, host } = await availableHostWith(0);
    const { host: busy } = await availableHostWith(1);
    const t0 = new Date(Date.now() - 3_600_000);
    await retirement.recordEmptyHosts(t0);
    const read = (id: string) => ds.getRepository(HostEntity).findOneByOrFail({ id });
    expect((await read(host.id)).emptySince?.getTime()).toBe(t0.getTime());
    expect((await read(busy.id)).emptySince).toBeNull();
    // A second pass keeps the first time.
    await retirement.recordEmptyHosts(new Date());
    expect((await read(host.id)).emptySince?.getTime()).toBe(t0.getTime());

    const due = (await retirement.emptyPastGrace(30 * 60_000)).map((h) => h.id);
    expect(due).toContain(host.id);
    expect(due).not.toContain(busy.id);
    expect((await retirement.emptyPastGrace(2 * 3_600_000)).map((h) => h.id)).not.toContain(host.id);

    // A tenant placed on it (the allocator clears empty_since), then a pass with a tenant found.
    await ds.query(`UPDATE hosts SET empty_since = now() - interval '2 hours' WHERE id = $1`, [busy.id]);
    await retirement.recordEmptyHosts();
    expect((await read(busy.id)).emptySince).toBeNull();
    const [back] = await newTenants(1, tier);
    await allocator.placeTenant(back, request(tier, 10));
    expect((await read(host.id)).emptySince).toBeNull();
  });
});
