/**
 * The keepalived keywords of issue 13 (items 3 and 4) in the TOML format: mail alert
 * keys, script_user / enable_script_security, vrrp_strict and accept, pid_file, the
 * keepalived VIP line inside a string, `preempt`, duplicate keys, missing interfaces.
 */
import assert from "node:assert/strict";
import {
  type Config,
  type ConfigError,
  formatConfigError,
  parseConfig,
} from "../../lib/config/mod.ts";
import { findRedefinition } from "../../lib/config/scan.ts";
import { diffConfigs, diffLines } from "../../lib/config/diff.ts";
import { parseVipLine } from "../../lib/config/vip.ts";
import { describeMissing, missingInterfaces } from "../../lib/cli/host_check.ts";
import { defaultControlSocket, defaultPidFile } from "../../lib/cli/pidfile.ts";
import { resolveSocket } from "../../lib/cli/status.ts";
import { findDaemonSockets } from "../../lib/control/client.ts";

function loaded(source: string): { config: Config; warnings: readonly ConfigError[] } {
  const r = parseConfig(source, "test.toml");
  if (!r.ok) {
    throw new Error(`expected a valid config, got:\n${r.errors.map(formatConfigError).join("\n")}`);
  }
  return { config: r.config, warnings: r.warnings ?? [] };
}

function errorsOf(source: string): ConfigError[] {
  const r = parseConfig(source, "test.toml");
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors;
}

const VI = `[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
`;

Deno.test("mail alert keys are read into global.mail, with keepalived's port 25", () => {
  const { config } = loaded(`[global]
notification_email = ["ops@example.com", "noc@example.com"]
notification_email_from = "lb1@example.com"
smtp_server = "192.0.2.25"
smtp_helo_name = "lb1.example.com"
smtp_connect_timeout = 5
smtp_alert = true
${VI}virtual_ipaddress = ["192.0.2.10"]
smtp_alert = false
`);
  assert.deepEqual(config.global.mail, {
    to: ["ops@example.com", "noc@example.com"],
    from: "lb1@example.com",
    server: "192.0.2.25:25",
    heloName: "lb1.example.com",
    connectTimeoutMs: 5000,
    alert: true,
  });
  assert.equal(config.instances[0].notify.smtpAlert, false);
});

Deno.test("smtp_server takes a port, and brackets for IPv6 with a port", () => {
  const server = (v: string) =>
    loaded(`[global]\nsmtp_server = "${v}"\nnotification_email = ["a@b.c"]\n`).config.global.mail
      .server;
  assert.equal(server("192.0.2.25:2525"), "192.0.2.25:2525");
  assert.equal(server("[2001:db8::25]:587"), "[2001:db8::25]:587");
  assert.equal(server("2001:db8::25"), "[2001:db8::25]:25");
  const e = errorsOf(`[global]\nsmtp_server = "mail.example.com"\n`);
  assert.equal(e[0].path, "global.smtp_server");
  assert.match(e[0].message, /expected an IP address with an optional port/);
});

Deno.test("smtp_alert = true without a server is refused: there is nowhere to send", () => {
  const e = errorsOf(`[global]\nsmtp_alert = true\n`);
  assert.equal(e[0].path, "global.smtp_alert");
  assert.match(e[0].message, /smtp_server and notification_email/);
});

Deno.test("a bad mail address names the element", () => {
  const e = errorsOf(`[global]\nnotification_email = ["ops@example.com", "not an address"]\n`);
  assert.equal(e[0].path, "global.notification_email[1]");
});

Deno.test("smtp_alert on sync groups and virtual/real servers defaults to inherit (null)", () => {
  const { config } = loaded(`${VI}virtual_ipaddress = ["192.0.2.10"]
[vrrp_sync_group.G1]
group = ["VI_1"]
smtp_alert = true
[virtual_server.web]
address = "192.0.2.10"
port = 80
smtp_alert = true
[[virtual_server.web.real_server]]
address = "192.0.2.11"
smtp_alert = false
`);
  assert.equal(config.syncGroups[0].notify.smtpAlert, true);
  assert.equal(config.instances[0].notify.smtpAlert, null);
  assert.equal(config.virtualServers[0].smtpAlert, true);
  assert.equal(config.virtualServers[0].realServers[0].smtpAlert, false);
});

