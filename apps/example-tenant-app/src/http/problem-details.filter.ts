import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { assignRequestId, REQUEST_ID_HEADER } from '@silo/observability';
import {
  logTenantAccessError,
  problem,
  PROBLEM_CONTENT_TYPE,
  TenantAccessError,
  tenantAccessAnswer,
  type ProblemDetails,
} from '@silo/tenant-router';
import type { Request, Response } from 'express';

const MAX_DETAIL = 200;

/** Every error leaves the app as application/problem+json; unexpected ones without internals. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    // Errors raised before the logger middleware ran (body parsing) still echo a request id.
    if (!res.getHeader(REQUEST_ID_HEADER)) assignRequestId(host.switchToHttp().getRequest<Request>(), res);
    let body: ProblemDetails;
    if (exception instanceof TenantAccessError) {
      logTenantAccessError(this.logger, exception);
      const answer = tenantAccessAnswer(exception);
      res.set(answer.headers);
      body = answer.body;
    } else if (exception instanceof HttpException) {
      body = fromHttpException(exception);
    } else {
      this.logger.error({ err: exception }, 'unhandled error');
      body = problem(500, 'An unexpected error occurred.');
    }
    if (res.headersSent) return;
    res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }
}

function fromHttpException(exception: HttpException): ProblemDetails {
  const status = exception.getStatus();
  const response = exception.getResponse();
  if (typeof response === 'object' && response !== null && 'type' in response && 'title' in response) {
    return response as ProblemDetails;
  }
  const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
  const text = Array.isArray(message)
    ? message.map(String).join('; ')
    : typeof message === 'string'
      ? message
      : exception.message;
  // Framework messages may quote the request (a bad path): keep them short.
  return problem(status, text.length <= MAX_DETAIL ? text : `${text.slice(0, MAX_DETAIL - 1)}…`);
}
