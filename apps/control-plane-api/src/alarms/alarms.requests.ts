import { ALARM_STATES } from '@silo/aws';
import { TIER_NAMES, type TierName } from '@silo/core';
import { z } from 'zod';
import { commaList, cursorParam, pageLimitParam } from '../http/query-params';

/** Where a page of the fleet alarm view ends: the last alarm's state change (ms) and name. */
export interface AlarmCursor {
  updatedAtMs: number;
  name: string;
}

export function encodeAlarmCursor(cursor: AlarmCursor): string {
  return Buffer.from(`a1.${cursor.updatedAtMs}.${cursor.name}`).toString('base64url');
}

const ALARM_CURSOR = /^a1\.(\d{1,16})\.([A-Za-z0-9-]{1,255})$/;

function decodeAlarmCursor(value: string): AlarmCursor | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(value)) return null;
  const match = ALARM_CURSOR.exec(Buffer.from(value, 'base64url').toString('latin1'));
  return match ? { updatedAtMs: Number(match[1]), name: match[2] } : null;
}

/** GET /v1/alarms query. An empty `cursor` is the first page; unknown parameters are refused. */
export const listAlarmsQuery = z.strictObject({
  state: z.enum(ALARM_STATES, { error: `must be one of ${ALARM_STATES.join(', ')}` }).default('ALARM'),
  tier: commaList<TierName>(TIER_NAMES, 'tier'),
  limit: pageLimitParam(200),
  cursor: cursorParam(decodeAlarmCursor),
});
