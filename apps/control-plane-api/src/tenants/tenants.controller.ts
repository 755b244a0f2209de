import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpException,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { TenantAlarms } from '@silo/aws';
import {
  ProvisioningError,
  tenantResourceNames,
  TenantError,
  TenantErrorCode,
  type TenantStatus,
} from '@silo/core';
import type { TenantEntity } from '@silo/control-plane-db';
import {
  ALARM_METRICS,
  ProvisioningSettings,
  TenantOnboarding,
  TenantQueries,
  type SagaContext,
} from '@silo/provisioning';
import type { Response } from 'express';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { problem } from '../http/problem-details';
import { parseInput } from '../http/validation';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import {
  createTenantBody,
  deleteTenantQuery,
  encodeCursor,
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeySchema,
  listTenantsQuery,
  requestHash,
} from './tenant.requests';
import { alarmView, eventView, tenantView } from './tenant.view';
import { SiloConfig } from '@silo/config';

const DEFAULT_PAGE_SIZE = 50;

/** The tenant routes of the contract. Reads are open to every role; changes are ops' or admin's. */
@Roles('ops', 'sre', 'admin')
@Controller('v1')
export class TenantsController {
  constructor(
    private readonly queries: TenantQueries,
    private readonly onboarding: TenantOnboarding,
    private readonly alarms: TenantAlarms,
    private readonly settings: ProvisioningSettings,
    private readonly config: SiloConfig,
  ) {}

  @Get('tiers')
  tiers() {
    return { items: Object.values(this.settings.tiers) };
  }

  /**
   * 202 and the PENDING tenant; its provisioning job is written to the outbox in the same
   * transaction, so it reaches the queue even if Redis is down at this moment.
   */
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
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    return this.view(tenant);
  }

  /** Newest first, keyset-paginated; `nextCursor` is null on the last page. */
  @Get('tenants')
  async list(@Query() rawQuery: unknown) {
    const query = parseInput(listTenantsQuery, rawQuery, 'query');
    const page = await this.queries.list({
      statuses: query.status,
      tiers: query.tier,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      after: query.cursor,
    });
    const steps = await this.queries.stepsOf(page.items.map((t) => t.id));
    return {
      items: page.items.map((t) => tenantView(t, steps.get(t.id) ?? [])),
      nextCursor: page.next ? encodeCursor(page.next) : null,
    };
  }

  @Get('tenants/:idOrSlug')
  async get(@Param('idOrSlug') idOrSlug: string) {
    return this.view(await this.required(idOrSlug));
  }

  @Get('tenants/:idOrSlug/events')
  async events(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.required(idOrSlug);
    return { items: (await this.queries.events(tenant.id)).map(eventView) };
  }

  /** The tenant's alarms as CloudWatch has them now; none before the alarms step has run. */
  @Get('tenants/:idOrSlug/alarms')
  async alarmsOf(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.required(idOrSlug);
    const names = tenantResourceNames(this.settings.prefix, tenant.slug);
    try {
      const alarms = await this.alarms.describe(ALARM_METRICS.map((m) => names.alarmName(m)));
      return { items: alarms.map(alarmView) };
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(problem(503, `CloudWatch did not answer (${error.code}); try again.`), 503);
    }
  }

  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/retry')
  @HttpCode(202)
  async retry(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.required(idOrSlug);
    return this.view(
      await this.guarded(tenant, 'retry', ['FAILED'], () =>
        this.onboarding.retry(tenant.id, sagaContext(req)),
      ),
    );
  }

  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/suspend')
  @HttpCode(200)
  async suspend(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.required(idOrSlug);
    return this.view(
      await this.guarded(tenant, 'suspend', ['ACTIVE'], () =>
        this.onboarding.suspend(tenant.id, sagaContext(req)),
      ),
    );
  }

  @Roles('admin')
  @Mutating()
  @Post('tenants/:idOrSlug/resume')
  @HttpCode(200)
  async resume(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.required(idOrSlug);
    return this.view(
      await this.guarded(tenant, 'resume', ['SUSPENDED'], () =>
        this.onboarding.resume(tenant.id, sagaContext(req)),
      ),
    );
  }

  /**
   * 202 and the DEPROVISIONING tenant. `confirm` must repeat the slug, so that a mistyped id
   * cannot delete the wrong tenant. Asking again while deprovisioning runs is a no-op 202.
   */
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
    const tenant = await this.required(idOrSlug);
    if (confirm !== tenant.slug) {
      throw new HttpException(
        problem(400, 'query.confirm: must be the tenant’s slug', {
          errors: [{ field: 'query.confirm', message: 'must be the tenant’s slug' }],
        }),
        400,
      );
    }
    return this.view(
      await this.guarded(tenant, 'delete', ['ACTIVE', 'SUSPENDED', 'FAILED', 'DEPROVISIONING'], () =>
        this.onboarding.requestDeletion(tenant.id, sagaContext(req)),
      ),
    );
  }

  private async view(tenant: TenantEntity) {
    return tenantView(tenant, await this.queries.steps(tenant.id));
  }

  private async required(idOrSlug: string): Promise<TenantEntity> {
    const tenant = await this.queries.findByIdOrSlug(idOrSlug);
    if (!tenant) throw new HttpException(problem(404, 'No tenant has this id or slug.'), 404);
    return tenant;
  }

  /** Runs a status change, answering 409 (naming the status) when the tenant is in another one. */
  private async guarded(
    tenant: TenantEntity,
    action: string,
    from: readonly TenantStatus[],
    change: () => Promise<TenantEntity>,
  ): Promise<TenantEntity> {
    const refuse = (status: TenantStatus) =>
      new HttpException(
        problem(409, `${tenant.slug} is ${status}; ${action} needs ${from.join(' or ')}.`, {
          tenantStatus: status,
        }),
        409,
      );
    if (!from.includes(tenant.status)) throw refuse(tenant.status);
    try {
      return await change();
    } catch (error) {
      // Another request changed the tenant between the read above and the locked change.
      if (error instanceof TenantError && error.code === TenantErrorCode.ILLEGAL_TRANSITION) {
        const now = await this.queries.findByIdOrSlug(tenant.id);
        throw refuse(now?.status ?? tenant.status);
      }
      throw error;
    }
  }
}

function sagaContext(req: AuthenticatedRequest): SagaContext {
  return {
    actor: req.principal?.sub ?? 'unknown',
    correlationId: requestId(req),
  };
}

/** The id pino-http gave the request (echoed as x-request-id). */
function requestId(req: AuthenticatedRequest): string {
  const id = (req as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : '';
}
