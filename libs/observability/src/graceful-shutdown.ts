import type { INestApplicationContext, LoggerService } from '@nestjs/common';

export interface GracefulShutdownOptions {
  /** How long `app.close()` may take before the process gives up and exits 1. */
  graceMs: number;
  logger: LoggerService;
  /** Exits the process; replaceable in tests. Default: `process.exit`. */
  exit?: (code: number) => void;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * On SIGTERM, SIGINT or SIGHUP: close the app (Nest's shutdown hooks run: queues drain, pools
 * close), then exit 0. A close that outlasts the grace period, or a second signal, exits 1 at
 * once, so a stuck dependency can never keep a process from stopping.
 * Used instead of Nest's enableShutdownHooks, which has no deadline.
 */
export function installGracefulShutdown(
  app: INestApplicationContext,
  options: GracefulShutdownOptions,
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let closing = false;

  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      options.logger.warn?.(`received ${signal} again while stopping; exiting now`, 'Shutdown');
      exit(1);
      return;
    }
    closing = true;
    options.logger.log(`received ${signal}; stopping (grace ${options.graceMs} ms)`, 'Shutdown');
    const deadline = setTimeout(() => {
      options.logger.error(`did not stop within ${options.graceMs} ms; exiting`, undefined, 'Shutdown');
      exit(1);
    }, options.graceMs);
    deadline.unref();
    app.close().then(
      () => {
        clearTimeout(deadline);
        options.logger.log('stopped', 'Shutdown');
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        options.logger.error(
          `error while stopping: ${error instanceof Error ? error.message : String(error)}`,
          undefined,
          'Shutdown',
        );
        exit(1);
      },
    );
  };

  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
