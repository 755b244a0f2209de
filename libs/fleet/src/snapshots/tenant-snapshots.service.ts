import { Injectable } from '@nestjs/common';
import { RdsInstances, tenantExportKey } from '@silo/aws';
import { TenantEntity, TenantEventEntity } from '@silo/control-plane-db';
import { TenantError, TenantErrorCode } from '@silo/core';
import { DataSource, type EntityManager } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import {
  manualSnapshotIdentifier,
  SNAPSHOT_TENANT_JOB,
  snapshotJobId,
  type SnapshotTenantJobData,
} from '../jobs/snapshot-jobs';
import { ProvisioningSettings } from '../saga/provisioning-settings';
import { regionOf } from '../saga/regional-deps';
import type { SagaContext } from '../store/provisioning-store';
import { appendTenantEvent } from '../store/typeorm-provisioning-store';

/** The deprovision steps that leave a schema or pool tenant's data in S3 (their step.completed events name the object). */
const EXPORT_STEPS = ['export-schema', 'export-rows'];

/**
 * One copy of a tenant's data kept for later: a snapshot of its instance (RDS's automated ones,
 * or a manual or final one Silo took), or the S3 export a schema or pool tenant leaves when deleted.
 */
export interface TenantSnapshot {
  /** The RDS snapshot identifier, or the export's object key. */
  identifier: string;
  type: 'manual' | 'automated' | 'export';
  /** RDS's status (`creating`, `available`, …); an export is `available` once recorded. */
  status: string;
  /** null while RDS has not set it (a snapshot still `creating`). */
  createdAt: Date | null;
  /** A restore may start from it: an RDS snapshot that is available (exports are not restored yet). */
  restorable: boolean;
  /** Where an export is (null for RDS snapshots). */
  export: { bucket: string; key: string; bytes: number | null } | null;
}

/** What `POST /v1/tenants/{id}/snapshots` answers: the snapshot's name, its job queued. */
export interface RequestedSnapshot {
  identifier: string;
  status: 'requested';
}

const LIVE = ['ACTIVE', 'SUSPENDED'];

/**
 * A tenant's snapshots: listed from RDS (an instance tenant's) and from its recorded exports (a
 * deleted schema or pool tenant's), and manual snapshots of an instance tenant, taken by the
 * worker's SNAPSHOT_TENANT_JOB so that the local backend keeps their data too.
 */
