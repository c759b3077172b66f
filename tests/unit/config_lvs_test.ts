import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { checkCommand } from "../../lib/cli/check.ts";
import {
  type ConfigError,
  formatConfigError,
  loadConfig,
  parseConfig,
  summarizeVirtualServer,
} from "../../lib/config/mod.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url);

function errorsOf(source: string): ConfigError[] {
  const r = parseConfig(source, "test.toml");
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors;
}

/** A valid address-based virtual server; cases append keys and tables after it. */
const VS = `[virtual_server.web]
address = "192.0.2.100"
port = 80
`;

const RS = `[[virtual_server.web.real_server]]
address = "192.0.2.11"
`;

Deno.test("a config without virtual servers has empty LVS sections", () => {
  const c = configOf(`[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.10"]
`);
  assert.deepEqual(c.virtualServers, []);
  assert.deepEqual(c.virtualServerGroups, []);
});

Deno.test("a minimal virtual server gets keepalived's defaults", () => {
  const vs = configOf(VS + RS).virtualServers[0];
  assert.deepEqual(vs, {
    name: "web",
    target: { kind: "address", address: "192.0.2.100", port: 80 },
    family: "ipv4",
    protocol: "tcp",
    scheduler: "wlc",
    schedFallback: false,
    schedPort: false,
    onePacket: false,
    method: "NAT",
    persistence: null,
    alpha: false,
    omega: false,
    haSuspend: false,
    quorum: 1,
    hysteresis: 0,
    quorumUp: null,
    quorumDown: null,
    smtpAlert: null,
    virtualhost: null,
    sorryServer: null,
    realServers: [{
      id: "web/192.0.2.11:80",
      address: "192.0.2.11",
      family: "ipv4",
      port: 80,
      weight: 1,
      method: "NAT",
      tunnel: null,
      inhibitOnFailure: false,
      uThreshold: 0,
      lThreshold: 0,
      notifyUp: null,
      notifyDown: null,
      smtpAlert: null,
      checks: [],
      slowStartMs: 0,
    }],
  });
});

Deno.test("a real server's check targets the real server and inherits the pacing", () => {
  const vs = configOf(`${VS}delay_loop = 6
connect_timeout = 2
nb_get_retry = 3
virtualhost = "www.example.com"
${RS}port = 8080
[[virtual_server.web.real_server.check]]
type = "http"
url = "/health"
status = ["200-204"]
[[virtual_server.web.real_server.check]]
type = "tcp"
connect_port = 9000
delay_before_retry = 0.5
[[virtual_server.web.real_server.check]]
type = "icmp"
`).virtualServers[0];
  const [http, tcp, icmp] = vs.realServers[0].checks;
  assert.deepEqual(http, {
    check: {
      kind: "http",
      tls: false,
      target: { host: "192.0.2.11", port: 8080 },
      path: "/health",
      hostHeader: "www.example.com",
      sni: null,
      verifyTls: true,
      statusRanges: [[200, 204]],
      bodyRegex: null,
      digest: null,
    },
    intervalMs: 6000,
    timeoutMs: 2000,
    retry: 3,
    delayBeforeRetryMs: 1000,
    // keepalived spreads first checks over one delay_loop unless warmup says otherwise.
    warmupMs: 6000,
  });
  assert.deepEqual(tcp.check, { kind: "tcp", target: { host: "192.0.2.11", port: 9000 } });
  assert.equal(tcp.delayBeforeRetryMs, 500);
  assert.equal(icmp.warmupMs, 6000);
  assert.deepEqual(icmp.check, { kind: "icmp", host: "192.0.2.11" });
});

Deno.test("warmup set on the virtual server applies to every check", () => {
  const vs =
    configOf(`${VS}warmup = 0\n${RS}[[virtual_server.web.real_server.check]]\ntype = "tcp"\n`)
      .virtualServers[0];
  assert.equal(vs.realServers[0].checks[0].warmupMs, 0);
});

Deno.test("inhibit_on_failure on the virtual server is the default of its real servers", () => {
  const vs = configOf(`${VS}inhibit_on_failure = true\n${RS}[[virtual_server.web.real_server]]
address = "192.0.2.12"
inhibit_on_failure = false
`).virtualServers[0];
  assert.deepEqual(vs.realServers.map((rs) => rs.inhibitOnFailure), [true, false]);
});

