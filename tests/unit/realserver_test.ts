/**
 * The LVS-DR real server's side: `[real_server_role]` as the config reads it, the
 * sysctls it wants, and a daemon with no VRRP instance at all on the manual clock that
 * holds the VIPs on `lo` (tagged as hacore's, left alone by the VRRP reconciler), sets
 * `arp_ignore`/`arp_announce` on `lo` and `all`, puts back a VIP deleted by hand,
 * follows a reload, shows it all in status and metrics, and at stop removes its VIPs
 * and restores every sysctl to the value it found, leaving a foreign address alone.
 */
import assert from "node:assert/strict";
import { configOf as configOfToml } from "../fakes/config.ts";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { renderStatus } from "../../lib/cli/format.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import { Logger } from "../../lib/log.ts";
import { fileStateStore, roleSysctls } from "../../lib/lvs/realserver.ts";
import type { Sysctls } from "../../lib/sys/vmac.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";

const ROLE = `[real_server_role]
vips = ["192.0.2.100", "2001:db8::100", "192.0.2.100"]
`;

function parse(text: string) {
  return parseConfig(text, "rs.toml");
}

function configOf(text: string): Config {
  return configOfToml(text, "rs.toml");
}

Deno.test("config: [real_server_role] holds host VIPs on lo with arp_ignore 1 and arp_announce 2 by default", () => {
  assert.deepEqual(configOf(ROLE).realServerRole, {
    vips: [
      { address: "192.0.2.100", family: "ipv4", prefix: 32 },
      { address: "2001:db8::100", family: "ipv6", prefix: 128 },
    ],
    interface: "lo",
    arpIgnore: 1,
    arpAnnounce: 2,
  });
  assert.equal(configOf("").realServerRole, null);
  const bad = parse(`[real_server_role]\nvips = ["224.0.0.1"]\narp_announce = 3\n`);
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map((e) => e.path), [
    "real_server_role.vips[0]",
    "real_server_role.arp_announce",
  ]);
  const none = parse(`[real_server_role]\ninterface = "dummy0"\n`);
  assert.ok(!none.ok);
  assert.match(none.errors[0].message, /missing required key "vips"/);
});

Deno.test("roleSysctls: arp_ignore and arp_announce on the role's interface and on all", () => {
  const c = configOf(ROLE).realServerRole!;
  assert.deepEqual(roleSysctls(c), [
    ["net/ipv4/conf/lo/arp_ignore", 1],
    ["net/ipv4/conf/lo/arp_announce", 2],
    ["net/ipv4/conf/all/arp_ignore", 1],
    ["net/ipv4/conf/all/arp_announce", 2],
  ]);
});

/** Sysctls in a map; a missing path reads as null (no such interface). */
class FakeSysctls implements Sysctls {
  readonly values = new Map<string, number>();
  readonly writes: string[] = [];
  read(path: string): Promise<number | null> {
    return Promise.resolve(this.values.get(path) ?? null);
  }
  write(path: string, value: number): Promise<void> {
    this.writes.push(`${path}=${value}`);
    this.values.set(path, value);
    return Promise.resolve();
  }
  list(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

function node(
  text: string,
  leftover = false,
  stateDir?: string,
  shared?: FakeSysctls,
) {
  const clock = new ManualClock(0);
  const sysctls = shared ?? new FakeSysctls();
  for (const dev of shared === undefined ? ["lo", "all"] : []) {
    sysctls.values.set(`net/ipv4/conf/${dev}/arp_ignore`, 0);
    sysctls.values.set(`net/ipv4/conf/${dev}/arp_announce`, 0);
  }
  // The operator's own loopback address, which hacore must never touch.
  const port = new FakeAddressPort([
    { dev: "lo", address: "127.0.0.1", prefix: 8, family: "ipv4", label: null, hacore: false },
    // A VIP of the role from a run killed with -9.
    ...(leftover
      ? [
        {
          dev: "lo",
          address: "192.0.2.100",
          prefix: 32,
          family: "ipv4",
          label: null,
          hacore: true,
        } as const,
      ]
      : []),
  ]);
  const file = { text };
  const daemon = new Daemon({
    config: configOf(text),
    primaryAddresses: new Map(),
    clock,
    transports: new FakeLan({ clock, delayMs: 1 }).host("rs", ["192.0.2.11"]),
    addresses: port,
    announcer: new RecordingAnnouncer(clock),
    logger: new Logger({ level: "error", sink: () => {} }),
    sysctls,
    ...(stateDir === undefined ? {} : { stateDir }),
    loadConfig: () => Promise.resolve(parse(file.text)),
  });
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (daemon.idle) return;
    }
    throw new Error("the daemon never settled");
  };
  return { clock, sysctls, port, daemon, settle, file };
}

