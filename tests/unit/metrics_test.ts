/**
 * The Prometheus exposition: every family with its type and label set, zero-valued
 * drop counters present, label escaping, and the HTTP listener (`/metrics`, `/healthz`,
 * 404/405, close). The output is read back by two parsers: a strict one written here
 * from the 0.0.4 grammar (it fails on anything a Prometheus server would refuse, such
 * as a repeated TYPE or a family split in two), and the npm package
 * `parse-prometheus-text-format`, an independent implementation, so an escaping bug
 * cannot hide by being mirrored in our own reader.
 */
import assert from "node:assert/strict";
import type { DaemonControl, InstanceDetail } from "../../lib/control/api.ts";
import {
  escapeLabel,
  groupHookCounterKey,
  hookCounterKey,
  METRICS_CONTENT_TYPE,
  parseListen,
  renderMetrics,
  startMetricsServer,
} from "../../lib/control/metrics.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon, type DaemonStatus, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import { Logger } from "../../lib/log.ts";
import { DROP_COUNTER, zeroCounters } from "../../lib/vrrp/types.ts";
import { type Family, parseBoth, parseStrict, value } from "./prometheus.ts";

// ---------------------------------------------------------------------------------------
// A fake daemon: two instances with known counters
// ---------------------------------------------------------------------------------------

const ZERO_ROUTER_COUNTERS = zeroCounters();

function instance(over: Partial<InstanceStatus> & { name: string }): InstanceStatus {
  return {
    interface: "eth0",
    vrid: 51,
    version: 3,
    family: "ipv4",
    state: "backup",
    sinceMs: 1000,
    inStateMs: 0,
    priority: { base: 100, effective: 100 },
    faults: [],
    lastMaster: null,
    advertIntervalMs: 1000,
    masterAdvertIntervalMs: 1000,
    transport: "multicast",
    holdingVips: false,
    vips: [],
    lastTransition: null,
    counters: {},
    override: null,
    maintenance: false,
    foreignSenders: [],
    trackers: [],
    ...over,
  };
}

const VI_1 = instance({
  name: "VI_1",
  state: "master",
  inStateMs: 12_500,
  priority: { base: 150, effective: 140 },
  holdingVips: true,
  vips: [
    { address: "192.0.2.100", prefix: 24, dev: "eth0", excluded: false, held: true },
    { address: "192.0.2.101", prefix: 24, dev: "eth0", excluded: true, held: false },
  ],
});
const VI_2 = instance({
  name: "VI_2",
  interface: "eth1",
  vrid: 52,
  version: 2,
  family: "ipv6",
  transport: "unicast",
  state: "fault",
  inStateMs: 250,
  vips: [{ address: "2001:db8::1", prefix: 64, dev: "eth1", excluded: false, held: false }],
});

const DETAIL_COUNTERS: Record<string, Record<string, number>> = {
  VI_1: {
    ...ZERO_ROUTER_COUNTERS,
    masterTransitions: 3,
    transitions: 7,
    advertisementsSent: 1200,
    advertisementsReceived: 40,
    priorityZeroSent: 1,
    priorityZeroReceived: 2,
    checksumErrors: 5,
    ipTtlErrors: 1,
    sendErrors: 2,
    vipsRestored: 0,
    [hookCounterKey("notify_master", "ok")]: 3,
    [hookCounterKey("notify_master", "failed")]: 1,
    [hookCounterKey("notify", "timeout")]: 4,
  },
  VI_2: { ...ZERO_ROUTER_COUNTERS, advertisementsReceived: 9, vridErrors: 6 },
};

const NODE_COUNTERS: Record<string, number> = {
  vridErrors: 11,
  inboxOverflows: 2,
  internalErrors: 1,
  somethingNew: 3,
  [groupHookCounterKey('G "web"\\x.y', "notify_backup", "ok")]: 5,
};

const PROCESS = {
  pid: 4242,
  rssBytes: 62_914_560,
  heapUsedBytes: 9_437_184,
  heapTotalBytes: 14_680_064,
  externalBytes: 2_621_440,
  heapLiveBytes: 8_388_608,
};

