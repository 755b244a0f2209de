import type { TenantEntity } from '@silo/control-plane-db';
import { TenantError, TenantErrorCode } from '@silo/core';
import type { DataSource } from 'typeorm';
import type { ProvisioningSettings } from '../saga/provisioning-settings';
import { DEFAULT_TIER_PROFILES } from '../tiers/default-tier-profiles';
import { MOVE_APP_SECRET_SUFFIX, TenantMoves } from './tenant-moves.service';

const settings = {
  tiers: DEFAULT_TIER_PROFILES,
  regions: ['eu-west-1', 'eu-central-1'],
  defaultRegion: 'eu-west-1',
  prefix: 'silo',
} as unknown as ProvisioningSettings;
const moves = new TenantMoves({} as DataSource, settings);

function tenant(overrides: Partial<TenantEntity>): TenantEntity {
  return {
    id: '3f2b1c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e',
    slug: 'acme',
    tier: 'starter',
    placement: 'pool',
    hostId: '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d',
    region: 'eu-west-1',
    schemaVersion: '0002',
    ...overrides,
  } as TenantEntity;
}

function refusal(run: () => unknown): { code: string; rule?: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof TenantError) return { code: error.code, rule: error.detail.rule };
    throw error;
  }
  throw new Error('not refused');
}

describe('planning a move', () => {
  it('promotes a pooled tenant to its own instance when its new tier places tenants there', () => {
    const plan = moves.plan(tenant({}), { tier: 'enterprise' });
    expect(plan).toMatchObject({
      from: { placement: 'pool', region: 'eu-west-1', tier: 'starter', hostId: tenant({}).hostId },
      to: { placement: 'instance', region: 'eu-west-1', tier: 'enterprise', hostId: null },
      targetInstance: 'silo-acme',
      // A pooled tenant has no app secret of its own: the target's login takes the tenant's name at once.
      targetAppSecret: 'silo/acme/app',
      targetMasterSecret: 'silo/acme/master',
      abortRequested: false,
    });
  });

  it("keeps a schema tenant's live app secret until the switch: the target's login waits in a staging secret", () => {
    const plan = moves.plan(tenant({ tier: 'pro', placement: 'schema' }), { tier: 'enterprise' });
    expect(plan.targetAppSecret).toBe(`silo/acme/app${MOVE_APP_SECRET_SUFFIX}`);
  });

  it("moves an instance tenant to another region under the same names (each region's own)", () => {
    const plan = moves.plan(tenant({ tier: 'enterprise', placement: 'instance', hostId: null }), {
      region: 'eu-central-1',
    });
    expect(plan).toMatchObject({
      to: { placement: 'instance', region: 'eu-central-1', tier: 'enterprise' },
      targetAppSecret: 'silo/acme/app',
    });
  });

  it('downgrades an instance tenant into a pool: no secrets of its own there', () => {
    const plan = moves.plan(tenant({ tier: 'enterprise', placement: 'instance', hostId: null }), {
      tier: 'starter',
    });
    expect(plan).toMatchObject({ to: { placement: 'pool' }, targetInstance: null, targetAppSecret: null });
  });

  it('moves a pooled tenant into a schema of its own, and an instance tenant down into one', () => {
    expect(moves.plan(tenant({}), { tier: 'pro' })).toMatchObject({
      to: { placement: 'schema', tier: 'pro', hostId: null },
      targetInstance: null,
      targetAppSecret: 'silo/acme/app',
      targetMasterSecret: null,
    });
    // The instance's login keeps the tenant's own name until the switch.
    expect(
      moves.plan(tenant({ tier: 'enterprise', placement: 'instance', hostId: null }), { tier: 'pro' }),
    ).toMatchObject({
      to: { placement: 'schema' },
      targetInstance: null,
      targetAppSecret: `silo/acme/app${MOVE_APP_SECRET_SUFFIX}`,
    });
  });

  it.each([
    [{}, { tier: 'starter' }, 'same-place'],
    [{}, { placement: 'instance' }, 'placement-of-tier'],
    [{ tier: 'pro', placement: 'schema' }, { tier: 'starter' }, 'move-not-supported'],
    [{ tier: 'pro', placement: 'schema' }, { tier: 'pro', placement: 'pool' }, 'placement-of-tier'],
    [{ tier: 'enterprise', placement: 'instance', hostId: null }, { tier: 'enterprise' }, 'same-place'],
    [{}, { tier: 'platinum' }, 'tier-unknown'],
    [{}, { placement: 'shard' }, 'placement-unknown'],
    [{ schemaVersion: null }, { tier: 'enterprise' }, 'schema-version-unknown'],
  ] as const)('refuses %j asked %j with rule %s', (record, request, rule) => {
    expect(refusal(() => moves.plan(tenant(record as Partial<TenantEntity>), request as never))).toEqual({
      code: TenantErrorCode.CHANGE_REFUSED,
      rule,
    });
  });

  it('refuses a region that is not configured, naming those that are', () => {
    try {
      moves.plan(tenant({}), { region: 'ap-south-1' });
      throw new Error('not refused');
    } catch (error) {
      expect(error).toMatchObject({
        code: TenantErrorCode.UNKNOWN_REGION,
        detail: { allowedRegions: 'eu-west-1,eu-central-1' },
      });
    }
  });
});
