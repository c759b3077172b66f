/**
 * The minute's full collection: it runs on the clock given, records the heap it
 * leaves, keeps running, stops when told, and is a no-op where nothing can collect.
 */
import assert from "node:assert/strict";
import {
  heapLiveBytes,
  type HousekeepingClock,
  startHeapHousekeeping,
} from "../../lib/sys/heap_housekeeping.ts";
import { processStatus } from "../../lib/daemon/status.ts";

/** A clock whose timers fire only when the test advances it. */
class StepClock implements HousekeepingClock {
  now = 0;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  nowMs(): number {
    return this.now;
  }
  at(atMs: number, fn: () => void): () => void {
    const t = { at: atMs, fn, live: true };
    this.timers.push(t);
    return () => (t.live = false);
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.timers.filter((t) => t.live && t.at <= this.now);
    this.timers = this.timers.filter((t) => !due.includes(t));
    for (const t of due) t.fn();
  }
}

Deno.test("heap housekeeping collects every period and reports the heap it leaves", () => {
  const clock = new StepClock();
  let collections = 0;
  let used = 5_000_000;
  const stop = startHeapHousekeeping(clock, {
    everyMs: 60_000,
    collect: () => {
      collections++;
      used = 4_000_000 + collections;
    },
    heapUsed: () => used,
  });
  // The first soon after the start (its garbage), then one a period.
  clock.advance(4_999);
  assert.equal(collections, 0);
  clock.advance(1);
  assert.equal(collections, 1);
  assert.equal(heapLiveBytes(), 4_000_001);
  clock.advance(59_999);
  assert.equal(collections, 1);
  clock.advance(1);
  assert.equal(collections, 2);
  assert.equal(
    processStatus({ rss: 1, heapUsed: 2, heapTotal: 3, external: 4 }).heapLiveBytes,
    4_000_002,
  );
  clock.advance(60_000);
  assert.equal(collections, 3);
  stop();
  clock.advance(120_000);
  assert.equal(collections, 3, "a stopped housekeeping collected");
});

Deno.test("heap housekeeping leaves a big heap to V8, and collects again once it is small", () => {
  const clock = new StepClock();
  let collections = 0;
  let used = 40 * 1024 * 1024;
  const stop = startHeapHousekeeping(clock, {
    everyMs: 1000,
    maxHeapBytes: 32 * 1024 * 1024,
    collect: () => collections++,
    heapUsed: () => used,
  });
  clock.advance(1000);
  clock.advance(1000);
  assert.equal(collections, 0, "a forced collection of a big heap would stop the loop for long");
  used = 12 * 1024 * 1024;
  clock.advance(1000);
  assert.equal(collections, 1);
  stop();
});

Deno.test("heap housekeeping without a collector arms nothing", () => {
  const clock = new StepClock();
  const stop = startHeapHousekeeping(clock, { collect: null });
  assert.equal(clock.timers.length, 0);
  stop();
});

Deno.test("the runtime flags expose gc: a daemon started with them can collect", async () => {
  const { v8FlagsArg } = await import("../../lib/sys/runtime_flags.ts");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", v8FlagsArg(), "console.log(typeof globalThis.gc)"],
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "function");
});
