import { PLACEMENTS, TENANT_STATUSES, TIER_NAMES } from '@silo/core';
import { CHANGE_APPLY, CHANGE_KINDS, CHANGE_STATUSES, SAGAS, STEP_STATUSES } from '@silo/control-plane-db';
import { ALARM_METRICS, FINDING_KINDS, FINDING_SEVERITIES } from '@silo/fleet';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/**
 * The bodies the tenant routes answer with, as zod schemas: the OpenAPI document is generated
 * from them, and openapi.int-spec checks at compile time that `tenant.view.ts` and the tier
 * profiles produce exactly these types, and at run time that real responses validate.
 */

/** One open finding of the reconciler on a tenant. */
export const finding = z.object({
  kind: z.enum(FINDING_KINDS).meta({
    description:
      '`repairable`: Silo puts it back (open only while the repair has not gone through); `reported`: an operator decides; `missing`: a resource Silo created is gone.',
  }),
  severity: z.enum(FINDING_SEVERITIES),
  field: z.string().meta({
    example: 'instance.deletionProtection',
    description: '`instance…`, `secret:master…`, `secret:app…` or `alarm:<metric>…`.',
  }),
  expected: z.string().meta({ example: 'true' }),
  found: z.string().meta({ example: 'false' }),
  since: timestamp.meta({ description: 'When a pass first saw it.' }),
  lastSeen: timestamp,
  repairError: z.string().nullable().meta({ description: 'Why the repair has not gone through yet.' }),
});

const step = z.object({
  name: z.string().meta({ example: 'create-instance' }),
  saga: z.enum(SAGAS),
  status: z.enum(STEP_STATUSES),
  attempts: z.number().int(),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
});

/** A tenant's latest change: a tier change, a credential rotation, a move or a restore. Never a password. */
export const tenantChange = z.object({
  kind: z.enum(CHANGE_KINDS),
  run: z.number().int().meta({ description: 'The tenant’s change number; its steps’ run.' }),
  from: z.string().meta({
    example: 'starter',
    description:
      'The tier before (a rotation: `current`; a move: where it lived, `placement@region`; a restore: what it restores, `pointInTime <time>` or `latest <time>`).',
  }),
  to: z.string().meta({
    example: 'pro',
    description:
      'The tier asked for (a rotation: app, master or both; a move: where it goes, `placement@region` such as `instance@eu-west-1`; a restore: its mode, `copy`).',
  }),
  apply: z.enum(CHANGE_APPLY),
  status: z.enum(CHANGE_STATUSES),
  notes: z.array(z.string()).meta({
    description: 'Where the instance keeps or gets other than the tier says, and why (storage only grows…).',
  }),
  steps: z.array(step),
  pendingModifiedValues: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: 'What RDS holds for the maintenance window, while PENDING_MAINTENANCE.' }),
  error: z.object({ code: z.string(), message: z.string(), step: z.string() }).nullable().meta({
    description:
      'Why the change failed; the tenant stays on its previous tier (a move: where it lived, served there; `MOVE_ABORTED` after an abort).',
  }),
  toTier: z.enum(TIER_NAMES).nullable().meta({
    example: 'enterprise',
    description: 'A move’s target tier (the tenant’s once it has switched); null for other kinds.',
  }),
  abortRequested: z.boolean().meta({
    description:
      'A move’s abort was asked for (`POST /v1/tenants/{id}/move/abort`): it stops before its cut-over and removes the target. Always false for other kinds.',
  }),
  cutOver: z
    .object({
      frozenForMs: z.number().int().meta({ description: 'How long the source was frozen for the switch.' }),
      pausedForMs: z
        .number()
        .int()
        .meta({ description: 'How long the tenant’s writes were paused (the data plane held them).' }),
      tables: z
        .array(z.object({ table: z.string().meta({ example: 'notes' }), rows: z.number().int() }))
        .meta({ description: 'The rows of each table copied, as both sides counted them at the switch.' }),
    })
    .nullable()
    .meta({
      description: 'A move’s cut-over figures once it has switched; null before and for other kinds.',
    }),
  sourceRemovalDueAt: timestamp.nullable().meta({
    description:
      'When a moved tenant’s source (its old instance, schema or pool rows) is removed (MOVE_SOURCE_RETENTION_HOURS after the switch); null before the switch and for other kinds.',
  }),
  requestedBy: z.string(),
  requestedAt: timestamp,
  finishedAt: timestamp.nullable(),
});

