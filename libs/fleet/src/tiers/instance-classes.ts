/** An RDS for PostgreSQL instance class Silo offers. */
export interface InstanceClassInfo {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryGiB: number;
  /** Whether Silo allows Multi-AZ on this class. */
  readonly multiAz: boolean;
  /** The engine's default `max_connections` on this class. */
  readonly maxConnections: number;
}

const GiB = 1024 ** 3;

/**
 * The RDS for PostgreSQL default parameter group's `max_connections`:
 * `LEAST({DBInstanceClassMemory/9531392}, 5000)`, taking DBInstanceClassMemory as the class's
 * nominal memory.
 */
export function defaultMaxConnections(memoryGiB: number): number {
  return Math.min(Math.floor((memoryGiB * GiB) / 9_531_392), 5000);
}

function offer(name: string, vcpus: number, memoryGiB: number, multiAz: boolean): InstanceClassInfo {
  return Object.freeze({ name, vcpus, memoryGiB, multiAz, maxConnections: defaultMaxConnections(memoryGiB) });
}

/** Every instance class Silo offers, by name. */
export const INSTANCE_CLASSES: Readonly<Record<string, InstanceClassInfo>> = Object.freeze(
  Object.fromEntries(
    [
      // Burstable micro classes are for throwaway tenants: a standby would double their cost.
      offer('db.t3.micro', 2, 1, false),
      offer('db.t3.small', 2, 2, true),
      offer('db.t3.medium', 2, 4, true),
      offer('db.t3.large', 2, 8, true),
      offer('db.t4g.micro', 2, 1, false),
      offer('db.t4g.small', 2, 2, true),
      offer('db.t4g.medium', 2, 4, true),
      offer('db.m6i.large', 2, 8, true),
      offer('db.m6i.xlarge', 4, 16, true),
      offer('db.m6i.2xlarge', 8, 32, true),
      offer('db.r6i.large', 2, 16, true),
      offer('db.r6i.xlarge', 4, 32, true),
    ].map((info) => [info.name, info]),
  ),
);

/** The catalogue entry for `name`, or `undefined` when Silo does not offer that class. */
export function instanceClass(name: string): InstanceClassInfo | undefined {
  return Object.hasOwn(INSTANCE_CLASSES, name) ? INSTANCE_CLASSES[name] : undefined;
}
