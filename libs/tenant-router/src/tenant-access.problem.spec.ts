import { TenantAccessError, TenantAccessErrorCode } from './tenant-router.errors';
import { tenantAccessAnswer } from './tenant-access.problem';

const tenantId = '0b7c6a52-7f43-4d1c-9d0a-1a2b3c4d5e6f';
const refusal = (code: TenantAccessErrorCode, details: Partial<TenantAccessError['details']> = {}) =>
  tenantAccessAnswer(new TenantAccessError(code, 'router says no', { tenantId, ...details }));

describe('tenantAccessAnswer', () => {
  it.each(['SUSPENDED', 'PROVISIONING', 'DELETED'] as const)(
    'answers a %s tenant 403 naming its status',
    (status) => {
      const answer = refusal(TenantAccessErrorCode.TENANT_NOT_ACTIVE, { status });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({
        type: 'about:blank',
        title: 'Forbidden',
        status: 403,
        tenantStatus: status,
      });
      expect(answer.body.detail).toContain(status);
      expect(answer.headers).toEqual({});
    },
  );

  it('answers an unknown tenant 403, like a refused one', () => {
    const answer = refusal(TenantAccessErrorCode.TENANT_NOT_FOUND);
    expect(answer.status).toBe(403);
    expect(answer.body.detail).toMatch(/not known/);
  });

  it('answers a tenant over its lease cap 429 with Retry-After, in whole seconds', () => {
    expect(refusal(TenantAccessErrorCode.TENANT_BUSY, { retryAfterMs: 100 })).toMatchObject({
      status: 429,
      body: { status: 429, title: 'Too Many Requests' },
      headers: { 'Retry-After': '1' },
    });
  });

  it('answers a tenant over its request rate 429 with Retry-After, in whole seconds', () => {
    expect(refusal(TenantAccessErrorCode.TENANT_RATE_LIMITED, { retryAfterMs: 640 })).toMatchObject({
      status: 429,
      body: {
        status: 429,
        title: 'Too Many Requests',
        detail: expect.stringMatching(/as many requests this second as its tier allows/),
      },
      headers: { 'Retry-After': '1' },
    });
  });

  it('answers a moving tenant 503 with Retry-After 1', () => {
    expect(refusal(TenantAccessErrorCode.TENANT_MOVING, { retryAfterMs: 1000 })).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { status: 503, detail: expect.stringMatching(/moving/) },
    });
  });

  it('answers an unreachable database 503 with Retry-After from the router, in whole seconds', () => {
    expect(refusal(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE, { retryAfterMs: 1500 })).toMatchObject({
      status: 503,
      body: { status: 503, title: 'Service Unavailable' },
      headers: { 'Retry-After': '2' },
    });
    expect(refusal(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE, { retryAfterMs: 10 }).headers).toEqual({
      'Retry-After': '1',
    });
    expect(refusal(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE).headers).toEqual({
      'Retry-After': '5',
    });
  });

  it('never passes the router’s message through (it may name hosts)', () => {
    for (const code of Object.values(TenantAccessErrorCode)) {
      expect(JSON.stringify(refusal(code, { status: 'SUSPENDED' }).body)).not.toContain('router says no');
    }
  });
});
