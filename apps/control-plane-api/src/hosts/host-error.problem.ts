import { assertNever } from '@silo/core';
import { problem, type ProblemAnswer, type ProblemDetails } from '@silo/http';
import { HostError, HostErrorCode } from '@silo/fleet';

/** The API's answer to a {@link HostError}; other errors are left to the filter. */
export function hostErrorProblem(exception: unknown): ProblemAnswer | undefined {
  return exception instanceof HostError ? { body: hostProblem(exception) } : undefined;
}

/** Each host error code has one HTTP answer; a new code fails to compile until it has one. */
function hostProblem(error: HostError): ProblemDetails {
  switch (error.code) {
    case HostErrorCode.HOST_NOT_FOUND:
      return problem(404, 'No host has this id.');
    case HostErrorCode.TENANT_NOT_PLACEABLE:
      return problem(409, error.message, { ...error.detail });
    case HostErrorCode.HOST_HAS_TENANTS:
    case HostErrorCode.HOST_BUSY:
      return problem(409, error.message, { ...error.detail });
    case HostErrorCode.HOST_CHANGE_REFUSED:
      return problem(422, error.message, { ...error.detail });
    default:
      return assertNever(error.code, 'host error code');
  }
}
