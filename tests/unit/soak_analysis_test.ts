/**
 * The soak's analysis: holder episodes at a 10 ms sampling, which chaos actions explain
 * them, and the growth fit that tells a leak from warm-up and noise.
 */
import assert from "node:assert/strict";
import {
  type Cause,
  explain,
  fitGrowth,
  heapAfterFullGc,
  holderEpisodes,
  type HolderEvent,
  judgeSteady,
  levels,
  type ResourceSample,
  slope,
  sustainedRise,
} from "../../scripts/bench/lib/soak_analysis.ts";

const NODES = ["a", "b"];
const ev = (node: string, held: boolean, atMs: number): HolderEvent => ({ node, held, atMs });

Deno.test("holderEpisodes: a handover with overlap is one dual episode; a gap is one no-holder episode", () => {
  const events = [
    ev("a", true, 0),
    ev("b", true, 1000),
    ev("a", false, 1055),
    ev("b", false, 2000),
    ev("a", true, 2300),
  ];
  assert.deepEqual(holderEpisodes(events, NODES, 0, 3000), [
    { kind: "dual", startMs: 1000, endMs: 1060, holders: ["a", "b"] },
    { kind: "none", startMs: 2000, endMs: 2300, holders: [] },
  ]);
});

Deno.test("holderEpisodes: an overlap shorter than the sample period between two samples is not seen", () => {
  const events = [ev("a", true, 0), ev("b", true, 1001), ev("a", false, 1004)];
  assert.deepEqual(holderEpisodes(events, NODES, 0, 2000), []);
});

Deno.test("holderEpisodes: an episode still open at the end runs to the end", () => {
  assert.deepEqual(holderEpisodes([ev("a", true, 500)], NODES, 0, 1000), [
    { kind: "none", startMs: 0, endMs: 500, holders: [] },
  ]);
});

Deno.test("explain: a cause explains what overlaps its window plus the settle margin, nothing later", () => {
  const kill: Cause = { kind: "kill", node: "a", startMs: 1000, endMs: 3000, detail: "" };
  const e = (startMs: number) => ({
    kind: "dual" as const,
    startMs,
    endMs: startMs + 100,
    holders: [],
  });
  assert.equal(explain(e(500), [kill], 480).length, 0, "before it");
  assert.equal(explain(e(950), [kill], 480).length, 1, "overlapping its start");
  assert.equal(explain(e(3400), [kill], 480).length, 1, "within the margin");
  assert.equal(explain(e(3500), [kill], 480).length, 0, "past the margin");
});

Deno.test("slope: least squares; flat and single points give 0", () => {
  assert.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2);
  assert.equal(slope([0, 1, 2], [4, 4, 4]), 0);
  assert.equal(slope([5], [1]), 0);
});

Deno.test("sustainedRise: noise that comes and goes is not a rise; a raised floor is", () => {
  assert.ok(sustainedRise([20, 22, 20, 22, 20, 22, 20, 22]) <= 0);
  assert.equal(sustainedRise([20, 20, 21, 22, 23, 24, 25, 25]), 5);
});

Deno.test("fitGrowth: the plateau is left out; a steady leak shows as growth over the span", () => {
  const samples = Array.from({ length: 61 }, (_, i) => ({
    atMs: i * 1000,
    // Warm-up: +10 MiB in the first 10 s, then one fd and 100 KiB a second.
    rssKiB: 50_000 + Math.min(i, 10) * 1024 + Math.max(0, i - 10) * 100,
    fds: 20 + Math.max(0, i - 10),
    threads: 9,
  }));
  const g = fitGrowth(samples, 10_000);
  assert.equal(g.samples, 51);
  assert.equal(g.spanS, 50);
  assert.ok(Math.abs(g.fdsPerMin - 60) < 1e-9, String(g.fdsPerMin));
  assert.ok(Math.abs(g.fdGrowth - 50) < 1e-9);
  assert.ok(Math.abs(g.rssGrowthKiB - 5000) < 1e-6);
  assert.equal(g.threadGrowth, 0);
  assert.ok(g.fdRise > 20);
});

/**
 * 20 minutes of a healthy process sampled every 2 s: RSS and heap warm up over the
 * first 4 minutes, then the heap saws between 8 and 12 MiB (a collection every 30 s),
 * an fd and a thread blip now and then, RSS jitters by 64 KiB.
 */
function healthy(n = 600): ResourceSample[] {
  return Array.from({ length: n }, (_, i) => {
    const warm = Math.min(i, 120) / 120;
    return {
      atMs: 1_000_000 + i * 2000,
      rssKiB: 40_000 + warm * 20_000 + (i % 7) * 9,
      heapUsedKiB: 4096 * warm + 8192 + (i % 15) * 273,
      // A full collection every 30 s leaves the live heap.
      heapLiveKiB: i % 15 === 0 ? 4096 * warm + 8192 : null,
      heapTotalKiB: 16_384,
      externalKiB: 2048,
      fds: 30 + (i % 50 === 0 ? 1 : 0),
      threads: 9 + (i % 97 === 0 ? 1 : 0),
    };
  });
}

const BOUNDS = { rssKiB: 4096, heapLiveKiB: 2048, fds: 3, threads: 2 };

