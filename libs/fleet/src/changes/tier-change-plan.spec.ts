import {
  DEFAULT_TIER_PROFILES,
  type InstanceTierProfile,
  type SharedTierProfile,
  type TierProfile,
} from '../tiers';
import {
  modificationOf,
  PlacementChangeRefused,
  placementOfTierChange,
  planSharedTierChange,
  planTierChange,
  reaches,
  TierChangeRefused,
  type InstanceShape,
  type TierChangeInput,
} from './tier-change-plan';

const NOW = new Date('2026-12-03T12:00:00Z');

/** A fleet where every tier is an instance of its own: the sizes design.md's table gives. */
const enterprise = DEFAULT_TIER_PROFILES.enterprise as InstanceTierProfile;
const starter: InstanceTierProfile = {
  ...enterprise,
  tier: 'starter',
  instanceClass: 'db.t3.micro',
  storage: { type: 'gp3', allocatedGiB: 20 },
  multiAz: false,
  deletionProtection: false,
  backupRetentionDays: 7,
  performanceInsights: { enabled: false },
};
const pro: InstanceTierProfile = {
  ...enterprise,
  tier: 'pro',
  instanceClass: 'db.t3.small',
  storage: { type: 'gp3', allocatedGiB: 100 },
  multiAz: false,
  deletionProtection: false,
  backupRetentionDays: 14,
  performanceInsights: { enabled: true, retentionDays: 7 },
};

/** The instance provisioning makes for `profile`. */
function shapeOf(profile: TierProfile): InstanceShape {
  return {
    instanceClass: profile.instanceClass,
    allocatedGiB: profile.storage.allocatedGiB,
    iops: profile.storage.iops ?? null,
    throughputMiBps: profile.storage.throughputMiBps ?? null,
    multiAz: profile.multiAz,
    deletionProtection: profile.deletionProtection,
    backupRetentionDays: profile.backupRetentionDays,
    performanceInsights: profile.performanceInsights,
  };
}

function input(over: Partial<TierChangeInput> & Pick<TierChangeInput, 'to'>): TierChangeInput {
  return {
    from: 'starter',
    current: shapeOf(starter),
    status: 'available',
    lastStorageChangeAt: null,
    now: NOW,
    ...over,
  };
}

function refusal(fn: () => unknown): TierChangeRefused {
  try {
    fn();
  } catch (error) {
    if (error instanceof TierChangeRefused) return error;
    throw error;
  }
  throw new Error('expected the change to be refused');
}

function placementRefusal(fn: () => unknown): PlacementChangeRefused {
  try {
    fn();
  } catch (error) {
    if (error instanceof PlacementChangeRefused) return error;
    throw error;
  }
  throw new Error('expected the change to be refused as a change of placement');
}

