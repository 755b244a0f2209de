import type { INestApplication } from '@nestjs/common';
import { mintDevToken } from '@silo/auth';
import { TenantRouter } from '@silo/tenant-router';
import type { TierName } from '@silo/core';
import request from 'supertest';
import { freePort } from '../../../test/support/free-port';
import { startExampleApp, TenantFixtures, TEST_PLACEMENTS, type TestTenant } from './example-app-harness';
import { NoteByIdProbeController } from './note-by-id.probe-controller';

jest.setTimeout(60_000);

describe.each(TEST_PLACEMENTS)('example tenant app: notes, %s placement', (placement) => {
  let fixtures: TenantFixtures;
  let app: INestApplication;
  let acme: TestTenant;
  let globex: TestTenant;

  beforeAll(async () => {
    // Statuses are read afresh on every request, so a suspension in the table shows at once.
    fixtures = await TenantFixtures.start(placement, {
      TENANT_DB_SSL: 'disable',
      ROUTER_STATUS_TTL_MS: '0',
      LOG_LEVEL: 'silent',
      // A pool host's one DataSource (read by pooled tenants only).
      ROUTER_POOL_SIZE_PER_HOST: '3',
    });
    // On shared hosts both of one tier, so on one host: neighbours in its schemas or its pool.
    const acmeTier: TierName = placement === 'instance' ? 'pro' : 'starter';
    [acme, globex] = await Promise.all([fixtures.create({ tier: acmeTier }), fixtures.create()]);
    app = await startExampleApp(fixtures.appConfig(), { controllers: [NoteByIdProbeController] });
  });

  afterAll(async () => {
    await app?.close();
    await fixtures?.dispose();
  });

  const http = () => request(app.getHttpServer());
  const post = (tenant: TestTenant, body: unknown) =>
    http()
      .post('/notes')
      .set('authorization', tenant.authorization)
      .send(body as object);
  const list = (authorization: string) => http().get('/notes').set('authorization', authorization);
  const texts = (body: unknown) => (body as { items: { text: string }[] }).items.map((n) => n.text);

  it('stores each tenant’s notes where its data lives and lists only those, newest first', async () => {
    const first = await post(acme, { text: 'acme one' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), text: 'acme one', createdAt: expect.any(String) });
    expect((await post(acme, { text: 'acme two' })).status).toBe(201);
    expect((await post(globex, { text: 'globex only' })).status).toBe(201);

    const acmeList = await list(acme.authorization);
    expect(acmeList.status).toBe(200);
    expect(texts(acmeList.body)).toEqual(['acme two', 'acme one']);
    expect(acmeList.body.items[1]).toEqual(first.body);
    expect(texts((await list(globex.authorization)).body)).toEqual(['globex only']);

    expect(await fixtures.notesInDatabase(acme)).toEqual(['acme one', 'acme two']);
    expect(await fixtures.notesInDatabase(globex)).toEqual(['globex only']);
  });

  it('lets no tenant read, update or delete another tenant’s note by its id', async () => {
    const created = await post(acme, { text: 'acme private' });
    expect(created.status).toBe(201);
    const path = `/probe/notes/${created.body.id as string}`;
    const read = (t: TestTenant) => http().get(path).set('authorization', t.authorization);
    const update = (t: TestTenant, text: string) =>
      http().patch(path).set('authorization', t.authorization).send({ text });
    const remove = (t: TestTenant) => http().delete(path).set('authorization', t.authorization);

    expect([
      (await read(globex)).status,
      (await update(globex, 'stolen')).status,
      (await remove(globex)).status,
    ]).toEqual([404, 404, 404]);
    expect(texts((await list(globex.authorization)).body)).not.toContain('acme private');
    expect((await read(acme)).body).toEqual(created.body);
    expect(await fixtures.notesInDatabase(acme)).toContain('acme private');
    expect(await fixtures.notesInDatabase(globex)).toEqual(['globex only']);

    // The same routes serve the note's own tenant: what globex got is the isolation, not the probe.
    expect((await update(acme, 'acme edited')).body).toMatchObject({ text: 'acme edited' });
    expect((await remove(acme)).status).toBe(204);
    expect((await read(acme)).status).toBe(404);
    expect(await fixtures.notesInDatabase(acme)).toEqual(['acme one', 'acme two']);
  });

  // Pooled tenants of one host: rows of one table, reached through the host's one DataSource.
  if (placement === 'pool')
    it('keeps two pooled tenants of one host apart in its one table, on one DataSource', async () => {
      expect(acme.host!.id).toBe(globex.host!.id);
      const rows = await fixtures.poolRows(acme.host!);
      expect(rows).toEqual([
        { tenantId: acme.id, text: 'acme one' },
        { tenantId: acme.id, text: 'acme two' },
        { tenantId: globex.id, text: 'globex only' },
      ]);
      // The app's login sees none of them: the tenant comes from the router's transaction alone.
      const visible = await fixtures.asPoolLogin(acme.host!, async (client) => {
        const { rows } = await client.query<{ n: number; tenant: string | null }>(
          `SELECT count(*)::int AS n, current_setting('app.tenant_id', true) AS tenant FROM notes`,
        );
        return rows[0];
      });
      expect({ ...visible, tenant: visible.tenant || null }).toEqual({ n: 0, tenant: null });
      const metrics = await http().get('/metrics');
      expect(metrics.text).toMatch(/^silo_tenant_router_open_datasources 1$/m);
    });

  if (placement === 'pool')
    it('serves a burst of both pooled tenants within ROUTER_POOL_SIZE_PER_HOST connections to their host', async () => {
      const burst = await Promise.all(
        Array.from({ length: 40 }, (_, n) => list((n % 2 ? acme : globex).authorization)),
      );
      expect(burst.map((res) => res.status)).toEqual(Array(40).fill(200));
      for (const [n, res] of burst.entries())
        expect(texts(res.body)).toEqual(n % 2 ? ['acme two', 'acme one'] : ['globex only']);
      expect(app.get(TenantRouter).stats()).toMatchObject({ open: 1, leases: 0 });
      expect(app.get(TenantRouter).stats().peakConnections).toBeLessThanOrEqual(3);
    });

  it('takes the tenant from the token, never from a header', async () => {
    const spoofed = await http()
      .get('/notes')
      .set('authorization', globex.authorization)
      .set('x-tenant-id', acme.id)
      .set('x-silo-tenant', acme.slug);
    expect(spoofed.status).toBe(200);
    expect(texts(spoofed.body).some((text) => text.startsWith('acme'))).toBe(false);
    expect(texts(spoofed.body)).toContain('globex only');

    const headerOnly = await http().get('/notes').set('x-tenant-id', acme.id);
    expect(headerOnly.status).toBe(401);
    expect(headerOnly.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
    expect(headerOnly.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('refuses a token without tenant_id and a bad token with 401', async () => {
    const operator = await list(await fixtures.authorization(''));
    expect(operator.status).toBe(401);
    expect(operator.body.detail).toContain('tenant_id');
    expect((await list('Bearer a.b.c')).status).toBe(401);
  });

  it("refuses the control plane's tokens and claims with 403 and opens no tenant's data", async () => {
    const { jwtSecret, issuer, audience, tenantAudience } = fixtures.config.auth;
    const bearer = async (claims: Partial<Parameters<typeof mintDevToken>[0]>) =>
      `Bearer ${await mintDevToken({ secret: jwtSecret!, sub: 'cross-plane', issuer, ...claims })}`;
    const refused = [
      // An operator token, as `npm run token -- --role admin` mints it.
      await bearer({ roles: ['admin'], audience }),
      // An operator token with acme's tenant_id added.
      await bearer({ roles: ['admin'], tenantId: acme.id, audience }),
      // A tenant token for acme carrying the control plane's roles (a tenant app's own admins).
      await bearer({ roles: ['admin'], tenantId: acme.id, audience: tenantAudience }),
      // A tenant token for the control plane's audience only.
      await bearer({ tenantId: acme.id, audience }),
    ];
    for (const authorization of refused) {
      const res = await list(authorization);
      expect({ status: res.status, challenge: res.headers['www-authenticate'] }).toEqual({
        status: 403,
        challenge: 'Bearer error="insufficient_scope"',
      });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(res.body)).not.toContain('acme');
    }
    // The same tenant_id in a token for the data plane's own audience, without roles, is served.
    expect((await list(await bearer({ tenantId: acme.id, audience: tenantAudience }))).status).toBe(200);
  });

  it('answers 403 naming the status for a tenant that is not ACTIVE, serves its neighbour meanwhile, and serves it again once it is', async () => {
    await fixtures.setStatus(acme.id, 'SUSPENDED');
    try {
      for (const res of [await list(acme.authorization), await post(acme, { text: 'while suspended' })]) {
        expect(res.status).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: 403, title: 'Forbidden', tenantStatus: 'SUSPENDED' });
        expect(res.body.detail).toContain('SUSPENDED');
      }
      // On a shared host, the same host (and, pooled, the same DataSource).
      const neighbour = await list(globex.authorization);
      expect({ status: neighbour.status, texts: texts(neighbour.body) }).toEqual({
        status: 200,
        texts: ['globex only'],
      });
    } finally {
      await fixtures.setStatus(acme.id, 'ACTIVE');
    }
    expect((await list(acme.authorization)).status).toBe(200);
    expect(await fixtures.notesInDatabase(acme)).not.toContain('while suspended');
  });

  it('answers 403 for a tenant created SUSPENDED and for a tenant id Silo does not know', async () => {
    const suspended = await fixtures.create({ status: 'SUSPENDED' });
    const res = await list(suspended.authorization);
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('SUSPENDED');

    const unknown = await list(await fixtures.authorization('5d1e7c1a-0000-4000-8000-000000000000'));
    expect(unknown.status).toBe(403);
    expect(unknown.body.detail).toMatch(/not known/);
  });

  it('answers 503 with Retry-After when the tenant database cannot be reached', async () => {
    const unreachable = await fixtures.create({ databasePort: await freePort() });
    const res = await list(unreachable.authorization);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(res.body)).not.toMatch(/password/i);
  });

  it('answers with the tenant’s schema version from the control plane, and a new one once it is recorded', async () => {
    expect(acme.schemaVersion).not.toBeNull();
    const created = await post(acme, { text: 'versioned' });
    expect(created.status).toBe(201);
    expect(created.headers['x-tenant-schema-version']).toBe(acme.schemaVersion);
    expect((await list(acme.authorization)).headers['x-tenant-schema-version']).toBe(acme.schemaVersion);

    await fixtures.setSchemaVersion(acme.id, '9999');
    try {
      expect((await list(acme.authorization)).headers['x-tenant-schema-version']).toBe('9999');
    } finally {
      await fixtures.setSchemaVersion(acme.id, acme.schemaVersion);
    }
  });

  it('validates the body: unknown fields, empty or too long text, wrong types → 400 naming the field', async () => {
    const unknownField = await post(acme, { text: 'x', tenantId: globex.id });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors).toEqual([{ field: 'tenantId', message: 'is not a known field' }]);
    for (const body of [{ text: '' }, { text: 'x'.repeat(10_001) }, { text: 7 }, {}, { text: 'a\u0000b' }]) {
      const res = await post(acme, body);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('text');
    }
    // Characters, not UTF-16 units: 10,000 emoji are 10,000 characters.
    expect((await post(acme, { text: '😀'.repeat(10_000) })).status).toBe(201);
    const notJson = await http()
      .post('/notes')
      .set('authorization', acme.authorization)
      .set('content-type', 'text/plain')
      .send('hello');
    expect(notJson.status).toBe(415);
  });

  it('echoes x-request-id and answers /healthz without a token', async () => {
    const res = await http().get('/healthz').set('x-request-id', 'req-123');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['x-request-id']).toBe('req-123');
  });

  it('exposes the router’s metrics at /metrics without a token', async () => {
    const res = await http().get('/metrics');
    expect(res.status).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(res.text)?.[1]);
    // acme's and globex's own DataSources (acme's opened again after its suspension); pooled,
    // their host's one, opened once: acme's suspension did not close it.
    const opened = placement === 'pool' ? 1 : 2;
    expect(value('silo_tenant_router_open_datasources')).toBe(opened);
    expect(value('silo_tenant_router_cold_starts_total')).toBeGreaterThanOrEqual(opened);
    expect(value('silo_tenant_router_secret_fetches_total')).toBeGreaterThanOrEqual(opened);
    const initialised = value('silo_tenant_router_initialisation_seconds_count');
    if (placement === 'pool') expect(initialised).toBe(1);
    else expect(initialised).toBeGreaterThanOrEqual(3);
    expect(value('silo_tenant_router_evictions_total')).toBe(0);
    // Every request above, refused, failed or served, has given its lease back.
    expect(value('silo_tenant_router_leases')).toBe(0);
    expect(res.text).toContain('process_cpu_user_seconds_total');
  });
});
