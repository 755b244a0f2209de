import { HttpException, Logger, type ExecutionContext } from '@nestjs/common';
import type { SiloConfig } from '@silo/config';
import { problem } from '@silo/http';
import type { RedisConnection } from '@silo/queue';
import type { Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthenticatedRequest } from '../auth/auth.guard';

/** What one budget counts: `mutations` (changes) or `reads`, each with its own points. */
export type RateBudget = 'mutations' | 'reads';

const NOUNS: Record<RateBudget, string> = { mutations: 'changes', reads: 'reads' };

/**
 * Counts one kind of call per caller (JWT sub) in Redis, so the budget is shared by every API
 * process. While Redis is unreachable, each process falls back to its own in-memory count of the
 * same budget: creating a tenant must keep working then (its job waits in the outbox), and a
 * caller is still limited. Every budget shares the window `RATE_LIMIT_WINDOW_SECONDS`.
 */
export class CallerRateLimiter {
  private readonly limiter: RateLimiterRedis;
  private readonly logger: Logger;

  constructor(
    readonly budget: RateBudget,
    points: number,
    config: SiloConfig,
    redis: RedisConnection,
  ) {
    const { windowSeconds } = config.http.rateLimit;
    this.logger = new Logger(`RateLimiter:${budget}`);
    this.limiter = new RateLimiterRedis({
      storeClient: redis.client,
      keyPrefix: `${config.queue.prefix}:ratelimit:${budget}`,
      points,
      duration: windowSeconds,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ points, duration: windowSeconds }),
    });
  }

  /** Takes one point for `caller`; resolves with the seconds to wait when none is left, else 0. */
  async take(caller: string): Promise<{ retryAfterSeconds: number; remaining: number; limit: number }> {
    const limit = this.limiter.points;
    try {
      const res = await this.limiter.consume(caller);
      return { retryAfterSeconds: 0, remaining: res.remainingPoints, limit };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return {
          retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
          remaining: 0,
          limit,
        };
      }
      // Neither store answered: let the call through rather than refuse every call.
      this.logger.warn({ err: rejection }, 'rate limiter unavailable; request allowed');
      return { retryAfterSeconds: 0, remaining: limit, limit };
    }
  }

  /**
   * Takes a point for the authenticated caller of `context`, sets `RateLimit-Limit` and
   * `RateLimit-Remaining`, and refuses a caller over its budget with 429 problem+json and
   * `Retry-After`. Runs after auth: the global AuthGuard has set the principal.
   */
  async enforce(context: ExecutionContext): Promise<true> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const caller = req.principal?.sub ?? 'anonymous';
    const { retryAfterSeconds, remaining, limit } = await this.take(caller);
    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(remaining));
    if (retryAfterSeconds > 0) {
      res.setHeader('Retry-After', String(retryAfterSeconds));
      throw new HttpException(
        problem(429, `Too many ${NOUNS[this.budget]} from ${caller}; retry after ${retryAfterSeconds} s.`),
        429,
      );
    }
    return true;
  }
}
