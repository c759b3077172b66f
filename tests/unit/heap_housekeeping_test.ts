/**
 * The minute's full collection: it runs on the clock given, records the heap it
 * leaves, keeps running, stops when told, and is a no-op where nothing can collect.
 */
import assert from "node:assert/strict";
import {
  HEAP_COLLECT_CLEARANCE_MS,
  HEAP_COLLECT_MAX_DEFERRALS,
  heapLiveBytes,
  type HousekeepingClock,
  startHeapHousekeeping,
} from "../../lib/sys/heap_housekeeping.ts";
import { processStatus } from "../../lib/daemon/status.ts";
import { HACORE_V8_FLAGS, v8FlagsArg } from "../../lib/sys/runtime_flags.ts";

const MIB = 1024 * 1024;

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
    anonBytes: () => 20_000_000,
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
    anonBytes: () => null,
  });
  clock.advance(1000);
  clock.advance(1000);
  assert.equal(collections, 0, "a forced collection of a big heap would stop the loop for long");
  used = 12 * 1024 * 1024;
  clock.advance(1000);
  assert.equal(collections, 1);
  stop();
});

Deno.test("heap housekeeping gives back what grew past the start's memory, once per growth", () => {
  const clock = new StepClock();
  const giveBacks: boolean[] = [];
  let anon = 30 * MIB; // the start's own memory: the first mark
  const stop = startHeapHousekeeping(clock, {
    everyMs: 60_000,
    firstMs: 5_000,
    checkEveryMs: 2_500,
    growthBytes: 8 * MIB,
    collect: (giveBack) => {
      giveBacks.push(giveBack);
      anon -= 10 * MIB;
    },
    heapUsed: () => 10 * MIB,
    anonBytes: () => anon,
  });
  anon += 7 * MIB; // under the growth: the first round comes when due, and is plain
  clock.advance(2_500);
  assert.deepEqual(giveBacks, []);
  clock.advance(2_500);
  assert.deepEqual(giveBacks, [false]);
  anon += 11 * MIB; // 27 left, 38 now: all 255 instances took over at once
  clock.advance(2_500);
  assert.deepEqual(giveBacks, [false, true], "growth past the bound was not given back at once");
  // It left 28: that is the new mark, and the next round is due a minute after it.
  for (let i = 0; i < 23; i++) clock.advance(2_500);
  assert.deepEqual(giveBacks, [false, true]);
  clock.advance(2_500);
  assert.deepEqual(giveBacks, [false, true, false], "the minute's round did not follow");
  stop();
});

Deno.test("heap housekeeping sees this process's own anonymous memory grow", () => {
  const clock = new StepClock();
  const giveBacks: boolean[] = [];
  const stop = startHeapHousekeeping(clock, {
    everyMs: 60_000,
    checkEveryMs: 5_000,
    growthBytes: 8 * MIB,
    collect: (giveBack) => giveBacks.push(giveBack),
    heapUsed: () => MIB,
  });
  const grown = new Uint8Array(24 * MIB).fill(1); // 24 MiB of pages written: resident
  clock.advance(5_000);
  assert.deepEqual(giveBacks, [true], `RssAnon did not show ${grown.length} bytes`);
  stop();
});

/** A {@link StepClock} that can also fire its timers one by one, each at its own time, and tells the next. */
class EventClock extends StepClock {
  nextTimerAtMs(): number {
    return Math.min(Infinity, ...this.timers.filter((t) => t.live).map((t) => t.at));
  }
  /** Every `everyMs` from `firstMs`, like a Master's adverts. */
  every(firstMs: number, everyMs: number): void {
    const tick = (at: number) => this.at(at, () => tick(at + everyMs));
    tick(firstMs);
  }
  runUntil(endMs: number): void {
    for (;;) {
      const t = this.timers.filter((x) => x.live && x.at <= endMs).sort((a, b) => a.at - b.at)[0];
      if (t === undefined) break;
      t.live = false;
      this.now = Math.max(this.now, t.at);
      t.fn();
    }
    this.now = endMs;
  }
}

