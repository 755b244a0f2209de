/** Retries `assertion` until it passes or `timeoutMs` runs out, then throws its last error. */
export async function eventually<T>(
  assertion: () => Promise<T>,
  timeoutMs = 15_000,
  pollMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}
