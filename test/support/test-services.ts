/**
 * Where the test suite finds its real services. Override with SILO_TEST_POSTGRES_URL (an admin
 * URL to the server; a database is created per run), SILO_TEST_REDIS_URL and
 * SILO_TEST_AWS_ENDPOINT (an emulator already running; otherwise one is started per run).
 */
export const testServices = {
  postgresAdminUrl: process.env.SILO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.SILO_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

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
