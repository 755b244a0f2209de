import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { PROBLEM_CONTENT_TYPE } from '@silo/http/problem-details';
import type { ProblemMapper } from '@silo/http/problem-details.filter';
import type { Response } from 'express';
import { TenantAccessError, TenantAccessErrorCode } from '../tenant-router.errors';
import { tenantAccessAnswer } from '../tenant-access.problem';

/**
 * Answers a {@link TenantAccessError} as problem+json (403 unknown or not ACTIVE, 503 with
 * `Retry-After` when the database is away). For apps without a catch-all filter of their own;
 * an app with @silo/http's `ProblemDetailsFilter` gives it {@link tenantAccessProblem} instead,
 * as the example app does.
 */
@Catch(TenantAccessError)
export class TenantAccessExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(TenantAccessExceptionFilter.name);

  catch(error: TenantAccessError, host: ArgumentsHost): void {
    logTenantAccessError(this.logger, error);
    const { status, body, headers } = tenantAccessAnswer(error);
    const res = host.switchToHttp().getResponse<Response>();
    res.status(status).set(headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }
}

/** The same answer and logging as {@link TenantAccessExceptionFilter}, for `ProblemDetailsFilter`. */
export const tenantAccessProblem: ProblemMapper = (exception, logger) => {
  if (!(exception instanceof TenantAccessError)) return undefined;
  logTenantAccessError(logger, exception);
  return tenantAccessAnswer(exception);
};

/** Refusals are expected (debug); an unreachable database is worth a warning with its cause. */
export function logTenantAccessError(logger: Logger, error: TenantAccessError): void {
  const fields = { tenantId: error.details.tenantId, code: error.code, status: error.details.status };
  if (error.code === TenantAccessErrorCode.TENANT_DATABASE_UNAVAILABLE) {
    logger.warn({ ...fields, err: error.cause ?? error.message }, error.message);
  } else {
    logger.debug(fields, error.message);
  }
}
