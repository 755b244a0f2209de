import { Controller, Get, HttpException, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, TypeOrmHealthIndicator, type HealthCheckResult } from '@nestjs/terminus';
import { Public } from '../auth/route-rules';
import { problem } from '../http/problem-details';
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
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: PostgreSQL and Redis both answer; otherwise 503 naming each that did not. */
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
