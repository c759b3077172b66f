import assert from "node:assert/strict";
import { checkCommand } from "../../lib/cli/check.ts";
import { importCommand } from "../../lib/cli/import.ts";
import {
  type Config,
  detectFormat,
  formatConfigError,
  importKeepalived,
  loadConfig,
  parseConfig,
} from "../../lib/config/mod.ts";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { expandBraces, type SourceReader } from "../../lib/config/keepalived/lexer.ts";
import { CORPUS } from "../fixtures/keepalived/corpus.ts";

const DIR = new URL("../fixtures/keepalived/", import.meta.url).pathname;

/** An in-memory file tree for the lexer: paths → text. */
function memoryReader(files: Record<string, string>): SourceReader {
  return {
    read: (p) => files[p] ?? null,
    list: (dir) => {
      const names = Object.keys(files).filter((p) => p.startsWith(`${dir}/`))
        .map((p) => p.slice(dir.length + 1)).filter((n) => !n.includes("/"));
      return names.length > 0 ? names : null;
    },
  };
}

function okConfig(
  source: string,
  options: { configId?: string; files?: Record<string, string> } = {},
): Config {
  const r = parseKeepalived(source, "/etc/keepalived/keepalived.conf", {
    configId: options.configId ?? "lb-a",
    reader: options.files ? memoryReader(options.files) : undefined,
  });
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join("\n"));
  return r.config;
}

const VI = (body: string) =>
  `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n${body}\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n`;

for (const entry of CORPUS) {
  Deno.test(`corpus ${entry.file} (--config-id ${entry.configId}): keepalived ${entry.keepalived}, hacore ${entry.hacore}`, async () => {
    const r = await loadConfig(`${DIR}${entry.file}`, { configId: entry.configId });
    const warnings = (r.warnings ?? []).map(formatConfigError).join("\n");
    if (entry.hacore === "ok" || entry.hacore === "warns") {
      assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
      assert.equal(warnings === "", entry.hacore === "ok", warnings);
      for (const s of entry.hacoreSays) {
        assert.ok(warnings.includes(s), `no "${s}" in:\n${warnings}`);
      }
    } else {
      assert.ok(!r.ok, "expected errors");
      const errors = r.errors.map(formatConfigError).join("\n");
      for (const s of entry.hacoreSays) assert.ok(errors.includes(s), `no "${s}" in:\n${errors}`);
    }
  });
}

Deno.test("every corpus file keepalived rejects, hacore rejects too", () => {
  const rejected = CORPUS.filter((e) => e.keepalived === "rejects");
  assert.ok(rejected.length >= 3);
  for (const e of rejected) assert.equal(e.hacore, "rejects", e.file);
});

Deno.test("importing each accepted corpus file gives TOML that checks to the same Config", async () => {
  for (const entry of CORPUS.filter((e) => e.hacore === "ok" || e.hacore === "warns")) {
    const file = `${DIR}${entry.file}`;
    const r = importKeepalived(await Deno.readTextFile(file), file, { configId: entry.configId });
    assert.ok(r.ok, entry.file);
    assert.ok(r.toml.includes(`# from ${entry.file}:`), entry.file);
    const back = parseConfig(r.toml, "imported.toml");
    assert.ok(
      back.ok,
      back.ok ? "" : back.errors.map(formatConfigError).join("\n") + "\n" + r.toml,
    );
    assert.deepEqual({ ...back.config, file: file }, r.config, entry.file);
  }
});

Deno.test("@id lines follow --config-id, @^id lines the others", () => {
  const src = "global_defs {\n@lb-a router_id alpha\n@^lb-a router_id other\n}\n";
  assert.equal(okConfig(src, { configId: "lb-a" }).global.routerId, "alpha");
  assert.equal(okConfig(src, { configId: "lb-b" }).global.routerId, "other");
});

