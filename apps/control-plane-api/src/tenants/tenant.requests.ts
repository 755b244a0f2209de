import { createHash } from 'node:crypto';
import {
  PLACEMENTS,
  slugProblem,
  TENANT_SLUG_PATTERN,
  TENANT_STATUSES,
  TIER_NAMES,
  type TenantStatus,
  type TierName,
} from '@silo/core';
import { CHANGE_APPLY } from '@silo/control-plane-db';
import { RESTORE_MODES, ROTATION_TARGETS, type TenantCursor } from '@silo/fleet';
import { AWS_REGION_PATTERN } from '@silo/config';
import { z } from 'zod';
import { commaList, cursorParam, pageLimitParam } from '../http/query-params';

/**
 * The contract's slug rule, with the reason for a refusal from the one shared check. The
 * refinement is invisible to JSON Schema, so `meta` states the same rule for the OpenAPI
 * document (the lookahead is the "no --"); openapi.int-spec keeps the two in step.
 */
export const slugSchema = z
  .string()
  .superRefine((slug, ctx) => {
    const reason = slugProblem(slug);
    if (reason) ctx.addIssue({ code: 'custom', message: reason });
  })
  .meta({
    description: 'Unique and immutable: a-z, 0-9 and -, starting with a letter, no "--".',
    pattern: TENANT_SLUG_PATTERN.source.replace(/^\^/, '^(?!.*--)'),
    minLength: 3,
    maxLength: 32,
    example: 'acme-corp',
  });

const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * 1–200 characters (code points), no control characters, well-formed Unicode. `meta` states the
 * rule for the OpenAPI document (JSON Schema lengths count code points too; \p{Cc} is
 * U+0000–U+001F and U+007F–U+009F, then the bidi controls); lone surrogates are named in the
 * description only.
 */
export const nameSchema = z
  .string()
  .superRefine((name, ctx) => {
    const length = [...name].length;
    if (length < 1 || length > 200) {
      ctx.addIssue({ code: 'custom', message: `must be 1-200 characters (got ${length})` });
    } else if (LONE_SURROGATE.test(name)) {
      ctx.addIssue({ code: 'custom', message: 'must be well-formed Unicode (no lone surrogates)' });
    } else if (/\p{Cc}/u.test(name)) {
      ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
    } else if (BIDI_CONTROL.test(name)) {
      // Embedding, override and isolate marks make a name display as something else.
      ctx.addIssue({ code: 'custom', message: 'must not contain bidirectional control characters' });
    }
  })
  .meta({
    description:
      '1-200 characters, no control or bidirectional control characters, well-formed Unicode (no lone surrogates).',
    minLength: 1,
    maxLength: 200,
    pattern: '^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$',
    example: 'Acme Corp',
  });

export const tierSchema = z.enum(TIER_NAMES, { error: `must be one of ${TIER_NAMES.join(', ')}` });

/** An AWS region's name; whether it is configured (SILO_REGIONS) is the onboarding's answer (422). */
export const regionSchema = z
  .string()
  .regex(AWS_REGION_PATTERN, 'must be an AWS region such as eu-west-1')
  .meta({
    description:
      'The AWS region the tenant’s data lives in (instance or host, secrets, alarms, snapshots, exports): one of the configured regions (SILO_REGIONS; 422 names them). Omitted: the default region (AWS_REGION).',
    example: 'eu-central-1',
  });

/** POST /v1/tenants. Unknown fields are refused. */
export const createTenantBody = z.strictObject(
  { slug: slugSchema, name: nameSchema, tier: tierSchema, region: regionSchema.optional() },
  {
    error: (issue) =>
      issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
  },
);
export type CreateTenantBody = z.output<typeof createTenantBody>;

/** POST /v1/tenants/{id}/rotate-credentials. */
export const rotateCredentialsBody = z.strictObject(
  {
    which: z
      .enum(ROTATION_TARGETS)
      .optional()
      .meta({
        description:
          '`app`, `master` or `both` (app first). Omitted: every credential the tenant has of its own, ' +
          '`both` for an instance tenant, `app` for a schema tenant (its master user is its host’s).',
      }),
  },
  {
    error: (issue) =>
      issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
  },
);

/** PATCH /v1/tenants/{id}: a tier change, now or in the next maintenance window. */
export const changeTierBody = z.strictObject(
  {
    tier: tierSchema,
    apply: z
      .enum(CHANGE_APPLY)
      .default('now')
      .meta({ description: '`now` (the default) or `maintenance-window` (RDS applies it then).' }),
  },
  {
    error: (issue) =>
      issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
  },
);

/**
 * POST /v1/tenants/{id}/move: where the tenant goes. Each field omitted keeps what the tenant has
 * (the placement: the tier's); at least one is given. Whether the place is one Silo moves to is
 * the move's answer (422 naming the rule).
 */
export const moveTenantBody = z
  .strictObject(
    {
      placement: z
        .enum(PLACEMENTS, { error: `must be one of ${PLACEMENTS.join(', ')}` })
        .optional()
        .meta({
          description:
            'The placement to move to. It follows the tier: one the target tier does not place tenants in is 422 `placement-of-tier`. Omitted: the target tier’s.',
        }),
      region: z
        .string()
        .regex(AWS_REGION_PATTERN, 'must be an AWS region such as eu-west-1')
        .optional()
        .meta({
          description:
            'The AWS region to move to: one of the configured regions (SILO_REGIONS; 422 names them). Omitted: the tenant’s own.',
          example: 'eu-central-1',
        }),
      tier: tierSchema.optional().meta({
        description: 'The tier the tenant has once moved. Omitted: its own.',
      }),
    },
    {
      error: (issue) =>
        issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
    },
  )
  .refine((body) => Object.values(body).some((v) => v !== undefined), {
    message: 'name at least one of placement, region and tier',
  })
  .meta({
    // The refinement is invisible to JSON Schema: the document states it.
    minProperties: 1,
    example: { placement: 'instance', tier: 'enterprise' },
  });
