import type { HostStatus } from '@silo/control-plane-db';
import type { DataSource } from 'typeorm';
import {
  CREATE_HOST_JOB,
  createHostJobId,
  DELETE_HOST_JOB,
  deleteHostJobId,
  ROTATE_HOST_CREDENTIALS_JOB,
  rotateHostJobId,
} from '../jobs/host-jobs';
import { writeOutboxJob } from '../jobs/outbox';
import type { SagaLog } from '../store/provisioning-store';

/** What re-driving hosts asks of the queue (libs/queue's ProvisioningQueue fits). */
export interface LostHostJobsQueue {
  /** `live`: waiting, prioritised, delayed or active; `missing`: removed, or lost with Redis. */
  jobFate(jobId: string): Promise<'live' | 'completed' | 'failed' | 'missing'>;
  /** Removes a completed job, so that its id can be added again. */
  discardCompleted(jobId: string): Promise<void>;
  /** Removes a failed job, so that its id can be added again. Without it a failed host job is only logged. */
  discardFailed?(jobId: string): Promise<void>;
}

interface StuckHost {
  id: string;
  name: string;
  status: Extract<HostStatus, 'creating' | 'deleting' | 'failed'>;
}

/** A pool-login rotation still RUNNING: its job is `rotate-host-<id>-<run>`. */
interface StuckRotation {
  id: string;
  name: string;
  run: number;
}

/**
 * Hosts in a saga whose record and steps have not moved for the grace period: `creating`,
 * `deleting`, or `failed` with steps of its create saga not yet undone (its compensation runs in
 * the create job). Shared by the WHERE of the pass's read and of its check before re-driving.
 */
const STUCK = `
  (h.status IN ('creating', 'deleting')
   OR (h.status = 'failed' AND EXISTS (SELECT 1 FROM host_steps s
                                        WHERE s.host_id = h.id AND s.saga = 'create'
                                          AND s.attempts > 0 AND s.status <> 'compensated')))
  AND GREATEST(h.updated_at,
               coalesce((SELECT max(s.updated_at) FROM host_steps s WHERE s.host_id = h.id), h.updated_at))
      < now() - $1 * interval '1 millisecond'`;

/** A RUNNING pool-login rotation whose record and rotate steps have not moved for the grace period. */
const STUCK_ROTATION = `
  r.status = 'RUNNING'
  AND GREATEST(r.updated_at,
               coalesce((SELECT max(s.updated_at) FROM host_steps s
                          WHERE s.host_id = r.host_id AND s.saga = 'rotate'), r.updated_at))
      < now() - $1 * interval '1 millisecond'`;

/**
 * The hosts' part of a reconcile pass: a shared host whose saga has no live job (lost with a
 * Redis flush or failover, or failed in the queue) gets its job again under its deterministic id
 * (`create-host-<id>`, `delete-host-<id>`), through the outbox; so does a pool host's RUNNING
 * pool-login rotation (`rotate-host-<id>-<run>`), which would otherwise hold every later rotation
 * of the host off (one runs per host). The sagas are journaled and
 * idempotent, so a re-driven saga carries on where its steps say. Unlike a tenant's, a host job
 * that failed in the queue is re-driven too: tenants waiting on the host, or its resources being
 * deleted, would otherwise wait for ever. Each one re-driven is logged (`host had no live job; re-driven`):
 * hosts have no events table.
 */
