const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/** Bytes as an SRE reads them: GiB from 1 GiB up, MiB below, at most one decimal. */
export function bytes(value: number): string {
  const [n, unit] = Math.abs(value) >= GIB ? [value / GIB, 'GiB'] : [value / MIB, 'MiB'];
  return `${Number(n.toFixed(1))} ${unit}`;
}

/** What each alarm's metric counts, and how its threshold reads. */
const METRICS: Record<string, { what: string; value: (n: number) => string }> = {
  CPUUtilization: { what: 'CPU', value: (n) => `${Number(n.toFixed(1))}%` },
  FreeStorageSpace: { what: 'free storage', value: bytes },
  FreeableMemory: { what: 'freeable memory', value: bytes },
  DatabaseConnections: { what: 'connections', value: (n) => String(Math.round(n)) },
};

const COMPARISONS: Record<string, string> = {
  GreaterThanThreshold: '>',
  GreaterThanOrEqualToThreshold: '≥',
  LessThanThreshold: '<',
  LessThanOrEqualToThreshold: '≤',
};

/**
 * An alarm's condition in the metric's own units: `< 15 GiB free storage`, `> 80% CPU`,
 * `> 270 connections`. A metric or comparison not known here is shown as CloudWatch has it.
 */
export function alarmCondition(alarm: { metric: string; comparison: string; threshold: number }): string {
  const metric = METRICS[alarm.metric];
  const op = COMPARISONS[alarm.comparison] ?? alarm.comparison;
  return metric
    ? `${op} ${metric.value(alarm.threshold)} ${metric.what}`
    : `${op} ${alarm.threshold} ${alarm.metric}`;
}
