import { canTransition, transition } from './tenant-lifecycle';
import { TenantError, TenantErrorCode } from './tenant.errors';
import { TENANT_STATUSES, type TenantStatus } from './tenant-status';

const LEGAL: [TenantStatus, TenantStatus][] = [
  ['PENDING', 'PROVISIONING'],
  ['PROVISIONING', 'ACTIVE'],
  ['PROVISIONING', 'FAILED'],
  ['FAILED', 'PROVISIONING'],
  ['FAILED', 'DEPROVISIONING'],
  ['ACTIVE', 'SUSPENDED'],
  ['SUSPENDED', 'ACTIVE'],
  ['ACTIVE', 'DEPROVISIONING'],
  ['SUSPENDED', 'DEPROVISIONING'],
  ['DEPROVISIONING', 'DELETED'],
  ['DELETED', 'ACTIVE'],
];

describe('tenant lifecycle', () => {
  it.each(LEGAL)('allows %s → %s', (from, to) => {
    expect(transition(from, to)).toBe(to);
  });

  it('refuses every other pair with ILLEGAL_TRANSITION', () => {
    const legal = new Set(LEGAL.map(([a, b]) => `${a}>${b}`));
    let refused = 0;
    for (const from of TENANT_STATUSES) {
      for (const to of TENANT_STATUSES) {
        if (legal.has(`${from}>${to}`)) continue;
        expect(canTransition(from, to)).toBe(false);
        expect(() => transition(from, to)).toThrow(
          expect.objectContaining({
            code: TenantErrorCode.ILLEGAL_TRANSITION,
            message: `a tenant cannot go from ${from} to ${to}`,
          }),
        );
        refused++;
      }
    }
    expect(refused).toBe(TENANT_STATUSES.length ** 2 - LEGAL.length);
  });

  it('leaves DELETED only for ACTIVE (an undelete), never for provisioning or deprovisioning', () => {
    expect(TENANT_STATUSES.filter((to) => canTransition('DELETED', to))).toEqual(['ACTIVE']);
    expect(() => transition('DELETED', 'PROVISIONING')).toThrow(TenantError);
    expect(() => transition('DELETED', 'DEPROVISIONING')).toThrow(TenantError);
  });
});
