/**
 * The pure half of the soak (`scripts/bench/soak.ts`): from the VIP's address events,
 * the chaos actions and the resource samples to holder episodes with their causes and
 * fitted growth slopes. No I/O, so each rule is pinned by a unit test.
 *
 * @example
 * ```ts
 * const eps = holderEpisodes(events, ["node1", "node2", "node3"], t0, t1);
 * const why = explain(eps[0], causes, 500);
 * ```
 *
 * @module
 */

/**
 * A change of who holds the VIP: `node` added (`held` true) or removed it at `atMs`.
 *
 * @example
 * ```ts
 * const e: HolderEvent = { node: "node1", held: true, atMs: 1000 };
 * ```
 */
export interface HolderEvent {
  readonly node: string;
  readonly held: boolean;
  readonly atMs: number;
}

/**
 * A stretch of time with two or more holders (`dual`) or none (`none`).
 *
 * @example
 * ```ts
 * const e: Episode = { kind: "dual", startMs: 10, endMs: 30, holders: ["node1", "node2"] };
 * ```
 */
export interface Episode {
  readonly kind: "dual" | "none";
  readonly startMs: number;
  readonly endMs: number;
  /** Every node that held the VIP at some point of a dual episode. */
  readonly holders: readonly string[];
}

/**
 * Something the soak did that may move the VIP, active over [startMs, endMs].
 *
 * @example
 * ```ts
 * const c: Cause = { kind: "kill", node: "node1", startMs: 1000, endMs: 4000, detail: "kill -9, restart" };
 * ```
 */
export interface Cause {
  readonly kind: string;
  readonly node: string | null;
  readonly startMs: number;
  readonly endMs: number;
  readonly detail: string;
}

/**
 * The dual- and no-holder episodes in [fromMs, toMs], from the holder events in time
 * order, sampled every `sampleMs` (10 ms): an episode shorter than one sample period
 * can fall between two samples, as it would for a poller at that period.
 *
 * @example
 * ```ts
 * holderEpisodes([{ node: "a", held: true, atMs: 0 }], ["a"], 0, 100); // []
 * ```
 */
export function holderEpisodes(
  events: readonly HolderEvent[],
  nodes: readonly string[],
  fromMs: number,
  toMs: number,
  sampleMs = 10,
): Episode[] {
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs);
  const held = new Map(nodes.map((n) => [n, false]));
  let i = 0;
  const out: Episode[] = [];
  let open: { kind: "dual" | "none"; startMs: number; holders: Set<string> } | null = null;
  for (let t = fromMs; t <= toMs; t += sampleMs) {
    for (; i < sorted.length && sorted[i].atMs <= t; i++) held.set(sorted[i].node, sorted[i].held);
    const now = nodes.filter((n) => held.get(n));
    const kind = now.length === 0 ? "none" : now.length >= 2 ? "dual" : null;
    if (open !== null && open.kind !== kind) {
      out.push({ kind: open.kind, startMs: open.startMs, endMs: t, holders: [...open.holders] });
      open = null;
    }
    if (kind !== null) {
      open ??= { kind, startMs: t, holders: new Set() };
      for (const n of now) open.holders.add(n);
    }
  }
  if (open !== null) {
    out.push({ kind: open.kind, startMs: open.startMs, endMs: toMs, holders: [...open.holders] });
  }
  return out;
}

/**
 * The causes whose window, extended by `marginMs` after its end (the protocol's time
 * to settle), overlaps the episode.
 *
 * @example
 * ```ts
 * explain(episode, causes, 460).map((c) => c.kind); // ["kill"]
 * ```
 */
export function explain(episode: Episode, causes: readonly Cause[], marginMs: number): Cause[] {
  return causes.filter((c) => c.startMs <= episode.endMs && c.endMs + marginMs >= episode.startMs);
}

