import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpException,
  Param,
  Patch,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation } from '@nestjs/swagger';
import { ProvisioningError, TENANT_STATUSES } from '@silo/core';
import { parseInput, problem } from '@silo/http';
import {
  HostQueries,
  ProvisioningSettings,
  TenantChanges,
  TenantOnboarding,
  TenantQueries,
} from '@silo/fleet';
import type { Response } from 'express';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import {
  ApiJsonResponse,
  ApiProblems,
  ApiQueryFrom,
  ApiTenantParam,
  TIER_FILTER_PARAM,
} from '../openapi/openapi.decorators';
import { openApiSchema, schemaRef } from '../openapi/openapi.schemas';
import { sagaContext } from '../http/saga-context';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import {
  changeTierBody,
  createTenantBody,
  deleteTenantQuery,
  encodeCursor,
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeySchema,
  listTenantsQuery,
  requestHash,
  rotateCredentialsBody,
} from './tenant.requests';
import { alarmView, eventView, tenantView } from './tenant.view';
import { TenantViews } from './tenant-views';
import { SiloConfig } from '@silo/config';
import { alarmsUnavailable } from '../alarms/alarms.controller';
import { FleetAlarms } from '../alarms/fleet-alarms.service';

const DEFAULT_PAGE_SIZE = 50;

