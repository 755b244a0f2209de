import { CanActivate, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { RedisConnection } from '@silo/queue';
import type { Request } from 'express';
import { CallerRateLimiter } from './caller-rate-limiter';

/** The budget of reads per caller: `RATE_LIMIT_READS` per window. */
@Injectable()
export class ReadRateLimiter extends CallerRateLimiter {
  constructor(config: SiloConfig, redis: RedisConnection) {
    super('reads', config.http.rateLimit.readPoints, config, redis);
  }
}

/**
 * Counts GET (and HEAD) calls against the caller's budget of reads, and refuses a caller over it
 * with 429 problem+json and `Retry-After`; other methods pass (mutations have their own budget).
 * Runs after auth.
 */
@Injectable()
export class ReadRateLimitGuard implements CanActivate {
  constructor(private readonly limiter: ReadRateLimiter) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const method = context.switchToHttp().getRequest<Request>().method;
    if (method !== 'GET' && method !== 'HEAD') return true;
    return this.limiter.enforce(context);
  }
}

/** On a controller: each of its GET routes counts against the caller's budget of reads. */
export const ReadsLimited = () => UseGuards(ReadRateLimitGuard);
