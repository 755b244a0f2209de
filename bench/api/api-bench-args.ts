import { integer, parseFlags, url, UsageError } from '../common/args';

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info'] as const;
export type BenchLogLevel = (typeof LOG_LEVELS)[number];

export interface ApiBenchArgs {
  /** Measured seconds per row. */
  durationS: number;
  /** Unmeasured seconds before each row, on the same connections. */
  warmupS: number;
  /** Unmeasured seconds per route and server before the first row, so that V8 has optimised the code. */
  jitWarmupS: number;
  /** Requests in flight, one row per level and route. */
  concurrency: number[];
  /** DATABASE_POOL_MAX of the API. */
  poolMax: number;
  logLevel: BenchLogLevel;
  /** Leave out the rows at the highest concurrency with the access log off and with Idempotency-Key. */
  skipExtraRows: boolean;
  timeoutS: number;
  postgresUrl: string;
  redisUrl: string;
}

export const USAGE = `usage: npm run bench:api -- [options]

  --duration-s S       measured seconds per row (default 5)
  --warmup-s S         unmeasured seconds before each row, same connections (default 1)
  --jit-warmup-s S     unmeasured seconds per route and server before the first row (default 3)
  --concurrency LIST   comma-separated requests in flight, one row each (default 1,8,32)
  --pool-max N         DATABASE_POOL_MAX of the API (default 10, the production default)
  --log-level L        LOG_LEVEL of the API: silent, error, warn or info (default warn); at info
                       every access line goes to stdout, as in production
  --skip-extra-rows    no rows with the access log off or with Idempotency-Key
  --timeout-s S        stop, clean up and exit 1 after S seconds (default 600)
  --postgres-url URL   admin URL of the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
  --redis-url URL      Redis (default redis://127.0.0.1:6379)
`;

/** The command line, validated; 'help' for --help. */
export function parseApiBenchArgs(argv: string[]): ApiBenchArgs | 'help' {
  const values = parseFlags(argv, {
    'duration-s': { type: 'string', default: '5' },
    'warmup-s': { type: 'string', default: '1' },
    'jit-warmup-s': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8,32' },
    'pool-max': { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'warn' },
    'skip-extra-rows': { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '600' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const logLevel = values['log-level'];
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }
  const concurrency = values.concurrency
    .split(',')
    .map((level) => integer('--concurrency', level.trim(), 1, 1000));
  return {
    durationS: integer('--duration-s', values['duration-s'], 1, 3600),
    warmupS: integer('--warmup-s', values['warmup-s'], 0, 600),
    jitWarmupS: integer('--jit-warmup-s', values['jit-warmup-s'], 0, 600),
    concurrency: [...new Set(concurrency)].sort((a, b) => a - b),
    // DATABASE_POOL_MAX accepts 1-500.
    poolMax: integer('--pool-max', values['pool-max'], 1, 500),
    logLevel: logLevel as BenchLogLevel,
    skipExtraRows: values['skip-extra-rows'],
    timeoutS: integer('--timeout-s', values['timeout-s'], 10, 24 * 3600),
    postgresUrl: url('--postgres-url', values['postgres-url'], ['postgres:', 'postgresql:']),
    redisUrl: url('--redis-url', values['redis-url'], ['redis:', 'rediss:']),
  };
}
