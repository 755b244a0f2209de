import { Controller, Get, HttpException, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { ALARM_STATES, type AlarmState } from '@silo/aws';
import { ProvisioningError } from '@silo/core';
import { parseInput, problem } from '@silo/http';
import { Roles } from '../auth/route-rules';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import { ApiJsonResponse, ApiProblems, ApiQueryFrom, TIER_FILTER_PARAM } from '../openapi/openapi.decorators';
import { encodeAlarmCursor, listAlarmsQuery } from './alarms.requests';
import type { FleetAlarmList } from './alarms.responses';
import { FLEET_ALARMS_REFRESH_MS, FleetAlarms, newestFirst } from './fleet-alarms.service';

const DEFAULT_PAGE_SIZE = 50;

/** The SRE's fleet view: every tenant's and shared host's alarms in one state. */
@Roles('ops', 'sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class AlarmsController {
  constructor(private readonly fleet: FleetAlarms) {}

  @ApiOperation({
    summary: 'Alarms of every tenant and shared host in one state, newest state change first',
    description:
      `Served from memory: each API process reads every alarm under its prefix from CloudWatch in ` +
      `the background (DescribeAlarms by name prefix, in pages) every ${FLEET_ALARMS_REFRESH_MS / 1000} s, ` +
      'whatever the number of callers; a failed read keeps the last answer (see `readAt`). Only the ' +
      'first read after the API starts is waited for. A shared host’s alarm (`of: host`) names the ' +
      'host and the tenants on it, whom it concerns.',
  })
  @ApiQueryFrom(listAlarmsQuery, {
    state: {
      description: 'The state (default ALARM).',
      schema: { type: 'string', enum: [...ALARM_STATES], default: 'ALARM' },
    },
    tier: {
      description: 'Only alarms of tenants and hosts of these tiers (comma-separated).',
      ...TIER_FILTER_PARAM,
    },
    limit: {
      description: 'Page size.',
      schema: { type: 'integer', minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE },
    },
    cursor: {
      description: 'The `nextCursor` of the previous page (empty: the first page).',
      schema: { type: 'string' },
    },
  })
  @ApiJsonResponse(200, 'FleetAlarmList', 'One page of alarms.')
  @ApiProblems({
    400: 'A query parameter is invalid or unknown; `errors` names each.',
    503: 'CloudWatch has not answered since this API process started; try again.',
  })
  @Get('alarms')
  async list(@Query() rawQuery: unknown): Promise<FleetAlarmList> {
    const query = parseInput(listAlarmsQuery, rawQuery, 'query');
    const { readAt, items: all } = await this.fleet.inState(query.state).catch(alarmsUnavailable);
    const after = query.cursor;
    const matching = all.filter(
      (a) =>
        (!query.tier || query.tier.includes(a.tenant?.tier ?? a.host!.tier)) &&
        (!after || newestFirst(a, { ...a, name: after.name, updatedAt: new Date(after.updatedAtMs) }) > 0),
    );
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const page = matching.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((a) => ({
        name: a.name,
        metric: a.metric,
        comparison: a.comparison,
        threshold: a.threshold,
        state: a.state as AlarmState,
        stateReason: a.stateReason,
        updatedAt: a.updatedAt?.toISOString() ?? null,
        of: a.of,
        tenant: a.tenant,
        host: a.host,
        hostTenants: a.hostTenants,
      })),
      nextCursor:
        matching.length > limit && last
          ? encodeAlarmCursor({ updatedAtMs: last.updatedAt?.getTime() ?? 0, name: last.name })
          : null,
      readAt: readAt.toISOString(),
    };
  }
}

/** 503 when no answer from CloudWatch is in memory yet (the first read failed or timed out). */
export function alarmsUnavailable(error: unknown): never {
  if (!(error instanceof ProvisioningError)) throw error;
  throw new HttpException(problem(503, `CloudWatch did not answer (${error.code}); try again.`), 503);
}
