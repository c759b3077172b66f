/**
 * Preflight over injected kernel readings: the IPVS sysctls that change what a config
 * does, scheduler and persistence-engine modules the kernel lacks, and features (IPv6,
 * GUE/GRE tunnels) it is too old or too bare for, each with the key that needs it; and
 * the reading of those facts from /proc and /lib/modules through a fake reader.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import {
  type KernelFacts,
  preflightFindings,
  preflightLine,
  readKernelFacts,
} from "../../lib/lvs/preflight.ts";

function vs(name: string, extra = "", rsExtra = "", address = "192.0.2.100"): string {
  return `[virtual_server.${name}]
address = "${address}"
port = 80
${extra.includes("lb_kind") ? "" : 'lb_kind = "DR"'}
${extra}
[[virtual_server.${name}.real_server]]
address = "${address.includes(":") ? "2001:db8::11" : "192.0.2.11"}"
${rsExtra}
`;
}

/** A kernel with every module and IPv6, and the sysctls at the values given. */
function facts(sysctls: Record<string, number> = {}, over: Partial<KernelFacts> = {}): KernelFacts {
  return {
    release: "6.1.0",
    sysctls: new Map(Object.entries(sysctls)),
    modulesLoaded: new Set(["ip_vs", "ip_vs_wlc"]),
    modulesAvailable: new Set(["ip_vs_rr", "ip_vs_sh", "ip_vs_pe_sip", "fou"]),
    ipv6: true,
    ...over,
  };
}

const SAFE = { expire_nodest_conn: 1, expire_quiescent_template: 1, conn_reuse_mode: 3 };

Deno.test("preflight: nothing to say for a VRRP-only config", () => {
  const c = configOf(`[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 1
priority = 100
virtual_ipaddress = ["192.0.2.1/24"]
`);
  assert.deepEqual(preflightFindings(c, facts({ expire_nodest_conn: 0 })), []);
});

Deno.test("preflight: safe sysctls and present modules give no finding", () => {
  assert.deepEqual(preflightFindings(configOf(vs("web")), facts(SAFE)), []);
});

Deno.test("preflight: expire_nodest_conn=0 is a warning on the first real server without inhibit_on_failure", () => {
  const c = configOf(vs("a", "", "inhibit_on_failure = true") + vs("b", "", "", "192.0.2.101"));
  const f = preflightFindings(c, facts({ ...SAFE, expire_nodest_conn: 0 }));
  assert.equal(f.length, 1);
  assert.equal(f[0].level, "warn");
  assert.equal(f[0].key, "virtual_server.b.real_server[0].inhibit_on_failure");
  assert.match(f[0].message, /expire_nodest_conn = 0: .*hang until they time out/);
  assert.match(preflightLine(f[0]), /^preflight warning: virtual_server\.b\.real_server\[0\]/);
});

Deno.test("preflight: expire_quiescent_template=0 matters only with persistence", () => {
  const plain = facts({ ...SAFE, expire_quiescent_template: 0 });
  assert.deepEqual(preflightFindings(configOf(vs("web")), plain), []);
  const f = preflightFindings(configOf(vs("web", "persistence_timeout = 600")), plain);
  assert.deepEqual(f.map((x) => [x.level, x.key]), [
    ["warn", "virtual_server.web.persistence_timeout"],
  ]);
  assert.match(f[0].message, /weight 0/);
});

Deno.test("preflight: conn_reuse_mode 0 warns, 1 with DR notes bit 2, 1 with conntrack before 5.9 warns", () => {
  const c = configOf(vs("web"));
  const zero = preflightFindings(c, facts({ ...SAFE, conn_reuse_mode: 0 }));
  assert.deepEqual(zero.map((x) => [x.level, x.key]), [
    ["warn", "/proc/sys/net/ipv4/vs/conn_reuse_mode"],
  ]);
  const one = preflightFindings(c, facts({ ...SAFE, conn_reuse_mode: 1 }));
  assert.deepEqual(one.map((x) => [x.level, x.key]), [["info", "virtual_server.web.lb_kind"]]);
  const old = preflightFindings(
    c,
    facts({ ...SAFE, conn_reuse_mode: 3, conntrack: 1 }, { release: "5.4.0-150-generic" }),
  );
  assert.deepEqual(old.map((x) => x.level), ["warn"]);
  assert.match(old[0].message, /fixed in 5\.9/);
});

