/**
 * The VIP reconcile's executor with many VIPs in one subnet: removals go secondaries
 * first, a VIP being released is never added back, and an address the kernel already
 * took with its subnet's primary is no error.
 */
import assert from "node:assert/strict";
import type { Vip } from "../../lib/config/schema.ts";
import type { AddressOp } from "../../lib/daemon/reconcile.ts";
import { orderOps, type ReconcileLookups, VipReconciler } from "../../lib/daemon/vip_reconciler.ts";
import type { AddressPort, AddressSpec, KernelAddress } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { ManualClock } from "../fakes/daemon.ts";

const kaddr = (address: string, hacore = true): KernelAddress => ({
  dev: "eth0",
  address,
  prefix: 24,
  family: "ipv4",
  label: null,
  hacore,
});

const vip = (address: string): Vip => ({
  address,
  prefix: 24,
  dev: "eth0",
  label: null,
  scope: "global",
});

/** A kernel table that records what was done; `gone` addresses fail removal as absent. */
class Kernel implements AddressPort {
  readonly done: string[] = [];
  constructor(public table: KernelAddress[], readonly gone = new Set<string>()) {}
  list(): Promise<KernelAddress[]> {
    return Promise.resolve([...this.table]);
  }
  add(spec: AddressSpec): Promise<void> {
    this.done.push(`add ${spec.address}`);
    this.table.push(kaddr(spec.address));
    return Promise.resolve();
  }
  remove(a: KernelAddress): Promise<void> {
    if (this.gone.has(a.address)) {
      return Promise.reject(Object.assign(new Error("EADDRNOTAVAIL"), { code: "EADDRNOTAVAIL" }));
    }
    this.done.push(`remove ${a.address}`);
    this.table = this.table.filter((k) => k.address !== a.address);
    return Promise.resolve();
  }
  watch(): () => void {
    return () => {};
  }
}

function reconciler(kernel: Kernel, lines: string[]) {
  return new VipReconciler({
    addresses: kernel,
    log: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
    rateLog: (_k, level, msg) => lines.push(`${level} ${msg}`),
    counters: {},
    clock: new ManualClock(0),
    retryMs: 1000,
  });
}

function lookups(
  wants: { name: string; holding: boolean; vips: string[] }[],
  releasing: string[] = [],
): ReconcileLookups {
  return {
    wants: () => wants.map((w) => ({ ...w, vips: w.vips.map(vip), excluded: [] })),
    retiredLabels: () => new Set(),
    extraOf: () => undefined,
    isVip: () => true,
    releasing: (name) => releasing.includes(name),
  };
}

const SUBNET = Array.from({ length: 5 }, (_, i) => `198.51.100.${i + 1}`);

Deno.test("removals go before additions, last listed first: a subnet's secondaries before its primary", () => {
  const kernel = SUBNET.map((a) => kaddr(a));
  const ops: AddressOp[] = [
    { op: "add", instance: "VI_9", spec: { ...vip("203.0.113.1"), family: "ipv4" } },
    ...kernel.map((k): AddressOp => ({
      op: "remove",
      instance: "VI_1",
      why: "released",
      address: k,
    })),
  ];
  const order = orderOps(ops, kernel).map((o) =>
    o.op === "add" ? `add ${o.spec.address}` : `remove ${o.address.address}`
  );
  assert.deepEqual(order, [
    "remove 198.51.100.5",
    "remove 198.51.100.4",
    "remove 198.51.100.3",
    "remove 198.51.100.2",
    "remove 198.51.100.1",
    "add 203.0.113.1",
  ]);
});

Deno.test("a release removes a subnet's VIPs secondaries first, so the kernel never cascades", async () => {
  const kernel = new Kernel(SUBNET.map((a) => kaddr(a)));
  const vips = reconciler(kernel, []);
  await vips.apply("engine", lookups([{ name: "VI_1", holding: false, vips: SUBNET }]));
  assert.deepEqual(kernel.done, [...SUBNET].reverse().map((a) => `remove ${a}`));
});

Deno.test("a VIP that vanished during a release hold is not added back", async () => {
  const kernel = new Kernel(SUBNET.slice(1).map((a) => kaddr(a)));
  const lines: string[] = [];
  const vips = reconciler(kernel, lines);
  await vips.apply("kernel", lookups([{ name: "VI_1", holding: true, vips: SUBNET }], ["VI_1"]));
  assert.deepEqual(kernel.done, []);
  assert.ok(!vips.held.has("eth0|198.51.100.1"));
  assert.ok(vips.held.has("eth0|198.51.100.2"));
  // The same instance not releasing gets it back: the test can fail.
  await vips.apply("kernel", lookups([{ name: "VI_1", holding: true, vips: SUBNET }]));
  assert.deepEqual(kernel.done, ["add 198.51.100.1"]);
});

