import { withTimeout } from '@silo/core/async/with-timeout';
import type { TierName } from '@silo/core/tenant/tier';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { TenantAccessError, TenantAccessErrorCode } from './tenant-router.errors';
import type { TenantRouterLog } from './tenant-router.types';

const WINDOW_SECONDS = 1;
/** A Redis that takes longer than this to count a request counts as away. */
const REDIS_TIMEOUT_MS = 250;

/** Nest token of the app's TenantRequestRate (null when the app sets no rate). */
export const TENANT_REQUEST_RATE = Symbol('TENANT_REQUEST_RATE');

/** Per tier: requests counted, refused, and those counted by a process alone while Redis was away. */
export interface TenantRequestRateCounts {
  requests: number;
  rejections: number;
  local: number;
}

/**
 * Requests per second per tenant, by tier, counted in Redis so that every replica of a tenant app
 * shares one budget per tenant (rate-limiter-flexible, as the control-plane API counts its
 * mutations). A window is one second, fixed: a tenant may burst to twice its rate across a window
 * boundary. While Redis does not answer (within 250 ms), each process counts the same budget in
 * memory on its own (a tenant can then make up to replicas × its rate), and says so once in the log. A tier
 * without a rate is not counted at all.
 */
export class TenantRequestRate {
  readonly counts: Record<TierName, TenantRequestRateCounts> = {
    starter: { requests: 0, rejections: 0, local: 0 },
    pro: { requests: 0, rejections: 0, local: 0 },
    enterprise: { requests: 0, rejections: 0, local: 0 },
  };
  private readonly limiters: Partial<Record<TierName, RateLimiterRedis>> = {};
  private readonly fallbacks: Partial<Record<TierName, RateLimiterMemory>> = {};
  private redisAway = false;
  /** True when at least one tier has a rate (read on every request: computed once). */
  readonly enabled: boolean;

  constructor(
    redis: Redis,
    /** Keys are `<keyPrefix>:<tier>:<tenant id>`. */
    keyPrefix: string,
    readonly perSecondByTier: Partial<Record<TierName, number>>,
    private readonly log: TenantRouterLog,
  ) {
    for (const [tier, points] of Object.entries(perSecondByTier) as [TierName, number][]) {
      if (!Number.isInteger(points) || points < 1)
        throw new Error(`requests per second for tier ${tier} must be a positive integer, got ${points}`);
      this.fallbacks[tier] = new RateLimiterMemory({ points, duration: WINDOW_SECONDS });
      this.limiters[tier] = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${keyPrefix}:${tier}`,
        points,
        duration: WINDOW_SECONDS,
        rejectIfRedisNotReady: true,
      });
    }
    this.enabled = Object.keys(this.limiters).length > 0;
  }

  /**
   * Counts one request of the tenant; resolves when it is within its tier's rate.
   * @throws TenantAccessError TENANT_RATE_LIMITED, with the time until the window turns.
   */
  async take(tenantId: string, tier: TierName): Promise<void> {
    const limiter = this.limiters[tier];
    if (limiter === undefined) return;
    const counts = this.counts[tier];
    counts.requests++;
    let refusal: RateLimiterRes | undefined;
    try {
      await withTimeout(
        limiter.consume(tenantId),
        REDIS_TIMEOUT_MS,
        `Redis did not count within ${REDIS_TIMEOUT_MS} ms`,
      );
      this.cameBack();
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        this.cameBack();
        refusal = error;
      } else {
        this.wentAway(error);
        counts.local++;
        refusal = await this.fallbacks[tier]!.consume(tenantId).then(
          () => undefined,
          (local: unknown) => (local instanceof RateLimiterRes ? local : undefined),
        );
      }
    }
    if (refusal === undefined) return;
    counts.rejections++;
    throw new TenantAccessError(
      TenantAccessErrorCode.TENANT_RATE_LIMITED,
      `tenant ${tenantId} made the ${this.perSecondByTier[tier]} requests per second its tier (${tier}) allows`,
      { tenantId, retryAfterMs: Math.max(1, refusal.msBeforeNext) },
    );
  }

  private wentAway(error: unknown): void {
    if (this.redisAway) return;
    this.redisAway = true;
    this.log.warn(
      { err: error },
      'tenant request rates cannot be counted in Redis; each process counts them alone until it answers',
    );
  }

  private cameBack(): void {
    if (!this.redisAway) return;
    this.redisAway = false;
    this.log.warn({}, 'tenant request rates are counted in Redis again');
  }
}
