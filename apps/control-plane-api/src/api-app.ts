import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { SiloConfig } from '@silo/config';
import { configureJsonHttp } from '@silo/http';
import { Logger } from 'nestjs-pino';
import { setupOpenApi } from './openapi/openapi.setup';

/** Options every API application is created with, by main and by tests. */
export const API_APP_OPTIONS = { bodyParser: false, bufferLogs: true } as const;

/**
 * Everything the API needs beyond its modules: pino as the Nest logger, the HTTP layer
 * (JSON-only bodies with a size limit) and the OpenAPI document at `/docs` and `/docs-json`.
 * Call before `init()`/`listen()`.
 */
export function configureApiApp(app: INestApplication, config: SiloConfig): NestExpressApplication {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  configureJsonHttp(express, { bodyLimitBytes: config.http.bodyLimitBytes });
  setupOpenApi(express);
  return express;
}
