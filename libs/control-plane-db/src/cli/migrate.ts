import { loadConfigOrExit } from '@silo/config';
import { createLogger } from '@silo/observability';
import { migrateControlPlane } from '../control-plane-migrator';

/**
 * `npm run migrate [-- --create-database]`: applies pending control-plane migrations to
 * DATABASE_URL. `--create-database` first creates the database when it is missing.
 */
async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--create-database');
  if (unknown.length) {
    process.stderr.write(
      `migrate: unknown argument(s) ${unknown.join(' ')}; usage: migrate [--create-database]\n`,
    );
    return 2;
  }
  const config = loadConfigOrExit('migrate');
  const log = createLogger(config, 'migrate');
  try {
    const result = await migrateControlPlane({
      url: config.database.url,
      connectTimeoutMs: config.database.connectTimeoutMs,
      createDatabase: argv.includes('--create-database'),
    });
    if (result.createdDatabase) log.info('created the control-plane database');
    log.info(
      { applied: result.applied },
      result.applied.length ? 'migrations applied' : 'schema already up to date',
    );
    return 0;
  } catch (error) {
    log.error({ err: error }, 'migration failed');
    return 1;
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
