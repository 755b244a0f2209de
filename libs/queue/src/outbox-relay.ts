import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { OutboxMessageEntity } from '@silo/control-plane-db';
import { DataSource } from 'typeorm';
import { ProvisioningQueue } from './job-queue';

const BATCH = 100;
const MAX_BACKOFF_MS = 30_000;

/**
 * Moves outbox rows to BullMQ. A row is written in the same transaction as the state change
 * that needs its job, so the job exists eventually even when Redis was away at that moment.
 * Several relays may run: rows are claimed with FOR UPDATE SKIP LOCKED, and adding a job whose
 * deterministic id exists is a no-op, so a row relayed twice still makes one job.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: ProvisioningQueue,
    private readonly config: SiloConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  /** Relays what is due now; returns how many rows went to the queue. */
  async relayOnce(): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const rows = await em
        .getRepository(OutboxMessageEntity)
        .createQueryBuilder('o')
        .where('o.dispatched_at IS NULL AND o.available_at <= now()')
        .orderBy('o.id')
        .limit(BATCH)
        .setLock('pessimistic_write')
        .setOnLocked('skip_locked')
        .getMany();
      let sent = 0;
      for (const row of rows) {
        try {
          await this.queue.add(row.jobName, row.payload as Record<string, string>, {
            jobId: row.jobId,
            priority: typeof row.jobOptions.priority === 'number' ? row.jobOptions.priority : undefined,
            // A job due later (a moved tenant's source removal): BullMQ holds it until then.
            delay: typeof row.jobOptions.delayMs === 'number' ? row.jobOptions.delayMs : undefined,
          });
          await em.update(
            OutboxMessageEntity,
            { id: row.id },
            { dispatchedAt: () => 'now()', attempts: row.attempts + 1 },
          );
          sent++;
        } catch (error) {
          const delayMs = Math.min(500 * 2 ** row.attempts, MAX_BACKOFF_MS);
          await em.update(
            OutboxMessageEntity,
            { id: row.id },
            {
              attempts: row.attempts + 1,
              lastError: error instanceof Error ? error.message : String(error),
              availableAt: () => `now() + interval '${delayMs} milliseconds'`,
            },
          );
          // Redis is likely away: leave the rest for the next pass instead of holding the
          // transaction and its row locks through one timeout per row.
          break;
        }
      }
      return sent;
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.relayOnce()
        .then((sent) => {
          if (sent) this.logger.debug(`relayed ${sent} job(s) to the queue`);
        })
        .catch((error: unknown) => {
          this.logger.warn(
            `outbox relay pass failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        })
        .finally(() => this.schedule(this.config.worker.outboxPollMs));
    }, delayMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
