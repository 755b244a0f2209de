import type { SiloConfig } from '@silo/config';
import pino, { type Logger, type LoggerOptions } from 'pino';
import { REDACTED_LOG_PATHS } from './log-redaction';

/** pino options shared by every Silo process; `app` becomes the `app` field of each line. */
export function loggerOptions(config: SiloConfig, app: string): LoggerOptions {
  return {
    level: config.log.level,
    base: { app, env: config.resources.environment },
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    transport:
      config.log.format === 'pretty'
        ? {
            target: 'pino-pretty',
            options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          }
        : undefined,
  };
}

/** A plain pino logger for code that runs outside Nest (CLIs, scripts). */
export function createLogger(config: SiloConfig, app: string): Logger {
  return pino(loggerOptions(config, app));
}
