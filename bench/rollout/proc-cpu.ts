import { readdirSync, readFileSync } from 'node:fs';

/** /proc counts CPU time in USER_HZ, 100 per second on every Linux. */
const USER_HZ = 100;

/** CPU time so far, ms, of the whole machine and of the processes a contender talks to. */
export interface CpuSnapshot {
  /** Both cores, anything running (user, nice, system, irq, softirq), from /proc/stat. */
  machineBusyMs: number;
  machineIowaitMs: number;
  /** Everything /proc/stat counts, steal included: the denominator of shares. */
  machineTotalMs: number;
  /**
   * Every `postgres` process (postmaster, backends, background processes) plus the postmaster's
   * reaped children: backends that ended (one per tenant connection) are counted there.
   */
  postgresMs: number;
  /** `redis-server` and any fork of it. */
  redisMs: number;
  /** The emulator's process and its reaped children. */
  motoMs: number;
}

/**
 * Reads the machine's and the processes' CPU time from /proc; null where there is none (not
 * Linux). The difference of two snapshots is what ran in between, with the processes that started
 * and ended in between included (through their parent's cutime and cstime).
 */
export function cpuSnapshot(motoPid: number | undefined): CpuSnapshot | null {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const [user, nice, system, idle, iowait, irq, softirq, steal] = stat
    .split('\n', 1)[0]
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const busy = user + nice + system + irq + softirq;

  const processes = new Map<number, ProcessTimes>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const times = processTimes(Number(entry));
    if (times) processes.set(times.pid, times);
  }
  let postgres = 0;
  let redis = 0;
  let moto = 0;
  for (const p of processes.values()) {
    const own = p.utime + p.stime;
    const reaped = p.cutime + p.cstime;
    if (p.comm === 'postgres') {
      // The postmaster (its parent is not postgres) has reaped every backend that ended.
      postgres += own + (processes.get(p.ppid)?.comm === 'postgres' ? 0 : reaped);
    } else if (p.comm.startsWith('redis-server')) {
      redis += own + reaped;
    } else if (p.pid === motoPid) {
      moto += own + reaped;
    }
  }
  const ms = (ticks: number) => (ticks * 1000) / USER_HZ;
  return {
    machineBusyMs: ms(busy),
    machineIowaitMs: ms(iowait),
    machineTotalMs: ms(busy + idle + iowait + steal),
    postgresMs: ms(postgres),
    redisMs: ms(redis),
    motoMs: ms(moto),
  };
}

export function cpuDifference(start: CpuSnapshot, end: CpuSnapshot): CpuSnapshot {
  return {
    machineBusyMs: end.machineBusyMs - start.machineBusyMs,
    machineIowaitMs: end.machineIowaitMs - start.machineIowaitMs,
    machineTotalMs: end.machineTotalMs - start.machineTotalMs,
    postgresMs: end.postgresMs - start.postgresMs,
    redisMs: end.redisMs - start.redisMs,
    motoMs: end.motoMs - start.motoMs,
  };
}

interface ProcessTimes {
  pid: number;
  comm: string;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** /proc/<pid>/stat: `pid (comm) state ppid … utime stime cutime cstime …` (fields 14-17). */
function processTimes(pid: number): ProcessTimes | undefined {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // ended meanwhile
  }
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = line
    .slice(close + 2)
    .split(' ')
    .map((field) => Number(field));
  return {
    pid,
    comm: line.slice(open + 1, close),
    ppid: rest[1],
    utime: rest[11],
    stime: rest[12],
    cutime: rest[13],
    cstime: rest[14],
  };
}
