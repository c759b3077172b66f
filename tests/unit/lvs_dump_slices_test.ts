/**
 * The periodic dump of the kernel's IPVS table read in slices across loop turns, so
 * that a big table never holds the daemon loop (the VRRP subsystem runs after the LVS
 * one in every turn): the slice bounds, the operations applied while a dump is under
 * way (folded onto what it read, never twice), a failed slice, on the runtime over the
 * fake kernel table and the manual clock.
 */
import assert from "node:assert/strict";
import type { Config } from "../../lib/config/mod.ts";
import { DUMP_SLICE_MS, DUMP_SLICE_SERVICES, LVS_RETRY_MS } from "../../lib/lvs/runtime.ts";
import type { IpvsTable } from "../../lib/lvs/desired.ts";
import { destKey, serviceKey } from "../../lib/lvs/plan.ts";
import type { IpvsService, IpvsServiceEntry } from "../../lib/sys/netlink/ipvs_types.ts";
import { ManualClock } from "../fakes/daemon.ts";
import { FakeIpvs } from "../fakes/ipvs.ts";
import { configOf } from "../fakes/config.ts";
import { LvsHarness } from "../fakes/lvs_runtime.ts";

/** Virtual server `i`'s address, and its two real servers'. */
const vsAddress = (i: number) => `10.${1 + (i >> 8)}.${i & 255}.1`;
const rsAddress = (i: number, n: 1 | 2) => `172.${15 + n}.${i >> 8}.${i & 255}`;

/** `count` virtual servers of two real servers each (with a TCP check when `checks`), `skip` left out. */
function tableText(count: number, opts: { checks?: boolean; top?: string; skip?: number } = {}) {
  const parts = [opts.top ?? ""];
  for (let i = 0; i < count; i++) {
    if (i === opts.skip) continue;
    parts.push(`[virtual_server.vs${i}]
address = "${vsAddress(i)}"
port = 80
lb_kind = "DR"
delay_loop = 1
retry = 0
warmup = 0
`);
    for (const n of [1, 2] as const) {
      parts.push(`[[virtual_server.vs${i}.real_server]]
address = "${rsAddress(i, n)}"
weight = ${n}
`);
      if (opts.checks) parts.push(`[[virtual_server.vs${i}.real_server.check]]\ntype = "tcp"\n`);
    }
  }
  return parts.join("\n");
}

function tableConfig(count: number, opts: { checks?: boolean; top?: string } = {}): Config {
  return configOf(tableText(count, opts));
}

/** The runtime over the fake kernel, turned one loop turn at a time. */
class Rt extends LvsHarness {
  constructor(config: Config, ipvs: FakeIpvs = new FakeIpvs(), clock = new ManualClock(0)) {
    super(config, { ipvs, clock });
  }

  /** One loop turn of the runtime; the exchanges with the kernel it cost. */
  async turn(): Promise<number> {
    const before = this.ipvs.exchanges;
    await this.rt.advance();
    return this.ipvs.exchanges - before;
  }

  /** Turns at the current time until nothing is due now; the exchanges of each. */
  async turnsNow(): Promise<number[]> {
    const costs: number[] = [];
    while ((this.rt.nextDeadlineMs() ?? Infinity) <= this.clock.nowMs()) {
      costs.push(await this.turn());
      if (costs.length > 10_000) throw new Error("spinning");
    }
    return costs;
  }

  /** A dump is under way: the runtime asks for the next turn now (due since it began). */
  dumping(): boolean {
    return (this.rt.nextDeadlineMs() ?? Infinity) <= this.clock.nowMs();
  }
}

/** A table as comparable lines: one per service (a service held twice shows twice). */
function lines(table: IpvsTable | readonly IpvsServiceEntry[]): string[] {
  return table.map((e) =>
    `${serviceKey(e.service)} ${e.service.scheduler}: ` +
    e.dests.map((d) => `${destKey(d)} w${d.weight}`).sort().join(", ")
  ).sort();
}

function assertKnownIsKernel(t: Rt): void {
  assert.deepEqual(lines(t.rt.knownTable()), lines(t.ipvs.table()));
}

/** The kernel's services in the order a dump reads them. */
function dumpOrder(t: Rt): IpvsService[] {
  return t.ipvs.table().map((e) => e.service);
}

/** The index of the virtual server whose address the service has. */
function vsIndex(s: IpvsService): number {
  const [, a, b] = s.address.split(".").map(Number);
  return ((a - 1) << 8) + b;
}

