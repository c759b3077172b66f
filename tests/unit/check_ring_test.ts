/**
 * The TCP check's connects through io_uring (lib/check/ring_connect.ts, lib/sys/uring.ts)
 * against real loopback sockets: a batch is one submission, every answer a check can
 * get comes back as the classic path gives it, and every slot comes back.
 */
import assert from "node:assert/strict";
import { httpCheckSpec, ringOrSkip, withHoldingListener } from "../fakes/checks.ts";
import { withFullBacklog } from "../fakes/full_backlog.ts";
import { checkHttp } from "../../lib/check/http.ts";
import { CheckBudget } from "../../lib/check/deadline.ts";
import { checksIdle } from "../../lib/check/run.ts";
import { checkTcp } from "../../lib/check/tcp.ts";

const never = new AbortController().signal;

function tcp(host: string, port: number) {
  return { kind: "tcp" as const, target: { host, port } };
}

Deno.test("ring: 200 checks started together are one submission, and their closes one more", async () => {
  const ring = ringOrSkip();
  if (ring === null) return;
  await withHoldingListener(async (port) => {
    const before = ring.stats();
    const runs = await Promise.all(
      Array.from({ length: 200 }, () => checkTcp(tcp("127.0.0.1", port), 1000, never)),
    );
    for (const r of runs) assert.equal(r.ok, true, r.detail);
    await checksIdle();
    await new Promise((r) => setTimeout(r, 20));
    const after = ring.stats();
    assert.equal(after.connects - before.connects, 200);
    assert.ok(after.submits - before.submits <= 3, `${after.submits - before.submits} submissions`);
    assert.equal(after.inflight, 0);
    assert.equal(after.free, before.free, "a slot was not given back");
  });
});

Deno.test("ring: refused is a definitive ECONNREFUSED, over IPv4 and IPv6", async () => {
  const ring = ringOrSkip();
  if (ring === null) return;
  for (const host of ["127.0.0.1", "::1"]) {
    const l = Deno.listen({ hostname: host, port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    const accepting = l.accept().then((c) => c.close(), () => {});
    const up = await checkTcp(tcp(host, port), 1000, never);
    assert.equal(up.ok, true, up.detail);
    await accepting;
    l.close();
    const down = await checkTcp(tcp(host, port), 1000, never);
    const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    assert.equal(down.detail, `connect ${where}: ECONNREFUSED`);
    assert.equal(down.definitive, true);
  }
  await checksIdle();
});

Deno.test("ring: a hanging connect ends at its timeout or its abort, and its slot comes back", async () => {
  const ring = ringOrSkip();
  if (ring === null) return;
  const before = ring.stats();
  await withFullBacklog(async ({ port }) => {
    const timedOut = await checkTcp(tcp("127.0.0.1", port), 150, never);
    assert.equal(timedOut.detail, `connect 127.0.0.1:${port}: timed out after 150 ms`);
    assert.ok(timedOut.durationMs >= 150 && timedOut.durationMs < 400, `${timedOut.durationMs}`);
    const budget = new CheckBudget(5000);
    const run = checkTcp(tcp("127.0.0.1", port), 5000, budget.signal);
    await new Promise((r) => setTimeout(r, 30));
    budget.cancel();
    assert.equal((await run).detail, `connect 127.0.0.1:${port}: aborted`);
  });
  await checksIdle();
  // The cancelled connects' answers and closes come at the next sweeps.
  for (let i = 0; i < 50 && ring.stats().free !== before.free; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(ring.stats().inflight, 0);
  assert.equal(ring.stats().free, before.free, "a cancelled connect kept its slot");
});

Deno.test("ring: 100 HTTP checks are a chain each (connect, request, first read), submitted together", async () => {
  const ring = ringOrSkip();
  if (ring === null) return;
  let status = 200;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok\n", { status }),
  );
  try {
    const port = (server.addr as Deno.NetAddr).port;
    const before = ring.stats();
    const runs = await Promise.all(
      Array.from({ length: 100 }, () => checkHttp(httpCheckSpec(port), 2000, never)),
    );
    for (const r of runs) assert.equal(r.ok, true, r.detail);
    const after = ring.stats();
    assert.equal(after.connects - before.connects, 100);
    assert.ok(after.submits - before.submits <= 3, `${after.submits - before.submits} submissions`);
    status = 503;
    const down = await checkHttp(httpCheckSpec(port), 2000, never);
    assert.equal(down.ok, false);
    assert.match(down.detail, /503/);
  } finally {
    await server.shutdown();
  }
  await checksIdle();
  for (let i = 0; i < 50 && ring.stats().inflight !== 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(ring.stats().inflight, 0);
});
