import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { jsonBodies } from './http/json-body';

/** Options the example app is created with, by main and by tests. */
export const EXAMPLE_APP_OPTIONS = { bodyParser: false, bufferLogs: true } as const;

/** pino as the Nest logger and JSON-only bodies. Call before `init()`/`listen()`. */
export function configureExampleApp(app: INestApplication): NestExpressApplication {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  express.disable('x-powered-by');
  for (const middleware of jsonBodies()) express.use(middleware);
  return express;
}
