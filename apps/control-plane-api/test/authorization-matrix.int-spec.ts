import { mintDevToken, type Role } from '@silo/auth';
import {
  HostEntity,
  HostRotationEntity,
  OutboxMessageEntity,
  TenantChangeEntity,
  TenantEntity,
} from '@silo/control-plane-db';
import { DataSource } from 'typeorm';
import request from 'supertest';
import { TEST_REGIONS, testConfig, uniqueToken } from '../../../test/support/test-config';
import { createOwnDatabase, dropDatabase } from '../../../test/support/test-databases';
import { startApi, type ApiHarness } from './api-harness';

/**
 * Every route of the contract × every kind of credential, each answered exactly as the contract
 * says: 401 (with WWW-Authenticate) for a missing or bad token, 403 for a valid token without a
 * listed role or for the data plane (a tenant token, or an operator token carrying `tenant_id`),
 * and the route's real success answer for an allowed role. A refused mutation leaves its tenant as
 * it was.
 */

type Method = 'get' | 'post' | 'delete';
type Access = { public: true } | { roles: readonly Role[] };

interface Subject {
  path: string;
  body?: object;
  /** Checks the success answer. */
  succeeded?: (res: request.Response) => void | Promise<void>;
  /** Checks that a refused request changed nothing. */
  unchanged?: () => Promise<void>;
}

interface Route {
  name: string;
  method: Method;
  access: Access;
  /** The success status for an allowed caller; several when the route may legitimately vary. */
  success: number | readonly number[];
  /** A fresh subject in the state the route's success answer needs. */
  prepare: () => Promise<Subject>;
}

type CredentialKind = 'bad-token' | 'no-role' | 'wrong-plane' | Role;

interface Credential {
  name: string;
  kind: CredentialKind;
  header: () => Promise<string | undefined>;
}

const SECRET_OTHER = 'another-secret-that-is-long-enough-for-hs256';
const TENANT_ID = '3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const slugOf = (label: string) => `${label}-${uniqueToken(4)}`;

let api: ApiHarness;
let ds: DataSource;
let docsMounted = false;
const http = () => request(api.app.getHttpServer());

const mint = (overrides: Partial<Parameters<typeof mintDevToken>[0]> = {}) =>
  mintDevToken({
    secret: api.config.auth.jwtSecret!,
    sub: 'matrix-admin',
    roles: ['admin'],
    issuer: api.config.auth.issuer,
    audience: api.config.auth.audience,
    ...overrides,
  });

const credentials: Credential[] = [
  { name: 'no token', kind: 'bad-token', header: () => Promise.resolve(undefined) },
  {
    name: 'bad signature',
    kind: 'bad-token',
    header: async () => `Bearer ${await mint({ secret: SECRET_OTHER })}`,
  },
  {
    name: 'expired token',
    kind: 'bad-token',
    header: async () => `Bearer ${await mint({ ttlSeconds: -120 })}`,
  },
  {
    name: 'wrong audience',
    kind: 'bad-token',
    header: async () => `Bearer ${await mint({ audience: 'someone-else' })}`,
  },
  { name: 'wrong issuer', kind: 'bad-token', header: async () => `Bearer ${await mint({ issuer: 'evil' })}` },
  {
    name: 'alg none',
    kind: 'bad-token',
    header: () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        sub: 'matrix-forger',
        roles: ['admin'],
        iss: api.config.auth.issuer,
        aud: api.config.auth.audience,
        iat: now,
        exp: now + 600,
      };
      return Promise.resolve(`Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`);
    },
  },
  {
    name: 'Basic credentials',
    kind: 'bad-token',
    header: () => Promise.resolve(`Basic ${Buffer.from('admin:admin').toString('base64')}`),
  },
  // A well-signed token that grants nothing (a tenant app's token, say) is authenticated but not
  // authorised: 403, as docs/operating-tenants.md's Authentication section and the guard's unit test say.
  {
    name: 'no roles claim',
    kind: 'no-role',
    header: async () => `Bearer ${await mint({ roles: undefined })}`,
  },
  // The data plane's tokens and claims: verified, then refused with 403 insufficient_scope, so that
  // a tenant app's own admins (roles: ["admin"] in a tenant token) never become Silo admins.
  {
    name: 'tenant token',
    kind: 'wrong-plane',
    header: async () =>
      `Bearer ${await mint({ roles: undefined, tenantId: TENANT_ID, audience: api.config.auth.tenantAudience })}`,
  },
  {
    name: 'tenant token with roles admin',
    kind: 'wrong-plane',
    header: async () =>
      `Bearer ${await mint({ tenantId: TENANT_ID, audience: api.config.auth.tenantAudience })}`,
  },
  {
    name: 'admin token carrying tenant_id',
    kind: 'wrong-plane',
    header: async () => `Bearer ${await mint({ tenantId: TENANT_ID })}`,
  },
  { name: 'ops', kind: 'ops', header: () => api.auth(['ops'], 'matrix-ops') },
  { name: 'sre', kind: 'sre', header: () => api.auth(['sre'], 'matrix-sre') },
  { name: 'admin', kind: 'admin', header: () => api.auth(['admin'], 'matrix-admin') },
];

