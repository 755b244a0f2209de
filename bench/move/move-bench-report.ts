import { alignedTable, ratio } from '../common/table';
import type { CutOverParts } from './cut-over-log';
import type { MoveBenchArgs } from './move-bench-args';
import { lostWrites, type Verification } from './tenant-load';

export interface MoveResult {
  n: number;
  /** The tenant's rows in the pool when the copy started. */
  rows: number;
  copyMs: number;
  lagBytes: number | null;
  /** cutOverCopy's call, start to return: the moving tenant's writes are refused for all of it. */
  pauseMs: number;
  frozenForMs: number;
  /** Rows counted and checksummed on both sides during the freeze. */
  comparedRows: number;
  parts: CutOverParts;
  refused: number;
  refusedOutside: number;
  movingRequests: number;
  movingFailed: number;
  movingFailures: string[];
  longestWriteGapMs: number;
  neighbourRequests: number;
  neighbourFailed: number;
  neighbourP99Ms: number;
  verification: Verification;
  dumpMs: number;
  dumpRows: number;
  /** The source's digests timed after the move: cutOverCopy's (md5 of the sorted rows), a sum of row hashes, a count. */
  digestProbe: { md5SortedMs: number; hashSumMs: number; countMs: number };
}

export interface NeighbourResult {
  requests: number;
  failed: number;
  failures: string[];
  p50Ms: number;
  p99Ms: number;
  verification: Verification;
}

export interface MoveReportInput {
  args: MoveBenchArgs;
  moves: MoveResult[];
  neighbour: NeighbourResult;
  poolRows: number;
  machine: string;
  load: { start: number; end: number };
  cluster: string;
}

