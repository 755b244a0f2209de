import { readFileSync } from 'node:fs';

export interface ThreadTime {
  /** Nanoseconds the calling thread ran on a core. */
  cpuNs: number;
  /** Nanoseconds it was runnable but waited for a core (other threads and processes had them). */
  waitNs: number;
}

/**
 * The calling thread's scheduler times from Linux's /proc/thread-self/schedstat; undefined where
 * there is no such file. Unlike event-loop utilisation, this does not count time the thread was
 * runnable but descheduled, and says how long that was.
 */
export function threadTime(): ThreadTime | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/thread-self/schedstat', 'utf8');
  } catch {
    return undefined;
  }
  const [cpuNs, waitNs] = text.trim().split(/\s+/).map(Number);
  return Number.isFinite(cpuNs) && Number.isFinite(waitNs) ? { cpuNs, waitNs } : undefined;
}
