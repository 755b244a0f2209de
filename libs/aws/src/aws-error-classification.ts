import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';

const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'PriorRequestNotComplete',
  'SlowDown',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
}

/** True for throttling, 5xx and network failures: the same call may succeed later. */
export function isRetryableAwsError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as SdkLikeError;
  if (e.$retryable) return true;
  if (e.name && THROTTLING_CODES.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout' || e.name === 'RequestTimeoutException')
    return true;
  return Boolean(e.code && NETWORK_CODES.has(e.code));
}

/**
 * An SDK failure as a {@link ProvisioningError}: AWS_UNAVAILABLE when retrying can help,
 * AWS_REJECTED otherwise, keeping AWS's own error name and message for the operator.
 */
export function toProvisioningError(error: unknown, operation: string): ProvisioningError {
  if (error instanceof ProvisioningError) return error;
  const e = (error ?? {}) as SdkLikeError;
  const what = `${operation} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
  return new ProvisioningError(
    isRetryableAwsError(error) ? ProvisioningErrorCode.AWS_UNAVAILABLE : ProvisioningErrorCode.AWS_REJECTED,
    what,
    { cause: error },
  );
}

/** Runs one SDK call, turning any failure into a classified {@link ProvisioningError}. */
export async function awsCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toProvisioningError(error, operation);
  }
}
