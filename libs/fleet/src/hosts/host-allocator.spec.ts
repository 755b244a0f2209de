import { DEFAULT_TIER_PROFILES, isSharedTierProfile } from '../tiers';
import { placementRequestOf } from './host-allocator';

describe('placementRequestOf', () => {
  it('asks for a place of the tier’s placement with the tier’s capacity', () => {
    const starter = DEFAULT_TIER_PROFILES.starter;
    const pro = DEFAULT_TIER_PROFILES.pro;
    if (!isSharedTierProfile(starter) || !isSharedTierProfile(pro))
      throw new Error('starter and pro share hosts');
    expect(placementRequestOf(starter)).toEqual({
      placement: 'pool',
      tier: 'starter',
      capacity: starter.capacity,
    });
    expect(placementRequestOf(pro)).toEqual({ placement: 'schema', tier: 'pro', capacity: pro.capacity });
  });
});
