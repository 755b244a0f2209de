import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TIER_PROFILES } from '../../libs/fleet/src/tiers/default-tier-profiles';

/** A shared tier's capacity: tenants per host and the connections all of them may hold. */
export interface TestCapacity {
  tenantsPerHost: number;
  connectionBudget: number;
}

/**
 * The built-in tier profiles as a file (starter pooled, pro a schema each, enterprise an
 * instance), for a process under test that should run the fleet as shipped: the test
 * environment otherwise pins every tier to `instance`. `capacity` replaces the starter's or the
 * pro's (small hosts, so that a test fills one). Written into `dir` when given, else a new
 * temporary folder; returns its path.
 */
export function builtInTierProfilesFile(
  capacity: { starter?: TestCapacity; pro?: TestCapacity } = {},
  dir?: string,
): string {
  const file = join(dir ?? mkdtempSync(join(tmpdir(), 'silo-built-in-tiers-')), 'tiers.json');
  const tiers = Object.fromEntries(
    Object.entries(DEFAULT_TIER_PROFILES).map(([name, { tier: _tier, ...profile }]) => {
      const own = capacity[name as keyof typeof capacity];
      return [name, own ? { ...profile, capacity: own } : profile];
    }),
  );
  writeFileSync(file, JSON.stringify({ tiers }));
  return file;
}
