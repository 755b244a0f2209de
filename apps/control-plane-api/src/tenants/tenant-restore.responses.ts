import { RESTORE_COPY_STATUSES } from '@silo/control-plane-db';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/** A restore copy: a tenant's data restored beside it. Names of secrets only, never a value. */
export const restoreCopyResource = z.object({
  run: z.number().int().meta({
    description:
      'The restore change that made it (the tenant’s change number): `DELETE /v1/tenants/{id}/restores/{run}` names it.',
  }),
  status: z.enum(RESTORE_COPY_STATUSES).meta({
    description: '`AVAILABLE`: it can be read; `REMOVING`: its removal is running; `REMOVED`: it is gone.',
  }),
  source: z
    .union([
      z.object({ pointInTime: timestamp }),
      z.object({ snapshot: z.string() }),
      z.object({ latest: z.literal(true) }),
      z.object({ replacedAt: timestamp }),
    ])
    .meta({
      description:
        'What its restore asked for (`latest`: the change’s `from` names the moment); `replacedAt`: the tenant’s own data as it was when a restore in place (`mode: replace`) replaced it, at that moment.',
    }),
  region: z
    .string()
    .meta({ example: 'eu-central-1', description: 'The AWS region it lives in: the tenant’s.' }),
  instanceIdentifier: z.string().meta({ example: 'silo-restore-acme-3' }),
  readerSecretName: z.string().meta({
    example: 'silo/restore-acme-3/app',
    description:
      'The Secrets Manager secret of its read-only login (host, port, dbname, username, password): read it from there. Only its name is ever answered.',
  }),
  endpoint: z.object({ host: z.string(), port: z.number().int(), database: z.string() }).nullable().meta({
    description: 'Where to connect with the reader’s login; null when the control plane has none on record.',
  }),
  createdAt: timestamp,
  expiresAt: timestamp.meta({
    description:
      'When it is removed (RESTORE_COPY_TTL_HOURS after it was ready), or when its removal was asked for.',
  }),
  removedAt: timestamp.nullable(),
});
export type RestoreCopyResource = z.output<typeof restoreCopyResource>;

export const restoreCopyList = z.object({
  items: z.array(restoreCopyResource).meta({ description: 'Newest first, removed ones too.' }),
});
