/**
 * The check scheduler outside a daemon: it only says when it next needs to run, so a
 * test that runs it alone needs the loop a daemon would give it. {@link ClockDriver} is
 * that loop (wait on the clock for the deadline, or until woken, then run what is
 * due), and {@link drivenScheduler} a scheduler with one, on the real clock by default.
 *
 * @example
 * ```ts
 * const s = drivenScheduler({ onChange: (st) => seen.push(st), runner, random: () => 0 });
 * s.set(check);
 * await s.stop(); // the loop ends, then the scheduler stops
 * ```
 *
 * @module
 */

import { ringConnects, useRingConnects } from "../../lib/check/ring_connect.ts";
import { CheckScheduler, type CheckSchedulerOptions } from "../../lib/check/scheduler.ts";
import type { HttpCheck } from "../../lib/check/types.ts";
import { type Clock, systemClock } from "../../lib/daemon/ports.ts";

/** What a {@link ClockDriver} drives: a scheduler, or the check service. */
export interface Driven {
  nextDeadlineMs(): number | null;
  runDue(): void;
}

/**
 * The daemon loop's part for a {@link Driven} alone: one sleep on the clock at a
 * time, cut short by {@link ClockDriver.wake}.
 *
 * @example
 * ```ts
 * const driver = new ClockDriver(clock);
 * const s = new CheckScheduler({ clock, onChange, wake: () => driver.wake() });
 * driver.start(s);
 * ```
 */
export class ClockDriver {
  readonly #clock: Clock;
  #done: Promise<void> = Promise.resolve();
  #stopped = false;
  #poked = false;
  #wake: (() => void) | null = null;

  /**
   * A driver on `clock`, driving nothing until {@link ClockDriver.start}.
   *
   * @example
   * ```ts
   * const driver = new ClockDriver(systemClock);
   * ```
   */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Starts the loop over `target` (at the next microtask).
   *
   * @example
   * ```ts
   * driver.start(scheduler);
   * ```
   */
  start(target: Driven): void {
    this.#done = Promise.resolve().then(() => this.#loop(target));
  }

  /**
   * The target's deadline moved earlier: wait again.
   *
   * @example
   * ```ts
   * driver.wake();
   * ```
   */
  wake(): void {
    this.#poked = true;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /**
   * Ends the loop and waits for it; no sleep is left pending.
   *
   * @example
   * ```ts
   * await driver.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    await this.#done;
  }

  async #loop(target: Driven): Promise<void> {
    while (!this.#stopped) {
      this.#poked = false;
      const at = target.nextDeadlineMs();
      const ac = new AbortController();
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      const waits = [woken];
      if (at !== null) waits.push(this.#clock.sleepUntil(at, ac.signal));
      if (!this.#poked && !this.#stopped) await Promise.race(waits);
      this.#wake = null;
      ac.abort();
      if (this.#stopped) return;
      target.runDue();
    }
  }
}

/**
 * A scheduler and its driver, stopped together.
 *
 * @example
 * ```ts
 * const s: DrivenScheduler = drivenScheduler({ onChange: () => {} });
 * ```
 */
export type DrivenScheduler = Pick<CheckScheduler, "set" | "remove" | "status" | "all" | "stop">;

/**
 * A scheduler on `clock` (the real one by default) with a {@link ClockDriver}; its
 * `stop` ends the driver, then stops the scheduler.
 *
 * @example
 * ```ts
 * const s = drivenScheduler({ onChange: (st) => console.log(st.id, st.up), random: () => 0 });
 * ```
 */
export function drivenScheduler(
  opts: Omit<CheckSchedulerOptions, "clock" | "wake">,
  clock: Clock = systemClock,
): DrivenScheduler {
  const d = new ClockDriver(clock);
  const s = new CheckScheduler({ ...opts, clock, wake: () => d.wake() });
  d.start(s);
  return {
    set: (c) => s.set(c),
    remove: (id) => s.remove(id),
    status: (id) => s.status(id),
    all: () => s.all(),
    stop: async () => {
      await d.stop();
      await s.stop();
    },
  };
}

/**
 * A plain HTTP check of `GET /` on `host:port` expecting a 2xx, with `over` on top.
 *
 * @example
 * ```ts
 * const spec = httpCheckSpec(8080, { path: "/health" });
 * ```
 */
export function httpCheckSpec(
  port: number,
  over: Partial<HttpCheck> = {},
  host = "127.0.0.1",
): HttpCheck {
  return {
    kind: "http",
    tls: false,
    target: { host, port },
    path: "/",
    hostHeader: null,
    sni: null,
    verifyTls: true,
    statusRanges: [[200, 299]],
    bodyRegex: null,
    digest: null,
    ...over,
  };
}

/**
 * The checks' io_uring, or null after saying why a test of it does not run (never in
 * CI, where the kernel must have it).
 *
 * @example
 * ```ts
 * const ring = ringOrSkip();
 * if (ring === null) return;
 * ```
 */
export function ringOrSkip(): ReturnType<typeof ringConnects> {
  const ring = ringConnects();
  if (ring === null) {
    if (Deno.env.get("CI")) throw new Error("io_uring with IORING_OP_SOCKET is needed in CI");
    console.warn("skipped: this kernel has no io_uring with IORING_OP_SOCKET (Linux 5.19)");
  }
  return ring;
}

/**
 * `fn` as two tests, one per way a check's TCP connection is made: through the io_uring
 * (lib/check/ring_connect.ts; in CI the kernel must have it, elsewhere a kernel without
 * it skips that half with a message) and the classic libc path.
 *
 * @example
 * ```ts
 * bothConnectPaths("tcp: refused is definitive", async () => { ... });
 * ```
 */
export function bothConnectPaths(name: string, fn: () => Promise<void>): void {
  for (const ring of [true, false]) {
    Deno.test(`${name} (${ring ? "io_uring" : "classic"})`, async () => {
      useRingConnects(ring);
      try {
        if (ring && ringOrSkip() === null) return;
        await fn();
      } finally {
        useRingConnects(true);
      }
    });
  }
}

/**
 * Runs `fn` with a TCP listener on 127.0.0.1 that accepts every connection and holds
 * it until `fn` is done; then closes them all.
 *
 * @example
 * ```ts
 * await withHoldingListener(async (port) => { await checkTcp(tcpSpec(port), 1000, never); });
 * ```
 */
export async function withHoldingListener(fn: (port: number) => Promise<void>): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const c of l) conns.push(c);
  })();
  try {
    await fn((l.addr as Deno.NetAddr).port);
  } finally {
    l.close();
    await serving.catch(() => {});
    for (const c of conns) c.close();
  }
}
