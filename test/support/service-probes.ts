import IORedis from 'ioredis';
import { Client } from 'pg';

/**
 * Fails with a message saying which service does not answer and how to get it started, when
 * PostgreSQL or Redis is not there. Shared by the test suite's global setup and the benchmarks.
 */
export async function assertServicesAnswer(
  postgresUrl: string,
  redisUrl: string,
  hint: string,
): Promise<void> {
  await answers('PostgreSQL', postgresUrl, hint, async () => {
    const client = new Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.end();
  });
  await answers('Redis', redisUrl, hint, async () => {
    const redis = new IORedis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 3000,
      retryStrategy: () => null,
    });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
}

async function answers(what: string, url: string, hint: string, probe: () => Promise<void>): Promise<void> {
  try {
    await probe();
  } catch (error) {
    const { hostname, port } = new URL(url);
    throw new Error(
      `${what} does not answer at ${hostname}:${port} (${error instanceof Error ? error.message : String(error)}). ${hint}`,
    );
  }
}
