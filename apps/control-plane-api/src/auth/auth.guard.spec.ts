import { Controller, Get, type INestApplication, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mintDevToken, type Role } from '@silo/auth';
import { loadConfig, SiloConfigModule } from '@silo/config';
import { problemDetailsFilter } from '@silo/http';
import request from 'supertest';
import { AuthModule } from './auth.module';
import { Public, Roles } from './route-rules';

const SECRET = 'unit-test-secret-that-is-long-enough!!';
const config = loadConfig({
  envFile: false,
  env: {
    DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
    REDIS_URL: 'redis://127.0.0.1:6379',
    ALARM_ACTIONS: 'none',
    AWS_REGION: 'us-east-1',
    AUTH_JWT_SECRET: SECRET,
    AUTH_ISSUER: 'silo-test',
    AUTH_AUDIENCE: 'silo-api',
  },
});

@Controller('things')
class ThingsController {
  @Public()
  @Get('open')
  open() {
    return { ok: true };
  }

  @Roles('ops', 'sre', 'admin')
  @Get()
  list() {
    return { items: [] };
  }

  @Roles('admin')
  @Post('dangerous')
  dangerous() {
    return { done: true };
  }
}

@Controller('forgotten')
class ForgottenController {
  @Get()
  unguarded() {
    return { oops: true };
  }
}

async function boot(controllers: unknown[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SiloConfigModule.forRoot(config), AuthModule],
    controllers: controllers as never[],
    providers: [problemDetailsFilter()],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const token = (roles: Role[], overrides: { audience?: string; ttlSeconds?: number; secret?: string } = {}) =>
  mintDevToken({
    secret: SECRET,
    sub: 'someone',
    roles,
    issuer: 'silo-test',
    audience: 'silo-api',
    ...overrides,
  });

describe('API authorization', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot([ThingsController]);
  });
  afterAll(() => app.close());

  it('lets anyone call a @Public route', async () => {
    await request(app.getHttpServer()).get('/things/open').expect(200, { ok: true });
  });

  it.each([
    ['no token', () => Promise.resolve(undefined), 'invalid_request'],
    ['a bad signature', () => token(['admin'], { secret: 'x'.repeat(40) }), 'invalid_token'],
    ['an expired token', () => token(['admin'], { ttlSeconds: -120 }), 'invalid_token'],
    ['the wrong audience', () => token(['admin'], { audience: 'other' }), 'invalid_token'],
  ])('answers 401 problem+json with WWW-Authenticate for %s', async (_what, make, error) => {
    const t = await make();
    const res = await request(app.getHttpServer())
      .get('/things')
      .set(t ? { authorization: `Bearer ${t}` } : {})
      .expect(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBe(`Bearer error="${error}"`);
    expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
  });

  it('answers 403 when the token lacks every listed role, and 200 when it has one', async () => {
    const ops = await token(['ops']);
    const res = await request(app.getHttpServer())
      .post('/things/dangerous')
      .set('authorization', `Bearer ${ops}`)
      .expect(403);
    expect(res.body).toMatchObject({ status: 403, detail: 'This route needs one of the roles: admin.' });
    await request(app.getHttpServer()).get('/things').set('authorization', `Bearer ${ops}`).expect(200);
    const admin = await token(['admin']);
    await request(app.getHttpServer())
      .post('/things/dangerous')
      .set('authorization', `Bearer ${admin}`)
      .expect(201);
  });

  it('answers 403 to a token with no roles at all', async () => {
    const none = await token([]);
    await request(app.getHttpServer()).get('/things').set('authorization', `Bearer ${none}`).expect(403);
  });
});

describe('API route rules', () => {
  it('refuses to start with a route that has no access rule, naming it', async () => {
    await expect(boot([ThingsController, ForgottenController])).rejects.toThrow(
      'routes without an access rule (@Public or @Roles): ForgottenController.unguarded',
    );
  });
});
