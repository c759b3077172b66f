/**
 * The daemon end to end over in-memory ports: several daemons on a fake LAN that
 * carries the real encoded bytes, on a manual clock, each with its own fake kernel
 * address table. Elections, handover on stop, VIP healing, the never-remove-foreign
 * rule, garbage on the wire, and a clean stop with nothing left running.
 */
import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { Daemon, DaemonSetupError, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../../lib/daemon/fake.ts";
import { type KernelAddress, systemClock } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { decodeAdvert, encodeAdvert } from "../../lib/vrrp/packet.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";
import { createRng } from "../sim/rng.ts";

const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";
const WALL_EPOCH = Date.UTC(2026, 10, 21, 22, 59, 0);

interface HostSpec {
  name: string;
  ip: string;
  priority: number;
  /** advert_int in seconds; 1 by default. */
  advertInt?: number;
  /** Extra instance keys (TOML lines). */
  instance?: string;
  /** Extra [global] keys (TOML lines). */
  global?: string;
  /** Addresses present before the daemon starts, besides the primary one. */
  initial?: KernelAddress[];
}

interface Host {
  name: string;
  ip: string;
  config: Config;
  daemon: Daemon;
  port: FakeAddressPort;
  announcer: RecordingAnnouncer;
  lines: string[];
}

function configFor(spec: HostSpec): Config {
  const text = `
[global]
vrrp_version = 3
${spec.global ?? ""}

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = ${spec.priority}
advert_int = ${spec.advertInt ?? 1}
virtual_ipaddress = ["${VIP}/24"]
${spec.instance ?? ""}
`;
  const r = parseConfig(text, `${spec.name}.toml`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function addr(address: string, hacore: boolean, prefix = 24): KernelAddress {
  return { dev: "eth0", address, prefix, family: "ipv4", label: hacore ? "eth0:hc" : null, hacore };
}

class World {
  readonly clock = new ManualClock(0);
  readonly lan = new FakeLan({ clock: this.clock, delayMs: 1 });
  readonly hosts: Host[] = [];
  /** Checked after every instant: throws on the first violation. */
  invariant: (() => void) | null = null;

  add(spec: HostSpec): Host {
    const config = configFor(spec);
    const port = new FakeAddressPort([addr(spec.ip, false), ...(spec.initial ?? [])]);
    const lines: string[] = [];
    const clock = this.clock;
    const logger = new Logger({
      level: "debug",
      sink: (l) => lines.push(l),
      wallClock: () => new Date(WALL_EPOCH + clock.nowMs()),
    });
    const announcer = new RecordingAnnouncer(clock);
    const daemon = new Daemon({
      config,
      primaryAddresses: new Map([["eth0", { ipv4: spec.ip }]]),
      clock,
      transports: this.lan.host(spec.name, [spec.ip]),
      addresses: port,
      announcer,
      logger,
    });
    const host = { name: spec.name, ip: spec.ip, config, daemon, port, announcer, lines };
    this.hosts.push(host);
    return host;
  }

  /** Lets every daemon run until all are parked; then checks the invariant. */
  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.hosts.every((h) => h.daemon.idle)) {
        this.invariant?.();
        return;
      }
    }
    throw new Error("the daemons never settled");
  };

  async startAll(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.daemon.start()));
    await this.settle();
  }

  run(untilMs: number): Promise<void> {
    return runClock(this.clock, untilMs, this.settle);
  }

  /** Runs the clock until `p` resolves (or `limitMs`, which fails the test). */
  async until<T>(p: Promise<T>, limitMs = this.clock.nowMs() + 60_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    p.then((v) => {
      done = true;
      value = v;
    });
    await this.settle();
    while (!done) {
      if (!this.clock.fireNext(limitMs)) {
        throw new Error(`still pending at ${this.clock.nowMs()} ms`);
      }
      await this.settle();
    }
    return value as T;
  }

  /** Stops every daemon and checks that nothing is left running. */
  async stopAll(): Promise<void> {
    this.invariant = null;
    await this.until(Promise.all(this.hosts.map((h) => h.daemon.stop())));
    for (const h of this.hosts) {
      assert.equal(h.daemon.status().phase, "stopped");
      assert.equal(h.port.watcherCount(), 0, `${h.name} still watches kernel events`);
    }
    assert.equal(this.lan.openCount(), 0, "transports left open");
    assert.equal(this.clock.pendingTimers(), 0, "timers left on the clock");
  }
}

