/**
 * Trackers in the daemon, end to end over in-memory ports: hand-driven probes
 * (`FakeTrackProbes`) on a manual clock and a fake LAN that carries real adverts.
 * Weight-0 faults and recovery, a negative weight handing mastership to a preempting
 * peer, the owner, the clamp, operator overrides over trackers, sync-group trackers,
 * track_interface from link events, refused scripts, status and reload; and one
 * `vrrp_script` run for real by the daemon's check service, on the manual clock.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { renderDetail, renderStatus } from "../../lib/cli/format.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";
import { Daemon, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import type { KernelAddress } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { FakeTrackProbes } from "../fakes/track.ts";
import { TrackerHub } from "../../lib/track/hub.ts";
import { systemProbes } from "../../lib/track/system.ts";
import type { CheckResult, CheckRunner } from "../../lib/check/types.ts";

const VIP = "192.0.2.100";
const VIP2 = "192.0.2.101";

interface Host {
  name: string;
  ip: string;
  daemon: Daemon;
  port: FakeAddressPort;
  probes: FakeTrackProbes;
  lines: string[];
  file: { text: string };
}

function addr(address: string): KernelAddress {
  return { dev: "eth0", address, prefix: 24, family: "ipv4", label: null, hacore: false };
}

/** One instance VI_1 (vrid 51, VIP) with extra keys, after `head` (trackers, global). */
function oneInstance(priority: number, instance = "", head = ""): string {
  return `
[global]
vrrp_version = 3
${head}

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = ${priority}
advert_int = 1
virtual_ipaddress = ["${VIP}/24"]
${instance}
`;
}

class World {
  readonly clock = new ManualClock(0);
  readonly lan = new FakeLan({ clock: this.clock, delayMs: 1 });
  readonly hosts: Host[] = [];

  add(name: string, ip: string, text: string, links: Record<string, boolean> = {}): Host {
    const file = { text };
    const port = new FakeAddressPort([addr(ip)]);
    for (const [dev, up] of Object.entries(links)) port.link(dev, up);
    const lines: string[] = [];
    const logger = new Logger({ level: "debug", sink: (l) => lines.push(l) });
    const probes = new FakeTrackProbes();
    const daemon = new Daemon({
      config: configOf(text, `${name}.toml`),
      primaryAddresses: new Map([["eth0", { ipv4: ip }]]),
      clock: this.clock,
      transports: this.lan.host(name, [ip]),
      addresses: port,
      announcer: new RecordingAnnouncer(this.clock),
      logger,
      trackers: new TrackerHub({ probes, logger }),
      loadConfig: (f) => Promise.resolve(parseConfig(file.text, f)),
    });
    const h = { name, ip, daemon, port, probes, lines, file };
    this.hosts.push(h);
    return h;
  }

  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.hosts.every((h) => h.daemon.idle)) return;
    }
    throw new Error("the daemons never settled");
  };

  async startAll(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.daemon.start()));
    await this.settle();
  }

  /** Runs the clock `ms` further. */
  run(ms: number): Promise<void> {
    return runClock(this.clock, this.clock.nowMs() + ms, this.settle);
  }

  async until<T>(p: Promise<T>): Promise<T> {
    let done = false;
    let value: T | undefined;
    p.then((v) => {
      done = true;
      value = v;
    });
    await this.settle();
    while (!done) {
      if (!this.clock.fireNext(this.clock.nowMs() + 60_000)) throw new Error("still pending");
      await this.settle();
    }
    return value as T;
  }

  async stopAll(): Promise<void> {
    await this.until(Promise.all(this.hosts.map((h) => h.daemon.stop())));
    for (const h of this.hosts) assert.equal(h.daemon.status().phase, "stopped");
    assert.equal(this.lan.openCount(), 0, "transports left open");
    assert.equal(this.clock.pendingTimers(), 0, "timers left on the clock");
  }
}

function vi(h: Host, name = "VI_1"): InstanceStatus {
  const s = h.daemon.status().instances.find((i) => i.name === name);
  if (!s) throw new Error(`no ${name}`);
  return s;
}

function holds(h: Host, vip = VIP): boolean {
  return h.port.has("eth0", vip, 24, true);
}

const SCRIPT = (name: string, weight: number) => `
[vrrp_script.${name}]
type = "tcp"
connect = "127.0.0.1:80"
weight = ${weight}
`;

