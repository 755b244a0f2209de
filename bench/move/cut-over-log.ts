import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { MOVES_SCHEMA } from '@silo/tenant-schema';

/**
 * Where a cut-over's time went, from the server's statement log (the mover role logs every
 * statement with its duration; a line's timestamp is when the statement ended). Milliseconds;
 * undefined when the lines were not found.
 */
export interface CutOverParts {
  /** pg_advisory_lock on the source: waiting for the tenant's open writes to end. */
  lockMs?: number;
  /** The marker's INSERT ended on the source → the target's poll that found it ended (polls every 20 ms, on a new connection). */
  catchUpMs?: number;
  /** The digest query (a count and two sums of row hashes) on each side; they run at the same time. */
  sourceDigestMs?: number;
  targetDigestMs?: number;
  /** The poll that found the marker ended → the later digest ended: what the checksums added to the pause. */
  digestWallMs?: number;
}

interface LoggedStatement {
  at: number;
  database: string;
  durationMs: number;
  text: string;
}

const LINE =
  /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC \[\d+\] (\S*) LOG: {2}duration: ([\d.]+) ms {2}(?:statement|execute [^:]*): (.*)$/;

/** The server log's text from byte `offset` on. */
export function logSince(path: string, offset: number): string {
  const size = statSync(path).size;
  if (size <= offset) return '';
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

function statements(log: string): LoggedStatement[] {
  const out: LoggedStatement[] = [];
  for (const line of log.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({ at: Date.parse(`${m[1]}T${m[2]}Z`), database: m[3], durationMs: Number(m[4]), text: m[5] });
  }
  return out;
}

/** The parts of the one cut-over whose log lines `log` holds. */
export function cutOverParts(log: string, sourceDatabase: string, targetDatabase: string): CutOverParts {
  const all = statements(log);
  const on = (database: string, starts: string) =>
    all.filter((s) => s.database === database && s.text.trimStart().startsWith(starts));
  const lock = on(sourceDatabase, 'SELECT pg_advisory_lock(')[0];
  const marker = on(sourceDatabase, `INSERT INTO ${MOVES_SCHEMA}.markers`)[0];
  const polls = on(targetDatabase, `SELECT 1 FROM ${MOVES_SCHEMA}.markers WHERE move_id`);
  // The digest query of tenant-copy.ts: a count and two sums of row hashes.
  const digestOf = (database: string) =>
    all.filter((s) => s.database === database && s.text.includes('sum(hashtextextended(r, 0)'))[0];
  const sourceDigest = digestOf(sourceDatabase);
  const targetDigest = digestOf(targetDatabase);
  const found = polls.at(-1);
  return {
    lockMs: lock?.durationMs,
    catchUpMs: marker && found ? found.at - marker.at : undefined,
    sourceDigestMs: sourceDigest?.durationMs,
    targetDigestMs: targetDigest?.durationMs,
    digestWallMs:
      found && sourceDigest && targetDigest
        ? Math.max(sourceDigest.at, targetDigest.at) - found.at
        : undefined,
  };
}
