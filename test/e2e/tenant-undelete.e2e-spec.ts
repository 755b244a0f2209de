import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { mintDevToken } from '../../libs/auth/src';
import { AwsClients } from '../../libs/aws/src';
import { loadConfig } from '../../libs/config/src';
import { tenantResourceNames } from '../../libs/core/src';
import { SHARED_UNDELETE_STEPS, UNDELETE_STEPS } from '../../libs/fleet/src';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
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

/** One built stack with the example app, and the rounds of delete, then undelete under a worker armed to die. */
function undeleteStack(name: string, env: Record<string, string>) {
  const prefix = `${name}${uniqueToken(3)}`;
  const ctx = {} as {
    stack: SiloStack;
    app: SiloProcess | undefined;
    appBase: string;
    aws: AwsClients;
    workers: SiloProcess[];
    database: { name: string; url: string } | undefined;
    healthy: SiloProcess | undefined;
  };
  ctx.workers = [];

  beforeAll(async () => {
    ctx.database = await createOwnDatabase(`${name}_e2e`);
    ctx.stack = await SiloStack.start({
      DATABASE_URL: ctx.database.url,
      SILO_RESOURCE_PREFIX: prefix,
      ...fastLocalSagaEnvironment(),
      ALARM_ACTIONS: 'none',
      WORKER_LOCK_DURATION_MS: '1500',
      LOG_LEVEL: 'info',
      ...env,
    });
    const port = await freePort();
    ctx.appBase = `http://127.0.0.1:${port}`;
    ctx.app = SiloProcess.node(builtEntry(EXAMPLE_APP), {
      ...(await tenantAppEnvironment(ctx.stack.env)),
      EXAMPLE_APP_PORT: String(port),
    });
    await ctx.app.waitFor(
      async () => (await httpStatus(`${ctx.appBase}/healthz`)) === 200,
      'the example app',
    );
    ctx.aws = new AwsClients(loadConfig({ env: ctx.stack.env, envFile: false }));
  });

  afterAll(async () => {
    ctx.app?.kill();
    for (const w of ctx.workers) w.kill();
    await ctx.stack?.stop();
    ctx.aws?.onApplicationShutdown();
    await removeTenantInstancesUnder(prefix);
    if (ctx.database) await dropDatabase(ctx.database.name);
  }, 120_000);

  const appSecret = async (slug: string) => {
    const { SecretString } = await ctx.aws.secretsManager.send(
      new GetSecretValueCommand({
        SecretId: tenantResourceNames(prefix, slug).appSecretName,
        VersionStage: 'AWSCURRENT',
      }),
    );
    const { username, password } = JSON.parse(SecretString!) as { username: string; password: string };
    return { username, password };
  };
  const notes = async (token: string) => {
    const res = await fetch(`${ctx.appBase}/notes`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { items?: { text: string }[] };
    return { status: res.status, texts: (body.items ?? []).map((n) => n.text).sort() };
  };
  const undeleteEnded = (id: string, run: number) =>
    eventually(
      async () => {
        const { body } = await ctx.stack.call<UndeleteBody>('GET', `/v1/tenants/${id}`, OPS);
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
      ...ctx.stack.env,
      ...(failpoints ? { SILO_FAILPOINTS: failpoints } : {}),
    });
    ctx.workers.push(w);
    return w;
  };

  /** A tenant of `tier` made through the API with `texts` written through the example app; its token. */
  const tenantWithNotes = async (tier: string, label: string, texts: string[]) => {
    const created = await ctx.stack.call<UndeleteBody>('POST', '/v1/tenants', OPS, {
      slug: `${label}-${uniqueToken(2)}`,
      name: label,
      tier,
    });
    expect(created.status).toBe(202);
    const tenant = await ctx.stack.waitForStatus(created.body.id, 'ACTIVE', OPS, 90_000);
    const token = await mintDevToken({
      secret: ctx.stack.env.AUTH_JWT_SECRET,
      sub: `${label}-client`,
      tenantId: tenant.id,
      issuer: ctx.stack.env.AUTH_ISSUER,
      audience: ctx.stack.env.TENANT_AUTH_AUDIENCE,
    });
    for (const text of texts) {
      const res = await fetch(`${ctx.appBase}/notes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      expect(res.status).toBe(201);
    }
    expect((await notes(token)).texts).toEqual([...texts].sort());
    return { tenant, token };
  };

  /**
   * For each step: the tenant deleted (its notes refused), the worker that deleted it stopped, an
   * undelete under a worker armed to die at the step, then a healthy worker: the undelete ends
   * SUCCEEDED, ACTIVE with the same id and slug, `credentials` (when it has an app secret) as they
   * were, and the same token reads the same notes.
   */
  const roundsOfUndelete = async (
    tenant: TenantBody,
    token: string,
    written: string[],
    steps: readonly string[],
    credentials?: { username: string; password: string },
  ) => {
    for (const step of steps) {
      const deleted = await ctx.stack.call(
        'DELETE',
        `/v1/tenants/${tenant.id}?confirm=${tenant.slug}`,
        ADMIN,
      );
      expect({ step, status: deleted.status }).toEqual({ step, status: 202 });
      // Not stack.waitForStatus: it gives up once the stack's own worker is gone, as it is from the first undelete on.
      await eventually(
        async () =>
          expect(
            (await ctx.stack.call<UndeleteBody>('GET', `/v1/tenants/${tenant.id}`, OPS)).body.status,
          ).toBe('DELETED'),
        90_000,
        200,
      );
      await eventually(async () => expect((await notes(token)).status).toBe(403), 30_000, 200);

      // The worker that deleted it goes; the undelete runs under one armed to die at `step`.
      if (ctx.healthy) {
        ctx.healthy.child.kill('SIGTERM');
        await ctx.healthy.exitWithin(15_000);
      } else {
        ctx.stack.worker.child.kill('SIGKILL');
        await ctx.stack.worker.exited;
      }
      const doomed = startWorker(`undelete:${step}`);
      await doomed.waitFor(() => doomed.stdout.includes('"msg":"taking provisioning jobs"'), 'the worker');
      const asked = await ctx.stack.call<UndeleteBody>('POST', `/v1/tenants/${tenant.id}/undelete`, ADMIN);
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
      ctx.healthy = startWorker();
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
      if (credentials)
        expect({ step, credentials: await appSecret(tenant.slug) }).toEqual({ step, credentials });
      // The same token reads the same notes through the example app.
      await eventually(
        async () => expect({ step, ...(await notes(token)) }).toEqual({ step, status: 200, texts: written }),
        30_000,
        200,
      );
    }
  };

  return { ctx, appSecret, notes, tenantWithNotes, roundsOfUndelete };
}

/**
 * Undelete on the built stack (API, worker, example tenant app as processes; tiers on instances,
 * the local backend's final snapshots real dumps): a tenant's notes, written through the example
 * app, come back after its deletion through the same app with the same tenant token, with the
 * worker SIGKILLed once in each step of the undelete.
 */
describe('deleting and undeleting a tenant, and SIGKILL in every step', () => {
  const { ctx, appSecret, tenantWithNotes, roundsOfUndelete } = undeleteStack('ue', {});

  it('brings a deleted tenant back with its notes through the example app and the same token, with a worker killed once in each step', async () => {
    const written = ['first', 'second', 'third'];
    const { tenant, token } = await tenantWithNotes('pro', 'gone', written);
    const credentials = await appSecret(tenant.slug);

    // An sre may not undelete; a live tenant is not undeleted.
    expect((await ctx.stack.call('POST', `/v1/tenants/${tenant.id}/undelete`, SRE)).status).toBe(403);
    expect((await ctx.stack.call('POST', `/v1/tenants/${tenant.id}/undelete`, ADMIN)).status).toBe(409);

    await roundsOfUndelete(tenant, token, written, UNDELETE_STEPS, credentials);
  });
});

/**
 * Undelete of shared tenants on the built stack with the built-in tiers (starter: pool, pro:
 * schema): each tenant's export goes back into a host of its tier, with a neighbour on the same
 * host that keeps its notes, with the worker SIGKILLed once in each step.
 */
describe('deleting and undeleting schema and pooled tenants, and SIGKILL in every step', () => {
  const { ctx, appSecret, notes, tenantWithNotes, roundsOfUndelete } = undeleteStack('us', {
    SILO_TIER_PROFILES_FILE: builtInTierProfilesFile(),
  });

  it('brings a deleted schema tenant and a pooled one back from their exports with their notes, the same token and credentials', async () => {
    // Every tenant first: the stack's own worker makes them, and is gone from the first undelete on.
    const cases = [];
    for (const [placement, tier] of [
      ['schema', 'pro'],
      ['pool', 'starter'],
    ] as const) {
      const written = [`${placement} one`, `a "quoted", comma\nand new line`, `${placement} three`];
      const { tenant, token } = await tenantWithNotes(tier, `${placement}-gone`, written);
      const neighbour = await tenantWithNotes(tier, `${placement}-stays`, ['the neighbour']);
      cases.push({ placement, tenant, token, written: [...written].sort(), neighbour });
    }
    for (const { placement, tenant, token, written, neighbour } of cases) {
      const credentials = placement === 'schema' ? await appSecret(tenant.slug) : undefined;
      await roundsOfUndelete(tenant, token, written, SHARED_UNDELETE_STEPS, credentials);
      const { body } = await ctx.stack.call<UndeleteBody & { placement: string }>(
        'GET',
        `/v1/tenants/${tenant.id}`,
        OPS,
      );
      expect({ placement, got: body.placement }).toEqual({ placement, got: placement });
      // The neighbour on the host kept its notes through every round.
      expect({ placement, ...(await notes(neighbour.token)) }).toEqual({
        placement,
        status: 200,
        texts: ['the neighbour'],
      });
    }
  });
});