Deno.test("track: a failing weight-0 script puts the master in FAULT, the peer takes over at once, and it comes back", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", oneInstance(150, `track_script = ["chk"]`, SCRIPT("chk", 0)));
  const b = w.add("b", "192.0.2.12", oneInstance(100));
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  assert.ok(holds(a));
  assert.deepEqual(vi(a).trackers.map((t) => [t.label, t.state, t.fault]), [
    ["script chk", "up", false],
  ]);

  const t0 = w.clock.nowMs();
  a.probes.setScript("chk", false, "connect 127.0.0.1:80: ECONNREFUSED");
  await w.settle();
  assert.equal(vi(a).state, "fault");
  assert.deepEqual(vi(a).faults, ["script chk"]);
  assert.deepEqual(vi(a).trackers[0], {
    kind: "script",
    name: "chk",
    group: null,
    label: "script chk",
    state: "down",
    value: null,
    weight: 0,
    contribution: 0,
    fault: true,
    detail: "connect 127.0.0.1:80: ECONNREFUSED",
  });
  assert.ok(!holds(a));
  assert.ok(
    a.lines.some((l) => l.includes("VI_1: FAULT while script chk fails")),
    a.lines.join("\n"),
  );
  // The priority-0 release lets b take over after its Skew_Time, not Master_Down_Interval.
  await w.run(1000);
  assert.equal(vi(b).state, "master");
  assert.ok(vi(b).lastTransition!.atMs - t0 < 1000);

  a.probes.setScript("chk", true);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  assert.deepEqual(vi(a).faults, []);
  // a (150) preempts b (100) on b's next advert.
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(b).state, "backup");
  await w.stopAll();
});

Deno.test("track: a negative weight lowers the priority and a preempting peer takes over", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(150, `track_script = [{ name = "chk", weight = -60 }]`, SCRIPT("chk", -5)),
  );
  const b = w.add("b", "192.0.2.12", oneInstance(100));
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");

  a.probes.setScript("chk", false, "HTTP 503 (expected 200-299)");
  await w.settle();
  assert.deepEqual(vi(a).priority, { base: 150, effective: 90 });
  assert.equal(vi(a).state, "master", "a priority change alone moves nothing at once");
  assert.deepEqual(vi(a).trackers.map((t) => [t.weight, t.contribution]), [[-60, -60]]);
  assert.ok(a.lines.some((l) => l.includes("VI_1: tracked priority 150 -> 90 (chk -60)")));
  // b discards adverts of priority 90 and takes over when its Master_Down_Timer runs out.
  await w.run(5000);
  assert.equal(vi(b).state, "master");
  assert.equal(vi(a).state, "backup");
  assert.ok(holds(b) && !holds(a));

  a.probes.setScript("chk", true);
  await w.settle();
  assert.equal(vi(a).priority.effective, 150);
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  await w.stopAll();
});

Deno.test("track: the address owner keeps 255 whatever the weights, but still faults", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(
      255,
      `unicast_src_ip = "${VIP}"\ntrack_script = [{ name = "minus", weight = -100 }, "zero"]`,
      SCRIPT("minus", -100) + SCRIPT("zero", 0),
    ),
  );
  await w.startAll();
  assert.equal(vi(a).state, "master");
  a.probes.setScript("minus", false);
  await w.settle();
  assert.equal(vi(a).priority.effective, 255);
  assert.equal(vi(a).state, "master");
  assert.equal(vi(a).trackers[0].contribution, 0);
  a.probes.setScript("zero", false);
  await w.settle();
  assert.equal(vi(a).state, "fault");
  a.probes.setScript("zero", true);
  await w.settle();
  assert.equal(vi(a).state, "master", "an owner leaving Fault goes straight to Master");
  await w.stopAll();
});