Deno.test("daemon: the role alone holds the VIPs on lo, sets the ARP sysctls, and restores everything at stop", async () => {
  const t = node(ROLE);
  await t.daemon.start();
  await runClock(t.clock, 5000, t.settle);
  assert.ok(t.port.has("lo", "192.0.2.100", 32, true));
  assert.ok(t.port.has("lo", "2001:db8::100", 128, true));
  for (const dev of ["lo", "all"]) {
    assert.equal(t.sysctls.values.get(`net/ipv4/conf/${dev}/arp_ignore`), 1);
    assert.equal(t.sysctls.values.get(`net/ipv4/conf/${dev}/arp_announce`), 2);
  }
  // The VRRP side, with no instance, did not take the role's VIPs for leftovers.
  assert.deepEqual(t.port.ops.filter((o) => o.op === "remove"), []);
  const st = t.daemon.status().realServerRole!;
  assert.deepEqual(st.vips.map((v) => [v.address, v.held]), [
    ["192.0.2.100", true],
    ["2001:db8::100", true],
  ]);
  assert.deepEqual(st.sysctls[0], { name: "net.ipv4.conf.lo.arp_ignore", value: 1, previous: 0 });
  const text = renderStatus(t.daemon.status(), { unicode: false, width: 200 });
  assert.match(text, /^real server role: lo \+ 192\.0\.2\.100\/32 {2}\+ 2001:db8::100\/128$/m);
  assert.match(text, /^ {2}sysctl lo\.arp_ignore=1 \(was 0\), lo\.arp_announce=2 \(was 0\)/m);
  assert.ok(!text.includes("no instances configured"));
  assert.ok(
    renderMetrics(t.daemon).includes('hacore_real_server_vip_held{vip="192.0.2.100"} 1'),
  );
  await t.daemon.stop();
  assert.ok(!t.port.has("lo", "192.0.2.100"));
  assert.ok(!t.port.has("lo", "2001:db8::100"));
  assert.ok(t.port.has("lo", "127.0.0.1", 8), "a foreign address stays");
  for (const dev of ["lo", "all"]) {
    assert.equal(t.sysctls.values.get(`net/ipv4/conf/${dev}/arp_ignore`), 0);
    assert.equal(t.sysctls.values.get(`net/ipv4/conf/${dev}/arp_announce`), 0);
  }
});

Deno.test("daemon: a VIP deleted by hand comes back; a reload adds and removes VIPs", async () => {
  const t = node(ROLE);
  await t.daemon.start();
  await runClock(t.clock, 1000, t.settle);
  assert.ok(t.port.removeByHand("lo", "192.0.2.100"));
  await runClock(t.clock, 1100, t.settle);
  assert.ok(t.port.has("lo", "192.0.2.100", 32, true), "restored");
  t.file.text = `[real_server_role]\nvips = ["192.0.2.100", "192.0.2.101"]\n`;
  const r = await t.daemon.reload();
  assert.ok(r.ok, JSON.stringify(r));
  assert.ok(r.changes.includes("real_server_role: + VIP 192.0.2.101"), JSON.stringify(r.changes));
  assert.ok(r.changes.includes("real_server_role: - VIP 2001:db8::100"));
  await runClock(t.clock, 1200, t.settle);
  assert.ok(t.port.has("lo", "192.0.2.101", 32, true));
  assert.ok(!t.port.has("lo", "2001:db8::100"));
  await t.daemon.stop();
  assert.ok(!t.port.has("lo", "192.0.2.100") && !t.port.has("lo", "192.0.2.101"));
});

Deno.test("daemon: after a kill -9 the role adopts its VIP on lo (the VRRP side does not remove it as a leftover) and removes it at stop", async () => {
  const t = node(ROLE, true);
  await t.daemon.start();
  await runClock(t.clock, 1000, t.settle);
  assert.deepEqual(t.port.ops.filter((o) => o.address === "192.0.2.100"), []);
  assert.equal(t.daemon.status().realServerRole?.vips[0].held, true);
  await t.daemon.stop();
  assert.ok(!t.port.has("lo", "192.0.2.100"));
});

Deno.test("daemon: a role added by a reload to a daemon started without one is refused", async () => {
  const t = node("");
  await t.daemon.start();
  await t.settle();
  t.file.text = ROLE;
  const r = await t.daemon.reload();
  assert.ok(!r.ok);
  assert.match(r.errors[0], /real_server_role added to a daemon started without: restart hacore/);
  await t.daemon.stop();
});

Deno.test("daemon: after a kill -9 the next run restores the sysctls the first run found, not its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-rs-" });
  try {
    const store = fileStateStore(`${dir}/state/real_server_role.json`);
    const first = node(ROLE, false, `${dir}/state`);
    await first.daemon.start();
    await runClock(first.clock, 1000, first.settle);
    assert.deepEqual(await store.load(), {
      "net/ipv4/conf/lo/arp_ignore": 0,
      "net/ipv4/conf/lo/arp_announce": 0,
      "net/ipv4/conf/all/arp_ignore": 0,
      "net/ipv4/conf/all/arp_announce": 0,
    });
    // "kill -9": the daemon is abandoned; a new one starts on the same kernel.
    const second = node(ROLE, false, `${dir}/state`, first.sysctls);
    await second.daemon.start();
    await runClock(second.clock, 1000, second.settle);
    assert.equal(second.sysctls.values.get("net/ipv4/conf/all/arp_ignore"), 1);
    await second.daemon.stop();
    assert.equal(second.sysctls.values.get("net/ipv4/conf/all/arp_ignore"), 0);
    assert.equal(second.sysctls.values.get("net/ipv4/conf/lo/arp_announce"), 0);
    assert.equal(await store.load(), null, "the state goes once restored");
    await first.daemon.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