function vi(h: Host): InstanceStatus {
  return h.daemon.status().instances[0];
}

function hasVip(h: Host, hacore?: boolean): boolean {
  return h.port.has("eth0", VIP, 24, hacore);
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

function wire(
  a: OutgoingAdvert,
  src: string,
  dst = GROUP,
  form: "pseudo-header" | "rfc9568" = "pseudo-header",
) {
  return encodeAdvert(a, { family: "ipv4", src, dst }, form);
}

/** Priorities of what `host` sent, as [atMs, priority]. */
function sentBy(w: World, host: string): [number, number][] {
  return w.lan.sent.filter((p) => p.host === host).map((p) => [p.atMs, p.bytes[2]]);
}

/** No host in Backup (or Init, or Fault, outside a release hold) holds a tagged VIP. */
function backupsHoldNothing(w: World) {
  return () => {
    for (const h of w.hosts) {
      const s = vi(h);
      if (s.state !== "master" && !s.holdingVips) {
        assert.ok(
          !hasVip(h, true),
          `${h.name} is ${s.state} at ${w.clock.nowMs()} and holds the VIP`,
        );
      }
    }
  };
}

// A: priority 150, v3 1 s: Master_Down_Interval = 3000 + 106/256 * 1000 = 3414.0625 ms.
const A_TAKEOVER = 3000 + (106 * 1000) / 256;

function threeNodes(over: Partial<Record<"a" | "b" | "c", Partial<HostSpec>>> = {}): World {
  const w = new World();
  w.add({ name: "a", ip: "192.0.2.11", priority: 150, ...over.a });
  w.add({ name: "b", ip: "192.0.2.12", priority: 100, ...over.b });
  w.add({ name: "c", ip: "192.0.2.13", priority: 50, ...over.c });
  return w;
}

Deno.test("election: the highest priority becomes master, sends, holds the VIP and announces", async () => {
  const w = threeNodes();
  const [a, b, c] = w.hosts;
  w.invariant = backupsHoldNothing(w);
  await w.startAll();
  assert.deepStrictEqual(w.hosts.map((h) => vi(h).state), ["backup", "backup", "backup"]);

  await w.run(12_000);
  assert.deepStrictEqual(w.hosts.map((h) => vi(h).state), ["master", "backup", "backup"]);
  assert.equal(vi(a).lastTransition?.atMs, A_TAKEOVER);
  assert.ok(hasVip(a, true));
  assert.ok(!hasVip(b) && !hasVip(c));
  assert.deepStrictEqual(vi(a).vips, [
    { address: VIP, prefix: 24, dev: "eth0", excluded: false, held: true },
  ]);
  assert.deepStrictEqual(vi(b).vips[0].held, false);
  assert.deepStrictEqual(vi(b).lastMaster?.ip, "192.0.2.11");
  assert.equal(vi(b).lastMaster?.priority, 150);

  // Adverts every second from the takeover; backups stay silent.
  const fromA = sentBy(w, "a");
  assert.deepStrictEqual(fromA.slice(0, 3), [
    [A_TAKEOVER, 150],
    [A_TAKEOVER + 1000, 150],
    [A_TAKEOVER + 2000, 150],
  ]);
  assert.deepStrictEqual(sentBy(w, "b"), []);
  assert.deepStrictEqual(sentBy(w, "c"), []);
  // The bytes on the wire are valid VRRPv3 (keepalived's pseudo-header checksum).
  const first = w.lan.sent[0];
  const d = decodeAdvert(
    first.bytes,
    { family: "ipv4", src: first.src, dst: first.dst, ttl: 255 },
    {
      checksumMode: "pseudo-header",
    },
  );
  assert.ok(d.ok);
  assert.equal(first.dst, GROUP);

  // keepalived's timing: advert, then 5 GARPs at once, then 5 more exactly 5 s later.
  assert.deepStrictEqual(
    a.announcer.records.map((r) => `${r.atMs} ${r.kind} ${r.address}`),
    [
      ...new Array(5).fill(`${A_TAKEOVER} garp ${VIP}`),
      ...new Array(5).fill(`${A_TAKEOVER + 5000} garp ${VIP}`),
    ],
  );
  assert.deepStrictEqual(b.announcer.records, []);

  assert.ok(
    a.lines.includes(
      "2026-11-21T22:59:03.414Z notice VI_1: BACKUP -> MASTER (master-down-timer: no master heard)",
    ),
    a.lines.join("\n"),
  );
  await w.stopAll();
});

Deno.test("master stop: priority 0 goes out, the best backup takes over after Skew_Time, no gap", async () => {
  const w = threeNodes();
  const [a, b, c] = w.hosts;
  w.invariant = backupsHoldNothing(w);
  await w.startAll();
  await w.run(10_000);
  assert.equal(vi(a).state, "master");

  const stopping = a.daemon.stop();
  await w.settle();
  // The priority-0 advert leaves at once.
  const zero = w.lan.sent.find((p) => p.host === "a" && p.bytes[2] === 0);
  assert.ok(zero, "no priority-0 advert");
  assert.equal(zero.atMs, 10_000);

  // B hears it 1 ms later and waits Skew_Time = (256 - 100) / 256 * 1000 ms.
  const takeover = 10_001 + (156 * 1000) / 256;
  await w.run(takeover - 0.001);
  assert.equal(vi(b).state, "backup");
  assert.ok(hasVip(a), "A released before anyone took over");
  await w.run(takeover);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "priority-zero");
  assert.equal(vi(c).state, "backup");
  // A keeps the VIP through its release hold until it hears B: both hold for 1 ms.
  assert.ok(hasVip(a) && hasVip(b));
  await w.until(stopping);
  assert.equal(w.clock.nowMs(), takeover + 1, "A released as soon as it heard B");
  assert.ok(!hasVip(a));
  assert.equal(vi(a).state, "init");
  assert.ok(
    a.lines.some((l) => l.endsWith("VI_1: MASTER -> INIT (shutdown: stopped while master)")),
  );
  assert.ok(
    b.lines.some((l) => l.includes("VI_1: BACKUP -> MASTER (priority-zero: 192.0.2.11 released")),
  );
  await w.run(20_000);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(c).state, "backup");
  await w.stopAll();
});

