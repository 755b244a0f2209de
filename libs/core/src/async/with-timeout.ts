/**
 * `promise`'s outcome, or a rejection with `message` after `ms`. The timer never outlives the
 * race, and a late rejection of `promise` is swallowed, so nothing keeps the process alive or
 * surfaces as unhandled.
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message = `no answer within ${ms} ms`,
): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
