import { assertNever, RolloutError, RolloutErrorCode } from '@silo/core';
import { problem, type ProblemAnswer, type ProblemDetails } from '@silo/http';

/** The API's answer to a {@link RolloutError}; other errors are left to the filter. */
export function rolloutErrorProblem(exception: unknown): ProblemAnswer | undefined {
  return exception instanceof RolloutError ? { body: rolloutProblem(exception) } : undefined;
}

/** Each rollout error code has one HTTP answer; a new code fails to compile until it has one. */
function rolloutProblem(error: RolloutError): ProblemDetails {
  switch (error.code) {
    case RolloutErrorCode.ROLLOUT_NOT_FOUND:
      return problem(404, 'No schema rollout has this id.');
    case RolloutErrorCode.ROLLOUT_TENANT_NOT_FOUND:
      return problem(404, error.message, error.details);
    case RolloutErrorCode.ROLLOUT_ALREADY_OPEN:
    case RolloutErrorCode.ROLLOUT_ILLEGAL_STATE:
    case RolloutErrorCode.ROLLOUT_TENANT_ILLEGAL_STATE:
      return problem(409, error.message, error.details);
    case RolloutErrorCode.INVALID_TARGET_VERSION:
    case RolloutErrorCode.UNKNOWN_EXCLUDED_TENANTS:
      return problem(422, error.message, error.details);
    default:
      return assertNever(error.code, 'rollout error code');
  }
}
