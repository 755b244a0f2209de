import { OutboxMessageEntity } from '@silo/control-plane-db';
import { PROVISIONING_QUEUE } from '@silo/queue';
import type { EntityManager } from 'typeorm';

/**
 * Writes a job for the `provisioning` queue into the outbox, inside the caller's transaction, so
 * that it exists exactly when the state change that needs it commits. The relay hands it to
 * BullMQ under `jobId` (deterministic: relaying twice adds it once). Payloads hold ids only.
 */
export async function writeOutboxJob(
  em: EntityManager,
  job: { name: string; id: string; payload: Record<string, string>; priority?: number; delayMs?: number },
): Promise<void> {
  const rows = em.getRepository(OutboxMessageEntity);
  await rows.save(
    rows.create({
      queue: PROVISIONING_QUEUE,
      jobName: job.name,
      jobId: job.id,
      payload: job.payload,
      jobOptions: {
        ...(job.priority !== undefined && { priority: job.priority }),
        ...(job.delayMs !== undefined && { delayMs: Math.max(0, Math.round(job.delayMs)) }),
      },
    }),
  );
}
