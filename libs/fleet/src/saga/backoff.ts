/**
 * Exponential backoff with "equal jitter": the n-th delay (n from 1) is drawn from
 * [d/2, d] with d = min(base·2^(n-1), max). Growing, capped, and never synchronised across
 * tenants that failed together.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(baseMs * 2 ** exponent, maxMs);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
