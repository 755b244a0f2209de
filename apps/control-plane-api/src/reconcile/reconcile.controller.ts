import { Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { Reconciliation } from '@silo/provisioning';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse } from '../openapi/openapi.decorators';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import type { ReconciliationResource } from './reconcile.responses';

/** The reconciler: a pass on demand (admin), and what the last pass did (any role). */
@Roles('ops', 'sre', 'admin')
@Controller('v1')
export class ReconcileController {
  constructor(private readonly reconciliation: Reconciliation) {}

  @ApiOperation({
    summary: 'Queue a reconcile pass now',
    description: 'A worker runs it as soon as it is free; a pass already running makes it a no-op.',
  })
  @ApiJsonResponse(202, 'ReconcileQueued', 'The pass’s job id.')
  @Roles('admin')
  @Mutating()
  @Post('reconcile')
  @HttpCode(202)
  request(@Req() req: AuthenticatedRequest) {
    return this.reconciliation.request(sagaContext(req));
  }

  @ApiOperation({ summary: 'The last reconcile pass: when, what started it, what it checked and re-drove' })
  @ApiJsonResponse(200, 'Reconciliation', 'The last pass, or null before the first.')
  @Get('reconciliation')
  async last(): Promise<ReconciliationResource> {
    const pass = await this.reconciliation.lastPass();
    return {
      lastPass: pass && {
        id: pass.id,
        triggeredBy: pass.triggeredBy,
        startedAt: pass.startedAt.toISOString(),
        finishedAt: pass.finishedAt?.toISOString() ?? null,
        tenantsChecked: pass.tenantsChecked,
        redriven: pass.redriven,
        error: pass.error,
      },
    };
  }
}
