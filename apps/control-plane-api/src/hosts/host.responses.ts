import { HOST_STATUSES } from '@silo/control-plane-db';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';
import { finding, tenantAlarm } from '../tenants/tenant.responses';

/** A reconciler finding on a shared host: as a tenant's, with the host's own fields. */
export const hostFinding = finding.extend({
  field: z.string().meta({
    example: 'instance.deletionProtection',
    description:
      '`instance…` (the host’s instance against its tier’s profile), `host.…` (its record: capacity, connection budget, tier), `secret:master…`, `secret:pool-app…` or `alarm:<metric>…`.',
  }),
});

/**
 * The bodies the host routes answer with, as zod schemas: the OpenAPI document is generated from
 * them, and host.view.ts produces exactly these types. Never a credential.
 */
export const hostResource = z.object({
  id: z.string().meta({ format: 'uuid' }),
  name: z.string().meta({ example: 'pool-starter-001', description: '`<placement>-<tier>-<ordinal>`.' }),
  placement: z.enum(['schema', 'pool']),
  tier: z.string().meta({ example: 'starter' }),
  region: z.string().nullable().meta({
    example: 'eu-central-1',
    description:
      'The AWS region of its instance, secrets and alarms; every tenant on it lives there. Null: the default region (a host made before regions existed).',
  }),
  status: z.enum(HOST_STATUSES),
  instanceIdentifier: z.string().meta({ example: 'silo-host-pool-starter-001' }),
  tenantsPlaced: z.number().int().meta({ description: 'Tenants on the host that are not DELETED.' }),
  capacity: z.object({
    tenants: z.number().int().meta({ description: 'Tenants the host takes.' }),
    connectionBudget: z
      .number()
      .int()
      .meta({ description: 'Connections all its tenants may hold together.' }),
  }),
  endpoint: z
    .object({
      host: z.string(),
      port: z.number().int(),
      database: z.string().meta({ example: 'app' }),
    })
    .nullable()
    .meta({ description: 'Null until the instance is available. No credentials, ever.' }),
  error: z
    .object({ code: z.string(), message: z.string(), step: z.string().nullable() })
    .nullable()
    .meta({ description: 'Why the host is `failed`; null otherwise.' }),
  emptySince: timestamp.nullable().meta({ description: 'Since when the host has had no tenant.' }),
  createdAt: timestamp,
  updatedAt: timestamp,
  deletedAt: timestamp.nullable(),
  alarms: z
    .object({
      items: z
        .array(tenantAlarm)
        .meta({ description: 'The host’s alarms (`<prefix>-host-<name>-<metric>`).' }),
      readAt: timestamp.meta({ description: 'When CloudWatch was read (every 15 s, in the background).' }),
    })
    .nullable()
    .meta({ description: 'Null while this API process has no answer from CloudWatch yet.' }),
  findings: z.array(hostFinding).meta({
    description:
      'What the reconciler found on an available host and has not put right (critical first); empty when none.',
  }),
});

export const hostList = z.object({
  items: z.array(hostResource).meta({ description: 'Newest first.' }),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
});
export type HostResource = z.output<typeof hostResource>;
export type HostList = z.output<typeof hostList>;
