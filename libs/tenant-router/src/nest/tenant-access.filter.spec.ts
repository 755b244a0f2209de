import type { ArgumentsHost } from '@nestjs/common';
import { TenantAccessError, TenantAccessErrorCode } from '../tenant-router.errors';
import { TenantAccessExceptionFilter } from './tenant-access.filter';

function response() {
  const sent: { status?: number; headers: Record<string, string>; type?: string; body?: string } = {
    headers: {},
  };
  const res = {
    status: (s: number) => ((sent.status = s), res),
    set: (h: Record<string, string>) => (Object.assign(sent.headers, h), res),
    type: (t: string) => ((sent.type = t), res),
    send: (b: string) => ((sent.body = b), res),
  };
  const host = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost;
  return { sent, host };
}

describe('TenantAccessExceptionFilter', () => {
  it('answers problem+json with the mapped status and headers', () => {
    const { sent, host } = response();
    new TenantAccessExceptionFilter().catch(
      new TenantAccessError(TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE, 'db at 10.0.0.7 refused', {
        tenantId: 't',
        retryAfterMs: 2000,
      }),
      host,
    );
    expect(sent).toMatchObject({
      status: 503,
      type: 'application/problem+json',
      headers: { 'Retry-After': '2' },
    });
    expect(JSON.parse(sent.body!)).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(sent.body).not.toContain('10.0.0.7');
  });

  it('answers a suspended tenant 403 naming SUSPENDED', () => {
    const { sent, host } = response();
    new TenantAccessExceptionFilter().catch(
      new TenantAccessError(TenantAccessErrorCode.TENANT_NOT_ACTIVE, 'no', {
        tenantId: 't',
        status: 'SUSPENDED',
      }),
      host,
    );
    expect(sent.status).toBe(403);
    expect(JSON.parse(sent.body!).detail).toContain('SUSPENDED');
  });
});
