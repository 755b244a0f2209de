import { Controller, Get, HttpException, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { ALARM_STATES, type AlarmState } from '@silo/aws';
import { ProvisioningError } from '@silo/core';
import { parseInput, problem } from '@silo/http';
import { Roles } from '../auth/route-rules';
import { ApiJsonResponse, ApiProblems, ApiQueryFrom, TIER_FILTER_PARAM } from '../openapi/openapi.decorators';
import { encodeAlarmCursor, listAlarmsQuery } from './alarms.requests';
import type { FleetAlarmList } from './alarms.responses';
import { FLEET_ALARMS_CACHE_MS, FleetAlarms, newestFirst } from './fleet-alarms.service';

const DEFAULT_PAGE_SIZE = 50;

/** The SRE's fleet view: every tenant's alarms in one state. */
@Roles('ops', 'sre', 'admin')
@Controller('v1')
export class AlarmsController {
  constructor(private readonly fleet: FleetAlarms) {}

  @ApiOperation({
    summary: 'Alarms of every tenant in one state, newest state change first',
    description:
      `Read from CloudWatch in pages (DescribeAlarms by name prefix and state) and served from a ` +
      `${FLEET_ALARMS_CACHE_MS / 1000} s cache shared by every caller of this API process.`,
  })
  @ApiQueryFrom(listAlarmsQuery, {
    state: {
      description: 'The state (default ALARM).',
      schema: { type: 'string', enum: [...ALARM_STATES], default: 'ALARM' },
    },
    tier: { description: 'Only alarms of tenants of these tiers (comma-separated).', ...TIER_FILTER_PARAM },
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
    503: 'CloudWatch did not answer; try again.',
  })
  @Get('alarms')
  async list(@Query() rawQuery: unknown): Promise<FleetAlarmList> {
    const query = parseInput(listAlarmsQuery, rawQuery, 'query');
    let all;
    try {
      all = await this.fleet.inState(query.state);
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(problem(503, `CloudWatch did not answer (${error.code}); try again.`), 503);
    }
    const after = query.cursor;
    const matching = all.filter(
      (a) =>
        (!query.tier || query.tier.includes(a.tenant.tier)) &&
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
        tenant: a.tenant,
      })),
      nextCursor:
        matching.length > limit && last
          ? encodeAlarmCursor({ updatedAtMs: last.updatedAt?.getTime() ?? 0, name: last.name })
          : null,
    };
  }
}