/** The tenant routes of the contract. Reads are open to every role; changes are ops' or admin's. */
@Roles('ops', 'sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class TenantsController {
  constructor(
    private readonly queries: TenantQueries,
    private readonly onboarding: TenantOnboarding,
    private readonly changes: TenantChanges,
    private readonly fleetAlarms: FleetAlarms,
    private readonly settings: ProvisioningSettings,
    private readonly config: SiloConfig,
    private readonly hosts: HostQueries,
    private readonly views: TenantViews,
  ) {}

  @ApiOperation({ summary: 'List the tier profiles tenants can be created with' })
  @ApiJsonResponse(200, 'TierList', 'Every configured tier profile.')
  @Get('tiers')
  tiers() {
    return { items: Object.values(this.settings.tiers) };
  }

  /**
   * 202 and the PENDING tenant; its provisioning job is written to the outbox in the same
   * transaction, so it reaches the queue even if Redis is down at this moment.
   */
  @ApiOperation({
    summary: 'Create a tenant',
    description:
      'Answers 202 with the PENDING tenant; its provisioning job is queued in the same transaction.',
  })
  @ApiBody({ required: true, schema: schemaRef('CreateTenantRequest') })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'The same key and body (per caller) answer the same tenant without a second job; the same key with another body → 422.',
    schema: openApiSchema(idempotencyKeySchema),
  })
  @ApiJsonResponse(202, 'Tenant', 'The PENDING tenant.', {
    Location: { description: '`/v1/tenants/{id}`', schema: { type: 'string' } },
    'Idempotent-Replayed': {
      description: '`true` when an earlier request with this Idempotency-Key is answered again.',
      schema: { type: 'string', enum: ['true'] },
    },
  })
  @ApiProblems({
    400: 'The body is invalid; `errors` names each field.',
    409: 'The slug is taken.',
    422: 'The Idempotency-Key was used with another body, or the region is not configured (`allowedRegions` lists those that are).',
  })
  @Roles('ops', 'admin')
  @Mutating()
  @Post('tenants')
  @HttpCode(202)
  async create(
    @Body() body: unknown,
    @Headers(IDEMPOTENCY_KEY_HEADER) rawKey: unknown,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const key = parseInput(idempotencyKeySchema, rawKey, 'header', 'Idempotency-Key');
    const input = parseInput(createTenantBody, body, 'body');
    const ctx = sagaContext(req);
    const { tenant, replayed } = await this.onboarding.createTenant(
      input,
      ctx,
      key === undefined
        ? undefined
        : {
            caller: ctx.actor,
            key,
            requestHash: requestHash(input),
            ttlMs: this.config.http.idempotencyKeyTtlMs,
          },
    );
    res.setHeader('Location', `/v1/tenants/${tenant.id}`);
    if (!replayed) return tenantView(tenant, [], [], null, null, null, null); // only the worker writes steps and findings; placed by the worker too
    res.setHeader('Idempotent-Replayed', 'true');
    return this.views.view(tenant);
  }

  /** Newest first, keyset-paginated; `nextCursor` is null on the last page. */
  @ApiOperation({ summary: 'List tenants, newest first' })
  @ApiQueryFrom(listTenantsQuery, {
    status: {
      description: 'Only tenants in these statuses (comma-separated).',
      schema: { type: 'array', items: { type: 'string', enum: [...TENANT_STATUSES] } },
      style: 'form',
      explode: false,
    },
    tier: { description: 'Only tenants of these tiers (comma-separated).', ...TIER_FILTER_PARAM },
    region: {
      description: 'Only tenants living in these AWS regions (comma-separated).',
      schema: { type: 'array', items: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' } },
      style: 'form',
      explode: false,
    },
    limit: {
      description: 'Page size.',
      schema: { type: 'integer', minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE },
    },
    cursor: {
      description: 'The `nextCursor` of the previous page.',
      schema: { type: 'string' },
    },
  })
  @ApiJsonResponse(200, 'TenantList', 'One page of tenants.')
  @ApiProblems({ 400: 'A query parameter is invalid or unknown; `errors` names each.' })
  @Get('tenants')
  async list(@Query() rawQuery: unknown) {
    const query = parseInput(listTenantsQuery, rawQuery, 'query');
    const page = await this.queries.list({
      statuses: query.status,
      tiers: query.tier,
      regions: query.region,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      after: query.cursor,
    });
    const ids = page.items.map((t) => t.id);
    const [steps, findings, changes] = await Promise.all([
      this.queries.stepsOf(ids),
      this.queries.findingsOf(ids),
      this.queries.changesOf(ids),
    ]);
    const firing = this.fleetAlarms.firingCounts();
    // A page names few hosts (each holds many tenants): one lookup per distinct host.
    const hostIds = [...new Set(page.items.map((t) => t.hostId).filter((id): id is string => id !== null))];
    const hosts = new Map(
      (await Promise.all(hostIds.map((id) => this.hosts.find(id))))
        .filter((h) => h !== null)
        .map(({ host }) => [host.id, { id: host.id, name: host.name }]),
    );
    return {
      items: page.items.map((t) =>
        tenantView(
          t,
          steps.get(t.id) ?? [],
          findings.get(t.id) ?? [],
          changes.get(t.id) ?? null,
          firing ? (firing.get(t.id) ?? 0) : null,
          t.hostId ? (hosts.get(t.hostId) ?? null) : null,
          this.views.restorableOf(t),
        ),
      ),
      nextCursor: page.next ? encodeCursor(page.next) : null,
    };
  }

  @ApiOperation({ summary: 'Get a tenant' })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'Tenant', 'The tenant.')
  @ApiProblems({ 404: 'No tenant has this id or slug.' })
  @Get('tenants/:idOrSlug')
  async get(@Param('idOrSlug') idOrSlug: string) {
    return this.views.view(await this.views.required(idOrSlug));
  }

  @ApiOperation({ summary: 'A tenant’s audit trail, oldest first' })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'TenantEventList', 'The tenant’s events.')
  @ApiProblems({ 404: 'No tenant has this id or slug.' })
  @Get('tenants/:idOrSlug/events')
  async events(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.views.required(idOrSlug);
    return { items: (await this.queries.events(tenant.id)).map(eventView) };
  }

  /** The tenant's alarms from the fleet alarm view; none before the alarms step has run. */
  @ApiOperation({
    summary: 'A tenant’s CloudWatch alarms',
    description:
      'From the fleet alarm view each API process refreshes from CloudWatch every 15 s in the background (see `readAt`); a read never calls CloudWatch itself, and only the first read after the API starts waits for it.',
  })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'TenantAlarmList', 'The tenant’s alarms, as CloudWatch had them at `readAt`.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    503: 'CloudWatch has not answered since this API process started; try again.',
  })
  @Get('tenants/:idOrSlug/alarms')
  async alarmsOf(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.views.required(idOrSlug);
    // A schema or pool tenant has no instance: the alarms that concern it are its host's.
    const host = await this.views.hostOf(tenant);
    const { readAt, items } = await this.fleetAlarms
      .of(host ? `host-${host.name}` : tenant.slug)
      .catch(alarmsUnavailable);
    return { items: items.map(alarmView), readAt: readAt.toISOString(), of: host ? 'host' : 'tenant', host };
  }

  @ApiOperation({ summary: 'Retry provisioning a FAILED tenant as a new run' })
  @ApiTenantParam()
  @ApiJsonResponse(202, 'Tenant', 'The tenant, PROVISIONING again; the new run’s job is queued.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409: 'The tenant is not FAILED (`tenantStatus` says what it is).',
  })
  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/retry')
  @HttpCode(202)
  async retry(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.onboarding.retry(tenant.id, sagaContext(req)));
  }

  @ApiOperation({ summary: 'Suspend an ACTIVE tenant (the data plane refuses it)' })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'Tenant', 'The SUSPENDED tenant.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409: 'The tenant is not ACTIVE (`tenantStatus` says what it is).',
  })
  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/suspend')
  @HttpCode(200)
  async suspend(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.onboarding.suspend(tenant.id, sagaContext(req)));
  }

  @ApiOperation({ summary: 'Resume a SUSPENDED tenant' })
  @ApiTenantParam()
  @ApiJsonResponse(200, 'Tenant', 'The ACTIVE tenant.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409: 'The tenant is not SUSPENDED (`tenantStatus` says what it is).',
  })
  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/resume')
  @HttpCode(200)
  async resume(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.onboarding.resume(tenant.id, sagaContext(req)));
  }

  /**
   * 202 and the tenant, its `change` RUNNING. The change is planned against the instance as RDS
   * describes it now: what RDS would refuse is 422 naming the rule, and nothing is recorded.
   */
  @ApiOperation({
    summary: 'Change a live tenant’s tier',
    description:
      'Runs a `modify` saga: ModifyDBInstance (class, storage, IOPS/throughput, Multi-AZ, backups, ' +
      'Performance Insights, deletion protection), a wait while RDS applies it, the alarms ' +
      're-thresholded, the `silo:tier` tags; the tier is recorded once RDS reports the new values. ' +
      'The tenant stays ACTIVE (or SUSPENDED) and served. `apply: maintenance-window` leaves the ' +
      'change PENDING_MAINTENANCE until RDS applies it. Storage only grows: a tier with less keeps ' +
      'the current size (the change’s `notes` say so). A schema or pool tenant keeps its host: the ' +
      'change is accepted when the new tier sizes its hosts as the tenant’s host is sized (instance ' +
      'fields and capacity), then only the tier is recorded (and a schema tenant’s app secret tagged); ' +
      'nothing is modified on RDS and no data moves.',
  })
  @ApiTenantParam()
  @ApiBody({ schema: openApiSchema(changeTierBody) })
  @ApiJsonResponse(202, 'Tenant', 'The tenant, with `change` RUNNING.')
  @ApiProblems({
    400: 'The body is not `{tier, apply?}` with a known tier and apply.',
    404: 'No tenant has this id or slug.',
    409: 'Another change, a rollout’s migration or deprovisioning holds the tenant (`heldBy` says which), or it is not ACTIVE or SUSPENDED (`tenantStatus`).',
    422: 'The change is refused before anything is recorded; `rule` names why: RDS would refuse it (same-tier, storage-cooldown, multi-az-not-supported, instance-not-available, instance-missing, instance-class-unknown), the new tier has another placement (placement-change: a promotion), or a schema or pool tenant would need another host (host-sizing-differs, naming each field and `host`; host-not-available; host-sizing-unknown).',
    503: 'RDS could not be read to check the change; nothing was recorded.',
  })
  @Roles('admin')
  @Mutating()
  @Patch('tenants/:idOrSlug')
  @HttpCode(202)
  async changeTier(
    @Param('idOrSlug') idOrSlug: string,
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ) {
    const input = parseInput(changeTierBody, body, 'body');
    const tenant = await this.views.required(idOrSlug);
    try {
      return this.views.view(await this.changes.requestTierChange(tenant.id, input, sagaContext(req)));
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(
        problem(503, `RDS did not answer (${error.code}); nothing was changed, try again.`),
        503,
      );
    }
  }

  @ApiOperation({
    summary: 'Rotate a tenant’s database credentials',
    description:
      'Runs a `rotate` saga by Secrets Manager’s rotation protocol (createSecret, setSecret, ' +
      'testSecret, finishSecret): the app secret flips between two login roles of the app role, ' +
      'so the data plane’s current credentials keep working until it picks up the new ones; the ' +
      'previous login is retired after CREDENTIAL_ROTATION_DRAIN_SECONDS and its sessions ended. ' +
      'An instance tenant’s app login and master user are its own. A schema tenant’s app login is ' +
      'rotated on its shared host, as the host’s master user, which a tenant’s rotation never ' +
      'changes. A pooled tenant has no login of its own: its host’s pool login is rotated with ' +
      '`POST /v1/hosts/{id}/rotate-credentials`. No password is ever returned, logged or recorded.',
  })
  @ApiTenantParam()
  @ApiBody({ schema: openApiSchema(rotateCredentialsBody) })
  @ApiJsonResponse(202, 'Tenant', 'The tenant, with `change` (kind `rotation`) RUNNING.')
  @ApiProblems({
    400: 'The body is not `{which?}` with app, master or both.',
    404: 'No tenant has this id or slug.',
    409: 'Another change, a rollout’s migration or deprovisioning holds the tenant (`heldBy`), or it is not ACTIVE or SUSPENDED (`tenantStatus`).',
    422: 'The tenant does not own what was asked for (`rule`, with `hostId` and `host`): host-master-credentials (a schema tenant’s master user is its host’s; rotate `app`), host-pool-login (a pooled tenant’s login is its host’s pool login: rotate it with the host’s route).',
  })
  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/rotate-credentials')
  @HttpCode(202)
  async rotateCredentials(
    @Param('idOrSlug') idOrSlug: string,
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ) {
    const { which } = parseInput(rotateCredentialsBody, body ?? {}, 'body');
    const tenant = await this.views.required(idOrSlug);
    return this.views.view(await this.changes.requestRotation(tenant.id, which, sagaContext(req)));
  }

  /**
   * 202 and the DEPROVISIONING tenant. `confirm` must repeat the slug, so that a mistyped id
   * cannot delete the wrong tenant. Asking again while deprovisioning runs is a no-op 202.
   */
  @ApiOperation({
    summary: 'Delete a tenant',
    description:
      'The worker lifts deletion protection, takes a final snapshot where the tier keeps backups, ' +
      'deletes the instance and schedules its secrets for deletion; the tenant goes ' +
      'DEPROVISIONING → DELETED. Asking again while that runs answers 202 again.',
  })
  @ApiTenantParam()
  @ApiQueryFrom(deleteTenantQuery, { confirm: { description: 'The tenant’s slug, typed again.' } })
  @ApiJsonResponse(202, 'Tenant', 'The DEPROVISIONING tenant.')
  @ApiProblems({
    400: '`confirm` is missing or is not the tenant’s slug, or the query has unknown parameters.',
    404: 'No tenant has this id or slug.',
    409: 'The tenant is PENDING, PROVISIONING or DELETED (`tenantStatus` says which), or a tier change or rotation is running (`heldBy`).',
  })
  @Roles('admin')
  @Mutating()
  @Delete('tenants/:idOrSlug')
  @HttpCode(202)
  async remove(
    @Param('idOrSlug') idOrSlug: string,
    @Query() rawQuery: unknown,
    @Req() req: AuthenticatedRequest,
  ) {
    const { confirm } = parseInput(deleteTenantQuery, rawQuery, 'query');
    const tenant = await this.views.required(idOrSlug);
    if (confirm !== tenant.slug) {
      throw new HttpException(
        problem(400, 'query.confirm: must be the tenant’s slug', {
          errors: [{ field: 'query.confirm', message: 'must be the tenant’s slug' }],
        }),
        400,
      );
    }
    return this.views.view(await this.onboarding.requestDeletion(tenant.id, sagaContext(req)));
  }
}