Deno.test("a fwmark virtual server takes its family from its real servers", () => {
  const vs = configOf(`[virtual_server.m]
fwmark = 1
[[virtual_server.m.real_server]]
address = "2001:db8::11"
port = 80
`).virtualServers[0];
  assert.equal(vs.family, "ipv6");
});

Deno.test("a full URL in a real server's check is kept as written", () => {
  const vs = configOf(`${VS}${RS}[[virtual_server.web.real_server.check]]
type = "https"
url = "https://192.0.2.50:8443/ready"
`).virtualServers[0];
  const c = vs.realServers[0].checks[0].check;
  assert.equal(c.kind === "http" && c.tls, true);
  assert.deepEqual(c.kind === "http" ? c.target : null, { host: "192.0.2.50", port: 8443 });
});

Deno.test("an IPv6 virtual server checks its real servers at bracketed addresses", () => {
  const vs = configOf(`[virtual_server.v6]
address = "2001:DB8::100"
port = 443
[[virtual_server.v6.real_server]]
address = "2001:db8::11"
[[virtual_server.v6.real_server.check]]
type = "tcp"
`).virtualServers[0];
  assert.equal(vs.family, "ipv6");
  assert.deepEqual(vs.target, { kind: "address", address: "2001:db8::100", port: 443 });
  assert.equal(vs.realServers[0].id, "v6/[2001:db8::11]:443");
  assert.deepEqual(vs.realServers[0].checks[0].check, {
    kind: "tcp",
    target: { host: "2001:db8::11", port: 443 },
  });
});

Deno.test("persistence reads a netmask as a prefix and defaults to one client address", () => {
  const a = configOf(`${VS}persistence_timeout = 300\npersistence_granularity = "255.255.255.0"\n`);
  assert.deepEqual(a.virtualServers[0].persistence, {
    timeoutS: 300,
    granularityPrefix: 24,
    engine: null,
  });
  const b = configOf(`${VS}persistence_timeout = 60\npersistence_engine = "sip"\n`);
  assert.deepEqual(b.virtualServers[0].persistence, {
    timeoutS: 60,
    granularityPrefix: 32,
    engine: "sip",
  });
});

Deno.test("a persistent service may listen on every port (port 0)", () => {
  const vs = configOf(`[virtual_server.all]
address = "192.0.2.100"
port = 0
persistence_timeout = 60
`).virtualServers[0];
  assert.deepEqual(vs.target, { kind: "address", address: "192.0.2.100", port: 0 });
});

Deno.test("a group expands its ranges and keeps its fwmarks", () => {
  const c = configOf(`[virtual_server_group.g]
addresses = ["192.0.2.10-12:80", "192.0.2.20:443"]
fwmarks = [7]
[virtual_server.api]
group = "g"
[[virtual_server.api.real_server]]
address = "192.0.2.31"
port = 80
`);
  assert.deepEqual(c.virtualServerGroups[0], {
    name: "g",
    addresses: [
      { address: "192.0.2.10", family: "ipv4", port: 80 },
      { address: "192.0.2.11", family: "ipv4", port: 80 },
      { address: "192.0.2.12", family: "ipv4", port: 80 },
      { address: "192.0.2.20", family: "ipv4", port: 443 },
    ],
    fwmarks: [7],
  });
  assert.deepEqual(c.virtualServers[0].target, { kind: "group", group: "g" });
});

Deno.test("an IPv6 group range counts in hex over the last group", () => {
  const c = configOf(`[virtual_server_group.g]
addresses = ["[2001:db8::a-c]:80"]
`);
  assert.deepEqual(c.virtualServerGroups[0].addresses.map((a) => a.address), [
    "2001:db8::a",
    "2001:db8::b",
    "2001:db8::c",
  ]);
});

Deno.test("a TUN real server reads its tunnel; the scheduler flags set their bits", () => {
  const vs = configOf(`[virtual_server.m]
fwmark = 3
lb_algo = "mh"
mh_fallback = true
mh_port = true
lb_kind = "TUN"
[[virtual_server.m.real_server]]
address = "192.0.2.11"
port = 80
tunnel_type = "gue"
tunnel_port = 6080
tunnel_checksum = "remcsum"
`).virtualServers[0];
  assert.equal(vs.schedFallback, true);
  assert.equal(vs.schedPort, true);
  assert.deepEqual(vs.realServers[0].tunnel, { type: "gue", port: 6080, checksum: "remcsum" });
});

