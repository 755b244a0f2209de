import { spawnSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time, ms, over one stretch: this process, the private cluster's processes, the whole machine. */
export interface CpuSplit {
  wallMs: number;
  benchMs: number;
  postgresMs: number;
  /** Every core's busy time (not idle, not iowait), from /proc/stat. */
  machineBusyMs: number;
  /** Cores × wall time. */
  machineMs: number;
}

const TICK_MS = 1000 / clockTicks();

/**
 * Measures where the CPU went while `work` ran: this process (process.cpuUsage), the private
 * PostgreSQL (the postmaster's own time, plus that of its children it has reaped, plus its live
 * children's: every backend, whether it lived through the stretch or only part of it), and the
 * machine's busy time. The rest of the machine's busy time is other processes. Linux only; on
 * another system the PostgreSQL and machine figures are 0.
 */
export async function cpuSplitOver<T>(
  postmasterPid: number | undefined,
  work: () => Promise<T>,
): Promise<[T, CpuSplit]> {
  const bench = process.cpuUsage();
  const pg = postgresTicks(postmasterPid);
  const machine = machineTicks();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const benchUsed = process.cpuUsage(bench);
  const machineEnd = machineTicks();
  return [
    result,
    {
      wallMs,
      benchMs: (benchUsed.user + benchUsed.system) / 1000,
      postgresMs: (postgresTicks(postmasterPid) - pg) * TICK_MS,
      machineBusyMs: (machineEnd.busy - machine.busy) * TICK_MS,
      machineMs: (machineEnd.total - machine.total) * TICK_MS,
    },
  ];
}

/** The postmaster's utime + stime + cutime + cstime and its live children's utime + stime, in ticks. */
function postgresTicks(postmasterPid: number | undefined): number {
  if (postmasterPid === undefined) return 0;
  const own = statFields(postmasterPid);
  if (!own) return 0;
  let ticks = own[11] + own[12] + own[13] + own[14];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return ticks;
  }
  for (const pid of pids) {
    const fields = statFields(Number(pid));
    // fields[1]: the parent's pid.
    if (fields && fields[1] === postmasterPid) ticks += fields[11] + fields[12];
  }
  return ticks;
}

/** /proc/<pid>/stat from field 3 (state) on, as numbers: [state, ppid, …, utime at 11, stime 12, cutime 13, cstime 14]. */
function statFields(pid: number): number[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text
      .slice(text.lastIndexOf(')') + 2)
      .split(' ')
      .map((field) => Number(field));
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - cpu[3] - cpu[4], total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

function clockTicks(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

/**
 * CPU ms of one SCRAM-SHA-256 salted-password derivation (PBKDF2-HMAC-SHA-256, `iterations`
 * rounds, the server's default 4,096), the median of `samples` timed in this process.
 */
export function pbkdf2Ms(iterations = 4096, samples = 30): number {
  const salt = randomBytes(16);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = process.cpuUsage();
    pbkdf2Sync(`password-${i}`, salt, iterations, 32, 'sha256');
    const used = process.cpuUsage(started);
    times.push((used.user + used.system) / 1000);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

let pgDerivations = 0;
let derivationCounting = false;

/**
 * SCRAM salted-password derivations pg's own client has made so far (one per SCRAM login: pg
 * derives anew every time), counted by wrapping its `deriveKey` on first call. The router's
 * connections derive through its own key cache instead and are counted there.
 */
export function pgScramDerivations(): number {
  if (!derivationCounting) {
    derivationCounting = true;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const utils = require('pg/lib/crypto/utils') as { deriveKey: (...args: unknown[]) => Promise<unknown> };
    const deriveKey = utils.deriveKey;
    utils.deriveKey = (...args: unknown[]) => {
      pgDerivations++;
      return deriveKey(...args);
    };
  }
  return pgDerivations;
}
