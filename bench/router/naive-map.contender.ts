import { DataSource } from 'typeorm';
import { postgresOptions, readNewestNotes, startupOptionsOf, type Contender } from './contender';
import type { InMemoryTenantPorts } from './in-memory-ports';
import { quantile } from './measurements';

const APPLICATION_NAME = 'bench-naive';
/**
 * (a) What a first version usually looks like: a Map of DataSources filled on first use. No
 * single flight (concurrent first calls for a tenant each build and initialise one; the last
 * one wins the Map, the others stay open and unreferenced), no eviction, no bound, pg's default
 * pool of 10 per tenant. Each DataSource sends the tenant's search path and `app.tenant_id` when
 * a connection starts, whatever the placement: a pooled tenant gets one of its own too, as its
 * host's pool login with its tenant set per connection (the naive way to reach a pool).
 */
export class NaiveMapContender implements Contender {
  readonly key = 'a';
  readonly applicationName = APPLICATION_NAME;
  private readonly dataSources = new Map<string, DataSource>();
  /**
   * Bench bookkeeping only, so that close() can reach the ones the Map lost to a race (they stay
   * open, as they would in the naive code). Failed ones are not kept: the naive code drops them.
   */
  private readonly created: DataSource[] = [];
  private initialisationCount = 0;
  /** Bench bookkeeping: how long successful initialisations took, ms. */
  private readonly initialisationMs: number[] = [];

  /** `checkTenant`: the request also checks that every note read is the tenant's (mixed fleet). */
  constructor(
    private readonly ports: InMemoryTenantPorts,
    private readonly checkTenant = false,
  ) {}

  async getDataSource(tenantId: string): Promise<DataSource> {
    const known = this.dataSources.get(tenantId);
    if (known) return known;
    const tenant = await this.ports.find(tenantId);
    if (!tenant) throw new Error(`unknown tenant ${tenantId}`);
    const credentials = await this.ports.fetch(tenant);
    const dataSource = new DataSource(
      postgresOptions({
        host: credentials.host,
        port: credentials.port,
        database: credentials.dbname,
        username: credentials.username,
        password: credentials.password,
        applicationName: APPLICATION_NAME,
        startup: startupOptionsOf(tenant),
      }),
    );
    this.initialisationCount++;
    const started = performance.now();
    await dataSource.initialize();
    this.initialisationMs.push(performance.now() - started);
    this.created.push(dataSource);
    this.dataSources.set(tenantId, dataSource);
    return dataSource;
  }

  async request(tenantId: string): Promise<void> {
    await readNewestNotes(await this.getDataSource(tenantId), this.checkTenant ? tenantId : undefined);
  }

  async lookup(tenantId: string): Promise<void> {
    await this.getDataSource(tenantId);
  }

  initialisations(): number {
    return this.initialisationCount;
  }

  notes(): string {
    const failed = this.initialisationCount - this.created.length;
    const raced = this.created.length - this.dataSources.size;
    const init = [...this.initialisationMs].sort((x, y) => x - y);
    const initMs = init.length
      ? `initialisation p50/p99 ${quantile(init, 0.5).toFixed(1)}/${quantile(init, 0.99).toFixed(1)} ms (${init.length} successful), `
      : '';
    return `${initMs}${this.dataSources.size} DataSources in the Map, ${raced} more open but lost to a race, ${failed} failed to initialise, secret fetches ${this.ports.secretFetches}`;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.created.filter((ds) => ds.isInitialized).map((ds) => ds.destroy().catch(() => undefined)),
    );
  }
}
