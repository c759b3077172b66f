/**
 * The soak's analysis: holder episodes at a 10 ms sampling, which chaos actions explain
 * them, and the growth fit that tells a leak from warm-up and noise.
 */
import assert from "node:assert/strict";
import {
  type Cause,
  explain,
  fitGrowth,
  holderEpisodes,
  type HolderEvent,
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
