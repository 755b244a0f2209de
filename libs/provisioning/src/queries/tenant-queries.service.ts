import { Injectable } from '@nestjs/common';
import { ProvisioningStepEntity, TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { slugProblem } from '@silo/core';
import { DataSource } from 'typeorm';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Read side of the control plane for the API. */
@Injectable()
export class TenantQueries {
  constructor(private readonly dataSource: DataSource) {}

  /** By UUID or by slug; null for anything else, including strings that are neither. */
  async findByIdOrSlug(idOrSlug: string): Promise<TenantEntity | null> {
    const tenants = this.dataSource.getRepository(TenantEntity);
    if (UUID.test(idOrSlug)) return tenants.findOneBy({ id: idOrSlug.toLowerCase() });
    if (slugProblem(idOrSlug)) return null;
    return tenants.findOneBy({ slug: idOrSlug });
  }

  /** Steps of both sagas, provisioning first, each in order. */
  steps(tenantId: string): Promise<ProvisioningStepEntity[]> {
    return this.dataSource
      .getRepository(ProvisioningStepEntity)
      .find({ where: { tenantId }, order: { saga: 'DESC', position: 'ASC' } });
  }

  /** The audit trail, oldest first. */
  events(tenantId: string): Promise<TenantEventEntity[]> {
    return this.dataSource
      .getRepository(TenantEventEntity)
      .find({ where: { tenantId }, order: { id: 'ASC' } });
  }
}
