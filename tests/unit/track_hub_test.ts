/**
 * The tracker hub on its own: what runs (only referenced trackers), readings per kind,
 * link states, change notification and its log lines, a check scheduler that cannot
 * start, and a clean stop.
 */
import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { Logger } from "../../lib/log.ts";
import { FakeTrackProbes } from "../fakes/track.ts";
import { TrackerHub } from "../../lib/track/hub.ts";

const TEXT = `
[vrrp_script.chk_web]
type = "http"
url = "http://127.0.0.1:8080/health"
weight = -20
rise = 2
fall = 3
init_fail = true

[vrrp_script.unused]
type = "tcp"
connect = "127.0.0.1:1"

[vrrp_track_file.maint]
file = "/etc/hacore/maint"

[vrrp_track_process.nginx]
process = "nginx"
quorum = 2

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["192.0.2.100/24"]
track_script = ["chk_web"]
track_file = ["maint"]
track_process = ["nginx"]
track_interface = ["eth1"]
`;

function config(text = TEXT): Config {
  const r = parseConfig(text, "hub.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function hub(probes = new FakeTrackProbes()) {
  const lines: string[] = [];
  const h = new TrackerHub({ probes, logger: new Logger({ sink: (l) => lines.push(l) }) });
  let changes = 0;
  return {
    h,
    probes,
    lines,
    changed: () => changes,
    start: (c = config()) => h.start(c, () => changes++),
  };
}

Deno.test("hub: only referenced trackers run; each kind reads as it should", async () => {
  const t = hub();
  t.start();
  assert.ok(t.probes.scheduled("chk_web"));
  assert.ok(!t.probes.scheduled("unused"));
  assert.deepEqual(t.probes.checkSets, ["vrrp_script:chk_web"]);
  assert.deepEqual(t.h.reading("script", "chk_web"), {
    up: false,
    value: null,
    dynamicWeight: null,
    detail: "no result yet (starts down)",
  });
  assert.equal(t.h.reading("script", "unused"), undefined);
  assert.deepEqual(t.h.reading("file", "maint"), {
    up: true,
    value: 0,
    dynamicWeight: null,
    detail: "/etc/hacore/maint: missing (counts as 0)",
  });
  assert.deepEqual(t.h.reading("process", "nginx"), {
    up: false,
    value: 0,
    dynamicWeight: null,
    detail: '0 running with name "nginx" (quorum 2)',
  });
  // Link states unknown: every interface counts as up.
  assert.equal(t.h.reading("interface", "eth1")?.up, true);
  assert.equal(t.h.setLinks(new Map([["eth0", true]])), true, "eth1 is tracked and now missing");
  assert.deepEqual(t.h.reading("interface", "eth1")?.detail, "no such interface");
  assert.equal(t.h.setLink("eth1", true), true);
  assert.equal(t.h.setLink("eth0", false), false, "eth0 is not tracked");
  assert.equal(t.h.reading("interface", "eth1")?.detail, "link up");
  await t.h.stop();
});

Deno.test("hub: a probe change calls back once and is logged; an unchanged one is not", async () => {
  const t = hub();
  t.start();
  t.probes.setScript("chk_web", true, "HTTP 200 in 1.2 ms");
  assert.equal(t.changed(), 1);
  t.probes.setScript("chk_web", true, "HTTP 200 in 0.9 ms");
  assert.equal(t.changed(), 1, "same state, new detail: nothing to recompute");
  t.probes.setScript("chk_web", false, "HTTP 503 (expected 200-299)");
  t.probes.setFile("/etc/hacore/maint", 3);
  t.probes.setProcesses({ process: "nginx", fullCommand: false }, 2);
  assert.equal(t.changed(), 4);
  const log = t.lines.map((l) => l.replace(/^\S+ /, ""));
  assert.deepEqual(log.slice(-4), [
    "notice script chk_web: down -> up (HTTP 200 in 1.2 ms)",
    "warn script chk_web: up -> down (HTTP 503 (expected 200-299))",
    "notice file maint: value 0 -> value 3 (/etc/hacore/maint: 3)",
    'notice process nginx: down, 0 running -> up, 2 running (2 running with name "nginx" (quorum 2))',
  ]);
  await t.h.stop();
  t.probes.setFile("/etc/hacore/maint", 0);
  assert.equal(t.changed(), 4, "nothing after stop");
});

Deno.test("hub: when the check scheduler cannot start, scripts read down and say why", async () => {
  const probes = new FakeTrackProbes();
  probes.checks = () => {
    throw new Error("no scheduler here");
  };
  const t = hub(probes);
  t.start();
  assert.deepEqual(t.h.reading("script", "chk_web"), {
    up: false,
    value: null,
    dynamicWeight: null,
    detail: "not run: no check scheduler (no scheduler here)",
  });
  assert.ok(t.lines.some((l) => l.includes("cannot start the check scheduler: no scheduler here")));
  await t.h.stop();
});

Deno.test("hub: reconfigure keeps equal checks, replaces changed ones, stops dropped ones", async () => {
  const t = hub();
  t.start();
  t.probes.setScript("chk_web", true);
  t.h.configure(config());
  assert.deepEqual(t.probes.checkSets, ["vrrp_script:chk_web"]);
  assert.equal(t.h.reading("script", "chk_web")?.up, true);
  t.h.configure(config(TEXT.replace("fall = 3", "fall = 4")));
  assert.deepEqual(t.probes.checkSets, ["vrrp_script:chk_web", "vrrp_script:chk_web"]);
  t.h.configure(config(TEXT.replace('track_script = ["chk_web"]', "")));
  assert.deepEqual(t.probes.checkRemovals, ["vrrp_script:chk_web"]);
  assert.equal(t.h.reading("script", "chk_web"), undefined);
  await t.h.stop();
});

Deno.test("hub: a script check under /tmp is refused by the real script security rules", async () => {
  const path = await Deno.makeTempFile({ dir: "/tmp", prefix: "hacore-chk-", suffix: ".sh" });
  try {
    await Deno.writeTextFile(path, "#!/bin/sh\nexit 0\n");
    await Deno.chmod(path, 0o755);
    const probes = new FakeTrackProbes();
    // The real rules, not the fake's.
    Object.defineProperty(probes, "checkScript", { value: undefined });
    const t = hub(probes);
    t.start(config(`
[vrrp_script.chk]
script = "${path}"
weight = 0

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["192.0.2.100/24"]
track_script = ["chk"]
`));
    assert.ok(!probes.scheduled("chk"));
    const r = t.h.reading("script", "chk");
    assert.equal(r?.up, false);
    assert.match(r?.detail ?? "", /^not run: vrrp_script\.chk: .*\/tmp.*writable by all/);
    assert.ok(
      t.lines.some((l) =>
        /error vrrp_script\.chk: .*; the script is not run and the tracker stays down$/.test(l)
      ),
      t.lines.join("\n"),
    );
    await t.h.stop();
  } finally {
    await Deno.remove(path);
  }
});
