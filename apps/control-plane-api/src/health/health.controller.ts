import { Controller, Get, HttpException } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { problem } from '@silo/http';
import { Public } from '../auth/route-rules';
import { ApiJsonResponse, ApiProblems } from '../openapi/openapi.decorators';
import { READINESS_CACHE_MS, ReadinessService, type ReadinessCheck } from './readiness.service';

type CheckStates = Partial<Record<ReadinessCheck, { status: 'up' | 'down' }>>;

@Public()
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  /** Liveness: the process answers. Never touches dependencies. */
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiJsonResponse(200, 'Liveness', 'The process is alive.')
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: PostgreSQL and Redis both answer; otherwise 503 naming each that did not. The
   * answer is shared for a second; why a check failed is logged, never answered.
   */
  @ApiOperation({
    summary: 'Readiness: PostgreSQL and Redis answer',
    description: `One check serves every call for ${READINESS_CACHE_MS} ms. The answer names the dependencies only (up or down); why one did not answer is in the API's log.`,
  })
  @ApiJsonResponse(200, 'Readiness', 'Both dependencies answered.')
  @ApiProblems({
    503: 'A dependency did not answer: `detail` names each one, `checks` holds every check’s state (`up` or `down`).',
  })
  @Get('readyz')
  async readyz(): Promise<{ status: 'ok'; info: CheckStates; error: CheckStates; details: CheckStates }> {
    const { ready, checks } = await this.readiness.current();
    const states = (which: 'up' | 'down' | 'any'): CheckStates =>
      Object.fromEntries(
        Object.entries(checks)
          .filter(([, status]) => which === 'any' || status === which)
          .map(([name, status]) => [name, { status }]),
      );
    if (ready) return { status: 'ok', info: states('up'), error: {}, details: states('any') };
    const failed = Object.keys(states('down'));
    throw new HttpException(problem(503, `not ready: ${failed.join(', ')}`, { checks: states('any') }), 503);
  }
}
