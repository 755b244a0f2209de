import type { SagaOutcome } from './provisioning-saga';
import type { StepDeps } from './provisioning-steps';
import { backoffDelay } from './backoff';

/**
 * Runs one saga pass under the tenant's lock. When another worker is in a pass for this tenant
 * (it took the job over after a lost lock), the job comes back later rather than run the same
 * steps twice at once.
 */
export async function passUnderTenantLock(
  deps: Pick<StepDeps, 'store' | 'settings'>,
  tenantId: string,
  pass: () => Promise<SagaOutcome>,
): Promise<SagaOutcome> {
  const outcome = await deps.store.withTenantLock(tenantId, pass);
  if (outcome !== 'locked') return outcome;
  const { retry } = deps.settings;
  return {
    kind: 'delay',
    delayMs: backoffDelay(1, retry.baseDelayMs, retry.maxDelayMs),
    reason: 'tenant busy in another worker',
  };
}