Deno.test("stop without a release hold finishes in the same instant, leaving nothing pending", async () => {
  const w = threeNodes({ a: { instance: "release_hold = 0" } });
  const [a, b] = w.hosts;
  await w.startAll();
  await w.run(5000);
  const t = w.clock.nowMs();
  await w.until(a.daemon.stop());
  assert.equal(w.clock.nowMs(), t);
  assert.ok(!hasVip(a));
  assert.equal(w.lan.openCount("a"), 0);
  assert.equal(a.port.watcherCount(), 0);
  await w.run(t + 2000);
  assert.equal(vi(b).state, "master");
  // A second stop is harmless.
  await a.daemon.stop();
  await w.stopAll();
});

Deno.test("a VIP deleted by hand comes back while master, and is logged and counted", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  await w.startAll();
  await w.run(5000);
  assert.ok(hasVip(a, true));

  assert.ok(a.port.removeByHand("eth0", VIP));
  await w.settle();
  assert.ok(hasVip(a, true), "not restored");
  assert.equal(w.clock.nowMs(), 5000, "restored in the same instant");
  assert.equal(vi(a).counters.vipsRestored, 1);
  assert.ok(
    a.lines.some((l) =>
      l.includes(`VI_1: ${VIP} was removed from eth0 outside hacore; restoring it`)
    ),
  );
  assert.ok(a.lines.some((l) => l.endsWith(`VI_1: restored ${VIP}/24 dev eth0`)));
  await w.stopAll();
});

Deno.test("a backup never holds a VIP: leftovers at start and hand-added copies are removed", async () => {
  const w = threeNodes({
    // B crashed while master last time: its VIP (tagged) is still there, and a stale one.
    b: { initial: [addr(VIP, true), addr("198.51.100.9", true, 32)] },
  });
  const [a, b, c] = w.hosts;
  await w.startAll();
  assert.ok(!hasVip(b), "leftover VIP kept at startup");
  assert.ok(!b.port.has("eth0", "198.51.100.9"), "stale hacore address kept");
  assert.ok(b.lines.some((l) => l.endsWith("VI_1: removed 192.0.2.100/24 dev eth0")));
  assert.ok(
    b.lines.some((l) =>
      l.endsWith("hacore: removed 198.51.100.9/32 dev eth0 (left over from an earlier run)")
    ),
  );
  // The primary address (untagged) is untouched.
  assert.ok(b.port.has("eth0", "192.0.2.12", 24, false));

  w.invariant = backupsHoldNothing(w);
  await w.run(6000);
  assert.equal(vi(a).state, "master");
  // Someone adds the VIP on a backup with hacore's tag: it goes away again.
  c.port.addByHand(addr(VIP, true));
  await w.settle();
  assert.ok(!hasVip(c));
  assert.ok(!c.port.ops.some((o) => o.op === "add" && o.by === "hacore"), "a backup added a VIP");
  await w.stopAll();
});

