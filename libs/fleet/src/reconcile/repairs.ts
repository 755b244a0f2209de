import type { FleetInstance } from '@silo/aws';
import type { DataSource, QueryRunner } from 'typeorm';
import type { Repair } from './drift';
import type { FleetAccess } from './fleet-check';

/** What a pass repaired, and why the rest was not (by finding field). */
export interface RepairOutcome {
  repaired: Set<string>;
  errors: Map<string, string>;
}

/** Tags go first: IAM lets Silo change only what is tagged `managed-by=silo`. */
export function repairOrder(r: Repair): number {
  return r.kind === 'instance-tags' || r.kind === 'secret-tags' ? 0 : 1;
}

/** One repair, one AWS call. */
export function applyRepair(aws: FleetAccess, r: Repair): Promise<void> {
  switch (r.kind) {
    case 'instance-protection':
      return aws.protectInstance(r.identifier, r.settings);
    case 'instance-tags':
      return aws.tagInstance(r.arn, r.tags);
    case 'secret-tags':
      return aws.tagSecret(r.name, r.tags);
    case 'alarm':
      return aws.putAlarm(r.spec);
  }
}

/**
 * Applies `repairs` (tags first) holding the saga lock `lockKey` (a PostgreSQL session advisory
 * lock, the one the owner's sagas take), so that a repair never races a saga of the same tenant or
 * host. Nothing is repaired when the lock is held (`busy`) or when `unchanged` says the owner has
 * moved on since it was read (its reason); instance protection waits for an available instance.
 * A repair that fails is reported through `failed` and left for the next pass.
 */
export async function repairUnderLock(options: {
  dataSource: DataSource;
  aws: FleetAccess;
  lockKey: string;
  busy: string;
  /** Null while the owner is as the pass found it; otherwise why nothing is repaired now. */
  unchanged: (runner: QueryRunner) => Promise<string | null>;
  instance: FleetInstance | undefined;
  repairs: readonly Repair[];
  failed: (repair: Repair, message: string) => void;
}): Promise<RepairOutcome> {
  const repaired = new Set<string>();
  const errors = new Map<string, string>();
  const { repairs } = options;
  if (!repairs.length) return { repaired, errors };
  const failAll = (reason: string): RepairOutcome => {
    for (const r of repairs) for (const f of r.fields) errors.set(f, reason);
    return { repaired, errors };
  };
  const runner = options.dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [
      options.lockKey,
    ])) as { locked: boolean }[];
    if (!locked) return failAll(options.busy);
    try {
      const moved = await options.unchanged(runner);
      if (moved) return failAll(moved);
      for (const r of [...repairs].sort((a, b) => repairOrder(a) - repairOrder(b))) {
        try {
          if (r.kind === 'instance-protection' && options.instance?.status !== 'available') {
            throw new Error(
              `instance is ${options.instance?.status ?? 'gone'}; repaired once it is available`,
            );
          }
          await applyRepair(options.aws, r);
          for (const f of r.fields) repaired.add(f);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          options.failed(r, message);
          for (const f of r.fields) errors.set(f, message);
        }
      }
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [options.lockKey]);
    }
  } finally {
    await runner.release();
  }
  return { repaired, errors };
}
