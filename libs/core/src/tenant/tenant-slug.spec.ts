import { assertTenantSlug, slugProblem } from './tenant-slug';
import { TenantErrorCode } from './tenant.errors';

describe('tenant slug', () => {
  it.each([
    'acme',
    'a1b',
    'acme-corp',
    'x'.repeat(32),
    'a-b-c-d',
    'hosts',
    'hostel-group',
    'control',
    'control-plane-co',
  ])('accepts %j', (slug) => {
    expect(slugProblem(slug)).toBeNull();
  });

  it.each([
    ['ab', 'too short'],
    ['x'.repeat(33), 'too long'],
    ['Acme', 'upper case'],
    ['1acme', 'leading digit'],
    ['acme-', 'trailing hyphen'],
    ['ac--me', 'double hyphen'],
    ['acme_corp', 'underscore'],
    ['acme corp', 'space'],
    ["acme'; drop table tenants;--", 'SQL'],
    ['../etc', 'path'],
    ['açme', 'non-ASCII'],
    ['', 'empty'],
    ['host', 'reserved for shared hosts'],
    ['host-pool-starter-001', 'reserved for shared hosts'],
    ['restore-acme-3', 'reserved for restore copies'],
    ['control-plane', "reserved for the control plane's own resources"],
  ])('refuses %j (%s)', (slug, why) => {
    expect(slugProblem(slug)).toEqual(expect.any(String));
    if (why.startsWith('reserved')) expect(slugProblem(slug)).toContain(why);
    expect(() => assertTenantSlug(slug)).toThrow(
      expect.objectContaining({ code: TenantErrorCode.INVALID_SLUG }),
    );
  });
});