Deno.test("an address hacore did not install is never removed, even if it equals the VIP", async () => {
  const w = threeNodes({ b: { initial: [addr(VIP, false)] } });
  const [a, b] = w.hosts;
  await w.startAll();
  assert.ok(hasVip(b, false));
  assert.deepStrictEqual(b.daemon.status().conflicts, [
    `${VIP}/24 on eth0 was not installed by hacore but is a VIP of VI_1: left alone (a duplicate address whenever another router is master)`,
  ]);
  assert.equal(b.lines.filter((l) => l.includes("warn conflict:")).length, 1);

  await w.run(5000);
  assert.equal(vi(a).state, "master");
  assert.ok(hasVip(b, false), "removed while backup");
  // B becomes master (A stops), then B stops too: still never removed, never re-added.
  await w.until(a.daemon.stop());
  await w.run(8000);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).vips[0].held, true);
  await w.until(b.daemon.stop());
  assert.ok(hasVip(b, false), "removed on stop");
  assert.deepStrictEqual(b.port.ops.filter((o) => o.by === "hacore"), []);
  // Reported once, not on every reconcile.
  assert.equal(b.lines.filter((l) => l.includes("warn conflict:")).length, 1);
  await w.stopAll();
});

Deno.test("garbage on the wire: 10k bad packets are counted, rate-limited, and never stop the loop", async () => {
  const w = threeNodes();
  const [a, b] = w.hosts;
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(b).state, "backup");

  const rng = createRng(20261121);
  const good = wire(advert(150), a.ip);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => rng.int(0, 255));
  const kinds = ["random", "flip", "ttl", "truncate", "extend", "src", "version", "bug"] as const;
  const made: Record<string, number> = {};
  const drops = (h: Host) => {
    const st = h.daemon.status();
    const skip = new Set([
      "advertisementsSent",
      "advertisementsReceived",
      "masterTransitions",
      "priorityZeroSent",
      "priorityZeroReceived",
    ]);
    let n = 0;
    for (const [k, v] of Object.entries(st.instances[0].counters)) if (!skip.has(k)) n += v;
    for (const v of Object.values(st.counters)) n += v;
    return n;
  };
  const before = drops(b);
  const receivedBefore = vi(b).counters.advertisementsReceived;
  const linesBefore = b.lines.length;
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    const kind = rng.pick(kinds);
    made[kind] = (made[kind] ?? 0) + 1;
    let p: { bytes: Uint8Array; src: string; dst: string; ttl: number } = {
      bytes: good.slice(),
      src: a.ip,
      dst: GROUP,
      ttl: 255,
    };
    switch (kind) {
      case "random":
        p.bytes = bytes(rng.int(0, 80));
        break;
      case "flip": {
        const at = rng.int(0, p.bytes.length - 1);
        p.bytes[at] ^= rng.int(1, 255);
        break;
      }
      case "ttl":
        p.ttl = rng.pick([0, 1, 64, 128, 254]);
        break;
      case "truncate":
        p.bytes = p.bytes.slice(0, rng.int(0, p.bytes.length - 1));
        break;
      case "extend":
        p.bytes = Uint8Array.from([...p.bytes, ...bytes(rng.int(1, 20))]);
        break;
      case "src":
        p.src = rng.pick(["", "not-an-ip", "2001:db8::1", "300.1.1.1"]);
        break;
      case "version":
        p.bytes[0] = (rng.pick([0, 1, 4, 15]) << 4) | 1;
        break;
      case "bug":
        // What a broken OS layer might hand over: must be contained, not crash the loop.
        p = { ...p, bytes: null as unknown as Uint8Array };
        break;
    }
    assert.equal(w.lan.inject("b", "eth0", "ipv4", p), 1);
  }
  await w.settle();
  assert.equal(b.daemon.status().phase, "running");
  assert.equal(drops(b) - before, N, "every bad packet counted exactly once");
  assert.equal(vi(b).counters.advertisementsReceived, receivedBefore, "a bad packet was accepted");
  const st = b.daemon.status();
  const c = vi(b).counters;
  assert.ok(
    c.checksumErrors > 0 && c.ipTtlErrors > 0 && c.packetLengthErrors > 0 && c.versionErrors > 0,
  );
  assert.equal(st.counters.internalErrors, made.bug);
  // Rate-limited: at most one line per (instance or interface, reason) in this instant.
  const dropLines = b.lines.slice(linesBefore).filter((l) =>
    l.includes("dropped a packet") || l.includes("internal error")
  );
  assert.ok(dropLines.length >= 5 && dropLines.length <= 27, dropLines.join("\n"));
  // One line per (instance or interface, reason): VI_1's checksum drops, thousands of
  // them, and the internal errors, each got exactly one line.
  const count = (re: RegExp) => dropLines.filter((l) => re.test(l)).length;
  assert.equal(count(/ VI_1: dropped a packet from [^ ]+ checksum: /), 1);
  assert.equal(count(/ VI_1: dropped a packet from [^ ]+ ip\.ttl: /), 1);
  assert.equal(count(/ internal error handling a packet/), 1);
  assert.ok(c.checksumErrors > 100 && made.bug > 100);

  // 10 s later the next one of a kind says how many were held back.
  await w.run(15_000);
  const flipped = good.slice();
  flipped[6] ^= 0xff; // checksum
  w.lan.inject("b", "eth0", "ipv4", { bytes: flipped, src: a.ip, dst: GROUP, ttl: 255 });
  await w.settle();
  const checksumLines = b.lines.filter((l) =>
    l.includes("VI_1: dropped a packet") && l.includes("checksum:")
  );
  assert.equal(checksumLines.length, 2);
  assert.ok(
    checksumLines[1].endsWith(`(${c.checksumErrors - 1} more suppressed)`),
    checksumLines[1],
  );

  // Still a working router: B follows A, then takes over when A goes silent.
  assert.equal(vi(b).state, "backup");
  w.lan.setDown("a", true);
  await w.run(20_000);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "master-down-timer");
  assert.ok(hasVip(b, true));
  await w.stopAll();
});

