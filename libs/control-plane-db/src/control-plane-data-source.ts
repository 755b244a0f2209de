import type { DataSourceOptions } from 'typeorm';
import { CONTROL_PLANE_ENTITIES, CONTROL_PLANE_MIGRATIONS } from './control-plane-entities';

export interface ControlPlaneDbOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  /** Shown in pg_stat_activity, e.g. `silo-api`. */
  applicationName: string;
}

/** TypeORM options for the control-plane database. Schema changes go through migrations only. */
export function controlPlaneDataSourceOptions(options: ControlPlaneDbOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: options.url,
    entities: CONTROL_PLANE_ENTITIES,
    migrations: CONTROL_PLANE_MIGRATIONS,
    migrationsTableName: 'silo_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: options.applicationName,
    extra: {
      max: options.poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs,
    },
  };
}
