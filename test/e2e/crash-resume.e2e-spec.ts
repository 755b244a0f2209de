import { allInstances } from '../support/all-instances';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AwsClients } from '../../libs/aws/src';
import { controlPlaneDataSourceOptions, TenantEntity } from '../../libs/control-plane-db/src';
import { loadTierProfiles, TenantOnboarding } from '../../libs/fleet/src';
import { removeTenantInstance } from '../support/local-tenant-instance';
import { builtEntry, SiloProcess } from '../support/silo-process';
import { loginRefusal } from '../support/password-login';
import {
  fastLocalSagaEnvironment,
  testConfig,
  testEnvironment,
  testQueuePrefix,
  uniqueToken,
} from '../support/test-config';
import { instanceAdminUrl, runDatabaseUrl, testServices } from '../support/test-services';

jest.setTimeout(240_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
const prefix = `cr${uniqueToken(3)}`;
const queuePrefix = testQueuePrefix();
const TIERS = ['starter', 'pro', 'enterprise', 'pro'] as const;
const TOTAL_STEPS = TIERS.length * 8;

// The worker is SIGKILLed while it provisions, again and again at growing progress, and
// restarted each time; BullMQ hands the orphaned jobs to the new process once their locks
// expire, and the idempotent steps carry on from the step records.
describe('provisioning survives SIGKILL of the worker', () => {
  const env = testEnvironment({
    QUEUE_PREFIX: queuePrefix,
    SILO_RESOURCE_PREFIX: prefix,
    ...fastLocalSagaEnvironment(),
    WORKER_LOCK_DURATION_MS: '1500',
    WORKER_CONCURRENCY: '2',
    // debug: the most log lines to search for leaked passwords.
    LOG_LEVEL: 'debug',
  });
  const config = testConfig(env);
  const aws = new AwsClients(config);
  const ds = new DataSource(
    controlPlaneDataSourceOptions({
      url: runDatabaseUrl(),
      poolMax: 4,
      connectTimeoutMs: 3000,
      applicationName: 'silo-test',
    }),
  );
  const tenants: TenantEntity[] = [];
  const output: string[] = [];
  let worker: SiloProcess | undefined;

  beforeAll(async () => {
    await ds.initialize();
  });

  afterAll(async () => {
    worker?.kill();
    for (const t of tenants) {
      await removeTenantInstance(prefix, t.slug);
    }
    await ds.destroy();
    aws.onApplicationShutdown();
  });

  function startWorker(): SiloProcess {
    const p = SiloProcess.node(builtEntry(WORKER), env);
    void p.exited.then(() => output.push(p.stdout, p.stderr));
    return p;
  }

  async function stepStates(): Promise<{ done: number; running: string[] }> {
    const rows: { step: string; status: string }[] = await ds.query(
      `SELECT s.step, s.status FROM provisioning_steps s JOIN tenants t ON t.id = s.tenant_id
       WHERE t.id = ANY($1) AND s.saga = 'provision'`,
      [tenants.map((t) => t.id)],
    );
    return {
      done: rows.filter((r) => r.status === 'done').length,
      running: rows.filter((r) => r.status === 'running').map((r) => r.step),
    };
  }

  it('ends with every tenant ACTIVE, one instance each, master passwords that open their databases, and no password anywhere', async () => {
    const onboarding = new TenantOnboarding(ds, { tiers: loadTierProfiles(config.tenants.tierProfilesFile) });
    for (const [i, tier] of TIERS.entries()) {
      tenants.push(
        (
          await onboarding.createTenant(
            { slug: `crash-${i}-${uniqueToken(2)}`, name: `Crash ${i}`, tier },
            { actor: 'ops-test', correlationId: 'e2e' },
          )
        ).tenant,
      );
    }

    // Each round waits until some tenant is inside the target step, then kills the worker there.
    const killedDuring = new Set<string>();
    for (const target of [
      'create-instance',
      'wait-available',
      'bootstrap-database',
      'run-migrations',
      'create-alarms',
      'publish-connection',
    ]) {
      worker = startWorker();
      const started = Date.now();
      let state = await stepStates();
      while (!state.running.includes(target) && state.done < TOTAL_STEPS && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 2));
        state = await stepStates();
      }
      worker.child.kill('SIGKILL');
      await worker.exitWithin(10_000);
      state.running.forEach((s) => killedDuring.add(s));
      if (state.done >= TOTAL_STEPS) break;
    }

    worker = startWorker();
    const deadline = Date.now() + 120_000;
    let rows = await ds.getRepository(TenantEntity).findBy(tenants.map((t) => ({ id: t.id })));
    while (rows.some((r) => r.status !== 'ACTIVE') && Date.now() < deadline) {
      expect(
        rows
          .filter((r) => r.status === 'FAILED')
          .map((r) => `${r.slug}: ${r.failureStep} ${r.failureMessage}`),
      ).toEqual([]);
      await new Promise((r) => setTimeout(r, 200));
      rows = await ds.getRepository(TenantEntity).findBy(tenants.map((t) => ({ id: t.id })));
    }
    // A worker asked to stop while it is still booting dies by the signal; wait until it is up.
    const last = worker;
    await last.waitFor(
      () => last.logLines().some((l) => l.msg === 'taking provisioning jobs'),
      'the worker to take jobs',
    );
    last.child.kill('SIGTERM');
    expect(await last.exitWithin(15_000)).toEqual({ code: 0, signal: null });

    expect(rows.map((r) => r.status)).toEqual(TIERS.map(() => 'ACTIVE'));
    // The kills landed inside several different steps.
    expect(killedDuring.size).toBeGreaterThanOrEqual(3);

    const ours = (await allInstances(aws.rds)).filter((i) =>
      i.DBInstanceIdentifier?.startsWith(`${prefix}-`),
    );
    expect(ours.map((i) => i.DBInstanceIdentifier).sort()).toEqual(
      tenants.map((t) => `${prefix}-${t.slug}`).sort(),
    );

    const passwords: string[] = [];
    for (const t of tenants) {
      const master = JSON.parse(
        (await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: `${prefix}/${t.slug}/master` })))
          .SecretString!,
      ) as { username: string; password: string; host: string; port: number; dbname: string };
      const app = JSON.parse(
        (await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: `${prefix}/${t.slug}/app` })))
          .SecretString!,
      ) as { username: string; password: string };
      passwords.push(master.password, app.password);
      expect(await loginRefusal(instanceAdminUrl(), master)).toBeUndefined();
      expect(await loginRefusal(instanceAdminUrl(), app)).toBeUndefined();
      const owner = new Client({
        host: master.host,
        port: master.port,
        database: master.dbname,
        user: master.username,
        password: master.password,
      });
      await owner.connect();
      const { rows: notes } = await owner.query(`SELECT count(*)::int AS n FROM app.notes`);
      await owner.end();
      expect(notes).toEqual([{ n: 0 }]);
    }

    // No leaks: not in any log line, not in Redis, not in the control-plane database.
    const logs = output.join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    const redisDump = await dumpRedis(`${queuePrefix}:`);
    expect(redisDump.length).toBeGreaterThan(100);
    const tables: { t: string }[] = await ds.query(
      `SELECT string_agg(row_to_json(x)::text, E'\\n') AS t FROM (
         SELECT 'tenants' AS tbl, to_jsonb(t) AS r FROM tenants t
         UNION ALL SELECT 'tenant_events', to_jsonb(e) FROM tenant_events e
         UNION ALL SELECT 'provisioning_steps', to_jsonb(s) FROM provisioning_steps s
         UNION ALL SELECT 'outbox', to_jsonb(o) FROM outbox o) x`,
    );
    const database = tables[0].t;
    for (const password of passwords) {
      expect({ where: 'logs', leaked: logs.includes(password) }).toEqual({ where: 'logs', leaked: false });
      expect({ where: 'redis', leaked: redisDump.includes(password) }).toEqual({
        where: 'redis',
        leaked: false,
      });
      expect({ where: 'control-plane db', leaked: database.includes(password) }).toEqual({
        where: 'control-plane db',
        leaked: false,
      });
    }
  });
});

/** Every key under `prefix` with its value, whatever its type, as text. */
async function dumpRedis(prefix: string): Promise<string> {
  const redis = new IORedis(testServices.redisUrl);
  const out: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.get(key)
            : type === 'hash'
              ? JSON.stringify(await redis.hgetall(key))
              : type === 'list'
                ? JSON.stringify(await redis.lrange(key, 0, -1))
                : type === 'set'
                  ? JSON.stringify(await redis.smembers(key))
                  : type === 'zset'
                    ? JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'))
                    : type === 'stream'
                      ? JSON.stringify(await redis.xrange(key, '-', '+'))
                      : '';
        out.push(`${key} ${value}`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return out.join('\n');
}
