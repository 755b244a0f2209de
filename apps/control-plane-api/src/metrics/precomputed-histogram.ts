import type { Metric } from 'prom-client';

/** One labelled series of a precomputed histogram. */
export interface HistogramSeries {
  labels: Record<string, string>;
  count: number;
  /** Seconds, summed over every counted observation. */
  sum: number;
  /** Cumulative: `buckets[i]` observations were at most `bounds[i]`. */
  buckets: number[];
}

interface HistogramSample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A histogram whose buckets are aggregated elsewhere (one SQL query) rather than observed in
 * this process. prom-client's Histogram can only observe, so this is a metric of its own in
 * the shape the registry renders: cumulative `_bucket` samples ending at `le="+Inf"`, then
 * `_sum` and `_count`, per label set.
 */
export class PrecomputedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly read: () => Promise<HistogramSeries[] | undefined>,
  ) {}

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramSample[];
  }> {
    const series = (await this.read()) ?? [];
    const values: HistogramSample[] = [];
    for (const s of series) {
      const labels = s.labels;
      this.bounds.forEach((le, i) =>
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le },
          value: s.buckets[i] ?? 0,
        }),
      );
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing is held here between scrapes. */
  reset(): void {}

  /** The registry renders any object of this shape; its typings only name its own classes. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