Deno.test("levels: the floor of each window, stamped at its middle; missing readings skipped", () => {
  const s = (atMs: number, rssKiB: number, heapUsedKiB: number | null): ResourceSample => ({
    atMs,
    rssKiB,
    fds: 1,
    threads: 1,
    heapUsedKiB,
  });
  const samples = [s(0, 5, 9), s(30_000, 3, null), s(61_000, 7, 8), s(119_000, 6, null)];
  assert.deepEqual(levels(samples, "rssKiB", 60_000), [
    { atMs: 30_000, value: 3 },
    { atMs: 90_000, value: 6 },
  ]);
  assert.deepEqual(levels(samples, "heapUsedKiB", 60_000), [
    { atMs: 30_000, value: 9 },
    { atMs: 90_000, value: 8 },
  ]);
});

Deno.test("judgeSteady: warm-up inside the plateau, a sawtooth heap and passing blips are no growth", () => {
  const j = judgeSteady(healthy(), 300_000, BOUNDS);
  assert.equal(j.windows, 15);
  assert.equal(j.spanS, 840);
  for (const f of j.fits) {
    assert.equal(f.grew, false, JSON.stringify(f));
    if (f.bound !== null) assert.ok(Math.abs(f.growth) < 1 && f.excess <= 0, JSON.stringify(f));
  }
  const judged = j.fits.filter((f) => f.bound !== null).map((f) => f.metric);
  assert.deepEqual(judged, ["rssKiB", "heapLiveKiB", "fds", "threads"]);
});

Deno.test("judgeSteady: a creep still under the plateau's warm-up peak is caught by the slope", () => {
  // The live heap overshoots to 16 MiB while warming up, then creeps from 8 MiB by
  // 10 KiB a sample (18 MiB an hour): 4.2 MiB over the fitted 14 minutes, under the peak.
  const samples = healthy().map((x, i) => ({
    ...x,
    heapLiveKiB: i % 15 !== 0 ? null : i < 100 ? 16_384 : 8192 + Math.max(0, i - 150) * 10,
  }));
  const heap = judgeSteady(samples, 300_000, BOUNDS).fits.find((f) => f.metric === "heapLiveKiB")!;
  assert.ok(heap.excess < 0, String(heap.excess));
  assert.ok(Math.abs(heap.perHour - 18_000) < 1, String(heap.perHour));
  assert.ok(heap.growth > 1.5 * BOUNDS.heapLiveKiB);
  assert.ok(heap.grew);
});

Deno.test("judgeSteady: a step that stays is caught by the excess over the plateau's level", () => {
  // Four fds opened at 15 minutes and never closed.
  const samples = healthy().map((x, i) => ({ ...x, fds: x.fds + (i >= 450 ? 4 : 0) }));
  const fds = judgeSteady(samples, 300_000, BOUNDS).fits.find((f) => f.metric === "fds")!;
  assert.equal(fds.excess, 4);
  assert.ok(fds.grew);
  // Three, opened half-way through the fit (the slope's worst case for a step), are what
  // mastership and a second instance open: within the bound.
  const swing = healthy().map((x, i) => ({ ...x, fds: x.fds + (i >= 450 ? 3 : 0) }));
  assert.equal(
    judgeSteady(swing, 300_000, BOUNDS).fits.find((f) => f.metric === "fds")!.grew,
    false,
  );
});

Deno.test("judgeSteady: a metric without a bound, or too short a run, is reported and not judged", () => {
  const leaky = healthy().map((x, i) => ({ ...x, externalKiB: 2048 + i * 100 }));
  const ext = judgeSteady(leaky, 300_000, BOUNDS).fits.find((f) => f.metric === "externalKiB")!;
  assert.equal(ext.bound, null);
  assert.equal(ext.grew, false);
  assert.ok(ext.perHour > 100_000);
  const short = judgeSteady(healthy(40), 60_000, BOUNDS);
  assert.ok(short.fits.every((f) => f.bound === null && !f.grew));
  // No full collection after the plateau: the live heap has nothing to be judged on.
  const noGc = healthy().map((x, i) => ({ ...x, heapLiveKiB: i < 150 ? x.heapLiveKiB : null }));
  const live = judgeSteady(noGc, 300_000, BOUNDS).fits.find((f) => f.metric === "heapLiveKiB")!;
  assert.deepEqual([live.windowsBefore, live.windowsAfter, live.bound, live.grew], [
    5,
    0,
    null,
    false,
  ]);
});

Deno.test("heapAfterFullGc: the smallest heap after a mark-compact, in KiB; scavenges and other lines are not", () => {
  const lines = [
    "[26573:0x561a6aa8e000]    30637 ms: Incremental Mark-Compact (reduce) 11.0 (11.8) -> 10.3 (11.0) MB, pooled: 0.0 MB, 7.98 / 0.00 ms",
    "[26573:0x561a6aa8e000]    99051 ms: Scavenge 11.2 (12.8) -> 10.8 (12.2) MB, pooled: 0.5 MB, 0.21 / 0.00 ms",
    "[26573:0x561a6aa8e000]   267651 ms: Incremental Mark-Compact 5.5 (6.4) -> 10.5 (6.1) MB, pooled: 1.2 MB",
    '{"level":"info","msg":"VI_1: BACKUP -> MASTER"}',
  ];
  assert.equal(heapAfterFullGc(lines), 10.3 * 1024);
  assert.equal(heapAfterFullGc(lines.slice(1, 2)), null);
  assert.equal(heapAfterFullGc([]), null);
});
