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
  /** Tenants of the mixed fleet (90 % pooled on 2 hosts, 9 % schema, 1 % instance). */
  mixedTenants: number;
  /** TenantRouter poolSizePerHost in the mixed fleet (the router's default 10). */
  poolSizePerHost: number;
  /** Which workloads to run, in the table's order. */
  workloads: ('warm' | 'zipf' | 'herd' | 'noisy' | 'mixed')[];
  timeoutS: number;
  /** --quick: the small defaults below were used. */
  quick: boolean;
}

const WORKLOAD_NAMES = ['warm', 'zipf', 'herd', 'noisy', 'mixed'] as const;

type Defaults = Record<
  | 'tenants'
  | 'warm-tenants'
  | 'herd'
  | 'duration-s'
  | 'warmup-s'
  | 'rounds'
  | 'overhead-iterations'
  | 'mixed-tenants',
  string
>;

const FULL: Defaults = {
  tenants: '2000',
  'warm-tenants': '100',
  herd: '1000',
  'duration-s': '10',
  'warmup-s': '3',
  rounds: '8',
  'overhead-iterations': '200000',
  'mixed-tenants': '2000',
};

/** --quick: every workload, small and short (well under a minute of measuring), for a check that the bench works. */
const QUICK: Defaults = {
  tenants: '200',
  'warm-tenants': '20',
  herd: '200',
  'duration-s': '2',
  'warmup-s': '1',
  rounds: '4',
  'overhead-iterations': '20000',
  'mixed-tenants': '200',
};

export const USAGE = `usage: npm run bench:router -- [options]

  --quick                 small defaults for a quick check: --tenants 200 --warm-tenants 20 --herd 200
                          --duration-s 2 --warmup-s 1 --rounds 4 --overhead-iterations 20000
                          --mixed-tenants 200 (each still overridable)
  --tenants N             tenant databases, the Zipf workload's tenants (default 2000)
  --warm-tenants N        tenants of the warm uniform workload (default 100)
  --herd N                requests fired at once at one cold tenant (default 1000)
  --mixed-tenants N       tenants of the mixed fleet: 90 % pooled on 2 pool databases, 9 % schema
                          tenants on one schema host, 1 % instances (default 2000)
  --pool-size-per-host N  TenantRouter poolSizePerHost in the mixed fleet (default 10, the router's)
  --concurrency C         closed-loop workers in the warm, Zipf and mixed workloads (default 32)
  --duration-s S          measured seconds per contender, warm, Zipf and mixed workloads (default 10)
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
  --workloads LIST        comma-separated subset of warm,zipf,herd,noisy,mixed (default all five)
  --timeout-s S           stop, clean up and exit 1 after S seconds (default 1800)
`;

/** The command line, validated; 'help' for --help. */
export function parseRouterBenchArgs(argv: string[]): RouterBenchArgs | 'help' {
  const values = parseFlags(argv, {
    quick: { type: 'boolean', default: false },
    tenants: { type: 'string' },
    'warm-tenants': { type: 'string' },
    herd: { type: 'string' },
    'mixed-tenants': { type: 'string' },
    'pool-size-per-host': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    'duration-s': { type: 'string' },
    'warmup-s': { type: 'string' },
    rounds: { type: 'string' },
    'zipf-s': { type: 'string', default: '1.0' },
    'max-connections': { type: 'string', default: '100' },
    'max-data-sources': { type: 'string', default: '1000' },
    'connection-budget': { type: 'string', default: '80' },
    'pool-size': { type: 'string', default: '2' },
    'lookup-ms': { type: 'string', default: '1' },
    'overhead-iterations': { type: 'string' },
    'setup-concurrency': { type: 'string', default: '4' },
    workloads: { type: 'string', default: WORKLOAD_NAMES.join(',') },
    'timeout-s': { type: 'string', default: '1800' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const defaults = values.quick ? QUICK : FULL;
  const given = (name: keyof Defaults): string => values[name] ?? defaults[name];
  const args: RouterBenchArgs = {
    tenants: integer('--tenants', given('tenants'), 10, 20_000),
    warmTenants: integer('--warm-tenants', given('warm-tenants'), 1, 1000),
    herd: integer('--herd', given('herd'), 1, 100_000),
    concurrency: integer('--concurrency', values.concurrency, 1, 1000),
    durationS: integer('--duration-s', given('duration-s'), 1, 3600),
    warmupS: integer('--warmup-s', given('warmup-s'), 0, 600),
    rounds: integer('--rounds', given('rounds'), 1, 100),
    zipfS: decimal('--zipf-s', values['zipf-s'], 0, 5),
    maxConnections: integer('--max-connections', values['max-connections'], 20, 10_000),
    maxDataSources: integer('--max-data-sources', values['max-data-sources'], 1, 10_000),
    connectionBudget: integer('--connection-budget', values['connection-budget'], 1, 10_000),
    poolSize: integer('--pool-size', values['pool-size'], 1, 100),
    lookupMs: integer('--lookup-ms', values['lookup-ms'], 0, 1000),
    overheadIterations: integer('--overhead-iterations', given('overhead-iterations'), 1000, 10_000_000),
    mixedTenants: integer('--mixed-tenants', given('mixed-tenants'), 100, 20_000),
    poolSizePerHost: integer('--pool-size-per-host', values['pool-size-per-host'], 1, 100),
    setupConcurrency: integer('--setup-concurrency', values['setup-concurrency'], 1, 16),
    workloads: workloadList(values.workloads),
    timeoutS: integer('--timeout-s', values['timeout-s'], 30, 24 * 3600),
    quick: values.quick,
  };
  // Three herds (one cold tenant per contender) come from the fleet beyond the warm tenants.
  if (args.warmTenants + 3 > args.tenants) {
    throw new UsageError('--tenants must be at least --warm-tenants + 3');
  }
  if (args.poolSize > args.connectionBudget) {
    throw new UsageError('--pool-size must not exceed --connection-budget');
  }
  // Both pool hosts' pools, and room besides for the schema and instance tenants.
  if (2 * args.poolSizePerHost + args.poolSize > args.connectionBudget) {
    throw new UsageError(
      '--connection-budget must hold two hosts of --pool-size-per-host and one --pool-size',
    );
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
