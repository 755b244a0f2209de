import { DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { problemDetailsFilter } from '@silo/http';
import { assignRequestId, REDACTED_LOG_PATHS } from '@silo/observability';
import { NoteEntity } from '@silo/tenant-schema';
import { tenantAccessProblem, TenantRouterModule } from '@silo/tenant-router/nest';
import IORedis, { type Redis } from 'ioredis';
import { LoggerModule } from 'nestjs-pino';
import type { ExampleAppConfig } from './example-app.config';
import { HealthController } from './health/health.controller';
import { MetricsModule } from './metrics/metrics.module';
import { NotesController } from './notes/notes.controller';
import { NotesService } from './notes/notes.service';

export const EXAMPLE_APP_NAME = 'silo-example-app';

/** Entities of the tenant databases this app reads and writes. */
export const TENANT_ENTITIES = [NoteEntity];

/**
 * The reference user of @silo/tenant-router, as an application team uses it: plain options from
 * the package's own variables (the directory through the data plane's read-only login, each
 * tenant's credentials from its Secrets Manager secret, the tenant from the token's `tenant_id`),
 * and nothing of the control plane's.
 */
const APP_REDIS = Symbol('APP_REDIS');

/**
 * Closes the app's Redis client, if it made one, when it shuts down (the route signals'
 * subscriber, a duplicate of it, is the router's to close).
 */
@Injectable()
class AppRedisShutdown implements OnApplicationShutdown {
  constructor(@Inject(APP_REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}

@Module({})
export class ExampleAppModule {
  static register(config: ExampleAppConfig): DynamicModule {
    // Redis (REDIS_URL) for the request rate when a tier has one (ROUTER_REQUESTS_PER_SECOND_*),
    // and for the control plane's route signals, which the router hears on a duplicate of this
    // client; with no rate the client itself never connects (lazyConnect).
    const rated = Object.keys(config.dataPlane.requestsPerSecondByTier).length > 0;
    const redis = config.redisUrl
      ? new IORedis(config.redisUrl, {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          lazyConnect: !rated,
          // Reconnect forever with a capped delay: Redis coming back must heal the process.
          retryStrategy: (times) => Math.min(200 * times, 2000),
        })
      : null;
    // ioredis emits 'error' on every failed reconnect; the rate limit answers for itself.
    redis?.on('error', () => undefined);
    // ROUTER_ROUTE_SIGNALS_REDIS_URL, when set, names another Redis for them.
    const routeSignals =
      config.dataPlane.routeSignals ??
      (redis ? { redis, resourcePrefix: config.dataPlane.resourcePrefix ?? 'silo' } : undefined);
    return {
      module: ExampleAppModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.log.level,
            base: { app: EXAMPLE_APP_NAME },
            redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
            // x-request-id: the caller's, when sane, or a new one; echoed and on every log line.
            genReqId: (req, res) => assignRequestId(req, res),
            transport:
              config.log.format === 'pretty'
                ? { target: 'pino-pretty', options: { singleLine: true } }
                : undefined,
          },
        }),
        TenantRouterModule.forRoot({
          ...config.dataPlane,
          entities: TENANT_ENTITIES,
          closeTimeoutMs: Math.floor(config.shutdownGraceMs / 2),
          routeSignals,
          requestRate:
            redis && rated
              ? {
                  redis,
                  keyPrefix: config.rateKeyPrefix,
                  perSecondByTier: config.dataPlane.requestsPerSecondByTier,
                }
              : undefined,
        }),
        MetricsModule,
      ],
      controllers: [HealthController, NotesController],
      providers: [
        problemDetailsFilter(tenantAccessProblem),
        NotesService,
        { provide: APP_REDIS, useValue: redis },
        AppRedisShutdown,
      ],
    };
  }
}
