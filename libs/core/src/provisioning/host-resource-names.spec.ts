import {
  hostName,
  hostResourceNames,
  hostTags,
  isPlacement,
  tenantResourceNames,
} from './tenant-resource-names';

describe('shared host names', () => {
  it('derives every name from the prefix and the host name', () => {
    const name = hostName('pool', 'starter', 7);
    expect(name).toBe('pool-starter-007');
    const names = hostResourceNames('silo', name);
    expect(names).toMatchObject({
      instanceIdentifier: 'silo-host-pool-starter-007',
      masterSecretName: 'silo/hosts/pool-starter-007/master',
      poolAppSecretName: 'silo/hosts/pool-starter-007/pool-app',
      masterUsername: 'silo_host_pool_starter_007_admin',
      poolAppRole: 'silo_host_pool_starter_007_pool_app',
    });
    expect(names.alarmName('cpu-high')).toBe('silo-host-pool-starter-007-cpu-high');
  });

  it('refuses a name that is not a host name', () => {
    for (const bad of ['acme', 'pool-starter-1', 'instance-pro-001', 'pool-Starter-001', "pool-x-001'"]) {
      expect(() => hostResourceNames('silo', bad)).toThrow(/is not a host name/);
    }
  });

  it('never names a tenant resource the way it names a host resource', () => {
    // Slugs beginning with host- are refused, so a tenant's instance cannot take a host's identifier.
    expect(tenantResourceNames('silo', 'hostel').instanceIdentifier).not.toMatch(/^silo-host-/);
    expect(tenantResourceNames('silo', 'acme-corp').tenantSchema).toBe('silo_acme_corp');
  });

  it('tags a host with its placement and tier', () => {
    expect(hostTags({ id: 'h1', name: 'schema-pro-001', placement: 'schema', tier: 'pro' }, 'dev')).toEqual({
      'silo:host-id': 'h1',
      'silo:host-name': 'schema-pro-001',
      'silo:placement': 'schema',
      'silo:tier': 'pro',
      'silo:environment': 'dev',
      'managed-by': 'silo',
    });
    expect(isPlacement('pool')).toBe(true);
    expect(isPlacement('shared')).toBe(false);
  });
});