export class LostHostJobs {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: LostHostJobsQueue,
    private readonly stuckGraceMs: number,
    private readonly log: SagaLog & { info(fields: object, message: string): void },
  ) {}

  /** Re-drives every stuck host it can; what it cannot ask about now goes into `problems`. */
  async run(problems: string[]): Promise<number> {
    const stuck = await this.dataSource.query<StuckHost[]>(
      `SELECT h.id, h.name, h.status FROM hosts h WHERE ${STUCK} ORDER BY h.created_at`,
      [this.stuckGraceMs],
    );
    let redriven = 0;
    for (const host of stuck) {
      try {
        if (await this.redrive(host)) redriven++;
      } catch (error) {
        problems.push(`host ${host.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const rotations = await this.dataSource.query<StuckRotation[]>(
      `SELECT r.host_id AS id, h.name, r.run FROM host_rotations r JOIN hosts h ON h.id = r.host_id
        WHERE ${STUCK_ROTATION} ORDER BY r.created_at`,
      [this.stuckGraceMs],
    );
    for (const rotation of rotations) {
      try {
        if (await this.redriveRotation(rotation)) redriven++;
      } catch (error) {
        problems.push(
          `rotation ${rotation.run} of host ${rotation.name}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return redriven;
  }

  private async redrive(host: StuckHost): Promise<boolean> {
    const [jobName, jobId] =
      host.status === 'deleting'
        ? [DELETE_HOST_JOB, deleteHostJobId(host.id)]
        : [CREATE_HOST_JOB, createHostJobId(host.id)];
    const fate = await this.freed(jobId, { hostId: host.id, host: host.name, status: host.status });
    if (!fate) return false;
    return this.dataSource.transaction(async (em) => {
      // Only if the host is still where the pass found it, and still quiet.
      const still = await em.query<unknown[]>(
        `SELECT 1 FROM hosts h WHERE h.id = $2 AND h.status = $3 AND ${STUCK} FOR UPDATE OF h`,
        [this.stuckGraceMs, host.id, host.status],
      );
      if (!still.length) return false;
      await writeOutboxJob(em, { name: jobName, id: jobId, payload: { hostId: host.id } });
      this.log.warn(
        { hostId: host.id, host: host.name, jobId, status: host.status, found: fate },
        'host had no live job; re-driven',
      );
      return true;
    });
  }

  private async redriveRotation(rotation: StuckRotation): Promise<boolean> {
    const jobId = rotateHostJobId(rotation.id, rotation.run);
    const fate = await this.freed(jobId, { hostId: rotation.id, host: rotation.name, run: rotation.run });
    if (!fate) return false;
    return this.dataSource.transaction(async (em) => {
      // Only if the rotation is still where the pass found it, and still quiet.
      const still = await em.query<unknown[]>(
        `SELECT 1 FROM host_rotations r WHERE r.host_id = $2 AND r.run = $3 AND ${STUCK_ROTATION} FOR UPDATE OF r`,
        [this.stuckGraceMs, rotation.id, rotation.run],
      );
      if (!still.length) return false;
      await writeOutboxJob(em, {
        name: ROTATE_HOST_CREDENTIALS_JOB,
        id: jobId,
        payload: { hostId: rotation.id },
      });
      this.log.warn(
        { hostId: rotation.id, host: rotation.name, run: rotation.run, jobId, found: fate },
        'host pool-login rotation had no live job; re-driven',
      );
      return true;
    });
  }

  /**
   * What became of a job that may be queued again under its id: null while it is queued or live
   * (nothing to do), or failed in a queue that cannot discard it (logged); otherwise its entry in
   * the queue, completed or failed, is removed first.
   */
  private async freed(
    jobId: string,
    about: Record<string, unknown>,
  ): Promise<'completed' | 'failed' | 'missing' | null> {
    const fate = await this.fate(jobId);
    if (fate === 'queued' || fate === 'live') return null;
    if (fate === 'failed') {
      if (!this.queue.discardFailed) {
        this.log.warn({ ...about, jobId }, 'host job failed in the queue; not revived, see the worker logs');
        return null;
      }
      await this.queue.discardFailed(jobId);
    } else {
      await this.queue.discardCompleted(jobId);
    }
    return fate;
  }

  /** Where the job stands; `queued` while its outbox row is still to be relayed. */
  private async fate(jobId: string): Promise<'queued' | 'live' | 'completed' | 'failed' | 'missing'> {
    const [{ pending }] = await this.dataSource.query<{ pending: boolean }[]>(
      `SELECT EXISTS (SELECT 1 FROM outbox WHERE job_id = $1 AND dispatched_at IS NULL) AS pending`,
      [jobId],
    );
    return pending ? 'queued' : this.queue.jobFate(jobId);
  }
}