Deno.test("track: file weights clamp to 1..254 and -254 or less faults", async () => {
  const w = new World();
  const head = `
[vrrp_track_file.maint]
file = "/etc/hacore/maint"
weight = -1
[vrrp_track_file.boost]
file = "/etc/hacore/boost"
weight = 10
`;
  const a = w.add("a", "192.0.2.11", oneInstance(20, `track_file = ["maint", "boost"]`, head));
  await w.startAll();
  assert.equal(vi(a).priority.effective, 20);
  a.probes.setFile("/etc/hacore/maint", 100);
  await w.settle();
  assert.equal(vi(a).priority.effective, 1);
  assert.deepEqual(vi(a).trackers[0].value, 100);
  a.probes.setFile("/etc/hacore/maint", 0);
  a.probes.setFile("/etc/hacore/boost", 50);
  await w.settle();
  assert.equal(vi(a).priority.effective, 254);
  a.probes.setFile("/etc/hacore/maint", 254);
  await w.settle();
  assert.equal(vi(a).state, "fault");
  assert.deepEqual(vi(a).faults, ["file maint"]);
  a.probes.setFile("/etc/hacore/maint", 0);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  await w.stopAll();
});

Deno.test("track: an operator override wins over the trackers until resume", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(150, `track_script = [{ name = "chk", weight = -60 }]`, SCRIPT("chk", 0)),
  );
  await w.startAll();
  a.probes.setScript("chk", false);
  await w.settle();
  assert.equal(vi(a).priority.effective, 90);
  assert.ok(a.daemon.demote("VI_1", 50).ok);
  await w.settle();
  assert.equal(vi(a).priority.effective, 50);
  a.probes.setScript("chk", true);
  await w.settle();
  assert.equal(vi(a).priority.effective, 50, "the demote holds while the tracker recovers");
  assert.ok(a.lines.some((l) => l.includes("the operator's demote to 50 stays in force")));
  const r = a.daemon.resume("VI_1");
  assert.deepEqual(r, { ok: true, message: "VI_1: override cleared; priority 50 -> 150" });
  await w.settle();
  assert.equal(vi(a).priority.effective, 150);
  a.probes.setScript("chk", false);
  assert.ok(a.daemon.promote("VI_1", 200).ok);
  await w.settle();
  assert.equal(vi(a).priority.effective, 200);
  a.daemon.resume("VI_1");
  await w.settle();
  assert.equal(vi(a).priority.effective, 90);
  await w.stopAll();
});

Deno.test("track: maintenance keeps a recovering instance backup", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", oneInstance(150, `track_script = ["chk"]`, SCRIPT("chk", 0)));
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  a.daemon.maintenance(true);
  a.probes.setScript("chk", false);
  await w.run(1000);
  assert.equal(vi(a).state, "fault");
  a.probes.setScript("chk", true);
  await w.run(10_000);
  assert.equal(vi(a).state, "backup");
  a.daemon.maintenance(false);
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  await w.stopAll();
});

Deno.test("track: a sync group's tracker faults every member, whatever its weight", async () => {
  const w = new World();
  const text = `
[global]
vrrp_version = 3
${SCRIPT("chk_db", -50)}

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["${VIP}/24"]

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 150
virtual_ipaddress = ["${VIP2}/24"]

[vrrp_sync_group.G]
group = ["VI_1", "VI_2"]
track_script = ["chk_db"]
`;
  const a = w.add("a", "192.0.2.11", text);
  await w.startAll();
  await w.run(5000);
  assert.deepEqual([vi(a).state, vi(a, "VI_2").state], ["master", "master"]);
  a.probes.setScript("chk_db", false, "connect refused");
  await w.settle();
  assert.deepEqual([vi(a).state, vi(a, "VI_2").state], ["fault", "fault"]);
  assert.ok(vi(a).faults.includes("group G: script chk_db"));
  assert.ok(vi(a, "VI_2").faults.includes("group G: script chk_db"));
  assert.equal(vi(a).priority.effective, 150, "a group's weight never applies");
  assert.deepEqual(vi(a).trackers.map((t) => [t.group, t.label, t.fault]), [
    ["G", "group G: script chk_db", true],
  ]);
  assert.ok(!holds(a) && !holds(a, VIP2));
  a.probes.setScript("chk_db", true);
  await w.run(5000);
  assert.deepEqual([vi(a).state, vi(a, "VI_2").state], ["master", "master"]);
  await w.stopAll();
});

