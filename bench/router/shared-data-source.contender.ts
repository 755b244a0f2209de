import { DataSource } from 'typeorm';
import { postgresOptions, readNewestNotes, startupOptionsOf, type Contender } from './contender';
import { SUPERUSER } from './private-postgres';

const APPLICATION_NAME = 'bench-shared';
/**
 * (b) The upper bound: one DataSource, one pool, every tenant pointed at ONE database as the
 * superuser. No lookup, no isolation; it cannot reach thousands of databases at all.
 */
export class SharedDataSourceContender implements Contender {
  readonly key = 'b';
  readonly applicationName = APPLICATION_NAME;
  private constructor(private readonly dataSource: DataSource) {}

  static async open(options: {
    port: number;
    database: string;
    poolSize: number;
  }): Promise<SharedDataSourceContender> {
    const dataSource = new DataSource(
      postgresOptions({
        host: '127.0.0.1',
        port: options.port,
        database: options.database,
        username: SUPERUSER,
        applicationName: APPLICATION_NAME,
        // The superuser bypasses row-level security: it needs the search path only.
        startup: startupOptionsOf(undefined),
        // Idle connections last as long as the router's (half its 60 s idle timeout).
        extra: { max: options.poolSize, idleTimeoutMillis: 30_000 },
      }),
    );
    await dataSource.initialize();
    return new SharedDataSourceContender(dataSource);
  }

  getDataSource(_tenantId: string): Promise<DataSource> {
    return Promise.resolve(this.dataSource);
  }

  async request(tenantId: string): Promise<void> {
    await readNewestNotes(await this.getDataSource(tenantId));
  }

  async lookup(tenantId: string): Promise<void> {
    await this.getDataSource(tenantId);
  }

  initialisations(): number {
    return 1;
  }

  notes(): string {
    return '';
  }

  async close(): Promise<void> {
    await this.dataSource.destroy();
  }
}