/** A shared host as a tenant names it. */
const sharedHostRef = z.object({
  id: z.string().meta({ format: 'uuid' }),
  name: z.string().meta({ example: 'pool-starter-001' }),
});

export const tenantResource = z.object({
  id: z.string().meta({ format: 'uuid' }),
  slug: z.string().meta({ example: 'acme-corp' }),
  name: z.string().meta({ example: 'Acme Corp' }),
  tier: z.enum(TIER_NAMES),
  status: z.enum(TENANT_STATUSES),
  placement: z.enum(PLACEMENTS).meta({
    description:
      'Where its data lives: its own instance, its own schema on a shared host, or its rows in a shared host’s pool database.',
  }),
  region: z.string().nullable().meta({
    example: 'eu-central-1',
    description:
      'The AWS region its data lives in (instance or host, secrets, alarms, snapshots, exports), chosen at onboarding; a tenant made before regions existed is in the default region. Null only when the API has no configured default to name.',
  }),
  host: sharedHostRef.nullable().meta({
    description:
      'The shared host it is placed on (schema and pool tenants); null for instance tenants and before placement.',
  }),
  schemaVersion: z.string().nullable().meta({
    example: '0003',
    description:
      'The tenant schema version of its migration target, in every placement: its own database, its schema, or (pooled) its host’s pool database. Null before its first migration.',
  }),
  createdAt: timestamp,
  updatedAt: timestamp,
  database: z
    .object({
      instanceIdentifier: z.string().meta({ example: 'silo-acme-corp' }),
      instanceClass: z.string().nullable().meta({ example: 'db.m6i.large' }),
      engine: z.string().nullable().meta({ example: 'postgres' }),
      engineVersion: z.string().nullable().meta({ example: '17.6' }),
      multiAz: z.boolean().nullable(),
      storageEncrypted: z.boolean().nullable(),
      endpoint: z
        .object({ host: z.string(), port: z.number().int() })
        .nullable()
        .meta({ description: 'Null until the instance is available.' }),
      databaseName: z.string().nullable().meta({ example: 'app' }),
      appSecretArn: z
        .string()
        .nullable()
        .meta({ description: 'Secrets Manager secret of the application role. No password, ever.' }),
      schemaVersion: z.string().nullable(),
    })
    .nullable()
    .meta({ description: 'Null until an instance exists.' }),
  provisioning: z.object({
    steps: z.array(step),
    lastError: z
      .object({ code: z.string(), message: z.string(), step: z.string() })
      .nullable()
      .meta({ description: 'Why the last provisioning run failed; null when it did not.' }),
  }),
  findings: z.array(finding).meta({
    description: 'What the reconciler found and has not put right (critical first); empty when none.',
  }),
  firingAlarms: z.number().int().nullable().meta({
    description:
      'Alarms of the tenant in state ALARM, from the fleet alarm view the API refreshes every 15 s in the background (never read for this request); null until the API has read CloudWatch once.',
  }),
  change: tenantChange.nullable().meta({
    description:
      'The latest tier change, credential rotation, move or restore, open or ended; null before the first.',
  }),
  restorable: z
    .object({
      earliest: timestamp.meta({
        description: 'The later of its creation and now less the tier’s backupRetentionDays.',
      }),
      latest: timestamp.meta({ description: 'Now less five minutes, RDS’s usual lag.' }),
    })
    .nullable()
    .meta({
      description:
        'An estimate of the window a point-in-time restore can reach, from the tier’s backupRetentionDays and the tenant’s creation, without asking RDS: ' +
        '`POST /v1/tenants/{id}/restores` checks RDS’s real window (422 outside-restore-window names it). ' +
        'Null for a tier that keeps no backups, a schema or pool tenant not on a host yet, a tenant that is not ACTIVE or SUSPENDED, or one too new to have a window. A schema or pool tenant’s is its host’s (the same tier’s retention).',
    }),
});

