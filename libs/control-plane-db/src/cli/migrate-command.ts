import type { SiloConfig } from '@silo/config';
import type { Logger } from 'pino';
import { migrateControlPlane } from '../control-plane-migrator';
import { DATA_PLANE_CONNECTION_LIMIT, ensureDataPlaneLogin } from '../data-plane-login';

export const MIGRATE_USAGE =
  'usage: migrate [--create-database] [--data-plane-login [--data-plane-connection-limit=<n>]]';

export interface MigrateArguments {
  createDatabase: boolean;
  dataPlaneLogin: boolean;
  connectionLimit: number;
}

/** The arguments, or what is wrong with them. */
export function parseMigrateArguments(argv: readonly string[]): MigrateArguments | string {
  const parsed: MigrateArguments = {
    createDatabase: false,
    dataPlaneLogin: false,
    connectionLimit: DATA_PLANE_CONNECTION_LIMIT,
  };
  const unknown: string[] = [];
  let limitGiven = false;
  for (const arg of argv) {
    const limit = /^--data-plane-connection-limit=(\d{1,5})$/.exec(arg);
    if (arg === '--create-database') parsed.createDatabase = true;
    else if (arg === '--data-plane-login') parsed.dataPlaneLogin = true;
    else if (limit) {
      parsed.connectionLimit = Number(limit[1]);
      limitGiven = true;
    } else unknown.push(arg);
  }
  if (unknown.length) return `unknown argument(s) ${unknown.join(' ')}`;
  if (limitGiven && !parsed.dataPlaneLogin) return '--data-plane-connection-limit needs --data-plane-login';
  return parsed;
}

/**
 * Applies pending control-plane migrations to DATABASE_URL (first creating the database with
 * `createDatabase`), then, with `dataPlaneLogin`, makes the data plane's login usable
 * ({@link ensureDataPlaneLogin}). Logs what it did, never a password; answers the exit code.
 */
export async function runMigrate(args: MigrateArguments, config: SiloConfig, log: Logger): Promise<number> {
  try {
    const result = await migrateControlPlane({
      url: config.database.url,
      connectTimeoutMs: config.database.connectTimeoutMs,
      createDatabase: args.createDatabase,
      defaultRegion: config.regions.default,
    });
    if (result.createdDatabase) log.info('created the control-plane database');
    log.info(
      { applied: result.applied },
      result.applied.length ? 'migrations applied' : 'schema already up to date',
    );
  } catch (error) {
    log.error({ err: error }, 'migration failed');
    return 1;
  }
  if (!args.dataPlaneLogin) return 0;
  try {
    const login = await ensureDataPlaneLogin(config, { connectionLimit: args.connectionLimit });
    log.info(
      {
        secret: login.secretName,
        role: login.role,
        createdSecret: login.createdSecret,
        updatedSecret: login.updatedSecret,
        connectionLimit: login.connectionLimit,
      },
      'data-plane login ready',
    );
    return 0;
  } catch (error) {
    log.error({ err: error }, 'data-plane login failed');
    return 1;
  }
}
