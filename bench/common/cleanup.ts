import { withTimeout } from '@silo/core';
import { UsageError } from './args';

export const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

/** One benchmark's entry point, as {@link runBench} drives it. */
export interface Bench<A extends { timeoutS: number }, S> {
  usage: string;
  /** The command line, validated; 'help' for --help; throws {@link UsageError}. */
  parseArgs(argv: string[]): A | 'help';
  /** What the run fills in before it makes each thing, so that cleanup finds it. */
  state(args: A): S;
  /** Measures and returns the report, written to stdout. */
  run(args: A, state: S, signal: AbortSignal): Promise<string>;
  /** Removes what the run made; given the exit code so far, returns the final one. */
  cleanUp(state: S, code: number): Promise<number>;
  /** How long cleanup may take after an interrupt or the global timeout before the process gives up. */
  cleanupGraceMs: number;
  /** Appended to the line logged when cleanup overruns `cleanupGraceMs`. */
  graceExceededNote: string;
  /** How long the run gets to notice an abort and return before cleanup starts without it. */
  settleMs: number;
  /** Logged after `second SIGINT: exiting `. */
  secondSignalNote: string;
  /** Whether a failure other than the interruption or the timeout is logged with its stack. */
  stackOnFailure: boolean;
}

/**
 * Parses the command line, runs the bench under `--timeout-s` and SIGINT/SIGTERM (a second signal
 * exits at once), and cleans up exactly once, also after a failure, the timeout or a signal.
 * Sets the exit code: 0, 1 on failure or incomplete cleanup, 2 on a usage error.
 */
export function runBench<A extends { timeoutS: number }, S>(bench: Bench<A, S>): void {
  main(bench).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed by now; a handle still open would keep a finished bench alive.
      setTimeout(() => {
        log('a handle is still open after cleanup; exiting');
        process.exit(code);
      }, 5000).unref();
    },
    (error: unknown) => {
      log(`unexpected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}

async function main<A extends { timeoutS: number }, S>(bench: Bench<A, S>): Promise<number> {
  let args: A;
  try {
    const parsed = bench.parseArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(bench.usage);
      return 0;
    }
    args = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${bench.usage}`);
    return 2;
  }

  const state = bench.state(args);
  const stop = new AbortController();
  const abort = (reason: string): void => {
    if (stop.signal.aborted) return;
    stop.abort(new Error(reason));
    // Cleanup is bounded step by step; this only catches a step that ignores its own bound.
    setTimeout(() => {
      log(
        `cleanup did not finish within ${bench.cleanupGraceMs / 1000} s; exiting${bench.graceExceededNote}`,
      );
      process.exit(1);
    }, bench.cleanupGraceMs).unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      log(`second ${signal}: exiting ${bench.secondSignalNote}`);
      process.exit(130);
    }
    log(`${signal}: stopping and cleaning up (again to exit at once)`);
    abort(`interrupted by ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = setTimeout(() => abort(`timed out after ${args.timeoutS} s`), args.timeoutS * 1000);

  let code = 0;
  const work = bench.run(args, state, stop.signal);
  try {
    process.stdout.write(await untilAborted(work, stop.signal));
  } catch (error) {
    // An interruption or the timeout is said in one line.
    const withStack = bench.stackOnFailure && error !== stop.signal.reason;
    log(
      error instanceof Error ? (withStack ? (error.stack ?? error.message) : error.message) : String(error),
    );
    code = 1;
  } finally {
    clearTimeout(timer);
    // Let the run see the abort and return before removing what it made.
    await Promise.race([work.catch(() => undefined), sleep(bench.settleMs)]);
    code = await bench.cleanUp(state, code);
  }
  return code;
}

/**
 * Runs cleanup steps each within `timeoutMs`, collecting failures instead of stopping at the
 * first, so that every step runs.
 */
export function cleanupSteps(timeoutMs: number): {
  step: (what: string, action: () => Promise<void>) => Promise<void>;
  problems: string[];
} {
  const problems: string[] = [];
  const step = async (what: string, action: () => Promise<void>): Promise<void> => {
    try {
      await withTimeout(action(), timeoutMs, `${what} took longer than ${timeoutMs / 1000} s`);
    } catch (error) {
      problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  return { step, problems };
}

/** Logs each cleanup problem, or `done` when there were none; returns the exit code after cleanup. */
export function cleanupOutcome(problems: readonly string[], done: string, code: number): number {
  for (const problem of problems) log(`cleanup: ${problem}`);
  if (problems.length) return 1;
  log(`cleanup: done (${done})`);
  return code;
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
  ]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