export function formatMoveReport(input: MoveReportInput): string {
  const { args, moves, neighbour } = input;
  const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(0));
  const s = (v: number) => (v / 1000).toFixed(2);
  const lines: string[] = [];
  lines.push(
    `model: a pooled tenant of ${args.rows.toLocaleString('en')} notes moved out of a pool database holding ` +
      `${input.poolRows.toLocaleString('en')} notes of ${2 + args.otherTenants} tenants to its own database (instance placement), ` +
      `${args.moves} move${args.moves === 1 ? '' : 's'}, each to a fresh target; source and target on ONE private PostgreSQL ` +
      `cluster (${input.cluster}, wal_level=logical, synchronous_commit=on, fsync=off, full_page_writes=off, autovacuum=off, shared_buffers=64MB) on the ` +
      `same CPU as the bench: ${input.machine}; load average ${input.load.start.toFixed(2)} at the start, ${input.load.end.toFixed(2)} at the end`,
    `load: ${args.rate} requests/s to the moving tenant and ${args.rate}/s to a neighbour in the same pool, fixed rate ` +
      '(open loop), 50 % reads of the 10 newest notes, 30 % inserts, 20 % updates, each one transaction through a ' +
      'plain pg pool of 4 as the application login (row-level security, app.tenant_id set first); the moving ' +
      `tenant's load runs from 1 s before the copy until ${args.afterS} s after the switch, the neighbour's throughout`,
    `move: startTenantCopy → copyProgress every 25 ms until streaming → ${args.streamS} s of streaming → cutOverCopy ` +
      `(freezeTimeoutMs ${5000}, catchUpTimeoutMs ${30000}) → the tenant's load switched to the target; then ` +
      'releaseMovedSource and abortTenantCopy, the target dropped',
    'baseline: before each move, with the tenant stopped, COPY (SELECT … WHERE tenant_id = …) TO STDOUT | COPY … FROM ' +
      "STDIN by two psql processes into a fresh database with the same schema (pg_dump cannot filter a pool's rows): " +
      "the tenant's downtime is all of it",
    '',
  );

  const header = [
    'move',
    'rows',
    'copy s',
    'rows/s',
    'lag before KiB',
    'write pause ms',
    'frozenForMs',
    'lock ms',
    'catch-up ms',
    'digest src ms',
    'digest tgt ms',
    'checksums in pause ms',
    'after freeze ms',
    'dump s',
  ];
  lines.push(
    alignedTable([
      header,
      ...moves.map((m) => [
        String(m.n),
        String(m.rows),
        s(m.copyMs),
        (m.rows / (m.copyMs / 1000)).toFixed(0),
        m.lagBytes === null ? 'n/a' : (m.lagBytes / 1024).toFixed(1),
        ms(m.pauseMs),
        ms(m.frozenForMs),
        ms(m.parts.lockMs),
        ms(m.parts.catchUpMs),
        ms(m.parts.sourceDigestMs),
        ms(m.parts.targetDigestMs),
        ms(m.parts.digestWallMs),
        ms(m.pauseMs - m.frozenForMs),
        s(m.dumpMs),
      ]),
    ]),
    '',
  );
  lines.push(
    alignedTable([
      [
        'move',
        'moving requests',
        'refused writes',
        'other failures',
        'longest gap between acked writes ms',
        'neighbour requests',
        'neighbour failed',
        'neighbour p99 ms',
        'acked rows in target',
        'lost',
      ],
      ...moves.map((m) => [
        String(m.n),
        String(m.movingRequests),
        String(m.refused),
        String(m.movingFailed),
        ms(m.longestWriteGapMs),
        String(m.neighbourRequests),
        String(m.neighbourFailed),
        m.neighbourP99Ms.toFixed(1),
        `${m.verification.found - m.verification.unexpected} of ${m.verification.expected}`,
        String(lostWrites(m.verification)),
      ]),
    ]),
    '',
  );
  for (const m of moves)
    for (const failure of m.movingFailures)
      lines.push(`move ${m.n}: moving tenant request failed: ${failure}`);

  const pauses = moves.map((m) => m.pauseMs);
  const dumps = moves.map((m) => m.dumpMs);
  const row = (label: string, values: number[], unit: (v: number) => string) =>
    values.length ? [label, unit(p50(values)), unit(Math.max(...values))] : [label, 'n/a', 'n/a'];
  const msUnit = (v: number) => `${v.toFixed(0)} ms`;
  const sUnit = (v: number) => `${(v / 1000).toFixed(2)} s`;
  lines.push(
    alignedTable([
      ['over the moves', 'p50', 'max'],
      row(
        'copy time (start → streaming)',
        moves.map((m) => m.copyMs),
        sUnit,
      ),
      row(
        'initial copy rows/s',
        moves.map((m) => m.rows / (m.copyMs / 1000)),
        (v) => v.toFixed(0),
      ),
      row('write pause (cutOverCopy start → return)', pauses, msUnit),
      row(
        'frozenForMs (lock → durable freeze)',
        moves.map((m) => m.frozenForMs),
        msUnit,
      ),
      row('  of which marker catch-up', defined(moves.map((m) => m.parts.catchUpMs)), msUnit),
      row(
        '  of which checksums (both sides at once)',
        defined(moves.map((m) => m.parts.digestWallMs)),
        msUnit,
      ),
      row(
        'after the freeze (subscription ended, sequences)',
        moves.map((m) => m.pauseMs - m.frozenForMs),
        msUnit,
      ),
      row(
        'longest gap between acknowledged writes',
        moves.map((m) => m.longestWriteGapMs),
        msUnit,
      ),
      row(
        'refused writes of the moving tenant',
        moves.map((m) => m.refused),
        (v) => v.toFixed(0),
      ),
      row('dump downtime (COPY | COPY, tenant stopped)', dumps, sUnit),
      row(
        'probe: source digest as cutOverCopy runs it (two sums of row hashes)',
        moves.map((m) => m.digestProbe.md5SortedMs),
        msUnit,
      ),
      row(
        'probe: one sum of hashtextextended(row)',
        moves.map((m) => m.digestProbe.hashSumMs),
        msUnit,
      ),
      row(
        'probe: count(*) alone (the scan)',
        moves.map((m) => m.digestProbe.countMs),
        msUnit,
      ),
    ]),
    '',
  );
  lines.push(
    `dump downtime p50 ÷ move write pause max: ${ratio(p50(dumps), Math.max(...pauses))}` +
      `   (p50 ÷ p50: ${ratio(p50(dumps), p50(pauses))})`,
    `neighbour: ${neighbour.requests} requests, ${neighbour.failed} failed, p50 ${neighbour.p50Ms.toFixed(1)} ms, ` +
      `p99 ${neighbour.p99Ms.toFixed(1)} ms; its acknowledged writes in the pool: ${neighbour.verification.expected - neighbour.verification.missing} ` +
      `of ${neighbour.verification.expected}, ${lostWrites(neighbour.verification)} lost`,
    `every acknowledged write of the moving tenant once in its target: ` +
      (moves.every((m) => lostWrites(m.verification) === 0) ? 'yes, in every move' : 'NO (see "lost")'),
  );
  for (const failure of neighbour.failures) lines.push(`neighbour request failed: ${failure}`);
  return `${lines.join('\n')}\n`;
}

function defined(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined);
}

function p50(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.5 * sorted.length) - 1];
}
