import { TENANT_SLUG_PATTERN, TIER_NAMES } from '@silo/core';
import { z } from 'zod';
import { cursorParam, pageLimitParam } from '../http/query-params';

const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int(`must be a whole number from ${min} to ${max}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** A tenant's id (a UUID, either case) or slug (the slug rule, no `--`). */
const TENANT_REF = new RegExp(
  `^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?!.*--)${TENANT_SLUG_PATTERN.source.replace(/^\^|\$$/g, '')})$`,
);

/**
 * POST /v1/schema-rollouts. Unknown fields are refused. `waves` are cumulative percentages of
 * the eligible migration targets after the canary: strictly increasing, the last one 100.
 */
export const startRolloutBody = z.strictObject(
  {
    targetVersion: z
      .string()
      .regex(/^\d{1,18}$/, 'must be a migration version (its number, e.g. "0003")')
      .optional()
      .meta({ description: 'Default: the newest migration.', example: '0003' }),
    canary: wholeNumber(0, 1000).default(1).meta({
      description:
        'Migration targets migrated first, on their own: a tenant’s own database or schema, or a pool database with all its pooled tenants.',
    }),
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
        description:
          'Cumulative percentages of the migration targets after the canary, increasing, ending with 100.',
        example: [25, 100],
      }),
    maxConcurrency: wholeNumber(1, 100)
      .default(4)
      .meta({ description: 'Migration targets migrating at once (a pool database counts once).' }),
    failureThreshold: wholeNumber(1, 100_000).default(1).meta({
      description:
        'The rollout pauses itself once this many migration targets have failed (a pool database’s tenants fail with it and count once).',
    }),
    pauseBetweenWaves: z.boolean({ error: 'must be true or false' }).default(false).meta({
      description: 'Pause after each wave until resumed (an approval gate).',
    }),
    tiers: z
      .array(z.enum(TIER_NAMES, { error: `must be one of ${TIER_NAMES.join(', ')}` }))
      .min(1, 'must name at least one tier')
      .refine((tiers) => new Set(tiers).size === tiers.length, 'must not name a tier twice')
      .optional()
      .meta({ description: 'Only tenants of these tiers. Default: every tier.', uniqueItems: true }),
    exclude: z
      .array(
        z.string({ error: 'must list tenant ids or slugs' }).regex(TENANT_REF, 'must be a tenant id or slug'),
        {
          error: 'must be an array of tenant ids or slugs',
        },
      )
      // 250 ids fit well inside the default body limit (16 KiB), so the limit is this rule's, not a 413.
      .max(250, 'must name at most 250 tenants')
      .refine((refs) => new Set(refs).size === refs.length, 'must not name a tenant twice')
      .optional()
      .meta({
        description:
          'Tenants (ids or slugs) left out: recorded as skipped, in no wave. A pooled tenant’s migration target is its host’s pool database, so naming one leaves out its whole pool (its other tenants are skipped with it). Naming a tenant that does not exist is 422.',
        uniqueItems: true,
        example: ['acme-corp'],
      }),
  },
  {
    error: (issue) =>
      issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
  },
);

/** Control characters (C0, DEL, C1) and the bidirectional controls. */
const CONTROL = '\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069';
/** No control character, and something besides spaces. */
const REASON = new RegExp(`^[^${CONTROL}]*[^ ${CONTROL}][^${CONTROL}]*$`);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** POST /v1/schema-rollouts/{id}/tenants/{idOrSlug}/skip. */
export const skipRolloutTenantBody = z.strictObject(
  {
    reason: z
      .string({ error: 'is required: say why the tenant is skipped' })
      .superRefine((reason, ctx) => {
        const length = [...reason].length;
        if (length < 1 || length > 500) {
          ctx.addIssue({ code: 'custom', message: `must be 1-500 characters (got ${length})` });
        } else if (LONE_SURROGATE.test(reason)) {
          ctx.addIssue({ code: 'custom', message: 'must be well-formed Unicode (no lone surrogates)' });
        } else if (!REASON.test(reason)) {
          ctx.addIssue({
            code: 'custom',
            message: 'must say why, in 1-500 characters that are not all spaces, without control characters',
          });
        }
      })
      .meta({
        description:
          'Why the tenant is skipped, for the audit trail: 1-500 characters, not only spaces, no control or bidirectional control characters, well-formed Unicode (no lone surrogates).',
        minLength: 1,
        maxLength: 500,
        pattern: REASON.source,
        example: 'ledger of 0001 edited by hand; repaired in ticket OPS-1234',
      }),
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
