/**
 * The VIP guard: the pure decision (whose claim counts, when to answer), the claim a
 * frame makes, and the daemon's wiring over in-memory ports (watches follow mastership,
 * a spoofed claim is counted, shown in status and metrics, and answered with a bounded
 * burst).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import type { VipClaim } from "../../lib/daemon/ports.ts";
import {
  CLAIM_QUIET_MS,
  judgeClaim,
  PENDING_CLAIMS_MAX,
  REANNOUNCE_GAP_MAX_MS,
  REANNOUNCE_GAP_MS,
  VipGuard,
} from "../../lib/daemon/vip_guard.ts";
import { Logger } from "../../lib/log.ts";
import { encodeArp, encodeGratuitousArp, parseMac } from "../../lib/net/arp.ts";
import { encodeUnsolicitedNa } from "../../lib/net/ndisc.ts";
import { parseClaimFrame } from "../../lib/sys/vip_guard.ts";
import { CLAIM_CONFIRM_MS } from "../../lib/daemon/runtime.ts";
import {
  FakeAddressPort,
  FakeLan,
  FakeVipGuardPort,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";

const VIP = "192.0.2.100";
const ROGUE = "02:00:00:00:00:66";
const OURS = "02:00:00:00:00:11";

function claim(over: Partial<VipClaim> = {}): VipClaim {
  return { dev: "eth0", address: VIP, mac: ROGUE, kind: "garp", localMac: OURS, ...over };
}

const owner = { instance: "VI_1", ownMacs: new Set<string>() };

Deno.test("judgeClaim: another MAC claiming a held VIP is a conflict, answered at once", () => {
  assert.deepEqual(judgeClaim(claim(), owner, undefined, 1000), {
    kind: "conflict",
    instance: "VI_1",
    reannounce: true,
    memory: { answeredAtMs: 1000, gapMs: REANNOUNCE_GAP_MS, lastClaimMs: 1000 },
  });
});

Deno.test("judgeClaim: an address no master of ours holds is ignored", () => {
  assert.deepEqual(judgeClaim(claim(), undefined, undefined, 1000), {
    kind: "ignore",
    why: "not-held",
  });
});

Deno.test("judgeClaim: our interface's MAC and the virtual router MAC are ours", () => {
  assert.equal(judgeClaim(claim({ mac: OURS.toUpperCase() }), owner, undefined, 0).kind, "ignore");
  const vmac = { instance: "VI_1", ownMacs: new Set(["00:00:5e:00:01:33"]) };
  assert.deepEqual(judgeClaim(claim({ mac: "00:00:5e:00:01:33" }), vmac, undefined, 0), {
    kind: "ignore",
    why: "own-mac",
  });
});

type Conflict = Extract<ReturnType<typeof judgeClaim>, { kind: "conflict" }>;

/** Claims at the given times; the times at which they were answered. */
function answeredAt(times: number[]): number[] {
  let memory: Conflict["memory"] | undefined;
  const out: number[] = [];
  for (const t of times) {
    const v = judgeClaim(claim(), owner, memory, t) as Conflict;
    memory = v.memory;
    if (v.reannounce) out.push(t);
  }
  return out;
}

Deno.test("judgeClaim: a flood gets at most one answer per VIP per gap", () => {
  const first = judgeClaim(claim(), owner, undefined, 1000) as Conflict;
  const v = (now: number) => judgeClaim(claim(), owner, first.memory, now) as Conflict;
  assert.equal(v(1000 + REANNOUNCE_GAP_MS - 1).reannounce, false);
  assert.equal(v(1000 + REANNOUNCE_GAP_MS).reannounce, true);
});

Deno.test("judgeClaim: while claims keep coming the gap doubles up to its cap; quiet resets it", () => {
  // Every 10 ms for 3 s: answers at 0, then 100, 200, 400, 800 ms apart, then every 1 s.
  const flood = Array.from({ length: 301 }, (_, i) => i * 10);
  assert.deepEqual(answeredAt(flood), [0, 100, 300, 700, 1500, 2500]);
  assert.equal(REANNOUNCE_GAP_MAX_MS, 1000);
  // A spoofer slower than the cap is answered every time; after a quiet spell, at once.
  assert.deepEqual(answeredAt([0, 1000, 2000, 3000, 4000, 5000]), [
    0,
    1000,
    2000,
    3000,
    4000,
    5000,
  ]);
  assert.deepEqual(answeredAt([0, 10, 20, 10_030, 10_040]), [0, 10_030]);
  assert.ok(CLAIM_QUIET_MS <= 10_000);
});

