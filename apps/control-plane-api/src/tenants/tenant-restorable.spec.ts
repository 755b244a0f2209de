import type { TenantEntity } from '@silo/control-plane-db';
import {
  estimatedRestorableWindow,
  type HostQueries,
  type ProvisioningSettings,
  type TenantQueries,
} from '@silo/fleet';
import type { FleetAlarms } from '../alarms/fleet-alarms.service';
import { tenantView } from './tenant.view';
import { TenantViews } from './tenant-views';

const NOW = new Date('2026-12-07T12:00:00.000Z');
const DAY = 86_400_000;

function tenant(over: Partial<TenantEntity> = {}): TenantEntity {
  return {
    id: '6f1c2a4e-0000-4000-8000-000000000001',
    slug: 'acme',
    name: 'Acme',
    tier: 'enterprise',
    status: 'ACTIVE',
    placement: 'instance',
    region: 'eu-central-1',
    hostId: null,
    dbInstanceIdentifier: 'silo-acme',
    schemaVersion: '0003',
    createdAt: new Date(NOW.getTime() - 100 * DAY),
    updatedAt: NOW,
    ...over,
  } as TenantEntity;
}

describe('the restorable window on the tenant view (an estimate, no AWS call)', () => {
  const settings = {
    tiers: {
      enterprise: { backupRetentionDays: 35 },
      pro: { backupRetentionDays: 7 },
      starter: { backupRetentionDays: 0 },
    },
  } as unknown as ProvisioningSettings;
  const views = new TenantViews({} as TenantQueries, {} as HostQueries, {} as FleetAlarms, settings);

  it('reaches back the tier’s retention days, to five minutes ago', () => {
    expect(views.restorableOf(tenant(), NOW)).toEqual({
      earliest: new Date(NOW.getTime() - 35 * DAY),
      latest: new Date(NOW.getTime() - 5 * 60_000),
    });
  });

  it('begins at the tenant’s creation when that is later', () => {
    const createdAt = new Date(NOW.getTime() - 2 * DAY);
    expect(views.restorableOf(tenant({ createdAt, status: 'SUSPENDED' }), NOW)?.earliest).toEqual(createdAt);
  });

  it('is null for a tier without backups, a shared tenant not on a host, one not live, or one too new', () => {
    expect(views.restorableOf(tenant({ tier: 'starter' }), NOW)).toBeNull();
    expect(
      views.restorableOf(tenant({ placement: 'pool', dbInstanceIdentifier: null, hostId: null }), NOW),
    ).toBeNull();
    // On a host: its host's backups, kept the tier's retention.
    expect(
      views.restorableOf(
        tenant({ tier: 'pro', placement: 'schema', dbInstanceIdentifier: null, hostId: 'h-1' }),
        NOW,
      ),
    ).toEqual({ earliest: new Date(NOW.getTime() - 7 * DAY), latest: new Date(NOW.getTime() - 5 * 60_000) });
    for (const status of ['PENDING', 'PROVISIONING', 'FAILED', 'DEPROVISIONING', 'DELETED'] as const)
      expect([status, views.restorableOf(tenant({ status }), NOW)]).toEqual([status, null]);
    expect(views.restorableOf(tenant({ createdAt: new Date(NOW.getTime() - 60_000) }), NOW)).toBeNull();
  });

  it('is shown as ISO times, or null', () => {
    const window = estimatedRestorableWindow(tenant({ tier: 'pro' }), 7, NOW);
    expect(tenantView(tenant(), [], [], null, null, null, window).restorable).toEqual({
      earliest: '2026-11-30T12:00:00.000Z',
      latest: '2026-12-07T11:55:00.000Z',
    });
    expect(tenantView(tenant(), [], [], null, null, null, null).restorable).toBeNull();
  });
});