/**
 * Least-squares slope of `ys` over `xs` (units of y per unit of x); 0 with fewer than
 * two distinct xs.
 *
 * @example
 * ```ts
 * slope([0, 1, 2], [1, 3, 5]); // 2
 * ```
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i];
    sy += ys[i];
  }
  const mx = sx / n, my = sy / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * One resource reading of one daemon process.
 *
 * @example
 * ```ts
 * const s: ResourceSample = { atMs: 1000, rssKiB: 60000, fds: 21, threads: 9 };
 * ```
 */
export interface ResourceSample {
  readonly atMs: number;
  readonly rssKiB: number;
  readonly fds: number;
  readonly threads: number;
  /**
   * V8's heap (used, reserved) and the memory JavaScript objects hold outside it, from
   * the daemon's status over the control socket; null (or absent) when it did not
   * answer in time (a daemon mid-restart, or one that predates the process section).
   */
  readonly heapUsedKiB?: number | null;
  readonly heapTotalKiB?: number | null;
  readonly externalKiB?: number | null;
  /**
   * V8's heap right after the last full collection (mark-compact) since the previous
   * sample: the live heap, which heap used is not (garbage promoted to the old space
   * stays counted until a full collection, minutes apart in an idle daemon). From the
   * daemon's `--trace-gc` lines (steady nodes only); null when none ran.
   */
  readonly heapLiveKiB?: number | null;
}

