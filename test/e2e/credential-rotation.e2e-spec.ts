import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { mintDevToken } from '../../libs/auth/src';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { tenantResourceNames } from '../../libs/core/src';
import { rotationSteps } from '../../libs/fleet/src';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstance } from '../support/local-tenant-instance';
import { builtEntry, httpStatus, SiloProcess } from '../support/silo-process';
import { tenantAppEnvironment } from '../support/data-plane-login';
import { running, SiloStack, type TenantBody } from '../support/silo-stack';
import { loginRefusal } from '../support/password-login';
import { instanceAdminUrl } from '../support/test-services';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';

jest.setTimeout(300_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
const EXAMPLE_APP = 'apps/example-tenant-app/src/main.js';
const prefix = `re${uniqueToken(3)}`;
const ADMIN = { sub: 'rotation-admin', roles: ['admin' as const] };
const OPS = { sub: 'rotation-ops', roles: ['ops' as const] };

interface Secret {
  username: string;
  password: string;
}

interface ChangeBody extends TenantBody {
  change: { kind: string; run: number; status: string; error: unknown } | null;
}

// The whole stack as processes (API, worker, example tenant app, all from dist/): the app serves
// one tenant under steady load while its app and then its master credentials are rotated; then
// the worker is SIGKILLed at every step of a rotation in turn and restarted.
describe('credential rotation under load, and SIGKILL at every step', () => {
  let stack: SiloStack;
  let app: SiloProcess | undefined;
  let appBase: string;
  let aws: AwsClients;
  const slugs: string[] = [];
  const extraWorkers: SiloProcess[] = [];

  beforeAll(async () => {
    stack = await SiloStack.start({
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      // The data plane refreshes its secret every second; the previous login is retired after 3 s.
      ROUTER_SECRET_TTL_MS: '1000',
      CREDENTIAL_ROTATION_DRAIN_SECONDS: '3',
      WORKER_LOCK_DURATION_MS: '1500',
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
    for (const w of extraWorkers) w.kill();
    await stack?.stop();
    aws?.onApplicationShutdown();
    for (const slug of slugs) await removeTenantInstance(prefix, slug);
  });

  const secret = async (name: string): Promise<Secret> =>
    JSON.parse(
      (
        await aws.secretsManager.send(
          new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
        )
      ).SecretString!,
    ) as Secret;
  const versionCount = async (name: string) =>
    Object.keys(
      (await aws.secretsManager.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {},
    ).length;
  const onboard = async (label: string) => {
    const slug = `${label}-${uniqueToken(2)}`;
    slugs.push(slug);
    const created = await stack.call<TenantBody>('POST', '/v1/tenants', OPS, {
      slug,
      name: label,
      tier: 'starter',
    });
    expect(created.status).toBe(202);
    await stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 60_000);
    return created.body;
  };
  const rotated = async (id: string, which: string) => {
    const res = await stack.call<ChangeBody>('POST', `/v1/tenants/${id}/rotate-credentials`, ADMIN, {
      which,
    });
    expect(res.status).toBe(202);
    const run = res.body.change!.run;
    return eventually(async () => {
      const { body } = await stack.call<ChangeBody>('GET', `/v1/tenants/${id}`, OPS);
      expect(body.change).toMatchObject({ run, status: 'SUCCEEDED' });
      return body;
    }, 60_000);
  };
  const loginRefused = async (tenant: TenantBody, creds: Secret) => {
    const client = new Client({
      host: tenant.database!.endpoint!.host,
      port: tenant.database!.endpoint!.port,
      database: tenant.database!.instanceIdentifier,
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

  it('serves 50 requests/s for one tenant through an app and then a master rotation with no failed request; afterwards only the new credentials log in', async () => {
    const tenant = await onboard('load');
    const names = tenantResourceNames(prefix, tenant.slug);
    const appBefore = await secret(names.appSecretName);
    const masterBefore = await secret(names.masterSecretName);
    const token = await mintDevToken({
      secret: stack.env.AUTH_JWT_SECRET,
      sub: 'load-client',
      tenantId: tenant.id,
      issuer: stack.env.AUTH_ISSUER,
      audience: stack.env.TENANT_AUTH_AUDIENCE,
    });
    const outcomes = new Map<string, number>();
    let stop = false;
    let sent = 0;
    const load = (async () => {
      const inFlight: Promise<void>[] = [];
      const started = Date.now();
      while (!stop) {
        const i = sent++;
        inFlight.push(
          (async () => {
            let outcome: string;
            try {
              const res =
                i % 2 === 0
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
        // 50 requests/s, paced against the start so that slow answers do not lower the rate.
        const next = started + sent * 20;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      await Promise.all(inFlight);
    })();

    await new Promise((r) => setTimeout(r, 1500));
    await rotated(tenant.id, 'app');
    // Past the drain: the previous login has been retired while the load ran.
    await new Promise((r) => setTimeout(r, 1500));
    await rotated(tenant.id, 'master');
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await load;

    const failed = [...outcomes].filter(([outcome]) => outcome !== '200' && outcome !== '201');
    expect(failed).toEqual([]);
    expect((outcomes.get('201') ?? 0) + (outcomes.get('200') ?? 0)).toBe(sent);
    expect(sent).toBeGreaterThan(200);

    const appAfter = await secret(names.appSecretName);
    const masterAfter = await secret(names.masterSecretName);
    expect(appAfter.username).toBe(`${names.appRole}_b`);
    expect(await loginRefusal(instanceAdminUrl(), appAfter)).toBeUndefined();
    expect(await loginRefusal(instanceAdminUrl(), masterAfter)).toBeUndefined();
    // The server refuses the old credentials at the tenant's endpoint: the previous app login has
    // no password (and NOLOGIN), the old master password is no longer the master's.
    const full = (await stack.call<TenantBody>('GET', `/v1/tenants/${tenant.id}`, OPS)).body;
    expect(await loginRefused(full, appBefore)).toBe('28P01');
    expect(await loginRefused(full, masterBefore)).toBe('28P01');
    expect(await loginRefused(full, appAfter)).toBeNull();

    // No password in any process's output or API answer.
    const everything = [
      ...stack.processes.map((p) => p.stdout + p.stderr),
      app!.stdout + app!.stderr,
      ...stack.responses,
    ].join('\n');
    for (const p of [appBefore, appAfter, masterBefore, masterAfter])
      expect(everything).not.toContain(p.password);
  });

  it('a worker SIGKILLed after any rotation step, before it is recorded, converges once restarted: one new current version of each secret', async () => {
    const tenant = await onboard('kill');
    const names = tenantResourceNames(prefix, tenant.slug);
    // From here on the stack's worker is replaced by workers with a failpoint armed.
    stack.worker.child.kill('SIGKILL');
    await stack.worker.exited;
    const startWorker = (failpoints?: string) => {
      const w = SiloProcess.node(builtEntry(WORKER), {
        ...stack.env,
        LOG_LEVEL: 'info',
        ...(failpoints ? { SILO_FAILPOINTS: failpoints } : {}),
      });
      extraWorkers.push(w);
      return w;
    };
    for (const step of rotationSteps('both')) {
      const app = await secret(names.appSecretName);
      const master = await secret(names.masterSecretName);
      const appVersions = await versionCount(names.appSecretName);
      const masterVersions = await versionCount(names.masterSecretName);

      const doomed = startWorker(`rotate:${step}`);
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const res = await stack.call<ChangeBody>('POST', `/v1/tenants/${tenant.id}/rotate-credentials`, ADMIN, {
        which: 'both',
      });
      expect(res.status).toBe(202);
      expect(await doomed.exitWithin(30_000)).toEqual({ code: null, signal: 'SIGKILL' });

      const healthy = startWorker();
      const settled = await eventually(async () => {
        const { body } = await stack.call<ChangeBody>('GET', `/v1/tenants/${tenant.id}`, OPS);
        expect(body.change).toMatchObject({ run: res.body.change!.run, status: 'SUCCEEDED' });
        return body;
      }, 60_000);
      expect(settled.status).toBe('ACTIVE');
      healthy.child.kill('SIGTERM');
      await healthy.exitWithin(15_000);
      expect(running(healthy)).toBe(false);

      const appNow = await secret(names.appSecretName);
      const masterNow = await secret(names.masterSecretName);
      expect({
        step,
        app: await versionCount(names.appSecretName),
        master: await versionCount(names.masterSecretName),
      }).toEqual({
        step,
        app: appVersions + 1,
        master: masterVersions + 1,
      });
      expect(appNow.username).not.toBe(app.username);
      expect(await loginRefusal(instanceAdminUrl(), appNow)).toBeUndefined();
      expect(await loginRefusal(instanceAdminUrl(), masterNow)).toBeUndefined();
      expect(await loginRefusal(instanceAdminUrl(), app)).toBe('28P01');
      expect(await loginRefusal(instanceAdminUrl(), master)).toBe('28P01');
    }
  });
});
