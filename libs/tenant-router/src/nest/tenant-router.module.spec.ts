import { Test } from '@nestjs/testing';
import { JwtVerifier } from '@silo/auth';
import { TenantDataPlane } from '../data-plane/tenant-data-plane';
import { TenantRouter } from '../tenant-router';
import { TENANT_TOKEN_VERIFIER } from './tenant-auth.guard';
import { TenantRouterModule, type TenantRouterModuleOptions } from './tenant-router.module';

const SECRET = 'a-module-test-secret-of-at-least-32-chars';
const STUBS = {
  entities: [],
  directory: { find: () => Promise.resolve(null) },
  credentials: { fetch: () => Promise.reject(new Error('never fetched')) },
};

const boot = (options: TenantRouterModuleOptions) =>
  Test.createTestingModule({ imports: [TenantRouterModule.forRoot(options)] }).compile();

describe('TenantRouterModule', () => {
  it("starts from plain options, with the data plane's own verifier and one router", async () => {
    const moduleRef = await boot({ ...STUBS, auth: { audience: 'silo-tenant', hs256Secret: SECRET } });
    const verifier = moduleRef.get<JwtVerifier>(TENANT_TOKEN_VERIFIER);
    expect(verifier.plane).toBe('data-plane');
    expect(verifier.audience).toBe('silo-tenant');
    expect(moduleRef.get(TenantRouter)).toBe(moduleRef.get(TenantDataPlane).router);
    await moduleRef.close();
  });

  it.each([
    ['no audience', { hs256Secret: SECRET }, 'auth.audience is required'],
    ['no key', { audience: 'silo-tenant' }, 'auth needs a jwksUrl'],
    [
      'an HS256 secret in production',
      { audience: 'silo-tenant', hs256Secret: SECRET, production: true },
      'auth.hs256Secret is for development only',
    ],
  ])('refuses to start with %s', async (_what, auth, message) => {
    await expect(boot({ ...STUBS, auth: auth as TenantRouterModuleOptions['auth'] })).rejects.toThrow(
      message,
    );
  });

  it('refuses limits the router cannot work with, naming them', async () => {
    await expect(
      boot({
        ...STUBS,
        auth: { audience: 'silo-tenant', hs256Secret: SECRET },
        limits: { connectionBudget: 3 },
      }),
    ).rejects.toThrow('poolSizeByTier.pro (5) exceeds connectionBudget (3)');
  });
});
