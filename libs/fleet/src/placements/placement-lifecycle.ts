import type { Placement } from '@silo/core';
import type { StepRun } from '../saga/provisioning-steps';
import type { StepCompletion } from '../store/provisioning-store';

/**
 * What one step of a placement did. `recorded`: the step marked itself done in its own
 * transaction (activate, mark-deleted); `data` goes into its `step.completed` event.
 */
export type PlacementStepResult =
  { kind: 'done'; recorded?: true; data?: Record<string, unknown> } | { kind: 'wait'; reason: string };

/** What undoing one step did: done, or come back later (a resource still busy). */
export type UndoResult = { kind: 'done' } | { kind: 'wait'; reason: string };

/**
 * The one seam between the sagas and where a tenant's data lives (design.md, "Placements"). The
 * provisioning and deprovisioning sagas journal, retry, wait, compensate and keep deadlines the
 * same way for every placement; which steps there are and what each does is the placement's.
 *
 * Every step is idempotent: run again after a crash at any point, it finds what the earlier
 * pass made (by names derived from the tenant) and continues. Every undo is idempotent too, and
 * touches only what belongs to the tenant.
 */
export interface PlacementLifecycle {
  readonly placement: Placement;
  /** The provisioning steps, in order; the last one, `activate`, makes the tenant ACTIVE. */
  readonly provisionSteps: readonly string[];
  provision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult>;
  /** Undoes a provisioning step this run started (compensation runs them newest first). */
  undo(step: string, run: StepRun): Promise<UndoResult>;
  /** The deprovisioning steps, in order; the last one, `mark-deleted`, makes the tenant DELETED. */
  readonly deprovisionSteps: readonly string[];
  deprovision(step: string, run: StepRun, completion: StepCompletion): Promise<PlacementStepResult>;
}

/** The placements' lifecycles, one per placement. */
export type PlacementLifecycles = Readonly<Record<Placement, PlacementLifecycle>>;

export function unknownStep(placement: Placement, step: string): Error {
  return new Error(`the ${placement} placement has no step ${step}`);
}