Deno.test("unicast: adverts go to each peer, and strangers are counted and ignored", async () => {
  const w = new World();
  const unicast = (peers: string[]) => `unicast_peer = [${peers.map((p) => `"${p}"`).join(", ")}]`;
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    instance: unicast(["192.0.2.12", "192.0.2.13"]),
  });
  const b = w.add({
    name: "b",
    ip: "192.0.2.12",
    priority: 100,
    instance: unicast(["192.0.2.11", "192.0.2.13"]),
  });
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(b).state, "backup");
  assert.equal(vi(a).transport, "unicast");
  const dsts = new Set(w.lan.sent.filter((p) => p.host === "a").map((p) => p.dst));
  assert.deepStrictEqual([...dsts].sort(), ["192.0.2.12", "192.0.2.13"]);

  // A stranger claims the VRID with priority 254, unicast to B: ignored, counted, logged.
  const stranger = wire(advert(254), "192.0.2.66", "192.0.2.12");
  for (let i = 0; i < 3; i++) {
    w.lan.inject("b", "eth0", "ipv4", {
      bytes: stranger,
      src: "192.0.2.66",
      dst: "192.0.2.12",
      ttl: 255,
    });
  }
  await w.settle();
  assert.equal(vi(b).counters.unicastPeerErrors, 3);
  assert.equal(vi(b).lastMaster?.ip, "192.0.2.11");
  assert.equal(b.lines.filter((l) => l.includes("192.0.2.66 is not in unicast_peer")).length, 1);
  await w.run(10_000);
  assert.equal(vi(a).state, "master");
  await w.stopAll();
});

