import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import type { Config } from "../../lib/config/mod.ts";
import {
  checksActive,
  desiredTable,
  type HealthMap,
  type IpvsTable,
  liveWeight,
  omegaNotifications,
} from "../../lib/lvs/desired.ts";
import {
  AF_INET,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  IP_VS_SVC_F_ONEPACKET,
  IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED1,
  IP_VS_SVC_F_SCHED2,
  IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "../../lib/sys/netlink/ipvs_types.ts";

/** Three DR real servers with checks, weights 1, 2, 3; extra keys go on the virtual server. */
function pool(extra = "", rsExtra: [string, string, string] = ["", "", ""]): Config {
  const rs = (n: number, more: string) =>
    `[[virtual_server.web.real_server]]
address = "192.0.2.1${n}"
weight = ${n}
${more}
[[virtual_server.web.real_server.check]]
type = "tcp"
`;
  return configOf(`[virtual_server.web]
address = "192.0.2.100"
port = 80
lb_kind = "DR"
${extra}
${rs(1, rsExtra[0])}${rs(2, rsExtra[1])}${rs(3, rsExtra[2])}`);
}

function table(c: Config, health: HealthMap, quorum = new Map<string, boolean>()): IpvsTable {
  return desiredTable({
    virtualServers: c.virtualServers,
    groups: c.virtualServerGroups,
    health,
    quorum,
  });
}

/** "address:weight" of each destination of the first service. */
function dests(t: IpvsTable): string[] {
  return t[0].dests.map((d) => `${d.address}:${d.weight}`);
}

const up = { up: true };
const down = { up: false };

Deno.test("desired: every live real server is in with its weight", () => {
  const t = table(pool(), new Map());
  assert.equal(t.length, 1);
  assert.deepEqual(t[0].service, {
    af: AF_INET,
    protocol: IPPROTO_TCP,
    address: "192.0.2.100",
    port: 80,
    fwmark: 0,
    scheduler: "wlc",
    flags: 0,
    timeoutS: 0,
    netmask: 32,
    persistenceEngine: null,
  });
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:2", "192.0.2.13:3"]);
  assert.deepEqual(t[0].dests[0], {
    af: AF_INET,
    address: "192.0.2.11",
    port: 80,
    forward: IP_VS_CONN_F_DROUTE,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunnelType: 0,
    tunnelPort: 0,
    tunnelFlags: 0,
  });
});

Deno.test("desired: a failed real server is removed", () => {
  const t = table(pool(), new Map([["web/192.0.2.12:80", down]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.13:3"]);
});

Deno.test("desired: a failed real server with inhibit_on_failure stays with weight 0", () => {
  const c = pool("", ["", "inhibit_on_failure = true", ""]);
  const t = table(c, new Map([["web/192.0.2.12:80", down]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:0", "192.0.2.13:3"]);
});

Deno.test("desired: a dynamic weight from a check replaces the configured one", () => {
  const t = table(pool(), new Map([["web/192.0.2.13:80", { up: true, weight: 7 }]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:2", "192.0.2.13:7"]);
});

Deno.test("desired: with alpha, real servers start down until a verdict says up", () => {
  const c = pool("alpha = true");
  assert.deepEqual(dests(table(c, new Map())), []);
  assert.deepEqual(dests(table(c, new Map([["web/192.0.2.12:80", up]]))), ["192.0.2.12:2"]);
});

Deno.test("desired: a real server without checks is always up, alpha or not", () => {
  const c = configOf(`[virtual_server.web]
address = "192.0.2.100"
port = 80
alpha = true
[[virtual_server.web.real_server]]
address = "192.0.2.11"
`);
  assert.deepEqual(dests(table(c, new Map([["web/192.0.2.11:80", down]]))), ["192.0.2.11:1"]);
});

const SORRY = `quorum = 4
hysteresis = 1
[virtual_server.web.sorry_server]
address = "192.0.2.200"
`;

Deno.test("desired: losing quorum swaps the sorry server in for the real servers", () => {
  const c = pool(SORRY);
  const health = new Map([["web/192.0.2.13:80", down]]);
  const t = table(c, health, new Map([["web", false]]));
  assert.deepEqual(dests(t), ["192.0.2.200:1"]);
  assert.equal(t[0].dests[0].forward, IP_VS_CONN_F_DROUTE);
});

Deno.test("desired: regaining quorum swaps the sorry server out", () => {
  const t = table(pool(SORRY), new Map(), new Map([["web", true]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:2", "192.0.2.13:3"]);
});

Deno.test("desired: without a quorum state, it is the live weight against quorum", () => {
  const c = pool(SORRY);
  // Live weight 1 + 2 = 3 < 4: lost.
  assert.deepEqual(dests(table(c, new Map([["web/192.0.2.13:80", down]]))), ["192.0.2.200:1"]);
  assert.equal(liveWeight(c.virtualServers[0], new Map([["web/192.0.2.13:80", down]])), 3);
});

Deno.test("desired: an inhibited sorry server waits with weight 0 while quorum holds", () => {
  const c = pool(`${SORRY}inhibit = true\n`);
  const t = table(c, new Map(), new Map([["web", true]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:2", "192.0.2.13:3", "192.0.2.200:0"]);
});

Deno.test("desired: a sorry server that is also a real server is listed once", () => {
  const c = pool(`quorum = 1
[virtual_server.web.sorry_server]
address = "192.0.2.13"
inhibit = true
`);
  const t = table(c, new Map([["web/192.0.2.13:80", down]]), new Map([["web", true]]));
  assert.deepEqual(dests(t), ["192.0.2.11:1", "192.0.2.12:2"]);
});

Deno.test("desired: without a sorry server, lost quorum leaves the live servers in", () => {
  const c = pool("quorum = 10");
  assert.deepEqual(dests(table(c, new Map(), new Map([["web", false]]))), [
    "192.0.2.11:1",
    "192.0.2.12:2",
    "192.0.2.13:3",
  ]);
});

Deno.test("desired: persistence, scheduler flags and one-packet become service bits", () => {
  const c = configOf(`[virtual_server.dns]
address = "192.0.2.100"
port = 53
protocol = "udp"
ops = true
lb_algo = "sh"
sh_fallback = true
sh_port = true
persistence_timeout = 120
persistence_granularity = 24
persistence_engine = "sip"
`);
  const s = table(c, new Map())[0].service;
  assert.equal(s.protocol, IPPROTO_UDP);
  assert.equal(
    s.flags,
    IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_ONEPACKET | IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2,
  );
  assert.equal(s.timeoutS, 120);
  assert.equal(s.netmask, 24);
  assert.equal(s.persistenceEngine, "sip");
});

Deno.test("desired: a fwmark service has no address, port or protocol", () => {
  const c = configOf(`[virtual_server.m]
fwmark = 5
lb_kind = "TUN"
[[virtual_server.m.real_server]]
address = "192.0.2.11"
port = 8080
tunnel_type = "gue"
tunnel_port = 6080
tunnel_checksum = "csum"
`);
  const [e] = table(c, new Map());
  assert.deepEqual(
    [e.service.fwmark, e.service.protocol, e.service.address, e.service.port],
    [5, 0, "0.0.0.0", 0],
  );
  assert.deepEqual(
    [e.dests[0].port, e.dests[0].forward, e.dests[0].tunnelType, e.dests[0].tunnelPort],
    [8080, IP_VS_CONN_F_TUNNEL, IP_VS_CONN_F_TUNNEL_TYPE_GUE, 6080],
  );
  assert.equal(e.dests[0].tunnelFlags, IP_VS_TUNNEL_ENCAP_FLAG_CSUM);
});

Deno.test("desired: a group gives one service per address and fwmark, same real servers", () => {
  const c = configOf(`[virtual_server_group.g]
addresses = ["192.0.2.10-11:80"]
fwmarks = [9]
[virtual_server.api]
group = "g"
[[virtual_server.api.real_server]]
address = "192.0.2.31"
port = 80
`);
  const t = table(c, new Map());
  assert.deepEqual(
    t.map((e) => `${e.service.address}:${e.service.port}/${e.service.fwmark}`),
    ["192.0.2.10:80/0", "192.0.2.11:80/0", "0.0.0.0:0/9"],
  );
  for (const e of t) {
    assert.deepEqual(e.dests.map((d) => [d.address, d.forward]), [[
      "192.0.2.31",
      IP_VS_CONN_F_MASQ,
    ]]);
  }
});

Deno.test("desired: ha_suspend runs checks only while a virtual address is held", () => {
  const c = pool("ha_suspend = true");
  const vs = c.virtualServers[0];
  assert.equal(checksActive(vs, c.virtualServerGroups, new Set(["192.0.2.100"])), true);
  assert.equal(checksActive(vs, c.virtualServerGroups, new Set()), false);
  const plain = pool().virtualServers[0];
  assert.equal(checksActive(plain, [], new Set()), true);
});

Deno.test("desired: omega runs notify_down of the servers that are up at shutdown", () => {
  const c = pool("omega = true", [
    'notify_down = "/bin/d11"',
    'notify_down = "/bin/d12"',
    "",
  ]);
  const health = new Map([["web/192.0.2.12:80", down]]);
  assert.deepEqual(omegaNotifications(c.virtualServers, health), [
    { realServer: "web/192.0.2.11:80", command: "/bin/d11" },
  ]);
  const noOmega = pool("", ['notify_down = "/bin/d11"', "", ""]);
  assert.deepEqual(omegaNotifications(noOmega.virtualServers, new Map()), []);
});
