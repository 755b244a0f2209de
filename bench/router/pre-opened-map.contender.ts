import { DataSource } from 'typeorm';
import { postgresOptions, readNewestNotes, startupOptionsOf, type Contender } from './contender';
import type { InMemoryTenantPorts } from './in-memory-ports';

/**
 * References for the warm workload, not among the issue's contenders: the router's topology (one
 * DataSource per tenant, the same pool size) opened up front and looked up in a plain Map, with no
 * router in the way. (c) against `ref` is the router's own cost; `ref` against (b) is the cost of
 * one database per tenant. `ref1` points every one of those DataSources at (b)'s ONE database as
 * (b)'s superuser: against (b) it is the cost of spreading the same load over that many
 * connections (server backends) rather than over (b)'s pool, whatever database they are on.
 */
export class PreOpenedMapContender implements Contender {
  private constructor(
    readonly key: 'ref' | 'ref1',
    readonly applicationName: string,
    private readonly dataSources: Map<string, DataSource>,
  ) {}

  /**
   * `ref`: each tenant's own database as its own role. With `oneDatabase`, `ref1`: that database,
   * as the superuser, for every tenant instead.
   */
  static async open(
    ports: InMemoryTenantPorts,
    tenantIds: readonly string[],
    poolSize: number,
    oneDatabase?: { database: string; username: string },
  ): Promise<PreOpenedMapContender> {
    const dataSources = new Map<string, DataSource>();
    const contender = oneDatabase
      ? new PreOpenedMapContender('ref1', 'bench-pre-opened-one-db', dataSources)
      : new PreOpenedMapContender('ref', 'bench-pre-opened', dataSources);
    try {
      for (const tenantId of tenantIds) {
        const tenant = await ports.find(tenantId);
        if (!tenant) throw new Error(`unknown tenant ${tenantId}`);
        const credentials = await ports.fetch(tenant);
        const dataSource = new DataSource(
          postgresOptions({
            host: credentials.host,
            port: credentials.port,
            database: oneDatabase?.database ?? credentials.dbname,
            username: oneDatabase?.username ?? credentials.username,
            password: oneDatabase ? undefined : credentials.password,
            applicationName: contender.applicationName,
            // The superuser bypasses row-level security: it needs the search path only.
            startup: startupOptionsOf(oneDatabase ? undefined : tenant),
            extra: { max: poolSize, idleTimeoutMillis: 30_000 },
          }),
        );
        await dataSource.initialize();
        dataSources.set(tenantId, dataSource);
      }
    } catch (error) {
      await contender.close();
      throw error;
    }
    return contender;
  }

  getDataSource(tenantId: string): DataSource {
    const dataSource = this.dataSources.get(tenantId);
    if (!dataSource) throw new Error(`tenant ${tenantId} was not opened`);
    return dataSource;
  }

  request(tenantId: string): Promise<void> {
    return readNewestNotes(this.getDataSource(tenantId));
  }

  lookup(tenantId: string): Promise<void> {
    this.getDataSource(tenantId);
    return Promise.resolve();
  }

  initialisations(): number {
    return this.dataSources.size;
  }

  notes(): string {
    return '';
  }

  async close(): Promise<void> {
    await Promise.all([...this.dataSources.values()].map((ds) => ds.destroy().catch(() => undefined)));
  }
}
