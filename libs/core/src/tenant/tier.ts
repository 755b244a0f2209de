/** Tier names known to the contract; their profiles are configuration. */
export const TIER_NAMES = ['starter', 'pro', 'enterprise'] as const;
export type TierName = (typeof TIER_NAMES)[number];

export function isTierName(value: unknown): value is TierName {
  return typeof value === 'string' && (TIER_NAMES as readonly string[]).includes(value);
}
