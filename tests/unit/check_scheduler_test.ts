/**
 * The check scheduler with a fake runner: debouncing through it, start offsets spread
 * over the interval, no overlapping runs, the in-flight cap, replace/remove, a clean
 * stop, and the cost of its own bookkeeping with 2000 checks (on the real clock, with
 * the loop a daemon would give it); then on a manual clock: no timer of its own, the
 * wake-up, timeouts, and the check service's subscribers.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import process from "node:process";
import { ClockDriver, drivenScheduler, httpCheckSpec } from "../fakes/checks.ts";
import { ManualClock, runClock } from "../fakes/daemon.ts";
import { CheckService } from "../../lib/check/service.ts";
import {
  CheckScheduler,
  type CheckStatus,
  MAX_IN_FLIGHT,
  type ScheduledCheck,
  STALL_GRACE_MS,
  WATCH_MIN_LIFE_MS,
  WATCH_STRIKES,
} from "../../lib/check/scheduler.ts";
import type { ConnectionWatcher, WatchEnd, WatchProbe } from "../../lib/check/watch.ts";
import { MinHeap } from "../../lib/check/heap.ts";
import { TIMED_OUT } from "../../lib/check/deadline.ts";
import type { CheckResult, CheckRunner, CheckSpec, CheckTiming } from "../../lib/check/types.ts";

const PASS: CheckResult = { ok: true, detail: "pass", weight: null, durationMs: 0 };
const FAIL: CheckResult = { ok: false, detail: "fail", weight: null, durationMs: 0 };

function fileSpec(path: string): CheckSpec {
  return { kind: "file", path, expect: null };
}

function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return { intervalMs: 20, timeoutMs: 1000, rise: 1, fall: 1, initialUp: true, ...over };
}

function check(id: string, over: Partial<CheckTiming> = {}): ScheduledCheck {
  return { id, spec: fileSpec(`/${id}`), timing: timing(over) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (polling), failing after `ms`. */
async function until(cond: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A runner that answers from a list per check path (the last entry repeats). */
function scripted(
  results: Record<string, CheckResult[]>,
): { runner: CheckRunner; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const runner: CheckRunner = (spec) => {
    const key = spec.kind === "file" ? spec.path : spec.kind;
    const n = calls.get(key) ?? 0;
    calls.set(key, n + 1);
    const list = results[key] ?? [PASS];
    return Promise.resolve(list[Math.min(n, list.length - 1)]);
  };
  return { runner, calls };
}

Deno.test("scheduler: rise/fall applied to the runner's results; onChange only on changes", async () => {
  const { runner } = scripted({ "/a": [PASS, FAIL, FAIL, PASS, PASS, PASS] });
  const changes: CheckStatus[] = [];
  const s = drivenScheduler({ onChange: (st) => changes.push(st), runner, random: () => 0 });
  s.set(check("a", { rise: 2, fall: 2 }));
  await until(() => (s.status("a")?.runs ?? 0) >= 6, 3000, "6 runs");
  await s.stop();
  assert.deepEqual(
    changes.map((c) => [c.up, c.runs, c.failures, c.streak]),
    [[false, 3, 2, 0], [true, 5, 2, 0]],
  );
  assert.equal(changes[0].last?.detail, "fail");
  assert.equal(changes[0].settled, true);
});

Deno.test("scheduler: status before the first result is the initial guess, unsettled", async () => {
  const s = drivenScheduler({
    onChange: () => {},
    runner: () => Promise.resolve(PASS),
    random: () => 0.99,
  });
  s.set(check("up", { intervalMs: 10_000 }));
  s.set(check("down", { intervalMs: 10_000, initialUp: false }));
  assert.deepEqual(s.status("up"), {
    id: "up",
    up: true,
    settled: false,
    last: null,
    weight: null,
    runs: 0,
    failures: 0,
    streak: 0,
  });
  assert.equal(s.status("down")?.up, false);
  assert.deepEqual(s.all().map((st) => st.id), ["up", "down"]);
  assert.equal(s.status("nope"), undefined);
  await s.stop();
});

Deno.test("scheduler: a dynamic weight change is a change; the same weight is not", async () => {
  const w = (weight: number): CheckResult => ({ ...PASS, weight });
  const { runner } = scripted({ "/d": [w(3), w(3), w(5), w(5)] });
  const changes: (number | null)[] = [];
  const s = drivenScheduler({
    onChange: (st) => changes.push(st.weight),
    runner,
    random: () => 0,
  });
  s.set(check("d"));
  await until(() => (s.status("d")?.runs ?? 0) >= 4);
  await s.stop();
  assert.deepEqual(changes, [3, 5]);
});

Deno.test("scheduler: first runs are spread over the interval by the random offset", async () => {
  const n = 10;
  const interval = 300;
  const firstStart = new Map<string, number>();
  const runner: CheckRunner = (spec) => {
    const key = spec.kind === "file" ? spec.path : "";
    if (!firstStart.has(key)) firstStart.set(key, performance.now());
    return Promise.resolve(PASS);
  };
  let i = 0;
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => (i++ % n) / n });
  const t0 = performance.now();
  for (let k = 0; k < n; k++) s.set(check(`c${k}`, { intervalMs: interval }));
  await until(() => firstStart.size === n, 2000, "every first run");
  await s.stop();
  const offsets = Array.from({ length: n }, (_, k) => firstStart.get(`/c${k}`)! - t0);
  for (let k = 0; k < n; k++) {
    const want = (k * interval) / n;
    // Never early (beyond the 5 ms slot rounding); late only by timer jitter, which a
    // loaded machine stretches, hence the loose upper bound.
    assert.ok(
      offsets[k] >= want - 6 && offsets[k] < want + 100,
      `check ${k}: first run at ${offsets[k]} ms, want ~${want}`,
    );
    if (k > 0) assert.ok(offsets[k] > offsets[k - 1], `check ${k} ran before check ${k - 1}`);
  }
  assert.ok(offsets[n - 1] - offsets[0] >= 0.8 * interval, "spread over the interval, not at once");
});