export const tenantList = z.object({
  items: z.array(tenantResource).meta({ description: 'Newest first.' }),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
});

export const tenantEvent = z.object({
  at: timestamp,
  type: z.string().meta({ example: 'tenant.created' }),
  message: z.string(),
  actor: z.string().meta({ description: 'JWT `sub` of the caller, or `system:<component>` for the worker.' }),
  correlationId: z
    .string()
    .nullable()
    .meta({ description: 'The request id (x-request-id) or job id the change belongs to.' }),
  data: z.record(z.string(), z.unknown()),
});

export const tenantEventList = z.object({
  items: z.array(tenantEvent).meta({ description: 'Oldest first.' }),
});

export const tenantAlarm = z.object({
  name: z.string(),
  metric: z.string().meta({ description: `One of ${ALARM_METRICS.join(', ')}.` }),
  comparison: z.string().meta({ description: 'GreaterThanThreshold or LessThanThreshold.' }),
  threshold: z.number(),
  state: z.string().meta({ description: 'OK, ALARM or INSUFFICIENT_DATA.' }),
  stateReason: z.string(),
  updatedAt: timestamp.nullable(),
});

export const tenantAlarmList = z.object({
  items: z
    .array(tenantAlarm)
    .meta({ description: 'As CloudWatch had them at `readAt`; empty before the alarms step.' }),
  of: z.enum(['tenant', 'host']).meta({
    description:
      'Whose alarms these are: the tenant’s own instance’s, or (schema and pool tenants, which have no instance) its shared host’s, which concern every tenant on that host.',
  }),
  host: sharedHostRef
    .nullable()
    .meta({ description: 'The host whose alarms these are; null when `of` is tenant.' }),
  readAt: timestamp.meta({
    description:
      'When CloudWatch was read. The API reads it every 15 s in the background; a failed read keeps the last answer, so an old readAt means CloudWatch has not answered since.',
  }),
});

const tierProfileFields = {
  tier: z.enum(TIER_NAMES),
  instanceClass: z.string().meta({ example: 'db.m6i.large' }),
  engineVersion: z.string().meta({ example: '17.6' }),
  storage: z.object({
    type: z.literal('gp3'),
    allocatedGiB: z.number().int(),
    iops: z.number().int().optional(),
    throughputMiBps: z.number().int().optional(),
  }),
  multiAz: z.boolean(),
  deletionProtection: z.boolean(),
  backupRetentionDays: z.number().int(),
  performanceInsights: z.discriminatedUnion('enabled', [
    z.object({ enabled: z.literal(false) }),
    z.object({ enabled: z.literal(true), retentionDays: z.number().int() }),
  ]),
  alarms: z.object({
    cpuHighPercent: z.number(),
    freeStorageLowPercent: z.number(),
    connectionsHighPercent: z.number(),
    freeableMemoryLowPercent: z.number(),
  }),
};

/** A tier profile: for `instance` the instance fields size each tenant's own instance, for `schema` and `pool` each shared host. */
export const tierProfile = z.discriminatedUnion('placement', [
  z.object({
    placement: z.literal('instance').meta({ description: 'Each tenant gets its own RDS instance.' }),
    ...tierProfileFields,
  }),
  z.object({
    placement: z.enum(['schema', 'pool']).meta({
      description:
        '`schema`: a schema and login role each on a shared host; `pool`: rows in the shared tables of a host’s pool database. The instance fields size the host.',
    }),
    capacity: z.object({
      tenantsPerHost: z.number().int(),
      connectionBudget: z
        .number()
        .int()
        .meta({ description: 'Connections all tenants of one host may hold together.' }),
    }),
    ...tierProfileFields,
  }),
]);

export const tierList = z.object({ items: z.array(tierProfile) });
