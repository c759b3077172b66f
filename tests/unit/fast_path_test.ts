/**
 * The daemon's fast path: a packet arriving while the loop is parked is handled in
 * place, and only what needs a loop turn (`NodeRuntime.takeTurnWanted`) wakes the loop.
 * Pinned through `Daemon.loopTurns`: a routine advert turns no loop on a Backup, and
 * each kind of change does.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import { Inbox } from "../../lib/daemon/inbox.ts";
import { Logger } from "../../lib/log.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";

const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";

interface Host {
  readonly daemon: Daemon;
  readonly lines: string[];
}

function text(priority: number): string {
  return `
[global]
vrrp_version = 3

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = ${priority}
advert_int = 1
virtual_ipaddress = ["${VIP}/24"]
`;
}

/** Two hosts on one fake LAN: "a" (150) becomes Master, "b" (100) stays Backup. */
function pair() {
  const clock = new ManualClock(0);
  const lan = new FakeLan({ clock, delayMs: 1 });
  const hosts = new Map<string, Host>();
  for (
    const [name, ip, priority] of [["a", "192.0.2.11", 150], ["b", "192.0.2.12", 100]] as const
  ) {
    const r = parseConfig(text(priority), `${name}.toml`);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const lines: string[] = [];
    const daemon = new Daemon({
      config: r.config,
      primaryAddresses: new Map([["eth0", { ipv4: ip }]]),
      clock,
      transports: lan.host(name, [ip]),
      addresses: new FakeAddressPort([
        { dev: "eth0", address: ip, prefix: 24, family: "ipv4", label: null, hacore: false },
      ]),
      announcer: new RecordingAnnouncer(clock),
      logger: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
    });
    hosts.set(name, { daemon, lines });
  }
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if ([...hosts.values()].every((h) => h.daemon.idle)) return;
    }
    throw new Error("the daemons never settled");
  };
  const run = (untilMs: number) => runClock(clock, untilMs, settle);
  const start = async () => {
    await Promise.all([...hosts.values()].map((h) => h.daemon.start()));
    await settle();
  };
  const stop = async () => {
    const done = Promise.all([...hosts.values()].map((h) => h.daemon.stop()));
    let over = false;
    void done.then(() => (over = true));
    while (!over) {
      await settle();
      if (!over && !clock.fireNext(clock.nowMs() + 60_000)) break;
    }
    await done;
    assert.equal(lan.openCount(), 0, "transports left open");
    assert.equal(clock.pendingTimers(), 0, "timers left on the clock");
  };
  return { clock, lan, a: hosts.get("a")!, b: hosts.get("b")!, run, start, stop, settle };
}

function advert(priority: number, over: Partial<OutgoingAdvert> = {}): OutgoingAdvert {
  return {
    version: 3,
    vrid: 51,
    priority,
    intervalMs: 1000,
    addresses: [VIP],
    authType: 0,
    authData: new Uint8Array(0),
    ...over,
  };
}

type Pair = ReturnType<typeof pair>;

/** Delivers `a` to `to` from `src` now, and lets the daemons settle. */
async function inject(p: Pair, to: string, a: OutgoingAdvert, src: string, srcMac?: string) {
  const bytes = encodeAdvert(a, { family: "ipv4", src, dst: GROUP }, "pseudo-header");
  const packet = { bytes, src, dst: GROUP, ttl: 255, ...(srcMac ? { srcMac } : {}) };
  assert.equal(p.lan.inject(to, "eth0", "ipv4", packet), 1);
  await p.settle();
}

function state(h: Host) {
  return h.daemon.status().instances[0];
}

Deno.test("fast path: a Master sending routine adverts and a Backup hearing them turn no loop, and status still follows them", async () => {
  const p = pair();
  await p.start();
  await p.run(12_000);
  assert.equal(state(p.a).state, "master");
  assert.equal(state(p.b).state, "backup");
  const turnsA = p.a.daemon.loopTurns;
  const turnsB = p.b.daemon.loopTurns;
  const received = state(p.b).counters.advertisementsReceived ?? 0;
  const sentBefore = state(p.a).counters.advertisementsSent;
  await p.run(32_000);
  // Twenty adverts later: neither the Master sending them nor the Backup hearing them
  // turned its loop.
  assert.equal(p.a.daemon.loopTurns, turnsA);
  assert.equal(p.b.daemon.loopTurns, turnsB);
  assert.equal(state(p.a).counters.advertisementsSent, sentBefore + 20);
  assert.equal(p.b.daemon.status().loopTurns, turnsB);
  assert.equal((state(p.b).counters.advertisementsReceived ?? 0) - received, 20);
  assert.equal(state(p.b).lastMaster?.ip, "192.0.2.11");
  assert.ok(p.b.daemon.isLive());
  await p.stop();
});