Deno.test("the sorry server takes the virtual server's port and method", () => {
  const vs = configOf(`${VS}lb_kind = "DR"
[virtual_server.web.sorry_server]
address = "192.0.2.200"
inhibit = true
`).virtualServers[0];
  assert.deepEqual(vs.sorryServer, {
    address: "192.0.2.200",
    port: 80,
    method: "DR",
    tunnel: null,
    inhibit: true,
  });
});

interface BrokenCase {
  name: string;
  toml: string;
  path: string;
  line: number | null;
  message: RegExp | string;
}

const BROKEN: BrokenCase[] = [
  {
    name: "an unknown virtual server key suggests the right one",
    toml: `${VS}lb_algorithm = "rr"\n`,
    path: "virtual_server.web.lb_algorithm",
    line: 4,
    message: /unknown key "lb_algorithm" in \[virtual_server.web\]; did you mean "lb_algo"\?/,
  },
  {
    name: "a scheduler the kernel does not have is refused",
    toml: `${VS}lb_algo = "wrrr"\n`,
    path: "virtual_server.web.lb_algo",
    line: 4,
    message: /expected one of "rr", "wrr", .* "twos", got "wrrr"/,
  },
  {
    name: "sh flags need the sh scheduler",
    toml: `${VS}lb_algo = "rr"\nsh_port = true\n`,
    path: "virtual_server.web.sh_port",
    line: 5,
    message: `"sh_port" only applies to lb_algo = "sh", got lb_algo = "rr"`,
  },
  {
    name: "mh flags need the mh scheduler",
    toml: `${VS}lb_algo = "sh"\nmh_fallback = true\n`,
    path: "virtual_server.web.mh_fallback",
    line: 5,
    message: `"mh_fallback" only applies to lb_algo = "mh", got lb_algo = "sh"`,
  },
  {
    name: "granularity without persistence is refused",
    toml: `${VS}persistence_granularity = 24\n`,
    path: "virtual_server.web.persistence_granularity",
    line: 4,
    message: `"persistence_granularity" needs persistence: set persistence_timeout above 0`,
  },
  {
    name: "a netmask with holes is refused",
    toml: `${VS}persistence_timeout = 60\npersistence_granularity = "255.0.255.0"\n`,
    path: "virtual_server.web.persistence_granularity",
    line: 5,
    message: /contiguous ones/,
  },
  {
    name: "port 0 needs persistence",
    toml: `[virtual_server.web]\naddress = "192.0.2.100"\nport = 0\n`,
    path: "virtual_server.web.port",
    line: 3,
    message: "expected an integer in 1..65535, got 0",
  },
  {
    name: "an address virtual server needs a port",
    toml: `[virtual_server.web]\naddress = "192.0.2.100"\n`,
    path: "virtual_server.web.port",
    line: 1,
    message: `missing required key "port": expected a port, e.g. 80`,
  },
  {
    name: "a fwmark of 0 is refused",
    toml: `[virtual_server.m]\nfwmark = 0\n`,
    path: "virtual_server.m.fwmark",
    line: 2,
    message: "expected an integer in 1..4294967295, got 0",
  },
  {
    name: "address and fwmark together are refused",
    toml: `${VS}fwmark = 1\n`,
    path: "virtual_server.web",
    line: 1,
    message: `expected one of "address", "fwmark" or "group", got address and fwmark`,
  },
  {
    name: "a virtual server needs something to listen on",
    toml: `[virtual_server.web]\nlb_algo = "rr"\n`,
    path: "virtual_server.web",
    line: 1,
    message: /got none/,
  },
  {
    name: "a fwmark virtual server has no port",
    toml: `[virtual_server.m]\nfwmark = 1\nport = 80\n`,
    path: "virtual_server.m.port",
    line: 3,
    message: `"port" only applies with "address"`,
  },
  {
    name: "an unknown group suggests the right one",
    toml:
      `[virtual_server_group.api]\naddresses = ["192.0.2.1:80"]\n[virtual_server.x]\ngroup = "apj"\n`,
    path: "virtual_server.x.group",
    line: 4,
    message: `no [virtual_server_group.apj] is defined; did you mean "api"?`,
  },
  {
    name: "a group needs entries",
    toml: `[virtual_server_group.api]\naddresses = []\n`,
    path: "virtual_server_group.api",
    line: 1,
    message: "expected at least one entry in addresses or fwmarks, got none",
  },
  {
    name: "a backwards range is refused",
    toml: `[virtual_server_group.api]\naddresses = ["192.0.2.20-10:80"]\n`,
    path: "virtual_server_group.api.addresses[0]",
    line: 2,
    message: /low to high/,
  },
  {
    name: "a group mixing families is refused",
    toml: `[virtual_server_group.api]\naddresses = ["192.0.2.1:80", "[2001:db8::1]:80"]\n`,
    path: "virtual_server_group.api.addresses",
    line: 2,
    message: "expected addresses of one family, got IPv4 and IPv6 mixed",
  },
  {
    name: "two virtual servers on one service are refused",
    toml: `${VS}[virtual_server.again]\naddress = "192.0.2.100"\nport = 80\n`,
    path: "virtual_server.again",
    line: 4,
    message:
      "expected each virtual service once: virtual_server.web (line 1) already serves tcp 192.0.2.100:80",
  },
  {
    name: "a group entry clashing with a virtual server is refused",
    toml:
      `${VS}[virtual_server_group.g]\naddresses = ["192.0.2.100:80"]\n[virtual_server.grp]\ngroup = "g"\n`,
    path: "virtual_server.grp",
    line: 6,
    message: /already serves tcp 192.0.2.100:80/,
  },
  {
    name: "the same port over UDP is another service",
    toml:
      `${VS}[virtual_server.u]\naddress = "192.0.2.100"\nport = 80\nprotocol = "udp"\nops = true\n`,
    path: "",
    line: null,
    message: "valid",
  },
  {
    name: "a real server listed twice is refused",
    toml: `${VS}${RS}${RS}`,
    path: "virtual_server.web.real_server[1].address",
    line: 7,
    message: "expected each real server once: 192.0.2.11:80 is already real_server[0]",
  },
  {
    // Past 16 real servers a repeated one is found by id, not by a scan: the same error.
    name: "a real server listed twice among twenty is refused, naming the first",
    toml: VS +
      Array.from(
        { length: 20 },
        (_, k) => `[[virtual_server.web.real_server]]\naddress = "192.0.2.${10 + k}"\n`,
      ).join("") +
      `[[virtual_server.web.real_server]]\naddress = "192.0.2.13"\n`,
    path: "virtual_server.web.real_server[20].address",
    line: 45,
    message: "expected each real server once: 192.0.2.13:80 is already real_server[3]",
  },
  {
    name: "a real server listed twice after a refused one names the first by its place",
    toml: `${VS}[[virtual_server.web.real_server]]\naddress = "2001:db8::11"\n${RS}${RS}`,
    path: "virtual_server.web.real_server[2].address",
    line: 9,
    message: "expected each real server once: 192.0.2.11:80 is already real_server[1]",
  },
  {
    name: "a real server of the other family is refused",
    toml: `${VS}[[virtual_server.web.real_server]]\naddress = "2001:db8::11"\n`,
    path: "virtual_server.web.real_server[0].address",
    line: 5,
    message: "expected an IPv4 address like its virtual server, got 2001:db8::11",
  },
  {
    name: "a sorry server of the other family is refused",
    toml: `${VS}[virtual_server.web.sorry_server]\naddress = "2001:db8::1"\n`,
    path: "virtual_server.web.sorry_server.address",
    line: 5,
    message: "expected an IPv4 address like its virtual server, got 2001:db8::1",
  },
  {
    name: "a fwmark real server needs a port",
    toml:
      `[virtual_server.m]\nfwmark = 1\n[[virtual_server.m.real_server]]\naddress = "192.0.2.1"\n`,
    path: "virtual_server.m.real_server[0].port",
    line: 3,
    message: /missing required key "port"/,
  },
  {
    name: "an unknown method is refused",
    toml: `${VS}lb_kind = "DSR"\n`,
    path: "virtual_server.web.lb_kind",
    line: 4,
    message: `expected one of "NAT", "DR", "TUN", got "DSR"`,
  },
  {
    name: "both spellings of one key are refused",
    toml: `${VS}lb_kind = "DR"\nlvs_method = "NAT"\n`,
    path: "virtual_server.web.lvs_method",
    line: 5,
    message: "expected one of lb_kind and lvs_method, got both",
  },
  {
    name: "tunnel options need TUN",
    toml: `${VS}${RS}tunnel_type = "gue"\n`,
    path: "virtual_server.web.real_server[0].tunnel_type",
    line: 6,
    message: `"tunnel_type" only applies to lb_kind = "TUN", got "NAT"`,
  },
  {
    name: "a GUE tunnel needs a port",
    toml: `${VS}${RS}lb_kind = "TUN"\ntunnel_type = "gue"\n`,
    path: "virtual_server.web.real_server[0].tunnel_port",
    line: 4,
    message: `missing required key "tunnel_port": expected the GUE port`,
  },
  {
    name: "GRE has no remote checksum offload",
    toml: `${VS}${RS}lb_kind = "TUN"\ntunnel_type = "gre"\ntunnel_checksum = "remcsum"\n`,
    path: "virtual_server.web.real_server[0].tunnel_checksum",
    line: 8,
    message: `expected "none" or "csum" for tunnel_type = "gre", got "remcsum"`,
  },
  {
    name: "a DR real server on another port than its virtual server is refused",
    toml: `${VS}lb_kind = "DR"\n${RS}port = 8080\n`,
    path: "virtual_server.web.real_server[0].port",
    line: 7,
    message:
      "expected port 80 like its virtual server: DR does not rewrite the destination port, got 8080",
  },
  {
    name: "a TUN server of a group with several ports is refused",
    toml:
      `[virtual_server_group.g]\naddresses = ["192.0.2.1:80", "192.0.2.1:81"]\n[virtual_server.x]\ngroup = "g"\nlb_kind = "TUN"\n[[virtual_server.x.real_server]]\naddress = "192.0.2.11"\nport = 80\n`,
    path: "virtual_server.x.real_server[0].port",
    line: 8,
    message: /one port for every address of the group \(it has 80, 81\), so use NAT/,
  },
  {
    name: "ha_suspend with a fwmark is refused",
    toml: `[virtual_server.m]\nfwmark = 1\nha_suspend = true\n`,
    path: "virtual_server.m.ha_suspend",
    line: 3,
    message: `"ha_suspend" needs a virtual address to watch, and a fwmark has none`,
  },
  {
    name: "delay_loop must be positive",
    toml: `${VS}delay_loop = 0\n`,
    path: "virtual_server.web.delay_loop",
    line: 4,
    message: "expected a number in 0.01..86400 seconds, got 0",
  },
  {
    name: "a fwmark virtual server has no protocol",
    toml: `[virtual_server.m]\nfwmark = 1\nprotocol = "udp"\n`,
    path: "virtual_server.m.protocol",
    line: 3,
    message: `"protocol" does not apply to a fwmark virtual server: the mark picks the traffic`,
  },
  {
    name: "quorum is at least 1",
    toml: `${VS}quorum = 0\n`,
    path: "virtual_server.web.quorum",
    line: 4,
    message: "expected an integer in 1..4294967295, got 0",
  },
  {
    name: "hysteresis stays below quorum",
    toml: `${VS}quorum = 2\nhysteresis = 2\n`,
    path: "virtual_server.web.hysteresis",
    line: 5,
    message: "expected a hysteresis below quorum (2), got 2",
  },
  {
    name: "one-packet scheduling is for UDP",
    toml: `${VS}ops = true\n`,
    path: "virtual_server.web.ops",
    line: 4,
    message: `"ops" (one-packet scheduling) only applies to protocol = "udp"`,
  },
  {
    name: "a check of a real server reports at its own line",
    toml:
      `${VS}${RS}[[virtual_server.web.real_server.check]]\ntype = "http"\nurl = "/x"\nstatus = [99]\n`,
    path: "virtual_server.web.real_server[0].check[0].status[0]",
    line: 9,
    message: /expected an HTTP status/,
  },
  {
    name: "an unknown check key suggests the right one",
    toml: `${VS}${RS}[[virtual_server.web.real_server.check]]\ntype = "tcp"\nconect_timeout = 3\n`,
    path: "virtual_server.web.real_server[0].check[0].conect_timeout",
    line: 8,
    message: /did you mean "connect_timeout"\?/,
  },
  {
    name: "a check needs a type",
    toml: `${VS}${RS}[[virtual_server.web.real_server.check]]\nurl = "/x"\n`,
    path: "virtual_server.web.real_server[0].check[0].type",
    line: 6,
    message: /missing required key "type"/,
  },
  {
    name: "keys of another check type are refused",
    toml: `${VS}${RS}[[virtual_server.web.real_server.check]]\ntype = "tcp"\nurl = "/x"\n`,
    path: "virtual_server.web.real_server[0].check[0].url",
    line: 8,
    message: /"url" does not apply to type = "tcp"/,
  },
  {
    name: "the check of the second real server reports under its index",
    toml: `${VS}${RS}[[virtual_server.web.real_server]]\naddress = "192.0.2.12"\n` +
      `[[virtual_server.web.real_server.check]]\ntype = "tcp"\nconnect_port = 0\n`,
    path: "virtual_server.web.real_server[1].check[0].connect_port",
    line: 10,
    message: "expected an integer in 1..65535, got 0",
  },
];