Deno.test("script_user becomes the user of script checks that name none", () => {
  const { config } = loaded(`[global]
script_user = "nobody"
[vrrp_script.a]
script = "/bin/true"
[vrrp_script.b]
script = "/bin/true"
user = "daemon"
`);
  const users = config.scripts.map((s) => s.check.kind === "script" ? s.check.user : "?");
  assert.deepEqual(users, ["nobody", "daemon"]);
});

Deno.test("enable_script_security is the inverse of allow_insecure_scripts; both must agree", () => {
  const allow = (g: string) => loaded(`[global]\n${g}\n`).config.global.allowInsecureScripts;
  assert.equal(allow("enable_script_security = true"), false);
  assert.equal(allow("enable_script_security = false"), true);
  assert.equal(allow(""), false);
  const e = errorsOf(`[global]\nenable_script_security = true\nallow_insecure_scripts = true\n`);
  assert.equal(e[0].path, "global.enable_script_security");
});

Deno.test("pid_file is an absolute path in [global]", () => {
  assert.equal(
    loaded(`[global]\npid_file = "/run/lb.pid"\n`).config.global.pidFile,
    "/run/lb.pid",
  );
  assert.equal(loaded("").config.global.pidFile, null);
  assert.equal(errorsOf(`[global]\npid_file = "lb.pid"\n`)[0].path, "global.pid_file");
});

Deno.test("vrrp_strict clears authentication with a warning and turns accept off", () => {
  const { config, warnings } = loaded(`[global]
vrrp_strict = true
${VI}virtual_ipaddress = ["192.0.2.10"]
authentication = { auth_type = "PASS", auth_pass = "x" }
`);
  const vi = config.instances[0];
  assert.equal(vi.auth, null);
  assert.equal(vi.accept, false);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].path, "vrrp_instance.VI_1.authentication");
  assert.equal(warnings[0].line, 7);
  assert.match(warnings[0].message, /cleared under global.vrrp_strict/);
});

Deno.test("accept is keepalived's default without vrrp_strict; accept/no_accept override", () => {
  const accept = (global: string, extra: string) =>
    loaded(`${global}${VI}virtual_ipaddress = ["192.0.2.10"]\n${extra}`).config.instances[0]
      .accept;
  assert.equal(accept("", ""), true);
  assert.equal(accept("", "no_accept = true\n"), false);
  assert.equal(accept("[global]\nvrrp_strict = true\n", ""), false);
  assert.equal(accept("[global]\nvrrp_strict = true\nvrrp_version = 3\n", "accept = true\n"), true);
  const e = errorsOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\naccept = true\nno_accept = true\n`);
  assert.equal(e[0].path, "vrrp_instance.VI_1.no_accept");
});

Deno.test("a keepalived VIP line in a string: dev, label and scope apply", () => {
  const { config, warnings } = loaded(`${VI}virtual_ipaddress = [
  "10.77.0.200/24 dev eth1 label eth1:1 scope site no_track",
  "10.77.0.201/24 dev eth0",
]
`);
  assert.deepEqual(config.instances[0].vips, [
    { address: "10.77.0.200", prefix: 24, dev: "eth1", label: "eth1:1", scope: "site" },
    { address: "10.77.0.201", prefix: 24, dev: "eth0", label: null, scope: "global" },
  ]);
  assert.deepEqual(warnings, []);
});

Deno.test("a VIP line's parts hacore does not apply are named in a warning", () => {
  const { warnings } = loaded(`${VI}virtual_ipaddress = [
  "10.77.0.200/24 brd 10.77.0.255 dev eth0 noprefixroute preferred_lft 0",
  "10.77.0.201/24 brd 10.77.0.1",
]
`);
  assert.equal(warnings.length, 2);
  assert.equal(warnings[0].path, "vrrp_instance.VI_1.virtual_ipaddress[0]");
  const ignored = warnings[0].message.split(`": `).at(-1);
  // brd equal to the directed broadcast is what hacore does anyway: not listed.
  assert.equal(
    ignored,
    "preferred_lft 0 (VIPs are installed with a forever lifetime), noprefixroute",
  );
  assert.match(
    warnings[1].message,
    /brd 10\.77\.0\.1 \(hacore sets the directed broadcast, 10\.77\.0\.255\)/,
  );
});