class FakeControl implements DaemonControl {
  live = true;
  version = "0.1.0";
  inMaintenance = false;
  instances: InstanceStatus[] = [VI_1, VI_2];
  status(): DaemonStatus {
    return {
      phase: "running",
      nowMs: 20_000,
      instances: this.instances,
      counters: NODE_COUNTERS,
      conflicts: ["192.0.2.100 is also on eth9"],
      maintenance: this.inMaintenance,
      configFile: "/etc/hacore/hacore.toml",
      startedAtWall: "2026-11-21T22:59:03.414Z",
      version: this.version,
      process: PROCESS,
    };
  }
  detail(name: string): InstanceDetail | null {
    const summary = this.instances.find((i) => i.name === name);
    // No detail for an instance the table lacks: as if it vanished (a reload) mid-scrape.
    if (!summary || !Object.hasOwn(DETAIL_COUNTERS, name)) return null;
    return {
      summary,
      history: [],
      counters: DETAIL_COUNTERS[name],
      override: null,
      hooks: [],
    };
  }
  demote() {
    return { ok: false as const, error: "fake" };
  }
  promote() {
    return { ok: false as const, error: "fake" };
  }
  resume() {
    return { ok: false as const, error: "fake" };
  }
  maintenance() {
    return { ok: false as const, error: "fake" };
  }
  reload() {
    return Promise.resolve({ ok: false, errors: ["fake"], changes: [] });
  }
  config(): never {
    throw new Error("the metrics never read the config");
  }
  isLive(): boolean {
    return this.live;
  }
}

const EXPECTED_TYPES: Record<string, string> = {
  hacore_up: "gauge",
  hacore_build_info: "gauge",
  hacore_live: "gauge",
  hacore_start_time_seconds: "gauge",
  hacore_maintenance: "gauge",
  hacore_vip_conflicts: "gauge",
  hacore_process_resident_memory_bytes: "gauge",
  hacore_process_heap_used_bytes: "gauge",
  hacore_process_heap_total_bytes: "gauge",
  hacore_process_external_memory_bytes: "gauge",
  hacore_process_heap_live_bytes: "gauge",
  hacore_vrrp_instance_info: "gauge",
  hacore_vrrp_state: "gauge",
  hacore_vrrp_priority: "gauge",
  hacore_vrrp_in_state_seconds: "gauge",
  hacore_vrrp_vips_configured: "gauge",
  hacore_vrrp_vips_held: "gauge",
  hacore_vrrp_foreign_senders: "gauge",
  hacore_vrrp_foreign_adverts_total: "counter",
  hacore_vrrp_reannouncements_total: "counter",
  hacore_vrrp_vip_conflicts_total: "counter",
  hacore_vrrp_master_transitions_total: "counter",
  hacore_vrrp_transitions_total: "counter",
  hacore_vrrp_adverts_sent_total: "counter",
  hacore_vrrp_adverts_received_total: "counter",
  hacore_vrrp_priority_zero_sent_total: "counter",
  hacore_vrrp_priority_zero_received_total: "counter",
  hacore_vrrp_drops_total: "counter",
  hacore_vrrp_events_total: "counter",
  hacore_notify_runs_total: "counter",
  hacore_node_drops_total: "counter",
  hacore_node_events_total: "counter",
};

const DROP_NAMES = [...new Set(Object.values(DROP_COUNTER))];

function quietLogger(lines: string[] = []): Logger {
  return new Logger({ sink: (l) => lines.push(l) });
}

// ---------------------------------------------------------------------------------------
// renderMetrics
// ---------------------------------------------------------------------------------------

Deno.test("render: every family once, with HELP and the right TYPE, in a parseable exposition", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  assert.deepEqual([...fams.keys()].sort(), Object.keys(EXPECTED_TYPES).sort());
  for (const [name, type] of Object.entries(EXPECTED_TYPES)) {
    const f = fams.get(name)!;
    assert.equal(f.type, type, name);
    assert.ok(f.help && f.help.length > 10, `${name} has a HELP text`);
    if (type === "counter") assert.ok(name.endsWith("_total"), `${name} ends in _total`);
  }
});