Deno.test("scheduler: a check slower than its interval never overlaps itself; it runs at the next boundary", async () => {
  let running = 0;
  let maxRunning = 0;
  const starts: number[] = [];
  const runner: CheckRunner = async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    starts.push(performance.now());
    await sleep(70);
    running--;
    return PASS;
  };
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  s.set(check("slow", { intervalMs: 30 }));
  await until(() => starts.length >= 5, 3000, "5 runs");
  await s.stop();
  assert.equal(maxRunning, 1);
  for (let k = 1; k < starts.length; k++) {
    const gap = starts[k] - starts[k - 1];
    // 70 ms of work → the third boundary (90 ms) after the start is the first free one
    // (give or take the 3 ms slot and timer jitter).
    assert.ok(gap >= 80 && gap < 200, `gap ${k}: ${gap} ms`);
  }
});

Deno.test(`scheduler: at most ${MAX_IN_FLIGHT} checks in flight; the rest wait their turn`, async () => {
  const total = MAX_IN_FLIGHT + 44;
  let running = 0;
  let maxRunning = 0;
  const ran = new Set<string>();
  let release = () => {};
  let gate = new Promise<void>((r) => release = r);
  const runner: CheckRunner = async (spec) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    ran.add(spec.kind === "file" ? spec.path : "");
    await gate;
    running--;
    return PASS;
  };
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  for (let k = 0; k < total; k++) s.set(check(`c${k}`, { intervalMs: 50 }));
  await until(() => running === MAX_IN_FLIGHT, 2000, "the cap to fill");
  await sleep(100);
  assert.equal(running, MAX_IN_FLIGHT);
  assert.equal(ran.size, MAX_IN_FLIGHT, "the others are queued");
  const firstGate = release;
  gate = new Promise<void>((r) => release = r);
  firstGate();
  await until(() => ran.size === total, 2000, "the queued checks to run");
  assert.equal(maxRunning, MAX_IN_FLIGHT);
  release();
  await s.stop();
});

Deno.test("scheduler: set with an equal check keeps its state; a changed one starts over", async () => {
  const { runner, calls } = scripted({ "/a": [FAIL], "/b": [PASS] });
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  s.set(check("x", { intervalMs: 10 }));
  const a = { id: "x", spec: fileSpec("/a"), timing: timing({ intervalMs: 10 }) };
  s.set(a);
  await until(() => (s.status("x")?.runs ?? 0) >= 2);
  // Equal by value (new objects): same state.
  s.set({ id: "x", spec: { ...fileSpec("/a") }, timing: { ...timing({ intervalMs: 10 }) } });
  assert.ok(s.status("x")!.runs >= 2);
  assert.equal(s.status("x")!.up, false);
  // Different timing: a new check, back to the initial guess.
  s.set({ ...a, timing: timing({ intervalMs: 11 }) });
  assert.deepEqual([s.status("x")!.runs, s.status("x")!.up, s.status("x")!.settled], [
    0,
    true,
    false,
  ]);
  s.set({ id: "x", spec: fileSpec("/b"), timing: timing({ intervalMs: 10 }) });
  await until(() => (s.status("x")?.runs ?? 0) >= 1);
  assert.equal(s.status("x")!.last?.ok, true);
  s.remove("x");
  assert.equal(s.status("x"), undefined);
  const before = calls.get("/b") ?? 0;
  await sleep(50);
  assert.equal(calls.get("/b") ?? 0, before, "a removed check does not run again");
  await s.stop();
});