describe('planTierChange', () => {
  it('starter → pro: the pro profile, every field modified', () => {
    const plan = planTierChange(input({ to: pro }));
    expect(plan).toEqual({
      from: 'starter',
      to: 'pro',
      target: shapeOf(pro),
      storageChanges: true,
      notes: [],
    });
    expect(modificationOf(shapeOf(starter), plan.target)).toEqual({
      instanceClass: 'db.t3.small',
      storage: { allocatedGiB: 100 },
      backupRetentionDays: 14,
      performanceInsights: { enabled: true, retentionDays: 7 },
    });
  });

  it('pro → enterprise: provisioned IOPS and throughput with the storage, Multi-AZ, protection', () => {
    const plan = planTierChange(input({ from: 'pro', current: shapeOf(pro), to: enterprise }));
    expect(modificationOf(shapeOf(pro), plan.target)).toEqual({
      instanceClass: 'db.m6i.large',
      storage: { allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 },
      multiAz: true,
      deletionProtection: true,
      backupRetentionDays: 35,
      performanceInsights: { enabled: true, retentionDays: 731 },
    });
  });

  it('a tier with less storage keeps the current size and says so; IOPS at 400 GiB and above stay', () => {
    const plan = planTierChange(input({ from: 'enterprise', current: shapeOf(enterprise), to: pro }));
    expect(plan.target).toMatchObject({ allocatedGiB: 500, iops: 16_000, throughputMiBps: 1000 });
    expect(plan.storageChanges).toBe(false);
    expect(plan.notes).toEqual([
      'storage stays at 500 GiB (the pro tier has 100 GiB): RDS storage only grows',
      'IOPS stays at 16000: the pro tier sets none, and 500 GiB of gp3 keeps it',
      'throughput (MiB/s) stays at 1000: the pro tier sets none, and 500 GiB of gp3 keeps it',
    ]);
    const modification = modificationOf(shapeOf(enterprise), plan.target);
    expect(modification.storage).toBeUndefined();
    expect(modification).toMatchObject({
      instanceClass: 'db.t3.small',
      multiAz: false,
      deletionProtection: false,
    });
  });

  it('an increase under 10% is rounded up to 10%, with a note', () => {
    const current = { ...shapeOf(starter), allocatedGiB: 95 };
    const plan = planTierChange(input({ current, to: pro }));
    expect(plan.target.allocatedGiB).toBe(105);
    expect(plan.notes).toEqual([
      'storage grows to 105 GiB rather than 100 GiB: RDS needs an increase of at least 10%',
    ]);
  });

  it('IOPS and throughput are never sent below 400 GiB', () => {
    const small = {
      ...pro,
      tier: 'enterprise' as const,
      storage: { type: 'gp3' as const, allocatedGiB: 200 },
    };
    const plan = planTierChange(input({ to: small }));
    expect(modificationOf(shapeOf(starter), plan.target).storage).toEqual({ allocatedGiB: 200 });
  });

  it('refuses a second storage change within six hours, naming when it becomes possible', () => {
    const last = new Date(NOW.getTime() - 2 * 3600_000);
    const error = refusal(() => planTierChange(input({ to: pro, lastStorageChangeAt: last })));
    expect(error.rule).toBe('storage-cooldown');
    expect(error.message).toContain('2026-12-03T10:00:00.000Z');
    expect(error.message).toContain('from 2026-12-03T16:00:00.000Z');
  });

  it('allows it after six hours, and a change that leaves storage alone at any time', () => {
    const sixHoursAgo = new Date(NOW.getTime() - 6 * 3600_000);
    expect(planTierChange(input({ to: pro, lastStorageChangeAt: sixHoursAgo })).storageChanges).toBe(true);
    const recent = new Date(NOW.getTime() - 60_000);
    const down = planTierChange(
      input({ from: 'enterprise', current: shapeOf(enterprise), to: pro, lastStorageChangeAt: recent }),
    );
    expect(down.storageChanges).toBe(false);
  });

  it('refuses Multi-AZ on a class that does not allow it', () => {
    const micro = { ...enterprise, instanceClass: 'db.t3.micro' };
    const error = refusal(() => planTierChange(input({ to: micro })));
    expect(error.rule).toBe('multi-az-not-supported');
    expect(error.message).toContain('db.t3.micro');
  });

  it('refuses a tier whose tenants share hosts: that moves the tenant off its instance', () => {
    const error = placementRefusal(() => planTierChange(input({ to: DEFAULT_TIER_PROFILES.pro })));
    expect(error).toMatchObject({ from: 'instance', to: { tier: 'pro', placement: 'schema' } });
  });

  it('refuses the same tier, an unknown class and an instance that is not available', () => {
    expect(refusal(() => planTierChange(input({ to: starter }))).rule).toBe('same-tier');
    expect(refusal(() => planTierChange(input({ to: { ...pro, instanceClass: 'db.x9.huge' } }))).rule).toBe(
      'instance-class-unknown',
    );
    const busy = refusal(() => planTierChange(input({ to: pro, status: 'storage-optimization' })));
    expect(busy.rule).toBe('instance-not-available');
    expect(busy.message).toContain('storage-optimization');
  });
});

