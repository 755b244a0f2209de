import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { mintDevToken } from '@silo/auth';
import { loadConfig, type SiloConfig } from '@silo/config';
import { API_APP_OPTIONS, configureApiApp } from '../../apps/control-plane-api/src/api-app';
import { AppModule } from '../../apps/control-plane-api/src/app.module';
import type { BenchNames } from '../provisioning/bench-environment';
import type { BenchLogLevel } from './api-bench-args';

/** The highest budget the schema accepts, per second: the limiter runs on every POST but never refuses. */
const RATE_LIMIT = { points: 100_000, windowSeconds: 1 };
const ISSUER = 'silo-bench';
const AUDIENCE = 'silo-api';

/** The API's configuration: validated by the same schema as every Silo process. */
export function apiConfig(options: {
  names: BenchNames;
  databaseUrl: string;
  redisUrl: string;
  poolMax: number;
  logLevel: BenchLogLevel;
  accessLog: boolean;
  jwtSecret: string;
}): SiloConfig {
  return loadConfig({
    envFile: false,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: options.logLevel,
      LOG_FORMAT: 'json',
      HTTP_ACCESS_LOG: String(options.accessLog),
      DATABASE_URL: options.databaseUrl,
      DATABASE_POOL_MAX: String(options.poolMax),
      REDIS_URL: options.redisUrl,
      QUEUE_PREFIX: options.names.queuePrefix,
      RATE_LIMIT_MUTATIONS: String(RATE_LIMIT.points),
      RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT.windowSeconds),
      AUTH_JWT_SECRET: options.jwtSecret,
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      // No route measured here calls AWS; a closed local port keeps any call from leaving the machine.
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_EMULATOR: 'true',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      SILO_RESOURCE_PREFIX: options.names.resourcePrefix,
      SILO_ENVIRONMENT: 'bench',
    },
  });
}

/**
 * The API as main.ts builds it (AppModule, API_APP_OPTIONS, configureApiApp), listening on
 * 127.0.0.1 and a free port. Only `abortOnError` differs: a failed boot must throw so that the
 * bench can clean up, not abort the process. `track` gets the app before it listens.
 */
export async function startSiloApi(
  config: SiloConfig,
  track: (app: NestExpressApplication) => void,
): Promise<NestExpressApplication> {
  const app = configureApiApp(
    await NestFactory.create<NestExpressApplication>(AppModule.register(config), {
      ...API_APP_OPTIONS,
      abortOnError: false,
    }),
    config,
  );
  track(app);
  await app.listen(0, '127.0.0.1');
  return app;
}

export function portOf(app: NestExpressApplication): number {
  return (app.getHttpServer().address() as AddressInfo).port;
}

/** `Authorization` for an ops caller: may create and read tenants. */
export async function opsAuthorization(config: SiloConfig): Promise<string> {
  const secret = config.auth.jwtSecret;
  if (!secret) throw new Error('the bench configures AUTH_JWT_SECRET');
  const token = await mintDevToken({
    secret,
    sub: 'bench-ops',
    roles: ['ops'],
    issuer: ISSUER,
    audience: AUDIENCE,
    ttlSeconds: 24 * 3600,
  });
  return `Bearer ${token}`;
}
