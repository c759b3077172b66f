/**
 * The reactor's contract: readable fds dispatched, timers in order and never early,
 * packets before timers on a late wake, changes during a dispatch or an async wait
 * honoured, blocking waits that still let Deno's event loop turn, holds forcing the
 * async mode, and nothing left pending after close (Deno's sanitizers check).
 */
import assert from "node:assert/strict";
import { BLOCK_CAP_MS, Reactor } from "../../lib/sys/reactor.ts";
import { closeFd, createEventFd, drainEventFd, signalEventFd } from "../../lib/sys/libc.ts";
import { Inbox } from "../../lib/daemon/inbox.ts";

/** Spins the JS thread (a stalled loop) for `ms`. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

function sleepOn(r: Reactor, ms: number): Promise<void> {
  return r.sleepUntil(r.nowMs() + ms, new AbortController().signal);
}

Deno.test("reactor: a readable fd runs its callback, and a closed watch stops it", async () => {
  const r = new Reactor();
  const efd = createEventFd();
  let calls = 0;
  const w = r.watch(efd, () => {
    calls++;
    drainEventFd(efd);
  });
  signalEventFd(efd);
  await sleepOn(r, 20);
  assert.equal(calls, 1);
  w.close();
  signalEventFd(efd);
  await sleepOn(r, 20);
  assert.equal(calls, 1);
  closeFd(efd);
  await r.close();
});

Deno.test("reactor: timers fire in time order, ties in creation order, never early", async () => {
  const r = new Reactor();
  const t0 = r.nowMs();
  const fired: string[] = [];
  const late: number[] = [];
  const add = (name: string, ms: number) =>
    r.at(t0 + ms, () => {
      fired.push(name);
      late.push(r.nowMs() - (t0 + ms));
    });
  add("c", 15);
  add("a", 5);
  add("b1", 10);
  add("b2", 10);
  const cancel = add("x", 7);
  cancel();
  await sleepOn(r, 30);
  assert.deepEqual(fired, ["a", "b1", "b2", "c"]);
  for (const l of late) assert.ok(l >= 0, `a timer fired ${-l} ms early`);
  await r.close();
});

Deno.test("reactor: nextTimerAtMs is the next live timer, the same wake's still to fire first", async () => {
  const r = new Reactor();
  const t0 = r.nowMs();
  assert.equal(r.nextTimerAtMs(), Infinity);
  const seen: number[] = [];
  const done = new Promise<void>((resolve) => r.at(t0 + 40, resolve));
  const cancel = r.at(t0 + 5, () => {});
  r.at(t0 + 10, () => seen.push(r.nextTimerAtMs()));
  r.at(t0 + 10, () => seen.push(r.nextTimerAtMs()));
  assert.equal(r.nextTimerAtMs(), t0 + 5);
  cancel();
  assert.equal(r.nextTimerAtMs(), t0 + 10);
  // Both at +10 fire in one wake: the first sees the second, the second the one at +40.
  await done;
  assert.deepEqual(seen, [t0 + 10, t0 + 40]);
  await r.close();
});

Deno.test("reactor: on a late wake, readable fds are dispatched before due timers", async () => {
  for (const blocking of [false, true]) {
    const r = new Reactor();
    r.blocking = blocking;
    const efd = createEventFd();
    const order: string[] = [];
    const w = r.watch(efd, () => {
      order.push("packet");
      drainEventFd(efd);
    });
    const done = new Promise<void>((resolve) => {
      r.at(r.nowMs() + 5, () => {
        order.push("timer");
        resolve();
      });
    });
    // The loop stalls past the deadline while a packet arrives.
    signalEventFd(efd);
    stall(20);
    await done;
    assert.deepEqual(order, ["packet", "timer"], `blocking=${blocking}`);
    w.close();
    closeFd(efd);
    await r.close();
  }
});

Deno.test("reactor: watches added and closed during a dispatch take effect at once", async () => {
  const r = new Reactor();
  const a = createEventFd();
  const b = createEventFd();
  const seen: string[] = [];
  let wb: { close(): void } | null = null;
  // a's callback closes b's watch: b, readable in the same wake, must not be called.
  const wa = r.watch(a, () => {
    seen.push("a");
    drainEventFd(a);
    wb?.close();
  });
  wb = r.watch(b, () => seen.push("b"));
  signalEventFd(a);
  signalEventFd(b);
  await sleepOn(r, 20);
  assert.deepEqual(seen, ["a"]);
  // A watch added from a callback is polled from the next wait on.
  const c = createEventFd();
  let wc: { close(): void } | null = null;
  const gotC = new Promise<void>((resolve) => {
    const wa2 = r.watch(a, () => {
      drainEventFd(a);
      wa2.close();
      wc = r.watch(c, () => {
        drainEventFd(c);
        resolve();
      });
      signalEventFd(c);
    });
  });
  signalEventFd(a);
  await gotC;
  wa.close();
  wc!.close();
  for (const fd of [a, b, c]) closeFd(fd);
  await r.close();
});

Deno.test("reactor: a nearer deadline added during an async wait wakes it", async () => {
  const r = new Reactor();
  const efd = createEventFd();
  const w = r.watch(efd, () => drainEventFd(efd));
  // The loop is now in an async wait with no timeout; a Deno timer adds a deadline.
  await new Promise((res) => setTimeout(res, 10));
  const t0 = r.nowMs();
  await sleepOn(r, 5);
  const took = r.nowMs() - t0;
  assert.ok(took >= 5 && took < 500, `a 5 ms sleep took ${took} ms`);
  w.close();
  closeFd(efd);
  await r.close();
});

/**
 * Runs `fn` on a blocking reactor that a watch which never fires keeps running, then
 * closes the watch, its eventfd and the reactor.
 */