Deno.test("dump slices: a 1,000-service table's periodic sync is read over many turns, none reading more than one slice", async () => {
  const t = new Rt(tableConfig(1000));
  await t.start();
  assert.equal(t.ipvs.table().length, 1000);
  await t.to(4999);
  const dumps = t.ipvs.dumps;
  const calls = t.ipvs.calls.length;
  t.clock.setNow(5000);
  const costs = await t.turnsNow();
  assert.equal(t.ipvs.dumps, dumps + 1, "one dump");
  assert.ok(costs.length >= Math.ceil(1000 / DUMP_SLICE_SERVICES), `${costs.length} turns`);
  // The service list in the first turn, then at most one slice of destinations a turn.
  assert.ok(costs[0] <= 1 + DUMP_SLICE_SERVICES, `first turn: ${costs[0]} exchanges`);
  for (const c of costs.slice(1)) assert.ok(c <= DUMP_SLICE_SERVICES, `${c} exchanges`);
  assert.equal(costs.reduce((a, c) => a + c, 0), 1001);
  // Done: nothing more is due until the next sync (no spinning on an idle dump).
  assert.ok(t.rt.nextDeadlineMs()! > 5000);
  assert.equal(t.ipvs.calls.length, calls, "nothing to change");
  const s = t.rt.status(5000);
  assert.equal(s.lastDumpMs, 5000);
  assert.equal(s.counters.driftRepairs, 0);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: a weight changed by hand in the service read last is repaired by the periodic dump, as drift", async () => {
  const t = new Rt(tableConfig(200));
  await t.start();
  await t.to(4999);
  const service = dumpOrder(t).at(-1)!;
  const held = t.ipvs.table().find((e) => serviceKey(e.service) === serviceKey(service))!;
  const [first, ...rest] = held.dests;
  t.ipvs.seed({ service, dests: [{ ...first, weight: first.weight + 5 }, ...rest] });
  t.clock.setNow(5000);
  await t.turnsNow();
  assert.equal(t.ipvs.dest(service, first.address, first.port)?.weight, first.weight);
  assert.equal(t.rt.status(5000).counters.driftRepairs, 1);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: a settled table's periodic dump changes nothing and takes the kernel's fresh counts", async () => {
  const t = new Rt(tableConfig(50));
  await t.start();
  await t.to(4999);
  const calls = t.ipvs.calls.length;
  const service = dumpOrder(t)[7];
  t.ipvs.setCounters(service, { address: rsAddress(vsIndex(service), 1), port: 80 }, {
    activeConns: 4,
  });
  t.clock.setNow(5000);
  await t.turnsNow();
  assert.equal(t.ipvs.calls.length, calls, "nothing to change");
  const vs = t.rt.status(5000).virtualServers.find((v) => v.name === `vs${vsIndex(service)}`)!;
  assert.deepEqual(vs.realServers.map((r) => r.activeConns), [4, 0]);
  assert.equal(t.rt.status(5000).counters.driftRepairs, 0);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: a slice stops early once it has taken its time", async () => {
  const clock = new ManualClock(0);
  class SlowIpvs extends FakeIpvs {
    override dumpDests(services: readonly IpvsService[]) {
      clock.setNow(clock.nowMs() + 2); // 2 ms a service, as in a small guest
      return super.dumpDests(services);
    }
  }
  const t = new Rt(tableConfig(40), new SlowIpvs(), clock);
  await t.start();
  await t.to(4999);
  clock.setNow(5000);
  const costs = await t.turnsNow();
  // 2 ms each: the third service's read ends the slice's 5 ms.
  const most = Math.ceil(DUMP_SLICE_MS / 2);
  assert.ok(costs[0] <= 1 + most, `first turn: ${costs[0]} exchanges`);
  for (const c of costs.slice(1)) assert.ok(c <= most, `${c} exchanges`);
  assert.ok(costs.length >= Math.ceil(40 / most), `${costs.length} turns`);
  assert.equal(t.rt.status(clock.nowMs()).counters.driftRepairs, 0);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: verdicts applied mid-dump, on a service read already and on one not read yet, are in the result once; no drift", async () => {
  const t = new Rt(tableConfig(200, { checks: true }));
  await t.start();
  await t.to(4999);
  t.clock.setNow(5000);
  await t.turn();
  await t.turn();
  assert.ok(t.dumping(), "a dump under way");
  const order = dumpOrder(t);
  const read = vsIndex(order[0]);
  const unread = vsIndex(order.at(-1)!);
  t.alive.set(rsAddress(read, 2), false);
  t.alive.set(rsAddress(unread, 1), false);
  await t.checksTo(6000);
  assert.ok(t.dumping(), "still under way");
  const calls = t.ipvs.calls.length;
  await t.turn();
  assert.deepEqual(t.ipvs.calls.slice(calls).map((c) => c.split(" ")[0]), ["delDest", "delDest"]);
  assert.ok(t.dumping(), "the verdicts did not wait for the dump");
  await t.turnsNow();
  assert.equal(t.rt.status(6000).counters.driftRepairs, 0);
  assert.equal(t.rt.status(6000).lastDumpMs, 6000);
  assertKnownIsKernel(t);
  const v = t.ipvs.table();
  assert.equal(v.find((e) => vsIndex(e.service) === read)!.dests.length, 1);
  assert.equal(v.find((e) => vsIndex(e.service) === unread)!.dests.length, 1);
  // The next sync finds nothing to repair either.
  await t.to(12_000);
  assert.equal(t.rt.status(12_000).counters.driftRepairs, 0);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: a service added and one deleted while a dump is read are in its result as the kernel has them", async () => {
  const top = "[lvs]\ndrain_deadline = 1\n";
  const t = new Rt(tableConfig(100, { top }));
  await t.start();
  await t.to(1000);
  const order = dumpOrder(t);
  const last = vsIndex(order.at(-1)!);
  for (const n of [1, 2] as const) {
    t.ipvs.setCounters(order.at(-1)!, { address: rsAddress(last, n), port: 80 }, {
      activeConns: 1,
    });
  }
  // A reload that adds a virtual server and removes the last one read (it drains: it has
  // connections): the new one is added while the fresh dump is read.
  const next = configOf(
    `${tableText(100, { top, skip: last })}\n[virtual_server.added]\naddress = "10.9.9.9"\n` +
      `port = 80\nlb_kind = "DR"\n[[virtual_server.added.real_server]]\naddress = "172.20.0.1"\n`,
  );
  t.rt.reload(next, null);
  const calls = t.ipvs.calls.length;
  await t.turn();
  assert.ok(t.dumping(), "the fresh dump is under way");
  const applied = t.ipvs.calls.slice(calls);
  assert.ok(applied.some((c) => c.startsWith("addService 2 6 10.9.9.9 80")), applied.join("\n"));
  assert.ok(!applied.some((c) => c.startsWith("del")), "removals wait for the fresh counts");
  await t.turnsNow();
  assertKnownIsKernel(t);
  assert.equal(t.ipvs.table().length, 101, "the removed one drains");
  // The drain poll's dump is under way when the drain deadline comes: the service goes
  // before the dump has read it.
  await t.to(1899);
  t.clock.setNow(1900); // the poll every 300 ms from the fresh dump's end at 1000
  await t.turn();
  assert.ok(t.dumping());
  assert.ok(dumpOrder(t).findIndex((s) => vsIndex(s) === last) > DUMP_SLICE_SERVICES);
  t.clock.setNow(2000);
  const before = t.ipvs.calls.length;
  await t.turn();
  assert.deepEqual(t.ipvs.calls.slice(before).map((c) => c.split(" ")[0]), ["delService"]);
  assert.ok(t.dumping(), "the dump goes on");
  await t.turnsNow();
  assert.equal(t.ipvs.table().length, 100);
  assertKnownIsKernel(t);
  assert.equal(t.rt.status(2000).counters.driftRepairs, 0);
  await t.stop();
});

