import type { EngineVersionStatus } from '@silo/aws';
import { DEFAULT_TIER_PROFILES } from './default-tier-profiles';
import { checkTierEngineVersions, EngineVersionRefused } from './engine-version-check';
import type { TierProfiles } from './tier-profile';

const withVersions = (versions: Record<string, string>): TierProfiles =>
  Object.fromEntries(
    Object.entries(DEFAULT_TIER_PROFILES).map(([tier, p]) => [
      tier,
      { ...p, engineVersion: versions[tier] ?? p.engineVersion },
    ]),
  ) as TierProfiles;

const rds = (answers: Record<string, EngineVersionStatus['status']>) => {
  const asked: string[] = [];
  return {
    asked,
    status: (version: string): Promise<EngineVersionStatus> => {
      asked.push(version);
      const status = answers[version] ?? 'unoffered';
      return Promise.resolve(
        status === 'available'
          ? { version, status, resolved: `${version.split('.')[0]}.6` }
          : { version, status },
      );
    },
  };
};

describe('the tier profiles’ engine versions at start', () => {
  it('asks once per version and answers what each resolved to', async () => {
    const versions = rds({ '17': 'available' });
    const tiers = withVersions({ starter: '17', pro: '17', enterprise: '17' });
    expect(await checkTierEngineVersions(tiers, versions)).toEqual({
      resolved: { '17': '17.6' },
      unchecked: [],
    });
    expect(versions.asked).toEqual(['17']);
  });

  it('refuses a deprecated minor and a version RDS does not offer, naming the tiers', async () => {
    const tiers = withVersions({ starter: '16.4', pro: '16.4', enterprise: '12' });
    const error = await checkTierEngineVersions(tiers, rds({ '16.4': 'deprecated' })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineVersionRefused);
    expect((error as Error).message).toContain('tiers starter, pro: PostgreSQL 16.4 is deprecated on RDS');
    expect((error as Error).message).toContain('tier enterprise: RDS does not offer PostgreSQL 12');
  });

  it('takes the versions as they are where RDS cannot be asked, and says which', async () => {
    const tiers = withVersions({ starter: '17', pro: '17', enterprise: '17' });
    expect(await checkTierEngineVersions(tiers, rds({ '17': 'unknown' }))).toEqual({
      resolved: {},
      unchecked: ['17'],
    });
  });
});
