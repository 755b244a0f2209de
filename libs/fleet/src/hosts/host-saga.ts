import type { HostFailure, HostStatus } from '@silo/control-plane-db';
import { hostResourceNames, type SharedPlacement } from '@silo/core';
import { backoffDelay } from '../saga/backoff';
import type { SagaContext } from '../store/provisioning-store';
import { HostCreateSaga, type HostSagaOutcome } from './host-create-saga';
import type { HostSagaDeps } from './host-create-steps';
import { HostDeleteSaga } from './host-delete-saga';
import type { HostSagaLog } from './host-journal';

/**
 * What a tenant on a host needs to know of it: whether it is available (or failed, and why),
 * where its database answers and which secrets hold its credentials. Never a password.
 */
export interface HostConnection {
  id: string;
  name: string;
  placement: SharedPlacement;
  tier: string;
  status: HostStatus;
  error: HostFailure | null;
  instanceIdentifier: string;
  /** Null until publish-connection recorded it. */
  endpoint: { host: string; port: number; database: string } | null;
  /** The host's master credentials (RDS secret JSON shape once published). */
  masterSecretName: string;
  /** The pool login's secret; null on a schema host. */
  poolAppSecretName: string | null;
  /** The pool database's schema version; null on a schema host or before migrate-pool. */
  schemaVersion: string | null;
}

/**
 * A shared host's sagas: `create` (from `creating` to `available`, or `failed` and compensated)
 * and `delete` (from `deleting` to `deleted`). Each call is one pass under the host's advisory
 * lock (`silo:host:<id>`): a pass that finds the lock taken comes back later instead of running
 * the same steps at once, and a crashed pass is resumed from the journal by the next.
 */
export class HostSaga {
  /**
   * `inRegion` gives the deps of a host's region (its clients, backend, key, network and topic);
   * without it every host is worked on with `deps` (a single-region test).
   */
  constructor(
    private readonly deps: HostSagaDeps,
    private readonly now: () => Date = () => new Date(),
    private readonly inRegion?: (region: string) => HostSagaDeps,
  ) {}

  async create(hostId: string, ctx: SagaContext, log: HostSagaLog): Promise<HostSagaOutcome> {
    const deps = await this.depsOf(hostId);
    return this.underLock(hostId, () => new HostCreateSaga(deps, log, ctx, this.now).pass(hostId));
  }

  async delete(hostId: string, ctx: SagaContext, log: HostSagaLog): Promise<HostSagaOutcome> {
    const deps = await this.depsOf(hostId);
    return this.underLock(hostId, () => new HostDeleteSaga(deps, log, ctx, this.now).pass(hostId));
  }

  /** The deps of the host's region: everything of a host is made and removed in its region. */
  private async depsOf(hostId: string): Promise<HostSagaDeps> {
    if (!this.inRegion) return this.deps;
    const host = await this.deps.store.getHost(hostId);
    const region = host?.region ?? this.deps.settings.defaultRegion;
    return region === this.deps.settings.region ? this.deps : this.inRegion(region);
  }

  /** The host as its tenants see it; null for an unknown host. */
  async connection(hostId: string): Promise<HostConnection | null> {
    const host = await this.deps.store.getHost(hostId);
    if (!host) return null;
    const names = hostResourceNames(this.deps.settings.prefix, host.name);
    return {
      id: host.id,
      name: host.name,
      placement: host.placement,
      tier: host.tier,
      status: host.status,
      error: host.error,
      instanceIdentifier: host.instanceIdentifier,
      endpoint:
        host.endpointHost && host.endpointPort
          ? { host: host.endpointHost, port: host.endpointPort, database: host.databaseName }
          : null,
      masterSecretName: names.masterSecretName,
      poolAppSecretName: host.placement === 'pool' ? names.poolAppSecretName : null,
      schemaVersion: host.schemaVersion,
    };
  }

  private async underLock(hostId: string, pass: () => Promise<HostSagaOutcome>): Promise<HostSagaOutcome> {
    const outcome = await this.deps.store.withHostLock(hostId, pass);
    if (outcome !== 'locked') return outcome;
    const { retry } = this.deps.settings;
    return {
      kind: 'delay',
      delayMs: backoffDelay(1, retry.baseDelayMs, retry.maxDelayMs),
      reason: 'host busy in another worker',
    };
  }
}