Deno.test("checksum auto mode: a unicast peer that uses the RFC 9568 form gets it back", async () => {
  const w = new World();
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    instance: `unicast_peer = ["192.0.2.12"]`,
  });
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  const form = (
    p: { bytes: Uint8Array; src: string; dst: string },
    mode: "pseudo-header" | "rfc9568",
  ) =>
    decodeAdvert(p.bytes, { family: "ipv4", src: p.src, dst: p.dst, ttl: 255 }, {
      checksumMode: mode,
    }).ok;
  assert.ok(form(w.lan.sent.at(-1)!, "pseudo-header"));

  // A lower-priority peer speaking RFC 9568: A answers at once (RFC 9568 §6.4.3) in that form.
  const n = w.lan.sent.length;
  const peer = wire(advert(100), "192.0.2.12", "192.0.2.11", "rfc9568");
  w.lan.inject("a", "eth0", "ipv4", {
    bytes: peer,
    src: "192.0.2.12",
    dst: "192.0.2.11",
    ttl: 255,
  });
  await w.settle();
  const reply = w.lan.sent.slice(n);
  assert.equal(reply.length, 1);
  assert.ok(form(reply[0], "rfc9568"));
  assert.ok(!form(reply[0], "pseudo-header"));
  await w.stopAll();
});

Deno.test("a failed VIP add is logged, retried a second later, and only then announced", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  a.port.failAdds = 1;
  await w.startAll();
  await w.run(A_TAKEOVER);
  assert.equal(vi(a).state, "master");
  assert.ok(!hasVip(a));
  assert.equal(vi(a).vips[0].held, false);
  assert.equal(vi(a).counters.vipAddErrors, 1);
  assert.ok(a.lines.some((l) => l.includes(`error VI_1: cannot add ${VIP}/24 dev eth0: `)));
  assert.equal(a.announcer.records.length, 0, "announced a VIP that is not there");
  await w.run(A_TAKEOVER + 1000);
  assert.ok(hasVip(a, true));
  await w.run(A_TAKEOVER + 5000);
  assert.deepStrictEqual(
    a.announcer.records.map((r) => r.atMs),
    new Array(5).fill(A_TAKEOVER + 5000),
  );
  await w.stopAll();
});

Deno.test("status is plain JSON with the documented fields", async () => {
  const w = threeNodes();
  const [a, b] = w.hosts;
  await w.startAll();
  await w.run(5000);
  const st = a.daemon.status();
  assert.deepStrictEqual(JSON.parse(JSON.stringify(st)), st);
  const s = st.instances[0];
  assert.deepStrictEqual(
    { ...s, counters: undefined },
    {
      name: "VI_1",
      interface: "eth0",
      vrid: 51,
      version: 3,
      family: "ipv4",
      state: "master",
      sinceMs: A_TAKEOVER,
      inStateMs: 5000 - A_TAKEOVER,
      priority: { base: 150, effective: 150 },
      faults: [],
      lastMaster: null,
      advertIntervalMs: 1000,
      masterAdvertIntervalMs: 1000,
      transport: "multicast",
      holdingVips: true,
      vips: [{ address: VIP, prefix: 24, dev: "eth0", excluded: false, held: true }],
      lastTransition: {
        from: "backup",
        to: "master",
        reason: "master-down-timer",
        detail: "no master heard",
        atMs: A_TAKEOVER,
      },
      counters: undefined,
    },
  );
  assert.deepStrictEqual(s.counters, { masterTransitions: 1, advertisementsSent: 2 });
  assert.equal(vi(b).counters.advertisementsReceived, 2);
  assert.equal(st.phase, "running");
  await w.stopAll();
});

Deno.test("an instance with no address to send from is refused up front", () => {
  const config = configFor({ name: "x", ip: "192.0.2.11", priority: 100 });
  const clock = new ManualClock();
  assert.throws(
    () =>
      new Daemon({
        config,
        primaryAddresses: new Map([["eth1", { ipv4: "192.0.2.11" }]]),
        clock,
        transports: new FakeLan().host("x", []),
        addresses: new FakeAddressPort(),
        announcer: new RecordingAnnouncer(clock),
        logger: new Logger({ sink: () => {} }),
      }),
    (e: unknown) =>
      e instanceof DaemonSetupError &&
      e.problems[0] ===
        "VI_1: no ipv4 address on eth0 to send adverts from (and no unicast_src_ip)",
  );
});

