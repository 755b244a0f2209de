import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/** A copy of a tenant's data kept for later: a snapshot of its instance, or a deleted shared tenant's export. */
export const snapshotResource = z.object({
  identifier: z.string().meta({
    example: 'silo-acme-manual-20261207-103200',
    description:
      'The RDS snapshot identifier (`POST /v1/tenants/{id}/restores` takes it as `source.snapshot`), or an export’s S3 object key.',
  }),
  type: z.enum(['manual', 'automated', 'export']).meta({
    description:
      '`automated`: RDS’s daily backup (kept `backupRetentionDays`); `manual`: one Silo took (on request, or the final one of a deletion); `export`: the S3 object a schema or pool tenant’s deletion left.',
  }),
  status: z.string().meta({
    example: 'available',
    description: 'RDS’s status (`creating`, `available`, …); an export is `available`.',
  }),
  createdAt: timestamp.nullable().meta({ description: 'Null while RDS is still making it.' }),
  restorable: z.boolean().meta({
    description:
      'A restore can start from it now: an RDS snapshot that is `available` (exports are not restored yet).',
  }),
  export: z
    .object({
      bucket: z.string(),
      key: z.string(),
      bytes: z.number().int().nullable(),
    })
    .nullable()
    .meta({ description: 'Where an export is; null for RDS snapshots.' }),
});
export type SnapshotResource = z.output<typeof snapshotResource>;

export const snapshotList = z.object({
  items: z.array(snapshotResource).meta({ description: 'Oldest first; one still being made last.' }),
});

export const snapshotRequested = z.object({
  identifier: z.string().meta({
    example: 'silo-acme-manual-20261207-103200',
    description: 'The snapshot’s name, `<instance>-manual-<UTC yyyyMMdd-HHmmss>`.',
  }),
  status: z.literal('requested').meta({
    description:
      'Its job is queued: the worker takes it (`tenant.snapshot_taken`, or `tenant.snapshot_failed` with the reason, in the tenant’s events); `GET …/snapshots` lists it from then on.',
  }),
});
