/**
 * The pure tracker arithmetic: keepalived's weight and fault rules per kind, the
 * reference override, the owner, the clamp, sync-group trackers, and which trackers
 * an instance uses.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import {
  computePriority,
  contributionsText,
  type TrackerKind,
  trackerLabel,
  type TrackerReading,
  type TrackerUse,
  trackerUses,
} from "../../lib/track/priority.ts";

const up = (detail = "ok"): TrackerReading => ({
  up: true,
  value: null,
  dynamicWeight: null,
  detail,
});
const down = (detail = "failed"): TrackerReading => ({
  up: false,
  value: null,
  dynamicWeight: null,
  detail,
});
const file = (value: number): TrackerReading => ({
  up: value === 0,
  value,
  dynamicWeight: null,
  detail: String(value),
});
const procs = (n: number, quorum: number): TrackerReading => ({
  up: n >= quorum,
  value: n,
  dynamicWeight: null,
  detail: `${n} running`,
});
const dyn = (w: number): TrackerReading => ({
  up: true,
  value: null,
  dynamicWeight: w,
  detail: "exit",
});

function use(
  kind: TrackerKind,
  name: string,
  weight: number,
  group: string | null = null,
): TrackerUse {
  return { kind, name, weight, group };
}

interface Row {
  name: string;
  base: number;
  uses: TrackerUse[];
  readings: Record<string, TrackerReading>;
  effective: number;
  faults: string[];
  contributions?: number[];
  states?: ("up" | "down")[];
}

const TABLE: Row[] = [
  // vrrp_script
  {
    name: "script weight>0 up adds",
    base: 100,
    uses: [use("script", "s", 10)],
    readings: { "script:s": up() },
    effective: 110,
    faults: [],
    contributions: [10],
  },
  {
    name: "script weight>0 down adds nothing",
    base: 100,
    uses: [use("script", "s", 10)],
    readings: { "script:s": down() },
    effective: 100,
    faults: [],
    contributions: [0],
    states: ["down"],
  },
  {
    name: "script weight<0 up adds nothing",
    base: 100,
    uses: [use("script", "s", -20)],
    readings: { "script:s": up() },
    effective: 100,
    faults: [],
    contributions: [0],
  },
  {
    name: "script weight<0 down subtracts",
    base: 100,
    uses: [use("script", "s", -20)],
    readings: { "script:s": down() },
    effective: 80,
    faults: [],
    contributions: [-20],
  },
  {
    name: "script weight 0 down faults",
    base: 100,
    uses: [use("script", "s", 0)],
    readings: { "script:s": down() },
    effective: 100,
    faults: ["script s"],
    contributions: [0],
  },
  {
    name: "script weight 0 up is fine",
    base: 100,
    uses: [use("script", "s", 0)],
    readings: { "script:s": up() },
    effective: 100,
    faults: [],
  },
  {
    name: "script dynamic weight replaces the configured one",
    base: 100,
    uses: [use("script", "s", -20)],
    readings: { "script:s": dyn(7) },
    effective: 107,
    faults: [],
    contributions: [7],
  },
  {
    name: "script dynamic weight with weight 0",
    base: 100,
    uses: [use("script", "s", 0)],
    readings: { "script:s": dyn(3) },
    effective: 103,
    faults: [],
  },
  {
    name: "script without a reading is down",
    base: 100,
    uses: [use("script", "s", -5)],
    readings: {},
    effective: 95,
    faults: [],
  },
  // track_interface
  {
    name: "interface no weight down faults",
    base: 100,
    uses: [use("interface", "eth1", 0)],
    readings: { "interface:eth1": down("link down") },
    effective: 100,
    faults: ["interface eth1"],
  },
  {
    name: "interface weight<0 down subtracts",
    base: 100,
    uses: [use("interface", "eth1", -30)],
    readings: { "interface:eth1": down("link down") },
    effective: 70,
    faults: [],
  },
  {
    name: "interface weight>0 up adds",
    base: 100,
    uses: [use("interface", "eth1", 30)],
    readings: { "interface:eth1": up("link up") },
    effective: 130,
    faults: [],
  },
  // track_file
  {
    name: "file value × weight",
    base: 100,
    uses: [use("file", "f", 2)],
    readings: { "file:f": file(5) },
    effective: 110,
    faults: [],
    contributions: [10],
    states: ["up"],
  },
  {
    name: "file negative product lowers and reads down",
    base: 100,
    uses: [use("file", "f", 1)],
    readings: { "file:f": file(-30) },
    effective: 70,
    faults: [],
    states: ["down"],
  },
  {
    name: "file 0 with weight 0 is fine",
    base: 100,
    uses: [use("file", "f", 0)],
    readings: { "file:f": file(0) },
    effective: 100,
    faults: [],
  },
  {
    name: "file non-zero with weight 0 faults",
    base: 100,
    uses: [use("file", "f", 0)],
    readings: { "file:f": file(3) },
    effective: 100,
    faults: ["file f"],
  },
  {
    name: "file product -254 faults",
    base: 100,
    uses: [use("file", "f", -1)],
    readings: { "file:f": file(254) },
    effective: 100,
    faults: ["file f"],
    contributions: [0],
  },
  {
    name: "file product -253 does not fault",
    base: 200,
    uses: [use("file", "f", -1)],
    readings: { "file:f": file(253) },
    effective: 1,
    faults: [],
  },
  {
    name: "file product above 253 counts as 253",
    base: 1,
    uses: [use("file", "f", 10)],
    readings: { "file:f": file(100) },
    effective: 254,
    faults: [],
    contributions: [253],
  },
  // track_process
  {
    name: "process below quorum weight 0 faults",
    base: 100,
    uses: [use("process", "p", 0)],
    readings: { "process:p": procs(1, 2) },
    effective: 100,
    faults: ["process p"],
  },
  {
    name: "process at quorum weight 0 is fine",
    base: 100,
    uses: [use("process", "p", 0)],
    readings: { "process:p": procs(2, 2) },
    effective: 100,
    faults: [],
  },
  {
    name: "process below quorum weight<0 subtracts",
    base: 100,
    uses: [use("process", "p", -10)],
    readings: { "process:p": procs(0, 1) },
    effective: 90,
    faults: [],
  },
  // sum, clamp, owner
  {
    name: "weights add up",
    base: 100,
    uses: [use("script", "a", -20), use("script", "b", 15), use("interface", "eth1", -5)],
    readings: { "script:a": down(), "script:b": up(), "interface:eth1": down() },
    effective: 90,
    faults: [],
  },
  {
    name: "clamp low at 1",
    base: 50,
    uses: [use("script", "s", -100)],
    readings: { "script:s": down() },
    effective: 1,
    faults: [],
  },
  {
    name: "clamp high at 254",
    base: 250,
    uses: [use("script", "s", 100)],
    readings: { "script:s": up() },
    effective: 254,
    faults: [],
  },
  {
    name: "owner ignores weights",
    base: 255,
    uses: [use("script", "s", -100)],
    readings: { "script:s": down() },
    effective: 255,
    faults: [],
    contributions: [0],
  },
  {
    name: "owner still faults",
    base: 255,
    uses: [use("script", "s", 0)],
    readings: { "script:s": down() },
    effective: 255,
    faults: ["script s"],
  },
  // sync group trackers: weights never apply, failing faults
  {
    name: "group script down faults",
    base: 100,
    uses: [use("script", "s", 0, "G")],
    readings: { "script:s": down() },
    effective: 100,
    faults: ["group G: script s"],
  },
  {
    name: "group file non-zero faults",
    base: 100,
    uses: [use("file", "f", 0, "G")],
    readings: { "file:f": file(1) },
    effective: 100,
    faults: ["group G: file f"],
  },
  {
    name: "group dynamic weight does not count",
    base: 100,
    uses: [use("script", "s", 0, "G")],
    readings: { "script:s": dyn(9) },
    effective: 100,
    faults: [],
  },
];

for (const row of TABLE) {
  Deno.test(`priority: ${row.name}`, () => {
    const r = computePriority(row.base, row.uses, (k, n) => row.readings[`${k}:${n}`]);
    assert.equal(r.effective, row.effective);
    assert.deepEqual(r.faults, row.faults);
    if (row.contributions) {
      assert.deepEqual(r.trackers.map((t) => t.contribution), row.contributions);
    }
    if (row.states) assert.deepEqual(r.trackers.map((t) => t.state), row.states);
    assert.equal(r.base, row.base);
    for (const t of r.trackers) assert.equal(t.fault, r.faults.includes(t.label));
  });
}

Deno.test("priority: a tracker's status line carries kind, name, value, weight and detail", () => {
  const r = computePriority(
    150,
    [use("file", "maint", 1), use("script", "chk_web", -20)],
    (k) => k === "file" ? file(-5) : down("HTTP 503 (expected 200-299)"),
  );
  assert.deepEqual(r.trackers, [
    {
      kind: "file",
      name: "maint",
      group: null,
      label: "file maint",
      state: "down",
      value: -5,
      weight: 1,
      contribution: -5,
      fault: false,
      detail: "-5",
    },
    {
      kind: "script",
      name: "chk_web",
      group: null,
      label: "script chk_web",
      state: "down",
      value: null,
      weight: -20,
      contribution: -20,
      fault: false,
      detail: "HTTP 503 (expected 200-299)",
    },
  ]);
  assert.equal(r.effective, 125);
  assert.equal(contributionsText(r.trackers), "maint -5, chk_web -20");
});

Deno.test("priority: labels name kind, tracker and group", () => {
  assert.equal(trackerLabel("script", "chk_web", null), "script chk_web");
  assert.equal(trackerLabel("interface", "eth1", null), "interface eth1");
  assert.equal(trackerLabel("process", "nginx", "G"), "group G: process nginx");
});

const CONFIG = `
[vrrp_script.chk_web]
type = "tcp"
connect = "127.0.0.1:80"
weight = -20

[vrrp_script.chk_db]
type = "tcp"
connect = "127.0.0.1:5432"

[vrrp_track_file.maint]
file = "/etc/hacore/maint"

[vrrp_track_process.nginx]
process = "nginx"
weight = -15

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["192.0.2.100/24"]
track_script = ["chk_web", { name = "chk_db", weight = -40 }]
track_interface = ["eth1", { name = "eth2", weight = -30 }]
track_file = [{ name = "maint", weight = -1 }]
track_process = ["nginx"]

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["192.0.2.101/24"]
track_file = ["maint"]

[vrrp_sync_group.G]
group = ["VI_1", "VI_2"]
track_script = ["chk_db"]
track_interface = ["eth3"]
sync_group_tracking_weight = true
`;

Deno.test("trackerUses: own references with the weight in force, then the group's", () => {
  const r = parseConfig(CONFIG, "t.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const [vi1, vi2] = r.config.instances;
  assert.deepEqual(trackerUses(vi1, r.config), [
    { kind: "script", name: "chk_web", weight: -20, group: null },
    { kind: "script", name: "chk_db", weight: -40, group: null },
    { kind: "interface", name: "eth1", weight: 0, group: null },
    { kind: "interface", name: "eth2", weight: -30, group: null },
    { kind: "file", name: "maint", weight: -1, group: null },
    { kind: "process", name: "nginx", weight: -15, group: null },
    { kind: "script", name: "chk_db", weight: 0, group: "G" },
    { kind: "interface", name: "eth3", weight: 0, group: "G" },
  ]);
  assert.deepEqual(trackerUses(vi2, r.config), [
    { kind: "file", name: "maint", weight: 1, group: null },
    { kind: "script", name: "chk_db", weight: 0, group: "G" },
    { kind: "interface", name: "eth3", weight: 0, group: "G" },
  ]);
});

Deno.test("trackerUses: in a sync group without tracking weight, members' weights become faults", () => {
  const r = parseConfig(CONFIG.replace("sync_group_tracking_weight = true\n", ""), "t.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const [vi1] = r.config.instances;
  assert.deepEqual(trackerUses(vi1, r.config).filter((u) => u.group === null), [
    { kind: "script", name: "chk_web", weight: 0, group: null },
    { kind: "script", name: "chk_db", weight: 0, group: null },
    { kind: "interface", name: "eth1", weight: 0, group: null },
    { kind: "interface", name: "eth2", weight: 0, group: null },
    { kind: "file", name: "maint", weight: 0, group: null },
    { kind: "process", name: "nginx", weight: 0, group: null },
  ]);
});
