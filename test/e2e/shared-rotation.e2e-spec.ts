import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { mintDevToken } from '../../libs/auth/src';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { hostResourceNames, tenantResourceNames } from '../../libs/core/src';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtEntry, httpStatus, SiloProcess } from '../support/silo-process';
import { tenantAppEnvironment } from '../support/data-plane-login';
import { SiloStack, type TenantBody } from '../support/silo-stack';
import { loginRefusal } from '../support/password-login';
import { instanceAdminUrl } from '../support/test-services';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';

jest.setTimeout(300_000);

const EXAMPLE_APP = 'apps/example-tenant-app/src/main.js';
const prefix = `rx${uniqueToken(3)}`;
const ADMIN = { sub: 'rotation-admin', roles: ['admin' as const] };
const SRE = { sub: 'rotation-sre', roles: ['sre' as const] };
const OPS = { sub: 'rotation-ops', roles: ['ops' as const] };

interface Secret {
  username: string;
  password: string;
  host: string;
  port: number;
  dbname: string;
}

interface PlacedTenant extends TenantBody {
  placement: string;
  host: { id: string; name: string } | null;
  change: { run: number; status: string } | null;
}

// The stack as processes (API, worker, example tenant app, from dist/) on the built-in tier
// profiles: the app serves a pooled tenant and a schema tenant under steady load while the schema
// tenant's own login and then the pool host's pool login are rotated.
describe('rotations on shared hosts under load', () => {
  let stack: SiloStack;
  let app: SiloProcess | undefined;
  let appBase: string;
  let aws: AwsClients;

  beforeAll(async () => {
    stack = await SiloStack.start({
      SILO_RESOURCE_PREFIX: prefix,
      SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      // The data plane refreshes its secrets every second; previous logins are retired after 3 s.
      ROUTER_SECRET_TTL_MS: '1000',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '3',
      // debug: the most log lines to search for leaked passwords.
      LOG_LEVEL: 'debug',
    });
    const port = await freePort();
    appBase = `http://127.0.0.1:${port}`;
    app = SiloProcess.node(builtEntry(EXAMPLE_APP), {
      ...(await tenantAppEnvironment(stack.env)),
      EXAMPLE_APP_PORT: String(port),
    });
    await app.waitFor(async () => (await httpStatus(`${appBase}/healthz`)) === 200, 'the example app');
    aws = new AwsClients(loadConfig({ env: stack.env, envFile: false }));
  });

  afterAll(async () => {
    app?.kill();
    await stack?.stop();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
  });

  const secret = async (name: string): Promise<Secret> =>
    JSON.parse(
      (
        await aws.secretsManager.send(
          new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
        )
      ).SecretString!,
    ) as Secret;
  const onboard = async (label: string, tier: 'starter' | 'pro'): Promise<PlacedTenant> => {
    const created = await stack.call<TenantBody>('POST', '/v1/tenants', OPS, {
      slug: `${label}-${uniqueToken(2)}`,
      name: label,
      tier,
    });
    expect(created.status).toBe(202);
    await stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 120_000);
    return (await stack.call<PlacedTenant>('GET', `/v1/tenants/${created.body.id}`, SRE)).body;
  };
  const loginRefused = async (creds: Secret) => {
    const client = new Client({
      host: creds.host,
      port: creds.port,
      database: creds.dbname,
      user: creds.username,
      password: creds.password,
    });
    try {
      await client.connect();
      await client.end();
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };

  it('serves a pooled and a schema tenant at 50 requests/s through a schema tenant’s rotation and its pool host’s with no failed request; afterwards only the new logins log in', async () => {
    const pooled = await onboard('pooled', 'starter');
    const schema = await onboard('schema', 'pro');
    expect([pooled.placement, schema.placement]).toEqual(['pool', 'schema']);
    const pool = hostResourceNames(prefix, pooled.host!.name);
    const schemaNames = tenantResourceNames(prefix, schema.slug);
    const poolBefore = await secret(pool.poolAppSecretName);
    const schemaBefore = await secret(schemaNames.appSecretName);
    const poolMaster = await secret(pool.masterSecretName);
    const tokens = await Promise.all(
      [pooled, schema].map((t) =>
        mintDevToken({
          secret: stack.env.AUTH_JWT_SECRET,
          sub: `load-${t.slug}`,
          tenantId: t.id,
          issuer: stack.env.AUTH_ISSUER,
          audience: stack.env.TENANT_AUTH_AUDIENCE,
        }),
      ),
    );

    const outcomes = new Map<string, number>();
    let stop = false;
    let sent = 0;
    const load = (async () => {
      const inFlight: Promise<void>[] = [];
      const started = Date.now();
      while (!stop) {
        const i = sent++;
        const token = tokens[i % 2];
        inFlight.push(
          (async () => {
            let outcome: string;
            try {
              const res =
                i % 4 < 2
                  ? await fetch(`${appBase}/notes`, {
                      method: 'POST',
                      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                      body: JSON.stringify({ text: `note ${i}` }),
                      signal: AbortSignal.timeout(10_000),
                    })
                  : await fetch(`${appBase}/notes`, {
                      headers: { authorization: `Bearer ${token}` },
                      signal: AbortSignal.timeout(10_000),
                    });
              await res.arrayBuffer();
              outcome = String(res.status);
            } catch (error) {
              outcome = `error ${(error as Error).message}`;
            }
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          })(),
        );
        const next = started + sent * 20;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      await Promise.all(inFlight);
    })();

    try {
      await new Promise((r) => setTimeout(r, 1500));
      const tenantRotation = await stack.call<PlacedTenant>(
        'POST',
        `/v1/tenants/${schema.id}/rotate-credentials`,
        ADMIN,
        {},
      );
      expect(tenantRotation.status).toBe(202);
      await eventually(async () => {
        const { body } = await stack.call<PlacedTenant>('GET', `/v1/tenants/${schema.id}`, SRE);
        expect(body.change).toMatchObject({ run: tenantRotation.body.change!.run, status: 'SUCCEEDED' });
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1500));
      const hostRotation = await stack.call<{ run: number }>(
        'POST',
        `/v1/hosts/${pooled.host!.id}/rotate-credentials`,
        SRE,
      );
      expect(hostRotation.status).toBe(202);
      await eventually(async () => {
        const { body } = await stack.call<{ items: { run: number; status: string }[] }>(
          'GET',
          `/v1/hosts/${pooled.host!.id}/rotations`,
          SRE,
        );
        expect(body.items[0]).toMatchObject({ run: hostRotation.body.run, status: 'SUCCEEDED' });
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      stop = true;
      await load;
    }

    const failed = [...outcomes].filter(([outcome]) => outcome !== '200' && outcome !== '201');
    expect(failed).toEqual([]);
    expect((outcomes.get('201') ?? 0) + (outcomes.get('200') ?? 0)).toBe(sent);
    expect(sent).toBeGreaterThan(300);

    const poolAfter = await secret(pool.poolAppSecretName);
    const schemaAfter = await secret(schemaNames.appSecretName);
    expect(poolAfter.username).toBe(`${pool.poolAppRole}_b`);
    expect(schemaAfter.username).toBe(`${schemaNames.appRole}_b`);
    for (const now of [poolAfter, schemaAfter]) {
      expect(await loginRefusal(instanceAdminUrl(), now)).toBeUndefined();
      expect(await loginRefused(now)).toBeNull();
    }
    // The server refuses the previous logins' passwords (they have none left, and NOLOGIN).
    for (const old of [poolBefore, schemaBefore]) expect(await loginRefused(old)).toBe('28P01');
    // Neither rotation touched the pool host's master.
    expect(await secret(pool.masterSecretName)).toEqual(poolMaster);

    const everything = [
      ...stack.processes.map((p) => p.stdout + p.stderr),
      app!.stdout + app!.stderr,
      ...stack.responses,
    ].join('\n');
    for (const p of [poolBefore, poolAfter, schemaBefore, schemaAfter, poolMaster])
      expect(everything).not.toContain(p.password);
  });
});
