import { randomUUID } from 'node:crypto';
import { ReconcileOrphanEntity, type OrphanType } from '@silo/control-plane-db';
import { ProvisioningError, type TenantStatus } from '@silo/core';
import { IsNull, Not, type DataSource } from 'typeorm';
import { writeOutboxJob } from '../jobs/outbox';
import { DELETE_ORPHANS_JOB } from '../jobs/provisioning-jobs';
import type { SagaContext, SagaLog } from '../store/provisioning-store';
import { orphanedBy, type KnownHost, type KnownTenant } from './orphans';

/** "No tenant": what the adapters' ownership check accepts only on a resource without `silo:tenant-id`. */
const NO_TENANT = undefined as unknown;

export interface OrphanRef {
  type: OrphanType;
  name: string;
}

/** Asked to delete what the last pass did not list as an orphan: nothing is queued. */
export class NotAnOrphanError extends Error {
  constructor(readonly refs: OrphanRef[]) {
    super(
      `not listed as orphans (GET /v1/orphans), nothing was deleted: ${refs.map((r) => `${r.type} ${r.name}`).join(', ')}`,
    );
  }
}

/** What deleting an orphan asks of AWS (libs/aws's adapters fit). */
export interface OrphanAccess {
  tagsOf(type: OrphanType, name: string): Promise<Record<string, string> | null>;
  deleteInstance(identifier: string, ownerTenantId: string): Promise<string>;
  deleteSecret(name: string, ownerTenantId: string): Promise<string>;
  deleteAlarm(name: string): Promise<void>;
  deleteSnapshot(identifier: string): Promise<string>;
}

/**
 * Orphans are never deleted by a pass. An operator asks for an explicit list (API, admin): each
 * must be listed now, or nothing is queued. The worker then reads each one's tags again and
 * deletes it only when they still say `managed-by=silo`, this environment, and no live tenant.
 */
export class OrphanDeletion {
  constructor(private readonly dataSource: DataSource) {}

  /** Marks the orphans as requested and queues the job, in one transaction. */
  async request(refs: OrphanRef[], ctx: SagaContext): Promise<{ jobId: string; items: OrphanRef[] }> {
    const unique = [...new Map(refs.map((r) => [`${r.type}/${r.name}`, r])).values()];
    const jobId = `delete-orphans-${randomUUID()}`;
    await this.dataSource.transaction(async (em) => {
      const rows = await em.getRepository(ReconcileOrphanEntity).find({
        where: unique.map((r) => ({ type: r.type, name: r.name })),
        lock: { mode: 'pessimistic_write' },
      });
      const listed = new Set(rows.map((r) => `${r.type}/${r.name}`));
      const unknown = unique.filter((r) => !listed.has(`${r.type}/${r.name}`));
      if (unknown.length) throw new NotAnOrphanError(unknown);
      for (const r of unique) {
        await em.update(
          ReconcileOrphanEntity,
          { type: r.type, name: r.name },
          { deletionRequestedAt: () => 'now()', deletionError: null },
        );
      }
      await writeOutboxJob(em, { name: DELETE_ORPHANS_JOB, id: jobId, payload: { requestedBy: ctx.actor } });
    });
    return { jobId, items: unique };
  }