export type MoveTenantBody = z.output<typeof moveTenantBody>;

const RESTORE_SOURCES = ['pointInTime', 'snapshot', 'latest'] as const;

/**
 * POST /v1/tenants/{id}/restores: what is restored and how. `source` names exactly one kind; whether
 * Silo restores it (and whether the time is in the instance's window) is the restore's answer (422
 * naming the rule).
 */
export const restoreTenantBody = z
  .strictObject(
    {
      source: z
        .strictObject(
          {
            pointInTime: z.iso
              .datetime({
                offset: true,
                error: 'must be an ISO 8601 date-time with seconds and an offset (Z or ±hh:mm)',
              })
              .optional()
              .meta({
                description:
                  'The moment to restore to: inside the instance’s restorable window (422 `outside-restore-window` gives `earliest` and `latest`).',
                example: '2026-12-07T10:32:00Z',
              }),
            snapshot: z
              .string()
              .min(1, 'must be 1-255 characters')
              .max(255, 'must be 1-255 characters')
              .optional()
              .meta({
                description:
                  'A snapshot of the tenant’s instance (`GET /v1/tenants/{id}/snapshots` lists them): an automated one or one Silo took.',
              }),
            latest: z.literal(true, { error: 'must be true' }).optional().meta({
              description: 'The latest restorable moment of the instance, as RDS has it when asked.',
            }),
          },
          { error: (issue) => (issue.input === undefined ? 'is required' : 'must be a JSON object') },
        )
        .refine((source) => RESTORE_SOURCES.filter((k) => source[k] !== undefined).length === 1, {
          message: `name exactly one of ${RESTORE_SOURCES.join(', ')}`,
        })
        // The refinement is invisible to JSON Schema: the document states it.
        .meta({ minProperties: 1, maxProperties: 1 }),
      mode: z.enum(RESTORE_MODES, { error: `must be one of ${RESTORE_MODES.join(', ')}` }).meta({
        description:
          '`copy`: the data restored into an instance beside the live tenant, which stays served, untouched. `replace`: the tenant served from the restored data after a write pause (its instance renamed to the copy’s name, the restored one to the tenant’s); what it held before is kept as a copy until its TTL. A schema or pool tenant’s copy is its host restored to the time and trimmed to its data; in place its rows (or its schema’s) are swapped with the copy’s while its writes pause.',
      }),
      rollout: z.boolean({ error: 'must be true or false' }).optional().meta({
        description:
          'With mode `replace`: once the tenant is switched, start a rollout of it alone to the newest migration when the restored data is behind it (the `tenant.restore_rollout` event names the rollout, or why none started: another rollout is open). Refused with mode `copy` (422 `rollout-needs-replace`). Default false: the restore only says the data is behind.',
      }),
    },
    {
      error: (issue) =>
        issue.input === undefined ? 'a JSON object body is required' : 'must be a JSON object',
    },
  )
  .meta({ example: { source: { pointInTime: '2026-12-07T10:32:00Z' }, mode: 'copy' } });
export type RestoreTenantBody = z.output<typeof restoreTenantBody>;

/** Postgres `integer`: a run beyond it names no copy, and must not reach the query. */
const MAX_RUN = 2_147_483_647;

/** The `{run}` of a restore copy's path: a positive integer. */
export const restoreRunParam = z
  .string()
  .regex(/^[1-9]\d{0,9}$/, 'must be a positive integer')
  .transform(Number)
  .refine((run) => run <= MAX_RUN, `must be at most ${MAX_RUN}`);

/** The hash an Idempotency-Key is bound to: the request as validated, in a fixed field order. */
export function requestHash(body: CreateTenantBody): string {
  // Without a region the hash is the one keys were bound to before regions existed.
  const fields =
    body.region === undefined
      ? [body.slug, body.name, body.tier]
      : [body.slug, body.name, body.tier, body.region];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** 1–255 visible ASCII characters, as commonly accepted for Idempotency-Key. */
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters')
  .optional();

const CURSOR = /^v1\.(\d{1,19})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function encodeCursor(cursor: TenantCursor): string {
  return Buffer.from(`v1.${cursor.createdAtMicros}.${cursor.id}`).toString('base64url');
}

/** The latest instant a JavaScript Date holds (year 275760), in µs since the epoch. */
const LATEST_MICROS = 8_640_000_000_000_000_000n;

function decodeCursor(value: string): TenantCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) return null;
  const match = CURSOR.exec(Buffer.from(value, 'base64url').toString('latin1'));
  if (!match) return null;
  const createdAtMicros = BigInt(match[1]);
  // Beyond what a timestamp can hold (JavaScript's and PostgreSQL's) no cursor was ever issued.
  if (createdAtMicros > LATEST_MICROS) return null;
  return { createdAtMicros, id: match[2] };
}

/** GET /v1/tenants query. Every parameter appears at most once; unknown ones are refused. */
export const listTenantsQuery = z.strictObject({
  status: commaList<TenantStatus>(TENANT_STATUSES, 'status'),
  tier: commaList<TierName>(TIER_NAMES, 'tier'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d(,[a-z]{2}(-[a-z]+)+-\d)*$/, 'must be comma-separated AWS regions')
    .transform((v) => v.split(','))
    .optional(),
  limit: pageLimitParam(200),
  cursor: cursorParam(decodeCursor),
});

/** DELETE /v1/tenants/{id-or-slug} query: the slug, typed again. */
export const deleteTenantQuery = z.strictObject({
  confirm: z.string({ error: 'is required and must be the tenant’s slug' }),
});