Deno.test("track: track_interface follows the daemon's link events; a missing interface is down", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(150, `track_interface = ["eth1", { name = "eth2", weight = -30 }, "eth9"]`),
    { eth1: true, eth2: true },
  );
  await w.startAll();
  assert.equal(vi(a).state, "fault", "eth9 does not exist");
  assert.deepEqual(vi(a).faults, ["interface eth9"]);
  assert.equal(vi(a).trackers[2].detail, "no such interface");
  a.port.link("eth9", true);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  a.port.link("eth2", false);
  await w.settle();
  assert.equal(vi(a).priority.effective, 120);
  a.port.link("eth1", false);
  await w.settle();
  assert.equal(vi(a).state, "fault");
  assert.deepEqual(vi(a).faults, ["interface eth1"]);
  a.port.link("eth1", true);
  a.port.link("eth2", true);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  assert.equal(vi(a).priority.effective, 150);
  await w.stopAll();
});

Deno.test("track: a process tracker below quorum faults; counts show in status", async () => {
  const w = new World();
  const head = `
[vrrp_track_process.web]
process = "nginx"
quorum = 2
`;
  const a = w.add("a", "192.0.2.11", oneInstance(150, `track_process = ["web"]`, head));
  await w.startAll();
  assert.equal(vi(a).state, "fault");
  assert.deepEqual(vi(a).trackers[0].value, 0);
  a.probes.setProcesses({ process: "nginx", fullCommand: false }, 2);
  await w.settle();
  assert.equal(vi(a).state, "backup");
  assert.equal(vi(a).trackers[0].detail, '2 running with name "nginx" (quorum 2)');
  await w.stopAll();
});

Deno.test("track: a script refused by script security never runs, stays down, and says why", async () => {
  const w = new World();
  const head = `
[vrrp_script.chk]
script = "/tmp/chk.sh"
weight = 0
`;
  const text = oneInstance(150, `track_script = ["chk"]`, head);
  const world = w;
  const port = new FakeAddressPort([addr("192.0.2.11")]);
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => lines.push(l) });
  const probes = new FakeTrackProbes();
  const why = "vrrp_script.chk: /tmp/chk.sh is in /tmp, which is writable by all users (mode 1777)";
  probes.refused.set("/tmp/chk.sh", why);
  const d = new Daemon({
    config: configOf(text, "a.toml"),
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock: world.clock,
    transports: world.lan.host("a", ["192.0.2.11"]),
    addresses: port,
    announcer: new RecordingAnnouncer(world.clock),
    logger,
    trackers: new TrackerHub({ probes, logger }),
  });
  await d.start();
  await world.settle();
  const s = d.status().instances[0];
  assert.equal(s.state, "fault");
  assert.equal(s.trackers[0].detail, `not run: ${why}`);
  assert.ok(!probes.scheduled("chk"));
  assert.ok(
    lines.some((l) => l.includes(`${why}; the script is not run and the tracker stays down`)),
    lines.join("\n"),
  );
  await world.until(d.stop());
});

Deno.test("track: reload changes weights, adds and removes trackers, keeps unchanged checks and the VIPs", async () => {
  const w = new World();
  const before = oneInstance(
    150,
    `track_script = [{ name = "chk", weight = -20 }, "gone"]`,
    SCRIPT("chk", 0) + SCRIPT("gone", 10),
  );
  const a = w.add("a", "192.0.2.11", before);
  await w.startAll();
  await w.run(5000);
  assert.equal(vi(a).state, "master");
  a.probes.setScript("chk", false);
  a.probes.setScript("gone", true);
  await w.settle();
  assert.equal(vi(a).priority.effective, 140);
  const sets = a.probes.checkSets.length;

  a.file.text = oneInstance(
    150,
    `track_script = [{ name = "chk", weight = -50 }]\ntrack_file = ["maint"]`,
    SCRIPT("chk", 0) + SCRIPT("gone", 10) +
      `[vrrp_track_file.maint]\nfile = "/etc/hacore/maint"\nweight = -1\n`,
  );
  a.probes.setFile("/etc/hacore/maint", 7);
  const r = await w.until(a.daemon.reload());
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(vi(a).priority, { base: 150, effective: 93 });
  assert.deepEqual(vi(a).trackers.map((t) => [t.label, t.contribution]), [
    ["script chk", -50],
    ["file maint", -7],
  ]);
  // chk's spec did not change: not re-set, so it keeps its state (still down).
  assert.equal(a.probes.checkSets.length, sets);
  assert.equal(vi(a).trackers[0].state, "down");
  assert.deepEqual(a.probes.checkRemovals, ["vrrp_script:gone"]);
  assert.equal(vi(a).state, "master");
  assert.ok(holds(a));
  assert.ok(!a.port.ops.some((o) => o.op === "remove" && o.address === VIP));

  // A changed spec replaces the check: it starts again from its initial state.
  a.file.text = a.file.text.replace("127.0.0.1:80", "127.0.0.1:81");
  assert.ok((await w.until(a.daemon.reload())).ok);
  assert.equal(a.probes.checkSets.length, sets + 1);
  assert.equal(vi(a).trackers[0].state, "up");
  assert.equal(vi(a).priority.effective, 143);
  await w.stopAll();
});

