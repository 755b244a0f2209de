import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

export const reconcileQueued = z.object({
  jobId: z.string().meta({ example: 'reconcile-6f1c…' }),
});

export const reconciliationResource = z.object({
  lastPass: z
    .object({
      id: z.string().meta({ format: 'uuid' }),
      triggeredBy: z.string().meta({ description: '`schedule`, or who asked with POST /v1/reconcile.' }),
      startedAt: timestamp,
      finishedAt: timestamp.nullable().meta({ description: 'Null while the pass runs.' }),
      tenantsChecked: z.number().int(),
      redriven: z
        .number()
        .int()
        .meta({ description: 'Tenants and rollout tenants whose lost job was queued again.' }),
      error: z.string().nullable().meta({ description: 'Why the pass stopped, when it did.' }),
    })
    .nullable()
    .meta({ description: 'Null before the first pass.' }),
});

export type ReconciliationResource = z.infer<typeof reconciliationResource>;