Deno.test("scheduler: remove aborts a running check and ignores its result", async () => {
  let aborted = false;
  const changes: CheckStatus[] = [];
  const runner: CheckRunner = (_spec, _t, signal) =>
    new Promise((resolve) => {
      signal.addEventListener("abort", () => {
        aborted = true;
        resolve(FAIL);
      });
    });
  const s = drivenScheduler({ onChange: (st) => changes.push(st), runner, random: () => 0 });
  s.set(check("r"));
  await sleep(20);
  s.remove("r");
  await s.stop();
  assert.equal(aborted, true);
  assert.deepEqual(changes, []);
});

Deno.test("scheduler: its timer aborts a run at its timeout (TIMED_OUT) and counts the result", async () => {
  let reason: unknown = null;
  let tookMs = 0;
  const runner: CheckRunner = (_spec, _t, signal) => {
    const t0 = performance.now();
    return new Promise((resolve) => {
      signal.addEventListener("abort", () => {
        reason = signal.reason;
        tookMs = performance.now() - t0;
        resolve(FAIL);
      });
    });
  };
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  s.set(check("slow", { timeoutMs: 80, intervalMs: 60_000 }));
  await until(() => (s.status("slow")?.runs ?? 0) >= 1, 3000, "the timed-out run");
  await s.stop();
  assert.equal(reason, TIMED_OUT);
  assert.ok(tookMs >= 79 && tookMs < 1000, `aborted after ${tookMs} ms`);
  assert.equal(s.all().length, 0);
});

Deno.test("scheduler: a run that ended in time is not aborted when its timeout passes", async () => {
  const signals: AbortSignal[] = [];
  const runner: CheckRunner = (_spec, _t, signal) => {
    signals.push(signal);
    return Promise.resolve(PASS);
  };
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  s.set(check("quick", { timeoutMs: 30, intervalMs: 3_600_000 }));
  await until(() => (s.status("quick")?.runs ?? 0) >= 1);
  await sleep(80);
  assert.equal(signals.length, 1);
  assert.equal(signals[0].aborted, false, "a settled run's expiry is skipped");
  await s.stop();
  assert.equal(signals[0].aborted, false, "stop only aborts runs still going");
});

Deno.test("scheduler: a runner that throws or rejects counts as a failed run", async () => {
  let n = 0;
  const runner: CheckRunner = () => {
    n++;
    if (n === 1) throw new Error("sync boom");
    return Promise.reject(new Error("async boom"));
  };
  const s = drivenScheduler({ onChange: () => {}, runner, random: () => 0 });
  s.set(check("t", { initialUp: false }));
  await until(() => (s.status("t")?.runs ?? 0) >= 2);
  const st = s.status("t")!;
  await s.stop();
  assert.equal(st.failures, st.runs);
  assert.match(st.last!.detail, /^check runner failed: (sync|async) boom$/);
});

Deno.test("scheduler: stop aborts running checks, waits for them and leaves no timer", async () => {
  const signals: AbortSignal[] = [];
  let finished = 0;
  const runner: CheckRunner = (_spec, _t, signal) =>
    new Promise((resolve) => {
      signals.push(signal);
      // A check that only ends when aborted; its timer must be cleared by then.
      const t = setTimeout(() => resolve(PASS), 60_000);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        finished++;
        resolve(FAIL);
      });
    });
  const changes: CheckStatus[] = [];
  const s = drivenScheduler({ onChange: (st) => changes.push(st), runner, random: () => 0 });
  for (let k = 0; k < 20; k++) s.set(check(`s${k}`, { intervalMs: 10 + k }));
  await until(() => signals.length === 20);
  await s.stop();
  assert.equal(finished, 20);
  assert.ok(signals.every((sig) => sig.aborted));
  assert.deepEqual(changes, [], "aborted results are not reported");
  assert.deepEqual(s.all(), []);
  s.set(check("late"));
  await sleep(30);
  assert.equal(signals.length, 20, "nothing runs after stop");
  // The test sanitizers check that no timer or op is left.
});

