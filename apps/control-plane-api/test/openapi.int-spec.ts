import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';
import type { Role } from '@silo/auth';
import { TENANT_SLUG_PATTERN, TIER_NAMES } from '@silo/core';
import { ProvisioningStepEntity, TenantEntity } from '@silo/control-plane-db';
import type { TierProfile } from '@silo/fleet';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { skipRolloutTenantBody, startRolloutBody } from '../src/rollouts/rollout.requests';
import {
  createTenantBody,
  listTenantsQuery,
  moveTenantBody,
  restoreTenantBody,
} from '../src/tenants/tenant.requests';
import { tenantAlarm, tenantEvent, tenantResource, tierProfile } from '../src/tenants/tenant.responses';
import { alarmView, eventView, tenantView } from '../src/tenants/tenant.view';
import { startApi, type ApiHarness } from './api-harness';

/**
 * The Endpoints table of the contract (../shared/api-contract.md, outside this repository):
 * method, path, who may call it, the success status and the error statuses it names. 401/403
 * follow from the roles (contract "Conventions"); other errors the API answers are documented
 * too, but these must be.
 */
const ANY: Role[] = ['ops', 'sre', 'admin'];
const CONTRACT: [
  method: string,
  path: string,
  roles: Role[] | 'public',
  success: number,
  errors: number[],
][] = [
  ['post', '/v1/tenants', ['ops', 'admin'], 202, [400, 409, 422]],
  ['get', '/v1/tenants', ANY, 200, []],
  ['get', '/v1/tenants/{idOrSlug}', ANY, 200, [404]],
  ['get', '/v1/tenants/{idOrSlug}/events', ANY, 200, []],
  ['get', '/v1/tenants/{idOrSlug}/alarms', ANY, 200, []],
  ['post', '/v1/tenants/{idOrSlug}/retry', ['admin'], 202, [409]],
  ['post', '/v1/tenants/{idOrSlug}/suspend', ['admin'], 200, [409]],
  ['post', '/v1/tenants/{idOrSlug}/resume', ['admin'], 200, [409]],
  ['post', '/v1/tenants/{idOrSlug}/rotate-credentials', ['admin'], 202, [400, 404, 409]],
  ['patch', '/v1/tenants/{idOrSlug}', ['admin'], 202, [400, 404, 409, 422, 503]],
  ['post', '/v1/tenants/{idOrSlug}/move', ['admin'], 202, [400, 404, 409, 422]],
  ['post', '/v1/tenants/{idOrSlug}/move/abort', ['admin'], 202, [404, 409]],
  ['post', '/v1/tenants/{idOrSlug}/restores', ['admin'], 202, [400, 404, 409, 422, 503]],
  ['get', '/v1/tenants/{idOrSlug}/restores', ['sre', 'admin'], 200, [404]],
  ['delete', '/v1/tenants/{idOrSlug}/restores/{run}', ['admin'], 202, [400, 404]],
  ['post', '/v1/tenants/{idOrSlug}/snapshots', ['admin'], 202, [404, 409]],
  ['get', '/v1/tenants/{idOrSlug}/snapshots', ['sre', 'admin'], 200, [404, 503]],
  ['delete', '/v1/tenants/{idOrSlug}', ['admin'], 202, [400]],
  ['post', '/v1/tenants/{idOrSlug}/undelete', ['admin'], 202, [404, 409, 503]],
  ['get', '/v1/tiers', ANY, 200, []],
  ['post', '/v1/schema-rollouts', ['admin'], 202, [400, 409, 422]],
  ['get', '/v1/schema-rollouts', ANY, 200, [400]],
  ['get', '/v1/schema-rollouts/{id}', ANY, 200, [404]],
  ['post', '/v1/schema-rollouts/{id}/pause', ['admin'], 200, [404, 409]],
  ['post', '/v1/schema-rollouts/{id}/resume', ['admin'], 200, [404, 409]],
  ['post', '/v1/schema-rollouts/{id}/abort', ['admin'], 200, [404, 409]],
  ['post', '/v1/schema-rollouts/{id}/tenants/{idOrSlug}/skip', ['admin'], 200, [400, 404, 409]],
  ['get', '/v1/schema-versions', ANY, 200, []],
  ['post', '/v1/reconcile', ['admin'], 202, []],
  ['get', '/v1/reconciliation', ANY, 200, []],
  ['get', '/v1/orphans', ANY, 200, []],
  ['get', '/v1/alarms', ANY, 200, [400, 503]],
  ['get', '/v1/hosts', ['sre', 'admin'], 200, [400]],
  ['get', '/v1/hosts/{id}', ['sre', 'admin'], 200, [400, 404]],
  ['post', '/v1/hosts/{id}/rotate-credentials', ['sre', 'admin'], 202, [400, 404, 409, 422]],
  ['get', '/v1/hosts/{id}/rotations', ['sre', 'admin'], 200, [400, 404]],
  ['post', '/v1/orphans/delete', ['admin'], 202, [400, 422]],
  ['get', '/healthz', 'public', 200, []],
  ['get', '/readyz', 'public', 200, [503]],
  ['get', '/metrics', ['sre', 'admin'], 200, []],
  ['get', '/docs', 'public', 200, []],
];