/** A `--trace-gc` line of a full collection: `... Mark-Compact [(reduce)] 11.0 (11.8) -> 10.3 (11.0) MB`. */
const MARK_COMPACT = /Mark-Compact(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/;

/**
 * The heap after the smallest full collection among V8 `--trace-gc` lines, in KiB
 * (V8 prints MB of 2^20 bytes); null when none of them is one.
 *
 * @example
 * ```ts
 * heapAfterFullGc(["[1:0x1] 30637 ms: Mark-Compact (reduce) 11.0 (11.8) -> 10.5 (11.0) MB, ..."]); // 10752
 * ```
 */
export function heapAfterFullGc(lines: readonly string[]): number | null {
  let min: number | null = null;
  for (const l of lines) {
    const m = MARK_COMPACT.exec(l);
    if (m) min = Math.min(min ?? Infinity, Number(m[1]) * 1024);
  }
  return min;
}

/**
 * Fitted growth of one process after its plateau: slopes per minute, and the growth
 * they amount to over the fitted span.
 *
 * @example
 * ```ts
 * const g: Growth = fitGrowth(samples, 12_000);
 * g.fdsPerMin; // 0
 * ```
 */
export interface Growth {
  readonly samples: number;
  readonly spanS: number;
  readonly rssKiBPerMin: number;
  readonly fdsPerMin: number;
  readonly threadsPerMin: number;
  readonly rssGrowthKiB: number;
  readonly fdGrowth: number;
  readonly threadGrowth: number;
  readonly rssMeanKiB: number;
  readonly fdsMax: number;
  readonly threadsMax: number;
  /**
   * Lowest count of the last quarter minus highest of the first (of the fitted
   * samples): positive only for a rise that stayed. fds and threads come and go (a
   * control connection, a worker thread parked for a while), so a slope alone flags
   * noise; a leak raises the floor.
   */
  readonly fdRise: number;
  readonly threadRise: number;
}

/**
 * The floor of the last quarter minus the ceiling of the first; 0 under 4 values.
 *
 * @example
 * ```ts
 * sustainedRise([20, 21, 20, 22, 23, 23, 24, 24]); // 23 - 21 = 2
 * ```
 */
export function sustainedRise(values: readonly number[]): number {
  if (values.length < 4) return 0;
  const q = Math.floor(values.length / 4);
  return Math.min(...values.slice(values.length - q)) - Math.max(...values.slice(0, q));
}

/**
 * Fits the samples taken `plateauMs` or more after the first one (the warm-up: JIT,
 * first GCs, sockets opened at start are not a leak).
 *
 * @example
 * ```ts
 * fitGrowth(samples, 60_000).rssGrowthKiB;
 * ```
 */
export function fitGrowth(samples: readonly ResourceSample[], plateauMs: number): Growth {
  const t0 = samples[0]?.atMs ?? 0;
  const s = samples.filter((x) => x.atMs - t0 >= plateauMs);
  const xs = s.map((x) => (x.atMs - t0) / 60_000);
  const span = s.length >= 2 ? s[s.length - 1].atMs - s[0].atMs : 0;
  const per = (f: (x: ResourceSample) => number) => slope(xs, s.map(f));
  const rss = per((x) => x.rssKiB);
  const fds = per((x) => x.fds);
  const threads = per((x) => x.threads);
  const min = span / 60_000;
  return {
    samples: s.length,
    spanS: span / 1000,
    rssKiBPerMin: rss,
    fdsPerMin: fds,
    threadsPerMin: threads,
    rssGrowthKiB: rss * min,
    fdGrowth: fds * min,
    threadGrowth: threads * min,
    rssMeanKiB: s.length === 0 ? 0 : s.reduce((a, x) => a + x.rssKiB, 0) / s.length,
    fdsMax: Math.max(0, ...s.map((x) => x.fds)),
    threadsMax: Math.max(0, ...s.map((x) => x.threads)),
    fdRise: sustainedRise(s.map((x) => x.fds)),
    threadRise: sustainedRise(s.map((x) => x.threads)),
  };
}

/**
 * What the steady process is judged on (RSS, the live heap after full collections,
 * fds, threads) and what is only reported beside them: heap used, whose floor climbs
 * with uncollected garbage between full collections; heap reserved and external
 * memory, which V8 sizes to its own heuristics.
 */
export const STEADY_METRICS = [
  "rssKiB",
  "heapLiveKiB",
  "fds",
  "threads",
  "heapUsedKiB",
  "heapTotalKiB",
  "externalKiB",
] as const;

/**
 * One metric of {@link ResourceSample} that {@link judgeSteady} fits.
 *
 * @example
 * ```ts
 * const m: SteadyMetric = "heapUsedKiB";
 * ```
 */
export type SteadyMetric = typeof STEADY_METRICS[number];

/**
 * A metric's level over time: the lowest reading of each window of `windowMs` (from
 * the first sample), stamped at the window's middle. The floor, not the mean: a heap
 * is a sawtooth between collections, fds and threads blip with a control connection or
 * a parked worker, and a leak shows as the floor rising. Windows without a reading of
 * the metric are left out.
 *
 * @example
 * ```ts
 * levels([{ atMs: 0, rssKiB: 5, fds: 1, threads: 1 }], "rssKiB", 60_000); // [{ atMs: 30_000, value: 5 }]
 * ```
 */
export function levels(
  samples: readonly ResourceSample[],
  metric: SteadyMetric,
  windowMs: number,
): { atMs: number; value: number }[] {
  const t0 = samples[0]?.atMs ?? 0;
  const floors = new Map<number, number>();
  for (const s of samples) {
    const v = s[metric];
    if (typeof v !== "number") continue;
    const w = Math.floor((s.atMs - t0) / windowMs);
    floors.set(w, Math.min(floors.get(w) ?? Infinity, v));
  }
  return [...floors].sort((a, b) => a[0] - b[0]).map(([w, value]) => ({
    atMs: t0 + (w + 0.5) * windowMs,
    value,
  }));
}

/**
 * One metric of a steady process, fitted after its plateau.
 *
 * @example
 * ```ts
 * const f: LevelFit = judgeSteady(samples, 600_000, { rssKiB: 8192 }).fits[0];
 * f.grew; // false
 * ```
 */
export interface LevelFit {
  readonly metric: SteadyMetric;
  /**
   * Windows with a reading, in the plateau and after it (the live heap has one only
   * where a full collection ran: none after the plateau means it cannot be judged).
   */
  readonly windowsBefore: number;
  readonly windowsAfter: number;
  /** The highest window floor of the plateau, and of the time after it. */
  readonly plateauLevel: number;
  readonly afterLevel: number;
  /** `afterLevel - plateauLevel`: how far the level climbed past the plateau's. */
  readonly excess: number;
  /** Least-squares slope of the window floors after the plateau, per hour. */
  readonly perHour: number;
  /** `perHour` times the fitted span: the growth the slope amounts to. */
  readonly growth: number;
  /** The bound both `excess` and `growth` must stay within; null: reported, not judged. */
  readonly bound: number | null;
  readonly grew: boolean;
}

/**
 * The judgement of "no growth after the plateau" for one process that lived the whole
 * run (`--steady`).
 *
 * @example
 * ```ts
 * const j: SteadyJudgement = judgeSteady(samples, 600_000, { fds: 3 });
 * j.fits.filter((f) => f.grew); // []
 * ```
 */
export interface SteadyJudgement {
  /** From the first window floor after the plateau to the last. */
  readonly spanS: number;
  /** Window floors after the plateau (the points each slope is fitted to). */
  readonly windows: number;
  readonly fits: readonly LevelFit[];
}

/**
 * What a least-squares line fitted to one step of height h amounts to over its span: at
 * most 1.5 h (6 p (1 - p) h for a step at fraction p of the span, largest at the
 * middle). A level that moves once within its bound (a node becoming master opens its
 * VIP guard's socket) must not read as a creep, so the slope's allowance is this times
 * the bound.
 */
export const STEP_FIT = 1.5;

/**
 * The rule: cut the samples into windows of `windowMs` (60 s) from the process's first
 * sample and take each window's floor ({@link levels}); the plateau is the windows that
 * start before `plateauMs`, the rest come after. A metric grew when, after the plateau,
 * either its highest floor exceeds the plateau's highest by more than its bound (a rise
 * that stayed), or the least-squares slope of its floors, times their span, exceeds
 * {@link STEP_FIT} times the bound (a creep, even one still under a peak the plateau
 * reached while warming up). "No growth" is neither. A metric without a bound, or without two floors on each side, is reported
 * and not judged.
 *
 * @example
 * ```ts
 * judgeSteady(samples, 600_000, { rssKiB: 8192, heapUsedKiB: 4096, fds: 3, threads: 2 });
 * ```
 */
export function judgeSteady(
  samples: readonly ResourceSample[],
  plateauMs: number,
  bounds: Readonly<Partial<Record<SteadyMetric, number>>>,
  windowMs = 60_000,
): SteadyJudgement {
  const t0 = samples[0]?.atMs ?? 0;
  // A window belongs to the plateau when it starts inside it.
  const inPlateau = (atMs: number) => atMs - windowMs / 2 - t0 < plateauMs;
  let spanS = 0, windows = 0;
  const fits = STEADY_METRICS.map((metric): LevelFit => {
    const all = levels(samples, metric, windowMs);
    const before = all.filter((l) => inPlateau(l.atMs));
    const after = all.filter((l) => !inPlateau(l.atMs));
    const span = after.length >= 2 ? after[after.length - 1].atMs - after[0].atMs : 0;
    if (metric === "rssKiB") {
      spanS = span / 1000;
      windows = after.length;
    }
    const perHour = slope(after.map((l) => (l.atMs - t0) / 3_600_000), after.map((l) => l.value));
    const plateauLevel = Math.max(-Infinity, ...before.map((l) => l.value));
    const afterLevel = Math.max(-Infinity, ...after.map((l) => l.value));
    const judged = bounds[metric] !== undefined && before.length >= 2 && after.length >= 2;
    const bound = judged ? bounds[metric]! : null;
    const excess = before.length > 0 && after.length > 0 ? afterLevel - plateauLevel : 0;
    const growth = perHour * span / 3_600_000;
    return {
      metric,
      windowsBefore: before.length,
      windowsAfter: after.length,
      plateauLevel: Number.isFinite(plateauLevel) ? plateauLevel : 0,
      afterLevel: Number.isFinite(afterLevel) ? afterLevel : 0,
      excess,
      perHour,
      growth,
      bound,
      grew: bound !== null && (excess > bound || growth > STEP_FIT * bound),
    };
  });
  return { spanS, windows, fits };
}
