import { Body, Controller, Get, HttpCode, HttpException, Post, Req } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { parseInput, problem } from '@silo/http';
import { NotAnOrphanError, OrphanDeletion, Reconciliation } from '@silo/fleet';
import { ProvisioningQueue } from '@silo/queue';
import { DataSource } from 'typeorm';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems } from '../openapi/openapi.decorators';
import { schemaRef } from '../openapi/openapi.schemas';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import { findingView } from '../tenants/tenant.view';
import { deleteOrphansBody } from './reconcile.requests';
import { passErrorView, type OrphanList, type ReconciliationResource } from './reconcile.responses';

/**
 * The reconciler: a pass on demand (admin), what the last pass did and found (any role), the
 * orphans it lists, and deleting the ones an admin names.
 */
@Roles('ops', 'sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class ReconcileController {
  constructor(
    private readonly reconciliation: Reconciliation,
    private readonly dataSource: DataSource,
    private readonly queue: ProvisioningQueue,
  ) {}

  @ApiOperation({
    summary: 'Queue a reconcile pass now',
    description:
      'A worker runs it as soon as it is free; while another pass runs, it runs after that one. While a pass asked for earlier has not started yet, that pending pass is the answer (its job id) and nothing more is queued.',
  })
  @ApiJsonResponse(
    202,
    'ReconcileQueued',
    'The job id of the pending pass: a new one, or the one not started yet.',
  )
  @Roles('admin')
  @Mutating()
  @Post('reconcile')
  @HttpCode(202)
  request(@Req() req: AuthenticatedRequest) {
    return this.reconciliation.request(sagaContext(req), this.queue);
  }

  @ApiOperation({
    summary: 'The last reconcile pass and every open finding',
    description:
      'When the last pass ran, what started it, what it checked, re-drove and repaired, and the findings still open on ACTIVE and SUSPENDED tenants and on available shared hosts.',
  })
  @ApiJsonResponse(200, 'Reconciliation', 'The last pass (null before the first) and the open findings.')
  @Get('reconciliation')
  async last(): Promise<ReconciliationResource> {
    const [pass, findings, hostFindings] = await Promise.all([
      this.reconciliation.lastPass(),
      this.reconciliation.openFindings(),
      this.reconciliation.openHostFindings(),
    ]);
    return {
      lastPass: pass && {
        id: pass.id,
        triggeredBy: pass.triggeredBy,
        startedAt: pass.startedAt.toISOString(),
        finishedAt: pass.finishedAt?.toISOString() ?? null,
        tenantsChecked: pass.tenantsChecked,
        redriven: pass.redriven,
        drift: {
          checked: pass.driftChecked,
          hostsChecked: pass.hostsChecked,
          repaired: pass.driftRepaired,
          reported: pass.driftReported,
          critical: pass.driftCritical,
        },
        orphans: pass.orphans,
        error: passErrorView(pass.error),
      },
      findings: findings.map((f) => ({ ...findingView(f), tenantId: f.tenantId, tenantSlug: f.slug })),
      hostFindings: hostFindings.map((f) => ({ ...findingView(f), hostId: f.hostId, hostName: f.hostName })),
    };
  }

  @ApiOperation({
    summary: 'Orphaned AWS resources',
    description:
      'Instances, secrets, alarms and snapshots tagged `managed-by=silo` for this environment whose `silo:tenant-id` names no tenant or a DELETED one (a shared host’s: whose `silo:host-id` names no host or a deleted one), as the last pass found them. A pass never deletes them.',
  })
  @ApiJsonResponse(200, 'OrphanList', 'The orphans, by type and name.')
  @Get('orphans')
  async orphans(): Promise<OrphanList> {
    return {
      items: (await this.reconciliation.orphans()).map((o) => ({
        type: o.type,
        name: o.name,
        arn: o.arn,
        tenantId: o.tenantId,
        tags: o.tags,
        since: o.firstSeenAt.toISOString(),
        lastSeen: o.lastSeenAt.toISOString(),
        deletion:
          o.deletionRequestedAt || o.deletionError
            ? { requestedAt: o.deletionRequestedAt?.toISOString() ?? null, error: o.deletionError }
            : null,
      })),
    };
  }

  @ApiOperation({
    summary: 'Delete orphans',
    description:
      'Queues the deletion of the listed orphans. Every item must be listed by GET /v1/orphans, or nothing is queued (422). The worker reads each one’s tags again and deletes it only while they still say `managed-by=silo`, this environment and no live tenant: an instance without a final snapshot, a secret with the recovery window, an alarm, a snapshot.',
  })
  @ApiBody({ required: true, schema: schemaRef('DeleteOrphansRequest') })
  @ApiJsonResponse(202, 'OrphansDeletionQueued', 'The job and the orphans it deletes.')
  @ApiProblems({
    400: 'The body is invalid; `errors` names each field.',
    422: 'An item is not a listed orphan (`items` names them); nothing was queued.',
  })
  @Roles('admin')
  @Mutating()
  @Post('orphans/delete')
  @HttpCode(202)
  async deleteOrphans(@Body() body: unknown, @Req() req: AuthenticatedRequest) {
    const { items } = parseInput(deleteOrphansBody, body, 'body');
    try {
      return await new OrphanDeletion(this.dataSource).request(items, sagaContext(req));
    } catch (error) {
      if (error instanceof NotAnOrphanError) {
        throw new HttpException(problem(422, error.message, { items: error.refs }), 422);
      }
      throw error;
    }
  }
}
