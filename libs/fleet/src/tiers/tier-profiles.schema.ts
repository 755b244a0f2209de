import { isPlacement, PLACEMENTS, type TierName } from '@silo/core';
import { z } from 'zod';
import { INSTANCE_CLASSES, instanceClass } from './instance-classes';

/** Below this size RDS gp3 has a fixed baseline and rejects Iops/StorageThroughput. */
export const GP3_PROVISIONED_FROM_GIB = 400;
export const GP3_IOPS = { min: 12_000, max: 64_000 } as const;
export const GP3_THROUGHPUT_MIBPS = { min: 500, max: 4000 } as const;
const MIN_ENGINE_MAJOR = 13;
/**
 * The share of a shared host's `max_connections` its tenants' connection budget leaves free: for
 * Silo's own sessions (migrations, provisioning, the reconciler) and the slots RDS reserves, and
 * because RDS's formula counts memory the instance partly keeps for itself.
 */
export const HOST_CONNECTION_HEADROOM_PERCENT = 20;

const knownClasses = Object.keys(INSTANCE_CLASSES).join(', ');

// The cross-field rules below also run when sibling fields are invalid, so that one error names
// every problem; they therefore check the types of the fields they read themselves.
const whenObject = {
  when: (payload: { value: unknown }) => typeof payload.value === 'object' && payload.value !== null,
};

const storageSchema = z
  .object({
    type: z.literal('gp3'),
    allocatedGiB: z.number().int().min(20).max(65_536),
    iops: z.number().int().optional(),
    throughputMiBps: z.number().int().optional(),
  })
  .strict()
  .superRefine((storage, ctx) => {
    if (typeof storage.allocatedGiB !== 'number') return;
    const belowProvisioned = storage.allocatedGiB < GP3_PROVISIONED_FROM_GIB;
    const rules = [
      ['iops', 'IOPS', GP3_IOPS],
      ['throughputMiBps', 'MiB/s', GP3_THROUGHPUT_MIBPS],
    ] as const;
    for (const [field, unit, range] of rules) {
      const value = storage[field];
      if (typeof value !== 'number') continue;
      if (belowProvisioned) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must not be set below ${GP3_PROVISIONED_FROM_GIB} GiB of gp3 storage (allocatedGiB is ${storage.allocatedGiB}); AWS rejects Iops/StorageThroughput there`,
        });
      } else if (value < range.min || value > range.max) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must be ${range.min}..${range.max} ${unit} for gp3 storage`,
        });
      }
    }
  }, whenObject);

const engineVersionSchema = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a PostgreSQL version such as 16 or 16.4')
  .refine(
    (version) => !/^\d+/.test(version) || Number.parseInt(version, 10) >= MIN_ENGINE_MAJOR,
    `must be major version ${MIN_ENGINE_MAJOR} or later`,
  );

const performanceInsightsSchema = z.discriminatedUnion('enabled', [
  z.object({ enabled: z.literal(false) }).strict(),
  z
    .object({
      enabled: z.literal(true),
      retentionDays: z
        .number()
        .int()
        .refine(
          (days) => days === 7 || days === 731 || (days >= 31 && days <= 713 && days % 31 === 0),
          'must be 7, 731 or a multiple of 31 up to 713 (days)',
        ),
    })
    .strict(),
]);

const percent = z.number().gt(0, 'must be greater than 0').lt(100, 'must be less than 100');

const alarmsSchema = z
  .object({
    cpuHighPercent: percent,
    freeStorageLowPercent: percent,
    connectionsHighPercent: percent,
    freeableMemoryLowPercent: percent,
  })
  .strict();

const capacitySchema = z
  .object({
    tenantsPerHost: z.number().int().min(1),
    connectionBudget: z.number().int().min(1),
  })
  .strict();

/** The most connections the tenants of one host on `name` may hold together. */
export function maxConnectionBudget(name: string): number | undefined {
  const info = instanceClass(name);
  return info && Math.floor((info.maxConnections * (100 - HOST_CONNECTION_HEADROOM_PERCENT)) / 100);
}

type ProfileFields = { [key: string]: unknown };

function checkMultiAz(profile: ProfileFields, ctx: z.RefinementCtx): void {
  if (profile.multiAz !== true || typeof profile.instanceClass !== 'string') return;
  const info = instanceClass(profile.instanceClass);
  if (info && !info.multiAz) {
    ctx.addIssue({
      code: 'custom',
      path: ['multiAz'],
      message: `is not allowed on ${info.name}; choose a larger class or set multiAz to false`,
    });
  }
}

function checkCapacity(profile: ProfileFields, ctx: z.RefinementCtx): void {
  const { placement, capacity, instanceClass: name } = profile;
  if (!isPlacement(placement)) return;
  if (placement === 'instance') {
    if (capacity !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['capacity'],
        message:
          "is only for shared placements (schema, pool); this tier's placement is instance, " +
          'one RDS instance per tenant',
      });
    }
    return;
  }
  if (capacity === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['capacity'],
      message: `is required when placement is ${placement}: { "tenantsPerHost": …, "connectionBudget": … } for each host`,
    });
    return;
  }
  const budget = (capacity as ProfileFields | null)?.connectionBudget;
  if (typeof budget !== 'number' || typeof name !== 'string') return;
  const most = maxConnectionBudget(name);
  if (most !== undefined && budget > most) {
    ctx.addIssue({
      code: 'custom',
      path: ['capacity', 'connectionBudget'],
      message:
        `must be at most ${most} on ${name}: its max_connections is ${instanceClass(name)?.maxConnections}, ` +
        `and a host keeps ${HOST_CONNECTION_HEADROOM_PERCENT}% of them free for Silo's own sessions and RDS's reserved ones`,
    });
  }
}

const profileSchema = z
  .object({
    placement: z.enum(PLACEMENTS, { error: `must be one of ${PLACEMENTS.join(', ')}` }).default('instance'),
    capacity: capacitySchema.optional(),
    instanceClass: z.string().refine((name) => instanceClass(name) !== undefined, {
      error: (issue) => `${JSON.stringify(issue.input)} is not offered; known classes: ${knownClasses}`,
    }),
    engineVersion: engineVersionSchema,
    storage: storageSchema,
    multiAz: z.boolean(),
    deletionProtection: z.boolean(),
    backupRetentionDays: z.number().int().min(0).max(35),
    performanceInsights: performanceInsightsSchema,
    alarms: alarmsSchema,
  })
  .strict()
  .superRefine((profile, ctx) => {
    checkMultiAz(profile, ctx);
    checkCapacity(profile, ctx);
  }, whenObject);

/**
 * A tier profiles document: `{ "tiers": { "starter": …, "pro": …, "enterprise": … } }`, each a
 * `TierProfile` without `tier`. Every tier is required and unknown keys are rejected; the
 * rules mirror what RDS would reject at CreateDBInstance. `placement` defaults to `instance`;
 * `capacity` is required for `schema` and `pool` and refused for `instance`.
 */
export const tierProfilesSchema = z
  .object({
    tiers: z
      .object({
        starter: profileSchema,
        pro: profileSchema,
        enterprise: profileSchema,
      } satisfies Record<TierName, typeof profileSchema>)
      .strict(),
  })
  .strict();

/** A tier profiles document as written in a file. */
export type TierProfilesDocument = z.input<typeof tierProfilesSchema>;