Deno.test("render: every family has exactly its documented label set", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  const labelSets: Record<string, string[]> = {
    hacore_up: [],
    hacore_build_info: ["version"],
    hacore_live: [],
    hacore_start_time_seconds: [],
    hacore_maintenance: [],
    hacore_vip_conflicts: [],
    hacore_process_resident_memory_bytes: [],
    hacore_process_heap_used_bytes: [],
    hacore_process_heap_total_bytes: [],
    hacore_process_external_memory_bytes: [],
    hacore_process_heap_live_bytes: [],
    hacore_vrrp_instance_info: ["family", "instance", "interface", "transport", "version", "vrid"],
    hacore_vrrp_state: ["instance", "interface", "state", "vrid"],
    hacore_vrrp_priority: ["instance", "kind"],
    hacore_vrrp_drops_total: ["instance", "reason"],
    hacore_vrrp_events_total: ["event", "instance"],
    hacore_notify_runs_total: ["hook", "name", "result"],
    hacore_node_drops_total: ["reason"],
    hacore_node_events_total: ["event"],
  };
  for (const [name, f] of fams) {
    const want = labelSets[name] ?? ["instance"];
    for (const s of f.samples) assert.deepEqual(Object.keys(s.labels).sort(), want, name);
  }
});

Deno.test("render: process gauges, build info, start time, maintenance and conflicts", () => {
  const c = new FakeControl();
  const fams = parseBoth(renderMetrics(c));
  assert.equal(value(fams, "hacore_up", {}), 1);
  assert.equal(value(fams, "hacore_build_info", { version: "0.1.0" }), 1);
  assert.equal(value(fams, "hacore_live", {}), 1);
  assert.equal(value(fams, "hacore_start_time_seconds", {}), 1795301943.414);
  assert.equal(value(fams, "hacore_maintenance", {}), 0);
  assert.equal(value(fams, "hacore_vip_conflicts", {}), 1);
  c.live = false;
  c.inMaintenance = true;
  c.version = "";
  const after = parseBoth(renderMetrics(c));
  assert.equal(value(after, "hacore_live", {}), 0);
  assert.equal(value(after, "hacore_maintenance", {}), 1);
  assert.equal(value(after, "hacore_build_info", { version: "unknown" }), 1);
});

Deno.test("render: the process's memory from status, one gauge each; none from a status without it", () => {
  const c = new FakeControl();
  const fams = parseBoth(renderMetrics(c));
  assert.equal(value(fams, "hacore_process_resident_memory_bytes", {}), PROCESS.rssBytes);
  assert.equal(value(fams, "hacore_process_heap_used_bytes", {}), PROCESS.heapUsedBytes);
  assert.equal(value(fams, "hacore_process_heap_total_bytes", {}), PROCESS.heapTotalBytes);
  assert.equal(value(fams, "hacore_process_external_memory_bytes", {}), PROCESS.externalBytes);
  assert.equal(value(fams, "hacore_process_heap_live_bytes", {}), PROCESS.heapLiveBytes);
  const old = c.status();
  c.status = () => ({ ...old, process: { ...PROCESS, heapLiveBytes: undefined } });
  assert.ok(!parseBoth(renderMetrics(c)).has("hacore_process_heap_live_bytes"));
  c.status = () => ({ ...old, process: undefined });
  const without = parseBoth(renderMetrics(c));
  assert.ok(![...without.keys()].some((k) => k.startsWith("hacore_process_")));
});

Deno.test("render: one state series per possible state, 1 for the current one", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  assert.equal(fams.get("hacore_vrrp_state")!.samples.length, 8);
  for (const state of ["init", "backup", "master", "fault"]) {
    const l1 = { instance: "VI_1", interface: "eth0", vrid: "51", state };
    const l2 = { instance: "VI_2", interface: "eth1", vrid: "52", state };
    assert.equal(value(fams, "hacore_vrrp_state", l1), state === "master" ? 1 : 0);
    assert.equal(value(fams, "hacore_vrrp_state", l2), state === "fault" ? 1 : 0);
  }
  assert.equal(
    value(fams, "hacore_vrrp_instance_info", {
      instance: "VI_2",
      interface: "eth1",
      vrid: "52",
      version: "2",
      family: "ipv6",
      transport: "unicast",
    }),
    1,
  );
});

