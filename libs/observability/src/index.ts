export { REDACTED_LOG_PATHS } from './log-redaction';
export { createLogger, loggerOptions } from './logger';
export { assignRequestId, REQUEST_ID_HEADER } from './request-id';
export { SiloLoggerModule } from './silo-logger.module';
export { installGracefulShutdown, type GracefulShutdownOptions } from './graceful-shutdown';
