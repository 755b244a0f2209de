import { ORPHAN_TYPES } from '@silo/control-plane-db';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';
import { hostFinding } from '../hosts/host.responses';
import { finding } from '../tenants/tenant.responses';

export const reconcileQueued = z.object({
  jobId: z.string().meta({ example: 'reconcile-6f1c…' }),
});

/** Codes of a reconcile pass's `error`. */
export const RECONCILE_PASS_ERROR_CODES = ['PASS_INCOMPLETE'] as const;

const passError = z.object({ code: z.enum(RECONCILE_PASS_ERROR_CODES), message: z.string() });
type PassError = z.infer<typeof passError>;

/**
 * A pass's recorded error as the API shows it: a code and a generic message. The recorded text
 * names tenants and quotes AWS and PostgreSQL errors; it stays in the control-plane database
 * and the worker's log.
 */
export function passErrorView(error: string | null): PassError | null {
  return error === null
    ? null
    : {
        code: 'PASS_INCOMPLETE',
        message:
          'Some items could not be checked and were left for the next pass; the worker’s log has the detail.',
      };
}

const count = (description: string) => z.number().int().meta({ description });

export const reconciliationResource = z.object({
  lastPass: z
    .object({
      id: z.string().meta({ format: 'uuid' }),
      triggeredBy: z.string().meta({ description: '`schedule`, or who asked with POST /v1/reconcile.' }),
      startedAt: timestamp,
      finishedAt: timestamp.nullable().meta({ description: 'Null while the pass runs.' }),
      tenantsChecked: count('Tenants looked at: those in a saga, and the ACTIVE and SUSPENDED ones.'),
      redriven: count('Tenants, rollout tenants and shared hosts whose lost job was queued again.'),
      drift: z.object({
        checked: count('ACTIVE and SUSPENDED tenants compared with their tier profile.'),
        hostsChecked: count('Available shared hosts compared with their record and their tier’s profile.'),
        repaired: count('Settings, tags and alarms this pass put back, on tenants and hosts.'),
        reported: count('Open reported findings (warning) on tenants and hosts after the pass.'),
        critical: count('Open critical findings on tenants and hosts after the pass.'),
      }),
      orphans: count('Orphaned resources after the pass.'),
      error: passError.nullable().meta({
        description:
          'Set when the pass could not check everything (`PASS_INCOMPLETE`); what failed, and why, is in the worker’s log line `reconcile pass done` of this pass, never here.',
      }),
    })
    .nullable()
    .meta({ description: 'Null before the first pass.' }),
  findings: z
    .array(
      finding.extend({
        tenantId: z.string().meta({ format: 'uuid' }),
        tenantSlug: z.string().meta({ example: 'acme-corp' }),
      }),
    )
    .meta({ description: 'Every open finding on a tenant, critical first.' }),
  hostFindings: z
    .array(
      hostFinding.extend({
        hostId: z.string().meta({ format: 'uuid' }),
        hostName: z.string().meta({ example: 'pool-starter-001' }),
      }),
    )
    .meta({ description: 'Every open finding on a shared host, critical first.' }),
});

export const orphanList = z.object({
  items: z.array(
    z.object({
      type: z.enum(ORPHAN_TYPES),
      name: z.string().meta({ description: 'Instance or snapshot identifier, secret name, alarm name.' }),
      arn: z.string(),
      tenantId: z.string().meta({
        description:
          'The `silo:tenant-id` tag: no tenant, or a DELETED one; empty for a shared host’s resource (its `silo:host-id` tag names no host, or a deleted one).',
      }),
      tags: z.record(z.string(), z.string()),
      since: timestamp.meta({ description: 'When a pass first saw it.' }),
      lastSeen: timestamp,
      deletion: z
        .object({ requestedAt: timestamp.nullable(), error: z.string().nullable() })
        .nullable()
        .meta({ description: 'Set once a deletion was asked for: pending, or why it did not happen.' }),
    }),
  ),
});

export const orphansDeletionQueued = z.object({
  jobId: z.string().meta({ example: 'delete-orphans-6f1c…' }),
  items: z.array(z.object({ type: z.enum(ORPHAN_TYPES), name: z.string() })),
});

export type ReconciliationResource = z.infer<typeof reconciliationResource>;
export type OrphanList = z.infer<typeof orphanList>;
