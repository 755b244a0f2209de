/**
 * Failpoints: named places where a test can make the process die as a crash would, to prove
 * that a re-run converges (the crash tests set `SILO_FAILPOINTS=<name>[,<name>…]` on a worker
 * process). At an armed failpoint the process sends itself SIGKILL: no cleanup, no flush, no
 * finally blocks, exactly like the OOM killer or a lost host. Unset (production) it does nothing.
 */
const armed = new Set(
  (process.env.SILO_FAILPOINTS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean),
);

export function failpoint(name: string): void {
  if (armed.size && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
