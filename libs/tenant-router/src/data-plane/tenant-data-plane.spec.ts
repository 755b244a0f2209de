import { mintDevToken } from '@silo/auth';
import { AuthError } from '@silo/auth/principal';
import { TenantAccessError, TenantAccessErrorCode } from '../tenant-router.errors';
import { TenantDataPlane } from './tenant-data-plane';

const SECRET = 'a-data-plane-test-secret-of-32-chars-or-more';
const TENANT = '0b7c9d3e-1f2a-4b5c-8d6e-7f8091a2b3c4';

function dataPlane(): TenantDataPlane {
  return new TenantDataPlane({
    entities: [],
    auth: { audience: 'silo-tenant', controlPlaneAudience: 'silo-api', hs256Secret: SECRET },
    directory: { find: () => Promise.resolve(null) },
    credentials: { fetch: () => Promise.reject(new Error('never fetched')) },
  });
}

describe('TenantDataPlane', () => {
  it("takes the tenant from a data-plane token's tenant_id", async () => {
    const plane = dataPlane();
    const token = await mintDevToken({
      secret: SECRET,
      sub: 'app',
      tenantId: TENANT,
      audience: 'silo-tenant',
    });
    await expect(plane.authenticate(`Bearer ${token}`)).resolves.toMatchObject({ tenantId: TENANT });
    await plane.close();
  });

  it.each([
    ['no header', undefined, 401, 'invalid_request'],
    ['a token without tenant_id', 'no-tenant', 401, 'invalid_token'],
    ["the control plane's token", 'operator', 403, 'insufficient_scope'],
  ])('refuses %s, answering %s with its Bearer challenge', async (_what, kind, status, challenge) => {
    const plane = dataPlane();
    const header =
      kind === undefined
        ? undefined
        : `Bearer ${await mintDevToken({
            secret: SECRET,
            sub: 'someone',
            audience: kind === 'operator' ? 'silo-api' : 'silo-tenant',
            roles: kind === 'operator' ? ['ops'] : undefined,
          })}`;
    const error = await plane.authenticate(header).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(plane.answer(error)).toMatchObject({
      status,
      headers: { 'WWW-Authenticate': `Bearer error="${challenge}"` },
      body: { status },
    });
    await plane.close();
  });

  it("answers the router's refusals as the Nest filter does, and nothing else", async () => {
    const plane = dataPlane();
    await expect(plane.transaction(TENANT, () => Promise.resolve(1))).rejects.toMatchObject({
      code: TenantAccessErrorCode.TENANT_NOT_FOUND,
    });
    expect(
      plane.answer(
        new TenantAccessError(TenantAccessErrorCode.TENANT_BUSY, 'busy', {
          tenantId: TENANT,
          retryAfterMs: 1500,
        }),
      ),
    ).toMatchObject({ status: 429, headers: { 'Retry-After': '2' } });
    expect(plane.answer(new Error('boom'))).toBeNull();
    await plane.close();
  });
});
