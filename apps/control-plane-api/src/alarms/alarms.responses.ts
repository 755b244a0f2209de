import { ALARM_STATES } from '@silo/aws';
import { TIER_NAMES } from '@silo/core';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/** Tenants a host's alarm names (its `hostTenants.count` says how many there are in all). */
export const HOST_TENANTS_LISTED = 20;

const alarmTenant = z.object({
  id: z.string().meta({ format: 'uuid' }),
  slug: z.string(),
  tier: z.enum(TIER_NAMES),
});

/** One alarm of the fleet view, with the tenant or the shared host it belongs to. */
export const fleetAlarm = z.object({
  name: z.string().meta({ example: 'silo-acme-corp-CPUUtilization' }),
  metric: z.string(),
  comparison: z.string(),
  threshold: z.number(),
  state: z.enum(ALARM_STATES),
  stateReason: z.string(),
  updatedAt: timestamp.nullable().meta({ description: 'When the alarm last changed state.' }),
  of: z.enum(['tenant', 'host']).meta({
    description:
      'Whose alarm it is: a tenant’s own instance’s, or a shared host’s, which concerns every tenant on that host (a schema or pool tenant’s alarms are its host’s).',
  }),
  tenant: alarmTenant
    .nullable()
    .meta({ description: 'The tenant whose instance it is; null when `of` is host.' }),
  host: z
    .object({
      id: z.string().meta({ format: 'uuid' }),
      name: z.string().meta({ example: 'pool-starter-001' }),
      placement: z.enum(['schema', 'pool']),
      tier: z.enum(TIER_NAMES),
    })
    .nullable()
    .meta({ description: 'The shared host whose instance it is; null when `of` is tenant.' }),
  hostTenants: z
    .object({
      count: z.number().int().meta({ description: 'Tenants on the host that are not DELETED.' }),
      items: z.array(alarmTenant).meta({ description: `The first ${HOST_TENANTS_LISTED} of them by slug.` }),
    })
    .nullable()
    .meta({ description: 'For a host’s alarm, the tenants it concerns; null when `of` is tenant.' }),
});

export const fleetAlarmList = z.object({
  items: z.array(fleetAlarm).meta({ description: 'Newest state change first.' }),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
  readAt: timestamp.meta({
    description:
      'When CloudWatch was read. The API reads it every 15 s in the background; a failed read keeps the last answer, so an old readAt means CloudWatch has not answered since.',
  }),
});
export type FleetAlarmList = z.output<typeof fleetAlarmList>;
