/**
 * The TCP check's connect, judged at the next sweep (lib/check/tcp.ts, sweep.ts): a
 * batch of connects costs one poll (or one io_uring submission: ring_connect.ts) and no
 * wake of its own, a connect still under way at its sweep waits on the reactor, and a
 * deadline ends a run waiting for its sweep. Each test runs on both paths.
 */
import assert from "node:assert/strict";
import { bothConnectPaths, withHoldingListener } from "../fakes/checks.ts";
import { withFullBacklog } from "../fakes/full_backlog.ts";
import { CheckBudget } from "../../lib/check/deadline.ts";
import { checksIdle } from "../../lib/check/run.ts";
import { SWEEP_MS } from "../../lib/check/sweep.ts";
import { checkTcp } from "../../lib/check/tcp.ts";
import { defaultReactor } from "../../lib/sys/reactor.ts";

const never = new AbortController().signal;

function tcp(port: number) {
  return { kind: "tcp" as const, target: { host: "127.0.0.1", port } };
}

bothConnectPaths(
  "tcp: connects started together are judged at one sweep, with no wake per connect",
  async () => {
    await withHoldingListener(async (port) => {
      const reactor = defaultReactor();
      const before = reactor.stats().waits;
      const t0 = performance.now();
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => checkTcp(tcp(port), 1000, never)),
      );
      const took = performance.now() - t0;
      for (const r of runs) assert.equal(r.ok, true, r.detail);
      // One wake for the sweep (plus the odd one of the listener's own I/O), not one per
      // connect; and no later than a sweep after they began.
      assert.ok(reactor.stats().waits - before <= 4, `${reactor.stats().waits - before} waits`);
      assert.ok(took < SWEEP_MS + 200, `${took} ms`);
    });
    await checksIdle();
  },
);

bothConnectPaths(
  "tcp: a connect still under way at its sweep passes once the reactor sees it done",
  async () => {
    await withFullBacklog(async ({ port, accept: acceptOne }) => {
      const run = checkTcp(tcp(port), 5000, never);
      await new Promise((r) => setTimeout(r, 3 * SWEEP_MS));
      // Room in the backlog: the connect's next SYN (about a second in) gets through.
      acceptOne();
      const r = await run;
      assert.equal(r.ok, true, r.detail);
      assert.ok(r.durationMs > 3 * SWEEP_MS, `${r.durationMs} ms`);
    });
    await checksIdle();
  },
);

bothConnectPaths(
  "tcp: the scheduler's budget ends a run waiting for its sweep, or on the reactor",
  async () => {
    await withFullBacklog(async ({ port }) => {
      // Expired before its sweep: ended by the deadline's hook, not by the sweep.
      const early = new CheckBudget(1000);
      const first = checkTcp(tcp(port), 1000, early.signal);
      early.expire();
      assert.equal((await first).detail, `connect 127.0.0.1:${port}: timed out after 1000 ms`);
      // Expired after its sweep, while waiting on the reactor.
      const late = new CheckBudget(1000);
      const second = checkTcp(tcp(port), 1000, late.signal);
      await new Promise((r) => setTimeout(r, 3 * SWEEP_MS));
      late.cancel();
      const r = await second;
      assert.equal(r.detail, `connect 127.0.0.1:${port}: aborted`);
      assert.equal(r.definitive, undefined);
    });
    await checksIdle();
  },
);