Deno.test("removing what the kernel already took is no error and no retry", async () => {
  const kernel = new Kernel(SUBNET.map((a) => kaddr(a)), new Set(SUBNET.slice(1)));
  const lines: string[] = [];
  const vips = reconciler(kernel, lines);
  await vips.apply("engine", lookups([{ name: "VI_1", holding: false, vips: SUBNET }]));
  assert.deepEqual(kernel.done, ["remove 198.51.100.1"]);
  assert.equal(vips.retryAtMs, null);
  assert.deepEqual(lines.filter((l) => /error|cannot/.test(l)), []);
  assert.equal(lines.filter((l) => l.includes("already gone")).length, 1);
});

/** {@link Kernel} that counts its reads and can be changed behind the reconciler's back. */
class CountingKernel extends Kernel {
  lists = 0;
  override list(): Promise<KernelAddress[]> {
    this.lists++;
    return super.list();
  }
  override add(spec: AddressSpec): Promise<void> {
    if (this.table.some((k) => k.address === spec.address)) {
      return Promise.reject(Object.assign(new Error("EEXIST"), { code: "EEXIST" }));
    }
    return super.add(spec);
  }
}

Deno.test("a takeover with no kernel event since the last reconcile adds its VIPs without reading the kernel first", async () => {
  const kernel = new CountingKernel([kaddr("192.0.2.11", false)]);
  const vips = reconciler(kernel, []);
  await vips.apply("startup", lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]));
  assert.equal(kernel.lists, 1);
  await vips.apply("engine", lookups([{ name: "VI_1", holding: true, vips: ["192.0.2.100"] }]));
  assert.equal(kernel.lists, 1, "planned against what the startup read");
  assert.deepEqual(kernel.done, ["add 192.0.2.100"]);
  assert.ok(vips.held.has("eth0|192.0.2.100"));
  // Its own add known too: the release that follows removes it, still without a read.
  await vips.apply("engine", lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]));
  assert.equal(kernel.lists, 1);
  assert.deepEqual(kernel.done, ["add 192.0.2.100", "remove 192.0.2.100"]);
});

Deno.test("after a kernel event, or for any other reason than a state change, the kernel is read again", async () => {
  const kernel = new CountingKernel([]);
  const vips = reconciler(kernel, []);
  const held = lookups([{ name: "VI_1", holding: true, vips: ["192.0.2.100"] }]);
  await vips.apply("startup", lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]));
  vips.kernelChanged();
  await vips.apply("engine", held);
  assert.equal(kernel.lists, 2);
  await vips.apply("kernel", held);
  assert.equal(kernel.lists, 3);
});

Deno.test("an address added unseen since the last read: the takeover's add finds it, re-reads at once and logs no error", async () => {
  const kernel = new CountingKernel([]);
  const lines: string[] = [];
  const vips = reconciler(kernel, lines);
  await vips.apply("startup", lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]));
  kernel.table.push(kaddr("192.0.2.100")); // its event not yet read
  const held = lookups([{ name: "VI_1", holding: true, vips: ["192.0.2.100"] }]);
  await vips.apply("engine", held);
  assert.deepEqual(lines.filter((l) => l.startsWith("error")), []);
  assert.equal(vips.wanted, true, "another pass, at once");
  assert.equal(vips.retryAtMs, null);
  await vips.apply(vips.begin(), held);
  assert.equal(kernel.lists, 2);
  assert.ok(vips.held.has("eth0|192.0.2.100"));
});

Deno.test("after kernel events, the kernel is read again once they have been quiet a second, so a takeover then plans without a read", async () => {
  const clock = new ManualClock(0);
  const kernel = new CountingKernel([]);
  const vips = new VipReconciler({
    addresses: kernel,
    log: new Logger({ level: "debug", sink: () => {} }),
    rateLog: () => {},
    counters: {},
    clock,
    retryMs: 1000,
  });
  const backup = lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]);
  await vips.apply("startup", backup);
  vips.kernelChanged(); // an unrelated address came, at 0 ms
  clock.setNow(500);
  vips.kernelChanged(); // and another at 500 ms: the read waits for quiet
  assert.equal(vips.dueAtMs, 1500);
  vips.retryIfDue(1499);
  assert.equal(vips.wanted, false);
  clock.setNow(1500);
  vips.retryIfDue(1500);
  assert.equal(vips.wanted, true);
  await vips.apply(vips.begin(), backup);
  assert.equal(kernel.lists, 2);
  assert.equal(vips.dueAtMs, null);
  await vips.apply("engine", lookups([{ name: "VI_1", holding: true, vips: ["192.0.2.100"] }]));
  assert.equal(kernel.lists, 2, "the takeover planned on the fresh read");
  assert.deepEqual(kernel.done, ["add 192.0.2.100"]);
});

Deno.test("a kernel event during a pass leaves the kernel unknown after it: the next takeover reads", async () => {
  const kernel = new CountingKernel([]);
  const vips = reconciler(kernel, []);
  const backup = lookups([{ name: "VI_1", holding: false, vips: ["192.0.2.100"] }]);
  const list = kernel.list.bind(kernel);
  kernel.list = () => {
    vips.kernelChanged(); // an event handled while the read was under way
    return list();
  };
  await vips.apply("startup", backup);
  kernel.list = list;
  await vips.apply("engine", lookups([{ name: "VI_1", holding: true, vips: ["192.0.2.100"] }]));
  assert.equal(kernel.lists, 2);
});
