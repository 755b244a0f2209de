import type { EntityManager } from 'typeorm';
import { writeOutboxJob } from './outbox';

/** A shared host's create saga (one pass per job run; waits come back as delays). */
export const CREATE_HOST_JOB = 'create-host';
/** A shared host's delete saga, once HostRetirement moved it to `deleting`. */
export const DELETE_HOST_JOB = 'delete-host';
/** Records which hosts are empty and starts deleting those empty past the grace period (job scheduler `silo-sweep-hosts`). */
export const SWEEP_HOSTS_JOB = 'sweep-hosts';
export const SWEEP_HOSTS_SCHEDULER = 'silo-sweep-hosts';
/** One rotation of a pool host's pool login (POST /v1/hosts/{id}/rotate-credentials, or scheduled). */
export const ROTATE_HOST_CREDENTIALS_JOB = 'rotate-host-credentials';
export const HOST_JOB_NAMES = [
  CREATE_HOST_JOB,
  DELETE_HOST_JOB,
  SWEEP_HOSTS_JOB,
  ROTATE_HOST_CREDENTIALS_JOB,
] as const;

/** Ids only: the worker reads everything else from the control plane and Secrets Manager. */
export interface HostJobData {
  hostId: string;
}

/** One create job per host (a host is created once; its ordinal is never reused). */
export function createHostJobId(hostId: string): string {
  return `create-host-${hostId}`;
}

export function deleteHostJobId(hostId: string): string {
  return `delete-host-${hostId}`;
}

/** One job per host and rotation: relaying it twice adds it once. */
export function rotateHostJobId(hostId: string, run: number): string {
  return `rotate-host-${hostId}-${run}`;
}

/** Writes the job of the host's rotation `run` into the outbox, in the caller's transaction. */
export function writeRotateHostJob(em: EntityManager, hostId: string, run: number): Promise<void> {
  return writeOutboxJob(em, {
    name: ROTATE_HOST_CREDENTIALS_JOB,
    id: rotateHostJobId(hostId, run),
    payload: { hostId },
  });
}

/** Writes the host's create job into the outbox, in the caller's transaction. */
export function writeCreateHostJob(em: EntityManager, hostId: string): Promise<void> {
  return writeOutboxJob(em, { name: CREATE_HOST_JOB, id: createHostJobId(hostId), payload: { hostId } });
}

/** Writes the host's delete job into the outbox, in the caller's transaction. */
export function writeDeleteHostJob(em: EntityManager, hostId: string): Promise<void> {
  return writeOutboxJob(em, { name: DELETE_HOST_JOB, id: deleteHostJobId(hostId), payload: { hostId } });
}

/**
 * The hosts' jobs, for callers that hold a transaction: each job is written to the outbox with
 * the state change that needs it and relayed to the `provisioning` queue.
 */
export class HostJobs {
  enqueueCreate(em: EntityManager, hostId: string): Promise<void> {
    return writeCreateHostJob(em, hostId);
  }

  enqueueDelete(em: EntityManager, hostId: string): Promise<void> {
    return writeDeleteHostJob(em, hostId);
  }
}