@Injectable()
export class TenantSnapshots {
  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: ProvisioningSettings,
    private readonly rds: RdsInstances,
  ) {}

  /**
   * The tenant's snapshots and exports, oldest first (one still being made last). The instance's
   * are read from RDS in the tenant's region: a ProvisioningError when RDS cannot be read.
   */
  async snapshots(tenant: TenantEntity): Promise<TenantSnapshot[]> {
    const instance = tenant.placement === 'instance' ? tenant.dbInstanceIdentifier : null;
    const [fromRds, exports] = await Promise.all([
      instance ? this.rds.inRegion(regionOf(tenant, this.settings)).snapshots(instance) : [],
      this.exportsOf(tenant.id),
    ]);
    const snapshots: TenantSnapshot[] = fromRds.map((s) => ({
      identifier: s.identifier,
      type: s.type,
      status: s.status,
      createdAt: s.createdAt,
      restorable: s.status === 'available',
      export: null,
    }));
    return [...exports, ...snapshots].sort(
      (a, b) => (a.createdAt?.getTime() ?? Infinity) - (b.createdAt?.getTime() ?? Infinity),
    );
  }

  /** The exports the tenant's deprovisioning and its manual snapshots recorded (their events): no S3 call. */
  private async exportsOf(tenantId: string): Promise<TenantSnapshot[]> {
    const events = await this.dataSource
      .getRepository(TenantEventEntity)
      .createQueryBuilder('e')
      .where('e.tenant_id = :tenantId', { tenantId })
      // A deletion's export (its step's completion), or a manual one (tenant.snapshot_taken).
      .andWhere(
        `((e.type = 'step.completed' AND e.data->>'step' IN (:...steps)) OR (e.type = 'tenant.snapshot_taken' AND e.data->>'bytes' IS NOT NULL))`,
        { steps: EXPORT_STEPS },
      )
      .andWhere(`e.data->>'key' IS NOT NULL`)
      .orderBy('e.id', 'ASC')
      .getMany();
    return events.map((e) => {
      const { bucket, key, bytes } = e.data as { bucket?: unknown; key: string; bytes?: unknown };
      return {
        identifier: key,
        type: 'export',
        status: 'available',
        createdAt: e.at,
        restorable: false,
        export: {
          bucket: typeof bucket === 'string' ? bucket : '',
          key,
          bytes: typeof bytes === 'number' ? bytes : null,
        },
      };
    });
  }

  /**
   * Records a manual snapshot of `tenantId`: its job in the outbox and a `tenant.snapshot_requested`
   * event, in one transaction. An instance tenant's is an RDS snapshot
   * `<instance>-manual-<utcStamp>`; a schema or pool tenant's an export to S3 as at its deletion
   * (`<prefix>/exports/<slug>/<utcStamp>.dump` or `.ndjson`). Refused: a tenant that is not ACTIVE
   * or SUSPENDED, or a shared one not placed on a host (ILLEGAL_TRANSITION).
   */
  async requestSnapshot(tenantId: string, ctx: SagaContext): Promise<RequestedSnapshot> {
    return this.dataSource.transaction(async (em) => {
      const tenant = await em
        .getRepository(TenantEntity)
        .findOne({ where: { id: tenantId }, lock: { mode: 'pessimistic_write' } });
      if (!tenant) throw new TenantError(TenantErrorCode.TENANT_NOT_FOUND, `no tenant ${tenantId}`);
      if (tenant.placement !== 'instance') return this.requestExport(em, tenant, ctx);
      if (!LIVE.includes(tenant.status) || !tenant.dbInstanceIdentifier)
        throw new TenantError(
          TenantErrorCode.ILLEGAL_TRANSITION,
          `${tenant.slug} is ${tenant.status}: only an ACTIVE or SUSPENDED tenant is snapshotted`,
          tenant.status,
        );
      const at = new Date();
      const instance = tenant.dbInstanceIdentifier;
      const identifier = manualSnapshotIdentifier(instance, at);
      const payload: SnapshotTenantJobData = {
        tenantId,
        instanceIdentifier: instance,
        snapshotIdentifier: identifier,
      };
      await writeOutboxJob(em, {
        name: SNAPSHOT_TENANT_JOB,
        id: snapshotJobId(tenantId, at),
        payload: { ...payload },
      });
      await appendTenantEvent(
        em,
        tenantId,
        {
          type: 'tenant.snapshot_requested',
          message: `manual snapshot ${identifier} of ${instance} requested`,
          data: { snapshot: identifier, instance },
        },
        ctx,
      );
      return { identifier, status: 'requested' };
    });
  }

  /** A schema or pool tenant's manual snapshot: its export to S3, as its deletion would make it. */
  private async requestExport(
    em: EntityManager,
    tenant: TenantEntity,
    ctx: SagaContext,
  ): Promise<RequestedSnapshot> {
    if (!LIVE.includes(tenant.status) || !tenant.hostId)
      throw new TenantError(
        TenantErrorCode.ILLEGAL_TRANSITION,
        `${tenant.slug} is ${tenant.status}${tenant.hostId ? '' : ' and on no host'}: only an ACTIVE or SUSPENDED tenant is exported`,
        tenant.status,
      );
    const at = new Date();
    const kind = tenant.placement === 'schema' ? 'schema-dump' : 'rows';
    const key = tenantExportKey(this.settings.prefix, tenant.slug, kind, at);
    const payload: SnapshotTenantJobData = {
      tenantId: tenant.id,
      instanceIdentifier: '',
      snapshotIdentifier: key,
      exportKind: kind,
      exportAt: at.toISOString(),
    };
    await writeOutboxJob(em, {
      name: SNAPSHOT_TENANT_JOB,
      id: snapshotJobId(tenant.id, at),
      payload: { ...payload },
    });
    await appendTenantEvent(
      em,
      tenant.id,
      {
        type: 'tenant.snapshot_requested',
        message: `manual export ${key} of ${tenant.slug} requested`,
        data: { snapshot: key, export: kind },
      },
      ctx,
    );
    return { identifier: key, status: 'requested' };
  }
}