Deno.test("scheduler: 2000 checks at 100 ms keep their pace (scheduler overhead is small)", async () => {
  const n = 2000;
  const runs = new Map<string, number[]>();
  const runner: CheckRunner = (spec) => {
    const key = spec.kind === "file" ? spec.path : "";
    let list = runs.get(key);
    if (list === undefined) runs.set(key, list = []);
    list.push(performance.now());
    return Promise.resolve(PASS);
  };
  const s = drivenScheduler({ onChange: () => {}, runner });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < n; k++) s.set(check(`c${k}`, { intervalMs: 100 }));
  await sleep(1000);
  await s.stop();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  let fewest = Infinity;
  let total = 0;
  const gaps: number[] = [];
  for (const list of runs.values()) {
    fewest = Math.min(fewest, list.length);
    total += list.length;
    for (let k = 1; k < list.length; k++) gaps.push(list[k] - list[k - 1]);
  }
  gaps.sort((a, b) => a - b);
  const median = gaps[gaps.length >> 1];
  const worstGap = gaps[gaps.length - 1];
  assert.equal(runs.size, n, "every check ran");
  // First run within 100 ms, then every 100 ms: 9 or 10 runs in a second. One less is
  // allowed for a stall of the whole process (GC, a loaded machine), which delays
  // every check alike and is not the scheduler's doing.
  assert.ok(fewest >= 8, `a check ran only ${fewest} times in ${wall.toFixed(0)} ms`);
  assert.ok(median >= 99 && median < 110, `median gap between two runs of a check: ${median} ms`);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `  ${total} runs in ${wall.toFixed(0)} ms, ${cpuMs.toFixed(0)} ms CPU, worst gap ${
      worstGap.toFixed(1)
    } ms`,
  );
});

Deno.test("scheduler: with the real checks, stop leaves no socket, poll, timer or process", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  const accepting = (async () => {
    for await (const c of l) c.close();
  })();
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
  const changes: CheckStatus[] = [];
  const s = drivenScheduler({ onChange: (st) => changes.push(st) });
  const t = timing({ intervalMs: 50, timeoutMs: 2000 });
  s.set({ id: "tcp", spec: { kind: "tcp", target: { host: "127.0.0.1", port: p } }, timing: t });
  s.set({ id: "closed", spec: { kind: "tcp", target: { host: "127.0.0.1", port: 1 } }, timing: t });
  // A UDP check to a port that never answers: always waiting in the shared poll.
  s.set({
    id: "udp",
    spec: {
      kind: "udp",
      target: { host: "127.0.0.1", port: silent.address().port },
      payloadHex: "00",
      expect: null,
    },
    timing: t,
  });
  s.set({
    id: "sleep",
    spec: { kind: "script", command: "/bin/sleep 30", user: null, dynamic: false },
    timing: t,
  });
  if (Deno.uid() === 0) s.set({ id: "ping", spec: { kind: "icmp", host: "::1" }, timing: t });
  await until(
    () => (s.status("tcp")?.runs ?? 0) >= 3 && (s.status("closed")?.runs ?? 0) >= 1,
    3000,
  );
  await sleep(60);
  const t0 = performance.now();
  await s.stop();
  assert.ok(performance.now() - t0 < 2000, "stop does not wait for timeouts");
  l.close();
  await accepting.catch(() => {});
  await new Promise<void>((r) => silent.close(() => r()));
  assert.deepEqual(changes.map((c) => [c.id, c.up]), [["closed", false]]);
});

// ---------------------------------------------------------------------------------
// On the daemon's clock: a manual one here, so every time below is exact.

/** Lets resolved runs and the driver's loop take their turns. */
const flush = () => new Promise<void>((r) => setTimeout(r, 0));

