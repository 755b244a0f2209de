import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { awsClientSettings, type AwsClientSettings } from './aws-client-config';

/** One region's SDK clients, and the way to another region's. */
export interface AwsClientSet {
  readonly region: string;
  readonly rds: RDSClient;
  readonly secretsManager: SecretsManagerClient;
  readonly cloudWatch: CloudWatchClient;
  readonly s3: S3Client;
  /** That region's clients (the same object for the same region). */
  forRegion(region: string): AwsClientSet;
}

/** The clients of one region, made together and destroyed together. */
export class RegionalAwsClients implements AwsClientSet {
  readonly rds: RDSClient;
  readonly secretsManager: SecretsManagerClient;
  readonly cloudWatch: CloudWatchClient;
  readonly s3: S3Client;

  constructor(
    readonly region: string,
    settings: AwsClientSettings,
    private readonly root: Pick<AwsClientSet, 'forRegion'>,
  ) {
    const regional = { ...settings, region };
    this.rds = new RDSClient(regional);
    this.secretsManager = new SecretsManagerClient(regional);
    this.cloudWatch = new CloudWatchClient(regional);
    // Path-style against an emulator or VPC endpoint URL: <bucket>.127.0.0.1 does not resolve.
    this.s3 = new S3Client({ ...regional, forcePathStyle: settings.endpoint !== undefined });
  }

  forRegion(region: string): AwsClientSet {
    return this.root.forRegion(region);
  }

  destroy(): void {
    this.rds.destroy();
    this.secretsManager.destroy();
    this.cloudWatch.destroy();
    this.s3.destroy();
  }
}

/**
 * The SDK clients of every configured region (SILO_REGIONS), each region's made on first use and
 * kept for the process (each client keeps its own connection pool). `rds`, `secretsManager`,
 * `cloudWatch` and `s3` are the default region's (AWS_REGION): the control plane's own secrets
 * and metrics live there. A tenant's or a host's resources are reached through
 * `forRegion(its region)`, never through another region's clients. Only the adapters in this
 * library use them.
 */
@Injectable()
export class AwsClients implements AwsClientSet, OnApplicationShutdown {
  readonly region: string;
  private readonly settings: AwsClientSettings;
  private readonly configured: readonly string[];
  private readonly clients = new Map<string, RegionalAwsClients>();

  constructor(config: SiloConfig) {
    this.settings = awsClientSettings(config);
    this.region = config.regions.default;
    this.configured = config.regions.names;
  }

  get rds(): RDSClient {
    return this.home.rds;
  }
  get secretsManager(): SecretsManagerClient {
    return this.home.secretsManager;
  }
  get cloudWatch(): CloudWatchClient {
    return this.home.cloudWatch;
  }
  get s3(): S3Client {
    return this.home.s3;
  }

  /** Regions clients were made for so far (for tests and shutdown). */
  get openRegions(): string[] {
    return [...this.clients.keys()];
  }

  forRegion(region: string): RegionalAwsClients {
    let clients = this.clients.get(region);
    if (!clients) {
      if (!this.configured.includes(region)) {
        throw new Error(`region ${region} is not configured (SILO_REGIONS: ${this.configured.join(', ')})`);
      }
      clients = new RegionalAwsClients(region, this.settings, this);
      this.clients.set(region, clients);
    }
    return clients;
  }

  onApplicationShutdown(): void {
    for (const clients of this.clients.values()) clients.destroy();
    this.clients.clear();
  }

  private get home(): RegionalAwsClients {
    return this.forRegion(this.region);
  }
}

/**
 * The adapter `make` builds for `region`, made once per region and kept in `cache`; `self` for
 * its own region. How every adapter's `inRegion` is written.
 */
export function regionalAdapter<T>(
  self: T,
  selfRegion: string,
  cache: Map<string, T>,
  region: string,
  make: () => T,
): T {
  if (region === selfRegion) return self;
  let adapter = cache.get(region);
  if (!adapter) {
    adapter = make();
    cache.set(region, adapter);
  }
  return adapter;
}
