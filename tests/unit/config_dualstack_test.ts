/**
 * A dual-stack instance (IPv4 and IPv6 VIPs in one table) is split by the config into
 * two protocol instances, `NAME` (IPv4) and `NAME@v6` (IPv6), that share every setting
 * and sit in one sync group: the declared one, or an implicit group named like the
 * instance. These tests pin the split as the daemon sees it.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import {
  type Config,
  type ConfigError,
  formatConfigError,
  type InstanceConfig,
  parseConfig,
} from "../../lib/config/mod.ts";

function errorsOf(source: string): ConfigError[] {
  const r = parseConfig(source, "test.toml");
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors;
}

function instance(c: Config, name: string): InstanceConfig {
  const vi = c.instances.find((i) => i.name === name);
  if (vi === undefined) {
    throw new Error(`no instance ${name}; have ${c.instances.map((i) => i.name).join(", ")}`);
  }
  return vi;
}

const DUAL = `
[global]
vrrp_version = 3

[vrrp_script.chk]
type = "tcp"
connect = "127.0.0.1:80"
weight = -60

[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_int = 0.1
virtual_ipaddress = ["192.0.2.100/24", "fe80::100/64", "2001:db8::100/64"]
track_script = ["chk"]
track_interface = ["eth1"]
notify_master = "/usr/local/bin/master"
`;

Deno.test("dual-stack: one table becomes NAME (IPv4 VIPs) and NAME@v6 (IPv6 VIPs), in that order", () => {
  const c = configOf(DUAL);
  assert.deepEqual(c.instances.map((i) => i.name), ["web", "web@v6"]);
  const v4 = instance(c, "web");
  const v6 = instance(c, "web@v6");
  assert.equal(v4.family, "ipv4");
  assert.equal(v6.family, "ipv6");
  assert.deepEqual(v4.vips.map((v) => `${v.address}/${v.prefix}`), ["192.0.2.100/24"]);
  // The link-local VIP stays first: RFC 5798 §5.2.9 wants it first in the advert.
  assert.deepEqual(v6.vips.map((v) => `${v.address}/${v.prefix}`), [
    "fe80::100/64",
    "2001:db8::100/64",
  ]);
  assert.equal(v6.vips[0].scope, "link");
  assert.equal(v4.dualStackOf, "web");
  assert.equal(v6.dualStackOf, "web");
});

Deno.test("dual-stack: both halves share VRID, interface, priority, timing and every tracker", () => {
  const c = configOf(DUAL);
  const v4 = instance(c, "web");
  const v6 = instance(c, "web@v6");
  for (
    const key of [
      "interface",
      "vrid",
      "priority",
      "version",
      "advertIntervalMs",
      "preempt",
      "trackScripts",
      "trackInterfaces",
      "trackFiles",
      "trackProcesses",
      "notify",
    ] as const
  ) {
    assert.deepEqual(v6[key], v4[key], key);
  }
  assert.deepEqual(v4.trackScripts, [{ name: "chk", weight: null }]);
  assert.deepEqual(v4.trackInterfaces.map((t) => t.name), ["eth1"]);
});

Deno.test("dual-stack: outside any declared group the halves get an implicit group named like the instance", () => {
  const c = configOf(DUAL);
  assert.equal(c.syncGroups.length, 1);
  const g = c.syncGroups[0];
  assert.equal(g.name, "web");
  assert.deepEqual(g.instances, ["web", "web@v6"]);
  assert.equal(g.implicit, true);
  // The group runs no hooks of its own, and tracks nothing beyond what the halves do.
  assert.deepEqual(g.notify, {
    master: null,
    backup: null,
    fault: null,
    stop: null,
    generic: null,
  });
  assert.deepEqual(
    [g.trackScripts, g.trackInterfaces, g.trackFiles, g.trackProcesses],
    [[], [], [], []],
  );
  assert.equal(instance(c, "web").syncGroup, "web");
  assert.equal(instance(c, "web@v6").syncGroup, "web");
});

Deno.test("dual-stack: a declared group that names the instance gets its @v6 half too; no implicit group", () => {
  const c = configOf(`${DUAL}
[vrrp_instance.db]
interface = "eth1"
virtual_router_id = 52
priority = 150
virtual_ipaddress = ["198.51.100.100/24"]

[vrrp_sync_group.G]
group = ["web", "db"]
notify_master = "/usr/local/bin/group-master"
`);
  assert.deepEqual(c.syncGroups.map((g) => g.name), ["G"]);
  const g = c.syncGroups[0];
  assert.equal(g.implicit, false);
  assert.deepEqual([...g.instances].sort(), ["db", "web", "web@v6"]);
  assert.equal(g.notify.master, "/usr/local/bin/group-master");
  for (const n of ["web", "web@v6", "db"]) assert.equal(instance(c, n).syncGroup, "G", n);
});

Deno.test("dual-stack: unicast source and peers go to the half of their family", () => {
  const c = configOf(`
[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 150
unicast_src_ip = "192.0.2.11"
unicast_peer = ["192.0.2.12", "fe80::12", "192.0.2.13"]
virtual_ipaddress = ["192.0.2.100/24", "fe80::100/64"]
`);
  const v4 = instance(c, "web");
  const v6 = instance(c, "web@v6");
  assert.equal(v4.srcIp, "192.0.2.11");
  assert.deepEqual(v4.unicastPeers, ["192.0.2.12", "192.0.2.13"]);
  // No IPv6 source given: the v6 half sends from the interface's link-local address.
  assert.equal(v6.srcIp, null);
  assert.deepEqual(v6.unicastPeers, ["fe80::12"]);

  const six = configOf(`
[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 150
unicast_src_ip = "fe80::11"
unicast_peer = ["fe80::12"]
virtual_ipaddress = ["192.0.2.100/24", "fe80::100/64"]
`);
  assert.equal(instance(six, "web").srcIp, null);
  assert.equal(instance(six, "web@v6").srcIp, "fe80::11");
  assert.deepEqual(instance(six, "web").unicastPeers, []);
});

Deno.test("dual-stack: excluded VIPs stay with the IPv4 half (held once, by the instance as written)", () => {
  const c = configOf(
    `${DUAL}virtual_ipaddress_excluded = ["198.51.100.1/24", "2001:db8:1::1/64"]\n`,
  );
  assert.deepEqual(instance(c, "web").excludedVips.map((v) => v.address), [
    "198.51.100.1",
    "2001:db8:1::1",
  ]);
  assert.deepEqual(instance(c, "web@v6").excludedVips, []);
});

Deno.test("dual-stack: an instance of one family is not split and gets no group", () => {
  const c = configOf(`
[vrrp_instance.v6]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 150
virtual_ipaddress = ["fe80::100/64", "2001:db8::100/64"]
`);
  assert.deepEqual(c.instances.map((i) => [i.name, i.family, i.dualStackOf, i.syncGroup]), [
    ["v6", "ipv6", null, null],
  ]);
  assert.deepEqual(c.syncGroups, []);
});

Deno.test("dual-stack: its VRID is taken for both families on the interface", () => {
  const base = `${DUAL}
[vrrp_instance.other]
interface = "eth0"
virtual_router_id = 51
priority = 100
`;
  for (const vips of [`["192.0.2.200/24"]`, `["fe80::200/64"]`]) {
    const errors = errorsOf(`${base}virtual_ipaddress = ${vips}\n`);
    const e = errors.find((x) => x.path === "vrrp_instance.other.virtual_router_id");
    assert.ok(e, `a clash with ${vips}: ${errors.map(formatConfigError).join("; ")}`);
    assert.match(e.message, /expected a VRID unique per interface and family/);
    assert.match(e.message, /vrrp_instance\.web/);
  }
  // On another interface the same VRID is fine.
  configOf(`${DUAL}
[vrrp_instance.other]
interface = "eth1"
virtual_router_id = 51
version = 3
priority = 100
virtual_ipaddress = ["192.0.2.200/24", "fe80::200/64"]
`);
});

Deno.test("dual-stack: an instance written as NAME@v6 beside a dual-stack NAME is refused", () => {
  // Names may contain "@"; a table of that name would be a second instance named like
  // the generated half, which status, verbs and sync groups could not tell apart.
  const errors = errorsOf(`${DUAL}
[vrrp_instance."web@v6"]
interface = "eth1"
virtual_router_id = 60
version = 3
priority = 100
virtual_ipaddress = ["192.0.2.60/24"]
`);
  assert.deepEqual(
    errors.map(formatConfigError),
    [
      'test.toml:20: vrrp_instance."web@v6": expected another name: vrrp_instance.web has IPv4 and IPv6 VIPs, and its IPv6 half runs as "web@v6"',
    ],
  );
});

Deno.test("dual-stack: the IPv6 half's first VIP must be link-local, and version 2 is refused", () => {
  const notLinkLocal = errorsOf(`
[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 150
virtual_ipaddress = ["192.0.2.100/24", "2001:db8::100/64"]
`);
  assert.ok(
    notLinkLocal.some((e) => e.path.startsWith("vrrp_instance.web.virtual_ipaddress")),
    notLinkLocal.map(formatConfigError).join("; "),
  );
  const v2 = errorsOf(`
[vrrp_instance.web]
interface = "eth0"
virtual_router_id = 51
version = 2
priority = 150
virtual_ipaddress = ["192.0.2.100/24", "fe80::100/64"]
`);
  assert.ok(v2.some((e) => /version = 3 for a dual-stack/.test(e.message)));
});
