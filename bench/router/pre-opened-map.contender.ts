import { DataSource } from 'typeorm';
import { postgresOptions, readNewestNotes, type Contender } from './contender';
import type { InMemoryTenantPorts } from './in-memory-ports';

const APPLICATION_NAME = 'bench-pre-opened';
/**
 * Reference for the warm workload, not one of the contenders: the router's topology (one
 * DataSource per tenant, the same pool size) opened up front and looked up in a plain Map, with
 * no router in the way. (c) against it is the router's own cost; it against (b) is the cost of
 * many databases and backends instead of one.
 */
export class PreOpenedMapContender implements Contender {
  readonly key = 'ref';
  readonly applicationName = APPLICATION_NAME;

  private constructor(private readonly dataSources: Map<string, DataSource>) {}

  static async open(
    ports: InMemoryTenantPorts,
    tenantIds: readonly string[],
    poolSize: number,
  ): Promise<PreOpenedMapContender> {
    const dataSources = new Map<string, DataSource>();
    const contender = new PreOpenedMapContender(dataSources);
    try {
      for (const tenantId of tenantIds) {
        const tenant = await ports.find(tenantId);
        if (!tenant) throw new Error(`unknown tenant ${tenantId}`);
        const credentials = await ports.fetch(tenant);
        const dataSource = new DataSource(
          postgresOptions({
            host: credentials.host,
            port: credentials.port,
            database: credentials.dbname,
            username: credentials.username,
            password: credentials.password,
            applicationName: APPLICATION_NAME,
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