/**
 * When the first round's collection ran (to 5,100 ms), beside a timer every `everyMs` from
 * `firstMs`.
 */
function collectionsBeside(firstMs: number, everyMs: number): number[] {
  const clock = new EventClock();
  clock.every(firstMs, everyMs);
  const at: number[] = [];
  const stop = startHeapHousekeeping(clock, {
    everyMs: 60_000,
    firstMs: 5_000,
    collect: () => at.push(clock.now),
    heapUsed: () => MIB,
    anonBytes: () => null,
  });
  clock.runUntil(5_100);
  stop();
  return at;
}

Deno.test("heap housekeeping collects just after a 10 ms Master's advert, not just before one", () => {
  const at = collectionsBeside(3, 10); // adverts at 3, 13, ... 4993, 5003
  assert.equal(at.length, 1);
  assert.ok(Math.abs(at[0] - 5_003.2) < 1e-9, `collected at ${at[0]}`);
  // The gap it pauses in reaches the next advert.
  assert.ok(5_013 - at[0] >= HEAP_COLLECT_CLEARANCE_MS);
});

Deno.test("heap housekeeping collects anyway when timers never leave it room", () => {
  const at = collectionsBeside(0.5, 1); // a check every millisecond
  assert.equal(at.length, 1);
  // Put off once per timer, up to the bound: a millisecond each.
  const late = at[0] - 5_000;
  assert.ok(
    late > HEAP_COLLECT_MAX_DEFERRALS - 1 && late < HEAP_COLLECT_MAX_DEFERRALS + 1,
    `${late}`,
  );
});

Deno.test("heap housekeeping without a collector arms nothing", () => {
  const clock = new StepClock();
  const stop = startHeapHousekeeping(clock, { collect: null });
  assert.equal(clock.timers.length, 0);
  stop();
});

/**
 * What `code` prints when run as a daemon is (its V8 flags, and `extraFlags`), with
 * `exposedGc` imported from the housekeeping module.
 */
async function evalAsDaemon(code: string, extraFlags: readonly string[] = []): Promise<string> {
  const mod = new URL("../../lib/sys/heap_housekeeping.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      v8FlagsArg([...HACORE_V8_FLAGS, ...extraFlags]),
      `import { exposedGc } from "${mod}";\n${code}`,
    ],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("the runtime flags expose gc: a daemon started with them can collect", async () => {
  assert.equal((await evalAsDaemon("console.log(typeof globalThis.gc)")).trim(), "function");
});

Deno.test("a round's collection gives back the pages a burst of allocation grew the heap by", async () => {
  const out = await evalAsDaemon(`
    const rss = () => Deno.memoryUsage().rss;
    let keep = [];
    for (let r = 0; r < 200; r++) {
      const a = [];
      for (let i = 0; i < 20000; i++) a.push({ i, s: "x" + i, b: [i, i] });
      keep.push(a);
      if (keep.length > 20) keep.shift();
    }
    keep = [];
    const before = rss();
    exposedGc()(true);
    console.log(JSON.stringify({ before, after: rss() }));`);
  const { before, after } = JSON.parse(out);
  // A plain gc() left this at ~136 MiB of ~190; the last-resort one at ~45.
  assert.ok(before - after > 64 * MIB, `RSS ${before} → ${after}: the pages were kept`);
});

Deno.test("a plain round is a full collection, not a scavenge", async () => {
  const out = await evalAsDaemon("exposedGc()(false);", ["--trace-gc"]);
  // V8 marks the collections `gc()` asks for as "testing".
  const asked = out.split("\n").filter((l) => l.includes("testing"));
  assert.equal(asked.length, 1, asked.join("\n"));
  assert.match(asked[0], /Mark-Compact/);
});