Deno.test("render: priorities, time in state and VIPs", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  assert.equal(value(fams, "hacore_vrrp_priority", { instance: "VI_1", kind: "base" }), 150);
  assert.equal(value(fams, "hacore_vrrp_priority", { instance: "VI_1", kind: "effective" }), 140);
  assert.equal(value(fams, "hacore_vrrp_priority", { instance: "VI_2", kind: "effective" }), 100);
  assert.equal(value(fams, "hacore_vrrp_in_state_seconds", { instance: "VI_1" }), 12.5);
  assert.equal(value(fams, "hacore_vrrp_in_state_seconds", { instance: "VI_2" }), 0.25);
  assert.equal(value(fams, "hacore_vrrp_vips_configured", { instance: "VI_1" }), 2);
  assert.equal(value(fams, "hacore_vrrp_vips_held", { instance: "VI_1" }), 1);
  assert.equal(value(fams, "hacore_vrrp_vips_held", { instance: "VI_2" }), 0);
});

Deno.test("render: advert, priority-0 and transition counters; total transitions only when counted", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  const vi1 = { instance: "VI_1" };
  const vi2 = { instance: "VI_2" };
  assert.equal(value(fams, "hacore_vrrp_master_transitions_total", vi1), 3);
  assert.equal(value(fams, "hacore_vrrp_master_transitions_total", vi2), 0);
  assert.equal(value(fams, "hacore_vrrp_transitions_total", vi1), 7);
  assert.equal(
    fams.get("hacore_vrrp_transitions_total")!.samples.length,
    1,
    "VI_2 keeps no total: no series rather than a false 0",
  );
  assert.equal(value(fams, "hacore_vrrp_adverts_sent_total", vi1), 1200);
  assert.equal(value(fams, "hacore_vrrp_adverts_received_total", vi1), 40);
  assert.equal(value(fams, "hacore_vrrp_adverts_received_total", vi2), 9);
  assert.equal(value(fams, "hacore_vrrp_priority_zero_sent_total", vi1), 1);
  assert.equal(value(fams, "hacore_vrrp_priority_zero_received_total", vi1), 2);
});

Deno.test("render: a drop series per counter and instance, zeros included", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  const drops = fams.get("hacore_vrrp_drops_total")!.samples;
  assert.equal(drops.length, 2 * DROP_NAMES.length);
  for (const instanceName of ["VI_1", "VI_2"]) {
    const reasons = drops.filter((s) => s.labels.instance === instanceName).map((s) =>
      s.labels.reason
    );
    assert.deepEqual(reasons.sort(), [...DROP_NAMES].sort());
  }
  assert.ok(DROP_NAMES.includes("checksumErrors") && DROP_NAMES.includes("vridErrors"));
  const d = (instanceName: string, reason: string) =>
    value(fams, "hacore_vrrp_drops_total", { instance: instanceName, reason });
  assert.equal(d("VI_1", "checksumErrors"), 5);
  assert.equal(d("VI_1", "ipTtlErrors"), 1);
  assert.equal(d("VI_1", "authFailures"), 0);
  assert.equal(d("VI_2", "vridErrors"), 6);
  assert.equal(d("VI_2", "checksumErrors"), 0);
});

Deno.test("render: other instance counters go to events_total, hook keys to notify_runs_total", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  const events = fams.get("hacore_vrrp_events_total")!.samples;
  assert.deepEqual(
    events.map((s) => `${s.labels.instance}/${s.labels.event}=${s.value}`).sort(),
    [
      "VI_1/priorityZeroIgnored=0",
      "VI_1/sendErrors=2",
      "VI_1/vipsRestored=0",
      "VI_2/priorityZeroIgnored=0",
    ],
  );
  const runs = (name: string, hook: string, result: string) =>
    value(fams, "hacore_notify_runs_total", { name, hook, result });
  assert.equal(runs("VI_1", "notify_master", "ok"), 3);
  assert.equal(runs("VI_1", "notify_master", "failed"), 1);
  assert.equal(runs("VI_1", "notify", "timeout"), 4);
  // A group name with quotes, a backslash and a dot survives escaping and the split.
  assert.equal(runs('G "web"\\x.y', "notify_backup", "ok"), 5);
  assert.equal(fams.get("hacore_notify_runs_total")!.samples.length, 4);
});

