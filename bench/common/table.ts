/**
 * Rows as columns three spaces apart, each as wide as its widest cell; a column is left-aligned
 * when `leftAligned` says so (by default only the first), right-aligned otherwise.
 */
export function alignedTable(
  rows: readonly (readonly string[])[],
  leftAligned: (column: number, columns: number) => boolean = (column) => column === 0,
): string {
  const columns = rows[0].length;
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => (leftAligned(c, columns) ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/** `a ÷ b` as `1.23×`, or `n/a` when it has no finite value. */
export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a';
}