Deno.test("a bad VIP line says which word is wrong", () => {
  const cases: [string, RegExp][] = [
    ["10.77.0.200/24 dev", /expected a value after "dev"/],
    ["10.77.0.200/24 devv eth0", /unknown word "devv".*did you mean "dev"\?/],
    ["10.77.0.200/24 scope galaxy", /expected scope global, site, link or host/],
    ["10.77.0.200/24 dev eth0 dev eth1", /"dev" is given twice/],
    ["10.77.0.200/24 peer 10.77.0.1", /expected no "peer" in a VIP/],
    ["10.77.0.200/24 label eth7:x", /expected a label starting with the device name "eth0"/],
  ];
  for (const [line, message] of cases) {
    const e = errorsOf(`${VI}virtual_ipaddress = ["${line}"]\n`);
    assert.match(e.map((x) => x.message).join("\n"), message, line);
  }
});

Deno.test("parseVipLine: numeric scopes, brd forms, flags in the order written", () => {
  const r = parseVipLine("2001:db8::5/64 dev eth0 scope 253 -nodad home preferred_lft forever");
  assert.ok(r.ok);
  assert.equal(r.value.scope, "link");
  assert.equal(r.value.preferredLft, "forever");
  assert.deepEqual(r.value.flags, ["nodad", "home"]);
  const b = parseVipLine("192.0.2.1/24 broadcast + track_group g1");
  assert.ok(b.ok);
  assert.equal(b.value.broadcast, "+");
  assert.equal(b.value.trackGroup, "g1");
  assert.equal(parseVipLine("192.0.2.1/24 brd 2001:db8::1").ok, false);
});

Deno.test("preempt = true is accepted with a warning that it is the default", () => {
  const { config, warnings } = loaded(`${VI}virtual_ipaddress = ["192.0.2.10"]\npreempt = true\n`);
  assert.equal(config.instances[0].preempt, true);
  assert.equal(warnings[0].path, "vrrp_instance.VI_1.preempt");
  assert.match(warnings[0].message, /default .*nopreempt = true/);
});

Deno.test("preempt = false points at nopreempt, not preempt_delay", () => {
  const e = errorsOf(`${VI}virtual_ipaddress = ["192.0.2.10"]\npreempt = false\n`);
  assert.equal(e.length, 1);
  assert.equal(e[0].path, "vrrp_instance.VI_1.preempt");
  assert.match(e[0].message, /preemption is the default; to turn it off, write nopreempt = true/);
  assert.doesNotMatch(e[0].message, /preempt_delay/);
});

Deno.test("a duplicated key names the key and where it was first set", () => {
  const e = errorsOf(`[global]\nrouter_id = "a"\nrouter_id = "b"\n`);
  assert.deepEqual(
    { path: e[0].path, line: e[0].line, message: e[0].message },
    {
      path: "global.router_id",
      line: 3,
      message: `duplicate key: "global.router_id" is already defined on line 2`,
    },
  );
});

Deno.test("findRedefinition: inline tables, dotted keys, and arrays of tables are not duplicates", () => {
  assert.deepEqual(findRedefinition("a = {x=1, x=2}\n", 1), { path: "a.x", firstLine: 1 });
  assert.deepEqual(findRedefinition("a.b = 1\na.b = 2\n", 2), { path: "a.b", firstLine: 1 });
  assert.equal(findRedefinition("[[a]]\nx = 1\n[[a]]\nx = 2\n", 4), null);
});

Deno.test("missingInterfaces: the instance's and its VIPs' devices, once each", () => {
  const { config } = loaded(`${VI}virtual_ipaddress = ["192.0.2.10 dev eth9", "192.0.2.11 dev eth9"]
[vrrp_instance.VI_2]
interface = "eth9"
virtual_router_id = 52
virtual_ipaddress = ["192.0.2.20"]
use_vmac = true
`);
  const missing = missingInterfaces(config, (n) => n === "eth0");
  assert.deepEqual(missing.map(describeMissing), [
    'vrrp_instance.VI_1.virtual_ipaddress (192.0.2.10 dev eth9): interface "eth9" does not exist on this host',
  ]);
  assert.deepEqual(missingInterfaces(config, () => true), []);
});