Deno.test("render: node drops with zeros (inbox overflows included) and node events", () => {
  const fams = parseBoth(renderMetrics(new FakeControl()));
  const nodeDrops = fams.get("hacore_node_drops_total")!.samples;
  assert.deepEqual(
    nodeDrops.map((s) => s.labels.reason).sort(),
    [...DROP_NAMES, "inboxOverflows"].sort(),
  );
  assert.equal(value(fams, "hacore_node_drops_total", { reason: "vridErrors" }), 11);
  assert.equal(value(fams, "hacore_node_drops_total", { reason: "inboxOverflows" }), 2);
  assert.equal(value(fams, "hacore_node_drops_total", { reason: "checksumErrors" }), 0);
  const events = fams.get("hacore_node_events_total")!.samples;
  assert.equal(value(fams, "hacore_node_events_total", { event: "internalErrors" }), 1);
  assert.equal(value(fams, "hacore_node_events_total", { event: "reconcileErrors" }), 0);
  assert.equal(value(fams, "hacore_node_events_total", { event: "somethingNew" }), 3);
  assert.equal(events.length, 7, "six always present, plus the unknown non-zero one");
});

Deno.test("render: label values with quotes, backslashes and newlines round-trip", () => {
  const nasty = 'v"1\\2\n3';
  assert.equal(escapeLabel(nasty), 'v\\"1\\\\2\\n3');
  const c = new FakeControl();
  c.version = nasty;
  const text = renderMetrics(c);
  assert.ok(text.includes(`hacore_build_info{version="v\\"1\\\\2\\n3"} 1\n`));
  assert.equal(value(parseBoth(text), "hacore_build_info", { version: nasty }), 1);
});

Deno.test("render: no instances leaves the per-instance families out, not empty headers", () => {
  const c = new FakeControl();
  c.instances = [];
  const text = renderMetrics(c);
  const fams = parseBoth(text);
  assert.ok(!fams.has("hacore_vrrp_state"));
  assert.ok(!text.includes("# TYPE hacore_vrrp_state"));
  assert.ok(fams.has("hacore_node_drops_total"));
});

Deno.test("render: falls back to the status counters when detail() returns null", () => {
  const c = new FakeControl();
  c.instances = [instance({ name: "VI_9", counters: { checksumErrors: 2 } })];
  const fams = parseBoth(renderMetrics(c));
  assert.equal(
    value(fams, "hacore_vrrp_drops_total", { instance: "VI_9", reason: "checksumErrors" }),
    2,
  );
});

Deno.test("render: foreign senders as a gauge, conflicting adverts and re-announcements as counters", () => {
  const c = new FakeControl();
  const sender = {
    source: "192.0.2.99",
    reasons: ["addresses" as const],
    differences: ["VIPs 192.0.2.11 vs ours 192.0.2.100"],
    priority: 150,
    intervalMs: 1000,
    count: 7,
    firstSeenMs: 1000,
    lastSeenMs: 7000,
    firstSeenAgoMs: 19_000,
    lastSeenAgoMs: 13_000,
    firstSeen: "2026-11-21T22:59:01.000Z",
    lastSeen: "2026-11-21T22:59:07.000Z",
  };
  c.instances = [
    instance({
      name: "VI_9",
      foreignSenders: [sender, { ...sender, source: "192.0.2.98" }],
      counters: { foreignAdverts: 7, reannouncements: 2, addressListErrors: 7 },
    }),
    VI_1,
  ];
  const fams = parseBoth(renderMetrics(c));
  assert.equal(value(fams, "hacore_vrrp_foreign_senders", { instance: "VI_9" }), 2);
  assert.equal(value(fams, "hacore_vrrp_foreign_senders", { instance: "VI_1" }), 0);
  assert.equal(value(fams, "hacore_vrrp_foreign_adverts_total", { instance: "VI_9" }), 7);
  assert.equal(value(fams, "hacore_vrrp_reannouncements_total", { instance: "VI_9" }), 2);
  // Present at zero too, so increase() sees the first one.
  assert.equal(value(fams, "hacore_vrrp_reannouncements_total", { instance: "VI_1" }), 0);
  // The RFC 6527 drop counter is kept beside the report.
  assert.equal(
    value(fams, "hacore_vrrp_drops_total", { instance: "VI_9", reason: "addressListErrors" }),
    7,
  );
});

