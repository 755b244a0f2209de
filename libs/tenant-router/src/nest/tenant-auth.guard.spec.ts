import { HttpException, type ExecutionContext } from '@nestjs/common';
import { JwtVerifier, mintDevToken } from '@silo/auth';
import { TENANT_IDENTITY, TenantAuthGuard, type TenantIdentifiedRequest } from './tenant-auth.guard';

const SECRET = 'a-tenant-guard-secret-of-at-least-32-chars';
const TENANT_A = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
const TENANT_B = '9e8d7c6b-5a49-4837-a625-1f0e0d0c0b0a';
const guard = new TenantAuthGuard(
  new JwtVerifier({
    hs256Secret: SECRET,
    audience: 'silo-tenant',
    otherPlaneAudience: 'silo-api',
    plane: 'data-plane',
  }),
);

function http(headers: Record<string, string>) {
  const req = { headers } as unknown as TenantIdentifiedRequest;
  const resHeaders: Record<string, string> = {};
  const res = { setHeader: (name: string, value: string) => (resHeaders[name.toLowerCase()] = value) };
  const context = {
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  return { req, resHeaders, context };
}

async function refusal(headers: Record<string, string>) {
  const { context, resHeaders, req } = http(headers);
  const error = await guard.canActivate(context).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpException);
  const exception = error as HttpException;
  return {
    status: exception.getStatus(),
    body: exception.getResponse() as Record<string, unknown>,
    resHeaders,
    req,
  };
}

const token = (claims: { tenantId?: string; roles?: ['admin']; secret?: string; audience?: string }) =>
  mintDevToken({
    secret: claims.secret ?? SECRET,
    sub: 'tenant-app:test',
    tenantId: claims.tenantId,
    roles: claims.roles,
    audience: claims.audience ?? 'silo-tenant',
  });

describe('TenantAuthGuard', () => {
  it('refuses a request without a token with 401 and WWW-Authenticate', async () => {
    const { status, body, resHeaders, req } = await refusal({});
    expect(status).toBe(401);
    expect(body).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401 });
    expect(resHeaders['www-authenticate']).toBe('Bearer error="invalid_request"');
    expect(req[TENANT_IDENTITY]).toBeUndefined();
  });

  it('refuses a token that does not verify', async () => {
    const forged = await token({ tenantId: TENANT_A, secret: 'another-secret-of-at-least-32-characters' });
    const { status, resHeaders } = await refusal({ authorization: `Bearer ${forged}` });
    expect(status).toBe(401);
    expect(resHeaders['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('refuses a valid token without tenant_id, naming the claim', async () => {
    const { status, body, resHeaders } = await refusal({ authorization: `Bearer ${await token({})}` });
    expect(status).toBe(401);
    expect(body.detail).toContain('tenant_id');
    expect(resHeaders['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it.each([
    ['an operator token', { roles: ['admin'], audience: 'silo-api' }],
    [
      'an operator token with tenant_id added',
      { roles: ['admin'], tenantId: TENANT_A, audience: 'silo-api' },
    ],
    ['a tenant token carrying roles', { roles: ['admin'], tenantId: TENANT_A }],
  ] as const)('refuses %s with 403 insufficient_scope', async (_what, claims) => {
    const { status, resHeaders, req } = await refusal({
      authorization: `Bearer ${await token({ ...claims, roles: [...claims.roles] as ['admin'] })}`,
    });
    expect(status).toBe(403);
    expect(resHeaders['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    expect(req[TENANT_IDENTITY]).toBeUndefined();
  });

  it('takes the tenant from the verified tenant_id claim and nowhere else', async () => {
    const { context, req } = http({
      authorization: `Bearer ${await token({ tenantId: TENANT_A })}`,
      'x-tenant-id': TENANT_B,
      'x-silo-tenant': TENANT_B,
    });
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(req[TENANT_IDENTITY]).toEqual({
      tenantId: TENANT_A,
      principal: { sub: 'tenant-app:test', roles: [], tenantId: TENANT_A },
    });
  });

  it('ignores a tenant header when there is no token', async () => {
    const { status, req } = await refusal({ 'x-tenant-id': TENANT_B });
    expect(status).toBe(401);
    expect(req[TENANT_IDENTITY]).toBeUndefined();
  });
});
