import { TIER_NAMES } from '@silo/core';
import { z } from 'zod';
import { cursorParam, pageLimitParam } from '../http/query-params';

const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int(`must be a whole number from ${min} to ${max}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/**
 * POST /v1/schema-rollouts. Unknown fields are refused. `waves` are cumulative percentages of
 * the eligible tenants after the canary: strictly increasing, the last one 100.
 */
export const startRolloutBody = z.strictObject(
  {
    targetVersion: z
      .string()
      .regex(/^\d{1,18}$/, 'must be a migration version (its number, e.g. "0003")')
      .optional()
      .meta({ description: 'Default: the newest migration.', example: '0003' }),
    canary: wholeNumber(0, 1000).default(1).meta({ description: 'Tenants migrated first, on their own.' }),
    waves: z
      .array(wholeNumber(1, 100), { error: 'must be an array of percentages' })
      .min(1, 'must list at least one wave')
      .max(20, 'must list at most 20 waves')
      .superRefine((waves, ctx) => {
        if (waves.some((p, i) => i > 0 && p <= waves[i - 1])) {
          ctx.addIssue({ code: 'custom', message: 'must be strictly increasing (cumulative percentages)' });
        } else if (waves[waves.length - 1] !== 100) {
          ctx.addIssue({
            code: 'custom',
            message: 'must end with 100, so that every eligible tenant is in a wave',
          });
        }
      })
      .default([100])
      .meta({
        description: 'Cumulative percentages of the tenants after the canary, increasing, ending with 100.',
        example: [25, 100],
      }),
    maxConcurrency: wholeNumber(1, 100).default(4).meta({ description: 'Tenants migrating at once.' }),
    failureThreshold: wholeNumber(1, 100_000)
      .default(1)
      .meta({ description: 'The rollout pauses itself once this many tenants have failed.' }),
    pauseBetweenWaves: z.boolean({ error: 'must be true or false' }).default(false).meta({
      description: 'Pause after each wave until resumed (an approval gate).',
    }),
    tiers: z
      .array(z.enum(TIER_NAMES, { error: `must be one of ${TIER_NAMES.join(', ')}` }))
      .min(1, 'must name at least one tier')
      .refine((tiers) => new Set(tiers).size === tiers.length, 'must not name a tier twice')
      .optional()
      .meta({ description: 'Only tenants of these tiers. Default: every tier.', uniqueItems: true }),
  },
  {
    error: (issue) =>
      issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
  },
);

const ROLLOUT_CURSOR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** GET /v1/schema-rollouts query. */
export const listRolloutsQuery = z.strictObject({
  limit: pageLimitParam(100),
  cursor: cursorParam((value) => (ROLLOUT_CURSOR.test(value) ? value : null)),
});
