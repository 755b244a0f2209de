import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { quoteIdentifier } from '../../libs/core/src';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { DevStack } from '../support/dev-stack';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstance, removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtEntry, httpStatus, REPO_ROOT, SiloProcess } from '../support/silo-process';
import { uniqueToken } from '../support/test-config';
import { databaseUrl, testServices } from '../support/test-services';

jest.setTimeout(420_000);

const emulatorScript = resolve(REPO_ROOT, 'scripts/aws-emulator.sh');

function awsConfig(port: number) {
  return {
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
}

/** The bodies moto's recorder saved, decoded. */
function recordedRequests(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { body: string; body_encoded: boolean })
    .map((e) => (e.body_encoded ? Buffer.from(e.body, 'base64').toString('utf8') : e.body));
}

async function withDatabase<T>(database: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl(testServices.postgresAdminUrl, database) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('npm run dev across restarts', () => {
  const stacks: DevStack[] = [];
  const slugs: string[] = [];
  const prefixes: string[] = [];

  afterAll(async () => {
    for (const stack of stacks) await stack.cleanUp();
    // .env.example's prefix: the local backend made database silo-<slug> and its roles.
    for (const slug of slugs) await removeTenantInstance('silo', slug);
    for (const prefix of prefixes) await removeTenantInstancesUnder(prefix);
  });

  it('keeps what the emulator holds across Ctrl-C: after a new start the tenant still serves its notes and takes a schema rollout', async () => {
    const stack = await new DevStack().init();
    stacks.push(stack);
    const slug = `dev-restart-${uniqueToken()}`;
    slugs.push(slug);

    // First run: the built-in tenant schema (0001), a tenant onboarded, a note written.
    let dev = await stack.start();
    const ops = { authorization: `Bearer ${await stack.token(['--role', 'ops'])}` };
    const created = await fetch(`${stack.api}/v1/tenants`, {
      method: 'POST',
      headers: { ...ops, 'content-type': 'application/json' },
      body: JSON.stringify({ slug, name: 'Restarted', tier: 'starter' }),
    });
    expect(created.status).toBe(202);
    await eventually(async () => {
      const tenant = (await (await fetch(`${stack.api}/v1/tenants/${slug}`, { headers: ops })).json()) as {
        status: string;
      };
      expect(tenant.status).toBe('ACTIVE');
    }, 60_000);
    const tenantAuth = { authorization: `Bearer ${await stack.token(['--tenant', slug])}` };
    const notes = `http://127.0.0.1:${stack.examplePort}/notes`;
    const posted = await fetch(notes, {
      method: 'POST',
      headers: { ...tenantAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'before the restart' }),
    });
    expect(posted.status).toBe(201);
    await stack.stop(dev);
    expect(await httpStatus(`http://127.0.0.1:${stack.emulatorPort}/moto-api/`)).toBeUndefined();
    const saved = recordedRequests(stack.recording).filter((body) =>
      body.startsWith('Action=CreateDBInstance&'),
    );
    expect(saved.filter((body) => body.includes(`&DBInstanceIdentifier=silo-${slug}&`))).toHaveLength(1);

    // Second run, with a tenant schema that has two more versions: the emulator comes back with
    // the tenant's instance, secrets and alarms.
    dev = await stack.start([], { TENANT_MIGRATIONS_DIR: 'test/fixtures/tenant-migrations/after-built-in' });
    expect(dev.stderr).toMatch(/replayed \d+ saved request\(s\)/);
    const { MetricAlarms } = await new CloudWatchClient(awsConfig(stack.emulatorPort)).send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: `silo-${slug}-` }),
    );
    expect(MetricAlarms).toHaveLength(4);

    // The example app starts cold: it reads the tenant's app secret from the emulator again.
    const listed = await fetch(notes, { headers: tenantAuth });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { items: { text: string }[] }).items.map((n) => n.text)).toEqual([
      'before the restart',
    ]);

    // A rollout connects with the master secret.
    const admin = { authorization: `Bearer ${await stack.token(['--role', 'admin'])}` };
    const rollout = await fetch(`${stack.api}/v1/schema-rollouts`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ targetVersion: '0003' }),
    });
    expect(rollout.status).toBe(202);
    const { id } = (await rollout.json()) as { id: string };
    await eventually(async () => {
      const state = (await (
        await fetch(`${stack.api}/v1/schema-rollouts/${id}`, { headers: admin })
      ).json()) as {
        status: string;
      };
      expect(state.status).toBe('SUCCEEDED');
    }, 90_000);
    const tenant = (await (await fetch(`${stack.api}/v1/tenants/${slug}`, { headers: ops })).json()) as {
      status: string;
      database: { schemaVersion: string };
    };
    expect([tenant.status, tenant.database.schemaVersion]).toEqual(['ACTIVE', '0003']);
    await stack.stop(dev);
  });

  it('runs a mixed fleet with the built-in tier profiles: pool, schema and instance tenants serve notes, take one rollout across a restart and are deleted as the README says', async () => {
    const stack = await new DevStack().init();
    stacks.push(stack);
    // A prefix of its own: the hosts this makes must not meet a developer's own dev hosts.
    const prefix = `dm${uniqueToken(3)}`;
    prefixes.push(prefix);
    const env = { SILO_RESOURCE_PREFIX: prefix, SILO_TIER_PROFILES_FILE: builtInTierProfilesFile() };
    let dev = await stack.start([], env);
    const ops = { authorization: `Bearer ${await stack.token(['--role', 'ops'])}` };
    const admin = { authorization: `Bearer ${await stack.token(['--role', 'admin'])}` };
    const json = { 'content-type': 'application/json' };
    const tiers = ['starter', 'pro', 'enterprise'] as const;
    const slugs = Object.fromEntries(tiers.map((t) => [t, `${t.slice(0, 3)}-${uniqueToken(2)}`])) as Record<
      (typeof tiers)[number],
      string
    >;
    const tenant = async (slug: string) =>
      (await (await fetch(`${stack.api}/v1/tenants/${slug}`, { headers: ops })).json()) as {
        status: string;
        placement: string;
        host: { name: string } | null;
        schemaVersion: string | null;
      };
    for (const tier of tiers) {
      const created = await fetch(`${stack.api}/v1/tenants`, {
        method: 'POST',
        headers: { ...ops, ...json },
        body: JSON.stringify({ slug: slugs[tier], name: tier, tier }),
      });
      expect(created.status).toBe(202);
    }
    for (const tier of tiers) {
      await eventually(async () => expect((await tenant(slugs[tier])).status).toBe('ACTIVE'), 120_000);
    }
    expect(
      await Promise.all(
        tiers.map(async (tier) => {
          const t = await tenant(slugs[tier]);
          return [t.placement, t.host?.name ?? null, t.schemaVersion];
        }),
      ),
    ).toEqual([
      ['pool', 'pool-starter-001', '0002'],
      ['schema', 'schema-pro-001', '0002'],
      ['instance', null, '0002'],
    ]);

    // Notes through the unchanged example app, each tenant seeing its own only.
    const notes = `http://127.0.0.1:${stack.examplePort}/notes`;
    const auth: Record<string, { authorization: string }> = {};
    for (const tier of tiers) {
      auth[tier] = { authorization: `Bearer ${await stack.token(['--tenant', slugs[tier]])}` };
      const posted = await fetch(notes, {
        method: 'POST',
        headers: { ...auth[tier], ...json },
        body: JSON.stringify({ text: `note of ${tier}` }),
      });
      expect(posted.status).toBe(201);
    }
    const listed = async (tier: string) => {
      const res = await fetch(notes, { headers: auth[tier] });
      expect(res.status).toBe(200);
      return ((await res.json()) as { items: { text: string }[] }).items.map((n) => n.text);
    };
    for (const tier of tiers) expect(await listed(tier)).toEqual([`note of ${tier}`]);
    await stack.stop(dev);

    // A newer tenant schema after a restart: one rollout takes the three placements to it.
    dev = await stack.start([], {
      ...env,
      TENANT_MIGRATIONS_DIR: 'test/fixtures/tenant-migrations/after-built-in',
    });
    const started = await fetch(`${stack.api}/v1/schema-rollouts`, {
      method: 'POST',
      headers: { ...admin, ...json },
      body: JSON.stringify({ canary: 1, waves: [100] }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const rollout = await eventually(async () => {
      const body = (await (
        await fetch(`${stack.api}/v1/schema-rollouts/${id}`, { headers: admin })
      ).json()) as {
        status: string;
        plan: { targets: number; tenants: { slug: string; state: string; reachedVersion: string }[] }[];
      };
      expect(body.status).toBe('SUCCEEDED');
      return body;
    }, 120_000);
    expect(rollout.plan.map((w) => w.targets)).toEqual([1, 2]);
    for (const tier of tiers) {
      expect((await tenant(slugs[tier])).schemaVersion).toBe('0003');
      expect(await listed(tier)).toEqual([`note of ${tier}`]);
    }

    // Deleting each: a shared tenant's data is exported to S3 first; the hosts stay, empty,
    // until their grace period ends.
    for (const tier of tiers) {
      const deleted = await fetch(`${stack.api}/v1/tenants/${slugs[tier]}?confirm=${slugs[tier]}`, {
        method: 'DELETE',
        headers: admin,
      });
      expect(deleted.status).toBe(202);
    }
    for (const tier of tiers) {
      await eventually(async () => expect((await tenant(slugs[tier])).status).toBe('DELETED'), 120_000);
    }
    const s3 = new S3Client({ ...awsConfig(stack.emulatorPort), forcePathStyle: true });
    const exported = async (slug: string) =>
      (
        (
          await s3.send(
            new ListObjectsV2Command({ Bucket: `${prefix}-exports`, Prefix: `${prefix}/exports/${slug}/` }),
          )
        ).Contents ?? []
      ).map((o) => o.Key!.split('.').slice(1).join('.'));
    // The pooled tenant's rows as NDJSON, the schema tenant's schema as pg_dump's archive.
    expect(await exported(slugs.starter)).toEqual(['ndjson']);
    expect(await exported(slugs.pro)).toEqual(['dump']);
    expect(await exported(slugs.enterprise)).toEqual([]);
    s3.destroy();
    const hosts = (await (await fetch(`${stack.api}/v1/hosts`, { headers: admin })).json()) as {
      items: { name: string; status: string; tenantsPlaced: number; emptySince: string | null }[];
    };
    expect(hosts.items.map((h) => [h.name, h.status, h.tenantsPlaced, typeof h.emptySince]).sort()).toEqual([
      ['pool-starter-001', 'available', 0, 'string'],
      ['schema-pro-001', 'available', 0, 'string'],
    ]);
    await stack.stop(dev);
  });

  it('refuses to serve tenants the emulator does not hold, naming npm run dev -- --reset, which says what it deletes and starts empty', async () => {
    const stack = await new DevStack().init();
    stacks.push(stack);
    const slug = `dev-lost-${uniqueToken()}`;
    slugs.push(slug);
    const strayLocalDatabase = `silo-${slug}`;

    // A silo database that lists an ACTIVE tenant (and its local database), and a saved emulator
    // state that holds only an unrelated secret: as after deleting .cache, or another stack's state.
    const migrate = SiloProcess.node(builtEntry('libs/control-plane-db/src/cli/migrate.js'), stack.env, [
      '--create-database',
    ]);
    expect(await migrate.exitWithin(60_000)).toEqual({ code: 0, signal: null });
    await withDatabase(stack.database, (db) =>
      db.query(`INSERT INTO tenants (slug, name, tier, status) VALUES ($1, 'Lost', 'starter', 'ACTIVE')`, [
        slug,
      ]),
    );
    // …and its database on the cluster dev keeps the default region's instances on.
    const cluster = await stack.instanceCluster();
    await cluster.start();
    const local = new Client({ connectionString: cluster.adminUrl });
    await local.connect();
    await local.query(`CREATE DATABASE ${quoteIdentifier(strayLocalDatabase)}`).finally(() => local.end());
    await cluster.stop();
    const stray = `dev-e2e/${uniqueToken()}`;
    writeFileSync(
      stack.recording,
      JSON.stringify({
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': 'secretsmanager.CreateSecret',
          Authorization:
            'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0',
        },
        method: 'POST',
        url: `http://127.0.0.1:${stack.emulatorPort}/`,
        body: JSON.stringify({ Name: stray, SecretString: '{}' }),
        body_encoded: false,
      }) + '\n',
    );

    const refused = stack.spawn();
    expect((await refused.exitWithin(150_000)).code).toBe(1);
    expect(refused.stderr).toContain('replayed 1 saved request(s)');
    expect(refused.stderr).toContain(`${slug}: no instance silo-${slug}, no secret silo/${slug}/master`);
    expect(refused.stderr).toContain('npm run dev -- --reset');
    expect(refused.stderr).not.toContain('dev: ready:');
    expect(await httpStatus(`http://127.0.0.1:${stack.apiPort}/readyz`)).toBeUndefined();
    expect(await httpStatus(`http://127.0.0.1:${stack.emulatorPort}/moto-api/`)).toBeUndefined();

    const dev = await stack.start(['--reset']);
    const announced = dev.stderr.slice(0, dev.stderr.indexOf('reset: done'));
    expect(announced).toContain(`the AWS emulator's saved state ${stack.recording} (`);
    expect(announced).toContain(`the database ${stack.database} on 127.0.0.1`);
    expect(announced).toContain(`its 1 tenant(s) (${slug})`);
    expect(announced).toContain(`the local instance backend's clusters in ${stack.clustersDir}`);
    expect(dev.stderr).not.toContain('replayed');
    await expect(
      new SecretsManagerClient(awsConfig(stack.emulatorPort)).send(
        new DescribeSecretCommand({ SecretId: stray }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await withDatabase(stack.database, (db) => db.query('SELECT slug FROM tenants'))).toMatchObject({
      rows: [],
    });
    // The clusters were made again, empty: with another superuser password.
    const fresh = await stack.instanceCluster();
    expect(fresh.adminUrl).not.toBe(cluster.adminUrl);
    const again = new Client({ connectionString: fresh.adminUrl });
    await again.connect();
    const { rows } = await again
      .query('SELECT 1 FROM pg_database WHERE datname = $1', [strayLocalDatabase])
      .finally(() => again.end());
    expect(rows).toEqual([]);
    await stack.stop(dev);
  });

  it('reuses an emulator already running with an RDS instance (started by scripts/aws-emulator.sh) and leaves it running', async () => {
    const port = await freePort();
    const stack = await new DevStack().init(port);
    stacks.push(stack);
    execFileSync('bash', [emulatorScript, 'start', String(port)], { stdio: 'pipe' });
    const rds = new RDSClient(awsConfig(port));
    const identifier = `dev-e2e-${uniqueToken()}`;
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: identifier,
        DBInstanceClass: 'db.t4g.micro',
        Engine: 'postgres',
        MasterUsername: 'postgres',
        MasterUserPassword: 'not-a-real-password',
        AllocatedStorage: 20,
      }),
    );
    // An instance makes moto's data.json fail: the probe must not take that for a dead emulator.
    expect(spawnSync('bash', [emulatorScript, 'status', String(port)]).status).toBe(0);

    const dev = await stack.start();
    expect(dev.stderr).toContain(`an AWS emulator already answers on http://127.0.0.1:${port}; using it`);
    expect(dev.stderr).not.toContain('moto exited');
    await stack.stop(dev);

    expect(await httpStatus(`http://127.0.0.1:${port}/moto-api/`)).toBe(200);
    const { DBInstances } = await rds.send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
    );
    expect(DBInstances?.map((i) => i.DBInstanceIdentifier)).toEqual([identifier]);
    // It was not this stack's: nothing was saved for it.
    expect(existsSync(stack.recording)).toBe(false);
  });
});
