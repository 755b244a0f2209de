import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { awsClientSettings } from './aws-client-config';

/**
 * One SDK client per service for the whole process (each keeps its own connection pool).
 * Only the adapters in this library use them.
 */
@Injectable()
export class AwsClients implements OnApplicationShutdown {
  readonly rds: RDSClient;
  readonly secretsManager: SecretsManagerClient;
  readonly cloudWatch: CloudWatchClient;
  readonly s3: S3Client;

  constructor(config: SiloConfig) {
    const settings = awsClientSettings(config);
    this.rds = new RDSClient(settings);
    this.secretsManager = new SecretsManagerClient(settings);
    this.cloudWatch = new CloudWatchClient(settings);
    // Path-style against an emulator or VPC endpoint URL: <bucket>.127.0.0.1 does not resolve.
    this.s3 = new S3Client({ ...settings, forcePathStyle: settings.endpoint !== undefined });
  }

  onApplicationShutdown(): void {
    this.rds.destroy();
    this.secretsManager.destroy();
    this.cloudWatch.destroy();
    this.s3.destroy();
  }
}
