import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { loadConfig, type SiloConfig } from '../../libs/config/src';
import {
  awsEndpoint,
  hostAdminUrl,
  instanceAdminUrl,
  runDatabaseUrl,
  secondRegionInstanceAdminUrl,
  testServices,
} from './test-services';

/** A short random token for queue prefixes, resource names and slugs that must not collide. */
export function uniqueToken(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * A BullMQ key prefix unique to one test, under this run's root so that the global teardown can
 * remove every key the run left in Redis.
 */
export function testQueuePrefix(): string {
  return `${process.env.SILO_TEST_REDIS_ROOT ?? 'test-adhoc'}-${uniqueToken()}`;
}

/**
 * Every tier on its own instance, as tiers were before placements: what most tests exercise
 * (tests of shared placements give their own profiles, SILO_TIER_PROFILES_FILE).
 */
export const INSTANCE_TIERS_FILE = resolve(__dirname, '../fixtures/tier-profiles/instance-tiers.json');

/** The regions of every test: the default one (AWS_REGION) first; moto answers both on one port. */
export const TEST_REGIONS = ['us-east-1', 'eu-central-1'] as const;

/**
 * The environment of a Silo process under test: this run's database, the real Redis with a
 * random queue prefix, the emulator, and every tier on its own instance. Overrides win.
 */
export function testEnvironment(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    LOG_FORMAT: 'json',
    DATABASE_URL: runDatabaseUrl(),
    REDIS_URL: testServices.redisUrl,
    QUEUE_PREFIX: testQueuePrefix(),
    AWS_REGION: TEST_REGIONS[0],
    SILO_REGIONS: TEST_REGIONS.join(','),
    AWS_ENDPOINT_URL: awsEndpoint(),
    AWS_EMULATOR: 'true',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    SILO_ENVIRONMENT: 'test',
    SHUTDOWN_GRACE_MS: '3000',
    AUTH_JWT_SECRET: 'test-secret-that-is-long-enough-for-hs256',
    AUTH_ISSUER: 'silo-test',
    AUTH_AUDIENCE: 'silo-api',
    TENANT_AUTH_AUDIENCE: 'silo-tenant',
    SILO_TIER_PROFILES_FILE: INSTANCE_TIERS_FILE,
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): SiloConfig {
  return loadConfig({ env: testEnvironment(overrides), envFile: false });
}

/**
 * The local backend on the run's own clusters, as moves need them: logical replication
 * (wal_level=logical), instances and shared hosts on different servers (a moved tenant has
 * logins of the same names on both), the second region on its own.
 */
export function localMoveBackendEnvironment(): Record<string, string> {
  return {
    LOCAL_INSTANCE_ADMIN_URL: instanceAdminUrl(),
    LOCAL_INSTANCE_ADMIN_URLS: `${TEST_REGIONS[1]}=${secondRegionInstanceAdminUrl()}`,
    LOCAL_HOST_ADMIN_URLS: `${TEST_REGIONS[0]}=${hostAdminUrl()}`,
  };
}

/**
 * Tenants materialised by the local instance backend on the run's own clusters (the first
 * region's instances and shared hosts on one, the second region's on another), with saga waits,
 * retries and the outbox relay short enough for a test to watch a tenant reach ACTIVE.
 */
export function fastLocalSagaEnvironment(): Record<string, string> {
  return {
    LOCAL_INSTANCE_ADMIN_URL: instanceAdminUrl(),
    LOCAL_INSTANCE_ADMIN_URLS: `${TEST_REGIONS[1]}=${secondRegionInstanceAdminUrl()}`,
    WAIT_INITIAL_DELAY_MS: '50',
    WAIT_MAX_DELAY_MS: '200',
    RETRY_BASE_DELAY_MS: '50',
    RETRY_MAX_DELAY_MS: '200',
    OUTBOX_POLL_MS: '50',
  };
}
