import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { mintDevToken } from '../../libs/auth/src';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { tenantResourceNames } from '../../libs/core/src';
import { UNDELETE_STEPS } from '../../libs/fleet/src';
import { tenantAppEnvironment } from '../support/data-plane-login';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { builtEntry, httpStatus, SiloProcess } from '../support/silo-process';
import { SiloStack, type TenantBody } from '../support/silo-stack';
import { createOwnDatabase, dropDatabase } from '../support/test-databases';
import { fastLocalSagaEnvironment, uniqueToken } from '../support/test-config';

jest.setTimeout(900_000);

const WORKER = 'apps/provisioning-worker/src/main.js';
const EXAMPLE_APP = 'apps/example-tenant-app/src/main.js';
const prefix = `ue${uniqueToken(3)}`;
const ADMIN = { sub: 'undelete-admin', roles: ['admin' as const] };
const OPS = { sub: 'undelete-ops', roles: ['ops' as const] };
const SRE = { sub: 'undelete-sre', roles: ['sre' as const] };

interface UndeleteBody extends TenantBody {
  change: {
    kind: string;
    run: number;
    status: string;
    error: { code: string; message: string; step: string } | null;
  } | null;
}

/**
 * Undelete on the built stack (API, worker, example tenant app as processes; tiers on instances,
 * the local backend's final snapshots real dumps): a tenant's notes, written through the example
 * app, come back after its deletion through the same app with the same tenant token, with the
 * worker SIGKILLed once in each step of the undelete.
 */
describe('deleting and undeleting a tenant, and SIGKILL in every step', () => {
  let stack: SiloStack;
  let app: SiloProcess | undefined;
  let appBase: string;
  let aws: AwsClients;
  const workers: SiloProcess[] = [];
  let database: { name: string; url: string } | undefined;

  beforeAll(async () => {
    database = await createOwnDatabase('undelete_e2e');
    stack = await SiloStack.start({
      DATABASE_URL: database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      WORKER_LOCK_DURATION_MS: '1500',
      LOG_LEVEL: 'info',
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
    for (const w of workers) w.kill();
    await stack?.stop();
    aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (database) await dropDatabase(database.name);
  }, 120_000);

  const appSecret = async (slug: string) => {
    const { SecretString } = await aws.secretsManager.send(
      new GetSecretValueCommand({
        SecretId: tenantResourceNames(prefix, slug).appSecretName,
        VersionStage: 'AWSCURRENT',
      }),
    );
    const { username, password } = JSON.parse(SecretString!) as { username: string; password: string };
    return { username, password };
  };
  const notes = async (token: string) => {
    const res = await fetch(`${appBase}/notes`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { items?: { text: string }[] };
    return { status: res.status, texts: (body.items ?? []).map((n) => n.text).sort() };
  };
  const undeleteEnded = (id: string, run: number) =>
    eventually(
      async () => {
        const { body } = await stack.call<UndeleteBody>('GET', `/v1/tenants/${id}`, OPS);
        expect(body.change).toMatchObject({ kind: 'undelete', run });
        if (!['SUCCEEDED', 'FAILED'].includes(body.change!.status))
          throw new Error(`undelete ${run} is ${body.change!.status}`);
        return body;
      },
      120_000,
      200,
    );
  const startWorker = (failpoints?: string) => {
    const w = SiloProcess.node(builtEntry(WORKER), {
      ...stack.env,
      ...(failpoints ? { SILO_FAILPOINTS: failpoints } : {}),
    });
    workers.push(w);
    return w;
  };

  it('brings a deleted tenant back with its notes through the example app and the same token, with a worker killed once in each step', async () => {
    const created = await stack.call<UndeleteBody>('POST', '/v1/tenants', OPS, {
      slug: `gone-${uniqueToken(2)}`,
      name: 'gone',
      tier: 'pro',
    });
    expect(created.status).toBe(202);
    const tenant = await stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 90_000);
    const token = await mintDevToken({
      secret: stack.env.AUTH_JWT_SECRET,
      sub: 'undelete-client',
      tenantId: tenant.id,
      issuer: stack.env.AUTH_ISSUER,
      audience: stack.env.TENANT_AUTH_AUDIENCE,
    });
    for (const text of ['first', 'second', 'third']) {
      const res = await fetch(`${appBase}/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      expect(res.status).toBe(201);
    }
    const written = (await notes(token)).texts;
    expect(written).toEqual(['first', 'second', 'third']);
    const credentials = await appSecret(tenant.slug);

    // An sre may not undelete; a live tenant is not undeleted.
    expect((await stack.call('POST', `/v1/tenants/${tenant.id}/undelete`, SRE)).status).toBe(403);
    expect((await stack.call('POST', `/v1/tenants/${tenant.id}/undelete`, ADMIN)).status).toBe(409);

    let healthy: SiloProcess | undefined;
    for (const step of UNDELETE_STEPS) {
      const deleted = await stack.call('DELETE', `/v1/tenants/${tenant.id}?confirm=${tenant.slug}`, ADMIN);
      expect({ step, status: deleted.status }).toEqual({ step, status: 202 });
      // Not stack.waitForStatus: it gives up once the stack's own worker is gone, as it is from the first undelete on.
      await eventually(
        async () =>
          expect((await stack.call<UndeleteBody>('GET', `/v1/tenants/${tenant.id}`, OPS)).body.status).toBe(
            'DELETED',
          ),
        90_000,
        200,
      );
      await eventually(async () => expect((await notes(token)).status).toBe(403), 30_000, 200);

      // The worker that deleted it goes; the undelete runs under one armed to die at `step`.
      if (healthy) {
        healthy.child.kill('SIGTERM');
        await healthy.exitWithin(15_000);
      } else {
        stack.worker.child.kill('SIGKILL');
        await stack.worker.exited;
      }
      const doomed = startWorker(`undelete:${step}`);
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const asked = await stack.call<UndeleteBody>('POST', `/v1/tenants/${tenant.id}/undelete`, ADMIN);
      expect({ step, status: asked.status, tenant: asked.body.status }).toEqual({
        step,
        status: 202,
        tenant: 'DELETED',
      });
      const run = asked.body.change!.run;
      expect({ step, exit: await doomed.exitWithin(120_000) }).toEqual({
        step,
        exit: { code: null, signal: 'SIGKILL' },
      });
      healthy = startWorker();
      const ended = await undeleteEnded(tenant.id, run);
      expect({
        step,
        change: ended.change!.status,
        error: ended.change!.error,
        status: ended.status,
      }).toEqual({
        step,
        change: 'SUCCEEDED',
        error: null,
        status: 'ACTIVE',
      });
      expect({ step, id: ended.id, slug: ended.slug }).toEqual({ step, id: tenant.id, slug: tenant.slug });
      expect({ step, credentials: await appSecret(tenant.slug) }).toEqual({ step, credentials });
      // The same token reads the same notes through the example app.
      await eventually(
        async () => expect({ step, ...(await notes(token)) }).toEqual({ step, status: 200, texts: written }),
        30_000,
        200,
      );
    }
  });
});