  /** The worker's half: deletes every orphan whose deletion was asked for, or says why not. */
  async run(
    /** One access, or each region's: an orphan is deleted in the region its ARN names. */
    accessIn: OrphanAccess | ((region: string | null) => OrphanAccess),
    environment: string,
    log: SagaLog & { info(fields: object, message: string): void },
  ): Promise<{ deleted: number; refused: number }> {
    const repo = this.dataSource.getRepository(ReconcileOrphanEntity);
    const rows = await repo.find({ where: { deletionRequestedAt: Not(IsNull()) } });
    if (!rows.length) return { deleted: 0, refused: 0 };
    // A DELETED tenant with an open change is being undeleted: its resources are not orphans.
    const tenants = await this.dataSource.query<
      { id: string; status: TenantStatus; slug: string; changing: boolean }[]
    >(
      `SELECT id, status, slug,
              EXISTS (SELECT 1 FROM tenant_changes c
                       WHERE c.tenant_id = t.id AND c.status IN ('RUNNING', 'PENDING_MAINTENANCE')) AS changing
         FROM tenants t WHERE id::text = ANY($1::text[])`,
      [rows.map((r) => r.tags['silo:tenant-id'] ?? '').filter((id) => /^[0-9a-f-]{36}$/.test(id))],
    );
    const hosts = await this.dataSource.query<{ id: string; status: KnownHost['status']; name: string }[]>(
      `SELECT id, status, name FROM hosts WHERE id::text = ANY($1::text[])`,
      [rows.map((r) => r.tags['silo:host-id'] ?? '').filter((id) => /^[0-9a-f-]{36}$/.test(id))],
    );
    const known = {
      tenants: new Map<string, KnownTenant>(tenants.map((t) => [t.id, t])),
      hosts: new Map<string, KnownHost>(hosts.map((h) => [h.id, h])),
    };
    let deleted = 0;
    let refused = 0;
    for (const row of rows) {
      const where = { type: row.type, name: row.name };
      const access = typeof accessIn === 'function' ? accessIn(regionOfArn(row.arn)) : accessIn;
      try {
        const tags = await access.tagsOf(row.type, row.name);
        if (!tags) {
          await repo.delete(where);
          continue;
        }
        if (!orphanedBy(tags, known, environment)) {
          refused++;
          await repo.update(where, {
            deletionRequestedAt: null,
            deletionError: `refused: its tags no longer say managed-by=silo, silo:environment=${environment} and no live tenant or host`,
          });
          log.warn(
            { orphan: row.type, name: row.name },
            'orphan deletion refused: no longer an orphan of this environment',
          );
          continue;
        }
        // The adapters delete only what is tagged for the owner they are given. A shared host's
        // resources (and any tagged for no tenant) carry no tenant id: given none, the adapters
        // accept exactly those that name no tenant.
        const owner = tags['silo:tenant-id'] ?? (NO_TENANT as string);
        const outcome = await this.remove(access, row.type, row.name, owner);
        if (outcome === 'not-ours') {
          refused++;
          await repo.update(where, {
            deletionRequestedAt: null,
            deletionError: 'refused: it is now tagged for another owner',
          });
          log.warn({ orphan: row.type, name: row.name }, 'orphan deletion refused: tagged for another owner');
          continue;
        }
        if (outcome === 'busy') {
          await repo.update(where, {
            deletionRequestedAt: null,
            deletionError: 'the instance cannot be deleted in its current state; ask again later',
          });
          continue;
        }
        deleted++;
        await repo.delete(where);
        log.info(
          {
            orphan: row.type,
            name: row.name,
            tenantId: tags['silo:tenant-id'] ?? null,
            hostId: tags['silo:host-id'] ?? null,
            outcome,
          },
          'orphan deleted',
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await repo.update(where, { deletionRequestedAt: null, deletionError: message });
        log.warn({ orphan: row.type, name: row.name, err: message }, 'orphan deletion failed');
        if (!(error instanceof ProvisioningError)) throw error;
      }
    }
    return { deleted, refused };
  }

  private async remove(access: OrphanAccess, type: OrphanType, name: string, owner: string): Promise<string> {
    switch (type) {
      case 'instance':
        return access.deleteInstance(name, owner);
      case 'secret':
        return access.deleteSecret(name, owner);
      case 'alarm':
        await access.deleteAlarm(name);
        return 'deleted';
      case 'snapshot':
        return access.deleteSnapshot(name);
    }
  }
}

/** The region an ARN names (`arn:aws:rds:eu-central-1:…`); null when it names none. */
export function regionOfArn(arn: string | null): string | null {
  const region = arn?.split(':')[3];
  return region ? region : null;
}
