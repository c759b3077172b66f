/**
 * Connection sync between directors: `[global.lvs_sync_daemon]` as the config reads
 * it, the pure rule (master while the instance is master, backup otherwise) and plan
 * against the kernel's daemons, the subsystem against a fake kernel (retry after a
 * failure, restart on a changed config, stop at close), and in a daemon on the manual
 * clock: backup at start, master once the VRRP instance takes over, backup again when
 * it is demoted, nothing left running after stop.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { renderStatus } from "../../lib/cli/format.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import { Logger } from "../../lib/log.ts";
import { LvsSyncRuntime, syncPlan, syncRoleFor, wantedDaemon } from "../../lib/lvs/sync.ts";
import type { IpvsSyncDaemon } from "../../lib/sys/netlink/ipvs_types.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import { FakeIpvs } from "../fakes/ipvs.ts";

const INSTANCE = `[vrrp_instance.VI_web]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_int = 1
virtual_ipaddress = ["192.0.2.100/24"]
`;

function parse(text: string) {
  return parseConfig(text, "a.toml");
}

const SYNC = `[global.lvs_sync_daemon]
interface = "eth0"
instance = "VI_web"
sync_id = 5
`;

Deno.test("config: [global.lvs_sync_daemon] with keepalived's options; an unknown instance is refused", () => {
  const c = configOf(
    `${SYNC}maxlen = 1400\nport = 8849\nttl = 2\ngroup = "224.0.0.82"\n${INSTANCE}`,
  );
  assert.deepEqual(c.lvsSyncDaemon, {
    interface: "eth0",
    instance: "VI_web",
    syncId: 5,
    maxLen: 1400,
    port: 8849,
    ttl: 2,
    group: "224.0.0.82",
  });
  assert.equal(configOf(INSTANCE).lvsSyncDaemon, null);
  const bad = parse(SYNC.replace("VI_web", "VI_wbe") + INSTANCE);
  assert.ok(!bad.ok);
  assert.match(
    bad.errors[0].message,
    /no \[vrrp_instance\.VI_wbe\] is defined; did you mean "VI_web"\?/,
  );
  assert.equal(bad.errors[0].path, "global.lvs_sync_daemon.instance");
  const group = parse(`${SYNC}group = "192.0.2.1"\n${INSTANCE}`);
  assert.ok(!group.ok);
  assert.match(group.errors[0].message, /multicast/);
});

Deno.test("syncRoleFor: master only while the instance is master (backup, fault, unknown: backup)", () => {
  assert.deepEqual(
    ["master", "backup", "fault", "initialize", null].map(syncRoleFor),
    ["master", "backup", "backup", "backup", "backup"],
  );
});

Deno.test("syncPlan: stops a daemon of another state or id, starts the wanted one unless it runs", () => {
  const master = { state: "master", ifname: "eth0", syncId: 5 } as const;
  const backup = { state: "backup", ifname: "eth0", syncId: 5 } as const;
  assert.deepEqual(syncPlan([backup], master), { stop: ["backup"], start: master });
  assert.deepEqual(syncPlan([master], master), { stop: [], start: null });
  assert.deepEqual(syncPlan([{ ...master, syncId: 6 }], master), {
    stop: ["master"],
    start: master,
  });
  assert.deepEqual(syncPlan([master, backup], null), { stop: ["master", "backup"], start: null });
});

Deno.test("wantedDaemon: only the options the config sets go to the kernel", () => {
  const c = configOf(`${SYNC}ttl = 3\n${INSTANCE}`).lvsSyncDaemon!;
  assert.deepEqual(wantedDaemon(c, "backup"), {
    state: "backup",
    ifname: "eth0",
    syncId: 5,
    ttl: 3,
  });
});

/** The kernel's sync daemons, with a switch to make calls fail. */
class FakeSync {
  daemons: IpvsSyncDaemon[] = [];
  readonly calls: string[] = [];
  fail = false;
  closed = false;
  syncDaemons(): Promise<readonly IpvsSyncDaemon[]> {
    return Promise.resolve(
      this.daemons.map((d) => ({ state: d.state, ifname: d.ifname, syncId: d.syncId })),
    );
  }
  startSyncDaemon(d: IpvsSyncDaemon): Promise<void> {
    this.calls.push(`start ${d.state}`);
    if (this.fail) return Promise.reject(new Error("ENODEV"));
    this.daemons.push(d);
    return Promise.resolve();
  }
  stopSyncDaemon(state: IpvsSyncDaemon["state"]): Promise<void> {
    this.calls.push(`stop ${state}`);
    this.daemons = this.daemons.filter((d) => d.state !== state);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function runtime(kernel: FakeSync, state: { now: string | null }, clock = new ManualClock(0)) {
  return new LvsSyncRuntime({
    config: configOf(SYNC + INSTANCE).lvsSyncDaemon!,
    ipvs: kernel,
    clock,
    log: new Logger({ level: "error", sink: () => {} }),
    instanceState: () => state.now,
  });
}

const guard = (work: () => Promise<void>) => work();

Deno.test("runtime: backup at start, master when the instance is, backup again on fault; stop at close", async () => {
  const kernel = new FakeSync();
  const state = { now: "backup" as string | null };
  const rt = runtime(kernel, state);
  await rt.start(guard);
  assert.deepEqual(kernel.calls, ["start backup"]);
  await rt.advance();
  assert.deepEqual(kernel.calls, ["start backup"], "nothing to do while the state holds");
  state.now = "master";
  await rt.advance();
  assert.deepEqual(kernel.calls.slice(1), ["stop backup", "start master"]);
  assert.deepEqual(rt.status(0).kernel, ["master"]);
  assert.equal(rt.status(0).role, "master");
  state.now = "fault";
  await rt.advance();
  assert.deepEqual(kernel.calls.slice(3), ["stop master", "start backup"]);
  await rt.close();
  assert.deepEqual(kernel.daemons, []);
  assert.ok(kernel.closed);
});

Deno.test("runtime: a failed start is retried after the retry delay and reported meanwhile", async () => {
  const clock = new ManualClock(0);
  const kernel = new FakeSync();
  kernel.fail = true;
  const rt = runtime(kernel, { now: "master" }, clock);
  await rt.start(guard);
  assert.match(rt.status(0).lastError ?? "", /ENODEV/);
  assert.equal(rt.nextDeadlineMs(), 1000);
  kernel.fail = false;
  await rt.advance();
  assert.equal(kernel.daemons.length, 0, "not before the retry is due");
  clock.setNow(1000);
  await rt.advance();
  assert.deepEqual(kernel.daemons.map((d) => d.state), ["master"]);
  assert.equal(rt.status(0).lastError, null);
  assert.equal(rt.nextDeadlineMs(), null);
  await rt.close();
});

Deno.test("runtime: a reload with another sync_id restarts the daemon; one without the section stops it", async () => {
  const kernel = new FakeSync();
  const rt = runtime(kernel, { now: "master" });
  await rt.start(guard);
  const r = rt.reload(configOf(SYNC.replace("5", "7") + INSTANCE), { linksDown: new Set() });
  assert.deepEqual(r.changes, ["lvs_sync_daemon: eth0 id 7 following VI_web"]);
  await rt.advance();
  assert.deepEqual(kernel.daemons.map((d) => `${d.state} ${d.syncId}`), ["master 7"]);
  rt.reload(configOf(INSTANCE), { linksDown: new Set() });
  await rt.advance();
  assert.deepEqual(kernel.daemons, []);
  await rt.close();
});

/** FakeIpvs with the sync daemons of {@link FakeSync}. */
class SyncingIpvs extends FakeIpvs {
  readonly sync = new FakeSync();
  override syncDaemons() {
    return this.sync.syncDaemons();
  }
  override startSyncDaemon(d: IpvsSyncDaemon) {
    return this.sync.startSyncDaemon(d);
  }
  override stopSyncDaemon(s: IpvsSyncDaemon["state"]) {
    return this.sync.stopSyncDaemon(s);
  }
}

Deno.test("daemon: the sync daemon is backup while VI_web waits, master once it takes over, backup when demoted, gone after stop", async () => {
  const clock = new ManualClock(0);
  const ipvs = new SyncingIpvs();
  const daemon = new Daemon({
    config: configOf(SYNC + INSTANCE),
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.2" }]]),
    clock,
    transports: new FakeLan({ clock, delayMs: 1 }).host("a", ["192.0.2.2"]),
    addresses: new FakeAddressPort([]),
    announcer: new RecordingAnnouncer(clock),
    logger: new Logger({ level: "error", sink: () => {} }),
    openIpvs: () => Promise.resolve(ipvs),
  });
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (daemon.idle) return;
    }
    throw new Error("the daemon never settled");
  };
  await daemon.start();
  await settle();
  assert.deepEqual(ipvs.sync.daemons.map((d) => d.state), ["backup"]);
  assert.equal(daemon.status().lvsSync?.instanceState, "backup");
  // Alone on the LAN: master after Master_Down_Interval (3 s + skew).
  await runClock(clock, 4000, settle);
  assert.equal(daemon.status().instances[0].state, "master");
  assert.deepEqual(ipvs.sync.daemons.map((d) => d.state), ["master"]);
  const st = daemon.status().lvsSync!;
  assert.deepEqual([st.role, st.kernel, st.instanceState], ["master", ["master"], "master"]);
  const text = renderStatus(daemon.status(), { unicode: false, width: 200 });
  assert.match(text, /^lvs sync: master \(VI_web master\) on eth0 id 5, kernel master$/m);
  assert.ok(renderMetrics(daemon).includes('hacore_lvs_sync_daemon{state="master"} 1'));
  daemon.maintenance(true);
  await runClock(clock, 9000, settle);
  assert.notEqual(daemon.status().instances[0].state, "master");
  assert.deepEqual(ipvs.sync.daemons.map((d) => d.state), ["backup"]);
  await daemon.stop();
  assert.deepEqual(ipvs.sync.daemons, []);
});
