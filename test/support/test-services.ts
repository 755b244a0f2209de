/**
 * Where the test suite finds its real services. Override with SILO_TEST_POSTGRES_URL (an admin
 * URL to the server of the control-plane databases; a database is created per run; the local
 * instance backend's tenant databases are on the run's own clusters, instanceAdminUrl()), SILO_TEST_REDIS_URL and
 * SILO_TEST_AWS_ENDPOINT (an emulator already running; otherwise one is started per run).
 */
export const testServices = {
  postgresAdminUrl: process.env.SILO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.SILO_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/**
 * The admin URL (the superuser, over SCRAM) of the run's cluster of the local instance backend
 * for the first region's tenant instances and shared hosts; set by the global setup.
 */
export function instanceAdminUrl(): string {
  return required('SILO_TEST_INSTANCE_ADMIN_URL');
}

/** The same for the second region (TEST_REGIONS[1]). */
export function secondRegionInstanceAdminUrl(): string {
  return required('SILO_TEST_INSTANCE_ADMIN_URL_2');
}

/** The first region's cluster for shared hosts kept apart from its instances (moves). */
export function hostAdminUrl(): string {
  return required('SILO_TEST_HOST_ADMIN_URL');
}

/** Set by the global setup for the test workers. */
export function runDatabaseUrl(): string {
  return required('SILO_TEST_DATABASE_URL');
}

export function awsEndpoint(): string {
  return required('SILO_TEST_AWS_ENDPOINT');
}

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run integration tests through jest's integration or e2e project`);
  return value;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