async function createTenant(label: string): Promise<TenantEntity> {
  const res = await http()
    .post('/v1/tenants')
    .set('authorization', await api.auth(['ops'], 'matrix-setup'))
    .send({ slug: slugOf(label), name: `Matrix ${label}`, tier: 'pro' })
    .expect(202);
  return ds.getRepository(TenantEntity).findOneByOrFail({ id: (res.body as { id: string }).id });
}

async function tenantIn(label: string, status: TenantEntity['status']): Promise<TenantEntity> {
  const tenant = await createTenant(label);
  const failure =
    status === 'FAILED'
      ? { failureCode: 'AWS_PERMANENT', failureMessage: 'refused', failureStep: 'create-instance' }
      : {};
  await ds.getRepository(TenantEntity).update({ id: tenant.id }, { status, ...failure });
  return { ...tenant, status };
}

const outboxCount = (tenantId: string) =>
  ds
    .getRepository(OutboxMessageEntity)
    .createQueryBuilder('o')
    .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
    .getCount();

/** A status change route: needs `from`, ends in `to`, and a refused call leaves both status and outbox alone. */
function statusChange(
  label: string,
  from: TenantEntity['status'],
  to: string,
  pathOf: (t: TenantEntity) => string,
) {
  return async (): Promise<Subject> => {
    const tenant = await tenantIn(label, from);
    const jobs = await outboxCount(tenant.id);
    return {
      path: pathOf(tenant),
      succeeded: (res) => expect(res.body).toMatchObject({ id: tenant.id, status: to }),
      unchanged: async () => {
        expect(await ds.getRepository(TenantEntity).findOneByOrFail({ id: tenant.id })).toMatchObject({
          status: from,
        });
        expect(await outboxCount(tenant.id)).toBe(jobs);
      },
    };
  };
}

const ANY_ROLE = { roles: ['ops', 'sre', 'admin'] } as const;

/** An ACTIVE, migrated tenant (an instance of its own in the first region), as a move needs it. */
async function movable(label: string): Promise<TenantEntity> {
  const tenant = await tenantIn(label, 'ACTIVE');
  await ds.getRepository(TenantEntity).update({ id: tenant.id }, { schemaVersion: '0001' });
  return tenant;
}

const moveOf = async (tenantId: string) =>
  ds.getRepository(TenantChangeEntity).findOneBy({ tenantId, kind: 'move' });

let hostOrdinal = 0;

/** A pool host record of its own; an available one has an endpoint. */
function newHost(status: 'creating' | 'available' = 'creating'): Promise<HostEntity> {
  const ordinal = ++hostOrdinal;
  const name = `pool-starter-${String(ordinal).padStart(3, '0')}`;
  return ds.getRepository(HostEntity).save({
    name,
    placement: 'pool',
    tier: 'starter',
    ordinal,
    status,
    instanceIdentifier: `silo-host-${name}`,
    databaseName: 'app',
    capacityTenants: 10,
    connectionBudget: 40,
    ...(status === 'available' && { endpointHost: 'pool.internal', endpointPort: 5432 }),
  });
}

