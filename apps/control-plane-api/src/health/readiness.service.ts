import { Injectable, Logger } from '@nestjs/common';
import { DependencyProbes } from './dependency-probes';

export const READINESS_CHECKS = ['postgres', 'redis'] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];

export interface Readiness {
  ready: boolean;
  checks: Record<ReadinessCheck, 'up' | 'down'>;
}

/**
 * How long one answer serves every caller. Each load balancer node, the orchestrator and anyone
 * who can reach the port probe each replica; without it each call costs a query and a ping.
 */
export const READINESS_CACHE_MS = 1000;

/**
 * Whether PostgreSQL and Redis answer, asked at most once per {@link READINESS_CACHE_MS}:
 * concurrent callers share the check in flight. The answer only says up or down; why a check
 * failed (driver messages naming hosts, ports, users) goes to the log, at warn, when the state
 * changes.
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger(ReadinessService.name);
  private last: { at: number; readiness: Readiness } | undefined;
  private inFlight: Promise<Readiness> | undefined;
  /** The checks that failed last time, joined; '' when all answered (as at start). */
  private failing = '';

  constructor(private readonly probes: DependencyProbes) {}

  current(): Promise<Readiness> {
    if (this.last && performance.now() - this.last.at < READINESS_CACHE_MS) {
      return Promise.resolve(this.last.readiness);
    }
    this.inFlight ??= this.check().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async check(): Promise<Readiness> {
    const outcomes = await Promise.all(
      READINESS_CHECKS.map((name) =>
        this.probes[name]().then(
          () => [name, null] as const,
          (error: unknown) => [name, describe(error)] as const,
        ),
      ),
    );
    const problems = Object.fromEntries(outcomes.filter(([, problem]) => problem !== null));
    const readiness: Readiness = {
      ready: outcomes.every(([, problem]) => problem === null),
      checks: Object.fromEntries(
        outcomes.map(([name, problem]) => [name, problem === null ? 'up' : 'down']),
      ) as Readiness['checks'],
    };
    this.last = { at: performance.now(), readiness };
    this.logChange(problems);
    return readiness;
  }

  private logChange(problems: Partial<Record<ReadinessCheck, string>>): void {
    const failing = Object.keys(problems).join(',');
    if (failing === this.failing) return;
    this.failing = failing;
    if (failing) {
      this.logger.warn({ failing: problems }, `not ready: ${failing.replace(/,/g, ', ')} did not answer`);
    } else {
      this.logger.log('ready: PostgreSQL and Redis answer again');
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
