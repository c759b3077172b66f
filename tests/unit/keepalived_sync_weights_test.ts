/**
 * keepalived's treatment of tracker weights inside a sync group (without
 * sync_group_tracking_weight), as vrrp.c 2.2.7 does it and as the wire-equivalence test
 * saw it: a weighted track_script is dropped altogether (never run, never faults),
 * while a weighted track_interface keeps being tracked, its weight zeroed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { formatConfigError } from "../../lib/config/mod.ts";

const CONF = `
vrrp_script chk_weighted {
  script "/bin/false"
  weight -20
}
vrrp_script chk_plain {
  script "/bin/true"
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  track_script {
    chk_weighted
    chk_plain
  }
  track_interface {
    eth1 weight -10
  }
  virtual_ipaddress {
    192.0.2.1/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  track_script {
    chk_weighted weight 0
  }
  virtual_ipaddress {
    192.0.2.2/24
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
`;

function read(source: string) {
  const r = parseKeepalived(source, "/etc/keepalived/keepalived.conf", { configId: "lb-a" });
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join("\n"));
  return r;
}

Deno.test("a sync group member's weighted track_script is not tracked at all, as keepalived drops it", () => {
  const r = read(CONF);
  const vi1 = r.config.instances.find((i) => i.name === "VI_1")!;
  assert.deepEqual(vi1.trackScripts.map((t) => t.name), ["chk_plain"]);
  assert.ok(
    r.warnings.some((w) =>
      w.message.includes("(VI_1) track_script chk_weighted has a weight") && w.line === 13
    ),
    r.warnings.map(formatConfigError).join("\n"),
  );
});

Deno.test("a sync group member's weighted track_interface stays tracked (a failure faults it)", () => {
  const vi1 = read(CONF).config.instances.find((i) => i.name === "VI_1")!;
  assert.deepEqual(vi1.trackInterfaces.map((t) => t.name), ["eth1"]);
});

Deno.test("a track_script whose weight the instance overrides to 0 stays tracked in a sync group", () => {
  const vi2 = read(CONF).config.instances.find((i) => i.name === "VI_2")!;
  assert.deepEqual(vi2.trackScripts.map((t) => t.name), ["chk_weighted"]);
});

Deno.test("with sync_group_tracking_weight the weighted scripts stay", () => {
  const conf = CONF.replace(
    "vrrp_sync_group G {",
    "vrrp_sync_group G {\n  sync_group_tracking_weight",
  );
  const vi1 = read(conf).config.instances.find((i) => i.name === "VI_1")!;
  assert.deepEqual(vi1.trackScripts.map((t) => t.name), ["chk_weighted", "chk_plain"]);
});