const routes: Route[] = [
  {
    name: 'POST /v1/tenants',
    method: 'post',
    access: { roles: ['ops', 'admin'] },
    success: 202,
    prepare: () => {
      const slug = slugOf('mx-new');
      return Promise.resolve({
        path: '/v1/tenants',
        body: { slug, name: 'Matrix New', tier: 'starter' },
        succeeded: (res) => {
          expect(res.body).toMatchObject({ slug, status: 'PENDING' });
          expect(res.headers.location).toBe(`/v1/tenants/${(res.body as { id: string }).id}`);
        },
        unchanged: async () => expect(await ds.getRepository(TenantEntity).countBy({ slug })).toBe(0),
      });
    },
  },
  {
    name: 'GET /v1/tenants',
    method: 'get',
    access: ANY_ROLE,
    success: 200,
    prepare: () =>
      Promise.resolve({
        path: '/v1/tenants?limit=5',
        succeeded: (res) => {
          expect(Object.keys(res.body as object).sort()).toEqual(['items', 'nextCursor']);
          expect(res.body.items).toEqual(expect.any(Array));
        },
      }),
  },
  {
    name: 'GET /v1/tenants/{id}',
    method: 'get',
    access: ANY_ROLE,
    success: 200,
    prepare: async () => {
      const t = await createTenant('mx-get');
      return {
        path: `/v1/tenants/${t.id}`,
        succeeded: (res) => expect(res.body).toMatchObject({ id: t.id, slug: t.slug }),
      };
    },
  },
  {
    name: 'GET /v1/tenants/{slug}/events',
    method: 'get',
    access: ANY_ROLE,
    success: 200,
    prepare: async () => {
      const t = await createTenant('mx-ev');
      return {
        path: `/v1/tenants/${t.slug}/events`,
        succeeded: (res) =>
          expect(res.body.items).toEqual([expect.objectContaining({ type: 'tenant.created' })]),
      };
    },
  },
  {
    name: 'GET /v1/tenants/{id}/alarms',
    method: 'get',
    access: ANY_ROLE,
    success: 200,
    prepare: async () => {
      const t = await createTenant('mx-al');
      return {
        path: `/v1/tenants/${t.id}/alarms`,
        succeeded: (res) =>
          expect(res.body).toEqual({ items: [], readAt: expect.any(String), of: 'tenant', host: null }),
      };
    },
  },
  {
    name: 'POST /v1/tenants/{id}/retry',
    method: 'post',
    access: { roles: ['admin'] },
    success: 202,
    prepare: statusChange('mx-retry', 'FAILED', 'PROVISIONING', (t) => `/v1/tenants/${t.id}/retry`),
  },
  {
    name: 'POST /v1/tenants/{slug}/suspend',
    method: 'post',
    access: { roles: ['admin'] },
    success: 200,
    prepare: statusChange('mx-susp', 'ACTIVE', 'SUSPENDED', (t) => `/v1/tenants/${t.slug}/suspend`),
  },
  {
    name: 'POST /v1/tenants/{id}/resume',
    method: 'post',
    access: { roles: ['admin'] },
    success: 200,
    prepare: statusChange('mx-res', 'SUSPENDED', 'ACTIVE', (t) => `/v1/tenants/${t.id}/resume`),
  },
  {
    name: 'DELETE /v1/tenants/{id}?confirm={slug}',
    method: 'delete',
    access: { roles: ['admin'] },
    success: 202,
    prepare: statusChange(
      'mx-del',
      'ACTIVE',
      'DEPROVISIONING',
      (t) => `/v1/tenants/${t.id}?confirm=${t.slug}`,
    ),
  },
  {
    name: 'POST /v1/tenants/{id}/move',
    method: 'post',
    access: { roles: ['admin'] },
    success: 202,
    prepare: async () => {
      const t = await movable('mx-move');
      return {
        path: `/v1/tenants/${t.id}/move`,
        body: { region: TEST_REGIONS[1] },
        succeeded: (res) =>
          expect(res.body.change).toMatchObject({
            kind: 'move',
            status: 'RUNNING',
            to: `instance@${TEST_REGIONS[1]}`,
          }),
        unchanged: async () => expect(await moveOf(t.id)).toBeNull(),
      };
    },
  },
  {
    name: 'POST /v1/tenants/{slug}/move/abort',
    method: 'post',
    access: { roles: ['admin'] },
    success: 202,
    prepare: async () => {
      const t = await movable('mx-abort');
      await http()
        .post(`/v1/tenants/${t.id}/move`)
        .set('authorization', await api.auth(['admin'], 'matrix-setup'))
        .send({ region: TEST_REGIONS[1] })
        .expect(202);
      return {
        path: `/v1/tenants/${t.slug}/move/abort`,
        succeeded: (res) => expect(res.body.change).toMatchObject({ kind: 'move', abortRequested: true }),
        unchanged: async () => expect((await moveOf(t.id))?.plan).toMatchObject({ abortRequested: false }),
      };
    },
  },
  {
    name: 'GET /v1/tiers',
    method: 'get',
    access: ANY_ROLE,
    success: 200,
    prepare: () =>
      Promise.resolve({
        path: '/v1/tiers',
        succeeded: (res) =>
          expect((res.body.items as { tier: string }[]).map((t) => t.tier).sort()).toEqual([
            'enterprise',
            'pro',
            'starter',
          ]),
      }),
  },
  {
    name: 'GET /v1/hosts',
    method: 'get',
    access: { roles: ['sre', 'admin'] },
    success: 200,
    prepare: () =>
      Promise.resolve({
        path: '/v1/hosts?limit=5',
        succeeded: (res) => {
          expect(Object.keys(res.body as object).sort()).toEqual(['items', 'nextCursor']);
          expect(res.body.items).toEqual(expect.any(Array));
        },
      }),
  },
  {
    name: 'GET /v1/hosts/{id}',
    method: 'get',
    access: { roles: ['sre', 'admin'] },
    success: 200,
    prepare: async () => {
      const host = await newHost();
      return {
        path: `/v1/hosts/${host.id}`,
        succeeded: (res) => expect(res.body).toMatchObject({ id: host.id, name: host.name }),
      };
    },
  },
  {
    name: 'POST /v1/hosts/{id}/rotate-credentials',
    method: 'post',
    access: { roles: ['sre', 'admin'] },
    success: 202,
    prepare: async () => {
      const host = await newHost('available');
      return {
        path: `/v1/hosts/${host.id}/rotate-credentials`,
        succeeded: (res) => expect(res.body).toMatchObject({ hostId: host.id, run: 1, status: 'RUNNING' }),
        unchanged: async () =>
          expect(await ds.getRepository(HostRotationEntity).countBy({ hostId: host.id })).toBe(0),
      };
    },
  },
  {
    name: 'GET /v1/hosts/{id}/rotations',
    method: 'get',
    access: { roles: ['sre', 'admin'] },
    success: 200,
    prepare: async () => {
      const host = await newHost();
      return {
        path: `/v1/hosts/${host.id}/rotations`,
        succeeded: (res) => expect(res.body).toEqual({ items: [] }),
      };
    },
  },
  {
    name: 'GET /healthz',
    method: 'get',
    access: { public: true },
    success: 200,
    prepare: () =>
      Promise.resolve({ path: '/healthz', succeeded: (res) => expect(res.body).toEqual({ status: 'ok' }) }),
  },
  {
    name: 'GET /readyz',
    method: 'get',
    access: { public: true },
    success: [200, 503],
    prepare: () => Promise.resolve({ path: '/readyz' }),
  },
  {
    name: 'GET /metrics',
    method: 'get',
    access: { roles: ['sre', 'admin'] },
    success: 200,
    prepare: () =>
      Promise.resolve({
        path: '/metrics',
        succeeded: (res) => expect(res.headers['content-type']).toMatch(/^text\/plain/),
      }),
  },
  {
    name: 'GET /docs-json',
    method: 'get',
    access: { public: true },
    // The OpenAPI document is optional until it is mounted; when it is, it must be public.
    success: [200, 404],
    prepare: () =>
      Promise.resolve({
        path: '/docs-json',
        succeeded: (res) => {
          expect(res.status).toBe(docsMounted ? 200 : 404);
          if (docsMounted) expect(res.body).toMatchObject({ openapi: expect.any(String) });
        },
      }),
  },
  {
    name: 'GET /docs',
    method: 'get',
    access: { public: true },
    success: [200, 404],
    prepare: () =>
      Promise.resolve({
        path: '/docs',
        succeeded: (res) => {
          expect(res.status).toBe(docsMounted ? 200 : 404);
          if (docsMounted) expect(res.headers['content-type']).toMatch(/^text\/html/);
        },
      }),
  },
];

