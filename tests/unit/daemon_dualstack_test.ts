/**
 * A dual-stack instance in the daemon, over in-memory ports: its IPv4 half (`web`) and
 * IPv6 half (`web@v6`) run as two virtual routers in one implicit sync group, move
 * together, answer the operator's verbs under the name written in the file, announce
 * their VIPs with GARP and unsolicited NA, and run the instance's notify hooks once.
 */
import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import type { HookRun } from "../../lib/control/api.ts";
import { Daemon, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import type { KernelAddress, NotifyEvent, NotifySink } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";

const V4 = "192.0.2.100";
const LL = "fe80::100";
const V6 = "2001:db8::100";

class RecordingNotify implements NotifySink {
  readonly events: NotifyEvent[] = [];
  notify(event: NotifyEvent): void {
    this.events.push(event);
  }
  recent(): readonly HookRun[] {
    return [];
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Host {
  readonly name: string;
  readonly daemon: Daemon;
  readonly port: FakeAddressPort;
  readonly announcer: RecordingAnnouncer;
  readonly notify: RecordingNotify;
  readonly lines: string[];
}

function configFor(priority: number, extra = ""): Config {
  const r = parseConfig(
    `
[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = ${priority}
advert_int = 1
virtual_ipaddress = ["${V4}/24", "${LL}/64", "${V6}/64"]
notify_master = "/usr/local/bin/web-master"
${extra}
`,
    "dual.toml",
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function own(address: string, family: "ipv4" | "ipv6", prefix: number): KernelAddress {
  return { dev: "eth0", address, prefix, family, label: null, hacore: false };
}

class World {
  readonly clock = new ManualClock(0);
  readonly lan = new FakeLan({ clock: this.clock, delayMs: 1 });
  readonly hosts: Host[] = [];

  add(name: string, n: number, priority: number, extra = ""): Host {
    const ip4 = `192.0.2.${n}`;
    const ip6 = `fe80::${n}`;
    const port = new FakeAddressPort([own(ip4, "ipv4", 24), own(ip6, "ipv6", 64)]);
    const lines: string[] = [];
    const announcer = new RecordingAnnouncer(this.clock);
    const notify = new RecordingNotify();
    const daemon = new Daemon({
      config: configFor(priority, extra),
      primaryAddresses: new Map([["eth0", { ipv4: ip4, ipv6: ip6 }]]),
      clock: this.clock,
      transports: this.lan.host(name, [ip4, ip6]),
      addresses: port,
      announcer,
      logger: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
      notify,
    });
    const host = { name, daemon, port, announcer, notify, lines };
    this.hosts.push(host);
    return host;
  }

  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.hosts.every((h) => h.daemon.idle)) return;
    }
    throw new Error("the daemons never settled");
  };

  run(forMs: number): Promise<void> {
    return runClock(this.clock, this.clock.nowMs() + forMs, this.settle);
  }

  async stopAll(): Promise<void> {
    const done = Promise.all(this.hosts.map((h) => h.daemon.stop()));
    let finished = false;
    done.then(() => (finished = true));
    await this.settle();
    while (!finished && this.clock.fireNext(this.clock.nowMs() + 60_000)) await this.settle();
    await done;
    assert.equal(this.lan.openCount(), 0, "transports left open");
    assert.equal(this.clock.pendingTimers(), 0, "timers left on the clock");
  }
}

function states(h: Host): Record<string, string> {
  return Object.fromEntries(
    h.daemon.status().instances.map((i: InstanceStatus) => [i.name, i.state]),
  );
}

function holdsAll(h: Host): boolean {
  return h.port.has("eth0", V4, 24, true) && h.port.has("eth0", LL, 64, true) &&
    h.port.has("eth0", V6, 64, true);
}

function holdsNone(h: Host): boolean {
  return !h.port.has("eth0", V4) && !h.port.has("eth0", LL) && !h.port.has("eth0", V6);
}

async function elected(): Promise<{ w: World; a: Host; b: Host }> {
  const w = new World();
  const a = w.add("a", 11, 150);
  const b = w.add("b", 12, 100);
  await Promise.all(w.hosts.map((h) => h.daemon.start()));
  await w.run(5000);
  assert.deepEqual(states(a), { web: "master", "web@v6": "master" });
  assert.deepEqual(states(b), { web: "backup", "web@v6": "backup" });
  assert.ok(holdsAll(a) && holdsNone(b));
  return { w, a, b };
}

Deno.test("dual-stack daemon: both halves elect over their own family, hold their VIPs and announce them", async () => {
  const { w, a } = await elected();
  const s = a.daemon.status().instances;
  assert.deepEqual(s.map((i) => [i.name, i.family, i.vrid]), [
    ["web", "ipv4", 51],
    ["web@v6", "ipv6", 51],
  ]);
  // Each half advertises from its family's own address, to its family's group.
  const sent = w.lan.sent.filter((p) => p.host === "a");
  assert.ok(sent.some((p) => p.src === "192.0.2.11" && p.dst === "224.0.0.18"));
  assert.ok(sent.some((p) => p.src === "fe80::11" && p.dst === "ff02::12"));
  assert.ok(sent.every((p) => (p.family === "ipv4") === (p.dst === "224.0.0.18")));
  const announced = new Set(a.announcer.records.map((r) => `${r.kind} ${r.address}`));
  assert.deepEqual([...announced].sort(), [`garp ${V4}`, `na ${V6}`, `na ${LL}`]);
  await w.stopAll();
});

Deno.test("dual-stack daemon: `demote web` lowers both halves, both move to the peer; `resume web` brings both back", async () => {
  const { w, a, b } = await elected();
  const r = a.daemon.demote("web", 50);
  assert.ok(r.ok, JSON.stringify(r));
  assert.match(r.message, /^web: priority 150 -> 50/m);
  assert.match(r.message, /^web@v6: priority 150 -> 50/m);
  await w.run(5000);
  assert.deepEqual(states(a), { web: "backup", "web@v6": "backup" });
  assert.deepEqual(states(b), { web: "master", "web@v6": "master" });
  assert.ok(holdsAll(b) && holdsNone(a));
  for (const i of a.daemon.status().instances) {
    assert.deepEqual(i.priority, { base: 150, effective: 50 }, i.name);
    assert.deepEqual(i.override, { kind: "demote", priority: 50 }, i.name);
  }

  const back = a.daemon.resume("web");
  assert.ok(back.ok, JSON.stringify(back));
  await w.run(5000);
  assert.deepEqual(states(a), { web: "master", "web@v6": "master" });
  assert.ok(holdsAll(a) && holdsNone(b));
  for (const i of a.daemon.status().instances) assert.equal(i.override, null, i.name);
  await w.stopAll();
});

Deno.test("dual-stack daemon: a verb on one half by its own name touches only that half, and never splits the pair", async () => {
  const { w, a, b } = await elected();
  const r = a.daemon.demote("web@v6", 50);
  assert.ok(r.ok, JSON.stringify(r));
  assert.doesNotMatch(r.message, /^web:/m);
  await w.run(5000);
  const prio = Object.fromEntries(
    a.daemon.status().instances.map((i) => [i.name, i.priority.effective]),
  );
  assert.deepEqual(prio, { web: 150, "web@v6": 50 });
  // The halves now disagree: b's v4 half follows a live master it would not preempt,
  // and the sync group's guard keeps b's v6 half from taking over alone. No split.
  assert.deepEqual(states(a), { web: "master", "web@v6": "master" });
  assert.deepEqual(states(b), { web: "backup", "web@v6": "backup" });
  assert.ok(holdsAll(a) && holdsNone(b));
  // Unknown names still list what exists.
  const bad = a.daemon.demote("nope", 50);
  assert.ok(!bad.ok && /instances: web, web@v6/.test(bad.error), JSON.stringify(bad));
  await w.stopAll();
});

Deno.test("dual-stack daemon: the instance's notify hooks run once per change (on its IPv4 half); the implicit group tells nothing", async () => {
  const { w, a } = await elected();
  const toMaster = a.notify.events.filter((e) => e.state === "MASTER");
  assert.deepEqual(
    toMaster.map((e) => [e.target, e.name, e.hooks.master]),
    [
      ["INSTANCE", "web", "/usr/local/bin/web-master"],
      ["INSTANCE", "web@v6", null],
    ],
  );
  assert.deepEqual(a.notify.events.filter((e) => e.target === "GROUP"), []);
  assert.ok(!a.lines.some((l) => l.includes("sync group web:")), a.lines.join("\n"));
  await w.stopAll();
});

Deno.test("dual-stack daemon: a declared group keeps telling its own changes, with its hooks", async () => {
  const w = new World();
  const group = `
[vrrp_sync_group.G]
group = ["web"]
notify_master = "/usr/local/bin/g-master"
`;
  const a = w.add("a", 11, 150, group);
  w.add("b", 12, 100, group);
  await Promise.all(w.hosts.map((h) => h.daemon.start()));
  await w.run(5000);
  assert.deepEqual(states(a), { web: "master", "web@v6": "master" });
  const g = a.notify.events.filter((e) => e.target === "GROUP" && e.state === "MASTER");
  assert.deepEqual(g.map((e) => [e.name, e.hooks.master]), [["G", "/usr/local/bin/g-master"]]);
  await w.stopAll();
});
