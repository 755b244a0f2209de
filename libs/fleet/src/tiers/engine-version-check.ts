import type { EngineVersionStatus } from '@silo/aws';
import type { TierProfiles } from './tier-profile';

/** A tier profile asks for a PostgreSQL version RDS makes no new instance with; the message names each. */
export class EngineVersionRefused extends Error {
  override readonly name = 'EngineVersionRefused';
}

/**
 * At the worker's start, before it takes a job: every tier's `engineVersion` is one RDS offers for
 * new instances (DescribeDBEngineVersions; a major resolves to RDS's default minor of it).
 * Refused ({@link EngineVersionRefused}, naming each tier, its version and what RDS said): a
 * deprecated minor or a version RDS does not offer, which would fail every onboarding of the tier
 * at CreateDBInstance. Where RDS cannot be asked (`unknown`: an emulator without the call), the
 * versions are taken as they are and the answer says so. Returns what each version resolved to.
 */
export async function checkTierEngineVersions(
  tiers: TierProfiles,
  versions: { status(version: string): Promise<EngineVersionStatus> },
): Promise<{ resolved: Record<string, string>; unchecked: string[] }> {
  const byVersion = new Map<string, string[]>();
  for (const [tier, profile] of Object.entries(tiers)) {
    const named = byVersion.get(profile.engineVersion) ?? [];
    named.push(tier);
    byVersion.set(profile.engineVersion, named);
  }
  const problems: string[] = [];
  const resolved: Record<string, string> = {};
  const unchecked: string[] = [];
  for (const [version, named] of byVersion) {
    const answer = await versions.status(version);
    const who = `tier${named.length > 1 ? 's' : ''} ${named.join(', ')}`;
    if (answer.status === 'available') resolved[version] = answer.resolved;
    else if (answer.status === 'unknown') unchecked.push(version);
    else
      problems.push(
        answer.status === 'deprecated'
          ? `${who}: PostgreSQL ${version} is deprecated on RDS and cannot be used to create new instances`
          : `${who}: RDS does not offer PostgreSQL ${version}`,
      );
  }
  if (problems.length)
    throw new EngineVersionRefused(
      `${problems.join('; ')}. Name a major version in the tier profiles (RDS then picks its default minor) or a minor RDS offers (aws rds describe-db-engine-versions --engine postgres)`,
    );
  return { resolved, unchecked };
}
