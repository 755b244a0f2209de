import type {
  TenantAppCredentials,
  TenantCredentialSource,
  TenantDirectory,
  TenantDirectoryEntry,
} from '@silo/tenant-router';
import type { FleetTenant } from './tenant-fleet';

/**
 * The control plane's tenant table and Secrets Manager, in memory: every tenant ACTIVE, each
 * with its own role and password. Each lookup waits `lookupMs` (0: answers in the same tick)
 * and is counted.
 */
export class InMemoryTenantPorts implements TenantDirectory, TenantCredentialSource {
  directoryLookups = 0;
  secretFetches = 0;
  private readonly byId: Map<string, FleetTenant>;

  constructor(
    tenants: readonly FleetTenant[],
    private readonly lookupMs: number,
  ) {
    this.byId = new Map(tenants.map((t) => [t.entry.id, t]));
  }

  async find(tenantId: string): Promise<TenantDirectoryEntry | null> {
    this.directoryLookups++;
    await this.delay();
    const tenant = this.byId.get(tenantId);
    return tenant ? { ...tenant.entry } : null;
  }

  async fetch(tenant: TenantDirectoryEntry): Promise<TenantAppCredentials> {
    this.secretFetches++;
    await this.delay();
    const found = this.byId.get(tenant.id);
    if (!found) throw new Error(`no app secret for tenant ${tenant.id}`);
    return { ...found.credentials };
  }

  private delay(): Promise<void> {
    return this.lookupMs > 0
      ? new Promise((resolve) => setTimeout(resolve, this.lookupMs))
      : Promise.resolve();
  }
}
