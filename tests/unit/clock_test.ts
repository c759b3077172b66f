/**
 * The reactor as the daemon's clock (it replaced PreciseClock): its contract: never early, an abort ends a long sleep at once, and
 * nothing is left pending (Deno's sanitizers check ops and resources). How late it
 * fires is a benchmark figure (scripts/bench/failover.ts), not asserted here.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { Reactor } from "../../lib/sys/reactor.ts";

Deno.test("reactor clock: a sleep never ends before its deadline", async () => {
  const clock = new Reactor();
  for (const ms of [0.3, 1.7, 5, 12.5]) {
    const at = clock.nowMs() + ms;
    await clock.sleepUntil(at, new AbortController().signal);
    assert.ok(clock.nowMs() >= at, `woke ${at - clock.nowMs()} ms early for a ${ms} ms sleep`);
  }
});

Deno.test("reactor clock: an abort ends a long sleep promptly and leaves nothing pending", async () => {
  const clock = new Reactor();
  const ac = new AbortController();
  const t0 = clock.nowMs();
  const sleeping = clock.sleepUntil(t0 + 60_000, ac.signal);
  setTimeout(() => ac.abort(), 20);
  await sleeping;
  assert.ok(clock.nowMs() - t0 < 1000, `abort took ${clock.nowMs() - t0} ms`);
});

Deno.test("reactor clock: past deadlines and aborted signals return at once", async () => {
  const clock = new Reactor();
  const ac = new AbortController();
  ac.abort();
  await clock.sleepUntil(clock.nowMs() + 60_000, ac.signal);
  await clock.sleepUntil(clock.nowMs() - 5, new AbortController().signal);
});

Deno.test("reactor clock: overlapping sleeps wake independently", async () => {
  const clock = new Reactor();
  const a = new AbortController();
  const t0 = clock.nowMs();
  const long = clock.sleepUntil(t0 + 60_000, a.signal);
  await clock.sleepUntil(t0 + 10, new AbortController().signal);
  assert.ok(clock.nowMs() >= t0 + 10);
  a.abort();
  await long;
});

Deno.test("reactor clock: an aborted sleep's wake-up does not leave the next sleep spinning", async () => {
  const clock = new Reactor();
  const ac = new AbortController();
  const first = clock.sleepUntil(clock.nowMs() + 60_000, ac.signal);
  ac.abort();
  await first;
  // A still-signalled eventfd would make every ppoll return at once: the sleep would
  // still end on time, but by spinning through its whole length.
  const cpu0 = process.cpuUsage();
  const at = clock.nowMs() + 200;
  await clock.sleepUntil(at, new AbortController().signal);
  const cpuMs = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000;
  assert.ok(clock.nowMs() >= at);
  assert.ok(cpuMs < 100, `a 200 ms sleep used ${cpuMs.toFixed(1)} ms of CPU`);
  await clock.close();
});
