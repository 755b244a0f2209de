import {
  TENANT_ROUTER_APPLICATION_NAME,
  TenantRouter,
  type TenantRouterLog,
  type TenantRouterOptions,
  type TenantRouterStats,
} from '@silo/tenant-router';
import { readNewestNotes, type Contender } from './contender';
import type { InMemoryTenantPorts } from './in-memory-ports';
import { quantile } from './measurements';

/**
 * (c) libs/tenant-router as a tenant application uses it, over the in-memory ports: `run()`, or
 * with `transactions` (the mixed fleet, where pooled tenants take work only in a transaction)
 * `transaction()` for every tenant, whose request also checks that every note read is the
 * tenant's.
 */
export class TenantRouterContender implements Contender {
  readonly key = 'c';
  readonly applicationName = TENANT_ROUTER_APPLICATION_NAME;
  private readonly router: TenantRouter;
  /** The router's warnings by message. */
  private readonly warnings = new Map<string, number>();

  constructor(
    private readonly ports: InMemoryTenantPorts,
    options: TenantRouterOptions,
    private readonly transactions = false,
  ) {
    const log: TenantRouterLog = {
      warn: (_fields, message) => void this.warnings.set(message, (this.warnings.get(message) ?? 0) + 1),
    };
    this.router = new TenantRouter(ports, ports, options, log);
  }

  request(tenantId: string): Promise<void> {
    return this.transactions
      ? this.router.transaction(tenantId, (manager) => readNewestNotes(manager, tenantId))
      : this.router.run(tenantId, (dataSource) => readNewestNotes(dataSource));
  }

  async lookup(tenantId: string): Promise<void> {
    const lease = await this.router.acquire(tenantId);
    lease.release();
  }

  initialisations(): number {
    return this.router.stats().initialisations;
  }

  stats(): TenantRouterStats {
    return this.router.stats();
  }

  notes(): string {
    const s = this.router.stats();
    const init = [...s.initialisationMs].sort((x, y) => x - y);
    const initMs = init.length
      ? `initialisation p50/p99 ${quantile(init, 0.5).toFixed(1)}/${quantile(init, 0.99).toFixed(1)} ms (last ${init.length}), `
      : '';
    const warned = [...this.warnings].map(([message, n]) => `"${message}" ×${n}`).join(', ');
    return (
      initMs +
      `evictions ${s.evictions}, idle-closed ${s.idleClosed}, failed initialisations ${s.initialisationFailures}, ` +
      `open at the end ${s.open} (${s.openConnections} connections), secret fetches ${this.ports.secretFetches}, ` +
      `directory lookups ${this.ports.directoryLookups}, SCRAM logins with keys derived ${s.scramDerivations} / reused ${s.scramKeyHits}` +
      (warned ? `; router warnings ${warned}` : '')
    );
  }

  close(): Promise<void> {
    return this.router.close();
  }
}
