import { tenantActions } from '../../apps/console/src/lifecycle';

describe('tenantActions', () => {
  const active = { status: 'ACTIVE', change: null } as const;

  it('offers a rotation to a live instance or schema tenant, never to a pooled one (its login is its host’s)', () => {
    expect(tenantActions({ ...active, placement: 'instance' }).rotate).toBe(true);
    expect(tenantActions({ ...active, placement: 'schema' }).rotate).toBe(true);
    expect(tenantActions({ ...active, placement: 'pool' }).rotate).toBe(false);
    expect(tenantActions({ ...active, placement: 'pool' }).changeTier).toBe(true);
  });

  it('offers nothing a running change holds', () => {
    const held = tenantActions({
      ...active,
      placement: 'schema',
      change: { status: 'RUNNING' } as never,
    });
    expect(held).toMatchObject({ rotate: false, changeTier: false, delete: false, suspend: true });
  });
});
