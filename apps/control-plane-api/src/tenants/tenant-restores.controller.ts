import { Body, Controller, Delete, Get, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam } from '@nestjs/swagger';
import { ProvisioningError, TenantError, TenantErrorCode } from '@silo/core';
import { parseInput, problem } from '@silo/http';
import { ProvisioningSettings, TenantRestores, type RestoreRequest } from '@silo/fleet';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems, ApiTenantParam } from '../openapi/openapi.decorators';
import { schemaRef } from '../openapi/openapi.schemas';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import type { RestoreCopyResource } from './tenant-restore.responses';
import { restoreCopyView } from './tenant-restore.view';
import { restoreRunParam, restoreTenantBody, type RestoreTenantBody } from './tenant.requests';
import { TenantViews } from './tenant-views';

const BUSY =
  'Another change, a rollout’s migration or deprovisioning holds the tenant (`heldBy` says which), or it is not ACTIVE or SUSPENDED (`tenantStatus`).';

/**
 * Restores of tenants: this far, a copy of an instance tenant's data beside it, restored to a point
 * in time (a change of kind `restore`), read through a read-only login and removed after a while.
 * Restores and removals are admin's; the copies are listed for sre and admin.
 */
@Roles('admin')
@ReadsLimited()
@Controller('v1/tenants')
export class TenantRestoresController {
  constructor(
    private readonly restores: TenantRestores,
    private readonly views: TenantViews,
    private readonly settings: ProvisioningSettings,
  ) {}

  /**
   * 202 and the tenant, its `change` (kind `restore`) RUNNING; the restore job is written to the
   * outbox in the same transaction. A restore Silo cannot make is 422 naming the rule, and nothing
   * is recorded.
   */
  @ApiOperation({
    summary: 'Restore a tenant’s data as a copy beside it',
    description:
      'Runs a `restore` saga: RDS restores the tenant’s instance to the point in time (RestoreDBInstanceToPointInTime; ' +
      '`latest` is the latest restorable moment when asked), or a snapshot of it (RestoreDBInstanceFromDBSnapshot: ' +
      'one Silo took, its final snapshot included), into a new instance beside it, with the ' +
      'tier’s class and storage, in one zone, without backups of its own; the copy gets a master ' +
      'password and a read-only login of its own, each in a Secrets Manager secret. Once ready the ' +
      'copy is listed by `GET /v1/tenants/{id}/restores` (with the name of its reader’s secret) and ' +
      'removed RESTORE_COPY_TTL_HOURS later, or earlier on request. The tenant is served throughout, ' +
      'untouched; a failure removes what the restore made (the change ends FAILED). Only a tenant ' +
      'on an instance of its own is restored yet, and only as a copy.',
  })
  @ApiTenantParam()
  @ApiBody({ required: true, schema: schemaRef('RestoreTenantRequest') })
  @ApiJsonResponse(202, 'Tenant', 'The tenant, with `change` (kind `restore`) RUNNING.')
  @ApiProblems({
    400: 'The body is not `{source, mode, rollout?}` with exactly one of `source.pointInTime` (an ISO 8601 date-time with an offset), `source.snapshot` and `source.latest` (true), and mode copy or replace; `errors` names each field.',
    404: 'No tenant has this id or slug.',
    409: BUSY,
    422:
      'The restore is refused before anything is recorded; `rule` names why: restore-not-supported (a schema or pool tenant from a snapshot, `placement`: restore it to a point in time), ' +
      'rollout-needs-replace (`rollout` with mode copy), ' +
      'snapshot-unknown (`snapshot`: not a snapshot of this tenant’s instance), snapshot-not-ready (it is still being made), ' +
      'no-backups (the tier keeps no backups, the tenant has no instance, or the instance has no restorable backups yet), ' +
      'point-in-time-invalid (not a time), outside-restore-window (`earliest` and `latest` give the instance’s restorable window), mode-unknown.',
    503: 'RDS could not be read to find the restorable window or the snapshot; nothing was recorded.',
  })
  @Mutating()
  @Post(':idOrSlug/restores')
  @HttpCode(202)
  async restore(
    @Param('idOrSlug') idOrSlug: string,
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ) {
    const input = parseInput(restoreTenantBody, body, 'body');
    const tenant = await this.views.required(idOrSlug);
    try {
      return this.views.view(
        await this.restores.requestRestore(tenant.id, restoreRequest(input), sagaContext(req)),
      );
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(
        problem(503, `RDS did not answer (${error.code}); nothing was recorded, try again.`),
        503,
      );
    }
  }