for (const c of BROKEN) {
  Deno.test(`config LVS: ${c.name}`, () => {
    if (c.message === "valid") {
      configOf(c.toml);
      return;
    }
    const errors = errorsOf(c.toml);
    const hit = errors.find((e) => e.path === c.path);
    assert.ok(hit, `no error at ${c.path}; got:\n${errors.map(formatConfigError).join("\n")}`);
    assert.equal(hit.line, c.line, formatConfigError(hit));
    if (typeof c.message === "string") assert.equal(hit.message, c.message);
    else assert.match(hit.message, c.message);
  });
}

Deno.test("every LVS example loads and has virtual servers", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(EXAMPLES)) {
    if (entry.isFile && /^lvs-.*\.toml$/.test(entry.name)) names.push(entry.name);
  }
  assert.deepEqual(names.sort(), [
    "lvs-dr.toml",
    "lvs-fwmark-group.toml",
    "lvs-nat.toml",
    "lvs-sorry.toml",
  ]);
  for (const name of names) {
    const r = await loadConfig(new URL(name, EXAMPLES).pathname);
    assert.ok(r.ok, `${name}:\n${r.ok ? "" : r.errors.map(formatConfigError).join("\n")}`);
    assert.ok(r.config.virtualServers.length > 0, `${name} has no virtual servers`);
  }
});