async function withBlockingReactor(fn: (r: Reactor) => Promise<void>): Promise<void> {
  const r = new Reactor();
  r.blocking = true;
  const efd = createEventFd();
  const w = r.watch(efd, () => drainEventFd(efd));
  try {
    await fn(r);
  } finally {
    w.close();
    closeFd(efd);
    await r.close();
  }
}

/** Runs `fn` with a SIGUSR2 listener that counts; the listener goes after. */
async function withSignalCount(fn: (count: () => number) => Promise<void>): Promise<void> {
  let got = 0;
  const onSig = () => got++;
  Deno.addSignalListener("SIGUSR2", onSig);
  try {
    await fn(() => got);
  } finally {
    Deno.removeSignalListener("SIGUSR2", onSig);
  }
}

Deno.test("reactor: blocking waits still let the event loop turn within the cap", async () => {
  await withBlockingReactor(async (r) => {
    await sleepOn(r, 5);
    const t0 = performance.now();
    // A Deno timer can only fire on an event-loop turn.
    await new Promise((res) => setTimeout(res, 1));
    const took = performance.now() - t0;
    assert.ok(took < BLOCK_CAP_MS + 200, `a Deno timer waited ${took} ms`);
    assert.ok(r.stats().blockingWaits > 0, "no blocking wait was taken");
  });
});

Deno.test("reactor: a signal is handled within the cap while blocking", async () => {
  await withBlockingReactor((r) =>
    withSignalCount(async (got) => {
      await sleepOn(r, 5);
      const t0 = performance.now();
      Deno.kill(Deno.pid, "SIGUSR2");
      while (got() === 0 && performance.now() - t0 < 2000) await sleepOn(r, 1);
      const took = performance.now() - t0;
      assert.ok(got() > 0, "the signal listener never ran");
      assert.ok(took < BLOCK_CAP_MS + 200, `the signal listener waited ${took} ms`);
    })
  );
});

Deno.test("reactor: a signal that lands while this thread runs ends the next blocking wait", async () => {
  // kill(2) of its own process delivers the signal to this thread as the call returns:
  // Deno's handler runs then, no ppoll of this thread is interrupted, and before the
  // reactor polled Deno's epoll fds the listener waited for the cap's async wait.
  await withBlockingReactor((r) =>
    withSignalCount(async (got) => {
      // Deno hears a signal through its listener's op, which registers for wake-ups on
      // its first poll: an event-loop turn, as the daemon has had long before any stop.
      await new Promise((res) => setTimeout(res, 1));
      for (let i = 1; i <= 3; i++) {
        await sleepOn(r, 20);
        const blocked = r.stats().blockingWaits;
        const t0 = performance.now();
        Deno.kill(Deno.pid, "SIGUSR2");
        while (got() < i && performance.now() - t0 < 2000) await sleepOn(r, 50);
        const took = performance.now() - t0;
        assert.equal(got(), i, "the signal listener never ran");
        assert.ok(r.stats().blockingWaits > blocked, "no blocking wait after the signal");
        assert.ok(
          took < BLOCK_CAP_MS / 2,
          `signal ${i}: the listener waited ${took.toFixed(1)} ms`,
        );
      }
    })
  );
});

Deno.test("reactor: the cap's async turn is short; a timer due after it fires from a blocking wait", async () => {
  await withBlockingReactor(async (r) => {
    const before = r.stats();
    // Due well past the cap: the cap's async turn comes first, and returns to blocking.
    await sleepOn(r, BLOCK_CAP_MS + 150);
    const after = r.stats();
    assert.ok(after.asyncWaits - before.asyncWaits >= 1, "no async turn within the cap");
    const blocking = after.blockingWaits - before.blockingWaits;
    assert.ok(blocking >= 2, `${blocking} blocking waits: the async turn lasted to the timer`);
  });
});