Deno.test("$NAME expands where a word starts, ${NAME} anywhere, as keepalived does", () => {
  const c = okConfig(`$PRIO=120\n$NET=192.0.2\n${VI(" priority $PRIO\n")}`.replace(
    "192.0.2.1/24",
    "${NET}.7/24",
  ));
  assert.equal(c.instances[0].priority, 120);
  assert.equal(c.instances[0].vips[0].address, "192.0.2.7");
});

Deno.test("~SEQ repeats a line with a step, ~LST over a list", () => {
  const src = VI("").replace(
    "  192.0.2.1/24",
    "~SEQ(N, 1, 2, 5)  192.0.2.${N}/24\n~LST(A, 20, 30)  192.0.2.${A}/24",
  );
  assert.deepEqual(okConfig(src).instances[0].vips.map((v) => v.address), [
    "192.0.2.1",
    "192.0.2.3",
    "192.0.2.5",
    "192.0.2.20",
    "192.0.2.30",
  ]);
});

Deno.test("include globs and braces resolve against the including file's folder", () => {
  const files = {
    "/etc/keepalived/conf.d/b.conf": VI("").replace("VI_1", "VI_B").replace("51", "52"),
    "/etc/keepalived/conf.d/a.conf": VI("").replace("VI_1", "VI_A"),
    "/etc/keepalived/conf.d/skip.txt": "garbage {",
  };
  const c = okConfig("include conf.d/*.conf\n", { files });
  assert.deepEqual(c.instances.map((i) => i.name), ["VI_A", "VI_B"]);
  assert.deepEqual(expandBraces("x/{a,b{1,2}}.conf"), ["x/a.conf", "x/b1.conf", "x/b2.conf"]);
});

Deno.test("an error in an included file names that file and line", () => {
  const files = {
    "/etc/keepalived/vrrp.conf":
      "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 999\n}\n",
  };
  const r = parseKeepalived("include vrrp.conf\n", "/etc/keepalived/keepalived.conf", {
    configId: "x",
    reader: memoryReader(files),
  });
  assert.ok(!r.ok);
  const e = r.errors.find((e) => e.path.endsWith("virtual_router_id"));
  assert.equal(e?.file, "/etc/keepalived/vrrp.conf");
  assert.equal(e?.line, 3);
});

Deno.test("a keyword with no effect in hacore is a warning naming it; a refused one an error", () => {
  const warned = parseKeepalived(VI(" debug 2"), "k.conf", { configId: "x" });
  assert.ok(warned.ok);
  assert.match(warned.warnings[0].message, /"debug" has no effect in hacore/);
  const refused = parseKeepalived(VI(" track_bfd {\n  b1\n }"), "k.conf", { configId: "x" });
  assert.ok(!refused.ok);
  assert.match(
    refused.errors[0].message,
    /"track_bfd" is not supported by hacore: hacore has no BFD/,
  );
});

Deno.test("keepalived's aliases carry over: lvs_sched, lvs_method, SSL_GET without verification", () => {
  const c = okConfig(
    "virtual_server 192.0.2.1 443 {\n lvs_sched sh\n lvs_method DR\n protocol TCP\n" +
      " real_server 192.0.2.2 443 {\n  SSL_GET {\n   url {\n    path /a\n   }\n   url {\n    path /b\n    status_code 204\n   }\n  }\n }\n}\n",
  );
  const vs = c.virtualServers[0];
  assert.equal(vs.scheduler, "sh");
  assert.equal(vs.method, "DR");
  const checks = vs.realServers[0].checks.map((c) => c.check);
  assert.equal(checks.length, 2, "one check per url block");
  for (const check of checks) {
    assert.equal(check.kind, "http");
    if (check.kind === "http") assert.equal(check.verifyTls, false);
  }
});

Deno.test("the format is recognised from content; --format forces it", async () => {
  assert.equal(detectFormat(await Deno.readTextFile(`${DIR}vrrp_basic.conf`)), "keepalived");
  for (const f of ["unicast.toml", "lvs-nat.toml", "health-checks.toml"]) {
    const text = await Deno.readTextFile(new URL(`../../examples/${f}`, import.meta.url));
    assert.equal(detectFormat(text), "toml", f);
  }
  const forced = await loadConfig(`${DIR}vrrp_unicast_v3.conf`, { format: "toml" });
  assert.ok(!forced.ok);
  assert.match(forced.errors[0].message, /TOML syntax error/);
});

