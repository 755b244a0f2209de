import { decimal, integer, parseFlags, UsageError } from '../common/args';
import { SUPERUSER_RESERVED_CONNECTIONS } from './private-postgres';

export interface RouterBenchArgs {
  /** Tenant databases of the Zipf workload (also the fleet created). */
  tenants: number;
  /** Tenants of the warm uniform workload (the first ones of the fleet). */
  warmTenants: number;
  /** Requests fired at once at one cold tenant. */
  herd: number;
  /** Closed-loop workers of the warm and Zipf workloads. */
  concurrency: number;
  /** Measured seconds of the warm and Zipf workloads. */
  durationS: number;
  /** Unmeasured seconds before the warm workload is measured, per contender. */
  warmupS: number;
  /** Interleaved slices the warm workload's measured time is cut into. */
  rounds: number;
  /** Zipf exponent. */
  zipfS: number;
  /** max_connections of the private server in the Zipf and herd workloads. */
  maxConnections: number;
  /** TenantRouter options in the Zipf and herd workloads. */
  maxDataSources: number;
  connectionBudget: number;
  poolSize: number;
  /** Latency of each directory and credential lookup (in-memory ports), ms. */
  lookupMs: number;
  /** Samples of the warm-path overhead loop. */
  overheadIterations: number;
  /** Connections creating the tenant databases. */
  setupConcurrency: number;
  /** Which workloads to run, in the table's order. */
  workloads: ('warm' | 'zipf' | 'herd' | 'noisy')[];
  timeoutS: number;
}

const WORKLOAD_NAMES = ['warm', 'zipf', 'herd', 'noisy'] as const;

export const USAGE = `usage: npm run bench:router -- [options]

  --tenants N             tenant databases, the Zipf workload's tenants (default 2000)
  --warm-tenants N        tenants of the warm uniform workload (default 100)
  --herd N                requests fired at once at one cold tenant (default 1000)
  --concurrency C         closed-loop workers in the warm and Zipf workloads (default 32)
  --duration-s S          measured seconds per contender, warm and Zipf workloads (default 10)
  --warmup-s S            unmeasured seconds per contender before the warm workload (default 3)
  --rounds R              warm: (b), (c) and the references measured in R interleaved slices (default 8)
  --zipf-s X              Zipf exponent of the 2,000-tenant workload (default 1.0)
  --max-connections N     max_connections of the private PostgreSQL, Zipf and herd (default 100)
  --max-data-sources N    TenantRouter maxDataSources (DataSources cached), Zipf and herd (default 1000)
  --connection-budget N   TenantRouter connectionBudget, Zipf and herd (default 80)
  --pool-size N           TenantRouter pool size per tenant (default 2)
  --lookup-ms MS          latency of each directory and secret lookup (default 1)
  --overhead-iterations N samples of the warm-path overhead loop (default 200000)
  --setup-concurrency N   connections creating the tenant databases (default 4)
  --workloads LIST        comma-separated subset of warm,zipf,herd,noisy (default all four)
  --timeout-s S           stop, clean up and exit 1 after S seconds (default 1800)
`;

/** The command line, validated; 'help' for --help. */
export function parseRouterBenchArgs(argv: string[]): RouterBenchArgs | 'help' {
  const values = parseFlags(argv, {
    tenants: { type: 'string', default: '2000' },
    'warm-tenants': { type: 'string', default: '100' },
    herd: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    'duration-s': { type: 'string', default: '10' },
    'warmup-s': { type: 'string', default: '3' },
    rounds: { type: 'string', default: '8' },
    'zipf-s': { type: 'string', default: '1.0' },
    'max-connections': { type: 'string', default: '100' },
    'max-data-sources': { type: 'string', default: '1000' },
    'connection-budget': { type: 'string', default: '80' },
    'pool-size': { type: 'string', default: '2' },
    'lookup-ms': { type: 'string', default: '1' },
    'overhead-iterations': { type: 'string', default: '200000' },
    'setup-concurrency': { type: 'string', default: '4' },
    workloads: { type: 'string', default: WORKLOAD_NAMES.join(',') },
    'timeout-s': { type: 'string', default: '1800' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const args: RouterBenchArgs = {
    tenants: integer('--tenants', values.tenants, 10, 20_000),
    warmTenants: integer('--warm-tenants', values['warm-tenants'], 1, 1000),
    herd: integer('--herd', values.herd, 1, 100_000),
    concurrency: integer('--concurrency', values.concurrency, 1, 1000),
    durationS: integer('--duration-s', values['duration-s'], 1, 3600),
    warmupS: integer('--warmup-s', values['warmup-s'], 0, 600),
    rounds: integer('--rounds', values.rounds, 1, 100),
    zipfS: decimal('--zipf-s', values['zipf-s'], 0, 5),
    maxConnections: integer('--max-connections', values['max-connections'], 20, 10_000),
    maxDataSources: integer('--max-data-sources', values['max-data-sources'], 1, 10_000),
    connectionBudget: integer('--connection-budget', values['connection-budget'], 1, 10_000),
    poolSize: integer('--pool-size', values['pool-size'], 1, 100),
    lookupMs: integer('--lookup-ms', values['lookup-ms'], 0, 1000),
    overheadIterations: integer('--overhead-iterations', values['overhead-iterations'], 1000, 10_000_000),
    setupConcurrency: integer('--setup-concurrency', values['setup-concurrency'], 1, 16),
    workloads: workloadList(values.workloads),
    timeoutS: integer('--timeout-s', values['timeout-s'], 30, 24 * 3600),
  };
  // Three herds (one cold tenant per contender) come from the fleet beyond the warm tenants.
  if (args.warmTenants + 3 > args.tenants) {
    throw new UsageError('--tenants must be at least --warm-tenants + 3');
  }
  if (args.poolSize > args.connectionBudget) {
    throw new UsageError('--pool-size must not exceed --connection-budget');
  }
  // The private server keeps slots for superusers (the connection sampler among them).
  if (args.connectionBudget > args.maxConnections - SUPERUSER_RESERVED_CONNECTIONS) {
    throw new UsageError(
      `--connection-budget must leave ${SUPERUSER_RESERVED_CONNECTIONS} of --max-connections to superusers`,
    );
  }
  return args;
}

function workloadList(value: string): RouterBenchArgs['workloads'] {
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(WORKLOAD_NAMES as readonly string[]).includes(name));
  if (unknown.length || names.length === 0) {
    throw new UsageError(`--workloads takes a comma-separated subset of ${WORKLOAD_NAMES.join(',')}`);
  }
  return WORKLOAD_NAMES.filter((name) => names.includes(name));
}