Deno.test("fast path: a Master gone silent is taken over one Master_Down_Interval after its last advert (the re-armed park fires)", async () => {
  const p = pair();
  await p.start();
  await p.run(12_000);
  const lastHeard = p.clock.nowMs() - state(p.b).lastMaster!.agoMs;
  // "a" falls silent: nothing it sends reaches "b" any more.
  p.lan.setDown("a", true);
  await p.run(20_000);
  assert.equal(state(p.b).state, "master");
  const t = state(p.b).lastTransition!;
  // Master_Down_Interval for priority 100 at 1 s: 3000 + (256 - 100) / 256 * 1000.
  assert.equal(t.reason, "master-down-timer");
  assert.equal(t.atMs - lastHeard, 3000 + (156 * 1000) / 256);
  p.lan.setDown("a", false);
  await p.stop();
});

Deno.test("fast path: a Master releasing (priority 0) is taken over after the Backup's Skew_Time (an earlier wake-up)", async () => {
  const p = pair();
  await p.start();
  await p.run(12_000);
  const stopped = p.a.daemon.stop();
  await p.run(14_000);
  await stopped;
  assert.equal(state(p.b).state, "master");
  const t = state(p.b).lastTransition!;
  assert.equal(t.reason, "priority-zero");
  await p.stop();
});

Deno.test("fast path: each kind of change a packet makes wakes the loop", async (t) => {
  const p = pair();
  await p.start();
  await p.run(12_000);
  const wakes = async (what: string, act: () => Promise<void>, host = p.b) => {
    const before = host.daemon.loopTurns;
    await act();
    assert.ok(host.daemon.loopTurns > before, `${what} did not turn the loop`);
  };
  await t.step(
    "a foreign sender newly seen (logged)",
    () =>
      wakes(
        "a foreign sender",
        () => inject(p, "b", advert(150, { addresses: ["192.0.2.200"] }), "192.0.2.11"),
      ),
  );
  await t.step(
    "a dropped packet (counted and logged)",
    () => wakes("a drop", () => inject(p, "b", advert(150, { vrid: 99 }), "192.0.2.11")),
  );
  await t.step(
    "a peer's MAC newly learned",
    () =>
      wakes("a new peer MAC", () => inject(p, "b", advert(150), "192.0.2.11", "02:00:00:00:00:11")),
  );
  await t.step(
    "a lower-priority advert heard as Master (re-announce)",
    () => wakes("a lower-priority advert", () => inject(p, "a", advert(120), "192.0.2.12"), p.a),
  );
  await t.step("a state change (a higher priority preempts the Master)", async () => {
    await wakes("a preempting advert", () => inject(p, "a", advert(200), "192.0.2.99"), p.a);
    assert.equal(state(p.a).state, "backup");
  });
  await p.stop();
});

Deno.test("fast path: a routine advert after a turn-worthy one is routine again", async () => {
  const p = pair();
  await p.start();
  await p.run(12_000);
  await inject(p, "b", advert(150), "192.0.2.11", "02:00:00:00:00:11");
  await p.run(13_500);
  const turns = p.b.daemon.loopTurns;
  await inject(p, "b", advert(150), "192.0.2.11", "02:00:00:00:00:11");
  await p.run(16_000);
  assert.equal(p.b.daemon.loopTurns, turns);
  await p.stop();
});

Deno.test("inbox: repark moves a parked loop's wake-up without waking it; not parked, it refuses", async () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox();
  assert.equal(inbox.repark(50), false);
  let woke = false;
  const parked = inbox.park(100, clock).then(() => (woke = true));
  assert.equal(inbox.repark(300), true);
  assert.equal(inbox.parkedUntil, 300);
  // Nothing is due before 300 any more: the first timer left is the moved one.
  assert.equal(clock.nextTimerMs(), 300);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(woke, false);
  assert.equal(inbox.idle, true);
  assert.equal(clock.fireNext(Infinity), true);
  assert.equal(clock.nowMs(), 300);
  await parked;
  assert.equal(woke, true);
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("inbox: a poke un-idles at once, before the park's own cleanup runs", () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox();
  const parked = inbox.park(null, clock);
  assert.equal(inbox.idle, true);
  inbox.poke();
  assert.equal(inbox.idle, false);
  assert.equal(inbox.repark(10), false);
  return parked;
});
