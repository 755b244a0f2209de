import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam } from '@nestjs/swagger';
import { isTenantId, RolloutError, RolloutErrorCode } from '@silo/core';
import { parseInput } from '@silo/http';
import { SchemaRollouts } from '@silo/fleet';
import type { Response } from 'express';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems, ApiQueryFrom, ApiTenantParam } from '../openapi/openapi.decorators';
import { schemaRef } from '../openapi/openapi.schemas';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import { listRolloutsQuery, skipRolloutTenantBody, startRolloutBody } from './rollout.requests';
import { rolloutSummaryView, rolloutView, schemaVersionsView } from './rollout.view';

const DEFAULT_PAGE_SIZE = 20;

const ApiRolloutParam = () =>
  ApiParam({ name: 'id', description: 'The rollout’s id.', schema: { type: 'string', format: 'uuid' } });

/**
 * Schema rollouts: every eligible tenant moved to a target version in waves, by the worker.
 * Reads are open to every role; starting and steering one is admin's.
 */
@Roles('ops', 'sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class SchemaRolloutsController {
  constructor(private readonly rollouts: SchemaRollouts) {}

  @ApiOperation({
    summary: 'Start a schema rollout',
    description:
      'Plans the ACTIVE and SUSPENDED tenants (of `tiers`) below the target into a canary and waves of ' +
      'migration targets (a tenant’s own database or schema, or a pool database with all its pooled tenants, ' +
      'which migrates once for them), and starts the first targets; the worker migrates them. Tenants already ' +
      'at or past the target, and those `exclude` names (with the rest of a named pooled tenant’s pool), are ' +
      'recorded as skipped. Answers 202 with the rollout.',
  })
  @ApiBody({ required: true, schema: schemaRef('StartRolloutRequest') })
  @ApiJsonResponse(
    202,
    'SchemaRollout',
    'The RUNNING rollout (SUCCEEDED at once when no tenant is left to migrate).',
    {
      Location: { description: '`/v1/schema-rollouts/{id}`', schema: { type: 'string' } },
    },
  )
  @ApiProblems({
    400: 'The body is invalid; `errors` names each field.',
    409: 'Another rollout is RUNNING or PAUSED (`rolloutId` names it).',
    422: 'The target is not a version of the tenant migrations, or `exclude` names a tenant that does not exist (`unknownTenants` lists them).',
  })
  @Roles('admin')
  @Mutating()
  @Post('schema-rollouts')
  @HttpCode(202)
  async start(
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const input = parseInput(startRolloutBody, body, 'body');
    const detail = await this.rollouts.start(input, sagaContext(req));
    res.setHeader('Location', `/v1/schema-rollouts/${detail.rollout.id}`);
    return rolloutView(detail);
  }

  @ApiOperation({ summary: 'List schema rollouts, newest first' })
  @ApiQueryFrom(listRolloutsQuery, {
    limit: {
      description: 'Page size.',
      schema: { type: 'integer', minimum: 1, maximum: 100, default: DEFAULT_PAGE_SIZE },
    },
    cursor: {
      description: 'The `nextCursor` of the previous page (empty: the first page).',
      schema: {
        type: 'string',
        pattern: '^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
      },
    },
  })
  @ApiJsonResponse(200, 'SchemaRolloutList', 'The newest rollouts with their counts.')
  @ApiProblems({ 400: 'A query parameter is invalid or unknown; `errors` names each.' })
  @Get('schema-rollouts')
  async list(@Query() rawQuery: unknown) {
    const { limit, cursor } = parseInput(listRolloutsQuery, rawQuery, 'query');
    const page = await this.rollouts.list(limit ?? DEFAULT_PAGE_SIZE, cursor);
    return {
      items: page.items.map(({ rollout, counts }) => rolloutSummaryView(rollout, counts)),
      nextCursor: page.next,
    };
  }

  @ApiOperation({
    summary: 'A schema rollout: status, waves with their tenants, failed tenants, audit trail',
  })
  @ApiRolloutParam()
  @ApiJsonResponse(200, 'SchemaRollout', 'The rollout.')
  @ApiProblems({ 404: 'No schema rollout has this id.' })
  @Get('schema-rollouts/:id')
  async get(@Param('id') id: string) {
    return rolloutView(await this.rollouts.get(known(id)));
  }

  @ApiOperation({ summary: 'Pause a RUNNING rollout: migrations already running finish, nothing new starts' })
  @ApiRolloutParam()
  @ApiJsonResponse(200, 'SchemaRollout', 'The PAUSED rollout.')
  @ApiProblems({
    404: 'No schema rollout has this id.',
    409: 'The rollout is not RUNNING (`rolloutStatus` says what it is).',
  })
  @Roles('admin')
  @Mutating()
  @Post('schema-rollouts/:id/pause')
  @HttpCode(200)
  async pause(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    return rolloutView(await this.rollouts.pause(known(id), sagaContext(req)));
  }

  @ApiOperation({
    summary: 'Resume a PAUSED or FAILED rollout',
    description: 'Failed tenants are retried first; after an approval pause, the next wave starts.',
  })
  @ApiRolloutParam()
  @ApiJsonResponse(200, 'SchemaRollout', 'The RUNNING rollout.')
  @ApiProblems({
    404: 'No schema rollout has this id.',
    409: 'The rollout is not PAUSED or FAILED, or another one is open.',
  })
  @Roles('admin')
  @Mutating()
  @Post('schema-rollouts/:id/resume')
  @HttpCode(200)
  async resume(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    return rolloutView(await this.rollouts.resume(known(id), sagaContext(req)));
  }

  @ApiOperation({
    summary: 'Abort a rollout for good: migrations already running finish, the rest stay as they are',
  })
  @ApiRolloutParam()
  @ApiJsonResponse(200, 'SchemaRollout', 'The ABORTED rollout.')
  @ApiProblems({ 404: 'No schema rollout has this id.', 409: 'The rollout is not RUNNING or PAUSED.' })
  @Roles('admin')
  @Mutating()
  @Post('schema-rollouts/:id/abort')
  @HttpCode(200)
  async abort(@Param('id') id: string, @Req() req: AuthenticatedRequest) {
    return rolloutView(await this.rollouts.abort(known(id), sagaContext(req)));
  }

  @ApiOperation({
    summary: 'Skip a pending or failed tenant of a rollout for good',
    description:
      'The tenant is recorded as skipped with who and why (an audit event on the rollout and the tenant), ' +
      'is never retried by a resume, counts against no failure threshold, and the rollout can finish without ' +
      'it: a RUNNING rollout moves on, a PAUSED one stays paused until resumed, a FAILED one with no failed ' +
      'tenant left is SUCCEEDED. A pooled tenant is skipped with every pending or failed tenant of its pool, ' +
      'which migrates as one.',
  })
  @ApiRolloutParam()
  @ApiTenantParam()
  @ApiBody({ required: true, schema: schemaRef('SkipRolloutTenantRequest') })
  @ApiJsonResponse(200, 'SchemaRollout', 'The rollout, with the tenant among `skippedTenants`.')
  @ApiProblems({
    400: 'The body is invalid; `errors` names each field.',
    404: 'No schema rollout has this id, or the tenant is not one of its tenants.',
    409: 'The rollout is not RUNNING, PAUSED or FAILED (`rolloutStatus`), or the tenant is migrating, migrated or skipped already (`tenantState`).',
  })
  @Roles('admin')
  @Mutating()
  @Post('schema-rollouts/:id/tenants/:idOrSlug/skip')
  @HttpCode(200)
  async skip(
    @Param('id') id: string,
    @Param('idOrSlug') idOrSlug: string,
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ) {
    const rollout = known(id);
    const { reason } = parseInput(skipRolloutTenantBody, body, 'body');
    return rolloutView(await this.rollouts.skip(rollout, idOrSlug, reason, sagaContext(req)));
  }

  @ApiOperation({ summary: 'How many tenants are at each schema version, and which are behind the newest' })
  @ApiJsonResponse(200, 'SchemaVersions', 'ACTIVE and SUSPENDED tenants by schema version.')
  @Get('schema-versions')
  async versions() {
    return schemaVersionsView(await this.rollouts.schemaVersions());
  }
}

/** A rollout id is a UUID; anything else names no rollout (and never reaches a uuid cast). */
function known(id: string): string {
  if (!isTenantId(id)) throw new RolloutError(RolloutErrorCode.ROLLOUT_NOT_FOUND, `no schema rollout ${id}`);
  return id;
}
