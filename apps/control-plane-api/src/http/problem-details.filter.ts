import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { assertNever, TenantError, TenantErrorCode } from '@silo/core';
import { assignRequestId, REQUEST_ID_HEADER } from '@silo/observability';
import type { Request, Response } from 'express';
import { problem, PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem-details';

/** Every error leaves the API as application/problem+json; unexpected ones without internals. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    // Errors raised before the logger middleware ran (body parsing) still echo a request id.
    if (!res.getHeader(REQUEST_ID_HEADER)) assignRequestId(host.switchToHttp().getRequest<Request>(), res);
    const body = this.toProblem(exception);
    if (body.status >= 500 && !(exception instanceof HttpException)) {
      this.logger.error({ err: exception }, 'unhandled error');
    }
    res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  private toProblem(exception: unknown): ProblemDetails {
    if (exception instanceof TenantError) return tenantProblem(exception);
    if (!(exception instanceof HttpException)) return problem(500, 'An unexpected error occurred.');
    const status = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null && 'type' in response && 'title' in response) {
      return response as ProblemDetails;
    }
    const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    if (Array.isArray(message)) return problem(status, truncate(message.map(String).join('; ')));
    // Framework messages may quote the request (a bad path parameter): keep them short.
    return problem(status, truncate(typeof message === 'string' ? message : exception.message));
  }
}

/** Each domain error code has one HTTP answer; a new code fails to compile until it has one. */
function tenantProblem(error: TenantError): ProblemDetails {
  switch (error.code) {
    case TenantErrorCode.INVALID_SLUG:
      return problem(400, error.message, { errors: [{ field: 'slug', message: error.message }] });
    case TenantErrorCode.TENANT_NOT_FOUND:
      return problem(404, 'No tenant has this id or slug.');
    case TenantErrorCode.SLUG_TAKEN:
    case TenantErrorCode.ILLEGAL_TRANSITION:
      return problem(409, error.message);
    case TenantErrorCode.IDEMPOTENCY_KEY_REUSED:
      return problem(422, error.message);
    default:
      return assertNever(error.code, 'tenant error code');
  }
}

const MAX_DETAIL = 200;

function truncate(text: string): string {
  return text.length <= MAX_DETAIL ? text : `${text.slice(0, MAX_DETAIL - 1)}…`;
}
