import { planRollout, type RolloutCandidate } from './rollout-plan';

function candidates(n: number, tier: RolloutCandidate['tier'] = 'starter', from = 0): RolloutCandidate[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `t-${String(from + i).padStart(3, '0')}`,
    tier,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, from + i)),
  }));
}

describe('planRollout', () => {
  it('puts the canary first, then cumulative percentages of the rest', () => {
    const plan = planRollout(candidates(30), 2, [50, 100]);
    expect(plan.waves).toEqual([
      { index: 0, kind: 'canary', percent: null, size: 2, targets: 2 },
      { index: 1, kind: 'wave', percent: 50, size: 14, targets: 14 },
      { index: 2, kind: 'wave', percent: 100, size: 14, targets: 14 },
    ]);
    expect(plan.tenants.slice(0, 3)).toEqual([
      { tenantId: 't-000', wave: 0, position: 0 },
      { tenantId: 't-001', wave: 0, position: 1 },
      { tenantId: 't-002', wave: 1, position: 2 },
    ]);
    expect(plan.tenants).toHaveLength(30);
  });

  it('rounds each cut up, so a small fleet still gets every wave it can fill', () => {
    expect(planRollout(candidates(5), 1, [25, 100]).waves.map((w) => w.size)).toEqual([1, 1, 3]);
  });

  it('leaves out waves that come out empty', () => {
    const plan = planRollout(candidates(2), 2, [25, 100]);
    expect(plan.waves).toEqual([{ index: 0, kind: 'canary', percent: null, size: 2, targets: 2 }]);
    expect(planRollout([], 2, [100])).toEqual({ waves: [], tenants: [] });
    expect(planRollout(candidates(3), 0, [100]).waves).toEqual([
      { index: 0, kind: 'wave', percent: 100, size: 3, targets: 3 },
    ]);
  });

  it('takes lower tiers first and the oldest tenants first within a tier', () => {
    const mixed = [
      ...candidates(1, 'enterprise', 0),
      ...candidates(1, 'pro', 1),
      ...candidates(2, 'starter', 2).reverse(),
    ];
    expect(planRollout(mixed, 1, [100]).tenants.map((t) => t.tenantId)).toEqual([
      't-002',
      't-003',
      't-001',
      't-000',
    ]);
  });

  it("keeps a pool host's tenants together as one target, counted once in the canary and the waves", () => {
    const pooled = (n: number, host: string, from: number) =>
      candidates(n, 'starter', from).map((c) => ({ ...c, target: `pool:${host}` }));
    const fleet = [
      ...candidates(1, 'enterprise', 0),
      ...candidates(3, 'pro', 1),
      ...pooled(4, 'a', 10),
      ...pooled(2, 'b', 20),
      // A pooled tenant older than its host's others still moves with them.
      ...pooled(1, 'b', 5),
    ];
    const plan = planRollout(fleet, 1, [50, 100]);
    expect(plan.waves).toEqual([
      // The canary is the oldest starter tenant's target: pool b, all three of its tenants.
      { index: 0, kind: 'canary', percent: null, size: 3, targets: 1 },
      { index: 1, kind: 'wave', percent: 50, size: 6, targets: 3 },
      { index: 2, kind: 'wave', percent: 100, size: 2, targets: 2 },
    ]);
    expect(plan.tenants.slice(0, 3).map((t) => t.tenantId)).toEqual(['t-005', 't-020', 't-021']);
    expect(plan.tenants.slice(3, 7).map((t) => t.tenantId)).toEqual(['t-010', 't-011', 't-012', 't-013']);
    expect(plan.tenants.map((t) => t.position)).toEqual(plan.tenants.map((_, i) => i));
  });
});
