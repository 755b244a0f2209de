import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { applyServerTimeouts, configureJsonHttp } from '@silo/http';
import { Logger } from 'nestjs-pino';
import type { ExampleAppConfig } from './example-app.config';

/** Options the example app is created with, by main and by tests. */
export const EXAMPLE_APP_OPTIONS = { bodyParser: false, bufferLogs: true } as const;

/**
 * A note is at most 10,000 characters; as JSON with every character escaped (`\ud83d\ude00`
 * is 12 bytes for one emoji) that stays under 128 KiB.
 */
export const BODY_LIMIT_BYTES = 131_072;

/**
 * pino as the Nest logger, JSON-only bodies and the server's keep-alive and headers timeouts.
 * Call before `init()`/`listen()`.
 */
export function configureExampleApp(app: INestApplication, config: ExampleAppConfig): NestExpressApplication {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  applyServerTimeouts(express.getHttpServer(), config.http);
  configureJsonHttp(express, { bodyLimitBytes: BODY_LIMIT_BYTES });
  return express;
}
