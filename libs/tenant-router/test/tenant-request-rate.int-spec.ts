import IORedis, { type Redis } from 'ioredis';
import { eventually } from '../../../test/support/eventually';
import { freePort } from '../../../test/support/free-port';
import { PrivateRedis } from '../../../test/support/private-redis';
import { uniqueToken } from '../../../test/support/test-config';
import { TenantAccessError, TenantAccessErrorCode, TenantRequestRate } from '../src';

jest.setTimeout(30_000);

// Each replica of a tenant app has its own TenantRequestRate over its own Redis connection;
// they share one budget per tenant through Redis.
let redis: PrivateRedis;
const clients: Redis[] = [];
const warnings: string[] = [];

function replica(prefix: string): TenantRequestRate {
  const client = new IORedis(redis.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 1_000,
    retryStrategy: () => 100,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return new TenantRequestRate(
    client,
    prefix,
    { starter: 5, pro: 20 },
    {
      warn: (_fields, message) => void warnings.push(message),
    },
  );
}

async function outcomes(takes: Promise<void>[]): Promise<{ allowed: number; refused: TenantAccessError[] }> {
  const settled = await Promise.allSettled(takes);
  const refused: TenantAccessError[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') continue;
    if (!(s.reason instanceof TenantAccessError)) throw s.reason;
    refused.push(s.reason);
  }
  return { allowed: settled.length - refused.length, refused };
}

async function ready(): Promise<void> {
  await eventually(
    () => Promise.resolve(expect(clients.every((c) => c.status === 'ready')).toBe(true)),
    5_000,
    20,
  );
}

beforeAll(async () => {
  redis = new PrivateRedis(await freePort());
  await redis.start();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await redis?.kill();
});

describe('TenantRequestRate on Redis', () => {
  it('shares one budget per tenant across replicas, by tier, and refuses the rest with the time left in the window', async () => {
    const prefix = `rate-${uniqueToken()}`;
    const [a, b] = [replica(prefix), replica(prefix)];
    await ready();

    const burst = await outcomes([
      ...Array.from({ length: 8 }, () => a.take('tenant-1', 'starter')),
      ...Array.from({ length: 8 }, () => b.take('tenant-1', 'starter')),
    ]);
    expect(burst.allowed).toBe(5);
    for (const refusal of burst.refused) {
      expect(refusal.code).toBe(TenantAccessErrorCode.TENANT_RATE_LIMITED);
      expect(refusal.details.tenantId).toBe('tenant-1');
      expect(refusal.details.retryAfterMs).toBeGreaterThan(0);
      expect(refusal.details.retryAfterMs).toBeLessThanOrEqual(1_000);
    }
    expect(a.counts.starter.rejections + b.counts.starter.rejections).toBe(11);

    // Another tenant has a budget of its own; a pro tenant its tier's; a tier without a rate is not counted.
    expect((await outcomes(Array.from({ length: 6 }, () => a.take('tenant-2', 'starter')))).allowed).toBe(5);
    expect((await outcomes(Array.from({ length: 25 }, () => b.take('tenant-3', 'pro')))).allowed).toBe(20);
    expect((await outcomes(Array.from({ length: 50 }, () => a.take('tenant-4', 'enterprise')))).allowed).toBe(
      50,
    );
    expect(a.counts.enterprise.requests).toBe(0);

    // The window turns: the first tenant is served again.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(...burst.refused.map((r) => r.details.retryAfterMs!)) + 50),
    );
    await expect(a.take('tenant-1', 'starter')).resolves.toBeUndefined();
  });

  it('counts per process while Redis does not answer, and in Redis again once it does', async () => {
    const prefix = `rate-${uniqueToken()}`;
    const [a, b] = [replica(prefix), replica(prefix)];
    await ready();
    await redis.kill();
    try {
      const alone = await outcomes([
        ...Array.from({ length: 7 }, () => a.take('tenant-5', 'starter')),
        ...Array.from({ length: 7 }, () => b.take('tenant-5', 'starter')),
      ]);
      // Each process still limits the tenant, to its own count of the same budget.
      expect(alone.allowed).toBe(10);
      expect(a.counts.starter.local).toBe(7);
      expect(warnings).toContain(
        'tenant request rates cannot be counted in Redis; each process counts them alone until it answers',
      );
    } finally {
      await redis.start();
    }
    await ready();
    const shared = await outcomes([
      ...Array.from({ length: 4 }, () => a.take('tenant-6', 'starter')),
      ...Array.from({ length: 4 }, () => b.take('tenant-6', 'starter')),
    ]);
    expect(shared.allowed).toBe(5);
    expect(warnings).toContain('tenant request rates are counted in Redis again');
  });

  it('counts per process when Redis is connected but answers too slowly', async () => {
    const prefix = `rate-${uniqueToken()}`;
    const a = replica(prefix);
    await ready();
    // A script that keeps the server busy for a second: the connection stays ready, nothing answers.
    const blocker = new IORedis(redis.url);
    blocker.on('error', () => undefined);
    const busy = blocker
      .eval(
        "local t = redis.call('TIME') while true do local n = redis.call('TIME') if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) >= 1000000 then break end end return 1",
        0,
      )
      .catch(() => undefined);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await a.take('tenant-7', 'starter');
      expect(performance.now() - started).toBeLessThan(800);
      expect(a.counts.starter.local).toBe(1);
    } finally {
      await busy;
      blocker.disconnect();
    }
  });
});
