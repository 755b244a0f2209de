import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { parseInput } from '@silo/http';
import { TenantMoves } from '@silo/fleet';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems, ApiTenantParam } from '../openapi/openapi.decorators';
import { schemaRef } from '../openapi/openapi.schemas';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { moveTenantBody } from './tenant.requests';
import { TenantViews } from './tenant-views';

const BUSY =
  'Another change, a rollout’s migration or deprovisioning holds the tenant (`heldBy` says which), or it is not ACTIVE or SUSPENDED (`tenantStatus`).';

/** Moves of live tenants to another placement or region (a change of kind `move`). Admin only. */
@Roles('admin')
@Controller('v1/tenants')
export class TenantMovesController {
  constructor(
    private readonly moves: TenantMoves,
    private readonly views: TenantViews,
  ) {}

  /**
   * 202 and the tenant, its `change` (kind `move`) RUNNING; the move job is written to the outbox
   * in the same transaction. A move Silo cannot make is 422 naming the rule, and nothing is recorded.
   */
  @ApiOperation({
    summary: 'Move a live tenant to another placement or region',
    description:
      'Runs a `move` saga: a target is made beside the live tenant (an instance of its own, made by ' +
      'the provisioning steps, or a place on a pool host of the target tier and region), the tenant’s ' +
      'tables are copied by logical replication while it stays served where it is, then a cut-over ' +
      'pauses its writes, checks both sides agree and switches the tenant to the target in one ' +
      'transaction; `change.cutOver` then says how long writes were paused. The source is removed ' +
      'MOVE_SOURCE_RETENTION_HOURS later (`change.sourceRemovalDueAt`). The placement follows the tier: ' +
      'name the tier, and the placement only to say which you expect. Before its cut-over a move can ' +
      'be aborted (`…/move/abort`); a failure then removes the target and the tenant stays where it was.',
  })
  @ApiTenantParam()
  @ApiBody({ required: true, schema: schemaRef('MoveTenantRequest') })
  @ApiJsonResponse(202, 'Tenant', 'The tenant, with `change` (kind `move`) RUNNING.')
  @ApiProblems({
    400: 'The body is not `{placement?, region?, tier?}` with at least one of them, a known placement, tier and a region name; `errors` names each field.',
    404: 'No tenant has this id or slug.',
    409: BUSY,
    422:
      'The move is refused before anything is recorded; `rule` names why: placement-of-tier (the tier places its tenants elsewhere: `tier`, `tierPlacement`, `placement`), ' +
      'same-place (the tenant lives there already), not-a-move (the tier keeps the place: that is a tier change, `PATCH /v1/tenants/{id}`), ' +
      'move-not-supported (`fromPlacement`, `toPlacement`: from a schema into a pool: a pool’s shared tables cannot take a schema’s), ' +
      'schema-version-unknown (no migrated schema to copy); or the region is not configured (`allowedRegions` lists those that are).',
  })
  @Mutating()
  @Post(':idOrSlug/move')
  @HttpCode(202)
  async move(@Param('idOrSlug') idOrSlug: string, @Body() body: unknown, @Req() req: AuthenticatedRequest) {
    const input = parseInput(moveTenantBody, body, 'body');
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.moves.requestMove(tenant.id, input, sagaContext(req)));
  }

  @ApiOperation({
    summary: 'Abort a tenant’s move before its cut-over',
    description:
      'Asks the running move to stop: the saga removes the target at its next step and the tenant ' +
      'stays served where it was (the change ends FAILED with `MOVE_ABORTED`; `change.abortRequested` ' +
      'is true from now on). Asking again answers 202 again. Once the cut-over has begun the move goes ' +
      'on (409): after the switch, moving back is another move.',
  })
  @ApiTenantParam()
  @ApiJsonResponse(202, 'Tenant', 'The tenant, its move with `abortRequested` true.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409: 'The tenant has no move running, or its move has begun its cut-over (`heldBy`: change).',
  })
  @Mutating()
  @Post(':idOrSlug/move/abort')
  @HttpCode(202)
  async abort(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.moves.abortMove(tenant.id, sagaContext(req)));
  }
}