Deno.test("the strict reader refuses what Prometheus refuses", () => {
  const bad = [
    "a 1", // no final newline
    "# TYPE a counter\n# TYPE a counter\na 1\n",
    "# HELP a x\n# HELP a y\na 1\n",
    "a 1\n# TYPE a counter\n",
    'a 1\nb 1\na{x="1"} 2\n',
    'a{x="1"} 1\na{x="1"} 2\n',
    'a{x="1} 1\n',
    'a{x="\\t"} 1\n',
    'a{__x="1"} 1\n',
    "a one\n",
  ];
  for (const text of bad) assert.throws(() => parseStrict(text), Error, JSON.stringify(text));
  assert.equal(
    parseStrict('# other comment\na{x="1",y=""} +Inf 123\n').get("a")!.samples.length,
    1,
  );
});

// ---------------------------------------------------------------------------------------
// startMetricsServer
// ---------------------------------------------------------------------------------------

Deno.test("parseListen: IPv4, bracketed IPv6, port 0; malformed refused", () => {
  assert.deepEqual(parseListen("127.0.0.1:9650"), { hostname: "127.0.0.1", port: 9650 });
  assert.deepEqual(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  for (const bad of ["127.0.0.1", "::1:9650", "[::1]", "host:99999", ":80"]) {
    assert.throws(() => parseListen(bad), RangeError, bad);
  }
});

Deno.test("server: /metrics, /healthz (200 live, 503 not), HEAD, 404, 405, then a clean close", async () => {
  const control = new FakeControl();
  const server = startMetricsServer({
    listen: "127.0.0.1:0",
    control,
    logger: quietLogger(),
  });
  try {
    assert.ok(server.port > 0);
    assert.equal(server.hostname, "127.0.0.1");
    const base = `http://127.0.0.1:${server.port}`;

    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers.get("content-type"), METRICS_CONTENT_TYPE);
    const body = await m.text();
    assert.equal(body, renderMetrics(control));
    assert.equal(value(parseBoth(body), "hacore_up", {}), 1);

    const withQuery = await fetch(`${base}/metrics?x=1`);
    assert.equal(withQuery.status, 200);
    await withQuery.body?.cancel();

    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");

    const h = await fetch(`${base}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(await h.text(), "ok\n");
    control.live = false;
    const h2 = await fetch(`${base}/healthz`);
    assert.equal(h2.status, 503);
    await h2.body?.cancel();

    const nf = await fetch(`${base}/`);
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
    const nf2 = await fetch(`${base}/metrics/extra`);
    assert.equal(nf2.status, 404);
    await nf2.body?.cancel();

    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  } finally {
    await server.close();
  }
  await server.close(); // idempotent
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/metrics`));
});

Deno.test("server: a failing render is a 500, logged once per window; the server keeps serving", async () => {
  const control = new FakeControl();
  let broken = true;
  const real = control.status.bind(control);
  control.status = () => {
    if (broken) throw new Error("boom");
    return real();
  };
  const lines: string[] = [];
  const server = startMetricsServer({ listen: "127.0.0.1:0", control, logger: quietLogger(lines) });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${base}/metrics`);
      assert.equal(r.status, 500);
      await r.body?.cancel();
    }
    assert.equal(lines.length, 1);
    assert.match(lines[0], /metrics: \/metrics failed: boom/);
    broken = false;
    const ok = await fetch(`${base}/metrics`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("server: listens on IPv6 loopback", async () => {
  let server;
  try {
    server = startMetricsServer({
      listen: "[::1]:0",
      control: new FakeControl(),
      logger: quietLogger(),
    });
  } catch (e) {
    // A host without IPv6 on lo cannot run this; that is the host, not hacore.
    console.log(`skipped: no ::1 here (${(e as Error).message})`);
    return;
  }
  try {
    const r = await fetch(`http://[::1]:${server.port}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "ok\n");
  } finally {
    await server.close();
  }
});

