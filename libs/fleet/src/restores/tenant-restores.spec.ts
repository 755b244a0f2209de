import type { RdsInstances } from '@silo/aws';
import type { TenantEntity } from '@silo/control-plane-db';
import { TenantError } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { TenantDatabaseHost } from '../backends/tenant-database-host';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import { DEFAULT_TIER_PROFILES } from '../tiers/default-tier-profiles';
import { TenantRestores } from './tenant-restores.service';

const tenant = {
  id: '3f2b1c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e',
  slug: 'acme',
  tier: 'enterprise',
  placement: 'instance',
  hostId: null,
  region: null,
  dbInstanceIdentifier: 'silo-acme',
  changeRun: 3,
} as unknown as TenantEntity;

function restoresWith(options: {
  retentionDays?: number;
  window?: { earliest: Date; latest: Date } | null;
  snapshot?: Record<string, unknown> | null;
}) {
  const settings = {
    prefix: 'silo',
    defaultRegion: 'eu-west-1',
    tiers: {
      ...DEFAULT_TIER_PROFILES,
      enterprise: { ...DEFAULT_TIER_PROFILES.enterprise, backupRetentionDays: options.retentionDays ?? 35 },
    },
  } as unknown as ProvisioningSettings;
  const dataSource = {
    getRepository: () => ({ findOneBy: () => Promise.resolve(tenant) }),
  } as unknown as DataSource;
  const window = jest.fn().mockResolvedValue(options.window ?? null);
  const rds = {
    inRegion: () => ({ restorableWindow: window, snapshot: () => Promise.resolve(options.snapshot ?? null) }),
  } as unknown as RdsInstances;
  const host = { kind: 'rds' } as TenantDatabaseHost;
  return { restores: new TenantRestores(dataSource, settings, rds, host), window };
}

async function rule(work: Promise<unknown>): Promise<{ rule?: string; detail?: Record<string, string> }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof TenantError) return { rule: error.detail.rule, detail: error.detail };
    throw error;
  }
  throw new Error('not refused');
}

const CTX = { actor: 'ops', correlationId: 'c' };

describe('asking for a restore', () => {
  it('refuses a tenant whose tier keeps no backups, without asking RDS', async () => {
    const { restores, window } = restoresWith({ retentionDays: 0 });
    expect(
      (await rule(restores.requestRestore(tenant.id, { source: { latest: true }, mode: 'copy' }, CTX))).rule,
    ).toBe('no-backups');
    expect(window).not.toHaveBeenCalled();
  });

  it('refuses an instance with no restorable backups yet', async () => {
    const { restores, window } = restoresWith({ window: null });
    expect(
      (await rule(restores.requestRestore(tenant.id, { source: { latest: true }, mode: 'copy' }, CTX))).rule,
    ).toBe('no-backups');
    expect(window).toHaveBeenCalledWith('silo-acme');
  });

  it('names the window a point in time falls outside of', async () => {
    const earliest = new Date('2026-12-01T00:00:00Z');
    const latest = new Date('2026-12-07T10:00:00Z');
    const { restores } = restoresWith({ window: { earliest, latest } });
    for (const at of ['2026-11-30T23:59:59Z', '2026-12-07T10:00:01Z'])
      expect(
        await rule(restores.requestRestore(tenant.id, { source: { pointInTime: at }, mode: 'copy' }, CTX)),
      ).toMatchObject({
        rule: 'outside-restore-window',
        detail: { earliest: earliest.toISOString(), latest: latest.toISOString() },
      });
  });

  it("refuses another instance's snapshot, and one not available yet", async () => {
    const snapshot = {
      identifier: 'silo-acme-manual-1',
      instanceIdentifier: 'silo-other',
      status: 'available',
      createdAt: new Date(),
      tags: { 'silo:tenant-id': tenant.id },
    };
    const source = { snapshot: snapshot.identifier };
    expect(
      (
        await rule(
          restoresWith({ snapshot }).restores.requestRestore(tenant.id, { source, mode: 'copy' }, CTX),
        )
      ).rule,
    ).toBe('snapshot-unknown');
    const creating = { ...snapshot, instanceIdentifier: 'silo-acme', status: 'creating', createdAt: null };
    expect(
      (
        await rule(
          restoresWith({ snapshot: creating }).restores.requestRestore(
            tenant.id,
            { source, mode: 'copy' },
            CTX,
          ),
        )
      ).rule,
    ).toBe('snapshot-not-ready');
  });

  it.each([
    [{ source: { snapshot: 'silo-acme-final-20261201-000000' }, mode: 'copy' }, 'snapshot-unknown'],
    [{ source: { latest: true }, mode: 'sideways' }, 'mode-unknown'],
    [{ source: { latest: true }, mode: 'copy', rollout: true }, 'rollout-needs-replace'],
  ] as const)('refuses %j with rule %s', async (request, expected) => {
    const { restores } = restoresWith({});
    expect((await rule(restores.requestRestore(tenant.id, request as never, CTX))).rule).toBe(expected);
  });
});
