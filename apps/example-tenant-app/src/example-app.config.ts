import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import {
  dataPlaneOptionsFromEnv,
  DataPlaneConfigError,
  type DataPlaneEnvironmentOptions,
} from '@silo/tenant-router';

/**
 * The example app's configuration: the data plane's (from @silo/tenant-router's own variables,
 * with no control-plane database URL among them) and this app's HTTP server, logs and Redis.
 */
export interface ExampleAppConfig {
  host: string;
  port: number;
  log: { level: string; format: 'json' | 'pretty' };
  http: { keepAliveTimeoutMs: number; headersTimeoutMs: number };
  shutdownGraceMs: number;
  /**
   * Redis for the per-tenant request rate (when a tier has one, ROUTER_REQUESTS_PER_SECOND_*) and
   * for the control plane's route signals (a moving tenant's pause and switch).
   */
  redisUrl?: string;
  /** Key prefix of the request-rate counters in Redis. */
  rateKeyPrefix: string;
  dataPlane: DataPlaneEnvironmentOptions;
}

/** The app's variables that are not the data plane's. */
const APP_VARIABLES = {
  HOST: { default: '127.0.0.1' },
  EXAMPLE_APP_PORT: { default: '3001', port: true },
  LOG_LEVEL: { default: 'info', oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  LOG_FORMAT: { default: 'json', oneOf: ['json', 'pretty'] },
  HTTP_KEEP_ALIVE_TIMEOUT_MS: { default: '65000', min: 1000 },
  HTTP_HEADERS_TIMEOUT_MS: { default: '66000', min: 1000 },
  SHUTDOWN_GRACE_MS: { default: '10000', min: 0 },
  QUEUE_PREFIX: { default: 'silo' },
} as const;

/**
 * Reads `env` (default: the process's) above a dotenv file (`$SILO_ENV_FILE`, else `.env` when
 * it exists), as the other processes of the local stack do. Throws {@link DataPlaneConfigError}
 * naming every bad variable.
 */
export function exampleAppConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  envFile: string | false = env.SILO_ENV_FILE ?? '.env',
): ExampleAppConfig {
  const fromFile = envFile && existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  const all: NodeJS.ProcessEnv = { ...fromFile, ...env };
  const problems: { variable: string; message: string }[] = [];
  const value = (name: keyof typeof APP_VARIABLES): string => {
    const rule: { default: string; port?: boolean; min?: number; oneOf?: readonly string[] } =
      APP_VARIABLES[name];
    const raw = all[name] || rule.default;
    if (rule.oneOf && !rule.oneOf.includes(raw))
      problems.push({ variable: name, message: `must be one of ${rule.oneOf.join(', ')}` });
    if (rule.port && !(/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 65535))
      problems.push({ variable: name, message: 'must be a port number' });
    if (rule.min !== undefined && !(/^\d+$/.test(raw) && Number(raw) >= rule.min))
      problems.push({ variable: name, message: `must be a whole number of at least ${rule.min}` });
    return raw;
  };
  let dataPlane: DataPlaneEnvironmentOptions | undefined;
  try {
    dataPlane = dataPlaneOptionsFromEnv(all);
  } catch (error) {
    if (!(error instanceof DataPlaneConfigError)) throw error;
    problems.push(...error.problems);
  }
  const config = {
    host: value('HOST'),
    port: Number(value('EXAMPLE_APP_PORT')),
    log: { level: value('LOG_LEVEL'), format: value('LOG_FORMAT') as 'json' | 'pretty' },
    http: {
      keepAliveTimeoutMs: Number(value('HTTP_KEEP_ALIVE_TIMEOUT_MS')),
      headersTimeoutMs: Number(value('HTTP_HEADERS_TIMEOUT_MS')),
    },
    shutdownGraceMs: Number(value('SHUTDOWN_GRACE_MS')),
    redisUrl: all.REDIS_URL || undefined,
    rateKeyPrefix: `${value('QUEUE_PREFIX')}:tenant-rate`,
  };
  const rated = dataPlane && Object.keys(dataPlane.requestsPerSecondByTier).length > 0;
  if (rated && !config.redisUrl)
    problems.push({
      variable: 'REDIS_URL',
      message: 'is required when a ROUTER_REQUESTS_PER_SECOND_* is set',
    });
  if (problems.length || !dataPlane) throw new DataPlaneConfigError(problems);
  return { ...config, dataPlane };
}
