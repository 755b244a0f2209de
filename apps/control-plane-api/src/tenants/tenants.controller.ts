import { Controller, Get, HttpException, Param } from '@nestjs/common';
import { ProvisioningSettings, TenantQueries } from '@silo/provisioning';
import { Roles } from '../auth/route-rules';
import { problem } from '../http/problem-details';
import { eventView, tenantView } from './tenant.view';

/** Read routes of the contract; every role may read. */
@Roles('ops', 'sre', 'admin')
@Controller('v1')
export class TenantsController {
  constructor(
    private readonly queries: TenantQueries,
    private readonly settings: ProvisioningSettings,
  ) {}

  @Get('tiers')
  tiers() {
    return { items: Object.values(this.settings.tiers) };
  }

  @Get('tenants/:idOrSlug')
  async get(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.required(idOrSlug);
    return tenantView(tenant, await this.queries.steps(tenant.id));
  }

  @Get('tenants/:idOrSlug/events')
  async events(@Param('idOrSlug') idOrSlug: string) {
    const tenant = await this.required(idOrSlug);
    return { items: (await this.queries.events(tenant.id)).map(eventView) };
  }

  private async required(idOrSlug: string) {
    const tenant = await this.queries.findByIdOrSlug(idOrSlug);
    if (!tenant) throw new HttpException(problem(404, 'No tenant has this id or slug.'), 404);
    return tenant;
  }
}
