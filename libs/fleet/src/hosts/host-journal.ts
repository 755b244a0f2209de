import type { HostSagaKind } from '@silo/control-plane-db';
import type { ProvisioningError } from '@silo/core';
import { stepDonePatch, type SagaContext, type StepRecord } from '../store/provisioning-store';
import type { HostStepCompletion, HostStepStore } from './host-step-store';

/** The logging a host saga does; its events go to the log (the events table is the tenants'). */
export interface HostSagaLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** The bookkeeping of a host saga's step: its `host_steps` row, and a log line for each change. */
export class HostJournal {
  constructor(
    private readonly store: HostStepStore,
    private readonly hostId: string,
    private readonly saga: HostSagaKind,
    private readonly ctx: SagaContext,
    private readonly log: HostSagaLog,
    private readonly now: () => Date,
  ) {}

  /** Marks the step running and returns this attempt's number. */
  async started(step: string, position: number, record: StepRecord | undefined): Promise<number> {
    const attempts = (record?.attempts ?? 0) + 1;
    await this.update(step, position, {
      status: 'running',
      attempts,
      startedAt: record?.startedAt ?? this.now(),
    });
    return attempts;
  }

  /** Only the first wait of a step is logged at info. */
  async waiting(
    step: string,
    position: number,
    record: StepRecord | undefined,
    reason: string,
  ): Promise<void> {
    await this.update(step, position, { status: 'waiting' });
    if (record?.status !== 'waiting') this.log.info(this.fields({ step, reason }), `host ${step}: ${reason}`);
  }

  async completed(step: string, position: number, attempts: number): Promise<void> {
    await this.update(step, position, stepDonePatch(this.now()));
    this.logCompleted(step, attempts);
  }

  /** The step done, for a store call that records it with a status change. */
  completion(step: string, position: number): HostStepCompletion {
    return { saga: this.saga, name: step, position, finishedAt: this.now() };
  }

  logCompleted(step: string, attempts: number): void {
    this.log.info(this.fields({ step, attempts }), `host ${step} done`);
  }

  async retrying(
    step: string,
    position: number,
    failures: number,
    error: ProvisioningError,
    delayMs: number,
  ): Promise<void> {
    await this.update(step, position, {
      status: 'pending',
      failures,
      lastErrorCode: error.code,
      lastErrorMessage: error.message,
    });
    this.log.warn(
      this.fields({ step, failures, code: error.code, err: error.message, delayMs }),
      `host ${step} failed; will retry`,
    );
  }

  async failed(step: string, position: number, error: ProvisioningError): Promise<void> {
    await this.update(step, position, {
      status: 'failed',
      finishedAt: this.now(),
      lastErrorCode: error.code,
      lastErrorMessage: error.message,
    });
  }

  async undoFailed(
    step: string,
    position: number,
    failures: number,
    error: ProvisioningError,
  ): Promise<void> {
    await this.update(step, position, {
      failures,
      lastErrorCode: error.code,
      lastErrorMessage: `undo: ${error.message}`,
    });
    this.log.warn(
      this.fields({ step, code: error.code, err: error.message }),
      `undoing host ${step} failed; will retry`,
    );
  }

  async compensated(step: string, position: number): Promise<void> {
    await this.update(step, position, { status: 'compensated', finishedAt: this.now() });
    this.log.info(this.fields({ step }), `host ${step} undone`);
  }

  private fields(extra: object): object {
    return { hostId: this.hostId, saga: this.saga, correlationId: this.ctx.correlationId, ...extra };
  }

  private update(step: string, position: number, patch: Partial<Omit<StepRecord, 'step'>>): Promise<void> {
    return this.store.updateStep(this.hostId, this.saga, { name: step, position }, patch);
  }
}
