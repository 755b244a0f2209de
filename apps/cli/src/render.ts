/** Rows as an aligned text table, headings first. */
export function table(headings: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    headings,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c)))),
  ];
  const widths = headings.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

/** What a command prints: a table for people, or the API's JSON for programs. */
export interface Output {
  json: boolean;
  print(value: unknown, asTable: () => string): void;
  progress(line: string): void;
  /** A line that stays on stderr (a step that changed), after any progress line. */
  event(line: string): void;
}

export function output(format: 'table' | 'json', stream: NodeJS.WriteStream = process.stdout): Output {
  let last = '';
  return {
    json: format === 'json',
    print(value, asTable) {
      stream.write(`${format === 'json' ? JSON.stringify(value, null, 2) : asTable()}\n`);
    },
    // Progress goes to stderr so that stdout stays the result (and JSON stays parsable).
    progress(line) {
      if (line === last) return;
      last = line;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
      else process.stderr.write(`${line}\n`);
    },
    event(line) {
      // The progress line (on a terminal) is cleared, and shown again at the next progress.
      last = '';
      process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}\n` : `${line}\n`);
    },
  };
}
