/**
 * The daemon end to end over in-memory ports: several daemons on a fake LAN that
 * carries the real encoded bytes, on a manual clock, each with its own fake kernel
 * address table. Elections, handover on stop, VIP healing, the never-remove-foreign
 * rule, garbage on the wire, and a clean stop with nothing left running.
 */
import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import type { HookRun } from "../../lib/control/api.ts";
import { Daemon, DaemonSetupError, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import {
  type KernelAddress,
  type NotifyEvent,
  type NotifySink,
  systemClock,
} from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { HANDOVER_GRACE_MAX_MS } from "../../lib/vrrp/router.ts";
import { decodeAdvert, encodeAdvert } from "../../lib/vrrp/packet.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";
import { createRng } from "../../lib/sim/rng.ts";

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
  /** The whole config file instead of the one-instance default. */
  text?: string;
}

interface Host {
  name: string;
  ip: string;
  config: Config;
  daemon: Daemon;
  port: FakeAddressPort;
  announcer: RecordingAnnouncer;
  lines: string[];
  /** What the config file holds now: a reload reads this. */
  file: { text: string };
  notify: RecordingNotify;
}

/** A notify sink that records events; `throws` makes `notify` throw (a broken sink). */
class RecordingNotify implements NotifySink {
  readonly events: NotifyEvent[] = [];
  throws = false;
  runs: HookRun[] = [];
  notify(event: NotifyEvent): void {
    this.events.push(event);
    if (this.throws) throw new Error("sink broke");
  }
  recent(name: string): readonly HookRun[] {
    return this.runs.filter((r) => r.name === name);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Compact form: "INSTANCE VI_1 INIT>BACKUP startup". */
  shown(): string[] {
    return this.events.map((e) => `${e.target} ${e.name} ${e.previous}>${e.state} ${e.reason}`);
  }
}

function textFor(spec: HostSpec): string {
  return spec.text ?? `
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
}

function configFor(spec: HostSpec): Config {
  const r = parseConfig(textFor(spec), `${spec.name}.toml`);
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
    const file = { text: textFor(spec) };
    const notify = new RecordingNotify();
    const eth1 = spec.ip.replace(/^192\.0\.2\./, "198.51.100.");
    const daemon = new Daemon({
      config,
      primaryAddresses: new Map([["eth0", { ipv4: spec.ip }], ["eth1", { ipv4: eth1 }]]),
      clock,
      transports: this.lan.host(spec.name, [spec.ip, eth1]),
      addresses: port,
      announcer,
      logger,
      wallClock: () => new Date(WALL_EPOCH + clock.nowMs()),
      version: "9.9.9",
      notify,
      loadConfig: (f) => Promise.resolve(parseConfig(file.text, f)),
    });
    const host = {
      name: spec.name,
      ip: spec.ip,
      config,
      daemon,
      port,
      announcer,
      lines,
      file,
      notify,
    };
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
  // The priority-0 advert leaves at once: the parked daemon sends it in the stop call,
  // before any loop turn, and before the line that tells of it.
  const zero = w.lan.sent.find((p) => p.host === "a" && p.bytes[2] === 0);
  assert.ok(zero, "no priority-0 advert sent by the stop call");
  assert.equal(zero.atMs, 10_000);
  assert.ok(a.lines.at(-1)?.endsWith("VI_1: MASTER -> INIT (shutdown: stopped while master)"));
  await w.settle();

  // B hears it 1 ms later and waits Skew_Time = (256 - 100) / 256 * 1000 ms.
  const takeover = 10_001 + (156 * 1000) / 256;
  await w.run(takeover - 0.001);
  assert.equal(vi(b).state, "backup");
  assert.ok(hasVip(a), "A released before anyone took over");
  await w.run(takeover);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "priority-zero");
  assert.equal(vi(c).state, "backup");
  // A keeps the VIP through its release hold until it hears B, then one handover grace
  // more, so B's GARPs (sent right after its first advert) are out before A lets go.
  assert.ok(hasVip(a) && hasVip(b));
  await w.until(stopping);
  const released = takeover + 1 + HANDOVER_GRACE_MAX_MS;
  assert.equal(w.clock.nowMs(), released, "A released one handover grace after hearing B");
  const firstGarp = b.announcer.records.find((r) => r.atMs >= takeover);
  assert.ok(firstGarp && firstGarp.atMs < released, "B announced before A released");
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

/** Three nodes run to a steady state: a the master, b a backup (the takeover tests' start). */
async function steadyBackup(): Promise<{ w: World; a: Host; b: Host }> {
  const w = threeNodes();
  const [a, b] = w.hosts;
  await w.startAll();
  await w.run(6000);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(b).state, "backup");
  return { w, a, b };
}

Deno.test("the takeover warm-up readies a backup's GARPs and changes nothing: no packet, no address, no state", async () => {
  const { w, a, b } = await steadyBackup();
  const sent = w.lan.sent.filter((p) => p.host === b.name).length;
  const ops = b.port.ops.length;
  const events = b.notify.events.length;
  b.daemon.warmTakeover();
  await w.settle();
  assert.deepEqual(b.announcer.prepared, [`garp eth0 ${VIP}`]);
  assert.deepEqual(b.announcer.records, []);
  assert.equal(w.lan.sent.filter((p) => p.host === b.name).length, sent);
  assert.equal(b.port.ops.length, ops);
  assert.equal(vi(b).state, "backup");
  assert.equal(b.notify.events.length, events);
  // And the takeover it readied still happens when the master goes.
  await w.until(a.daemon.stop());
  await w.run(w.clock.nowMs() + 5000);
  assert.equal(vi(b).state, "master");
  assert.ok(hasVip(b));
  await w.stopAll();
});

Deno.test("a takeover by Master_Down_Timer sends its first advert before it logs the transition", async () => {
  const { w, a, b } = await steadyBackup();
  const advertsOfB = () => w.lan.sent.filter((p) => p.host === b.name).length;
  let sentWhenLogged = -1;
  const push = b.lines.push.bind(b.lines);
  b.lines.push = (...ls: string[]) => {
    if (ls.some((l) => l.includes("BACKUP -> MASTER"))) sentWhenLogged = advertsOfB();
    return push(...ls);
  };
  w.lan.setDown(a.name, true);
  await w.run(20_000);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "master-down-timer");
  assert.equal(sentWhenLogged, 1, "the advert was on the wire when the line was written");
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

/** Delivers `a` to host `to` from `src` with the sender MAC `mac`, at the current time. */
function injectFromMac(w: World, to: string, a: OutgoingAdvert, src: string, mac: string) {
  const packet = { bytes: wire(a, src), src, dst: GROUP, ttl: 255, srcMac: mac };
  assert.equal(w.lan.inject(to, "eth0", "ipv4", packet), 1);
}

const PEER_MAC = "02:00:00:00:00:99";
const FORGED_MAC = "02:66:66:66:66:66";

Deno.test("allowed_peers: a multicast advert from a source outside the list is refused, counted and reported", async () => {
  const w = new World();
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    instance: `allowed_peers = ["192.0.2.12"]`,
  });
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  for (let i = 0; i < 3; i++) injectAdvert(w, "a", advert(254), "192.0.2.66");
  await w.settle();
  const s = vi(a);
  assert.equal(s.state, "master", "a stranger's priority 254 moves nothing");
  assert.equal(s.counters.unicastPeerErrors, 3);
  assert.deepStrictEqual(s.foreignSenders.map((f) => [f.source, f.reasons, f.count]), [
    ["192.0.2.66", ["peer"], 3],
  ]);
  assert.equal(a.lines.filter((l) => l.includes("192.0.2.66 is not in allowed_peers")).length, 1);
  await w.stopAll();
});

Deno.test("pin_peer_mac: a pinned peer's address from another MAC is refused and reported; the peer's own MAC is heard", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150, instance: "pin_peer_mac = true" });
  await w.startAll();
  await w.run(5000);
  // The real peer (priority 200) is heard first: a follows it, and its MAC is pinned.
  injectFromMac(w, "a", advert(200), "192.0.2.99", PEER_MAC);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  // A forger claims the peer's address from its own MAC: refused whatever it says.
  await w.run(5500);
  injectFromMac(w, "a", advert(0), "192.0.2.99", FORGED_MAC);
  injectFromMac(w, "a", advert(254), "192.0.2.99", FORGED_MAC);
  await w.settle();
  let s = vi(a);
  assert.equal(s.counters.peerMacErrors, 2);
  assert.equal(s.counters.priorityZeroReceived, undefined, "the engine never saw the release");
  assert.deepStrictEqual(s.foreignSenders.map((f) => [f.source, f.differences]), [
    ["192.0.2.99", [`MAC ${FORGED_MAC} vs pinned ${PEER_MAC}`]],
  ]);
  assert.ok(
    a.lines.some((l) =>
      l.includes(`source 192.0.2.99 from MAC ${FORGED_MAC}, but that peer is pinned to ${PEER_MAC}`)
    ),
    a.lines.join("\n"),
  );
  // The forged release did not shorten the Master_Down_Timer: still backup 3 s later.
  await w.run(6000);
  injectFromMac(w, "a", advert(200), "192.0.2.99", PEER_MAC);
  await w.run(8000);
  s = vi(a);
  assert.equal(s.state, "backup");
  assert.equal(s.lastMaster?.ip, "192.0.2.99");
  await w.stopAll();
});

Deno.test("priority 0: a forged release from a source the backup does not follow moves nothing", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150 });
  await w.startAll();
  await w.run(5000);
  injectFromMac(w, "a", advert(200), "192.0.2.99", PEER_MAC);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  // From another address, and from the master's address with another MAC (no pinning).
  injectFromMac(w, "a", advert(0), "192.0.2.66", FORGED_MAC);
  injectFromMac(w, "a", advert(0), "192.0.2.99", FORGED_MAC);
  await w.settle();
  await w.run(5000 + 2000);
  const s = vi(a);
  assert.equal(s.state, "backup", "no fast takeover");
  assert.equal(s.counters.priorityZeroIgnored, 2);
  assert.ok(!hasVip(a, true));
  // The real master's release from its own MAC still gives the fast takeover.
  injectFromMac(w, "a", advert(0), "192.0.2.99", PEER_MAC);
  await w.run(7000 + 1000);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(a).lastTransition?.reason, "priority-zero");
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
      override: null,
      maintenance: false,
      trackers: [],
      foreignSenders: [],
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

// ---------------------------------------------------------------------------------
// Operator control: status fields, detail, demote/promote/resume, maintenance,
// notify events, reload, liveness.

interface MultiVi {
  vrid: number;
  vips: string[];
  priority?: number;
  iface?: string;
  extra?: string;
}

const MULTI: Record<string, MultiVi> = {
  VI_1: { vrid: 51, vips: [`${VIP}/24`, "192.0.2.102/24"] },
  VI_2: { vrid: 52, vips: ["192.0.2.110/24"] },
  VI_3: { vrid: 53, vips: ["192.0.2.120/24"] },
};

/** Three instances (or MULTI edited: null removes one), all at `priority` unless set. */
function multiText(
  priority: number,
  over: Record<string, Partial<MultiVi> | null> = {},
  tail = "",
): string {
  const all: Record<string, MultiVi> = {};
  for (const [name, vi] of Object.entries(MULTI)) {
    if (over[name] === null) continue;
    all[name] = { ...vi, ...over[name] };
  }
  for (const [name, vi] of Object.entries(over)) {
    if (!(name in MULTI) && vi !== null) all[name] = vi as MultiVi;
  }
  const parts = ["[global]\nvrrp_version = 3\n"];
  for (const [name, vi] of Object.entries(all)) {
    parts.push(`[vrrp_instance.${name}]
interface = "${vi.iface ?? "eth0"}"
virtual_router_id = ${vi.vrid}
priority = ${vi.priority ?? priority}
virtual_ipaddress = [${vi.vips.map((v) => `"${v}"`).join(", ")}]
${vi.extra ?? ""}
`);
  }
  parts.push(tail);
  return parts.join("\n");
}

/** v3 at 1 s: Master_Down_Interval of priority p. */
function mdi(p: number): number {
  return 3000 + ((256 - p) * 1000) / 256;
}

/** Adverts `host` sent for `vrid`, in order. */
function advertsOf(w: World, host: string, vrid: number) {
  return w.lan.sent.filter((p) => p.host === host && p.bytes[1] === vrid);
}

function addressesIn(p: { bytes: Uint8Array; src: string; dst: string }): string[] {
  const d = decodeAdvert(p.bytes, { family: "ipv4", src: p.src, dst: p.dst, ttl: 255 }, {
    checksumMode: "auto",
  });
  assert.ok(d.ok);
  return d.advert.addresses;
}

/** Asserts `times` are exactly `first`, `first + period`, ... */
function assertPeriodic(times: number[], first: number, period = 1000) {
  assert.ok(times.length > 0);
  assert.deepStrictEqual(times, times.map((_, i) => first + i * period));
}

/**
 * `times` are the periodic schedule from `first` plus one extra advert at each of
 * `extras`: a reload's, sent before it reads the file, leaving the schedule as it was.
 */
function assertPeriodicBut(times: number[], first: number, extras: number[]) {
  const rest = [...times];
  for (const x of extras) {
    const i = rest.indexOf(x);
    assert.ok(i >= 0, `no extra advert at ${x}: ${times}`);
    rest.splice(i, 1);
  }
  assertPeriodic(rest, first);
}

/** The status of instances that were Master through one reload: one advert more. */
function afterReloadAdvert(before: readonly InstanceStatus[]): InstanceStatus[] {
  return before.map((s) =>
    s.state !== "master" ? s : {
      ...s,
      counters: { ...s.counters, advertisementsSent: (s.counters.advertisementsSent ?? 0) + 1 },
    }
  );
}

/** Reloads `hosts` at the current instant: the clock must not move meanwhile. */
async function reloadNow(w: World, hosts: Host[]) {
  const t = w.clock.nowMs();
  let done = false;
  let out: Awaited<ReturnType<Daemon["reload"]>>[] = [];
  Promise.all(hosts.map((h) => h.daemon.reload())).then((r) => {
    out = r;
    done = true;
  });
  for (let i = 0; i < 50 && !done; i++) await w.settle();
  assert.ok(done, "the reload did not finish in the same instant");
  assert.equal(w.clock.nowMs(), t);
  return out;
}

function multiWorld(): { w: World; a: Host; b: Host } {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150, text: multiText(150) });
  const b = w.add({ name: "b", ip: "192.0.2.12", priority: 100, text: multiText(100) });
  return { w, a, b };
}

Deno.test("status: version, config file, start time and maintenance are reported", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  await w.startAll();
  const st = a.daemon.status();
  assert.equal(st.version, "9.9.9");
  assert.equal(st.configFile, "a.toml");
  assert.equal(st.startedAtWall, "2026-11-21T22:59:00.000Z");
  assert.equal(st.maintenance, false);
  assert.equal(st.instances[0].override, null);
  assert.equal(st.instances[0].maintenance, false);
  await w.stopAll();
});

Deno.test("detail: history with wall times, every counter (zeros too), override, hook runs", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  const run: HookRun = {
    hook: "notify_master",
    target: "INSTANCE",
    name: "VI_1",
    state: "MASTER",
    command: "/bin/true",
    startedAt: "2026-11-21T22:59:03.420Z",
    durationMs: 1,
    exitCode: 0,
    signal: null,
    timedOut: false,
    error: null,
  };
  a.notify.runs = [run, { ...run, name: "VI_9" }];
  await w.startAll();
  await w.run(5000);
  const d = a.daemon.detail("VI_1");
  assert.ok(d);
  assert.deepStrictEqual(d.summary, vi(a));
  assert.deepStrictEqual(d.history, [
    {
      from: "init",
      to: "backup",
      reason: "startup",
      detail: "initial state hint backup",
      atMs: 0,
      wallTime: "2026-11-21T22:59:00.000Z",
    },
    {
      from: "backup",
      to: "master",
      reason: "master-down-timer",
      detail: "no master heard",
      atMs: A_TAKEOVER,
      wallTime: "2026-11-21T22:59:03.414Z",
    },
  ]);
  assert.equal(d.counters.masterTransitions, 1);
  assert.equal(d.counters.advertisementsSent, 2);
  for (
    const zero of ["checksumErrors", "authFailures", "vipsRestored", "sendErrors", "vridErrors"]
  ) {
    assert.equal(d.counters[zero], 0, zero);
  }
  assert.equal(d.override, null);
  assert.deepStrictEqual(d.hooks, [run]);
  assert.equal(a.daemon.detail("VI_9"), null);
  assert.deepStrictEqual(JSON.parse(JSON.stringify(d)), d);
  await w.stopAll();
});

Deno.test("demote the master: its next advert carries priority 1; the preempting backup takes over one MDI after the last priority-150 advert", async () => {
  const w = threeNodes();
  const [a, b, c] = w.hosts;
  w.invariant = backupsHoldNothing(w);
  await w.startAll();
  await w.run(10_000);
  const r = a.daemon.demote("VI_1");
  assert.deepStrictEqual(r, {
    ok: true,
    message:
      "VI_1: priority 150 -> 1 until resume; a peer with preempt and a higher priority takes over within its Master_Down_Interval",
  });
  await w.settle();
  assert.deepStrictEqual(vi(a).priority, { base: 150, effective: 1 });
  assert.deepStrictEqual(vi(a).override, { kind: "demote", priority: 1 });
  assert.deepStrictEqual(a.daemon.detail("VI_1")?.override, { kind: "demote", priority: 1 });
  // No extra packet: RFC 5798 has no "priority changed" message. The next regular
  // advert (10 414.06) says 1; B and C (preempt on) discard it as lower than their own.
  const lastHigh = A_TAKEOVER + 6000; // 9414.0625, heard by B 1 ms later
  // B's Master_Down_Timer, last reset by that advert, runs out: B preempts. That is at
  // most one Master_Down_Interval (3609.375 ms for B) after the demote.
  const takeover = lastHigh + 1 + mdi(100);
  assert.ok(takeover - 10_000 <= mdi(100));
  await w.run(takeover - 0.001);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(b).state, "backup");
  assert.deepStrictEqual(sentBy(w, "a").filter(([t]) => t > 10_000), [
    [lastHigh + 1000, 1],
    [lastHigh + 2000, 1],
    [lastHigh + 3000, 1],
  ]);
  await w.run(takeover);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "preempt");
  assert.equal(vi(b).lastTransition?.detail, "lower-priority master 192.0.2.11 priority 1");
  // A hears B's 100 > 1 and steps down; C (50) follows B.
  await w.run(takeover + 1);
  assert.equal(vi(a).state, "backup");
  assert.equal(vi(a).lastTransition?.reason, "higher-priority");
  assert.equal(vi(c).state, "backup");

  // Resume: 150 again. As a Backup A now discards B's 100 adverts; its timer, last
  // reset by B's advert before the resume, keeps the length it had at priority 1.
  await w.run(15_500);
  assert.deepStrictEqual(a.daemon.resume("VI_1"), {
    ok: true,
    message: "VI_1: override cleared; priority 1 -> 150",
  });
  await w.settle();
  assert.deepStrictEqual(vi(a).priority, { base: 150, effective: 150 });
  assert.equal(vi(a).override, null);
  // B answered A's parting advert (priority 1, heard at takeover + 2) at once, which
  // moved its advert phase by 2 ms: its advert at 15 026.44 is heard at 15 027.44.
  const lastAccepted = takeover + 2 + 2000 + 1;
  await w.run(lastAccepted + mdi(1));
  assert.equal(vi(a).state, "master");
  assert.equal(vi(a).lastTransition?.reason, "preempt");
  assert.equal(vi(a).lastTransition?.atMs, lastAccepted + mdi(1));
  await w.run(lastAccepted + mdi(1) + 1);
  assert.equal(vi(b).state, "backup");
  await w.stopAll();
});

Deno.test("promote a backup: it discards the lower master's adverts and takes over when its timer, armed before the promote, runs out", async () => {
  const w = threeNodes();
  const [a, b] = w.hosts;
  await w.startAll();
  await w.run(10_000);
  const r = b.daemon.promote("VI_1");
  assert.ok(r.ok);
  await w.settle();
  assert.deepStrictEqual(vi(b).priority, { base: 100, effective: 254 });
  assert.deepStrictEqual(vi(b).override, { kind: "promote", priority: 254 });
  // A's advert at 9414.06 (heard 9415.06) armed B's timer with B's old MDI; the next
  // ones (150 < 254) are discarded, so B preempts when that timer runs out.
  const takeover = A_TAKEOVER + 6000 + 1 + mdi(100);
  await w.run(takeover - 0.001);
  assert.equal(vi(b).state, "backup");
  await w.run(takeover);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "preempt");
  await w.run(takeover + 1);
  assert.equal(vi(a).state, "backup");
  assert.deepStrictEqual(sentBy(w, "b")[0], [takeover, 254]);
  await w.stopAll();
});

Deno.test("operator verbs: clear refusals, nothing changed", async () => {
  const w = new World();
  const owner = w.add({
    name: "o",
    ip: "192.0.2.11",
    priority: 255,
    instance: `unicast_src_ip = "${VIP}"`,
  });
  const plain = w.add({ name: "p", ip: "192.0.2.12", priority: 100 });
  assert.deepStrictEqual(plain.daemon.demote("VI_1"), {
    ok: false,
    error: "the daemon is not started",
  });
  await w.startAll();
  assert.deepStrictEqual(plain.daemon.demote("VI_9"), {
    ok: false,
    error: 'no instance "VI_9"; instances: VI_1',
  });
  assert.deepStrictEqual(plain.daemon.resume("nope"), {
    ok: false,
    error: 'no instance "nope"; instances: VI_1',
  });
  assert.deepStrictEqual(owner.daemon.demote("VI_1"), {
    ok: false,
    error: "VI_1 is the address owner (priority 255): its priority never changes",
  });
  for (const bad of [0, 255, 1.5, NaN]) {
    const r = plain.daemon.promote("VI_1", bad);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.startsWith("priority must be an integer from 1 to 254, got "));
  }
  assert.deepStrictEqual(plain.daemon.demote("VI_1", 120), {
    ok: false,
    error: "cannot demote VI_1 to 120: not below its priority 100 (promote raises it)",
  });
  assert.deepStrictEqual(plain.daemon.promote("VI_1", 100), {
    ok: false,
    error: "cannot promote VI_1 to 100: not above its priority 100 (demote lowers it)",
  });
  assert.deepStrictEqual(plain.daemon.resume("VI_1"), {
    ok: true,
    message: "VI_1: no override; priority stays 100",
  });
  await w.settle();
  assert.deepStrictEqual(vi(plain).priority, { base: 100, effective: 100 });
  assert.equal(vi(plain).override, null);
  await w.stopAll();
  assert.deepStrictEqual(plain.daemon.maintenance(true), {
    ok: false,
    error: "the daemon is stopped",
  });
});

Deno.test("maintenance on the master: priority 0, VIP kept until the peer speaks, never takes over until off", async () => {
  const w = threeNodes();
  const [a, b, c] = w.hosts;
  w.invariant = backupsHoldNothing(w);
  await w.startAll();
  await w.run(10_000);
  assert.deepStrictEqual(a.daemon.maintenance(true), {
    ok: true,
    message: "maintenance on: every instance stays backup; releasing VI_1 (priority 0)",
  });
  await w.settle();
  assert.equal(vi(a).state, "backup");
  assert.equal(vi(a).lastTransition?.reason, "maintenance");
  assert.equal(vi(a).maintenance, true);
  assert.equal(a.daemon.status().maintenance, true);
  assert.deepStrictEqual(sentBy(w, "a").at(-1), [10_000, 0]);
  assert.ok(hasVip(a), "released before anyone took over");
  // B takes over after its Skew_Time; A lets the VIP go one handover grace after it
  // hears B.
  const takeover = 10_001 + (156 * 1000) / 256;
  await w.run(takeover);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(b).lastTransition?.reason, "priority-zero");
  await w.run(takeover + 1);
  assert.ok(hasVip(a), "kept through the handover grace");
  await w.run(takeover + 1 + HANDOVER_GRACE_MAX_MS);
  assert.ok(!hasVip(a));
  // A (150, preempt) hears B (100) for 30 s and never preempts.
  await w.run(40_000);
  assert.equal(vi(a).state, "backup");
  assert.deepStrictEqual(sentBy(w, "a").filter(([t]) => t > 10_000), []);
  assert.equal(vi(c).state, "backup");
  assert.deepStrictEqual(a.daemon.maintenance(true), {
    ok: true,
    message: "maintenance is already on",
  });

  // Off: a fresh Master_Down_Timer; B's lower adverts are discarded, so A preempts.
  assert.ok(a.daemon.maintenance(false).ok);
  await w.settle();
  assert.equal(vi(a).maintenance, false);
  assert.equal(a.daemon.status().maintenance, false);
  await w.run(40_000 + A_TAKEOVER);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(a).lastTransition?.reason, "preempt");
  assert.equal(vi(a).lastTransition?.atMs, 40_000 + A_TAKEOVER);
  await w.stopAll();
});

Deno.test("maintenance on a backup: it does not take over on the master's priority 0; the next backup does", async () => {
  const w = threeNodes();
  const [a, b, c] = w.hosts;
  await w.startAll();
  await w.run(5000);
  assert.ok(b.daemon.maintenance(true).ok);
  await w.settle();
  assert.equal(vi(b).state, "backup");
  await w.until(a.daemon.stop());
  await w.run(20_000);
  assert.equal(vi(b).state, "backup");
  assert.equal(vi(c).state, "master");
  assert.equal(vi(c).lastTransition?.reason, "priority-zero");
  assert.ok(!hasVip(b));
  await w.stopAll();
});

Deno.test("notify: a new master's hooks are told once its VIP is in place and its first advert out", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  const seen: string[] = [];
  const tell = a.notify.notify.bind(a.notify);
  a.notify.notify = (e) => {
    const sent = w.lan.sent.filter((p) => p.host === "a").length;
    seen.push(`${e.state} vip=${hasVip(a)} adverts=${sent}`);
    tell(e);
  };
  await w.startAll();
  await w.run(5000);
  assert.deepStrictEqual(seen.slice(0, 2), [
    "BACKUP vip=false adverts=0",
    "MASTER vip=true adverts=1",
  ]);
  await w.stopAll();
});

Deno.test("notify: every transition, INIT->BACKUP at startup included, STOP on stop; a throwing sink is contained", async () => {
  const w = threeNodes();
  const [a, b] = w.hosts;
  b.notify.throws = true;
  await w.startAll();
  await w.run(5000);
  assert.deepStrictEqual(a.notify.shown(), [
    "INSTANCE VI_1 INIT>BACKUP startup",
    "INSTANCE VI_1 BACKUP>MASTER master-down-timer",
  ]);
  const [start, master] = a.notify.events;
  assert.equal(start.masterIp, null);
  assert.equal(master.masterIp, a.ip);
  assert.equal(master.priority, 150);
  assert.equal(master.detail, "no master heard");
  assert.equal(master.at.toISOString(), "2026-11-21T22:59:03.414Z");
  assert.deepStrictEqual(master.hooks, a.config.instances[0].notify);
  // B's sink throws on every event: counted and logged, never fatal.
  assert.equal(b.daemon.status().counters.notifyErrors, 1);
  assert.ok(b.lines.some((l) => l.includes("notify VI_1 BACKUP: sink broke")));
  assert.equal(b.daemon.status().phase, "running");

  await w.until(a.daemon.stop());
  assert.deepStrictEqual(a.notify.shown().slice(2), ["INSTANCE VI_1 MASTER>STOP shutdown"]);
  // B took over from A's release: told with the master it replaced gone.
  b.notify.throws = false;
  await w.run(10_000);
  await w.stopAll();
  assert.deepStrictEqual(b.notify.shown().slice(-2), [
    "INSTANCE VI_1 BACKUP>MASTER priority-zero",
    "INSTANCE VI_1 MASTER>STOP shutdown",
  ]);
});

Deno.test("notify: a sync group is told once per change of the group as a whole", async () => {
  const w = new World();
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    text: multiText(
      150,
      { VI_3: null },
      `[vrrp_sync_group.g]\ngroup = ["VI_1", "VI_2"]\nnotify_master = "/etc/hacore/g-master"\n`,
    ),
  });
  await w.startAll();
  await w.run(5000);
  await w.until(a.daemon.stop());
  assert.deepStrictEqual(a.notify.shown().filter((l) => l.startsWith("GROUP")), [
    "GROUP g INIT>BACKUP startup",
    "GROUP g BACKUP>MASTER master-down-timer",
    "GROUP g MASTER>STOP shutdown",
  ]);
  const master = a.notify.events.find((e) => e.target === "GROUP" && e.state === "MASTER");
  assert.equal(master?.hooks.master, "/etc/hacore/g-master");
  assert.match(master?.detail ?? "", /^VI_\d: /);
  // Both members were told individually too.
  assert.equal(a.notify.shown().filter((l) => l.includes("BACKUP>MASTER")).length, 3);
  await w.stopAll();
});

Deno.test("reload: one instance changes (VIP added, VIP removed, priority); the others keep state, VIPs and exact advert timing", async () => {
  const { w, a, b } = multiWorld();
  w.invariant = () => {
    for (const h of w.hosts) {
      for (const s of h.daemon.status().instances) {
        if (s.state !== "master" && !s.holdingVips) {
          for (const v of s.vips) {
            assert.ok(!h.port.has(v.dev, v.address), `${h.name} ${v.address}`);
          }
        }
      }
    }
  };
  await w.startAll();
  await w.run(10_500);
  const st = (h: Host) => h.daemon.status().instances;
  assert.deepStrictEqual(st(a).map((i) => i.state), ["master", "master", "master"]);
  assert.deepStrictEqual(st(b).map((i) => i.state), ["backup", "backup", "backup"]);
  const beforeA = st(a);
  const beforeB = st(b);
  const opsBefore = a.port.ops.length;
  const annBefore = a.announcer.records.length;

  const newVips = [`${VIP}/24`, "192.0.2.101/24"];
  a.file.text = multiText(150, { VI_1: { priority: 160, vips: newVips } });
  b.file.text = multiText(100, { VI_1: { vips: newVips } });
  const [ra, rb] = await reloadNow(w, [a, b]);
  assert.deepStrictEqual(ra, {
    ok: true,
    errors: [],
    changes: [
      "VI_1: added 192.0.2.101/24",
      "VI_1: removed 192.0.2.102/24",
      "VI_1: priority 150 -> 160",
    ],
  });
  assert.deepStrictEqual(rb.changes, [
    "VI_1: added 192.0.2.101/24",
    "VI_1: removed 192.0.2.102/24",
  ]);

  // At once: VI_1 is still Master (no transition), with the new priority and VIPs.
  const afterA = st(a);
  assert.equal(afterA[0].state, "master");
  assert.deepStrictEqual(afterA[0].lastTransition, beforeA[0].lastTransition);
  assert.deepStrictEqual(afterA[0].priority, { base: 160, effective: 160 });
  assert.deepStrictEqual(afterA[0].vips.map((v) => `${v.address} ${v.held}`), [
    `${VIP} true`,
    "192.0.2.101 true",
  ]);
  assert.ok(a.port.has("eth0", "192.0.2.101", 24, true));
  assert.ok(!a.port.has("eth0", "192.0.2.102"));
  // VI_2 and VI_3 did not notice (but for the reload's extra advert); nor did any of B's.
  assert.deepStrictEqual(afterA.slice(1), afterReloadAdvert(beforeA.slice(1)));
  assert.deepStrictEqual(st(b).slice(1), beforeB.slice(1));
  assert.equal(st(b)[0].state, "backup");
  // The new VIP is announced (the whole instance's burst, as on a takeover).
  assert.deepStrictEqual(
    a.announcer.records.slice(annBefore).filter((r) => r.atMs === 10_500).map((r) => r.address)
      .sort(),
    [...new Array(5).fill(VIP), ...new Array(5).fill("192.0.2.101")],
  );

  await w.run(20_000);
  // The kernel saw exactly two changes: untouched VIPs were never removed, not even briefly.
  assert.deepStrictEqual(
    a.port.ops.slice(opsBefore).map((o) => `${o.by} ${o.op} ${o.address}`),
    ["hacore remove 192.0.2.102", "hacore add 192.0.2.101"],
  );
  assert.deepStrictEqual(b.port.ops.filter((o) => o.by === "hacore"), []);
  // Every instance's adverts stayed exactly periodic across the reload, which sent one
  // extra advert before reading the file (the Backups' timers restart: a slow parse has
  // a whole Master_Down_Interval).
  for (const vrid of [51, 52, 53]) {
    assertPeriodicBut(advertsOf(w, "a", vrid).map((p) => p.atMs), A_TAKEOVER, [10_500]);
  }
  // VI_1's adverts after the reload carry the new priority and address list.
  const next = advertsOf(w, "a", 51).find((p) => p.atMs > 10_500)!;
  assert.equal(next.bytes[2], 160);
  assert.deepStrictEqual(addressesIn(next), [VIP, "192.0.2.101"]);
  assert.equal(advertsOf(w, "a", 51).find((p) => p.atMs < 10_500)!.bytes[2], 150);
  // B followed throughout: nothing refused, still Backup everywhere.
  assert.deepStrictEqual(st(b).map((i) => i.state), ["backup", "backup", "backup"]);
  // At most A's extra advert, sent before A applied its reload (old address list) and
  // heard after B applied its own, is counted; nothing else was refused.
  assert.ok((st(b)[0].counters.addressListErrors ?? 0) <= 1);
  assert.deepStrictEqual(st(a).map((i) => i.state), ["master", "master", "master"]);
  assert.ok(a.lines.some((l) => l.endsWith("notice reload: VI_1: priority 150 -> 160")));
  assert.ok(a.lines.some((l) => l.endsWith("notice reload: a.toml: 3 changes applied")));
  assert.ok(
    a.lines.some((l) =>
      l.endsWith("VI_1: removed 192.0.2.102/24 dev eth0 (no longer in the config)")
    ),
  );
  assert.ok(a.lines.some((l) => l.endsWith("VI_1: added 192.0.2.101/24 dev eth0")));
  await w.stopAll();
});

Deno.test("reload: every Master sends an extra advert before the file is read, so a slow parse has a whole Master_Down_Interval", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(10_500);
  const sent = () => [51, 52, 53].map((vrid) => advertsOf(w, "a", vrid).length);
  const before = sent();
  const text = a.file.text;
  let atRead: number[] = [];
  Object.defineProperty(a.file, "text", {
    get: () => {
      atRead = sent();
      return text;
    },
  });
  const [r] = await reloadNow(w, [a]);
  assert.deepStrictEqual(r, { ok: true, errors: [], changes: [] });
  assert.deepStrictEqual(atRead, before.map((n) => n + 1));
  await w.stopAll();
});

Deno.test("reload: an invalid file (or one that cannot run here) changes nothing", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(10_500);
  const before = a.daemon.status();
  const ops = a.port.ops.length;
  const open = w.lan.openCount("a");

  a.file.text = multiText(150, { VI_1: { priority: 160 } }).replace(
    "virtual_router_id = 52",
    "virtual_router_id = 0",
  );
  const [bad] = await reloadNow(w, [a]);
  assert.equal(bad.ok, false);
  assert.deepStrictEqual(bad.changes, []);
  assert.equal(bad.errors.length, 1);
  assert.match(bad.errors[0], /^a\.toml:\d+: vrrp_instance\.VI_2\.virtual_router_id: /);
  assert.ok(a.lines.some((l) => l.endsWith("reload: 1 error(s) in a.toml; nothing changed")));

  // Valid, but an added instance has no address to send from on its interface.
  a.file.text = multiText(150, {
    VI_1: { priority: 160 },
    VI_7: { vrid: 57, iface: "eth7", vips: ["203.0.113.7/24"] },
  });
  const [cannot] = await reloadNow(w, [a]);
  assert.deepStrictEqual(cannot, {
    ok: false,
    errors: ["VI_7: no ipv4 address on eth7 to send adverts from (and no unicast_src_ip)"],
    changes: [],
  });
  // Nothing changed but the two reloads' extra adverts and the loop turns the refused
  // reloads took; the process's memory is a live reading, not state a reload could keep.
  const { process: _now, ...after } = a.daemon.status();
  const { process: _then, ...was } = before;
  const twice = { ...was, instances: afterReloadAdvert(afterReloadAdvert(was.instances)) };
  assert.deepStrictEqual({ ...after, loopTurns: 0 }, { ...twice, loopTurns: 0 });
  assert.equal(a.port.ops.length, ops);
  assert.equal(w.lan.openCount("a"), open);
  await w.run(20_000);
  for (const vrid of [51, 52, 53]) {
    assertPeriodicBut(advertsOf(w, "a", vrid).map((p) => p.atMs), A_TAKEOVER, [10_500, 10_500]);
    assert.ok(advertsOf(w, "a", vrid).every((p) => p.bytes[2] === 150));
  }
  await w.stopAll();
});

Deno.test("reload: a removed master sends priority 0 and its VIPs go once the peer speaks; an added instance starts", async () => {
  const { w, a, b } = multiWorld();
  await w.startAll();
  await w.run(10_500);
  a.file.text = multiText(150, { VI_3: null, VI_4: { vrid: 54, vips: ["192.0.2.130/24"] } });
  const [r] = await reloadNow(w, [a]);
  assert.deepStrictEqual(r.changes, [
    "VI_3: removed (released with priority 0 if master)",
    "VI_4: added: eth0 vrid 54 v3 ipv4 prio 150 adv 1s preempt, 1 VIP (192.0.2.130/24), multicast",
  ]);
  assert.deepStrictEqual(a.daemon.status().instances.map((i) => `${i.name} ${i.state}`), [
    "VI_1 master",
    "VI_2 master",
    "VI_4 backup",
  ]);
  assert.equal(a.daemon.detail("VI_3"), null);
  // VI_3 released with priority 0 at once, and keeps its VIP through the release hold.
  assert.deepStrictEqual(advertsOf(w, "a", 53).at(-1)?.atMs, 10_500);
  assert.equal(advertsOf(w, "a", 53).at(-1)?.bytes[2], 0);
  assert.ok(a.port.has("eth0", "192.0.2.120"));
  assert.deepStrictEqual(
    a.notify.shown().filter((l) => l.includes("VI_3") || l.includes("VI_4")).slice(-2),
    [
      "INSTANCE VI_3 MASTER>STOP shutdown",
      "INSTANCE VI_4 INIT>BACKUP startup",
    ],
  );
  // B's VI_3 takes over after its Skew_Time; A drops the VIP one handover grace after
  // it hears B.
  const takeover = 10_501 + (156 * 1000) / 256;
  await w.run(takeover);
  assert.equal(b.daemon.status().instances[2].state, "master");
  assert.ok(a.port.has("eth0", "192.0.2.120"));
  await w.run(takeover + 1);
  assert.ok(a.port.has("eth0", "192.0.2.120"), "kept through the handover grace");
  await w.run(takeover + 1 + HANDOVER_GRACE_MAX_MS);
  assert.ok(!a.port.has("eth0", "192.0.2.120"));
  assert.ok(a.lines.some((l) => l.endsWith("VI_3 (removed): removed 192.0.2.120/24 dev eth0")));
  assert.equal(w.lan.openCount("a"), 1, "the shared transport stays open");
  // VI_4: nobody else serves VRID 54, so A takes over after its Master_Down_Interval.
  await w.run(10_500 + A_TAKEOVER);
  assert.equal(a.daemon.status().instances[2].state, "master");
  assert.ok(a.port.has("eth0", "192.0.2.130", 24, true));
  // The untouched instances never noticed (but for the reload's extra advert).
  await w.run(20_000);
  for (const vrid of [51, 52]) {
    assertPeriodicBut(advertsOf(w, "a", vrid).map((p) => p.atMs), A_TAKEOVER, [10_500]);
  }
  assert.ok(!a.lines.some((l) => l.includes("conflict")));
  await w.stopAll();
});

Deno.test("reload: a new interface opens its transport, and the last instance on it closes it", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(5000);
  assert.equal(w.lan.openCount("a"), 1);
  a.file.text = multiText(150, { VI_9: { vrid: 9, iface: "eth1", vips: ["198.51.100.100/24"] } });
  assert.ok((await reloadNow(w, [a]))[0].ok);
  assert.equal(w.lan.openCount("a"), 2);
  await w.run(5000 + A_TAKEOVER);
  assert.equal(a.daemon.status().instances[3].state, "master");
  assert.ok(a.port.has("eth1", "198.51.100.100", 24, true));
  assert.equal(advertsOf(w, "a", 9).at(-1)?.interface, "eth1");

  await w.run(10_000);
  a.file.text = multiText(150);
  assert.deepStrictEqual((await reloadNow(w, [a]))[0].changes, [
    "VI_9: removed (released with priority 0 if master)",
  ]);
  // Nobody answers on eth1: the VIP goes after the release hold (skew + one interval).
  await w.run(10_000 + (106 * 1000) / 256 + 1000);
  assert.ok(!a.port.has("eth1", "198.51.100.100"));
  assert.equal(w.lan.openCount("a"), 1);
  await w.stopAll();
});

Deno.test("reload: an instance added on a link that is down starts in Fault; a reload that starts none reads no link state", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(5000);
  a.port.link("eth1", false);
  await w.settle();
  const reads = a.port.linkStateReads;
  a.file.text = multiText(150, { VI_9: { vrid: 9, iface: "eth1", vips: ["198.51.100.100/24"] } });
  assert.ok((await reloadNow(w, [a]))[0].ok);
  assert.equal(a.port.linkStateReads, reads + 1);
  assert.equal(a.daemon.status().instances[3].state, "fault");
  assert.ok(a.lines.some((l) => l.includes("eth1: link is down")), a.lines.join("\n"));
  await w.run(5000 + A_TAKEOVER);
  assert.equal(a.daemon.status().instances[3].state, "fault", "took over on a dead link");

  // A priority changed in place: nothing starts, and no netlink round trip is made.
  a.file.text = multiText(140, { VI_9: { vrid: 9, iface: "eth1", vips: ["198.51.100.100/24"] } });
  const [r] = await reloadNow(w, [a]);
  assert.ok(r.ok && r.changes.length > 0, JSON.stringify(r));
  assert.equal(a.port.linkStateReads, reads + 1);
  await w.stopAll();
});

Deno.test("reload: a new VRID replaces the instance (release, then a fresh start); settings change in place", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(10_500);
  a.file.text = multiText(150, {
    VI_2: { vrid: 62 },
    VI_3: { extra: "advert_int = 2\nnopreempt = true" },
  });
  const [r] = await reloadNow(w, [a]);
  assert.deepStrictEqual(r.changes, [
    "VI_2: replaced (virtual_router_id 52 -> 62): released and started again",
    "VI_3: advert_int 1s -> 2s",
    "VI_3: preempt on -> off (nopreempt)",
  ]);
  assert.deepStrictEqual(advertsOf(w, "a", 52).at(-1)?.bytes[2], 0);
  const vi2 = a.daemon.status().instances[1];
  assert.equal(vi2.vrid, 62);
  assert.equal(vi2.state, "backup");
  // VI_3: same state, the advert already planned goes out, then every 2 s.
  const vi3 = a.daemon.status().instances[2];
  assert.equal(vi3.state, "master");
  assert.equal(vi3.advertIntervalMs, 2000);
  await w.run(20_000);
  const times = advertsOf(w, "a", 53).map((p) => p.atMs).filter((t) => t > 10_500);
  assertPeriodic(times, A_TAKEOVER + 8000, 2000);
  assert.equal(a.daemon.status().instances[2].lastTransition?.to, "master");
  assert.equal(a.daemon.status().instances[2].sinceMs, A_TAKEOVER);
  // The replacement takes over VRID 62 after its own Master_Down_Interval.
  assert.equal(a.daemon.status().instances[1].state, "master");
  assert.equal(a.daemon.status().instances[1].lastTransition?.atMs, 10_500 + A_TAKEOVER);
  await w.stopAll();
});

Deno.test("reload: refused while not running; a reload with no changes says so", async () => {
  const { w, a } = multiWorld();
  assert.deepStrictEqual(await a.daemon.reload(), {
    ok: false,
    errors: ["the daemon is not started"],
    changes: [],
  });
  await w.startAll();
  assert.deepStrictEqual((await reloadNow(w, [a]))[0], { ok: true, errors: [], changes: [] });
  assert.ok(a.lines.some((l) => l.endsWith("reload: a.toml: no changes")));
  await w.stopAll();
});

Deno.test("isLive: true while the loop turns or waits on time, false before start, when stalled, and after stop", async () => {
  const w = threeNodes();
  const [a] = w.hosts;
  assert.equal(a.daemon.isLive(), false);
  await w.startAll();
  assert.equal(a.daemon.isLive(), true);
  await w.run(10_000);
  assert.equal(a.daemon.isLive(), true);
  // The clock moves on while no timer fires: the loop's deadline is overdue by far more
  // than max(2 s, 3 × 1 s), as if the loop were stuck.
  const due = w.clock.nextTimerMs()!;
  w.clock.setNow(due + 3000);
  assert.equal(a.daemon.isLive(), true, "3 s overdue is within the 3-interval allowance");
  w.clock.setNow(due + 3001);
  assert.equal(a.daemon.isLive(), false);
  await w.run(due + 4000);
  assert.equal(a.daemon.isLive(), true);
  await w.stopAll();
  assert.equal(a.daemon.isLive(), false);
});

Deno.test("maintenance: an instance a reload adds meanwhile starts in maintenance too", async () => {
  const { w, a } = multiWorld();
  await w.startAll();
  await w.run(5000);
  assert.ok(a.daemon.maintenance(true).ok);
  await w.settle();
  a.file.text = multiText(150, { VI_4: { vrid: 54, vips: ["192.0.2.130/24"] } });
  assert.ok((await reloadNow(w, [a]))[0].ok);
  await w.run(30_000);
  const vi4 = a.daemon.status().instances[3];
  assert.equal(vi4.name, "VI_4");
  assert.equal(vi4.maintenance, true);
  assert.equal(vi4.state, "backup");
  assert.deepStrictEqual(advertsOf(w, "a", 54), []);
  assert.ok(!a.port.has("eth0", "192.0.2.130"));
  await w.stopAll();
});

// ---------------------------------------------------------------------------------------
// Split-brain guards: foreign senders and the dual-master re-announce

/** Delivers `a` to host `to` as if 192.0.2.99 (or `src`) sent it, at the current time. */
function injectAdvert(w: World, to: string, a: OutgoingAdvert, src = "192.0.2.99") {
  assert.equal(
    w.lan.inject(to, "eth0", "ipv4", { bytes: wire(a, src), src, dst: GROUP, ttl: 255 }),
    1,
  );
}

Deno.test("foreign sender: another VIP set on our VRID shows in status, warns once, counts, and resolves after 10 s of quiet", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150 });
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  const other = advert(200, { addresses: [VIP, "192.0.2.101"] });
  for (const t of [5000, 6000, 7000]) {
    await w.run(t);
    injectAdvert(w, "a", other);
  }
  await w.settle();
  const s = vi(a);
  // RFC 5798 §7.1: dropped (and counted as before), so the higher priority moves nothing.
  assert.equal(s.state, "master");
  assert.ok(hasVip(a, true));
  assert.equal(s.counters.addressListErrors, 3);
  assert.equal(s.counters.foreignAdverts, 3);
  assert.deepStrictEqual(s.foreignSenders, [{
    source: "192.0.2.99",
    reasons: ["addresses"],
    differences: [`VIPs ${VIP},192.0.2.101 vs ours ${VIP}`],
    priority: 200,
    intervalMs: 1000,
    count: 3,
    firstSeenMs: 5000,
    lastSeenMs: 7000,
    firstSeenAgoMs: 2000,
    lastSeenAgoMs: 0,
    firstSeen: "2026-11-21T22:59:05.000Z",
    lastSeen: "2026-11-21T22:59:07.000Z",
  }]);
  const warns = a.lines.filter((l) => l.includes("foreign sender 192.0.2.99"));
  assert.deepStrictEqual(warns, [
    "2026-11-21T22:59:05.000Z warn VI_1: foreign sender 192.0.2.99 advertises VRID 51 on eth0 " +
    `with other settings: VIPs ${VIP},192.0.2.101 vs ours ${VIP} (priority 200); split-brain risk`,
  ]);
  assert.equal(a.daemon.detail("VI_1")?.counters.reannouncements, 0);

  // Quiet for max(3 × 1 s, 10 s): listed until then, resolved (one info line) at 17 s.
  await w.run(16_999);
  assert.equal(vi(a).foreignSenders.length, 1);
  await w.run(17_000);
  assert.deepStrictEqual(vi(a).foreignSenders, []);
  assert.equal(vi(a).counters.foreignAdverts, 3, "the counter stays");
  assert.deepStrictEqual(a.lines.filter((l) => l.includes("foreign sender 192.0.2.99")).slice(1), [
    "2026-11-21T22:59:17.000Z info VI_1: foreign sender 192.0.2.99 resolved: silent for 10.0 s " +
    "(3 conflicting adverts since 2026-11-21T22:59:05.000Z)",
  ]);
  assert.equal(vi(a).state, "master");
  await w.stopAll();
});

Deno.test("foreign sender: a v3 master with another interval is followed (RFC 5798 §6.4.2) and reported until it agrees", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150 });
  await w.startAll();
  await w.run(5000);
  injectAdvert(w, "a", advert(200, { intervalMs: 2000 }));
  await w.settle();
  let s = vi(a);
  // Not dropped: a higher-priority v3 master with its own interval is a legitimate master.
  assert.equal(s.state, "backup");
  assert.equal(s.masterAdvertIntervalMs, 2000);
  assert.equal(s.counters.advertiseIntervalErrors, undefined);
  assert.deepStrictEqual(s.foreignSenders.map((f) => [f.source, f.reasons, f.differences]), [
    ["192.0.2.99", ["interval"], ["interval 2000 ms vs ours 1000 ms"]],
  ]);
  // The same master now advertises our interval: resolved at once.
  await w.run(6000);
  injectAdvert(w, "a", advert(200));
  await w.settle();
  s = vi(a);
  assert.deepStrictEqual(s.foreignSenders, []);
  assert.ok(
    a.lines.some((l) =>
      l.endsWith(
        "info VI_1: foreign sender 192.0.2.99 resolved: its adverts agree with ours now " +
          "(1 conflicting advert since 2026-11-21T22:59:05.000Z)",
      )
    ),
    a.lines.join("\n"),
  );
  await w.stopAll();
});

Deno.test("foreign sender: 1,000 alternating adverts make a handful of lines, the counters count them all", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150 });
  await w.startAll();
  await w.run(5000);
  const before = a.lines.length;
  // A hostile sender flips between another VIP list and ours, 100 packets a second.
  for (let i = 0; i < 1000; i++) {
    await w.run(5000 + i * 10);
    const other = i % 2 === 0 ? advert(100, { addresses: [VIP, "192.0.2.101"] }) : advert(100);
    injectAdvert(w, "a", other);
  }
  await w.settle();
  await w.run(30_000);
  const lines = a.lines.slice(before);
  const foreign = lines.filter((l) => l.includes("foreign sender") || l.includes("suppressed"));
  assert.ok(foreign.length <= 8, foreign.join("\n"));
  assert.ok(
    lines.some((l) =>
      /\d+ similar lines suppressed in 10 s \(VI_1\/foreign\/192\.0\.2\.99\)/.test(l)
    ),
    lines.join("\n"),
  );
  assert.equal(vi(a).counters.foreignAdverts, 500, "every conflicting advert is counted");
  assert.equal(vi(a).state, "master");
  await w.stopAll();
});

Deno.test("foreign sender: v2 auth and interval differences are named, and a v2 advert on a v3 VRID too", async () => {
  const w = new World();
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    global: "",
    text: `
[global]
vrrp_version = 2

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_int = 1
authentication = { auth_type = "PASS", auth_pass = "secret" }
virtual_ipaddress = ["${VIP}/24"]

[vrrp_instance.VI_3]
interface = "eth0"
virtual_router_id = 53
version = 3
priority = 150
advert_int = 1
virtual_ipaddress = ["192.0.2.103/24"]
`,
  });
  await w.startAll();
  await w.run(5000);
  const v2 = (over: Partial<OutgoingAdvert>) =>
    advert(100, {
      version: 2,
      authType: 1,
      authData: new TextEncoder().encode("secret\0\0"),
      ...over,
    });
  injectAdvert(w, "a", v2({ authData: new TextEncoder().encode("guess\0\0\0") }), "192.0.2.91");
  injectAdvert(w, "a", v2({ intervalMs: 2000 }), "192.0.2.92");
  injectAdvert(w, "a", v2({ authType: 0, authData: new Uint8Array(8) }), "192.0.2.93");
  injectAdvert(w, "a", v2({ vrid: 53, addresses: ["192.0.2.103"] }), "192.0.2.94");
  await w.settle();
  const [vi1, vi3] = a.daemon.status().instances;
  assert.deepStrictEqual(
    vi1.foreignSenders.map((f) => `${f.source}: ${f.differences.join("; ")}`),
    [
      "192.0.2.91: auth PASS differs",
      "192.0.2.92: interval 2000 ms vs ours 1000 ms",
      "192.0.2.93: auth NONE vs ours PASS",
    ],
  );
  assert.deepStrictEqual(
    vi3.foreignSenders.map((f) => `${f.source}: ${f.differences.join("; ")}`),
    [
      "192.0.2.94: VRRPv2 vs ours VRRPv3",
    ],
  );
  // The RFC 6527 / 2787 counters are kept as they were.
  assert.equal(vi1.counters.authFailures, 1);
  assert.equal(vi1.counters.advertiseIntervalErrors, 1);
  assert.equal(vi1.counters.invalidAuthType, 1);
  assert.equal(vi3.counters.versionErrors, 1);
  // The password is never printed.
  assert.ok(!a.lines.some((l) => l.includes("secret") || l.includes("guess")), a.lines.join("\n"));
  await w.stopAll();
});

Deno.test("dual master: partitioned, both masters; healed, the winner answers, the loser releases, the winner announces again", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150 });
  const b = w.add({ name: "b", ip: "192.0.2.12", priority: 100 });
  await w.startAll();
  await w.run(5000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);

  // The partition: b hears nothing and is heard by nobody; it takes over too.
  w.lan.setDown("b", true);
  await w.run(10_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "master"]);
  assert.ok(hasVip(a, true) && hasVip(b, true));
  // a's own takeover bursts (at 3.4 s and 8.4 s) are over by now.
  const before = a.announcer.records.length;
  assert.equal(before, 10);

  // Healed. b's next advert reaches a first (its phase is earlier): a answers at once,
  // b steps down on that answer (sending one parting advert) and releases, and a
  // announces again once b is silent for two of its intervals.
  w.lan.setDown("b", false);
  await w.run(20_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);
  assert.ok(hasVip(a, true));
  assert.ok(!hasVip(b), "the loser released the VIP");
  const heardAt = w.lan.sent.find((p) => p.host === "b" && p.atMs >= 10_000)!.atMs + 1;
  const reply = w.lan.sent.find((p) => p.host === "a" && p.atMs >= heardAt)!;
  assert.equal(reply.atMs, heardAt, "a answered the lower-priority master at once");
  const parting = w.lan.sent.find((p) => p.host === "b" && p.atMs > heardAt)!;
  assert.equal(parting.atMs, heardAt + 1, "b's parting advert as it steps down");
  const lastHeard = parting.atMs + 1;
  const again = a.announcer.records.slice(before).map((r) => `${r.atMs} ${r.kind} ${r.address}`);
  assert.deepStrictEqual(again, [
    ...new Array(5).fill(`${lastHeard + 2000} garp ${VIP}`),
    ...new Array(5).fill(`${lastHeard + 7000} garp ${VIP}`),
  ]);
  const d = a.daemon.detail("VI_1")!;
  assert.equal(d.counters.reannouncements, 1);
  assert.deepStrictEqual(vi(a).foreignSenders, [], "same settings: no foreign sender");
  assert.equal(
    a.lines.filter((l) => l.includes("dual master over")).map((l) => l.slice(25)).join("\n"),
    "notice VI_1: dual master over: 192.0.2.12 (priority 100) silent for 2000 ms; " +
      "announcing the VIPs again",
  );
  await w.stopAll();
});

Deno.test("garp_lower_prio_repeat: a master hearing a lower-priority master sends that burst at once and after garp_lower_prio_delay", async () => {
  const w = new World();
  const lowerPrio = "garp_lower_prio_repeat = 2\ngarp_lower_prio_delay = 1";
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150, instance: lowerPrio });
  const b = w.add({ name: "b", ip: "192.0.2.12", priority: 100 });
  await w.startAll();
  await w.run(5000);
  w.lan.setDown("b", true);
  await w.run(10_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "master"]);
  const before = a.announcer.records.length;
  w.lan.setDown("b", false);
  await w.run(20_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);
  const heardAt = w.lan.sent.find((p) => p.host === "b" && p.atMs >= 10_000)!.atMs + 1;
  const lastHeard = heardAt + 2; // b's parting advert, heard a millisecond after it is sent
  const again = a.announcer.records.slice(before).map((r) => `${r.atMs} ${r.kind}`);
  assert.deepStrictEqual(again, [
    // The lower-priority advert, then b's parting one (also lower): two bursts of 2 each.
    ...new Array(2).fill(`${heardAt} garp`),
    ...new Array(2).fill(`${lastHeard} garp`),
    // Each again garp_lower_prio_delay later.
    ...new Array(2).fill(`${heardAt + 1000} garp`),
    ...new Array(2).fill(`${lastHeard + 1000} garp`),
    // The engine's own re-announcement once b is quiet (it replaces anything pending).
    ...new Array(5).fill(`${lastHeard + 2000} garp`),
    ...new Array(5).fill(`${lastHeard + 7000} garp`),
  ]);
  assert.equal(a.daemon.detail("VI_1")!.counters.lowerPriorityAdverts, 2);
  await w.stopAll();
});

Deno.test("track_src_ip: the source address removed puts the instance in FAULT; restored, it comes back", async () => {
  const w = new World();
  const a = w.add({ name: "a", ip: "192.0.2.11", priority: 150, instance: "track_src_ip = true" });
  const b = w.add({ name: "b", ip: "192.0.2.12", priority: 100 });
  await w.startAll();
  await w.run(5000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);
  assert.ok(a.port.removeByHand("eth0", "192.0.2.11"));
  await w.run(10_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["fault", "master"]);
  assert.ok(a.lines.some((l) => l.includes("VI_1: source address 192.0.2.11 removed from eth0")));
  a.port.addByHand(addr("192.0.2.11", false));
  await w.run(15_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);
  // Without track_src_ip the same removal changes nothing.
  assert.ok(b.port.removeByHand("eth0", "192.0.2.12"));
  await w.run(20_000);
  assert.equal(vi(b).state, "backup");
  await w.stopAll();
});

Deno.test("notify_master_rx_lower_pri runs each time the master hears a lower-priority advert, and nothing else does", async () => {
  const w = new World();
  const a = w.add({
    name: "a",
    ip: "192.0.2.11",
    priority: 150,
    instance: `notify_master_rx_lower_pri = "/etc/hacore/lower.sh"`,
  });
  const b = w.add({ name: "b", ip: "192.0.2.12", priority: 100 });
  const events: NotifyEvent[] = [];
  await w.startAll();
  await w.run(5000);
  a.notify.events.length = 0;
  w.lan.setDown("b", true);
  await w.run(10_000);
  w.lan.setDown("b", false);
  await w.run(20_000);
  assert.deepStrictEqual([vi(a).state, vi(b).state], ["master", "backup"]);
  events.push(...a.notify.events.filter((e) => e.lowerPriority === true));
  assert.equal(events.length, 2, "b's advert as master, then its parting one");
  assert.deepStrictEqual(
    events.map((e) => [e.name, e.state, e.hooks.masterRxLowerPri, e.detail]),
    [
      ["VI_1", "MASTER", "/etc/hacore/lower.sh", "an advert with priority 100 while master"],
      ["VI_1", "MASTER", "/etc/hacore/lower.sh", "an advert with priority 100 while master"],
    ],
  );
  await w.stopAll();
});
