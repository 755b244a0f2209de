import { Controller, Get, HttpException, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { HealthCheckService, TypeOrmHealthIndicator, type HealthCheckResult } from '@nestjs/terminus';
import { problem } from '@silo/http';
import { Public } from '../auth/route-rules';
import { ApiJsonResponse, ApiProblems } from '../openapi/openapi.decorators';
import { RedisHealthIndicator } from './redis.health';

const PROBE_TIMEOUT_MS = 1500;

@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly postgres: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
  ) {}

  /** Liveness: the process answers. Never touches dependencies. */
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiJsonResponse(200, 'Liveness', 'The process is alive.')
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: PostgreSQL and Redis both answer; otherwise 503 naming each that did not. */
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis answer' })
  @ApiJsonResponse(200, 'Readiness', 'Both dependencies answered.')
  @ApiProblems({
    503: 'A dependency did not answer: `detail` names each one, `checks` holds every check’s state.',
  })
  @Get('readyz')
  async readyz(): Promise<HealthCheckResult> {
    try {
      return await this.health.check([
        () => this.postgres.pingCheck('postgres', { timeout: PROBE_TIMEOUT_MS }),
        () => this.redis.pingCheck('redis', PROBE_TIMEOUT_MS),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      const failed = Object.entries(result.error ?? {});
      throw new HttpException(
        problem(
          503,
          `not ready: ${failed.map(([name, d]) => `${name} (${String(d?.message ?? 'down')})`).join(', ')}`,
          {
            checks: result.details,
          },
        ),
        503,
      );
    }
  }
}