describe('placementOfTierChange', () => {
  const pooled = DEFAULT_TIER_PROFILES.starter as SharedTierProfile;
  const schemaTier = DEFAULT_TIER_PROFILES.pro as SharedTierProfile;

  it.each([
    ['starter', 'pool', 'pro', 'schema'],
    ['starter', 'pool', 'enterprise', 'instance'],
    ['pro', 'schema', 'enterprise', 'instance'],
    ['pro', 'schema', 'starter', 'pool'],
    ['enterprise', 'instance', 'starter', 'pool'],
    ['enterprise', 'instance', 'pro', 'schema'],
  ] as const)(
    'refuses %s (%s) → %s (%s), naming both placements and the move',
    (fromTier, from, to, placement) => {
      const error = placementRefusal(() =>
        placementOfTierChange({ tier: fromTier, placement: from }, DEFAULT_TIER_PROFILES[to]),
      );
      expect(error.from).toBe(from);
      expect(error.to).toEqual({ tier: to, placement });
      expect(error.message).toMatch(new RegExp(`^the tenant's placement is ${from} \\(`));
      expect(error.message).toContain(`the ${to} tier's is ${placement} (`);
      expect(error.message).toContain(
        `moving the tenant from ${from} to ${placement} copies its data while it is served`,
      );
      expect(error.message).toContain('POST /v1/tenants/{id}/move');
    },
  );

  it('judges by the tenant’s placement, not its tier’s: an instance tenant of a pooled tier may go to enterprise', () => {
    expect(placementOfTierChange({ tier: 'starter', placement: 'instance' }, enterprise)).toBe('instance');
  });

  it('keeps the placement both tiers share', () => {
    const pooledPro: SharedTierProfile = { ...schemaTier, placement: 'pool' };
    expect(placementOfTierChange({ tier: 'starter', placement: 'pool' }, pooledPro)).toBe('pool');
    expect(placementOfTierChange({ tier: 'pro', placement: 'instance' }, enterprise)).toBe('instance');
  });

  it('refuses the same tier in a shared placement too', () => {
    expect(refusal(() => placementOfTierChange({ tier: 'starter', placement: 'pool' }, pooled)).rule).toBe(
      'same-tier',
    );
  });
});

