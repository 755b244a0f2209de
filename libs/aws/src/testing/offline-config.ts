import { loadConfig, type SiloConfig } from '@silo/config';

/** A configuration for unit tests of the AWS adapters: nothing it names is ever reached. */
export function offlineConfig(): SiloConfig {
  return loadConfig({
    envFile: false,
    env: {
      DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ALARM_ACTIONS: 'none',
      SILO_ENVIRONMENT: 'test',
    },
  });
}