Deno.test("track: status JSON and the instance detail carry the trackers", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(150, `track_script = [{ name = "chk", weight = -20 }]`, SCRIPT("chk", 0)),
  );
  await w.startAll();
  a.probes.setScript("chk", false, "HTTP 503 (expected 200-299)");
  await w.settle();
  const st = a.daemon.status();
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st);
  assert.deepEqual(a.daemon.detail("VI_1")?.summary.trackers, st.instances[0].trackers);
  assert.equal(st.instances[0].trackers[0].detail, "HTTP 503 (expected 200-299)");
  // A new detail with the same state costs no recompute, yet status shows it.
  a.probes.setScript("chk", false, "HTTP 502 (expected 200-299)");
  assert.equal(vi(a).trackers[0].detail, "HTTP 502 (expected 200-299)");
  await w.stopAll();
});

Deno.test("track: the status table, the detail view and the metrics show the trackers", async () => {
  const w = new World();
  const head = SCRIPT("chk_web", -20) + SCRIPT("chk_db", 0) + `
[vrrp_track_file.maint]
file = "/etc/hacore/maint"
`;
  const a = w.add(
    "a",
    "192.0.2.11",
    oneInstance(
      150,
      `track_script = ["chk_web"]\ntrack_file = ["maint"]\ntrack_interface = ["eth1"]`,
      head,
    ) +
      `\n[vrrp_sync_group.G]\ngroup = ["VI_1"]\ntrack_script = ["chk_db"]\nsync_group_tracking_weight = true\n`,
    { eth1: true },
  );
  await w.startAll();
  a.probes.setScript("chk_web", false, "HTTP 503 (expected 200-299)");
  a.probes.setFile("/etc/hacore/maint", -5);
  await w.settle();
  const st = a.daemon.status();
  const table = renderStatus(st, { width: 100, unicode: true });
  assert.match(table, /^ {2}prio {3}priority 125, base 150: trackers chk_web -20, maint -5$/m);
  assert.match(table, /^ {2}track {2}✗ chk_web {2}✓ eth1 {2}✗ maint=-5 {2}✓ G:chk_db$/m);
  const ascii = renderStatus(st, { width: 100, unicode: false });
  assert.match(ascii, /^ {2}track {2}- chk_web {2}\+ eth1 {2}- maint=-5 {2}\+ G:chk_db$/m);

  const detail = renderDetail(a.daemon.detail("VI_1")!, { width: 120, unicode: true });
  const section = detail.split("\n\n").find((b) => b.startsWith("trackers"))!;
  assert.equal(
    section,
    [
      "trackers (4)",
      "  script chk_web          down  weight -20, now -20  HTTP 503 (expected 200-299)",
      "  interface eth1          up    faults when down     link up",
      "  file maint              down  -5 × 1 = -5          /etc/hacore/maint: -5",
      "  group G: script chk_db  up    faults when down     no result yet (starts up)",
    ].join("\n"),
  );

  const metrics = renderMetrics(a.daemon);
  assert.ok(
    metrics.includes(
      'hacore_vrrp_tracker_up{instance="VI_1",kind="script",name="chk_web",group=""} 0',
    ),
    metrics,
  );
  assert.ok(
    metrics.includes(
      'hacore_vrrp_tracker_up{instance="VI_1",kind="script",name="chk_db",group="G"} 1',
    ),
  );
  assert.ok(
    metrics.includes(
      'hacore_vrrp_tracker_contribution{instance="VI_1",kind="file",name="maint",group=""} -5',
    ),
  );
  assert.ok(
    metrics.includes(
      'hacore_vrrp_tracker_fault{instance="VI_1",kind="interface",name="eth1",group=""} 0',
    ),
  );
  assert.ok(metrics.includes('hacore_vrrp_priority{instance="VI_1",kind="effective"} 125'));
  await w.stopAll();
});

