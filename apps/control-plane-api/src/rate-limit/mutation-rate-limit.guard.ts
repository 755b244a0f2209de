import { CanActivate, ExecutionContext, HttpException, Injectable, Logger, UseGuards } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { problem } from '@silo/http';
import { RedisConnection } from '@silo/queue';
import type { Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthenticatedRequest } from '../auth/auth.guard';

/**
 * Counts mutating calls per caller (JWT sub) in Redis, so the budget is shared by every API
 * process. While Redis is unreachable, each process falls back to its own in-memory count of the
 * same budget: creating a tenant must keep working then (its job waits in the outbox), and a
 * caller is still limited.
 */
@Injectable()
export class MutationRateLimiter {
  private readonly limiter: RateLimiterRedis;
  private readonly logger = new Logger(MutationRateLimiter.name);

  constructor(config: SiloConfig, redis: RedisConnection) {
    const { points, windowSeconds } = config.http.rateLimit;
    this.limiter = new RateLimiterRedis({
      storeClient: redis.client,
      keyPrefix: `${config.queue.prefix}:ratelimit:mutations`,
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
      // Neither store answered: let the call through rather than refuse every mutation.
      this.logger.warn({ err: rejection }, 'rate limiter unavailable; request allowed');
      return { retryAfterSeconds: 0, remaining: limit, limit };
    }
  }
}

/** Refuses a caller over its budget with 429 problem+json and `Retry-After`. Runs after auth. */
@Injectable()
export class MutationRateLimitGuard implements CanActivate {
  constructor(private readonly limiter: MutationRateLimiter) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    // The global AuthGuard has set the principal on every route this guard is used on.
    const caller = req.principal?.sub ?? 'anonymous';
    const { retryAfterSeconds, remaining, limit } = await this.limiter.take(caller);
    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(remaining));
    if (retryAfterSeconds > 0) {
      res.setHeader('Retry-After', String(retryAfterSeconds));
      throw new HttpException(
        problem(429, `Too many changes from ${caller}; retry after ${retryAfterSeconds} s.`),
        429,
      );
    }
    return true;
  }
}

/** Marks a mutating route: it counts against the caller's rate limit. */
export const Mutating = () => UseGuards(MutationRateLimitGuard);
