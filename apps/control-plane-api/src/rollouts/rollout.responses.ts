import { TENANT_STATUSES, TIER_NAMES } from '@silo/core';
import { ROLLOUT_PAUSE_KINDS, ROLLOUT_STATUSES, ROLLOUT_TENANT_STATES } from '@silo/control-plane-db';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

const version = z.string().meta({ example: '0003' });

const counts = z.object({
  pending: z.number().int(),
  running: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  skipped: z.number().int(),
});

const rolloutTenant = z.object({
  tenantId: z.string().meta({ format: 'uuid' }),
  slug: z.string(),
  state: z.enum(ROLLOUT_TENANT_STATES),
  fromVersion: version.nullable(),
  reachedVersion: version.nullable(),
  attempt: z.number().int().meta({ description: 'How many times the tenant was dispatched.' }),
  poolHostId: z.string().nullable().meta({
    format: 'uuid',
    description:
      'For a pooled tenant, the host whose pool database is its migration target: the pool migrates once for all its tenants, which are dispatched, recorded, retried and skipped together. Null when the target is the tenant’s own database or schema.',
  }),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
});

const failedTenant = z.object({
  tenantId: z.string().meta({ format: 'uuid' }),
  slug: z.string(),
  wave: z.number().int(),
  versionReached: version.nullable(),
  failingMigration: z.string().nullable().meta({ example: '0002_add_due_date.sql' }),
  sqlState: z.string().nullable().meta({ example: '42P07' }),
  code: z.string().nullable().meta({ example: 'MIGRATION_FAILED' }),
  message: z.string().nullable().meta({ description: 'The server’s message. Never a credential or host.' }),
});

const skippedTenant = z.object({
  tenantId: z.string().meta({ format: 'uuid' }),
  slug: z.string(),
  wave: z
    .number()
    .int()
    .nullable()
    .meta({ description: 'null: skipped when the rollout started (excluded, or at or past the target).' }),
  fromVersion: version.nullable(),
  reason: z.string().nullable().meta({ example: 'already at or past the target' }),
  skippedBy: z
    .string()
    .nullable()
    .meta({ description: 'The operator, the rollout’s creator (at start), or the worker.' }),
  skippedAt: timestamp.nullable(),
});

const rolloutSummary = {
  id: z.string().meta({ format: 'uuid' }),
  status: z.enum(ROLLOUT_STATUSES),
  targetVersion: version,
  canary: z.number().int(),
  waves: z.array(z.number().int()).meta({ description: 'The requested cumulative percentages.' }),
  maxConcurrency: z.number().int(),
  failureThreshold: z.number().int(),
  pauseBetweenWaves: z.boolean(),
  tiers: z.array(z.enum(TIER_NAMES)).nullable(),
  pausedBecause: z.enum(ROLLOUT_PAUSE_KINDS).nullable(),
  pausedReason: z.string().nullable().meta({ description: 'Why it is PAUSED, in words.' }),
  currentWave: z.number().int(),
  createdBy: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
  finishedAt: timestamp.nullable(),
  counts,
};

export const rolloutSummaryResource = z.object(rolloutSummary);

export const rolloutResource = z.object({
  ...rolloutSummary,
  plan: z.array(
    z.object({
      index: z.number().int(),
      kind: z.enum(['canary', 'wave']),
      percent: z.number().int().nullable(),
      targets: z.number().int().meta({
        description:
          'Migration targets in the wave: a tenant’s own database or schema, or a pool database with all its pooled tenants, counted once. The canary and the wave percentages count targets; so do maxConcurrency and failureThreshold.',
      }),
      counts,
      tenants: z.array(rolloutTenant),
    }),
  ),
  failedTenants: z.array(failedTenant),
  skippedTenants: z.array(skippedTenant),
  events: z.array(
    z.object({
      at: timestamp,
      type: z.string().meta({ example: 'rollout.paused' }),
      message: z.string(),
      actor: z.string(),
      correlationId: z.string().nullable(),
    }),
  ),
});

export const rolloutList = z.object({
  items: z.array(rolloutSummaryResource),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
});

export const schemaVersionsResource = z.object({
  newest: version,
  versions: z.array(z.object({ version: version.nullable(), tenants: z.number().int() })),
  behind: z.object({
    count: z.number().int(),
    items: z.array(
      z.object({
        id: z.string().meta({ format: 'uuid' }),
        slug: z.string(),
        tier: z.enum(TIER_NAMES),
        status: z.enum(TENANT_STATUSES),
        schemaVersion: version.nullable(),
      }),
    ),
  }),
});

export type RolloutResource = z.infer<typeof rolloutResource>;
export type RolloutSummaryResource = z.infer<typeof rolloutSummaryResource>;
export type SchemaVersionsResource = z.infer<typeof schemaVersionsResource>;
