import { CanActivate, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { RedisConnection } from '@silo/queue';
import { CallerRateLimiter } from './caller-rate-limiter';

/** The budget of mutating calls per caller: `RATE_LIMIT_MUTATIONS` per window. */
@Injectable()
export class MutationRateLimiter extends CallerRateLimiter {
  constructor(config: SiloConfig, redis: RedisConnection) {
    super('mutations', config.http.rateLimit.points, config, redis);
  }
}

/** Refuses a caller over its budget of changes with 429 problem+json and `Retry-After`. Runs after auth. */
@Injectable()
export class MutationRateLimitGuard implements CanActivate {
  constructor(private readonly limiter: MutationRateLimiter) {}

  canActivate(context: ExecutionContext): Promise<boolean> {
    return this.limiter.enforce(context);
  }
}

/** Marks a mutating route: it counts against the caller's rate limit. */
export const Mutating = () => UseGuards(MutationRateLimitGuard);
