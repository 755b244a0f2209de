import type { SiloConfig } from '@silo/config';

/** The part of every SDK v3 client's configuration that Silo sets. */
export interface AwsClientSettings {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
}

/**
 * Client settings from configuration. With an endpoint (an emulator) every service goes to that
 * one URL; without one the SDK resolves the real regional endpoints. Retries inside the SDK are
 * the first line against throttling; BullMQ's job retries are the second (see docs/operating-tenants.md).
 */
export function awsClientSettings(config: Pick<SiloConfig, 'aws'>): AwsClientSettings {
  const { region, endpoint, credentials, maxAttempts, retryMode } = config.aws;
  return { region, endpoint, credentials, maxAttempts, retryMode };
}
