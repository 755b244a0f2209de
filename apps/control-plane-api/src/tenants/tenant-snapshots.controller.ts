import { Controller, Get, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { ProvisioningError } from '@silo/core';
import { problem } from '@silo/http';
import { TenantSnapshots, type TenantSnapshot } from '@silo/fleet';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems, ApiTenantParam } from '../openapi/openapi.decorators';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import type { SnapshotResource } from './tenant-snapshot.responses';
import { TenantViews } from './tenant-views';

/**
 * A tenant's snapshots: listed for sre and admin (an instance tenant's from RDS, a deleted shared
 * tenant's exports from its events), and a manual snapshot of an instance tenant on admin's request.
 */
@Roles('admin')
@ReadsLimited()
@Controller('v1/tenants')
export class TenantSnapshotsController {
  constructor(
    private readonly snapshots: TenantSnapshots,
    private readonly views: TenantViews,
  ) {}

  @ApiOperation({
    summary: 'A tenant’s snapshots, oldest first',
    description:
      'An instance tenant’s: its instance’s automated and manual snapshots (a final one of a deletion included), ' +
      'read from RDS in its region; `restorable` ones are what `POST /v1/tenants/{id}/restores` takes as `source.snapshot`. ' +
      'A schema or pool tenant has no instance: its list holds the S3 exports its deletion recorded (`type` export), ' +
      'and is empty while it lives.',
  })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'SnapshotList', 'The tenant’s snapshots and exports; empty before the first.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    503: 'RDS could not be read for the instance’s snapshots; try again.',
  })
  @Roles('sre', 'admin')
  @Get(':idOrSlug/snapshots')
  async list(@Param('idOrSlug') idOrSlug: string): Promise<{ items: SnapshotResource[] }> {
    const tenant = await this.views.required(idOrSlug);
    try {
      return { items: (await this.snapshots.snapshots(tenant)).map(snapshotView) };
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(problem(503, `RDS did not answer (${error.code}); try again.`), 503);
    }
  }

  /** 202 and the snapshot's name; its job is written to the outbox with the request's event. */
  @ApiOperation({
    summary: 'Take a manual snapshot of a tenant',
    description:
      'Queues a manual snapshot. An instance tenant’s is a snapshot of its instance, `<instance>-manual-<UTC stamp>`, tagged as the tenant’s: ' +
      'the worker takes it (CreateDBSnapshot; the local backend keeps a dump of the database under the same name). ' +
      'A schema or pool tenant has no instance: its snapshot is an export to S3 as at its deletion (a `pg_dump` of its schema, ' +
      'or its rows of each table), `<prefix>/exports/<slug>/<UTC stamp>.dump` or `.ndjson`, encrypted and tagged, kept for ' +
      'TENANT_EXPORT_RETENTION_DAYS. Either way the worker records `tenant.snapshot_taken`, or `tenant.snapshot_failed` with why, ' +
      'and `GET …/snapshots` lists it. Manual snapshots are kept until deleted, beyond the tier’s backup retention (RDS bills their storage).',
  })
  @ApiTenantParam()
  @ApiJsonResponse(202, 'SnapshotRequested', 'The snapshot’s name; its job is queued.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409: 'The tenant is not ACTIVE or SUSPENDED (`tenantStatus` says what it is), or a schema or pool tenant is on no host.',
  })
  @Mutating()
  @Post(':idOrSlug/snapshots')
  @HttpCode(202)
  async take(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    return this.snapshots.requestSnapshot(tenant.id, sagaContext(req));
  }
}

function snapshotView(s: TenantSnapshot): SnapshotResource {
  return {
    identifier: s.identifier,
    type: s.type,
    status: s.status,
    createdAt: s.createdAt?.toISOString() ?? null,
    restorable: s.restorable,
    export: s.export ? { ...s.export } : null,
  };
}
