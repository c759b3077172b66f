import assert from "node:assert/strict";
import { parseRouteLine, parseRuleLine } from "../../lib/config/routes.ts";
import { formatConfigError, parseConfig } from "../../lib/config/mod.ts";
import { diffConfigs, diffLines } from "../../lib/config/diff.ts";

function route(text: string) {
  const r = parseRouteLine(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function rule(text: string) {
  const r = parseRuleLine(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function refused(r: { ok: boolean; message?: string }): string {
  assert.ok(!r.ok, "expected the line to be refused");
  return r.message ?? "";
}

Deno.test("a route line reads keepalived's words: src, to, via/gw, dev/oif, table, metric, scope", () => {
  const r = route(
    "src 192.0.2.35 to 10.9.0.0/16 via 192.0.2.1 dev eth0 table 100 metric 5 scope link",
  );
  assert.deepEqual(
    [r.family, r.dst, r.dstLen, r.src, r.via, r.dev, r.table, r.metric, r.scope, r.type],
    ["ipv4", "10.9.0.0", 16, "192.0.2.35", "192.0.2.1", "eth0", 100, 5, "link", "unicast"],
  );
  const g = route("default gw 2001:db8::1 oif eth1 priority 7 table main");
  assert.deepEqual([g.family, g.dst, g.dstLen, g.via, g.dev, g.metric, g.table], [
    "ipv6",
    "::",
    0,
    "2001:db8::1",
    "eth1",
    7,
    254,
  ]);
});

Deno.test("a route's type comes first; blackhole needs no device, unicast needs via or dev", () => {
  assert.equal(route("blackhole 203.0.113.0/24").type, "blackhole");
  assert.equal(route("throw 203.0.113.0/24 dev eth0 table 100").type, "throw");
  assert.match(
    refused(parseRouteLine("203.0.113.0/24")),
    /expected "via ADDRESS" or "dev INTERFACE"/,
  );
  assert.match(refused(parseRouteLine("blackhole 203.0.113.0/24 via 192.0.2.1")), /takes no "via"/);
});

Deno.test("a route line refuses unknown and unsupported words by name, and host bits", () => {
  assert.match(
    refused(parseRouteLine("10.9.0.0/16 via 192.0.2.1 metrik 5")),
    /unknown word "metrik"; did you mean "metric"\? in the route "10\.9\.0\.0\/16 via 192\.0\.2\.1 metrik 5"/,
  );
  assert.match(
    refused(parseRouteLine("10.9.0.0/16 via 192.0.2.1 or 192.0.2.2")),
    /"or" is not supported by hacore/,
  );
  assert.match(
    refused(parseRouteLine("10.9.0.1/16 dev eth0")),
    /host bits set: the network is 10\.9\.0\.0\/16/,
  );
  assert.match(
    refused(parseRouteLine("10.9.0.0/16 via 2001:db8::1")),
    /is IPv6 but the destination is IPv4/,
  );
  assert.match(refused(parseRouteLine("10.9.0.0/16 dev eth0 table 0")), /expected a table id/);
  assert.match(refused(parseRouteLine("10.9.0.0/16 dev eth0 dev eth1")), /"dev" is given twice/);
});

Deno.test("a rule line reads selectors, priority aliases, not, and one action", () => {
  const r = rule(
    "not from 192.0.2.0/24 to 10.0.0.0/8 iif eth0 oif eth1 fwmark 0x10/0xff tos 16 lookup 100 preference 9",
  );
  assert.deepEqual(
    [
      r.invert,
      r.from,
      r.to,
      r.iif,
      r.oif,
      r.fwmark,
      r.fwmask,
      r.tos,
      r.table,
      r.priority,
      r.action,
    ],
    [
      true,
      { address: "192.0.2.0", prefix: 24 },
      { address: "10.0.0.0", prefix: 8 },
      "eth0",
      "eth1",
      16,
      255,
      16,
      100,
      9,
      "lookup",
    ],
  );
  assert.deepEqual([rule("fwmark 7 goto 110 order 5").action, rule("fwmark 7 goto 110").goto], [
    "goto",
    110,
  ]);
  const v6 = rule("from 2001:db8::/32 unreachable priority 109");
  assert.deepEqual([v6.family, v6.action, v6.table], ["ipv6", "unreachable", 0]);
  assert.equal(rule("from all table main priority 1").from, null, "from all matches anything");
  assert.equal(rule("from 192.0.2.1 table 1").from?.prefix, 32, "an address alone is a host");
});

Deno.test("a rule line needs an action, one of them, and refuses unknown words by name", () => {
  assert.match(refused(parseRuleLine("from 192.0.2.0/24 priority 5")), /expected an action/);
  assert.match(refused(parseRuleLine("table 1 blackhole")), /more than one action/);
  assert.match(refused(parseRuleLine("from 192.0.2.0/24 table 1 pref 5")), /unknown word "pref"/);
  assert.match(
    refused(parseRuleLine("from 192.0.2.0/24 uidrange 1-2 table 1")),
    /"uidrange" is not supported by hacore/,
  );
  assert.match(
    refused(parseRuleLine("from 192.0.2.0/24 to 2001:db8::/32 table 1")),
    /mixes IPv4 and IPv6/,
  );
});

Deno.test("TOML: static_* at the top level, virtual_routes/rules per instance; errors point at the element", () => {
  const ok = parseConfig(
    `static_ipaddress = ["192.0.2.50/24 dev eth0"]
static_routes = ["198.51.100.0/24 via 192.0.2.1"]
static_rules = ["from 192.0.2.0/24 table 100 priority 100"]
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.10/24"]
virtual_routes = ["10.9.0.0/16 via 192.0.2.1 table 100"]
virtual_rules = ["from 192.0.2.10 table 100 priority 100"]
`,
    "a.toml",
  );
  assert.ok(ok.ok, ok.ok ? "" : ok.errors.map(formatConfigError).join("\n"));
  assert.equal(ok.config.staticAddresses[0].dev, "eth0");
  assert.equal(ok.config.staticRoutes[0].via, "192.0.2.1");
  assert.equal(ok.config.staticRules[0].priority, 100);
  assert.equal(ok.config.instances[0].virtualRoutes[0].table, 100);
  assert.equal(ok.config.instances[0].virtualRules[0].from?.address, "192.0.2.10");
  const bad = parseConfig(
    `static_ipaddress = ["192.0.2.50/24"]
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.10/24"]
virtual_routes = ["10.9.0.0/16 via 192.0.2.1", "10.8.0.0/16 mtu 1400"]
`,
    "a.toml",
  );
  assert.ok(!bad.ok);
  const text = bad.errors.map(formatConfigError).join("\n");
  assert.match(text, /static_ipaddress\[0\]: expected "dev INTERFACE" on a static address/);
  assert.match(text, /virtual_routes\[1\]: "mtu" is not supported by hacore/);
});

Deno.test("the IPv6 half of a dual-stack instance holds no routes: the IPv4 half holds them once", () => {
  const r = parseConfig(
    `[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 1
version = 3
virtual_ipaddress = ["192.0.2.10/24", "fe80::10/64"]
virtual_routes = ["10.9.0.0/16 via 192.0.2.1"]
`,
    "a.toml",
  );
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  assert.deepEqual(r.config.instances.map((i) => [i.name, i.virtualRoutes.length]), [
    ["VI_1", 1],
    ["VI_1@v6", 0],
  ]);
});

Deno.test("a reload's diff names changed virtual routes and static routes, applied without a restart", () => {
  const base = (extra: string, statics: string) =>
    `${statics}[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 1\nvirtual_ipaddress = ["192.0.2.10/24"]\n${extra}`;
  const a = parseConfig(base("", ""), "a.toml");
  const b = parseConfig(
    base(
      `virtual_routes = ["10.9.0.0/16 via 192.0.2.1"]\n`,
      `static_routes = ["blackhole 203.0.113.0/24"]\n`,
    ),
    "a.toml",
  );
  assert.ok(a.ok && b.ok);
  const lines = diffLines(diffConfigs(a.config, b.config));
  assert.deepEqual(lines, [
    'VI_1: virtual_routes (none) -> "10.9.0.0/16 via 192.0.2.1"',
    'global: static_routes (none) -> "blackhole 203.0.113.0/24"',
  ]);
});

Deno.test("per-instance garp_* keys default to the global vrrp_garp_* ones; lower_prio to the global master ones", () => {
  const r = parseConfig(
    `[global]
vrrp_garp_master_delay = 2
vrrp_garp_master_repeat = 3
vrrp_garp_lower_prio_repeat = 1
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["192.0.2.10/24"]
garp_master_repeat = 4
garp_master_refresh = 60
[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 2
virtual_ipaddress = ["192.0.2.11/24"]
garp_lower_prio_delay = 0
`,
    "a.toml",
  );
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  assert.deepEqual(r.config.instances.map((i) => i.garp), [
    {
      masterDelayMs: 2000,
      masterRepeat: 4,
      masterRefreshMs: 60_000,
      masterRefreshRepeat: 1,
      lowerPrioDelayMs: 2000,
      lowerPrioRepeat: 1,
    },
    {
      masterDelayMs: 2000,
      masterRepeat: 3,
      masterRefreshMs: 0,
      masterRefreshRepeat: 1,
      lowerPrioDelayMs: 0,
      lowerPrioRepeat: 1,
    },
  ]);
});
