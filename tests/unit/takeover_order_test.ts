/**
 * Transitions that lose nothing. In the engine, every way into Master orders
 * hold-vips, announce, then the advert. On the ports, a takeover that displaces a live
 * master (which lets go on hearing that advert) has its VIP in the kernel and its first
 * gratuitous ARP out before its first advert; a takeover racing other backups for a
 * master that is gone sends the advert at once, so the slower backups stand down.
 */
import assert from "node:assert/strict";
import type {
  AddressSpec,
  Announcer,
  ReceivedPacket,
  TransportFactory,
} from "../../lib/daemon/ports.ts";
import { createRouter, step } from "../../lib/vrrp/router.ts";
import type { RouterAction, RouterConfig, RouterEvent, RouterState } from "../../lib/vrrp/types.ts";
import { runClock } from "../fakes/daemon.ts";
import { masterAdvert, soloBackup, soloOwnAddress } from "../fakes/solo_backup.ts";
import { routerConfig } from "../fakes/router_config.ts";

// ---------------------------------------------------------------------------------
// The engine: every path into Master orders hold-vips, announce, then the advert.

function cfg(over: Partial<RouterConfig> = {}): RouterConfig {
  return routerConfig(over);
}

const advert = (src: string, priority: number): RouterEvent => ({
  type: "advert",
  src,
  advert: {
    version: 3,
    vrid: 1,
    priority,
    intervalMs: 1000,
    addresses: ["192.0.2.100"],
    authType: 0,
    authData: new Uint8Array(0),
    checksum: 0,
  },
});

/** Steps through `events` (each at its time) and returns the actions of the last. */
function actionsOf(c: RouterConfig, events: [RouterEvent, number][]): RouterAction[] {
  let s: RouterState = createRouter(c, 0);
  let last: RouterAction[] = [];
  for (const [ev, at] of events) {
    const r = step(s, ev, at);
    s = r.state;
    last = r.actions;
  }
  return last;
}

const T = 10_000;
const PATHS: [string, RouterConfig, [RouterEvent, number][]][] = [
  ["owner at startup", cfg({ priority: 255 }), [[{ type: "startup" }, 0]]],
  ["master-down timer", cfg(), [[{ type: "startup" }, 0], [{ type: "tick" }, T]]],
  ["priority-0 release", cfg(), [
    [{ type: "startup" }, 0],
    [advert("10.0.0.2", 200), 100],
    [advert("10.0.0.2", 0), 200],
    [{ type: "tick" }, T],
  ]],
  ["preemption of a lower master", cfg(), [
    [{ type: "startup" }, 0],
    [advert("10.0.0.2", 50), 100],
    [{ type: "tick" }, T],
  ]],
  ["preemption after preempt_delay", cfg({ preemptDelayMs: 500 }), [
    [{ type: "startup" }, 0],
    [advert("10.0.0.2", 50), 100],
    [{ type: "tick" }, 600],
  ]],
  ["promoted above the master (operator verb)", cfg(), [
    [{ type: "startup" }, 0],
    [advert("10.0.0.2", 150), 100],
    [{ type: "priority", priority: 200 }, 150],
    [advert("10.0.0.2", 150), 1100],
    [{ type: "tick" }, T],
  ]],
  ["sync group forces Master", cfg(), [
    [{ type: "startup" }, 0],
    [{ type: "force", state: "master", detail: "group" }, 100],
  ]],
  ["owner's fault clears", cfg({ priority: 255 }), [
    [{ type: "startup" }, 0],
    [{ type: "fault", tracker: "link", failing: true }, 100],
    [{ type: "fault", tracker: "link", failing: false }, 200],
  ]],
  ["owner leaves maintenance", cfg({ priority: 255 }), [
    [{ type: "startup" }, 0],
    [{ type: "maintenance", on: true }, 100],
    [{ type: "maintenance", on: false }, 200],
  ]],
];

for (const [path, c, events] of PATHS) {
  Deno.test(`engine, ${path}: hold-vips, then announce, then the first advert`, () => {
    const types = actionsOf(c, events).map((a) => a.type);
    assert.ok(types.includes("transition"), `no transition: ${types.join(", ")}`);
    const hold = types.indexOf("hold-vips");
    const announce = types.indexOf("announce");
    const send = types.indexOf("send");
    assert.ok(hold >= 0 && announce > hold && send > announce, types.join(", "));
  });
}

// ---------------------------------------------------------------------------------
// The daemon: that order on the ports when a live master is displaced.

/**
 * Runs a backup for 20 s, delivering `first` at the start and `every` each second
 * (a live master's adverts), and returns the port calls as "add"/"garp"/"send P".
 */
async function portCalls(first: ReceivedPacket[], every: ReceivedPacket | null = null) {
  const calls: string[] = [];
  let deliver: (p: ReceivedPacket) => void = () => {};
  const transports: TransportFactory = {
    open: (_req, onPacket) => {
      deliver = onPacket;
      return { send: (bytes) => calls.push(`send ${bytes[2]}`), close: () => {} };
    },
  };
  const addresses = soloOwnAddress();
  const add = addresses.add.bind(addresses);
  addresses.add = (spec: AddressSpec) =>
    add(spec).then(() => void calls.push("add")) as Promise<void>;
  const announcer: Announcer = {
    garp: () => calls.push("garp"),
    unsolicitedNa: () => calls.push("na"),
  };
  const b = await soloBackup({ transports, addresses, announcer, logLevel: "error" });
  for (const p of first) deliver(p);
  for (let t = 0; t < 20_000; t += 1000) {
    if (every !== null) deliver(every);
    await runClock(b.clock, t + 1000, b.settle);
  }
  const state = b.state();
  await b.stop();
  return { state, calls };
}

function assertVipAndGarpFirst(calls: string[]) {
  const add = calls.indexOf("add");
  const garp = calls.indexOf("garp");
  const firstAdvert = calls.findIndex((c) => c.startsWith("send ") && c !== "send 0");
  assert.ok(add >= 0 && garp > add && firstAdvert > garp, calls.slice(0, 6).join(", "));
}

function assertAdvertFirst(calls: string[]) {
  const firstAdvert = calls.findIndex((c) => c.startsWith("send ") && c !== "send 0");
  assert.ok(firstAdvert === 0 && calls.includes("add") && calls.includes("garp"), calls.join(", "));
}

Deno.test("daemon, preempting a live lower master: the VIP is added and announced before the first advert", async () => {
  const { state, calls } = await portCalls([], masterAdvert(50));
  assert.equal(state, "master");
  assertVipAndGarpFirst(calls);
});

Deno.test("daemon, racing other backups for a master that is gone: the first advert goes at once", async () => {
  const { state, calls } = await portCalls([]);
  assert.equal(state, "master");
  assertAdvertFirst(calls);
});

Deno.test("daemon, after a priority-0 release: the first advert goes at once, the releasing master holds on", async () => {
  const { state, calls } = await portCalls([masterAdvert(200), masterAdvert(0)]);
  assert.equal(state, "master");
  assertAdvertFirst(calls);
});