Deno.test("hacore check's line names the service, scheduler, method and pool", () => {
  const c = configOf(`${VS}lb_algo = "sh"
sh_fallback = true
lb_kind = "DR"
persistence_timeout = 300
persistence_granularity = 24
quorum = 2
hysteresis = 1
alpha = true
[virtual_server.web.sorry_server]
address = "192.0.2.200"
${RS}[[virtual_server.web.real_server.check]]
type = "tcp"
`);
  assert.equal(
    summarizeVirtualServer(c.virtualServers[0]),
    "web: tcp 192.0.2.100:80 sh sh-fallback DR, persistent 300s per /24, 1 real server (1 check), quorum 2±1, sorry 192.0.2.200:80, alpha",
  );
});

Deno.test("hacore check prints one line per virtual server after the instances", async () => {
  const file = new URL("lvs-fwmark-group.toml", EXAMPLES).pathname;
  const out: string[] = [];
  const { log } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  let code: number;
  try {
    code = await checkCommand([file]);
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  assert.deepEqual(out.filter((l) => l.startsWith("  virtual_server ")), [
    "  virtual_server web_mark: fwmark 1 ipv4 sh sh-fallback DR, persistent 600s per /24, 2 real servers (2 checks)",
    "  virtual_server api: group api tcp mh mh-port TUN, 2 real servers (2 checks)",
  ]);
  assert.ok(
    out.findIndex((l) => l.startsWith("  VI_1:")) < out.findIndex((l) => l.includes("web_mark")),
  );
});