/** Routes SwaggerModule adds for the UI besides the documented /docs and /docs-json. */
const SWAGGER_UI_ROUTES = [
  'GET /docs/',
  'GET /docs/index.html',
  'GET /docs/LICENSE',
  'GET /docs/swagger-ui-init.js',
  'GET /docs/docs/swagger-ui-init.js',
];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

// The views and the documented schemas are the same types: a field added to one and not the
// other fails the typecheck.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const viewsMatchSchemas: [
  Same<ReturnType<typeof tenantView>, z.output<typeof tenantResource>>,
  Same<ReturnType<typeof eventView>, z.output<typeof tenantEvent>>,
  Same<ReturnType<typeof alarmView>, z.output<typeof tenantAlarm>>,
  Same<TierProfile, z.output<typeof tierProfile>>,
] = [true, true, true, true];

describe('OpenAPI document', () => {
  let api: ApiHarness;
  let doc: OpenAPIObject;
  let ajv: Ajv;
  const http = () => request(api.app.getHttpServer());

  beforeAll(async () => {
    api = await startApi(testConfig({ RATE_LIMIT_MUTATIONS: '1000' }));
    const res = await http().get('/docs-json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.body as OpenAPIObject;
    ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi', components: doc.components });
  });
  afterAll(() => api?.close());

  const operation = (method: string, path: string): OperationObject => {
    const op = (doc.paths[path] as Record<string, OperationObject> | undefined)?.[method];
    if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
    return op;
  };

  const validatorFor = (schema: SchemaObject | { $ref: string }): ValidateFunction =>
    '$ref' in schema ? ajv.compile({ $ref: `openapi${schema.$ref}` }) : ajv.compile(schema);

  const problems = (validate: ValidateFunction) => ajv.errorsText(validate.errors, { separator: '\n' });

  it('is served without a token, as OpenAPI 3 with a bearer JWT scheme', () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
  });

  describe.each(CONTRACT)('%s %s', (method, path, roles, success, errors) => {
    it(`answers ${success} and documents the contract's errors as problem+json`, () => {
      const op = operation(method, path);
      const statuses = Object.keys(op.responses).map(Number);
      expect(statuses.filter((s) => s >= 200 && s < 300)).toEqual([success]);
      const expectedErrors = roles === 'public' ? errors : [...errors, 401, 403];
      expect(statuses).toEqual(expect.arrayContaining(expectedErrors));
      for (const status of statuses.filter((s) => s >= 400)) {
        const response = op.responses[status] as ResponseObject;
        expect([status, Object.keys(response.content ?? {})]).toEqual([status, ['application/problem+json']]);
        expect(response.content!['application/problem+json'].schema).toEqual({
          $ref: '#/components/schemas/Problem',
        });
      }
      for (const response of Object.values(op.responses) as ResponseObject[]) {
        expect(response.headers?.['x-request-id']).toEqual({ $ref: '#/components/headers/RequestId' });
      }
    });

    it('states who may call it, from the route’s @Public/@Roles rule', () => {
      const op = operation(method, path);
      if (roles === 'public') {
        expect(op.security).toEqual([]);
        expect(op.description).toMatch(/^\*\*Public:\*\*/);
      } else {
        expect(op.security).toEqual([{ bearer: [] }]);
        expect((op as { 'x-roles'?: string[] })['x-roles']).toEqual(roles);
        expect(op.description).toContain(roles.map((r) => `\`${r}\``).join(', '));
      }
    });
  });

  it('documents Location and Idempotency-Key on create, Retry-After on every 429, and x-request-id everywhere', () => {
    const create = operation('post', '/v1/tenants');
    expect((create.responses[202] as ResponseObject).headers).toHaveProperty('Location');
    expect(create.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
      ]),
    );
    const mutations = CONTRACT.filter(([m]) => m !== 'get').map(([m, p]) => operation(m, p));
    for (const op of mutations) {
      expect((op.responses[429] as ResponseObject).headers).toHaveProperty('Retry-After');
    }
    for (const [method, path] of CONTRACT) {
      expect(operation(method, path).parameters).toContainEqual({
        $ref: '#/components/parameters/RequestId',
      });
    }
  });

  it('lists every route the app serves and nothing it does not serve', () => {
    const app = api.app.getHttpAdapter().getInstance() as {
      router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
    };
    const routes = app.router.stack.flatMap((layer) => (layer.route ? [layer.route] : []));
    // Nest mounts its middleware (the request logger) on every path and method.
    const everyMethod = routes.filter((r) => Object.keys(r.methods).length > 1);
    expect(new Set(everyMethod.map((r) => r.path))).toEqual(new Set(['/{*path}']));
    const served = routes
      .filter((r) => Object.keys(r.methods).length === 1)
      .map((r) => `${Object.keys(r.methods)[0].toUpperCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      HTTP_METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(served.sort()).toEqual([...documented, ...SWAGGER_UI_ROUTES].sort());
    expect(documented).toHaveLength(CONTRACT.length + 1); // and /docs-json
  });

  it('describes the create body as zod checks it: no unknown fields, the slug rule, name length, tiers', () => {
    const body = operation('post', '/v1/tenants').requestBody as {
      required: boolean;
      content: Record<string, { schema: { $ref: string } }>;
    };
    expect(body.required).toBe(true);
    expect(body.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/CreateTenantRequest',
    });
    const schema = doc.components!.schemas!.CreateTenantRequest as SchemaObject;
    const props = schema.properties as Record<string, SchemaObject>;
    expect(schema.additionalProperties).toBe(false);
    expect([...(schema.required ?? [])].sort()).toEqual(['name', 'slug', 'tier']);
    expect(props.slug.pattern).toContain(TENANT_SLUG_PATTERN.source.slice(1));
    expect(props.name).toMatchObject({ minLength: 1, maxLength: 200 });
    expect(props.tier.enum).toEqual([...TIER_NAMES]);
  });

  it('accepts and refuses the same bodies as the zod schema', () => {
    const validate = validatorFor({ $ref: '#/components/schemas/CreateTenantRequest' });
    const ok = { slug: 'acme-corp', name: 'Acme Corp', tier: 'enterprise' };
    // Lone surrogates in a name are refused by zod only: a JSON Schema pattern cannot say it
    // portably, so the description does.
    const bodies: unknown[] = [
      ok,
      { ...ok, plan: 'gold' },
      { slug: ok.slug, name: ok.name },
      null,
      [ok],
      'acme',
      ...[
        'ab',
        'abc',
        'a-b',
        'a--b',
        'a-b-c',
        '1abc',
        'abc-',
        'Abc',
        'a_b',
        'a'.repeat(32),
        'a'.repeat(33),
        42,
      ].map((slug) => ({ ...ok, slug })),
      ...[
        '',
        'x',
        'x'.repeat(200),
        'x'.repeat(201),
        '🦊'.repeat(200),
        '🦊'.repeat(201),
        'tab\there',
        'nel\u0085',
        'del\u007f',
        'zero\u200bwidth',
        'rtl \u202eevil',
        'isolate \u2066x\u2069',
        'lrm \u200e',
        'é',
      ].map((name) => ({ ...ok, name })),
      ...['starter', 'pro', 'platinum', null].map((tier) => ({ ...ok, tier })),
    ];
    const disagreements = bodies.filter(
      (body) => validate(body) !== createTenantBody.safeParse(body).success,
    );
    expect(disagreements).toEqual([]);
    expect(bodies.filter((body) => validate(body))).toHaveLength(13);
  });

  it('accepts and refuses the same move bodies as the zod schema: at least one field, none unknown', () => {
    const validate = validatorFor({ $ref: '#/components/schemas/MoveTenantRequest' });
    const bodies: unknown[] = [
      {},
      null,
      [],
      { tier: 'enterprise' },
      { placement: 'pool' },
      { region: 'eu-west-1' },
      { placement: 'instance', region: 'eu-central-1', tier: 'enterprise' },
      { tier: 'enterprise', extra: 1 },
      { placement: 'shared' },
      { tier: 'platinum' },
      { region: 'Europe' },
      { region: 42 },
      { tier: null },
    ];
    expect(bodies.filter((body) => validate(body) !== moveTenantBody.safeParse(body).success)).toEqual([]);
    expect(bodies.filter((body) => validate(body))).toHaveLength(4);
  });

  it('accepts and refuses the same restore bodies as the zod schema: exactly one source, none unknown', () => {
    const validate = validatorFor({ $ref: '#/components/schemas/RestoreTenantRequest' });
    const at = '2026-12-07T10:32:00Z';
    const bodies: unknown[] = [
      {},
      null,
      [],
      { source: { pointInTime: at }, mode: 'copy' },
      { source: { pointInTime: '2026-12-07T10:32:00.123+02:00' }, mode: 'replace' },
      { source: { snapshot: 'rds:silo-acme-2026-12-07-10-32' }, mode: 'copy' },
      { source: { latest: true }, mode: 'copy' },
      { source: { latest: false }, mode: 'copy' },
      { source: { pointInTime: at, latest: true }, mode: 'copy' },
      { source: {}, mode: 'copy' },
      { source: { pointInTime: at } },
      { source: { pointInTime: at }, mode: 'overwrite' },
      { source: { pointInTime: at }, mode: 'copy', extra: 1 },
      { source: { pointInTime: at, extra: 1 }, mode: 'copy' },
      { source: { pointInTime: 'yesterday' }, mode: 'copy' },
      { source: { pointInTime: '2026-12-07T10:32' }, mode: 'copy' },
      { source: { pointInTime: '2026-02-30T10:32:00Z' }, mode: 'copy' },
      { source: { snapshot: '' }, mode: 'copy' },
      { source: 'latest', mode: 'copy' },
    ];
    expect(bodies.filter((body) => validate(body) !== restoreTenantBody.safeParse(body).success)).toEqual([]);
    expect(bodies.filter((body) => validate(body))).toHaveLength(4);
  });

  it('accepts and refuses the same rollout start and skip bodies as the zod schemas', () => {
    const start = validatorFor({ $ref: '#/components/schemas/StartRolloutRequest' });
    const starts: unknown[] = [
      {},
      ...[
        [],
        ['acme-corp'],
        ['6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F', 'acme'],
        ['acme', 'acme'],
        ['a--b'],
        ['Acme'],
        ['ab'],
        ['6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5'],
        [42],
        'acme',
      ].map((exclude) => ({ exclude })),
    ];
    expect(starts.filter((body) => start(body) !== startRolloutBody.safeParse(body).success)).toEqual([]);
    expect(starts.filter((body) => start(body))).toHaveLength(4);

    const skip = validatorFor({ $ref: '#/components/schemas/SkipRolloutTenantRequest' });
    // As for names, lone surrogates are refused by zod only (the description says so).
    const skips: unknown[] = [
      {},
      { reason: 'ok', extra: 1 },
      null,
      ...[
        'x',
        'ledger edited by hand',
        ' padded ',
        '',
        '   ',
        'x'.repeat(500),
        'x'.repeat(501),
        '🦊'.repeat(500),
        'tab\there',
        'line\nbreak',
        'rtl \u202eevil',
        '\u3000',
        42,
      ].map((reason) => ({ reason })),
    ];
    expect(skips.filter((body) => skip(body) !== skipRolloutTenantBody.safeParse(body).success)).toEqual([]);
    expect(skips.filter((body) => skip(body))).toHaveLength(6);
  });

  it('accepts and refuses the same list query values as the zod schema', () => {
    const params = operation('get', '/v1/tenants').parameters as ParameterObject[];
    const query = params.filter((p) => p.in === 'query');
    expect(query.map((p) => [p.name, p.required])).toEqual(
      Object.keys(listTenantsQuery.shape).map((name) => [name, false]),
    );
    // The cursor is opaque ("a cursor this API issued"): a string is all a schema can say.
    const samples: Record<string, string[]> = {
      status: ['ACTIVE', 'ACTIVE,FAILED', 'ACTIVE,ACTIVE', 'active', 'ACTIVE,', '', 'BOGUS'],
      tier: ['pro', 'starter,enterprise', 'gold', 'pro,,starter', ''],
      limit: ['1', '50', '200', '007', '0', '201', '1000', '-1', '1.5', '1e2', 'abc', ''],
    };
    const disagreements: string[] = [];
    for (const [name, values] of Object.entries(samples)) {
      const param = query.find((p) => p.name === name)!;
      expect(param.style ?? 'form').toBe('form');
      const schema = param.schema as SchemaObject;
      const validate = validatorFor(schema);
      for (const raw of values) {
        // How a client serializes the parameter (style form; arrays comma-separated).
        const value =
          schema.type === 'array'
            ? raw === ''
              ? []
              : raw.split(',')
            : schema.type === 'integer' && /^-?\d+(\.\d+)?$/.test(raw)
              ? Number(raw)
              : raw;
        if (validate(value) !== listTenantsQuery.safeParse({ [name]: raw }).success) {
          disagreements.push(`${name}=${raw}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('keeps the response schemas and the views the same types', () => {
    expect(viewsMatchSchemas).toEqual([true, true, true, true]);
  });

  it('serves Swagger UI at /docs from its own assets, with no CDN', async () => {
    const page = await http().get('/docs').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['x-request-id']).toEqual(expect.any(String));
    expect(page.text).toContain('<div id="swagger-ui">');
    const assets = [...page.text.matchAll(/(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      expect(asset).not.toMatch(/^(https?:)?\/\//);
      const url = new URL(asset, 'http://silo.invalid/docs');
      const res = await http().get(url.pathname).expect(200);
      expect(res.headers['content-type']).toMatch(/css|javascript|image/);
    }
    const init = await http().get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toContain('"title": "Silo control-plane API"');
  });

  it('opens nothing else: the rest of swagger-ui-dist, /docs-yaml and the API itself still refuse', async () => {
    for (const path of [
      '/docs/package.json',
      '/docs/swagger-initializer.js',
      '/docs/docs/swagger-ui-init.js',
      '/docs-yaml',
    ]) {
      const res = await http().get(path).expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    await http().get('/v1/tiers').expect(401);
    await http().get('/docs').set('authorization', 'Bearer not-a-token').expect(200);
  });

  it('answers a method the document does not list on a known path with 405 and Allow; unknown paths stay 404', async () => {
    const tenant = '/v1/tenants/00000000-0000-4000-8000-000000000000';
    const cases: [string, string, string][] = [
      ['trace', '/v1/tenants', 'GET, POST, HEAD'],
      ['put', tenant, 'GET, DELETE, PATCH, HEAD'],
      ['delete', '/v1/tiers', 'GET, HEAD'],
      ['get', '/v1/reconcile', 'POST'],
      ['post', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await (http() as unknown as Record<string, (p: string) => request.Test>)[method](path);
      expect([method, path, res.status, res.headers.allow]).toEqual([method, path, 405, allow]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      // Every documented method of that path is one the document lists.
      const item = doc.paths[path.startsWith(tenant) ? '/v1/tenants/{idOrSlug}' : path] as Record<
        string,
        unknown
      >;
      for (const m of allow.split(', ').filter((m) => m !== 'HEAD'))
        expect(item[m.toLowerCase()]).toBeDefined();
    }
    await http().trace('/v1/no-such-thing').expect(404);
  });

  it('takes an empty cursor as the first page, as its plain string schema allows', async () => {
    const sre = await api.auth(['sre']);
    for (const path of ['/v1/tenants?cursor=', '/v1/schema-rollouts?cursor=', '/v1/alarms?cursor=']) {
      const res = await http().get(path).set('authorization', sre);
      expect([path, res.status]).toEqual([path, 200]);
    }
  });

  describe('real responses match the document', () => {
    let ds: DataSource;
    beforeAll(() => {
      ds = api.app.get(DataSource);
    });

    /** The answer's status is documented for the route, and its body validates against that schema. */
    const conforms = (res: request.Response, method: string, path: string) => {
      const response = operation(method, path).responses[res.status] as ResponseObject | undefined;
      if (!response)
        throw new Error(`${method.toUpperCase()} ${path} answered ${res.status}, not documented`);
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
      if (!response.content) return;
      const type = String(res.headers['content-type']).split(';')[0];
      const media = response.content[type];
      if (!media)
        throw new Error(`${method.toUpperCase()} ${path} ${res.status} answered ${type}, not documented`);
      const validate = validatorFor(media.schema as SchemaObject);
      const body: unknown = /json$/.test(type) ? res.body : res.text;
      if (!validate(body)) {
        throw new Error(`${method.toUpperCase()} ${path} ${res.status}: ${problems(validate)}`);
      }
    };

    const setStatus = (id: string, status: TenantEntity['status']) =>
      ds.getRepository(TenantEntity).update({ id }, { status });

    it('for the tenant routes, their errors and the public routes', async () => {
      const ops = await api.auth(['ops']);
      const admin = await api.auth(['admin']);
      const sre = await api.auth(['sre']);
      const slug = `doc-${uniqueToken(3)}`;
      const tenantPath = '/v1/tenants/{idOrSlug}';

      const created = await http()
        .post('/v1/tenants')
        .set('authorization', ops)
        .set('idempotency-key', `doc-${uniqueToken(6)}`)
        .send({ slug, name: 'Doc Corp', tier: 'pro' });
      expect(created.status).toBe(202);
      expect(created.headers.location).toBe(`/v1/tenants/${created.body.id}`);
      conforms(created, 'post', '/v1/tenants');
      const id = created.body.id as string;

      const calls: [request.Test, string, string][] = [
        [
          http().post('/v1/tenants').set('authorization', ops).send({ slug, name: 'Again', tier: 'pro' }),
          'post',
          '/v1/tenants',
        ],
        [
          http().post('/v1/tenants').set('authorization', ops).send({ slug, tier: 'gold', extra: 1 }),
          'post',
          '/v1/tenants',
        ],
        [
          http().post('/v1/tenants').set('authorization', sre).send({ slug, name: 'X', tier: 'pro' }),
          'post',
          '/v1/tenants',
        ],
        [http().post('/v1/tenants').send({ slug, name: 'X', tier: 'pro' }), 'post', '/v1/tenants'],
        [
          http().get('/v1/tenants?limit=2&status=PENDING,ACTIVE').set('authorization', sre),
          'get',
          '/v1/tenants',
        ],
        [http().get('/v1/tenants?limit=0').set('authorization', sre), 'get', '/v1/tenants'],
        [http().get(`/v1/tenants/${slug}`).set('authorization', sre), 'get', tenantPath],
        [http().get('/v1/tenants/nobody-here').set('authorization', sre), 'get', tenantPath],
        [http().get(`/v1/tenants/${id}/events`).set('authorization', sre), 'get', `${tenantPath}/events`],
        [http().get(`/v1/tenants/${id}/alarms`).set('authorization', sre), 'get', `${tenantPath}/alarms`],
        [
          http().get(`/v1/tenants/${id}/snapshots`).set('authorization', sre),
          'get',
          `${tenantPath}/snapshots`,
        ],
        [
          http().post(`/v1/tenants/${id}/snapshots`).set('authorization', admin),
          'post',
          `${tenantPath}/snapshots`,
        ],
        [
          http().post(`/v1/tenants/${id}/suspend`).set('authorization', admin),
          'post',
          `${tenantPath}/suspend`,
        ],
        [http().post(`/v1/tenants/${id}/retry`).set('authorization', admin), 'post', `${tenantPath}/retry`],
        [http().delete(`/v1/tenants/${id}?confirm=wrong`).set('authorization', admin), 'delete', tenantPath],
        [http().get('/v1/tiers').set('authorization', sre), 'get', '/v1/tiers'],
        [http().get('/healthz'), 'get', '/healthz'],
        [http().get('/readyz'), 'get', '/readyz'],
        [http().get('/metrics').set('authorization', sre), 'get', '/metrics'],
        [http().get('/metrics'), 'get', '/metrics'],
      ];
      const statuses: number[] = [];
      for (const [call, method, path] of calls) {
        const res = await call;
        statuses.push(res.status);
        conforms(res, method, path);
      }
      expect(statuses).toEqual([
        409, 400, 403, 401, 200, 400, 200, 404, 200, 200, 200, 409, 409, 409, 400, 200, 200, 200, 200, 401,
      ]);

      // A move refused (nothing migrated to copy yet), a body refused, and no move to abort.
      const moves: [request.Test, string, number][] = [
        [
          http().post(`/v1/tenants/${id}/move`).set('authorization', admin).send({ region: 'eu-central-1' }),
          'move',
          422,
        ],
        [http().post(`/v1/tenants/${id}/move`).set('authorization', admin).send({}), 'move', 400],
        [http().post(`/v1/tenants/${slug}/move/abort`).set('authorization', admin), 'move/abort', 409],
        [http().post('/v1/tenants/nobody-here/move/abort').set('authorization', admin), 'move/abort', 404],
      ];
      for (const [call, route, status] of moves) {
        const res = await call;
        expect([route, res.status]).toEqual([route, status]);
        conforms(res, 'post', `${tenantPath}/${route}`);
      }

      // A restore refused (no instance to restore from yet), a body refused; no copies, none to remove.
      const restores: [request.Test, string, string, number][] = [
        [
          http()
            .post(`/v1/tenants/${id}/restores`)
            .set('authorization', admin)
            .send({ source: { latest: true }, mode: 'copy' }),
          'post',
          `${tenantPath}/restores`,
          422,
        ],
        [
          http().post(`/v1/tenants/${id}/restores`).set('authorization', admin).send({ source: {} }),
          'post',
          `${tenantPath}/restores`,
          400,
        ],
        [
          http().get(`/v1/tenants/${slug}/restores`).set('authorization', sre),
          'get',
          `${tenantPath}/restores`,
          200,
        ],
        [
          http().get('/v1/tenants/nobody-here/restores').set('authorization', sre),
          'get',
          `${tenantPath}/restores`,
          404,
        ],
        [
          http().delete(`/v1/tenants/${id}/restores/1`).set('authorization', admin),
          'delete',
          `${tenantPath}/restores/{run}`,
          404,
        ],
        [
          http().delete(`/v1/tenants/${id}/restores/0`).set('authorization', admin),
          'delete',
          `${tenantPath}/restores/{run}`,
          400,
        ],
      ];
      for (const [call, method, path, status] of restores) {
        const res = await call;
        expect([method, path, res.status]).toEqual([method, path, status]);
        conforms(res, method, path);
      }

      await setStatus(id, 'ACTIVE');
      const suspended = await http()
        .post(`/v1/tenants/${id}/suspend`)
        .set('authorization', admin)
        .expect(200);
      conforms(suspended, 'post', `${tenantPath}/suspend`);
      const resumed = await http().post(`/v1/tenants/${id}/resume`).set('authorization', admin).expect(200);
      conforms(resumed, 'post', `${tenantPath}/resume`);
      const deleted = await http()
        .delete(`/v1/tenants/${id}?confirm=${slug}`)
        .set('authorization', admin)
        .expect(202);
      conforms(deleted, 'delete', tenantPath);

      // A tenant with every part filled in: instance, endpoint, a step and a failure.
      const { provisioningRun } = await ds.getRepository(TenantEntity).findOneByOrFail({ id });
      await ds.getRepository(TenantEntity).update(
        { id },
        {
          status: 'FAILED',
          dbInstanceIdentifier: `silo-${slug}`,
          dbInstanceClass: 'db.t3.small',
          dbEngine: 'postgres',
          dbEngineVersion: '16.4',
          dbMultiAz: false,
          dbStorageEncrypted: true,
          dbEndpointHost: '127.0.0.1',
          dbEndpointPort: 5432,
          dbName: 'app',
          appSecretArn: `arn:aws:secretsmanager:us-east-1:000000000000:secret:silo/${slug}/app`,
          schemaVersion: '1',
          failureCode: 'INSTANCE_FAILED',
          failureMessage: 'the instance failed',
          failureStep: 'wait-available',
        },
      );
      await ds.getRepository(ProvisioningStepEntity).insert({
        tenantId: id,
        saga: 'provision',
        run: provisioningRun,
        step: 'wait-available',
        position: 3,
        status: 'failed',
        attempts: 4,
        failures: 1,
        startedAt: new Date(),
        finishedAt: new Date(),
      });
      const full = await http().get(`/v1/tenants/${id}`).set('authorization', sre).expect(200);
      expect(full.body.database.endpoint).toEqual({ host: '127.0.0.1', port: 5432 });
      expect(full.body.provisioning.steps).toHaveLength(1);
      expect(full.body.provisioning.lastError).toMatchObject({ step: 'wait-available' });
      conforms(full, 'get', tenantPath);
      const retried = await http().post(`/v1/tenants/${id}/retry`).set('authorization', admin).expect(202);
      conforms(retried, 'post', `${tenantPath}/retry`);
    });
  });
});