  @ApiOperation({
    summary: 'A tenant’s restore copies, newest first',
    description:
      'Each copy a restore made, removed ones too: where it lives, where to connect and the name of ' +
      'the Secrets Manager secret of its read-only login (never a value), and when it is removed. ' +
      'A restore still running has no copy yet: the tenant’s `change` shows its steps.',
  })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'RestoreCopyList', 'The tenant’s restore copies; empty before the first.')
  @ApiProblems({ 404: 'No tenant has this id or slug.' })
  @Roles('sre', 'admin')
  @Get(':idOrSlug/restores')
  async list(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.views.required(idOrSlug);
    const copies = await this.restores.copies(tenant.id);
    return { items: copies.map((c) => restoreCopyView(c, this.settings.defaultRegion)) };
  }

  @ApiOperation({
    summary: 'Remove a restore copy now',
    description:
      'Brings an AVAILABLE copy’s removal forward to now (its `expiresAt` becomes now): the worker ' +
      'deletes its instance (no final snapshot: the tenant’s own backups are untouched), its logins ' +
      'and both its secrets at once, and the copy goes REMOVING → REMOVED. A copy already REMOVING ' +
      'or REMOVED is answered as it is, 202 again.',
  })
  @ApiTenantParam()
  @ApiParam({
    name: 'run',
    description: 'The copy’s `run`: the restore change that made it.',
    schema: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
  })
  @ApiJsonResponse(202, 'RestoreCopy', 'The copy, its removal due now.')
  @ApiProblems({
    400: '`run` is not a positive integer.',
    404: 'No tenant has this id or slug, or it has no restore copy of this run.',
  })
  @Mutating()
  @Delete(':idOrSlug/restores/:run')
  @HttpCode(202)
  async remove(
    @Param('idOrSlug') idOrSlug: string,
    @Param('run') rawRun: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<RestoreCopyResource> {
    const run = restoreRun(rawRun);
    const tenant = await this.views.required(idOrSlug);
    try {
      return restoreCopyView(
        await this.restores.removeCopy(tenant.id, run, sagaContext(req)),
        this.settings.defaultRegion,
      );
    } catch (error) {
      if (error instanceof TenantError && error.code === TenantErrorCode.TENANT_NOT_FOUND)
        throw new HttpException(problem(404, `${tenant.slug} has no restore copy ${run}.`), 404);
      throw error;
    }
  }
}

/** The body's one source as the service takes it. */
function restoreRequest({ source, mode, rollout }: RestoreTenantBody): RestoreRequest {
  const also = rollout ? { rollout } : {};
  if (source.pointInTime !== undefined) return { source: { pointInTime: source.pointInTime }, mode, ...also };
  if (source.snapshot !== undefined) return { source: { snapshot: source.snapshot }, mode, ...also };
  return { source: { latest: true }, mode, ...also };
}

/** The path's `run`, or 400 naming `path.run` (the request parsers of @silo/http take no path parts). */
function restoreRun(raw: string): number {
  const parsed = restoreRunParam.safeParse(raw);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues[0]?.message ?? 'must be a positive integer';
  throw new HttpException(
    problem(400, `path.run: ${message}`, { errors: [{ field: 'path.run', message }] }),
    400,
  );
}