Deno.test("track: reload adds a tracker to a sync group: one diff line, every member follows it", async () => {
  const w = new World();
  const text = (tracked: boolean) => `
[global]
vrrp_version = 3
${SCRIPT("chk_db", 0)}

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["${VIP}/24"]

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 150
virtual_ipaddress = ["${VIP2}/24"]

[vrrp_sync_group.G]
group = ["VI_1", "VI_2"]
${tracked ? 'track_script = ["chk_db"]' : ""}
`;
  const a = w.add("a", "192.0.2.11", text(false));
  await w.startAll();
  a.file.text = text(true);
  const r = await w.until(a.daemon.reload());
  assert.deepEqual(r.changes, ["sync group G: track_script (none) -> chk_db"]);
  assert.ok(a.probes.scheduled("chk_db"));
  a.probes.setScript("chk_db", false);
  await w.settle();
  assert.deepEqual([vi(a).state, vi(a, "VI_2").state], ["fault", "fault"]);
  a.file.text = text(false);
  const back = await w.until(a.daemon.reload());
  assert.deepEqual(back.changes, ["sync group G: track_script chk_db -> (none)"]);
  assert.ok(!a.probes.scheduled("chk_db"));
  await w.settle();
  assert.deepEqual([vi(a).state, vi(a, "VI_2").state], ["backup", "backup"]);
  await w.stopAll();
});

Deno.test("track: the daemon's check service runs a script check on the manual clock to a priority change and back", async () => {
  const w = new World();
  // The peer, so that a's lower priority has somewhere to go.
  const b = w.add("b", "192.0.2.12", oneInstance(140));
  const head = `${SCRIPT("chk", -20)}interval = 2\ntimeout = 1\nfall = 2\nrise = 1\n`;
  const text = oneInstance(150, `track_script = ["chk"]`, head);
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => lines.push(l) });
  let healthy = true;
  const runsAt: number[] = [];
  const runner: CheckRunner = (spec) => {
    assert.equal(spec.kind, "tcp");
    runsAt.push(w.clock.nowMs());
    const r: CheckResult = {
      ok: healthy,
      detail: healthy ? "up" : "refused",
      weight: null,
      durationMs: 0,
    };
    return Promise.resolve(r);
  };
  const port = new FakeAddressPort([addr("192.0.2.11")]);
  const a = new Daemon({
    config: configOf(text, "a.toml"),
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
    clock: w.clock,
    transports: w.lan.host("a", ["192.0.2.11"]),
    addresses: port,
    announcer: new RecordingAnnouncer(w.clock),
    logger,
    // The real hub and probes: the script runs on the daemon's own check service.
    trackers: new TrackerHub({ probes: systemProbes(), logger }),
    checks: { runner, random: () => 0.5 },
  });
  const status = () => a.status().instances[0];
  await a.start();
  await w.startAll();
  // First run half an interval in (random 0.5), then every 2 s, all in manual time.
  await w.run(6000);
  assert.deepEqual(runsAt, [1000, 3000, 5000]);
  assert.equal(status().state, "master");
  assert.equal(status().priority.effective, 150);
  healthy = false;
  await w.run(8999 - w.clock.nowMs());
  assert.deepEqual(runsAt, [1000, 3000, 5000, 7000]);
  assert.equal(status().priority.effective, 150, "one failure of fall = 2 moves nothing");
  await w.run(1);
  assert.deepEqual(runsAt, [1000, 3000, 5000, 7000, 9000]);
  assert.equal(status().priority.effective, 130);
  assert.deepEqual(status().trackers.map((t) => [t.label, t.state, t.contribution]), [
    ["script chk", "down", -20],
  ]);
  assert.ok(lines.some((l) => l.includes("VI_1: tracked priority 150 -> 130 (chk -20)")));
  // The peer at 140 now preempts a at 130.
  await w.run(5000);
  assert.equal(vi(b).state, "master");
  assert.equal(status().state, "backup");
  healthy = true;
  await w.run(15_000 - w.clock.nowMs());
  assert.equal(runsAt.at(-1), 15_000);
  assert.equal(status().priority.effective, 150, "one pass of rise = 1 restores it");
  await w.run(5000);
  assert.equal(status().state, "master");
  await w.until(a.stop());
  await w.stopAll();
});