Deno.test("dump slices: a failed slice is counted and retried later, not in a tight loop", async () => {
  const t = new Rt(tableConfig(200));
  await t.start();
  await t.to(4999);
  t.clock.setNow(5000);
  await t.turn();
  await t.turn();
  assert.ok(t.dumping());
  t.ipvs.dumpFailure = "ENOBUFS";
  await t.turn();
  const s = t.rt.status(5000);
  assert.equal(s.counters.dumpsFailed, 1);
  assert.ok(t.lines.some((l) => l.includes("cannot dump the IPVS table: ENOBUFS")));
  assert.equal(t.rt.nextDeadlineMs(), 5000 + LVS_RETRY_MS, "retried a second later");
  t.ipvs.dumpFailure = null;
  const dumps = t.ipvs.dumps;
  await t.to(5000 + LVS_RETRY_MS);
  assert.equal(t.ipvs.dumps, dumps + 1);
  assert.equal(t.rt.status(6000).lastDumpMs, 6000);
  assertKnownIsKernel(t);
  await t.stop();
});

Deno.test("dump slices: while a dump is under way its turn is due already, even for a clock read before asking", async () => {
  const t = new Rt(tableConfig(200));
  await t.start();
  await t.to(4999);
  t.clock.setNow(5000);
  await t.turn();
  // The daemon loop takes its time first, then asks every subsystem: a deadline of the
  // clock's "now" read inside would be later than that time on a real clock.
  t.clock.setNow(5000.5);
  assert.ok(t.rt.nextDeadlineMs()! <= 5000);
  await t.turnsNow();
  assert.ok(t.rt.nextDeadlineMs()! > t.clock.nowMs());
  await t.stop();
});
