import { Test } from '@nestjs/testing';
import { JwtVerifier, jwtVerifierFromSettings } from '@silo/auth';
import { loadConfig } from '@silo/config';
import { tenantRouterOptionsFromConfig } from './tenant-router-options';
import { TENANT_TOKEN_VERIFIER } from './tenant-auth.guard';
import { TenantRouterModule } from './tenant-router.module';

const SECRET = 'a-module-test-secret-of-at-least-32-chars';
const config = loadConfig({
  envFile: false,
  env: {
    DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
    REDIS_URL: 'redis://127.0.0.1:6379',
    AWS_REGION: 'us-east-1',
    ALARM_ACTIONS: 'none',
    AUTH_JWT_SECRET: SECRET,
    AUTH_AUDIENCE: 'silo-api',
    TENANT_AUTH_AUDIENCE: 'silo-tenant',
  },
});

function boot(verifier: JwtVerifier) {
  return Test.createTestingModule({
    imports: [
      TenantRouterModule.forRootAsync({
        useFactory: () => ({
          directory: { find: () => Promise.resolve(null) },
          credentials: { fetch: () => Promise.reject(new Error('never fetched')) },
          options: tenantRouterOptionsFromConfig(config, []),
          verifier,
        }),
      }),
    ],
  }).compile();
}

describe('TenantRouterModule', () => {
  it("starts with the data plane's verifier", async () => {
    const verifier = jwtVerifierFromSettings(config.auth, 'a tenant app', 'data-plane');
    const moduleRef = await boot(verifier);
    expect(moduleRef.get(TENANT_TOKEN_VERIFIER)).toBe(verifier);
    await moduleRef.close();
  });

  it.each([
    ["the control plane's verifier", jwtVerifierFromSettings(config.auth, 'the API', 'control-plane')],
    ['a verifier for no plane', new JwtVerifier({ hs256Secret: SECRET, audience: 'silo-tenant' })],
    [
      'a data-plane verifier without an audience',
      new JwtVerifier({ hs256Secret: SECRET, plane: 'data-plane' }),
    ],
  ])('refuses to start with %s', async (_what, verifier) => {
    await expect(boot(verifier)).rejects.toThrow('the tenant router needs a data-plane verifier');
  });
});
