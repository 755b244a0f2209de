import type { ProvisioningError } from '@silo/core';
import {
  stepDonePatch,
  type ProvisioningStore,
  type Saga,
  type SagaContext,
  type StepCompletion,
  type StepRecord,
} from '../store/provisioning-store';

/**
 * The bookkeeping both sagas do around a step: its row in `provisioning_steps` and the tenant
 * events that go with each change, written together.
 */
export class StepJournal {
  constructor(
    private readonly store: ProvisioningStore,
    private readonly tenantId: string,
    private readonly saga: Saga,
    private readonly ctx: SagaContext,
    private readonly now: () => Date,
  ) {}

  /** Marks the step running and returns this attempt's number. */
  async started(step: string, position: number, record: StepRecord | undefined): Promise<number> {
    const attempts = (record?.attempts ?? 0) + 1;
    await this.update(
      step,
      position,
      { status: 'running', attempts, startedAt: record?.startedAt ?? this.now() },
      null,
    );
    return attempts;
  }

  /** Waiting again is not news: only the first wait of a step becomes an event. */
  async waiting(
    step: string,
    position: number,
    record: StepRecord | undefined,
    reason: string,
  ): Promise<void> {
    await this.update(
      step,
      position,
      { status: 'waiting' },
      record?.status === 'waiting'
        ? null
        : { type: 'step.waiting', message: `${step}: ${reason}`, data: { step, saga: this.saga } },
    );
  }

  async completed(
    step: string,
    position: number,
    attempts: number,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    const { finishedAt, event } = this.completion(step, position, attempts, data);
    await this.update(step, position, stepDonePatch(finishedAt), event);
  }

  /** The step done, for a store call that records it with a status change. */
  completion(
    step: string,
    position: number,
    attempts: number,
    data: Record<string, unknown> = {},
  ): StepCompletion {
    return {
      saga: this.saga,
      name: step,
      position,
      finishedAt: this.now(),
      event: {
        type: 'step.completed',
        message: `${step} done`,
        data: { step, saga: this.saga, attempts, ...data },
      },
    };
  }

  async retrying(
    step: string,
    position: number,
    failures: number,
    error: ProvisioningError,
    delayMs: number,
  ): Promise<void> {
    await this.update(
      step,
      position,
      { status: 'pending', failures, lastErrorCode: error.code, lastErrorMessage: error.message },
      {
        type: 'step.retrying',
        message: `${step} failed (${error.code}); retrying in ${delayMs} ms`,
        data: { step, saga: this.saga, failures, code: error.code, error: error.message, delayMs },
      },
    );
  }

  async failed(step: string, position: number, error: ProvisioningError): Promise<void> {
    await this.update(
      step,
      position,
      {
        status: 'failed',
        finishedAt: this.now(),
        lastErrorCode: error.code,
        lastErrorMessage: error.message,
      },
      {
        type: 'step.failed',
        message: `${step} failed: ${error.message}`,
        data: { step, saga: this.saga, code: error.code },
      },
    );
  }

  async undoFailed(
    step: string,
    position: number,
    failures: number,
    error: ProvisioningError,
  ): Promise<void> {
    await this.update(
      step,
      position,
      { failures, lastErrorCode: error.code, lastErrorMessage: `undo: ${error.message}` },
      null,
    );
  }

  async compensated(step: string, position: number): Promise<void> {
    await this.update(
      step,
      position,
      { status: 'compensated', finishedAt: this.now() },
      { type: 'step.compensated', message: `${step} undone`, data: { step, saga: this.saga } },
    );
  }

  private update(
    step: string,
    position: number,
    patch: Partial<Omit<StepRecord, 'step'>>,
    event: Parameters<ProvisioningStore['updateStep']>[4],
  ): Promise<void> {
    return this.store.updateStep(this.tenantId, this.saga, { name: step, position }, patch, event, this.ctx);
  }
}
