import type { AwsClients } from '@silo/aws';

/** Calls by operation name (`CreateSecret`), and how many of them returned an error. */
export interface CallCounts {
  calls: ReadonlyMap<string, number>;
  failed: ReadonlyMap<string, number>;
}

const MIDDLEWARE = { step: 'initialize', name: 'siloBenchCounter' } as const;

/**
 * Counts every `send()` on the SDK clients it is attached to, by operation. It sits in the
 * initialize step, before the SDK's retry middleware, so one call retried by the SDK counts once.
 */
export class AwsCallCounter {
  private readonly calls = new Map<string, number>();
  private readonly failed = new Map<string, number>();

  attach(aws: AwsClients): void {
    aws.rds.middlewareStack.add(
      (next, context) => (args) => this.count(context.commandName, () => next(args)),
      MIDDLEWARE,
    );
    aws.secretsManager.middlewareStack.add(
      (next, context) => (args) => this.count(context.commandName, () => next(args)),
      MIDDLEWARE,
    );
    aws.cloudWatch.middlewareStack.add(
      (next, context) => (args) => this.count(context.commandName, () => next(args)),
      MIDDLEWARE,
    );
  }

  snapshot(): CallCounts {
    return { calls: new Map(this.calls), failed: new Map(this.failed) };
  }

  private async count<T>(commandName: string | undefined, send: () => Promise<T>): Promise<T> {
    const operation = (commandName ?? 'unknown').replace(/Command$/, '');
    bump(this.calls, operation);
    try {
      return await send();
    } catch (error) {
      bump(this.failed, operation);
      throw error;
    }
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