async function captured(
  fn: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  const write = Deno.stdout.write;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  Deno.stdout.write = (p: Uint8Array) => {
    out.push(new TextDecoder().decode(p));
    return Promise.resolve(p.length);
  };
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    Deno.stdout.write = write;
  }
}

Deno.test("hacore check takes keepalived.conf as it is and prints its warnings", async () => {
  const r = await captured(() => checkCommand([`${DIR}warnings.conf`, "--config-id", "lb-a"]));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok: /);
  assert.match(r.err, /warnings\.conf:17: warning: auth_pass is longer than 8 bytes/);
  const bad = await captured(() => checkCommand([`${DIR}vrrp_basic.conf`, "--format", "yaml"]));
  assert.equal(bad.code, 2);
});

Deno.test("hacore import prints TOML with source lines, and refuses what hacore cannot run", async () => {
  const r = await captured(() => importCommand([`${DIR}lvs_only.conf`, "--config-id", "lb-a"]));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\[virtual_server\."192\.0\.2\.100:443"\]/);
  assert.match(r.out, /lb_algo = "wlc" # from lvs_only\.conf:13/);
  const refused = await captured(() => importCommand([`${DIR}bad_route.conf`]));
  assert.equal(refused.code, 1);
  assert.match(refused.err, /unknown word "metrik"/);
  const statics = await captured(() => importCommand([`${DIR}routes_rules.conf`]));
  assert.equal(statics.code, 0, statics.err);
  assert.match(
    statics.out,
    /^static_ipaddress = \["192\.0\.2\.50\/24 dev eth0", .*# from routes_rules\.conf:4$/m,
  );
});

Deno.test("comments, quotes and continuation lines read as keepalived reads them", () => {
  const src = 'global_defs { # a comment\n  router_id "lb #1" ! another\n}\n' +
    "$LONG=vrrp_garp_master_repeat \\\n  4\nglobal_defs {\n  $LONG\n}\n";
  const c = okConfig(src);
  assert.equal(c.global.routerId, "lb #1");
  assert.equal(c.global.garpMasterRepeat, 4);
});

Deno.test("notify_fifo keeps its path; an owner after it is a warning, not an error", () => {
  const r = parseKeepalived("global_defs {\n notify_fifo /run/ka.fifo root\n}\n", "k.conf", {
    configId: "x",
  });
  assert.ok(r.ok);
  assert.equal(r.config.global.notifyFifo, "/run/ka.fifo");
  assert.match(r.warnings[0].message, /the owner "root" has no effect in hacore/);
});

Deno.test("hacore run refuses a bad --format before reading anything", async () => {
  const { runCommand } = await import("../../lib/cli/run.ts");
  const r = await captured(() => runCommand([`${DIR}vrrp_basic.conf`, "--format", "yaml"]));
  assert.equal(r.code, 2);
  assert.match(r.err, /--format: expected auto, toml or keepalived, got "yaml"/);
});

Deno.test("checkers keep keepalived's own defaults: DNS asks . SOA with 3 retries, MISC never retries, HTTP waits 3 s", () => {
  const c = okConfig(
    "virtual_server 192.0.2.1 53 {\n protocol UDP\n delay_loop 20\n" +
      " real_server 192.0.2.2 53 {\n  DNS_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n" +
      "  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n",
  );
  const [dns, misc, http] = c.virtualServers[0].realServers[0].checks;
  assert.deepEqual(dns.check.kind === "dns" && [dns.check.name, dns.check.type], [
    ".",
    "SOA",
  ]);
  assert.equal(dns.retry, 3);
  assert.equal(dns.delayBeforeRetryMs, 20_000);
  assert.equal(misc.retry, 0);
  assert.equal(http.delayBeforeRetryMs, 3_000);
  assert.equal(http.retry, 1);
});

Deno.test("one address and port may carry a TCP and a UDP virtual server", () => {
  const vs = (proto: string) =>
    `virtual_server 192.0.2.1 53 {\n protocol ${proto}\n real_server 192.0.2.2 53 {\n }\n}\n`;
  const c = okConfig(vs("TCP") + vs("UDP"));
  assert.deepEqual(c.virtualServers.map((v) => [v.name, v.protocol]), [
    ["192.0.2.1:53", "tcp"],
    ["192.0.2.1:53-udp", "udp"],
  ]);
});

Deno.test("mail alerts, script_user and Accept Mode carry over from keepalived's keywords", async () => {
  const r = await loadConfig(`${DIR}mail_accept.conf`, { configId: "lb-a" });
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  assert.deepEqual(r.warnings ?? [], []);
  const c = r.config;
  assert.deepEqual(c.global.mail, {
    to: ["ops@example.com", "noc@example.com"],
    from: "lb@example.com",
    server: "127.0.0.1:2525",
    heloName: "lb-m.example.com",
    connectTimeoutMs: 12_000,
    alert: true,
  });
  assert.equal(c.global.scriptUser, "nobody");
  assert.equal(c.global.allowInsecureScripts, false);
  const [vi1, vi2] = c.instances;
  assert.equal(vi1.accept, false, "no_accept");
  assert.equal(vi2.accept, true);
  assert.equal(vi1.notify.smtpAlert, true);
  assert.equal(c.syncGroups[0].notify.smtpAlert, false);
  assert.equal(c.virtualServers[0].smtpAlert, true);
  assert.equal(c.virtualServers[0].realServers[0].smtpAlert, false);
  assert.deepEqual(vi1.vips[0], {
    address: "192.0.2.33",
    prefix: 24,
    dev: "eth1",
    label: "eth1:vip",
    scope: "link",
  });
});

Deno.test("smtp_server takes keepalived's IP [PORT]; an IPv6 server is bracketed; a group after script_user is refused by name", () => {
  const g = (body: string) => `global_defs {\n${body}\n}\n${VI("")}`;
  assert.equal(
    okConfig(g(" smtp_server 2001:db8::25 587")).global.mail.server,
    "[2001:db8::25]:587",
  );
  assert.equal(okConfig(g(" smtp_server 192.0.2.25")).global.mail.server, "192.0.2.25:25");
  const r = parseKeepalived(g(" script_user nobody nogroup"), "k.conf", { configId: "x" });
  assert.ok(!r.ok);
  assert.match(r.errors[0].message, /"script_user": .*a group after it is not supported/);
});

Deno.test("a keepalived VIP line with an unknown word is refused naming the word", () => {
  const r = parseKeepalived(
    "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.1/24 dev eth0 lable x\n }\n}\n",
    "k.conf",
    { configId: "x" },
  );
  assert.ok(!r.ok);
  assert.match(r.errors[0].message, /unknown word "lable" in the VIP line/);
  assert.equal(r.errors[0].line, 5);
});

Deno.test("per-instance GARP timing, track_src_ip, vmac_xmit_base and keepalived's FIFO lines carry over", async () => {
  const r = await loadConfig(`${DIR}instance_tuning.conf`, { configId: "lb-a" });
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  const [vi] = r.config.instances;
  assert.deepEqual(vi.garp, {
    masterDelayMs: 3000,
    masterRepeat: 2,
    masterRefreshMs: 60_000,
    masterRefreshRepeat: 2,
    lowerPrioDelayMs: 1000,
    lowerPrioRepeat: 3,
  });
  assert.equal(r.config.global.garpLowerPrioDelayMs, 2000);
  assert.equal(r.config.global.garpLowerPrioRepeat, 1);
  assert.equal(vi.trackSrcIp, true);
  assert.equal(vi.vmacXmitBase, true);
  assert.equal(r.config.global.notifyFifoFormat, "keepalived");
});
