import { integer, parseFlags, url } from '../common/args';

export interface BenchArgs {
  tenants: number;
  /** Worker concurrency (WORKER_CONCURRENCY), and tenants in flight in the baseline. */
  concurrency: number;
  timeoutS: number;
  postgresUrl: string;
  redisUrl: string;
}

export const USAGE = `usage: npm run bench:provisioning -- [options]

  --tenants N         tenants to provision end to end (default 200)
  --concurrency C     worker concurrency, and tenants in flight in the baseline (default 5)
  --timeout-s S       stop, clean up and exit 1 after S seconds (default 900)
  --postgres-url URL  admin URL of the local PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
  --redis-url URL     Redis (default redis://127.0.0.1:6379)
`;

/** The command line, validated; 'help' for --help. */
export function parseBenchArgs(argv: string[]): BenchArgs | 'help' {
  const values = parseFlags(argv, {
    tenants: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '5' },
    'timeout-s': { type: 'string', default: '900' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  return {
    tenants: integer('--tenants', values.tenants, 1, 10_000),
    // WORKER_CONCURRENCY accepts 1-100.
    concurrency: integer('--concurrency', values.concurrency, 1, 100),
    timeoutS: integer('--timeout-s', values['timeout-s'], 10, 24 * 3600),
    postgresUrl: url('--postgres-url', values['postgres-url'], ['postgres:', 'postgresql:']),
    redisUrl: url('--redis-url', values['redis-url'], ['redis:', 'rediss:']),
  };
}