Deno.test("VipGuard.sync opens and closes watches to match the wanted interfaces", () => {
  const port = new FakeVipGuardPort();
  port.missing.add("eth9");
  const errors: string[] = [];
  const g = new VipGuard(port, () => {});
  g.sync(new Set(["eth0", "eth1", "eth9"]), (dev) => errors.push(dev));
  assert.deepEqual(port.watched(), ["eth0", "eth1"]);
  assert.deepEqual(errors, ["eth9"]);
  g.sync(new Set(["eth1"]));
  assert.deepEqual(port.watched(), ["eth1"]);
  g.close();
  assert.deepEqual(port.watched(), []);
});

Deno.test("VipGuard: a flood is coalesced: one loop wake-up, identical claims counted, distinct ones capped", () => {
  const port = new FakeVipGuardPort();
  let wakes = 0;
  const g = new VipGuard(port, () => wakes++);
  g.sync(new Set(["eth0"]));
  for (let i = 0; i < 50; i++) port.claim(claim());
  for (let i = 0; i < PENDING_CLAIMS_MAX + 10; i++) {
    port.claim(claim({ mac: `02:00:00:00:${(i >> 8).toString(16)}:${(i & 255).toString(16)}` }));
  }
  assert.equal(wakes, 1);
  const { claims, dropped } = g.take();
  assert.equal(claims.length, PENDING_CLAIMS_MAX);
  assert.equal(claims[0].count, 50);
  assert.equal(dropped, 11, "the rogue MAC's claim took one slot");
  port.claim(claim());
  assert.equal(wakes, 2, "the next batch wakes the loop again");
  g.close();
});

const SENDER = parseMac(ROGUE)!;

Deno.test("parseClaimFrame: a gratuitous ARP claims its sender IP for its sender MAC", () => {
  assert.deepEqual(parseClaimFrame(encodeGratuitousArp({ senderMac: SENDER, ip: VIP })), {
    address: VIP,
    mac: ROGUE,
    kind: "garp",
  });
});

Deno.test("parseClaimFrame: an ARP reply claims; an ordinary ARP question does not", () => {
  const base = {
    ethDst: new Uint8Array(6).fill(0xff),
    ethSrc: SENDER,
    senderMac: SENDER,
    senderIp: VIP,
    targetMac: new Uint8Array(6),
    targetIp: "192.0.2.1",
  };
  assert.equal(parseClaimFrame(encodeArp({ ...base, op: 2 }))?.kind, "arp-reply");
  assert.equal(parseClaimFrame(encodeArp({ ...base, op: 1 })), null);
});

Deno.test("parseClaimFrame: a neighbour advertisement claims its target for its link-layer option", () => {
  const frame = encodeUnsolicitedNa({
    srcMac: SENDER,
    srcIp: "2001:db8::100",
    targetIp: "2001:db8::100",
    router: false,
    solicited: false,
    override: true,
    dst: "ff02::1",
  });
  assert.deepEqual(parseClaimFrame(frame), { address: "2001:db8::100", mac: ROGUE, kind: "na" });
  assert.equal(parseClaimFrame(frame.subarray(0, 20)), null);
});

// ---------------------------------------------------------------------------------
// The daemon over fakes

const CONFIG = `
[global]
vrrp_version = 3

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 200
advert_int = 1
virtual_ipaddress = ["${VIP}/24"]
`;

