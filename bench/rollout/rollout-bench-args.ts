import { integer, parseFlags, url, UsageError } from '../common/args';

export interface RolloutBenchArgs {
  tenants: number;
  /** The rollout's maxConcurrency (and WORKER_CONCURRENCY), and tenants in flight in the bare fan-out. */
  concurrency: number;
  /** The rollout's canary: tenants migrated first, on their own. */
  canary: number;
  /** The rollout's waves: cumulative percentages of the tenants after the canary, the last 100. */
  waves: number[];
  /** Rows put into each tenant's app.notes at 0001, so that 0003's index has something to build. */
  notes: number;
  /** Connections creating (and re-creating) the tenant databases. */
  setupConcurrency: number;
  timeoutS: number;
  redisUrl: string;
}

export const USAGE = `usage: npm run bench:rollout -- [options]

  --tenants N             tenant databases migrated by each contender (default 300)
  --concurrency C         the rollout's maxConcurrency and WORKER_CONCURRENCY, and tenants in
                          flight in the bare fan-out (default 4, the API's default)
  --canary N              the rollout's canary (default 1, the API's default)
  --waves LIST            the rollout's cumulative wave percentages, comma-separated, ending
                          with 100 (default 100, the API's default)
  --notes N               rows in each tenant's app.notes before the migrations (default 0: the
                          fixture's empty table), so that CREATE INDEX CONCURRENTLY has work
  --setup-concurrency N   connections creating the tenant databases (default 4)
  --timeout-s S           stop, clean up and exit 1 after S seconds (default 1800)
  --redis-url URL         Redis (default redis://127.0.0.1:6379)

PostgreSQL is the test suite's: postgres://postgres@127.0.0.1:5432/postgres, or
SILO_TEST_POSTGRES_URL (the fleet fixture libs/fleet/test/rollout-fleet.ts reads it).
`;

/** The command line, validated; 'help' for --help. */
export function parseRolloutBenchArgs(argv: string[]): RolloutBenchArgs | 'help' {
  const values = parseFlags(argv, {
    tenants: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '4' },
    canary: { type: 'string', default: '1' },
    waves: { type: 'string', default: '100' },
    notes: { type: 'string', default: '0' },
    'setup-concurrency': { type: 'string', default: '4' },
    'timeout-s': { type: 'string', default: '1800' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const args: RolloutBenchArgs = {
    tenants: integer('--tenants', values.tenants, 1, 5000),
    // The API accepts maxConcurrency 1-100; WORKER_CONCURRENCY too.
    concurrency: integer('--concurrency', values.concurrency, 1, 100),
    canary: integer('--canary', values.canary, 0, 1000),
    waves: waveList(values.waves),
    notes: integer('--notes', values.notes, 0, 10_000_000),
    setupConcurrency: integer('--setup-concurrency', values['setup-concurrency'], 1, 16),
    timeoutS: integer('--timeout-s', values['timeout-s'], 30, 24 * 3600),
    redisUrl: url('--redis-url', values['redis-url'], ['redis:', 'rediss:']),
  };
  if (args.canary >= args.tenants) throw new UsageError('--canary must be below --tenants');
  return args;
}

/** As the API's request schema has them: increasing whole percentages, at most 20, the last 100. */
function waveList(value: string): number[] {
  const waves = value.split(',').map((part) => integer('--waves', part.trim(), 1, 100));
  if (waves.length > 20 || waves.some((p, i) => i > 0 && p <= waves[i - 1]) || waves.at(-1) !== 100) {
    throw new UsageError('--waves must be at most 20 increasing percentages ending with 100');
  }
  return waves;
}