type Expectation = 'success' | 401 | 403;

function expectationOf(route: Route, credential: Credential): Expectation {
  if ('public' in route.access) return 'success';
  if (credential.kind === 'bad-token') return 401;
  if (credential.kind === 'no-role' || credential.kind === 'wrong-plane') return 403;
  return route.access.roles.includes(credential.kind) ? 'success' : 403;
}

const matrix = routes.flatMap((route) =>
  credentials.map((credential) => {
    const expected = expectationOf(route, credential);
    return {
      route,
      credential,
      expected,
      title: `${route.name} × ${credential.name} → ${expected === 'success' ? [route.success].flat().join(' or ') : expected}`,
    };
  }),
);

describe('authorization matrix', () => {
  // A database of its own: the ~100 tenants made here do not disturb other files' listings.
  let database: string;

  beforeAll(async () => {
    const own = await createOwnDatabase('authz');
    database = own.name;
    api = await startApi(testConfig({ DATABASE_URL: own.url, RATE_LIMIT_MUTATIONS: '100000' }));
    ds = api.app.get(DataSource);
    const docs = await http().get('/docs-json');
    expect([200, 404]).toContain(docs.status);
    docsMounted = docs.status === 200;
  });
  // Dropping databases can outlast jest's 5 s on a loaded machine.
  afterAll(async () => {
    await api?.close();
    if (database) await dropDatabase(database);
  }, 60_000);

  it('covers every route with every credential', () => {
    expect(matrix).toHaveLength(routes.length * credentials.length);
    expect(new Set(matrix.map((row) => row.title)).size).toBe(matrix.length);
  });

  it.each(matrix)('$title', async ({ route, credential, expected }) => {
    const subject = await route.prepare();
    const authorization = await credential.header();
    let req = http()[route.method](subject.path);
    if (authorization !== undefined) req = req.set('authorization', authorization);
    const res = subject.body ? await req.send(subject.body) : await req;

    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    if (expected === 'success') {
      const allowed = typeof route.success === 'number' ? [route.success] : route.success;
      if (!allowed.includes(res.status)) {
        // Fails naming the status and the answer's body.
        expect({ status: res.status, body: res.body as unknown }).toEqual({ status: allowed[0], body: {} });
      }
      if (res.status >= 400) {
        // Only /readyz may fail (503 problem+json) or /docs-json be absent; neither ever for lack of a token.
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      await subject.succeeded?.(res);
      return;
    }

    expect(res.status).toBe(expected);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'about:blank',
      title: expected === 401 ? 'Unauthorized' : 'Forbidden',
      status: expected,
      detail: expect.any(String),
    });
    if (expected === 401) {
      expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_(request|token)"$/);
    } else if (credential.kind === 'wrong-plane') {
      expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    } else {
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    await subject.unchanged?.();
  });
});