async function masterWithGuard() {
  const clock = new ManualClock(0);
  const lan = new FakeLan({ clock, delayMs: 1 });
  const r = parseConfig(CONFIG, "a.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const guard = new FakeVipGuardPort();
  const announcer = new RecordingAnnouncer(clock);
  const lines: string[] = [];
  const port = new FakeAddressPort([{
    dev: "eth0",
    address: "192.0.2.11",
    prefix: 24,
    family: "ipv4",
    label: null,
    hacore: false,
  }]);
  const daemon = new Daemon({
    config: r.config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock,
    transports: lan.host("a", ["192.0.2.11"]),
    addresses: port,
    announcer,
    logger: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
    vipGuard: guard,
  });
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((res) => setTimeout(res, 0));
      if (daemon.idle) return;
    }
    throw new Error("never settled");
  };
  const run = (untilMs: number) => runClock(clock, untilMs, settle);
  await daemon.start();
  await settle();
  assert.deepEqual(guard.watched(), [], "a backup watches nothing");
  await run(4000);
  assert.equal(daemon.status().instances[0].state, "master");
  const stop = async () => {
    const p = daemon.stop();
    await run(clock.nowMs() + 10_000);
    await p;
  };
  return { clock, guard, announcer, lines, daemon, settle, run, stop };
}

Deno.test("daemon: a master watches its VIPs' interface; a spoofed GARP is counted, shown and answered", async () => {
  const w = await masterWithGuard();
  assert.deepEqual(w.guard.watched(), ["eth0"]);
  const t0 = w.clock.nowMs();
  const before = w.announcer.records.length;
  assert.ok(w.guard.claim(claim()));
  await w.settle();
  assert.equal(w.announcer.records.length, before, "no answer before the claim is confirmed");
  await w.run(t0 + CLAIM_CONFIRM_MS);
  const burst = w.announcer.records.slice(before);
  assert.equal(burst.length, 5, "one burst of vrrp_garp_master_repeat GARPs");
  assert.ok(
    burst.every((a) => a.kind === "garp" && a.address === VIP && a.atMs === t0 + CLAIM_CONFIRM_MS),
  );
  const s = w.daemon.status().instances[0];
  assert.equal(s.counters.vipConflicts, 1);
  assert.deepEqual(
    { address: s.vipClaim?.address, mac: s.vipClaim?.mac, kind: s.vipClaim?.kind },
    { address: VIP, mac: ROGUE, kind: "garp" },
  );
  assert.ok(w.lines.some((l) => l.includes(`${ROGUE} claims VIP ${VIP}`)));
  const metrics = renderMetrics(w.daemon);
  assert.match(metrics, /hacore_vrrp_vip_conflicts_total\{instance="VI_1"[^}]*\} 1/);
  await w.stop();
});

Deno.test("daemon: a flood of spoofed claims is counted in full but answered once per 100 ms", async () => {
  const w = await masterWithGuard();
  const before = w.announcer.records.length;
  for (let i = 0; i < 50; i++) w.guard.claim(claim());
  await w.settle();
  await w.run(w.clock.nowMs() + CLAIM_CONFIRM_MS);
  assert.equal(w.announcer.records.length - before, 5);
  await w.run(w.clock.nowMs() + REANNOUNCE_GAP_MS);
  w.guard.claim(claim());
  await w.settle();
  await w.run(w.clock.nowMs() + CLAIM_CONFIRM_MS);
  assert.equal(w.announcer.records.length - before, 10);
  assert.equal(w.daemon.status().instances[0].counters.vipConflicts, 51);
  assert.equal(w.daemon.status().instances[0].counters.vipClaimAnswers, 2);
  // One warning line per window, however many claims.
  assert.equal(w.lines.filter((l) => l.includes("claims VIP")).length, 1);
  await w.stop();
});

Deno.test("daemon: our own MAC and addresses that are not VIPs cause nothing", async () => {
  const w = await masterWithGuard();
  const before = w.announcer.records.length;
  w.guard.claim(claim({ mac: OURS }));
  w.guard.claim(claim({ address: "192.0.2.55" }));
  await w.settle();
  assert.equal(w.announcer.records.length, before);
  assert.equal(w.daemon.status().instances[0].counters.vipConflicts ?? 0, 0);
  assert.equal(w.daemon.status().instances[0].vipClaim, null);
  await w.stop();
});

Deno.test("daemon: leaving Master closes the watch", async () => {
  const w = await masterWithGuard();
  const p = w.daemon.stop();
  await w.run(w.clock.nowMs() + 10_000);
  await p;
  assert.deepEqual(w.guard.watched(), []);
});