describe('planSharedTierChange', () => {
  const pooledStarter = DEFAULT_TIER_PROFILES.starter as SharedTierProfile;
  /** A second pooled tier that sizes its hosts exactly as starter does (custom profiles). */
  const pooledGrowth: SharedTierProfile = { ...pooledStarter, tier: 'pro' };
  /** A pooled tier whose hosts are bigger: another host class, more storage, fewer tenants each. */
  const pooledPro: SharedTierProfile = {
    ...(DEFAULT_TIER_PROFILES.pro as SharedTierProfile),
    placement: 'pool',
  };
  const schemaPro = DEFAULT_TIER_PROFILES.pro as SharedTierProfile;
  const schemaStarter: SharedTierProfile = { ...schemaPro, tier: 'starter' };
  const onHost = (profile: SharedTierProfile, name = 'pool-starter-001') => ({
    name,
    profile,
    capacity: profile.capacity,
  });

  it('pool → pool with hosts sized alike: the tenant stays on its host, nothing for RDS, only the tier', () => {
    const plan = planSharedTierChange({
      from: { tier: 'starter', placement: 'pool' },
      to: pooledGrowth,
      host: onHost(pooledStarter),
    });
    expect(plan).toEqual({
      from: 'starter',
      to: 'pro',
      placement: 'pool',
      host: 'pool-starter-001',
      target: null,
      storageChanges: false,
      notes: [
        'the tenant stays on its pool host pool-starter-001, which the pro tier would size the same way; nothing is modified on RDS and no data moves',
      ],
    });
  });

  it('schema → schema, downwards too, and back to the host’s own tier', () => {
    const down = planSharedTierChange({
      from: { tier: 'pro', placement: 'schema' },
      to: schemaStarter,
      host: onHost(schemaPro, 'schema-pro-001'),
    });
    expect(down).toMatchObject({ from: 'pro', to: 'starter', placement: 'schema', host: 'schema-pro-001' });
    // After that change the tenant is a starter tenant on a pro host: back to pro compares with the host.
    const back = planSharedTierChange({
      from: { tier: 'starter', placement: 'schema' },
      to: schemaPro,
      host: onHost(schemaPro, 'schema-pro-001'),
    });
    expect(back).toMatchObject({ from: 'starter', to: 'pro', target: null, storageChanges: false });
  });

  it('refuses a tier whose hosts are sized differently, naming each field that differs and the move it would take', () => {
    const refused = refusal(() =>
      planSharedTierChange({
        from: { tier: 'starter', placement: 'pool' },
        to: pooledPro,
        host: onHost(pooledStarter),
      }),
    );
    expect(refused.rule).toBe('host-sizing-differs');
    expect(refused.message).toContain('pool host pool-starter-001 is sized for the starter tier');
    expect(refused.message).toContain('instanceClass "db.t4g.medium" (the tier\'s "db.m6i.large")');
    expect(refused.message).toContain("tenantsPerHost 1000 (the tier's 50)");
    expect(refused.message).toContain("connectionBudget 200 (the tier's 400)");
    expect(refused.message).toContain('is a move between hosts: POST /v1/tenants/{id}/move');
    expect(refused.message).not.toContain('multiAz');
  });

  it('compares the capacity the host records, not only its tier’s profile', () => {
    const refused = refusal(() =>
      planSharedTierChange({
        from: { tier: 'starter', placement: 'pool' },
        to: pooledGrowth,
        host: { ...onHost(pooledStarter), capacity: { tenantsPerHost: 500, connectionBudget: 200 } },
      }),
    );
    expect(refused.rule).toBe('host-sizing-differs');
    expect(refused.message).toContain("tenantsPerHost 500 (the tier's 1000)");
    expect(
      planSharedTierChange({
        from: { tier: 'starter', placement: 'pool' },
        to: { ...pooledGrowth, alarms: { ...pooledGrowth.alarms, cpuHighPercent: 60 } },
        host: onHost(pooledStarter),
      }).host,
    ).toBe('pool-starter-001');
  });

  it('refuses a change to another placement and the same tier', () => {
    const host = onHost(pooledStarter);
    const toSchema = placementRefusal(() =>
      planSharedTierChange({
        from: { tier: 'starter', placement: 'pool' },
        to: DEFAULT_TIER_PROFILES.pro,
        host,
      }),
    );
    expect(toSchema.to).toEqual({ tier: 'pro', placement: 'schema' });
    const toInstance = placementRefusal(() =>
      planSharedTierChange({
        from: { tier: 'pro', placement: 'schema' },
        to: DEFAULT_TIER_PROFILES.enterprise,
        host: onHost(schemaPro, 'schema-pro-001'),
      }),
    );
    expect(toInstance.to).toEqual({ tier: 'enterprise', placement: 'instance' });
    expect(
      refusal(() =>
        planSharedTierChange({ from: { tier: 'starter', placement: 'pool' }, to: pooledStarter, host }),
      ).rule,
    ).toBe('same-tier');
  });
});

describe('reaches', () => {
  it('is true once every described field matches; Performance Insights only where described', () => {
    const target = shapeOf(pro);
    expect(reaches(target, target)).toBe(true);
    expect(reaches({ ...target, performanceInsights: null }, target)).toBe(true);
    expect(reaches({ ...target, performanceInsights: { enabled: false } }, target)).toBe(false);
    expect(reaches({ ...target, allocatedGiB: 20 }, target)).toBe(false);
    expect(reaches({ ...target, instanceClass: 'db.t3.micro' }, target)).toBe(false);
  });

  it('sends Performance Insights when RDS did not describe it', () => {
    const target = shapeOf(pro);
    expect(modificationOf({ ...target, performanceInsights: null }, target)).toEqual({
      performanceInsights: { enabled: true, retentionDays: 7 },
    });
  });
});
