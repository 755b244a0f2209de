import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger, type Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { assignRequestId, REQUEST_ID_HEADER } from '@silo/observability';
import type { Request, Response } from 'express';
import { problem, PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem-details';

/** How an app answers one of its own errors: the problem body and any headers (`Retry-After`). */
export interface ProblemAnswer {
  body: ProblemDetails;
  headers?: Record<string, string>;
}

/**
 * Answers the errors it knows (a domain error, say) and returns `undefined` for the rest. It
 * logs what it wants logged with `logger`, the filter's; it must not throw.
 */
export type ProblemMapper = (exception: unknown, logger: Logger) => ProblemAnswer | undefined;

const MAX_DETAIL = 200;

/**
 * Every error leaves the app as application/problem+json: first the app's mappers are asked, in
 * order, then an HttpException keeps its status (its problem body as is, a framework message
 * cut to 200 characters), and anything else is a 500 that is logged but not described.
 * Register it with {@link problemDetailsFilter}.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  /** @param mappers the app's own errors, asked first and in order (default: none). */
  constructor(private readonly mappers: readonly ProblemMapper[] = []) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { body, headers } = this.answer(exception);
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    // Errors raised before the logger middleware ran (body parsing) still echo a request id.
    if (!res.getHeader(REQUEST_ID_HEADER)) assignRequestId(host.switchToHttp().getRequest<Request>(), res);
    if (headers) res.set(headers);
    res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  private answer(exception: unknown): ProblemAnswer {
    for (const map of this.mappers) {
      const answer = map(exception, this.logger);
      if (answer) return answer;
    }
    if (exception instanceof HttpException) return { body: fromHttpException(exception) };
    this.logger.error({ err: exception }, 'unhandled error');
    return { body: problem(500, 'An unexpected error occurred.') };
  }
}

/** The app-wide {@link ProblemDetailsFilter} with the app's mappers, for a module's `providers`. */
export function problemDetailsFilter(...mappers: ProblemMapper[]): Provider {
  return { provide: APP_FILTER, useFactory: () => new ProblemDetailsFilter(mappers) };
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
  // Framework messages may quote the request (a bad path parameter): keep them short.
  return problem(status, text.length <= MAX_DETAIL ? text : `${text.slice(0, MAX_DETAIL - 1)}…`);
}