Deno.test("a transport that cannot open fails start() and leaves nothing open", async () => {
  const config = configFor({ name: "x", ip: "192.0.2.11", priority: 100 });
  const clock = new ManualClock();
  const port = new FakeAddressPort();
  const d = new Daemon({
    config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock,
    transports: {
      open: () => {
        throw new Error("eth0: ENODEV");
      },
    },
    addresses: port,
    announcer: new RecordingAnnouncer(clock),
    logger: new Logger({ sink: () => {} }),
  });
  await assert.rejects(d.start(), /ENODEV/);
  assert.equal(port.watcherCount(), 0);
  assert.equal(d.status().phase, "stopped");
  await d.stop();
});

Deno.test("real clock: a master stops well under a second after SIGTERM, leaving no timers", async () => {
  // v3 at 10 ms: master after ~33 ms. Deno's sanitizers fail this test on any leaked timer.
  const cfg = configFor({
    name: "rt",
    ip: "192.0.2.11",
    priority: 200,
    advertInt: 0.01,
    instance: "release_hold = 0",
  });
  const lan = new FakeLan();
  const port = new FakeAddressPort();
  const d = new Daemon({
    config: cfg,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock: systemClock,
    transports: lan.host("rt", ["192.0.2.11"]),
    addresses: port,
    announcer: new RecordingAnnouncer(systemClock),
    logger: new Logger({ sink: () => {} }),
  });
  await d.start();
  const deadline = performance.now() + 2000;
  while (d.status().instances[0].state !== "master" && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(d.status().instances[0].state, "master");
  assert.ok(port.has("eth0", VIP));
  const t0 = performance.now();
  await d.stop();
  const took = performance.now() - t0;
  assert.ok(took < 200, `stop took ${took} ms`);
  assert.ok(!port.has("eth0", VIP));
  assert.ok(lan.sent.some((p) => p.bytes[2] === 0), "no priority-0 advert");
  assert.equal(lan.openCount(), 0);
  assert.equal(port.watcherCount(), 0);
});

Deno.test("real clock: stopping a backup (timer armed for seconds) returns at once", async () => {
  const config = configFor({ name: "rt", ip: "192.0.2.11", priority: 100 });
  const d = new Daemon({
    config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock: systemClock,
    transports: new FakeLan().host("rt", ["192.0.2.11"]),
    addresses: new FakeAddressPort(),
    announcer: new RecordingAnnouncer(systemClock),
    logger: new Logger({ sink: () => {} }),
  });
  await d.start();
  const t0 = performance.now();
  await d.stop();
  assert.ok(performance.now() - t0 < 100);
  assert.equal(d.status().instances[0].state, "init");
});

Deno.test("link down on the master's interface: Fault with a priority-0 release, back when the link returns", async () => {
  const w = threeNodes();
  const [a, b] = w.hosts;
  w.invariant = backupsHoldNothing(w);
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  const opened = w.lan.openCount("a");

  a.port.link("eth0", false);
  await w.settle();
  assert.equal(vi(a).state, "fault");
  assert.equal(vi(a).lastTransition?.reason, "fault");
  assert.ok(!hasVip(a), "a faulted master must not keep the VIP");
  const zero = w.lan.sent.find((p) => p.host === "a" && p.bytes[2] === 0);
  assert.ok(zero, "no priority-0 release on link down");
  assert.ok(
    a.lines.some((l) => l.includes("VI_1: MASTER -> FAULT (fault: tracker link eth0)")),
    a.lines.join("\n"),
  );

  // B takes over after its Skew_Time, not a whole Master_Down_Interval.
  await w.run(5000 + 1 + (156 * 1000) / 256);
  assert.equal(vi(b).state, "master");

  a.port.link("eth0", true);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  assert.equal(vi(a).lastTransition?.reason, "fault-cleared");
  assert.equal(w.lan.openCount("a"), opened, "the transport was reopened, not leaked");
  // A (150) preempts B (100) again once its Master_Down_Interval has passed.
  await w.run(w.clock.nowMs() + 5000);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(b).state, "backup");
  await w.stopAll();
});

Deno.test("an interface already down at start puts its instance in Fault, never Master", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  a.port.link("eth0", false);
  await w.startAll();
  await w.run(10_000);
  assert.equal(vi(a).state, "fault");
  assert.ok(!hasVip(a));
  assert.ok(a.lines.some((l) => l.includes("eth0: link is down at start")));
  assert.deepStrictEqual(sentBy(w, "a"), []);
  await w.stopAll();
});
