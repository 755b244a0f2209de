import type { HostEntity, HostRotationEntity } from '@silo/control-plane-db';
import type { DataSource } from 'typeorm';
import type { StepRecord, SagaContext } from '../store/provisioning-store';
import { HostError, HostErrorCode } from './host.errors';
import type { HostSagaLog } from './host-journal';
import { HOST_ROTATION_STEPS } from './host-rotation-saga';
import { HostRotationStore } from './host-rotation-store';
import { HostStepStore } from './host-step-store';

/** Scheduled pool-login rotations a pass starts at most (as for tenants). */
export const HOST_ROTATIONS_PER_PASS = 5;

/** A rotation with its steps (the latest rotation's; an earlier one's journal was cleared by the next). */
export interface HostRotationDetail {
  host: Pick<HostEntity, 'id' | 'name'>;
  rotation: HostRotationEntity;
  /** In saga order; empty for an earlier rotation. */
  steps: StepRecord[];
}

/**
 * Pool-login rotations of shared hosts for the API and the scheduler: opening one (its row and
 * job in one transaction) and reading them back. The worker's HostRotationSaga runs them.
 */
export class HostRotations {
  constructor(
    private readonly rotations: HostRotationStore,
    private readonly steps: Pick<HostStepStore, 'getSteps' | 'getHost'>,
  ) {}

  /** Opens the host's next pool-login rotation; see {@link HostRotationStore.open} for the refusals. */
  async request(hostId: string, ctx: SagaContext): Promise<HostRotationDetail> {
    const { host, rotation } = await this.rotations.open(hostId, ctx);
    return { host, rotation, steps: [] };
  }

  /** The host's rotations, newest first, the latest with its steps. HOST_NOT_FOUND for an unknown host. */
  async list(hostId: string, limit = 20): Promise<HostRotationDetail[]> {
    const host = await this.steps.getHost(hostId);
    if (!host) throw new HostError(HostErrorCode.HOST_NOT_FOUND, `no host ${hostId}`);
    const rotations = await this.rotations.list(hostId, limit);
    const journal = rotations.length
      ? await this.steps.getSteps(hostId, 'rotate')
      : new Map<string, StepRecord>();
    return rotations.map((rotation, i) => ({
      host,
      rotation,
      steps: i === 0 ? HOST_ROTATION_STEPS.flatMap((s) => journal.get(s) ?? []) : [],
    }));
  }

  /**
   * With CREDENTIAL_ROTATION_DAYS set: opens a rotation for up to {@link HOST_ROTATIONS_PER_PASS}
   * available pool hosts whose pool login is older than that. A host taken meanwhile (a rotation
   * opened by hand, a deletion begun) is left for the next pass. Answers the hosts it started.
   */
  async startDue(days: number, ctx: SagaContext, log: Pick<HostSagaLog, 'info'>): Promise<string[]> {
    if (days <= 0) return [];
    const started: string[] = [];
    for (const host of await this.rotations.due(days, HOST_ROTATIONS_PER_PASS)) {
      try {
        await this.rotations.open(host.id, ctx);
        started.push(host.id);
        log.info(
          { hostId: host.id, host: host.name },
          `pool login older than ${days} days; rotation started`,
        );
      } catch (error) {
        if (error instanceof HostError) continue;
        throw error;
      }
    }
    return started;
  }
}

/** The scheduled pool-login rotations of a reconcile pass ({@link HostRotations.startDue}) on the control-plane database. */
export function startDueHostRotations(
  dataSource: DataSource,
  days: number,
  ctx: SagaContext,
  log: Pick<HostSagaLog, 'info'>,
): Promise<string[]> {
  return new HostRotations(new HostRotationStore(dataSource), new HostStepStore(dataSource)).startDue(
    days,
    ctx,
    log,
  );
}
