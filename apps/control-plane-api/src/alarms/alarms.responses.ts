import { ALARM_STATES } from '@silo/aws';
import { TIER_NAMES } from '@silo/core';
import { z } from 'zod';
import { timestampField as timestamp } from '../http/response-fields';

/** One alarm of the fleet view, with the tenant it belongs to. */
export const fleetAlarm = z.object({
  name: z.string().meta({ example: 'silo-acme-corp-CPUUtilization' }),
  metric: z.string(),
  comparison: z.string(),
  threshold: z.number(),
  state: z.enum(ALARM_STATES),
  stateReason: z.string(),
  updatedAt: timestamp.nullable().meta({ description: 'When the alarm last changed state.' }),
  tenant: z.object({
    id: z.string().meta({ format: 'uuid' }),
    slug: z.string(),
    tier: z.enum(TIER_NAMES),
  }),
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
