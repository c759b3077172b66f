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
