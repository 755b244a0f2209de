import { integer, parseFlags } from '../common/args';

export interface MoveBenchArgs {
  /** Notes of the moving tenant in the pool; the neighbour and each other tenant get as many. */
  rows: number;
  /** Moves measured, each to a fresh target. */
  moves: number;
  /** Requests per second sent to the moving tenant and, as many, to the neighbour. */
  rate: number;
  /** Idle tenants in the pool besides the moving one and the neighbour. */
  otherTenants: number;
  /** Seconds of streaming under load between the end of the initial copy and the cut-over. */
  streamS: number;
  /** Seconds of load on the target after the switch, before the moving tenant's rows are verified. */
  afterS: number;
  timeoutS: number;
  /** --quick: the small defaults below were used. */
  quick: boolean;
}

type Defaults = Record<'rows' | 'moves' | 'rate' | 'other-tenants' | 'stream-s' | 'after-s', string>;

const FULL: Defaults = {
  rows: '100000',
  moves: '5',
  rate: '50',
  'other-tenants': '3',
  'stream-s': '3',
  'after-s': '2',
};

/** --quick: one small move under light load, for a check that the bench works. */
const QUICK: Defaults = {
  rows: '5000',
  moves: '1',
  rate: '10',
  'other-tenants': '1',
  'stream-s': '1',
  'after-s': '1',
};

export const USAGE = `usage: npm run bench:move -- [options]

  --quick            one small move for a check that the bench works: --rows 5000 --moves 1
                     --rate 10 --other-tenants 1 --stream-s 1 --after-s 1 (each still overridable)
  --rows N           notes of the moving tenant in the pool; the neighbour and each other
                     tenant hold as many (default 100000)
  --moves N          moves measured, each to a fresh target database (default 5)
  --rate R           requests/s to the moving tenant, and as many to the neighbour: 50 % reads of
                     recent notes, 30 % inserts, 20 % updates (default 50)
  --other-tenants N  idle tenants in the pool besides those two (default 3)
  --stream-s S       seconds of streaming under load before the cut-over (default 3)
  --after-s S        seconds of load on the target after the switch (default 2)
  --timeout-s S      stop, clean up and exit 1 after S seconds (default 900)
`;

/** The command line, validated; 'help' for --help. */
export function parseMoveBenchArgs(argv: string[]): MoveBenchArgs | 'help' {
  const values = parseFlags(argv, {
    quick: { type: 'boolean', default: false },
    rows: { type: 'string' },
    moves: { type: 'string' },
    rate: { type: 'string' },
    'other-tenants': { type: 'string' },
    'stream-s': { type: 'string' },
    'after-s': { type: 'string' },
    'timeout-s': { type: 'string', default: '900' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const defaults = values.quick ? QUICK : FULL;
  const given = (name: keyof Defaults): string => values[name] ?? defaults[name];
  return {
    rows: integer('--rows', given('rows'), 100, 10_000_000),
    moves: integer('--moves', given('moves'), 1, 100),
    rate: integer('--rate', given('rate'), 1, 1000),
    otherTenants: integer('--other-tenants', given('other-tenants'), 0, 50),
    streamS: integer('--stream-s', given('stream-s'), 0, 600),
    afterS: integer('--after-s', given('after-s'), 0, 600),
    timeoutS: integer('--timeout-s', values['timeout-s'], 30, 24 * 3600),
    quick: values.quick,
  };
}