Deno.test("scheduler: on a manual clock it arms nothing, runs when told, and wakes its caller when a run's end moves its deadline earlier", async () => {
  const clock = new ManualClock(1000);
  const startedAt: number[] = [];
  const runner: CheckRunner = () => {
    startedAt.push(clock.nowMs());
    return Promise.resolve(PASS);
  };
  let wakes = 0;
  const s = new CheckScheduler({
    clock,
    onChange: () => {},
    runner,
    random: () => 0.5,
    wake: () => wakes++,
  });
  assert.equal(s.nextDeadlineMs(), null);
  s.set(check("a", { intervalMs: 100, timeoutMs: 1000 }));
  assert.equal(wakes, 1, "a new check is an earlier deadline");
  assert.equal(s.nextDeadlineMs(), 1050, "half an interval in");
  assert.equal(clock.pendingTimers(), 0, "no timer of its own");
  clock.setNow(1060);
  await flush();
  assert.deepEqual(startedAt, [], "nothing runs until the caller says so");
  s.runDue();
  assert.deepEqual(startedAt, [1060]);
  // What the loop parks on while the run is in flight: its expiry.
  assert.equal(s.nextDeadlineMs(), 2060);
  await flush();
  assert.equal(wakes, 2, "the run ended: the next run (1150) is before its expiry (2060)");
  assert.equal(s.nextDeadlineMs(), 1150, "the schedule keeps its phase");
  assert.equal(s.status("a")?.runs, 1);
  await s.stop();
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("scheduler: a timeout is kept on the manual clock, to the millisecond", async () => {
  const clock = new ManualClock();
  const aborted: [number, unknown][] = [];
  const runner: CheckRunner = (_spec, _t, signal) =>
    new Promise((resolve) => {
      signal.addEventListener("abort", () => {
        aborted.push([clock.nowMs(), signal.reason]);
        resolve(FAIL);
      });
    });
  const changes: CheckStatus[] = [];
  const driver = new ClockDriver(clock);
  const s = new CheckScheduler({
    clock,
    onChange: (st) => changes.push(st),
    runner,
    random: () => 0,
    wake: () => driver.wake(),
  });
  driver.start(s);
  s.set(check("hang", { intervalMs: 60_000, timeoutMs: 750 }));
  await runClock(clock, 5000, flush);
  assert.deepEqual(aborted, [[750, TIMED_OUT]]);
  assert.deepEqual(changes.map((c) => [c.id, c.up, c.runs]), [["hang", false, 1]]);
  await driver.stop();
  await s.stop();
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("service: each subscriber hears only its own verdicts, under its own ids, from one scheduler", async () => {
  const clock = new ManualClock();
  const { runner, calls } = scripted({ "/a": [FAIL], "/b": [PASS] });
  const driver = new ClockDriver(clock);
  const checks = new CheckService({ clock, runner, random: () => 0, wake: () => driver.wake() });
  driver.start(checks);
  const heard: string[] = [];
  const a = checks.subscribe("vrrp_script", (id, st) => heard.push(`a ${id} ${st.id} ${st.up}`));
  const b = checks.subscribe("lvs", (id, st) => heard.push(`b ${id} ${st.id} ${st.up}`));
  assert.throws(() => checks.subscribe("lvs", () => {}), /lvs is subscribed already/);
  // The same id in both: two checks, told apart by their subscriber.
  a.set(new Map([["web", { spec: fileSpec("/a"), timing: timing({ intervalMs: 100 }) }]]));
  b.set(new Map([["web", { spec: fileSpec("/b"), timing: timing({ intervalMs: 100 }) }]]));
  await runClock(clock, 250, flush);
  assert.deepEqual(heard, ["a web web false"]);
  assert.deepEqual([calls.get("/a"), calls.get("/b")], [3, 3], "at 0, 100 and 200");
  assert.equal(a.status("web")?.up, false);
  assert.equal(b.status("web")?.up, true);
  assert.equal(b.status("web")?.id, "web");
  assert.equal(a.status("other"), undefined);
  await driver.stop();
  await checks.stop();
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("service: set keeps equal checks with their state, restarts changed ones and stops missing ones; close stops the rest", async () => {
  const clock = new ManualClock();
  const { runner, calls } = scripted({ "/x": [FAIL], "/y": [PASS], "/z": [PASS] });
  const driver = new ClockDriver(clock);
  const checks = new CheckService({ clock, runner, random: () => 0, wake: () => driver.wake() });
  driver.start(checks);
  const sub = checks.subscribe("lvs", () => {});
  const def = (path: string, intervalMs = 100) => ({
    spec: fileSpec(path),
    timing: timing({ intervalMs }),
  });
  sub.set(new Map([["x", def("/x")], ["y", def("/y")], ["z", def("/z")]]));
  await runClock(clock, 150, flush);
  assert.deepEqual([sub.status("x")?.runs, sub.status("x")?.up], [2, false]);
  // New objects, equal values: x keeps its state; y's interval changed; z is gone.
  sub.set(new Map([["x", def("/x")], ["y", def("/y", 50)]]));
  assert.deepEqual([sub.status("x")?.runs, sub.status("x")?.up], [2, false]);
  assert.deepEqual([sub.status("y")?.runs, sub.status("y")?.settled], [0, false]);
  assert.equal(sub.status("z"), undefined);
  const zRuns = calls.get("/z");
  await runClock(clock, 400, flush);
  assert.equal(calls.get("/z"), zRuns, "a dropped check does not run again");
  sub.close();
  const xRuns = calls.get("/x");
  await runClock(clock, 1000, flush);
  assert.equal(calls.get("/x"), xRuns, "a closed subscription's checks stop");
  assert.equal(sub.status("x"), undefined);
  await driver.stop();
  await checks.stop();
});

Deno.test("scheduler: with retryIntervalMs a failing healthy check is retried that soon until fall, then paced by its interval again", async () => {
  const clock = new ManualClock();
  const startedAt: number[] = [];
  const results = [PASS, FAIL, FAIL, FAIL, PASS];
  const runner: CheckRunner = () => {
    startedAt.push(clock.nowMs());
    return Promise.resolve(results[Math.min(startedAt.length - 1, results.length - 1)]);
  };
  const changes: [number, boolean][] = [];
  const driver = new ClockDriver(clock);
  const s = new CheckScheduler({
    clock,
    onChange: (st) => changes.push([clock.nowMs(), st.up]),
    runner,
    random: () => 0,
    wake: () => driver.wake(),
  });
  driver.start(s);
  s.set(check("rs", { intervalMs: 1000, fall: 2, rise: 1, retryIntervalMs: 300 }));
  await runClock(clock, 3500, flush);
  // 0 pass, 1000 fail (retry at 1300), 1300 fail = down (fall 2), 2300 fail, 3300 pass.
  assert.deepEqual(startedAt, [0, 1000, 1300, 2300, 3300]);
  assert.deepEqual(changes, [[1300, false], [3300, true]]);
  await driver.stop();
  await s.stop();
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("scheduler: warmupMs bounds the first run's random delay (0 = at once), then the interval paces it", async () => {
  const clock = new ManualClock();
  const startedAt: Record<string, number[]> = { a: [], b: [] };
  const runner: CheckRunner = (spec) => {
    startedAt[spec.kind === "file" ? spec.path.slice(1) : ""].push(clock.nowMs());
    return Promise.resolve(PASS);
  };
  const driver = new ClockDriver(clock);
  const s = new CheckScheduler({
    clock,
    onChange: () => {},
    runner,
    random: () => 0.5,
    wake: () => driver.wake(),
  });
  driver.start(s);
  s.set(check("a", { intervalMs: 1000, warmupMs: 0 }));
  s.set(check("b", { intervalMs: 1000, warmupMs: 200 }));
  await runClock(clock, 2500, flush);
  assert.deepEqual(startedAt, { a: [0, 1000, 2000], b: [100, 1100, 2100] });
  await driver.stop();
  await s.stop();
});

Deno.test("scheduler: a loop that comes back stalled lets a run's waiting answer count before timing it out, once", async () => {
  const clock = new ManualClock();
  const ends: { id: string; up: boolean }[] = [];
  const answers = new Map<string, () => void>();
  const runner: CheckRunner = (spec, _t, signal) =>
    new Promise((resolve) => {
      const id = spec.kind === "file" ? spec.path.slice(1) : "";
      answers.set(id, () => resolve(PASS));
      signal.addEventListener("abort", () => resolve(FAIL));
    });
  const s = new CheckScheduler({
    clock,
    onChange: (st) => ends.push({ id: st.id, up: st.up }),
    runner,
    random: () => 0,
    wake: () => {},
  });
  s.set(check("answered", { intervalMs: 60_000, timeoutMs: 200, initialUp: false }));
  s.set(check("silent", { intervalMs: 60_000, timeoutMs: 200 }));
  s.runDue();
  assert.equal(s.nextDeadlineMs(), 200);
  // The loop was stalled for 300 ms; "answered" got its answer meanwhile, unhandled yet.
  clock.setNow(500);
  s.runDue();
  await flush();
  assert.deepEqual(ends, [], "nothing expires on the stalled turn");
  answers.get("answered")!();
  await flush();
  assert.equal(s.nextDeadlineMs(), 500 + STALL_GRACE_MS);
  // Late again on the next turn: the grace was given once, so the silent run times out.
  clock.setNow(500 + STALL_GRACE_MS + 50);
  s.runDue();
  await flush();
  assert.deepEqual(ends, [{ id: "answered", up: true }, { id: "silent", up: false }]);
  await s.stop();
});

/** A {@link ConnectionWatcher} whose connections end when the test says so. */
class FakeWatcher implements ConnectionWatcher {
  readonly watching = new Map<string, Set<(end: WatchEnd) => void>>();
  /** The keepalive timing each target was first watched with. */
  readonly probes = new Map<string, WatchProbe | undefined>();
  watch(
    target: { host: string; port: number },
    onEnd: (end: WatchEnd) => void,
    probe?: WatchProbe,
  ): () => void {
    const key = `${target.host}:${target.port}`;
    let set = this.watching.get(key);
    if (set === undefined) {
      this.watching.set(key, set = new Set());
      this.probes.set(key, probe);
    }
    const listener = (end: WatchEnd) => onEnd(end);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.watching.delete(key);
    };
  }
  /**
   * The connection to `key` ends: "closed" (the server's process died, or it closed it
   * idle) or "silent" (its keepalive probes went unanswered).
   */
  end(key: string, how: WatchEnd = "closed"): void {
    const set = this.watching.get(key);
    this.watching.delete(key);
    for (const l of set ?? []) l(how);
  }
  close(): Promise<void> {
    this.watching.clear();
    return Promise.resolve();
  }
}

const REFUSED: CheckResult = {
  ok: false,
  detail: "connect 10.0.0.5:80: ECONNREFUSED",
  weight: null,
  durationMs: 0,
  definitive: true,
};

/** A manual-clock scheduler over one watched TCP check; `alive` decides its results. */
function watchedScheduler(over: Partial<CheckTiming> = {}) {
  const clock = new ManualClock();
  const watcher = new FakeWatcher();
  const startedAt: number[] = [];
  const byKind: Record<string, number[]> = {};
  const changes: [number, boolean][] = [];
  const state = { alive: true, timeout: false };
  const runner: CheckRunner = (spec) => {
    startedAt.push(clock.nowMs());
    (byKind[spec.kind] ??= []).push(clock.nowMs());
    return Promise.resolve(state.alive ? PASS : state.timeout ? FAIL : REFUSED);
  };
  const driver = new ClockDriver(clock);
  const s = new CheckScheduler({
    clock,
    onChange: (st) => changes.push([clock.nowMs(), st.up]),
    runner,
    random: () => 0,
    wake: () => driver.wake(),
    watcher,
  });
  const watchedTiming = timing({
    intervalMs: 1000,
    fall: 2,
    retryIntervalMs: 1000,
    failFastOnRefused: true,
    watchConnection: true,
    ...over,
  });
  driver.start(s);
  s.set({
    id: "rs",
    spec: { kind: "tcp", target: { host: "10.0.0.5", port: 80 } },
    timing: watchedTiming,
  });
  const stop = async () => {
    await driver.stop();
    await s.stop();
    assert.equal(clock.pendingTimers(), 0);
  };
  return { clock, watcher, startedAt, byKind, changes, state, s, watchedTiming, stop };
}

Deno.test("scheduler: a watched check runs the moment its connection ends; a refusal then takes it down at once", async () => {
  const t = watchedScheduler();
  await runClock(t.clock, 100, flush);
  assert.deepEqual([...t.watcher.watching.keys()], ["10.0.0.5:80"], "watched after a pass");
  await runClock(t.clock, 400, flush);
  t.state.alive = false;
  t.watcher.end("10.0.0.5:80");
  await flush();
  await flush();
  assert.deepEqual(t.startedAt, [0, 400], "run out of turn, at once");
  assert.deepEqual(t.changes, [[400, false]], "down at that run, no retry");
  assert.equal(t.watcher.watching.size, 0, "a failing target is not watched");
  await runClock(t.clock, 1500, flush);
  assert.deepEqual(t.startedAt, [0, 400, 1000], "its schedule stands");
  t.state.alive = true;
  await runClock(t.clock, 2100, flush);
  assert.deepEqual(t.changes, [[400, false], [2000, true]]);
  assert.equal(t.watcher.watching.size, 1, "watched again once it passes");
  await t.stop();
  assert.equal(t.watcher.watching.size, 0, "stop lets every connection go");
});

Deno.test("scheduler: a watched connection gone silent takes the check down at once, without a run; it is watched with the check's pacing", async () => {
  const t = watchedScheduler({ fall: 3, retryIntervalMs: 300 });
  await runClock(t.clock, 100, flush);
  assert.deepEqual(t.watcher.probes.get("10.0.0.5:80"), { idleS: 1, intervalS: 0.3, count: 2 });
  await runClock(t.clock, 400, flush);
  t.state.alive = false;
  t.watcher.end("10.0.0.5:80", "silent");
  await flush();
  assert.deepEqual(t.changes, [[400, false]], "down at the silence, no fall retries");
  assert.deepEqual(t.startedAt, [0], "no run out of turn: a connect would only time out");
  const st = t.s.status("rs")!;
  assert.match(st.last?.detail ?? "", /no answer to 2 TCP keepalive probe/);
  t.state.alive = true;
  await runClock(t.clock, 1100, flush);
  assert.deepEqual(t.changes, [[400, false], [1000, true]], "back at its next passing run");
  assert.equal(t.watcher.watching.size, 1, "and watched again");
  await t.stop();
});

Deno.test("scheduler: a server that closes idle connections by design is no longer watched after a few ends", async () => {
  const t = watchedScheduler();
  await runClock(t.clock, 100, flush);
  for (let i = 0; i < 5; i++) {
    t.watcher.end("10.0.0.5:80");
    await flush();
    await flush();
  }
  // Each end followed by a pass is a strike; at WATCH_STRIKES the watch stops.
  assert.equal(t.startedAt.length, 1 + WATCH_STRIKES);
  assert.equal(t.watcher.watching.size, 0);
  await runClock(t.clock, 3100, flush);
  assert.equal(t.startedAt.length, 1 + WATCH_STRIKES + 3, "its regular runs go on");
  assert.equal(t.watcher.watching.size, 0, "and passing ones do not watch it again");
  assert.deepEqual(t.changes, [], "passing all along");
  await t.stop();
});

Deno.test("scheduler: without watchConnection no connection is held", async () => {
  const t = watchedScheduler({ watchConnection: undefined });
  await runClock(t.clock, 100, flush);
  assert.equal(t.watcher.watching.size, 0);
  await t.stop();
});

Deno.test("scheduler: a watched connection that lived long before it ended is no strike", async () => {
  const t = watchedScheduler();
  await runClock(t.clock, 100, flush);
  for (let i = 1; i <= WATCH_STRIKES + 2; i++) {
    await runClock(t.clock, i * (WATCH_MIN_LIFE_MS + 1000) + 100, flush);
    t.watcher.end("10.0.0.5:80");
    await flush();
    await flush();
    assert.equal(t.watcher.watching.size, 1, `still watched after end ${i}`);
  }
  await t.stop();
});

Deno.test("scheduler: a refusal runs the other watched checks of the same target at once", async () => {
  const t = watchedScheduler();
  await runClock(t.clock, 500, flush);
  // Another check (HTTP) of the same server, on its own schedule: due at 500, 1500, ...
  t.s.set({
    id: "rs-http",
    spec: httpCheckSpec(80, {}, "10.0.0.5"),
    timing: t.watchedTiming,
  });
  await runClock(t.clock, 600, flush);
  assert.deepEqual(t.byKind.http, [500]);
  // Dead without its connections ending (watch not yet told): the TCP check at 1000 sees it.
  t.state.alive = false;
  await runClock(t.clock, 1100, flush);
  assert.deepEqual(t.byKind.tcp, [0, 1000]);
  assert.deepEqual(t.byKind.http, [500, 1000], "run with the refusal, not at 1500");
  assert.deepEqual(t.changes, [[1000, false], [1000, false]]);
  await t.stop();
});

Deno.test("scheduler: a watched check whose out-of-turn run times out is retried delay_before_retry later", async () => {
  const t = watchedScheduler({ intervalMs: 10_000, retryIntervalMs: 300, fall: 2 });
  await runClock(t.clock, 100, flush);
  t.state.alive = false;
  // A timeout is no refusal: not definitive, so fall (2) applies and the retry paces it.
  t.state.timeout = true;
  t.watcher.end("10.0.0.5:80");
  await runClock(t.clock, 1000, flush);
  assert.deepEqual(t.startedAt, [0, 100, 400], "the retry 300 ms after, not at 10,000");
  assert.deepEqual(t.changes, [[400, false]]);
  await t.stop();
});

Deno.test("MinHeap.remove takes any item out and keeps the order of the rest", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let round = 0; round < 50; round++) {
    const heap = new MinHeap<{ k: number }>((x) => x.k);
    const items = Array.from({ length: 40 }, () => ({ k: Math.floor(rand() * 100) }));
    for (const it of items) heap.push(it);
    const gone = items.filter(() => rand() < 0.4);
    for (const it of gone) assert.equal(heap.remove(it), true);
    assert.equal(heap.remove({ k: 1 }), false);
    const out: number[] = [];
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x.k);
    const want = items.filter((it) => !gone.includes(it)).map((it) => it.k).sort((a, b) => a - b);
    assert.deepEqual(out, want);
  }
});
