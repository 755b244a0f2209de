import type { HostRotationDetail } from '@silo/fleet';
import type { HostRotationResource } from './host-rotation.responses';

/** The contract's view of a pool-login rotation: what the control plane stores, never a password. */
export function hostRotationView({ host, rotation: r, steps }: HostRotationDetail): HostRotationResource {
  const plan = (r.plan as { poolApp?: { from?: string; to?: string } }).poolApp;
  return {
    hostId: host.id,
    host: host.name,
    run: r.run,
    status: r.status,
    login: plan?.from && plan.to ? { from: plan.from, to: plan.to } : null,
    requestedBy: r.requestedBy,
    correlationId: r.correlationId,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '', step: r.errorStep } : null,
    steps: steps.map((s) => ({
      name: s.step,
      status: s.status,
      attempts: s.attempts,
      startedAt: s.startedAt?.toISOString() ?? null,
      finishedAt: s.finishedAt?.toISOString() ?? null,
      lastError: s.lastErrorCode ? { code: s.lastErrorCode, message: s.lastErrorMessage ?? '' } : null,
    })),
  };
}
