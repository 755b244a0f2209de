import { DynamicModule, Module } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { loggerOptions } from './logger';
import { assignRequestId } from './request-id';

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * nestjs-pino for a Silo app: JSON lines with `app`, request ids on every line logged while a
 * request is handled (`reqId`), and `x-request-id` echoed.
 */
@Module({})
export class SiloLoggerModule {
  static forApp(app: string): DynamicModule {
    return {
      module: SiloLoggerModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [SiloConfig],
          useFactory: (config: SiloConfig) => ({
            pinoHttp: {
              ...loggerOptions(config, app),
              genReqId: (req: IncomingMessage, res: ServerResponse) => assignRequestId(req, res),
              autoLogging: config.log.httpAccessLog,
              // Probes are polled every few seconds; their successes are noise at info level.
              customLogLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => {
                if (error || res.statusCode >= 500) return 'error';
                if (res.statusCode >= 400) return 'warn';
                return QUIET_PATHS.has((req.url ?? '').split('?')[0]) ? 'debug' : 'info';
              },
              serializers: {
                req: (req: { id: unknown; method: string; url: string }) => ({
                  id: req.id,
                  method: req.method,
                  url: req.url,
                }),
                res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
              },
            },
          }),
        }),
      ],
      exports: [LoggerModule],
    };
  }
}
