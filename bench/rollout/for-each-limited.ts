/**
 * Runs `action` on every item, `limit` at a time, in order of the list; each runner stops taking
 * items once `signal` is aborted. Rejects with the first failure after the runners have stopped.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  action: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length && !failure && !signal?.aborted) {
        const index = next++;
        try {
          await action(items[index], index);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure) throw failure.error;
  signal?.throwIfAborted();
}
