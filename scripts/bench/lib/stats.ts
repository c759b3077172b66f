/**
 * Order statistics for benchmark samples, and fixed-width number formatting for tables.
 *
 * Percentiles use the nearest-rank definition: p99 of 20 samples is the 20th smallest,
 * the maximum. With few trials that is the honest reading: there is no sample beyond
 * the largest to interpolate towards.
 *
 * @example
 * ```ts
 * const s = summarize([3, 1, 2]);
 * s.median; // 2
 * fmtMs(s.p99); // "3.0"
 * ```
 *
 * @module
 */

/**
 * n, median, p99, min and max of a sample; every field but n is null when it is empty.
 *
 * @example
 * ```ts
 * const s: Summary = summarize([1, 2]);
 * ```
 */
export interface Summary {
  readonly n: number;
  readonly median: number | null;
  readonly p99: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/**
 * The nearest-rank `p`-th percentile (0 < p ≤ 100) of `values`; null when empty.
 *
 * @example
 * ```ts
 * percentile([5, 1, 4, 2, 3], 50); // 3
 * percentile([1, 2, 3], 99); // 3
 * ```
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/**
 * The median: the mean of the two middle values for an even count.
 *
 * @example
 * ```ts
 * median([1, 2, 3, 4]); // 2.5
 * ```
 */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * {@link Summary} of the finite numbers in `values` (nulls are left out).
 *
 * @example
 * ```ts
 * summarize([1, null, 3]).n; // 2
 * ```
 */
export function summarize(values: readonly (number | null)[]): Summary {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return { n: 0, median: null, p99: null, min: null, max: null };
  return {
    n: v.length,
    median: median(v),
    p99: percentile(v, 99),
    min: Math.min(...v),
    max: Math.max(...v),
  };
}

/**
 * A number of milliseconds with `digits` decimals, or "-" for null.
 *
 * @example
 * ```ts
 * fmtMs(3.14159); // "3.1"
 * fmtMs(null); // "-"
 * ```
 */
export function fmtMs(v: number | null, digits = 1): string {
  return v === null ? "-" : v.toFixed(digits);
}

/**
 * Renders rows as a table: the first row is the header, columns are padded to their
 * widest cell, right-aligned except those listed in `leftCols`.
 *
 * @example
 * ```ts
 * table([["a", "n"], ["x", "1"]], [0]); // "a  n\nx  1"
 * ```
 */
export function table(rows: readonly (readonly string[])[], leftCols: readonly number[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => (leftCols.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ").trimEnd()
  ).join("\n");
}