Deno.test("reactor: a hold forces async waits, an unsettled idle check too", async () => {
  const r = new Reactor();
  r.blocking = true;
  const release = r.hold();
  for (let i = 0; i < 5; i++) await sleepOn(r, 2);
  assert.equal(r.stats().blockingWaits, 0);
  release();
  release(); // idempotent
  for (let i = 0; i < 5; i++) await sleepOn(r, 2);
  const blocked = r.stats().blockingWaits;
  assert.ok(blocked > 0, "no blocking wait once released");
  let idle = false;
  const off = r.addIdleCheck(() => idle);
  for (let i = 0; i < 5; i++) await sleepOn(r, 2);
  assert.equal(r.stats().blockingWaits, blocked, "blocked while the idle check said busy");
  idle = true;
  for (let i = 0; i < 5; i++) await sleepOn(r, 2);
  assert.ok(r.stats().blockingWaits > blocked);
  off();
  await r.close();
});

Deno.test("reactor: poll and readable resolve on readiness or timeout", async () => {
  const r = new Reactor();
  const efd = createEventFd();
  assert.equal(await r.readable(efd, 10), false);
  setTimeout(() => signalEventFd(efd), 5);
  assert.equal(await r.readable(efd, 2000), true);
  drainEventFd(efd);
  closeFd(efd);
  await r.close();
});

Deno.test("reactor: close resolves pending polls and leaves nothing pending", async () => {
  const r = new Reactor();
  const efd = createEventFd();
  const pending = r.readable(efd);
  r.at(r.nowMs() + 60_000, () => {});
  r.watch(efd, () => {});
  await new Promise((res) => setTimeout(res, 5));
  await r.close();
  assert.equal(await pending, false);
  assert.equal(r.running, false, "the loop still runs after close()");
  closeFd(efd);
});

Deno.test("reactor: the loop ends by itself once nothing is watched or timed", async () => {
  const r = new Reactor();
  const efd = createEventFd();
  const w = r.watch(efd, () => {});
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(r.running, true);
  w.close();
  // No close(): the async ppoll must end by itself (Deno's sanitizers do not see FFI calls).
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(r.running, false, "the loop still runs with nothing to wait for");
  closeFd(efd);
});

Deno.test("reactor: the daemon's inbox parks on it until the deadline or a push, leaving no timer", async () => {
  const r = new Reactor();
  const inbox = new Inbox();
  const t0 = r.nowMs();
  await inbox.park(t0 + 10, r);
  assert.ok(r.nowMs() - t0 >= 10, "woke before its deadline");
  const t1 = r.nowMs();
  const parked = inbox.park(t1 + 60_000, r);
  assert.equal(inbox.idle, true);
  assert.equal(inbox.parkedUntil, t1 + 60_000);
  inbox.push({ kind: "kernel", event: { kind: "resync" } });
  await parked;
  assert.ok(r.nowMs() - t1 < 1000, "a push did not end the park");
  assert.equal(inbox.drain().length, 1);
  // No close(): the 60 s timer must be gone with the park, and the loop with it.
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(r.running, false, "a timer of the park was left pending");
});

Deno.test("reactor: Deno's own I/O (an HTTP server) still progresses while blocking", async () => {
  await withBlockingReactor(async (r) => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      return new Response("ok\n");
    });
    try {
      await sleepOn(r, 5);
      const port = (server.addr as Deno.NetAddr).port;
      // A client in another process: its connect, the accept and the reply all wait on
      // Deno's event loop turning in this one.
      const t0 = performance.now();
      const out = await new Deno.Command("curl", {
        args: ["-s", "-m", "20", `http://127.0.0.1:${port}/`],
        stdout: "piped",
      }).output();
      const took = performance.now() - t0;
      assert.equal(new TextDecoder().decode(out.stdout), "ok\n");
      // Each step waits at most for the next async wait (one per BLOCK_CAP_MS).
      assert.ok(took < 8 * BLOCK_CAP_MS, `the request took ${took.toFixed(0)} ms`);
      assert.ok(r.stats().blockingWaits > 0, "no blocking wait was taken");
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("reactor: settle turns that outlast the cap still end the blocking wait in time", async () => {
  // With the bug this guards against, the blocking wait got a negative timeout (ppoll's
  // "for ever") on the JS thread, and nothing could wake it: run it in a child that a
  // hang cannot take the test runner with.
  const module = JSON.stringify(new URL("../../lib/sys/reactor.ts", import.meta.url).href);
  const script = `
    import { Reactor } from ${module};
    const r = new Reactor();
    r.blocking = true;
    let slow = true;
    r.addIdleCheck(() => {
      if (slow) { slow = false; const end = performance.now() + 400; while (performance.now() < end); }
      return true;
    });
    const t0 = performance.now();
    await r.sleepUntil(t0 + 500, new AbortController().signal);
    console.log(Math.round(performance.now() - t0));
    await r.close();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success, `the child hung or failed: ${new TextDecoder().decode(out.stderr)}`);
  const took = Number(text);
  assert.ok(took >= 500 && took < 500 + BLOCK_CAP_MS + 500, `the timer fired after ${text} ms`);
});
