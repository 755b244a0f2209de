import { TenantAlarms } from '@silo/aws';
import { OutboxMessageEntity, ProvisioningStepEntity, TenantEntity } from '@silo/control-plane-db';
import { DataSource } from 'typeorm';
import request from 'supertest';
import { testConfig, uniqueToken } from '../../../test/support/test-config';
import { FleetAlarms } from '../src/alarms/fleet-alarms.service';
import { startApi, type ApiHarness } from './api-harness';

const slugOf = (label: string) => `${label}-${uniqueToken(3)}`;
const fieldsOf = (res: request.Response) =>
  (res.body as { errors: { field: string }[] }).errors.map((e) => e.field);

describe('tenant write routes', () => {
  let api: ApiHarness;
  let ds: DataSource;
  const http = () => request(api.app.getHttpServer());

  beforeAll(async () => {
    api = await startApi(testConfig({ RATE_LIMIT_MUTATIONS: '1000' }));
    ds = api.app.get(DataSource);
  });
  afterAll(() => api?.close());

  const outboxFor = (tenantId: string) =>
    ds
      .getRepository(OutboxMessageEntity)
      .createQueryBuilder('o')
      .where(`o.payload->>'tenantId' = :tenantId`, { tenantId })
      .orderBy('o.id')
      .getMany();

  const setStatus = (id: string, status: string, extra: Record<string, unknown> = {}) =>
    ds.getRepository(TenantEntity).update({ id }, { status: status as TenantEntity['status'], ...extra });

  describe('POST /v1/tenants', () => {
    it('answers 202 with the PENDING tenant and Location, and writes its job to the outbox with the event', async () => {
      const slug = slugOf('acme');
      const res = await http()
        .post('/v1/tenants')
        .set('authorization', await api.auth(['ops'], 'ops-alice'))
        .send({ slug, name: 'Acme Corp', tier: 'enterprise' })
        .expect(202);
      expect(res.headers.location).toBe(`/v1/tenants/${res.body.id}`);
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
      expect(res.body).toMatchObject({
        slug,
        name: 'Acme Corp',
        tier: 'enterprise',
        status: 'PENDING',
        database: null,
      });
      const outbox = await outboxFor(res.body.id);
      expect(outbox.map((o) => [o.jobName, o.jobId, o.jobOptions])).toEqual([
        ['provision-tenant', `provision-${res.body.id}-1`, { priority: 1 }],
      ]);
      const events = await http()
        .get(`/v1/tenants/${slug}/events`)
        .set('authorization', await api.auth(['sre']))
        .expect(200);
      expect(events.body.items).toEqual([
        expect.objectContaining({ type: 'tenant.created', actor: 'ops-alice' }),
      ]);
    });

    it('refuses bad bodies with 400 problem+json naming each field, creating nothing', async () => {
      const auth = await api.auth(['admin']);
      const before = await ds.getRepository(TenantEntity).count();
      const cases: [unknown, string[]][] = [
        [{ slug: slugOf('x'), name: 'X', tier: 'pro', plan: 'gold' }, ['plan']],
        [{ name: 'X', tier: 'pro' }, ['slug']],
        [{ slug: 'Bad_Slug', name: 'X', tier: 'pro' }, ['slug']],
        [{ slug: 'a--b', name: 'X', tier: 'pro' }, ['slug']],
        [{ slug: slugOf('x'), name: '', tier: 'pro' }, ['name']],
        [{ slug: slugOf('x'), name: 'x'.repeat(201), tier: 'pro' }, ['name']],
        [{ slug: slugOf('x'), name: 'tab\there', tier: 'pro' }, ['name']],
        [{ slug: slugOf('x'), name: 'evil\u202Egnp.exe', tier: 'pro' }, ['name']],
        [{ slug: slugOf('x'), name: 'X', tier: 'platinum' }, ['tier']],
        [{ slug: 42, name: ['X'], tier: null }, ['slug', 'name', 'tier']],
        [[{ slug: 'x' }], ['body']],
      ];
      for (const [body, fields] of cases) {
        const res = await http()
          .post('/v1/tenants')
          .set('authorization', auth)
          .send(body as object)
          .expect(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400 });
        expect(fieldsOf(res).sort()).toEqual([...fields].sort());
      }
      // 200 characters of a four-byte script are 200 characters, not 400 UTF-16 units.
      await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .send({ slug: slugOf('emoji'), name: '🦊'.repeat(200), tier: 'starter' })
        .expect(202);
      expect(await ds.getRepository(TenantEntity).count()).toBeGreaterThanOrEqual(before + 1);
    });

    it('answers 400 for invalid JSON, 415 for another media type and 413 above the body limit', async () => {
      const auth = await api.auth(['ops']);
      const bad = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('content-type', 'application/json')
        .send('{"slug": "abc",')
        .expect(400);
      expect(bad.body.detail).toContain('not valid JSON');
      expect(bad.headers['x-request-id']).toEqual(expect.any(String));
      const latin1 = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('content-type', 'application/json')
        // Raw bytes, not JSON-serialised: superagent would encode a Buffer as {type, data}.
        .serialize((body: Buffer) => body as unknown as string)
        .send(
          Buffer.concat([
            Buffer.from(`{"slug":"${slugOf('bytes')}","name":"A`),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('B","tier":"pro"}'),
          ]),
        )
        .expect(400);
      expect(latin1.body.detail).toContain('UTF-8');
      const form = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .type('form')
        .send({ slug: slugOf('form'), name: 'Form', tier: 'pro' })
        .expect(415);
      expect(form.headers['content-type']).toMatch(/^application\/problem\+json/);
      const huge = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .send({ slug: slugOf('huge'), name: 'x'.repeat(api.config.http.bodyLimitBytes), tier: 'pro' })
        .expect(413);
      expect(huge.body).toMatchObject({ status: 413, title: 'Content Too Large' });
    });

    it('answers 409 for a taken slug, and exactly one of many racing requests for a new slug wins', async () => {
      const auth = await api.auth(['ops']);
      const slug = slugOf('race');
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          http().post('/v1/tenants').set('authorization', auth).send({ slug, name: 'Race', tier: 'pro' }),
        ),
      );
      expect(answers.map((r) => r.status).sort()).toEqual([202, ...Array(11).fill(409)]);
      const conflict = answers.find((r) => r.status === 409)!;
      expect(conflict.body).toMatchObject({ status: 409, detail: `slug "${slug}" is already taken` });
      expect(await ds.getRepository(TenantEntity).countBy({ slug })).toBe(1);
      const winner = answers.find((r) => r.status === 202)!;
      expect(await outboxFor(winner.body.id)).toHaveLength(1);
    });

    it('replays an Idempotency-Key with the same body: same tenant, one job; another body → 422', async () => {
      const auth = await api.auth(['ops'], 'ops-idem');
      const slug = slugOf('idem');
      const key = `key-${uniqueToken(8)}`;
      const body = { slug, name: 'Idem Corp', tier: 'starter' };
      const replies = await Promise.all(
        Array.from({ length: 6 }, () =>
          http().post('/v1/tenants').set('authorization', auth).set('idempotency-key', key).send(body),
        ),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(6).fill(202));
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      expect(replies.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(5);
      expect(await outboxFor(replies[0].body.id)).toHaveLength(1);

      const later = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('idempotency-key', key)
        .send(body);
      expect([later.status, later.body.id, later.headers.location]).toEqual([
        202,
        replies[0].body.id,
        `/v1/tenants/${replies[0].body.id}`,
      ]);
      const other = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('idempotency-key', key)
        .send({ ...body, name: 'Someone Else' })
        .expect(422);
      expect(other.body).toMatchObject({ status: 422, title: 'Unprocessable Content' });

      // Keys belong to their caller: another caller's same key is a new request (here: slug taken).
      await http()
        .post('/v1/tenants')
        .set('authorization', await api.auth(['ops'], 'ops-other'))
        .set('idempotency-key', key)
        .send(body)
        .expect(409);
    });

    it('refuses an unusable Idempotency-Key, naming the header', async () => {
      const res = await http()
        .post('/v1/tenants')
        .set('authorization', await api.auth(['ops']))
        .set('idempotency-key', 'k'.repeat(256))
        .send({ slug: slugOf('key'), name: 'Key', tier: 'pro' })
        .expect(400);
      expect(res.body.errors).toEqual([{ field: 'header.Idempotency-Key', message: expect.any(String) }]);
    });

    it('sweeps expired keys of other callers as keys are claimed, keeping live ones', async () => {
      await ds.query(
        `INSERT INTO idempotency_keys (caller, key, request_hash, expires_at)
         SELECT 'sweep-test', 'old-' || g, repeat('0', 64), now() - interval '1 hour' FROM generate_series(1, 50) g`,
      );
      await ds.query(
        `INSERT INTO idempotency_keys (caller, key, request_hash, expires_at)
         VALUES ('sweep-test', 'live', repeat('0', 64), now() + interval '1 hour')`,
      );
      const auth = await api.auth(['ops'], 'ops-sweeper');
      for (let i = 0; i < 20; i++) {
        await http()
          .post('/v1/tenants')
          .set('authorization', auth)
          .set('idempotency-key', `sweep-${uniqueToken(6)}`)
          .send({ slug: slugOf('sweep'), name: 'Sweep', tier: 'starter' })
          .expect(202);
      }
      const left = await ds.query<{ key: string }[]>(
        `SELECT key FROM idempotency_keys WHERE caller = 'sweep-test'`,
      );
      expect(left.map((r) => r.key)).toEqual(['live']);
    });

    it('reuses an expired key as a new one', async () => {
      const auth = await api.auth(['ops'], 'ops-expiry');
      const key = `exp-${uniqueToken(6)}`;
      const first = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('idempotency-key', key)
        .send({ slug: slugOf('exp'), name: 'Exp', tier: 'pro' })
        .expect(202);
      await ds.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [
        key,
      ]);
      const second = await http()
        .post('/v1/tenants')
        .set('authorization', auth)
        .set('idempotency-key', key)
        .send({ slug: slugOf('exp'), name: 'Exp 2', tier: 'pro' })
        .expect(202);
      expect(second.body.id).not.toBe(first.body.id);
    });
  });

  describe('GET /v1/tenants', () => {
    it('pages newest first with a cursor, without gaps or repeats, and filters by status and tier', async () => {
      const auth = await api.auth(['sre']);
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await http()
          .post('/v1/tenants')
          .set('authorization', await api.auth(['ops']))
          .send({ slug: slugOf(`page${i}`), name: `Page ${i}`, tier: 'starter' })
          .expect(202);
        mine.push(res.body.id);
      }
      await setStatus(mine[1], 'SUSPENDED');
      await setStatus(mine[3], 'SUSPENDED');

      const seen: { id: string; createdAt: string }[] = [];
      let cursor: string | null = null;
      do {
        const page: request.Response = await http()
          .get('/v1/tenants')
          .query({ limit: 2, ...(cursor ? { cursor } : {}) })
          .set('authorization', auth)
          .expect(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      const ids = seen.map((t) => t.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expect.arrayContaining(mine));
      expect(ids.filter((id) => mine.includes(id))).toEqual([...mine].reverse());
      const times = seen.map((t) => Date.parse(t.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(ids.length).toBe(await ds.getRepository(TenantEntity).count());

      const suspended = await http()
        .get('/v1/tenants')
        .query({ status: 'SUSPENDED', tier: 'starter,pro', limit: 200 })
        .set('authorization', auth)
        .expect(200);
      const suspendedItems = suspended.body.items as { id: string; status: string }[];
      const suspendedIds = suspendedItems.map((t) => t.id);
      expect(suspendedIds).toEqual(expect.arrayContaining([mine[3], mine[1]]));
      expect(suspendedIds).not.toContain(mine[0]);
      expect(suspendedItems.every((t) => t.status === 'SUSPENDED')).toBe(true);
    });

    it('refuses bad query parameters with 400 naming them', async () => {
      const auth = await api.auth(['ops']);
      const cases: [string, string][] = [
        ['limit=0', 'query.limit'],
        ['limit=201', 'query.limit'],
        ['limit=ten', 'query.limit'],
        ['limit=1&limit=2', 'query.limit'],
        ['status=RUNNING', 'query.status'],
        ['tier=gold', 'query.tier'],
        ['cursor=bm9wZQ', 'query.cursor'],
        ['cursor=%00%01', 'query.cursor'],
        ['sort=name', 'query.sort'],
      ];
      for (const [qs, field] of cases) {
        const res = await http().get(`/v1/tenants?${qs}`).set('authorization', auth).expect(400);
        expect(fieldsOf(res)).toEqual([field]);
      }
    });
  });

  describe('status changes', () => {
    async function created(tier = 'pro') {
      const res = await http()
        .post('/v1/tenants')
        .set('authorization', await api.auth(['ops']))
        .send({ slug: slugOf('life'), name: 'Life', tier })
        .expect(202);
      return res.body as { id: string; slug: string };
    }

    it('suspends an ACTIVE tenant and resumes it; any other status is 409 naming it', async () => {
      const admin = await api.auth(['admin'], 'admin-bob');
      const t = await created();
      const pending = await http()
        .post(`/v1/tenants/${t.slug}/suspend`)
        .set('authorization', admin)
        .expect(409);
      expect(pending.body).toMatchObject({ status: 409, tenantStatus: 'PENDING' });
      expect(pending.body.detail).toContain('is PENDING');

      await setStatus(t.id, 'ACTIVE');
      const suspended = await http()
        .post(`/v1/tenants/${t.id}/suspend`)
        .set('authorization', admin)
        .expect(200);
      expect(suspended.body.status).toBe('SUSPENDED');
      await http().post(`/v1/tenants/${t.id}/suspend`).set('authorization', admin).expect(409);
      const resumed = await http()
        .post(`/v1/tenants/${t.slug}/resume`)
        .set('authorization', admin)
        .expect(200);
      expect(resumed.body.status).toBe('ACTIVE');
      await http().post(`/v1/tenants/${t.slug}/resume`).set('authorization', admin).expect(409);

      const events = await http().get(`/v1/tenants/${t.id}/events`).set('authorization', admin).expect(200);
      expect(
        (events.body.items as { type: string; actor: string }[])
          .filter((e) => e.type !== 'tenant.created')
          .map((e) => [e.type, e.actor]),
      ).toEqual([
        ['tenant.suspended', 'admin-bob'],
        ['tenant.resumed', 'admin-bob'],
      ]);
    });

    it('retries a FAILED tenant as a new run with fresh steps and its own job; 409 otherwise', async () => {
      const admin = await api.auth(['admin']);
      const t = await created('enterprise');
      await http().post(`/v1/tenants/${t.id}/retry`).set('authorization', admin).expect(409);
      await setStatus(t.id, 'FAILED', {
        failureCode: 'AWS_PERMANENT',
        failureMessage: 'no',
        failureStep: 'create-instance',
        dbInstanceIdentifier: `silo-${t.slug}`,
      });
      await ds.getRepository(ProvisioningStepEntity).save({
        tenantId: t.id,
        saga: 'provision',
        run: 1,
        step: 'create-instance',
        position: 1,
        status: 'compensated',
        attempts: 3,
      });
      const before = await http().get(`/v1/tenants/${t.id}`).set('authorization', admin).expect(200);
      expect(before.body.provisioning.steps).toHaveLength(1);

      const res = await http().post(`/v1/tenants/${t.slug}/retry`).set('authorization', admin).expect(202);
      expect(res.body).toMatchObject({
        status: 'PROVISIONING',
        database: null,
        provisioning: { steps: [], lastError: null },
      });
      expect((await outboxFor(t.id)).map((o) => o.jobId)).toEqual([
        `provision-${t.id}-1`,
        `provision-${t.id}-2`,
      ]);
      expect(await ds.getRepository(TenantEntity).findOneByOrFail({ id: t.id })).toMatchObject({
        provisioningRun: 2,
      });
      await http().post(`/v1/tenants/${t.slug}/retry`).set('authorization', admin).expect(409);
    });

    it('deletes only with ?confirm=<slug>, starts deprovisioning once, and refuses a tenant still provisioning', async () => {
      const admin = await api.auth(['admin']);
      const t = await created();
      await http().delete(`/v1/tenants/${t.id}`).set('authorization', admin).expect(400);
      const wrong = await http()
        .delete(`/v1/tenants/${t.id}?confirm=someone-else`)
        .set('authorization', admin)
        .expect(400);
      expect(wrong.body.errors).toEqual([{ field: 'query.confirm', message: expect.any(String) }]);
      await http().delete(`/v1/tenants/${t.id}?confirm=${t.slug}`).set('authorization', admin).expect(409);

      await setStatus(t.id, 'ACTIVE');
      const res = await http()
        .delete(`/v1/tenants/${t.id}?confirm=${t.slug}`)
        .set('authorization', admin)
        .expect(202);
      expect(res.body.status).toBe('DEPROVISIONING');
      await http().delete(`/v1/tenants/${t.slug}?confirm=${t.slug}`).set('authorization', admin).expect(202);
      expect((await outboxFor(t.id)).map((o) => o.jobName)).toEqual([
        'provision-tenant',
        'deprovision-tenant',
      ]);
    });

    it('answers 404 problem+json for unknown tenants on every tenant route', async () => {
      const admin = await api.auth(['admin']);
      const missing = '00000000-0000-4000-8000-000000000000';
      for (const [method, path] of [
        ['get', `/v1/tenants/${missing}`],
        ['get', `/v1/tenants/no-such-tenant/events`],
        ['get', `/v1/tenants/no-such-tenant/alarms`],
        ['post', `/v1/tenants/${missing}/retry`],
        ['post', `/v1/tenants/no-such-tenant/suspend`],
        ['post', `/v1/tenants/no-such-tenant/resume`],
        ['delete', `/v1/tenants/no-such-tenant?confirm=no-such-tenant`],
      ] as const) {
        const res = await http()[method](path).set('authorization', admin).expect(404);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    });
  });

  it('lists the tenant’s alarms as CloudWatch had them at the last background read', async () => {
    const auth = await api.auth(['sre']);
    const res = await http()
      .post('/v1/tenants')
      .set('authorization', await api.auth(['ops']))
      .send({ slug: slugOf('alarm'), name: 'Alarm', tier: 'pro' })
      .expect(202);
    const none = await http()
      .get(`/v1/tenants/${res.body.slug}/alarms`)
      .set('authorization', auth)
      .expect(200);
    expect(none.body).toEqual({ items: [], readAt: expect.any(String), of: 'tenant', host: null });

    await api.app.get(TenantAlarms).put({
      name: `silo-${res.body.slug}-CPUUtilization`,
      metric: 'CPUUtilization',
      comparison: 'GreaterThanThreshold',
      threshold: 80,
      instanceIdentifier: `silo-${res.body.slug}`,
      description: 'cpu',
      actions: [],
      tags: { 'managed-by': 'silo' },
    });
    // Seen from the next background read (every 15 s), which reads CloudWatch for every caller.
    await api.app.get(FleetAlarms).refresh();
    const one = await http().get(`/v1/tenants/${res.body.id}/alarms`).set('authorization', auth).expect(200);
    expect(one.body.items).toEqual([
      {
        name: `silo-${res.body.slug}-CPUUtilization`,
        metric: 'CPUUtilization',
        comparison: 'GreaterThanThreshold',
        threshold: 80,
        state: expect.any(String),
        stateReason: expect.any(String),
        updatedAt: expect.anything(),
      },
    ]);
  });
});

describe('mutation rate limit', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi(testConfig({ RATE_LIMIT_MUTATIONS: '3', RATE_LIMIT_WINDOW_SECONDS: '60' }));
  });
  afterAll(() => api?.close());

  it('answers 429 problem+json with Retry-After past the caller’s budget; others and reads are unaffected', async () => {
    const http = () => request(api.app.getHttpServer());
    const alice = await api.auth(['ops'], `ops-${uniqueToken()}`);
    for (let i = 0; i < 3; i++) {
      await http()
        .post('/v1/tenants')
        .set('authorization', alice)
        .send({ slug: slugOf('rl'), name: 'R', tier: 'pro' })
        .expect(202);
    }
    const limited = await http()
      .post('/v1/tenants')
      .set('authorization', alice)
      .send({ slug: slugOf('rl'), name: 'R', tier: 'pro' })
      .expect(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    await http().get('/v1/tenants?limit=1').set('authorization', alice).expect(200);
    await http()
      .post('/v1/tenants')
      .set('authorization', await api.auth(['ops'], `ops-${uniqueToken()}`))
      .send({ slug: slugOf('rl'), name: 'R', tier: 'pro' })
      .expect(202);
  });
});
