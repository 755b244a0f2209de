import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { problem, PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem-details';

/** Every error leaves the API as application/problem+json; unexpected ones without internals. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const body = this.toProblem(exception);
    if (body.status >= 500 && !(exception instanceof HttpException)) {
      this.logger.error({ err: exception }, 'unhandled error');
    }
    res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  private toProblem(exception: unknown): ProblemDetails {
    if (!(exception instanceof HttpException)) return problem(500, 'An unexpected error occurred.');
    const status = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null && 'type' in response && 'title' in response) {
      return response as ProblemDetails;
    }
    const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    if (Array.isArray(message)) return problem(status, message.map(String).join('; '));
    return problem(status, typeof message === 'string' ? message : exception.message);
  }
}
