import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { loadConfigOrExit } from '@silo/config';
import { installGracefulShutdown } from '@silo/observability';
import { Logger } from 'nestjs-pino';
import { WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('provisioning-worker');
  const app = await NestFactory.createApplicationContext(WorkerModule.register(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  installGracefulShutdown(app, { graceMs: config.shutdownGraceMs, logger: app.get(Logger) });
  await app.init();
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `provisioning-worker: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
