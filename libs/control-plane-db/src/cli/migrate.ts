import { loadConfigOrExit } from '@silo/config';
import { createLogger } from '@silo/observability';
import { MIGRATE_USAGE, parseMigrateArguments, runMigrate } from './migrate-command';

/**
 * `npm run migrate [-- --create-database] [--data-plane-login]`: applies pending control-plane
 * migrations to DATABASE_URL. `--create-database` first creates the database when it is missing;
 * `--data-plane-login` then makes the data plane's login usable (its secret
 * `<prefix>/control-plane/data-plane` and the password of the role silo_data_plane, see
 * `ensureDataPlaneLogin`), allowing it `--data-plane-connection-limit` connections (default 50).
 */
async function main(argv: string[]): Promise<number> {
  const args = parseMigrateArguments(argv);
  if (typeof args === 'string') {
    process.stderr.write(`migrate: ${args}; ${MIGRATE_USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrExit('migrate');
  const log = createLogger(config, 'migrate');
  try {
    return await runMigrate(args, config, log);
  } finally {
    log.flush();
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`migrate: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