Deno.test("server: a taken port is refused at start, before anything listens", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(() =>
      startMetricsServer({
        listen: `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`,
        control: new FakeControl(),
        logger: quietLogger(),
      })
    );
  } finally {
    taken.close();
  }
});

// ---------------------------------------------------------------------------------------
// Against the real daemon (over the in-memory ports)
// ---------------------------------------------------------------------------------------

Deno.test("render: two real daemons on a fake LAN expose one master, adverts and zero drops", async () => {
  const clock = new ManualClock(0);
  const lan = new FakeLan({ clock, delayMs: 1 });
  const daemons = [["a", "192.0.2.11", 150], ["b", "192.0.2.12", 100]].map(([name, ip, prio]) => {
    const r = parseConfig(
      `[global]\nvrrp_version = 3\n[vrrp_instance.VI_1]\ninterface = "eth0"\n` +
        `virtual_router_id = 51\npriority = ${prio}\nadvert_int = 1\n` +
        `virtual_ipaddress = ["192.0.2.100/24"]\n`,
      `${name}.toml`,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return new Daemon({
      config: r.config,
      primaryAddresses: new Map([["eth0", { ipv4: String(ip) }]]),
      clock,
      transports: lan.host(String(name), [String(ip)]),
      addresses: new FakeAddressPort([{
        dev: "eth0",
        address: String(ip),
        prefix: 24,
        family: "ipv4",
        label: null,
        hacore: false,
      }]),
      announcer: new RecordingAnnouncer(clock),
      logger: quietLogger(),
    });
  });
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (daemons.every((d) => d.idle)) return;
    }
    throw new Error("the daemons never settled");
  };
  await Promise.all(daemons.map((d) => d.start()));
  await runClock(clock, 10_000, settle);
  const [a, b] = daemons.map((d) => parseBoth(renderMetrics(d)));
  const state = (f: Map<string, Family>, st: string) =>
    value(f, "hacore_vrrp_state", { instance: "VI_1", interface: "eth0", vrid: "51", state: st });
  assert.equal(state(a, "master"), 1);
  assert.equal(state(a, "backup"), 0);
  assert.equal(state(b, "backup"), 1);
  assert.equal(value(a, "hacore_vrrp_vips_held", { instance: "VI_1" }), 1);
  assert.equal(value(b, "hacore_vrrp_vips_held", { instance: "VI_1" }), 0);
  assert.ok(value(a, "hacore_vrrp_adverts_sent_total", { instance: "VI_1" }) >= 5);
  assert.ok(value(b, "hacore_vrrp_adverts_received_total", { instance: "VI_1" }) >= 5);
  assert.equal(value(a, "hacore_vrrp_master_transitions_total", { instance: "VI_1" }), 1);
  assert.equal(value(a, "hacore_live", {}), 1);
  // Read from this process at the scrape: a live reading, not a placeholder.
  const heapUsed = value(a, "hacore_process_heap_used_bytes", {});
  assert.ok(heapUsed > 1024 * 1024, String(heapUsed));
  assert.ok(value(a, "hacore_process_heap_total_bytes", {}) >= heapUsed);
  assert.ok(value(a, "hacore_process_resident_memory_bytes", {}) > heapUsed);
  assert.equal(daemons[0].status().process?.pid, Deno.pid);
  for (const f of [a, b]) {
    const drops = f.get("hacore_vrrp_drops_total")!.samples;
    assert.equal(drops.length, DROP_NAMES.length);
    assert.ok(drops.every((d) => d.value === 0));
    assert.equal(value(f, "hacore_vrrp_priority", { instance: "VI_1", kind: "base" }) > 0, true);
  }
  // stop() resolves only as the release hold runs out on the daemon's (manual) clock.
  let stopped = false;
  const stopping = Promise.all(daemons.map((d) => d.stop())).then(() => (stopped = true));
  await settle();
  while (!stopped && clock.fireNext(60_000)) await settle();
  await stopping;
});