Deno.test("default pid file and control socket are per config and side by side", async () => {
  const a = await defaultPidFile("/etc/hacore/a.toml");
  const b = await defaultPidFile("/etc/hacore/b.toml");
  assert.notEqual(a, b);
  assert.match(a, /^\/run\/hacore\/a-[0-9a-f]{8}\.pid$/);
  assert.equal(await defaultControlSocket("/etc/hacore/a.toml"), a.replace(/\.pid$/, ".sock"));
});

Deno.test("status finds the one running daemon's socket, and asks which when there are several", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-sockets-" });
  const listeners: Deno.Listener[] = [];
  try {
    const listen = (name: string) => {
      listeners.push(Deno.listen({ transport: "unix", path: `${dir}/${name}` }));
    };
    assert.deepEqual(await resolveSocket({}, dir), { path: `${dir}/hacore.sock` });
    listen("a-00000001.sock");
    // A socket file whose daemon is gone refuses connections: not a candidate.
    const dead = Deno.listen({ transport: "unix", path: `${dir}/dead-00000002.sock` });
    dead.close();
    await Deno.writeTextFile(`${dir}/not-a-socket.sock`, "");
    assert.deepEqual(await findDaemonSockets(dir), [`${dir}/a-00000001.sock`]);
    assert.deepEqual(await resolveSocket({}, dir), { path: `${dir}/a-00000001.sock` });
    listen("b-00000003.sock");
    const several = await resolveSocket({}, dir);
    assert.ok("usage" in several);
    assert.match(several.usage, /^2 hacore daemons run on this host; say which with --socket PATH/);
    assert.match(several.usage, /--socket .*a-00000001\.sock\n {2}--socket .*b-00000003\.sock$/);
  } finally {
    for (const l of listeners) l.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("status --config FILE uses that config's own default socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-config-" });
  try {
    const file = `${dir}/lb.toml`;
    await Deno.writeTextFile(file, "");
    assert.deepEqual(await resolveSocket({ config: file }), {
      path: await defaultControlSocket(file),
    });
    await Deno.writeTextFile(file, `[global]\ncontrol_socket = "/run/x.sock"\n`);
    assert.deepEqual(await resolveSocket({ config: file }), { path: "/run/x.sock" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vrrp_strict: keepalived's rules on state, preempt_delay and v2 Accept Mode, each a warning", () => {
  const { config, warnings } = loaded(`[global]
vrrp_strict = true
${VI}virtual_ipaddress = ["192.0.2.10"]
state = "MASTER"
priority = 200
preempt_delay = 5
accept = true
`);
  const vi = config.instances[0];
  assert.equal(vi.initialState, "backup");
  assert.equal(vi.preemptDelayMs, 0);
  assert.equal(vi.accept, false);
  assert.deepEqual(warnings.map((w) => w.path), [
    "vrrp_instance.VI_1.state",
    "vrrp_instance.VI_1.preempt_delay",
    "vrrp_instance.VI_1.accept",
  ]);
  // v3 keeps an explicit accept; the owner accepts by default and may start as master.
  const v3 = loaded(`[global]
vrrp_strict = true
vrrp_version = 3
${VI}virtual_ipaddress = ["192.0.2.10"]
accept = true
[vrrp_instance.OWN]
interface = "eth0"
virtual_router_id = 52
priority = 255
state = "MASTER"
unicast_src_ip = "192.0.2.20"
virtual_ipaddress = ["192.0.2.20"]
`);
  assert.deepEqual(v3.config.instances.map((i) => [i.accept, i.initialState]), [
    [true, "backup"],
    [true, "master"],
  ]);
  assert.deepEqual(v3.warnings, []);
});

Deno.test("a reload's diff names changed mail settings, and which need a restart", () => {
  const before =
    loaded(`[global]\nsmtp_server = "192.0.2.25"\nnotification_email = ["a@b.c"]\n`).config;
  const after = loaded(
    `[global]\nsmtp_server = "192.0.2.26"\nnotification_email = ["a@b.c", "d@e.f"]\nsmtp_alert = false\nscript_user = "nobody"\n`,
  ).config;
  assert.deepEqual(diffLines(diffConfigs(before, after)), [
    "global: script_user (none) -> nobody (takes effect at the next restart)",
    "global: notification_email a@b.c -> a@b.c,d@e.f (takes effect at the next restart)",
    "global: smtp_server 192.0.2.25:25 -> 192.0.2.26:25 (takes effect at the next restart)",
    "global: smtp_alert (none) -> false",
  ]);
});