Deno.test("preflight: a scheduler module the kernel neither has nor can load is a warning on lb_algo", () => {
  const c = configOf(vs("web", 'lb_algo = "twos"') + vs("b", 'lb_algo = "rr"', "", "192.0.2.7"));
  const f = preflightFindings(c, facts(SAFE));
  assert.deepEqual(f.map((x) => [x.level, x.key]), [["warn", "virtual_server.web.lb_algo"]]);
  assert.match(f[0].message, /ip_vs_twos/);
  // Without modules.dep it cannot tell: a note, not a warning.
  const unknown = preflightFindings(c, facts(SAFE, { modulesAvailable: null }));
  assert.deepEqual(unknown.map((x) => x.level), ["info", "info"]);
});

Deno.test("preflight: the SIP persistence engine needs ip_vs_pe_sip", () => {
  const c = configOf(
    vs("sip", 'persistence_engine = "sip"\npersistence_timeout = 60\nprotocol = "udp"'),
  );
  assert.deepEqual(preflightFindings(c, facts({ ...SAFE, expire_quiescent_template: 1 })), []);
  const f = preflightFindings(c, facts(SAFE, { modulesAvailable: new Set(["ip_vs_rr"]) }));
  assert.ok(f.some((x) => x.key === "virtual_server.sip.persistence_engine"));
});

Deno.test("preflight: an IPv6 virtual server on a kernel without IPv6, and GRE on a 4.19 kernel", () => {
  const v6 = configOf(vs("v6", "", "", "2001:db8::100"));
  const f = preflightFindings(v6, facts(SAFE, { ipv6: false }));
  assert.deepEqual(f.map((x) => x.key), ["virtual_server.v6.address"]);
  const gre = configOf(vs("t", 'lb_kind = "TUN"', 'tunnel_type = "gre"'));
  assert.deepEqual(preflightFindings(gre, facts(SAFE)), []);
  const old = preflightFindings(gre, facts(SAFE, { release: "4.19.0" }));
  assert.deepEqual(old.map((x) => x.key), ["virtual_server.t.real_server[0].tunnel_type"]);
  assert.match(old[0].message, /Linux 5\.3/);
});

Deno.test("readKernelFacts: sysctls, loaded and built-in modules, modules.dep, IPv6 from the files", async () => {
  const files: Record<string, string> = {
    "/proc/sys/kernel/osrelease": "6.1.176\n",
    "/proc/sys/net/ipv4/vs/expire_nodest_conn": "0\n",
    "/proc/sys/net/ipv4/vs/conn_reuse_mode": "1\n",
    "/proc/modules": "ip_vs_wlc 1753 0 - Live 0x0\nip_vs 162529 30 ip_vs_wlc, Live 0x0\n",
    "/lib/modules/6.1.176/modules.builtin": "kernel/net/ipv4/fou.ko\n",
    "/lib/modules/6.1.176/modules.dep":
      "kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\n" +
      "kernel/net/netfilter/ipvs/ip_vs_sh.ko.xz:\n",
  };
  const f = await readKernelFacts((p) => Promise.resolve(files[p] ?? null));
  assert.equal(f.release, "6.1.176");
  assert.deepEqual([...f.sysctls], [["expire_nodest_conn", 0], ["conn_reuse_mode", 1]]);
  assert.deepEqual([...f.modulesLoaded].sort(), ["fou", "ip_vs", "ip_vs_wlc"]);
  assert.deepEqual([...(f.modulesAvailable ?? [])].sort(), ["ip_vs_rr", "ip_vs_sh"]);
  assert.equal(f.ipv6, false);
});
