import {
  CallHandler,
  ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  NestInterceptor,
} from '@nestjs/common';
import { problem } from '@silo/http/problem-details';
import type { Response } from 'express';
import { catchError, defer, finalize, from, mergeMap, throwError, type Observable } from 'rxjs';
import { isAuthenticationFailure, isWriteRefusedAsMoved } from '../tenant-data-source';
import { TenantAccessError, TenantAccessErrorCode } from '../tenant-router.errors';
import { TenantRouter } from '../tenant-router';
import type { TenantLease } from '../tenant-router.types';
import { TENANT_IDENTITY, type TenantIdentifiedRequest } from './tenant-auth.guard';
import {
  TENANT_REQUEST_CONTEXT,
  TenantContext,
  tenantRequestContext,
  type TenantRequestContext,
} from './tenant-context';
import { TENANT_REQUEST_RATE, TenantRequestRate } from '../tenant-request-rate';

/**
 * Leases the verified tenant's database (whatever its placement) for the request and runs the handler inside its
 * {@link TenantContext}. A tenant the router refuses (not found, not ACTIVE, database away, over
 * its tier's request rate when the app sets one) fails here with its TenantAccessError, before
 * the handler runs.
 *
 * The lease is released once the response has finished or closed (client abort included) and
 * the handler has settled, whichever is later: a handler still querying after its client went
 * away keeps its DataSource from being evicted under it.
 */
@Injectable()
export class TenantContextInterceptor implements NestInterceptor {
  constructor(
    private readonly router: TenantRouter,
    @Inject(TENANT_REQUEST_RATE) private readonly rate: TenantRequestRate | null,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context
      .switchToHttp()
      .getRequest<TenantIdentifiedRequest & { [TENANT_REQUEST_CONTEXT]?: TenantRequestContext }>();
    const res = context.switchToHttp().getResponse<Response>();
    const identity = req[TENANT_IDENTITY];
    if (!identity) {
      throw new Error('TenantContextInterceptor runs only after TenantAuthGuard: use @TenantScoped()');
    }
    const lifecycle = new LeaseLifecycle(res);
    // The lease is handed to the lifecycle as soon as it arrives, subscribed or not: Nest
    // unsubscribes from a stream (SSE) whose client goes away, and a lease arriving after that
    // must still be released.
    return defer(() => from(this.admit(identity.tenantId).then((lease) => lifecycle.hold(lease)))).pipe(
      mergeMap((lease) => {
        if (lifecycle.isResponseOver()) {
          throw new HttpException(problem(499, 'The client closed the request.'), 499);
        }
        const tenant = tenantRequestContext(lease, identity.principal);
        req[TENANT_REQUEST_CONTEXT] = tenant;
        // next.handle() binds the async context it is called in, so the handler runs inside it.
        return TenantContext.run(tenant, () => next.handle()).pipe(
          // A rotated password: the router refetches the secret and rebuilds the DataSource; the
          // handler is not re-run (it may have written), the caller retries after Retry-After.
          // A write refused by the tenant's old database (it moved): 503, and looked up again.
          catchError((error: unknown) =>
            isAuthenticationFailure(error)
              ? from(lease.reportAuthenticationFailure()).pipe(
                  mergeMap(() => throwError(() => credentialsRotated(identity.tenantId, error))),
                )
              : isWriteRefusedAsMoved(error)
                ? throwError(() => this.router.reportWriteRefused(identity.tenantId, error))
                : throwError(() => error),
          ),
        );
      }),
      // After the handler, after a refusal, and after an unsubscribe while acquire is pending.
      finalize(() => lifecycle.settled()),
    );
  }

  /** The request rate first (no lease is held while Redis answers), then a lease. */
  private async admit(tenantId: string): Promise<TenantLease> {
    if (this.rate?.enabled) await this.rate.take(tenantId, await this.router.tierOf(tenantId));
    return this.router.acquire(tenantId);
  }
}

/** Releases a lease exactly once, when the response is over and the handler has settled. */
class LeaseLifecycle {
  private lease: TenantLease | undefined;
  private responseOver: boolean;
  private handlerSettled = false;
  private released = false;

  constructor(res: Response) {
    // A client that went away before this point (during an async guard, say) has fired its
    // 'close' already, and a destroyed response never emits 'finish': look, then listen.
    this.responseOver = res.destroyed === true || res.writableFinished === true;
    const over = () => {
      this.responseOver = true;
      this.releaseIfDone();
    };
    res.once('finish', over);
    res.once('close', over);
  }

  isResponseOver(): boolean {
    return this.responseOver;
  }

  /** Takes the lease (released once the response is over and the handler has settled). */
  hold(lease: TenantLease): TenantLease {
    this.lease = lease;
    this.releaseIfDone();
    return lease;
  }

  settled(): void {
    this.handlerSettled = true;
    this.releaseIfDone();
  }

  private releaseIfDone(): void {
    if (this.released || !this.lease || !this.responseOver || !this.handlerSettled) return;
    this.released = true;
    this.lease.release();
  }
}

/** Answered 503 with Retry-After: the next request runs on the rebuilt DataSource. */
function credentialsRotated(tenantId: string, cause: unknown): TenantAccessError {
  return new TenantAccessError(
    TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE,
    `the database of tenant ${tenantId} refused its credentials; reconnected with the current secret`,
    { tenantId, retryAfterMs: 1_000 },
    { cause },
  );
}
