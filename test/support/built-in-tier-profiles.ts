import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TIER_PROFILES } from '../../libs/fleet/src/tiers/default-tier-profiles';

/**
 * The built-in tier profiles as a file (starter pooled, pro a schema each, enterprise an
 * instance), for a process under test that should run the fleet as shipped: the test
 * environment otherwise pins every tier to `instance`. Returns its path.
 */
export function builtInTierProfilesFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'silo-built-in-tiers-')), 'tiers.json');
  const tiers = Object.fromEntries(
    Object.entries(DEFAULT_TIER_PROFILES).map(([name, { tier: _tier, ...profile }]) => [name, profile]),
  );
  writeFileSync(file, JSON.stringify({ tiers }));
  return file;
}
