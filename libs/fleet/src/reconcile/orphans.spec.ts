import { dataPlaneSecretName, dataPlaneSecretTags } from '@silo/core';
import { findOrphans, orphanedBy, type KnownHost, type KnownOwners, type KnownTenant } from './orphans';

const live = '11111111-1111-4111-8111-111111111111';
const deleted = '22222222-2222-4222-8222-222222222222';
const unknown = '33333333-3333-4333-8333-333333333333';
const liveHost = '44444444-4444-4444-8444-444444444444';
const deletedHost = '55555555-5555-4555-8555-555555555555';
const tenants: KnownOwners = {
  tenants: new Map<string, KnownTenant>([
    [live, { status: 'ACTIVE', slug: 'live-co' }],
    [deleted, { status: 'DELETED', slug: 'gone-co' }],
  ]),
  hosts: new Map<string, KnownHost>([
    [liveHost, { status: 'available', name: 'pool-starter-001' }],
    [deletedHost, { status: 'deleted', name: 'pool-starter-002' }],
  ]),
};
const hostTagged = (hostId: string, environment = 'prod') => ({
  'managed-by': 'silo',
  'silo:environment': environment,
  'silo:host-id': hostId,
});
const tagged = (tenantId: string, environment = 'prod') => ({
  'managed-by': 'silo',
  'silo:environment': environment,
  'silo:tenant-id': tenantId,
});
const now = new Date('2026-12-02T12:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);

describe('orphanedBy', () => {
  it('is an orphan only when tagged managed-by=silo for this environment with no live tenant', () => {
    expect(orphanedBy(tagged(unknown), tenants, 'prod')).toBe(true);
    expect(orphanedBy(tagged(deleted), tenants, 'prod')).toBe(true);
    expect(orphanedBy(tagged(live), tenants, 'prod')).toBe(false);
    expect(orphanedBy(tagged(unknown, 'staging'), tenants, 'prod')).toBe(false);
    expect(orphanedBy({ ...tagged(unknown), 'managed-by': 'terraform' }, tenants, 'prod')).toBe(false);
    expect(orphanedBy({ 'managed-by': 'silo', 'silo:environment': 'prod' }, tenants, 'prod')).toBe(true);
  });

  it('keeps what an undelete restores for a DELETED tenant its own while the undelete (an open change) runs', () => {
    const undeleting: KnownOwners = {
      tenants: new Map([[deleted, { status: 'DELETED', slug: 'gone-co', changing: true }]]),
      hosts: tenants.hosts,
    };
    expect(orphanedBy(tagged(deleted), undeleting, 'prod')).toBe(false);
    const inventory = {
      instances: [{ identifier: 'silo-gone-co', arn: 'arn:db', status: 'available', tags: tagged(deleted) }],
      secrets: [{ name: 'silo/gone-co/app', arn: 'arn:secret', tags: tagged(deleted) }],
      snapshots: [],
    } as unknown as Parameters<typeof findOrphans>[0];
    const options = { environment: 'prod', finalSnapshotRetentionDays: 7, now };
    expect(findOrphans(inventory, undeleting, options)).toEqual([]);
    // Once it has ended (FAILED: the tenant stays DELETED), they are orphans again.
    expect(findOrphans(inventory, tenants, options).map((o) => o.type)).toEqual(['instance', 'secret']);
  });

  it("judges a shared host's resources by the host, not by a tenant they do not name", () => {
    expect(orphanedBy(hostTagged(liveHost), tenants, 'prod')).toBe(false);
    expect(orphanedBy(hostTagged(deletedHost), tenants, 'prod')).toBe(true);
    expect(orphanedBy(hostTagged(unknown), tenants, 'prod')).toBe(true);
    expect(orphanedBy(hostTagged(unknown, 'staging'), tenants, 'prod')).toBe(false);
  });

  it("keeps a host's resources its own while it is being created, is deleting or failed (compensation undoes them)", () => {
    for (const status of ['creating', 'deleting', 'failed'] as const) {
      const known: KnownOwners = {
        tenants: tenants.tenants,
        hosts: new Map([[liveHost, { status, name: 'pool-starter-001' }]]),
      };
      expect({ status, orphan: orphanedBy(hostTagged(liveHost), known, 'prod') }).toEqual({
        status,
        orphan: false,
      });
    }
  });

  it('takes a host tag over a tenant tag: a resource naming a live tenant but a deleted host is the host’s, and orphaned', () => {
    expect(orphanedBy({ ...tagged(live), 'silo:host-id': deletedHost }, tenants, 'prod')).toBe(true);
    expect(orphanedBy({ ...tagged(deleted), 'silo:host-id': liveHost }, tenants, 'prod')).toBe(false);
  });
});

describe('findOrphans', () => {
  it('skips instances being deleted, secrets scheduled for deletion and final snapshots of deleted tenants inside the retention', () => {
    const orphans = findOrphans(
      {
        instances: [
          { identifier: 'silo-x', arn: 'arn:db:silo-x', tags: tagged(unknown) },
          { identifier: 'silo-live-co', arn: 'arn:db:silo-live-co', tags: tagged(live) },
          { identifier: 'silo-going', arn: 'arn:db:silo-going', status: 'deleting', tags: tagged(unknown) },
        ] as never,
        secrets: [
          { name: 'silo/gone-co/master', arn: 'arn:s:1', deletedDate: daysAgo(1), tags: tagged(deleted) },
          { name: 'silo/gone-co/app', arn: 'arn:s:2', deletedDate: null, tags: tagged(deleted) },
        ],
        snapshots: [
          {
            identifier: 'silo-gone-co-final-1',
            arn: 'arn:snap:1',
            instanceIdentifier: 'silo-gone-co',
            createdAt: daysAgo(3),
            tags: tagged(deleted),
          },
          {
            identifier: 'silo-gone-co-final-0',
            arn: 'arn:snap:0',
            instanceIdentifier: 'silo-gone-co',
            createdAt: daysAgo(40),
            tags: tagged(deleted),
          },
          {
            identifier: 'silo-x-final-0',
            arn: 'arn:snap:x',
            instanceIdentifier: 'silo-x',
            createdAt: daysAgo(1),
            tags: tagged(unknown),
          },
          {
            identifier: 'silo-live-co-manual',
            arn: 'arn:snap:l',
            instanceIdentifier: 'silo-live-co',
            createdAt: daysAgo(90),
            tags: tagged(live),
          },
        ],
      },
      tenants,
      { environment: 'prod', finalSnapshotRetentionDays: 35, now },
    );
    expect(orphans.map((o) => [o.type, o.name, o.tenantId])).toEqual([
      ['instance', 'silo-x', unknown],
      ['secret', 'silo/gone-co/app', deleted],
      ['snapshot', 'silo-gone-co-final-0', deleted],
      ['snapshot', 'silo-x-final-0', unknown],
    ]);
  });

  it("marks a deleted tenant's final snapshot past its retention as expired, and no other snapshot", () => {
    const snapshot = (identifier: string, createdAt: Date, owner: string) => ({
      identifier,
      arn: `arn:snap:${identifier}`,
      instanceIdentifier: identifier.replace(/-final-.*|-manual-.*/, ''),
      createdAt,
      tags: tagged(owner),
    });
    const orphans = findOrphans(
      {
        instances: [],
        secrets: [],
        snapshots: [
          snapshot('silo-gone-co-final-20261001-101500', daysAgo(40), deleted),
          snapshot('silo-gone-co-final-20261201-101500', daysAgo(3), deleted),
          // Not a final snapshot: a manual one of the deleted tenant, kept for an operator.
          snapshot('silo-gone-co-manual-20261001-101500', daysAgo(40), deleted),
          // A final snapshot of a tenant Silo does not know: whose it is is an operator's question.
          snapshot('silo-x-final-20261001-101500', daysAgo(40), unknown),
        ],
      },
      tenants,
      { environment: 'prod', finalSnapshotRetentionDays: 35, now },
    );
    expect(orphans.map((o) => [o.name, o.expiredFinalSnapshot ?? false])).toEqual([
      ['silo-gone-co-final-20261001-101500', true],
      ['silo-gone-co-manual-20261001-101500', false],
      ['silo-x-final-20261001-101500', false],
    ]);
  });

  it("never reports the control plane's own data-plane secret, which sits under the prefix but names no tenant or host", () => {
    const orphans = findOrphans(
      {
        instances: [],
        secrets: [
          {
            name: dataPlaneSecretName('silo'),
            arn: 'arn:s:dp',
            deletedDate: null,
            tags: dataPlaneSecretTags('prod'),
          },
        ],
        snapshots: [],
      },
      tenants,
      { environment: 'prod', finalSnapshotRetentionDays: 35, now },
    );
    expect(orphans).toEqual([]);
    expect(dataPlaneSecretTags('prod')).not.toHaveProperty('managed-by');
  });

  it("keeps a live host's resources, a deleted host's secret scheduled for deletion and its final snapshot inside the retention", () => {
    const orphans = findOrphans(
      {
        instances: [
          { identifier: 'silo-host-pool-starter-001', arn: 'arn:db:h1', tags: hostTagged(liveHost) },
          { identifier: 'silo-host-pool-starter-009', arn: 'arn:db:h9', tags: hostTagged(unknown) },
        ] as never,
        secrets: [
          {
            name: 'silo/hosts/pool-starter-001/pool-app',
            arn: 'arn:s:h1',
            deletedDate: null,
            tags: hostTagged(liveHost),
          },
          {
            name: 'silo/hosts/pool-starter-002/master',
            arn: 'arn:s:h2',
            deletedDate: null,
            tags: hostTagged(deletedHost),
          },
          {
            name: 'silo/hosts/pool-starter-002/pool-app',
            arn: 'arn:s:h2p',
            deletedDate: daysAgo(1),
            tags: hostTagged(deletedHost),
          },
        ],
        snapshots: [
          {
            identifier: 'silo-host-pool-starter-002-final-1',
            arn: 'arn:snap:h2',
            instanceIdentifier: 'silo-host-pool-starter-002',
            createdAt: daysAgo(3),
            tags: hostTagged(deletedHost),
          },
          {
            identifier: 'silo-host-pool-starter-002-final-0',
            arn: 'arn:snap:h2old',
            instanceIdentifier: 'silo-host-pool-starter-002',
            createdAt: daysAgo(40),
            tags: hostTagged(deletedHost),
          },
        ],
      },
      tenants,
      { environment: 'prod', finalSnapshotRetentionDays: 35, now },
    );
    expect(orphans.map((o) => [o.type, o.name, o.tenantId])).toEqual([
      ['instance', 'silo-host-pool-starter-009', ''],
      ['secret', 'silo/hosts/pool-starter-002/master', ''],
      ['snapshot', 'silo-host-pool-starter-002-final-0', ''],
    ]);
  });
});
