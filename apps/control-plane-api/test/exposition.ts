/** The Prometheus text exposition, parsed for tests. */
export interface Exposition {
  /** Sample value by `name{label="value",…}`, labels sorted by name. */
  samples: Record<string, number>;
  /** `# TYPE` by family name. */
  types: Record<string, string>;
}

/** Prometheus text format 0.0.4, strictly enough to catch a malformed line. */
export function parseExposition(text: string): Exposition {
  const samples: Record<string, number> = {};
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types[type[1]] = type[2];
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = [...(sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)]
      .map(([, name, value]) => `${name}="${value}"`)
      .sort();
    const key = labels.length ? `${sample[1]}{${labels.join(',')}}` : sample[1];
    if (key in samples) throw new Error(`duplicate sample ${key}`);
    samples[key] = sample[3] === '+Inf' ? Infinity : Number(sample[3]);
  }
  return { samples, types };
}

/** Every sample of a family (a histogram's _bucket, _sum and _count included). */
export function family(exposition: Exposition, name: string): Record<string, number> {
  return Object.fromEntries(
    Object.entries(exposition.samples).filter(([key]) =>
      new RegExp(`^${name}(_bucket|_sum|_count)?(\\{|$)`).test(key),
    ),
  );
}
