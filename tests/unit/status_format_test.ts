/**
 * `hacore status` as a person reads it: the table and the one-instance view of fixed
 * snapshots, compared verbatim (the text is the product), at 100 columns, narrow,
 * in ASCII, with and without colour, and with only the counters that mean trouble.
 */
import assert from "node:assert/strict";
import type { InstanceDetail } from "../../lib/control/api.ts";
import type { InstanceStatus } from "../../lib/daemon/daemon.ts";
import {
  COUNTER_MIB_NAME,
  formatDuration,
  formatInterval,
  type InstanceView,
  outputStyle,
  renderDetail,
  renderStatus,
  type StatusView,
} from "../../lib/cli/format.ts";

const NOW_WALL = new Date("2026-11-21T22:03:10.000Z");

const WEB: InstanceView = {
  name: "VI_web",
  interface: "eth0",
  vrid: 51,
  version: 3,
  family: "ipv4",
  state: "master",
  sinceMs: 308_000,
  inStateMs: 192_000,
  priority: { base: 150, effective: 150 },
  faults: [],
  lastMaster: { ip: "192.0.2.12", priority: 100, agoMs: 192_400 },
  advertIntervalMs: 1000,
  masterAdvertIntervalMs: 1000,
  transport: "multicast",
  holdingVips: true,
  vips: [{ address: "192.0.2.100", prefix: 24, dev: "eth0", excluded: false, held: true }],
  lastTransition: {
    from: "backup",
    to: "master",
    reason: "master-down-timer",
    detail: "no advert from 192.0.2.12 for 3609.4 ms",
    atMs: 308_000,
  },
  counters: { advertisementsSent: 192, masterTransitions: 1 },
  override: null,
  maintenance: false,
};

const DB: InstanceView = {
  name: "VI_db",
  interface: "eth1",
  vrid: 52,
  version: 2,
  family: "ipv4",
  state: "backup",
  sinceMs: 488_000,
  inStateMs: 12_000,
  priority: { base: 100, effective: 1 },
  faults: [],
  lastMaster: { ip: "192.0.2.12", priority: 200, agoMs: 400 },
  advertIntervalMs: 1000,
  masterAdvertIntervalMs: 1000,
  transport: "multicast",
  holdingVips: false,
  vips: [
    { address: "192.0.2.110", prefix: 24, dev: "eth1", excluded: false, held: false },
    { address: "198.51.100.7", prefix: 32, dev: "lo", excluded: true, held: false },
  ],
  lastTransition: {
    from: "master",
    to: "backup",
    reason: "higher-priority",
    detail: "advert from 192.0.2.12 priority 200",
    atMs: 488_000,
  },
  counters: { checksumErrors: 3, ipTtlErrors: 1, advertisementsReceived: 12 },
  override: { kind: "demote", priority: 1 },
  maintenance: false,
};

const V6: InstanceView = {
  name: "VI_v6",
  interface: "eth0",
  vrid: 53,
  version: 3,
  family: "ipv6",
  state: "fault",
  sinceMs: 490_000,
  inStateMs: 10_000,
  priority: { base: 100, effective: 100 },
  faults: ["link eth0"],
  lastMaster: null,
  advertIntervalMs: 100,
  masterAdvertIntervalMs: 100,
  transport: "multicast",
  holdingVips: false,
  vips: Array.from({ length: 7 }, (_, k) => ({
    address: `2001:db8::${k + 100}`,
    prefix: 64,
    dev: "eth0",
    excluded: false,
    held: false,
  })),
  lastTransition: {
    from: "backup",
    to: "fault",
    reason: "fault",
    detail: "link eth0",
    atMs: 490_000,
  },
  counters: {},
  override: null,
  maintenance: false,
};

const STATUS: StatusView = {
  phase: "running",
  nowMs: 500_000,
  counters: { vridErrors: 12 },
  conflicts: [],
  maintenance: false,
  configFile: "/etc/hacore/hacore.toml",
  startedAtWall: "2026-11-21T20:00:00.000Z",
  version: "0.1.0",
  instances: [WEB, DB, V6],
};

const lines = (...l: string[]) => l.join("\n");

Deno.test("status table at 100 columns: one row per instance, details indented under it", () => {
  const text = renderStatus(STATUS, { width: 100, unicode: true, nowWall: NOW_WALL });
  assert.equal(
    text,
    lines(
      "hacore 0.1.0 · running · up 2h03m · /etc/hacore/hacore.toml · 3 instances",
      "NAME    IFACE  VRID  VER      STATE          PRIO  MASTER (PRIO) HEARD        ADVERT",
      "VI_web  eth0     51  v3       MASTER 3m12s    150  self                       1s",
      "  vips   ✓ 192.0.2.100/24",
      "  last   3m12s ago: BACKUP → MASTER (master-down-timer: no advert from 192.0.2.12 for 3609.4 ms)",
      "VI_db   eth1     52  v2       BACKUP 12s    1/100  192.0.2.12 (200) 0.4s ago  1s",
      "  vips   - 192.0.2.110/24  - 198.51.100.7/32 dev lo (excluded)",
      "  last   12s ago: MASTER → BACKUP (higher-priority: advert from 192.0.2.12 priority 200)",
      "  prio   priority 1, base 100: demoted to 1 by the operator (hacore resume VI_db)",
      "  errors ipTtlErrors 1, checksumErrors 3",
      "VI_v6   eth0     53  v3 ipv6  FAULT 10s       100  none heard                 100ms",
      "  vips   - 2001:db8::100/64  - 2001:db8::101/64  - 2001:db8::102/64  - 2001:db8::103/64",
      "         - 2001:db8::104/64  - 2001:db8::105/64  - 2001:db8::106/64",
      "  last   10s ago: BACKUP → FAULT (fault: link eth0)",
      "  faults link eth0",
      "node: vridErrors 12",
    ),
  );
  for (const l of text.split("\n")) assert.ok(l.length <= 100, `too wide: ${l}`);
});

Deno.test("status at 60 columns in ASCII: each instance becomes a block, nothing is cut", () => {
  const text = renderStatus(STATUS, { width: 60, unicode: false, nowWall: NOW_WALL });
  assert.equal(
    text,
    lines(
      "hacore 0.1.0, running, up 2h03m, /etc/hacore/hacore.toml, 3 instances",
      "VI_web  MASTER 3m12s",
      "  eth0, vrid 51, v3, prio 150, master self, advert 1s",
      "  vips   + 192.0.2.100/24",
      "  last   3m12s ago: BACKUP -> MASTER (master-down-timer: no",
      "         advert from 192.0.2.12 for 3609.4 ms)",
      "VI_db  BACKUP 12s",
      "  eth1, vrid 52, v2, prio 1/100",
      "  master 192.0.2.12 (200) 0.4s ago, advert 1s",
      "  vips   - 192.0.2.110/24",
      "         - 198.51.100.7/32 dev lo (excluded)",
      "  last   12s ago: MASTER -> BACKUP (higher-priority: advert",
      "         from 192.0.2.12 priority 200)",
      "  prio   priority 1, base 100: demoted to 1 by the operator",
      "         (hacore resume VI_db)",
      "  errors ipTtlErrors 1, checksumErrors 3",
      "VI_v6  FAULT 10s",
      "  eth0, vrid 53, v3 ipv6, prio 100, master none heard",
      "  advert 100ms",
      "  vips   - 2001:db8::100/64  - 2001:db8::101/64",
      "         - 2001:db8::102/64  - 2001:db8::103/64",
      "         - 2001:db8::104/64  - 2001:db8::105/64",
      "         - 2001:db8::106/64",
      "  last   10s ago: BACKUP -> FAULT (fault: link eth0)",
      "  faults link eth0",
      "node: vridErrors 12",
    ),
  );
  // The header is one long line of facts; everything under it fits.
  for (const l of text.split("\n").slice(1)) assert.ok(l.length <= 60, `too wide: ${l}`);
  assert.ok([...text].every((ch) => ch.charCodeAt(0) < 0x80), "ASCII output has only ASCII");
});

Deno.test("every width from 50 to 120 keeps instance lines within the width", () => {
  for (let width = 50; width <= 120; width += 5) {
    const text = renderStatus(STATUS, { width, unicode: true });
    for (const l of text.split("\n").slice(1)) {
      assert.ok(l.length <= width, `width ${width}: ${JSON.stringify(l)}`);
    }
  }
  // Narrower than an address with its notes: the item gets a line of its own, uncut.
  const tiny = renderStatus(STATUS, { width: 30, unicode: true });
  assert.match(tiny, /^ {9}- 198\.51\.100\.7\/32 dev lo \(excluded\)$/m);
});

Deno.test("counters: only non-zero error counters are listed; normal traffic is not trouble", () => {
  const quiet: InstanceView = {
    ...WEB,
    counters: {
      advertisementsSent: 500,
      advertisementsReceived: 3,
      masterTransitions: 2,
      priorityZeroSent: 1,
      checksumErrors: 0,
    },
  };
  const text = renderStatus({ ...STATUS, counters: {}, instances: [quiet] }, { width: 100 });
  assert.ok(!text.includes("errors"), text);
  assert.ok(!text.includes("node:"), text);
  const noisy: InstanceView = { ...quiet, counters: { ...quiet.counters, vipAddErrors: 2 } };
  const t2 = renderStatus({ ...STATUS, instances: [noisy] }, { width: 100 });
  assert.match(t2, /^ {2}errors vipAddErrors 2$/m);
});

Deno.test("colour only when asked: states, errors and marks; widths unchanged", () => {
  const plain = renderStatus(STATUS, { width: 100, unicode: true, nowWall: NOW_WALL });
  assert.ok(!plain.includes("\x1b"), "no escape codes without colour");
  const colored = renderStatus(STATUS, {
    width: 100,
    unicode: true,
    color: true,
    nowWall: NOW_WALL,
  });
  const ESC = "\x1b";
  assert.ok(colored.includes(`${ESC}[32mMASTER 3m12s${ESC}[0m`), "a master is green");
  assert.ok(colored.includes(`${ESC}[32m✓${ESC}[0m 192.0.2.100/24`), "a held VIP's mark is green");
  assert.ok(colored.includes(`${ESC}[31mFAULT 10s`), "a fault is red");
  // deno-lint-ignore no-control-regex
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ""), plain);
});

Deno.test("maintenance, conflicts and a daemon without the newer fields", () => {
  // What a daemon from before the operator fields sends: they are simply absent.
  const { override: _o, maintenance: _m, ...bare } = WEB;
  const older: StatusView = {
    phase: "running",
    nowMs: 500_000,
    counters: {},
    conflicts: ["192.0.2.100/24 on eth0 is also held by VI_x"],
    instances: [bare],
  };
  const text = renderStatus(older, { width: 100, unicode: false });
  assert.equal(text.split("\n")[0], "hacore, running, 1 instance");
  assert.match(text, /^conflict: 192\.0\.2\.100\/24 on eth0 is also held by VI_x$/m);
  const m = renderStatus({ ...STATUS, maintenance: true, instances: [DB] }, { width: 100 });
  assert.match(m.split("\n")[0], /MAINTENANCE: every instance stays backup$/);
  assert.match(m, /prio {3}priority 1, base 100: maintenance: never takes over; demoted to 1/);
  const none = renderStatus({ ...STATUS, instances: [] }, { width: 100 });
  assert.match(none, /^no instances configured$/m);
});

Deno.test("a priority moved by trackers says so; a learned master interval is shown", () => {
  const tracked: InstanceView = {
    ...DB,
    override: null,
    priority: { base: 100, effective: 80 },
    masterAdvertIntervalMs: 2000,
  };
  const text = renderStatus({ ...STATUS, instances: [tracked] }, { width: 100 });
  assert.match(text, /^ {2}prio {3}priority 80, base 100: tracker weights$/m);
  assert.match(text, /^ {2}advert the master advertises every 2s$/m);
});

const DETAIL: InstanceDetail = {
  summary: DB as InstanceStatus,
  history: [
    {
      from: "init",
      to: "backup",
      reason: "startup",
      detail: "",
      atMs: 1000,
      wallTime: "2026-11-21T20:00:01.000Z",
    },
    {
      from: "backup",
      to: "master",
      reason: "master-down-timer",
      detail: "no master heard",
      atMs: 4600,
      wallTime: "2026-11-21T20:00:04.600Z",
    },
    {
      from: "master",
      to: "backup",
      reason: "higher-priority",
      detail: "advert from 192.0.2.12 priority 200",
      atMs: 488_000,
      wallTime: "2026-11-21T22:03:08.000Z",
    },
  ],
  counters: {
    masterTransitions: 1,
    advertisementsReceived: 12,
    advertisementsSent: 100,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    checksumErrors: 3,
    ipTtlErrors: 1,
    vridErrors: 0,
    sendErrors: 0,
    unicastPeerErrors: 0,
  },
  override: { kind: "demote", priority: 1 },
  hooks: [
    {
      hook: "notify_backup",
      target: "INSTANCE",
      name: "VI_db",
      state: "BACKUP",
      command: "/etc/hacore/notify.sh backup VI_db",
      startedAt: "2026-11-21T22:03:08.010Z",
      durationMs: 12.5,
      exitCode: 0,
      signal: null,
      timedOut: false,
      error: null,
    },
    {
      hook: "notify",
      target: "GROUP",
      name: "G_all",
      state: "BACKUP",
      command: "/usr/local/bin/slow",
      startedAt: "2026-11-21T22:03:08.011Z",
      durationMs: 5000,
      exitCode: null,
      signal: "SIGKILL",
      timedOut: true,
      error: null,
    },
  ],
};

Deno.test("status NAME: every field, history with wall times, every counter by MIB name, hooks", () => {
  assert.equal(
    renderDetail(DETAIL, { width: 100, unicode: true }),
    lines(
      "VI_db: BACKUP for 12s",
      "  interface    eth1 (ipv4, multicast)",
      "  vrid         52, VRRPv2",
      "  priority     1 (configured 100)",
      "  override     demote to priority 1 (hacore resume VI_db clears it)",
      "  maintenance  off",
      "  faults       none",
      "  master       192.0.2.12, priority 200, heard 0.4s ago",
      "  advert       every 1s, multicast",
      "  holding VIPs no",
      "  vips         - 192.0.2.110/24 dev eth1",
      "               - 198.51.100.7/32 dev lo (excluded)",
      "",
      "history (3, oldest first; at most 50 are kept)",
      "  2026-11-21T20:00:01.000Z  INIT → BACKUP    startup",
      "  2026-11-21T20:00:04.600Z  BACKUP → MASTER  master-down-timer: no master heard",
      "  2026-11-21T22:03:08.000Z  MASTER → BACKUP  higher-priority: advert from 192.0.2.12 priority 200",
      "",
      "counters (MIB object, value, hacore name)",
      "  vrrpv3StatisticsMasterTransitions     1  masterTransitions",
      "  vrrpv3StatisticsRcvdAdvertisements   12  advertisementsReceived",
      "  (hacore's own)                      100  advertisementsSent",
      "  vrrpv3StatisticsRcvdPriZeroPackets    0  priorityZeroReceived",
      "  vrrpv3StatisticsSentPriZeroPackets    0  priorityZeroSent",
      "  vrrpv3StatisticsIpTtlErrors           1  ipTtlErrors",
      "  vrrpv3RouterChecksumErrors            3  checksumErrors",
      "  vrrpv3RouterVrIdErrors                0  vridErrors",
      "  (hacore's own)                        0  unicastPeerErrors",
      "  (hacore's own)                        0  sendErrors",
      "",
      "hook runs (2, oldest first)",
      "  2026-11-21T22:03:08.010Z  notify_backup (BACKUP)  exit 0 after 12.5ms",
      "      /etc/hacore/notify.sh backup VI_db",
      "  2026-11-21T22:03:08.011Z  notify (BACKUP, group G_all)  timed out (killed, SIGKILL) after 5.0s",
      "      /usr/local/bin/slow",
    ),
  );
});

Deno.test("status NAME of a master with no history, counters or hooks says none", () => {
  const text = renderDetail(
    { summary: WEB as InstanceStatus, history: [], counters: {}, override: null, hooks: [] },
    { width: 100, unicode: false },
  );
  assert.match(
    text,
    /^ {2}master {7}self \(last other master heard: 192\.0\.2\.12, priority 100, 3m12s ago\)$/m,
  );
  assert.match(text, /^ {2}override {5}none$/m);
  assert.match(text, /^ {2}vips {9}\+ 192\.0\.2\.100\/24 dev eth0$/m);
  assert.equal(text.split("\n").filter((l) => l === "  none").length, 3);
});

Deno.test("foreign senders: one red line each under the instance, and in status NAME", () => {
  const sender = {
    source: "192.0.2.99",
    reasons: ["addresses" as const, "interval" as const],
    differences: [
      "VIPs 192.0.2.100,192.0.2.101 vs ours 192.0.2.100",
      "interval 2000 ms vs ours 1000 ms",
    ],
    priority: 200,
    intervalMs: 2000,
    count: 31,
    firstSeenMs: 438_000,
    lastSeenMs: 499_600,
    firstSeenAgoMs: 62_000,
    lastSeenAgoMs: 400,
    firstSeen: "2026-11-21T22:02:08.000Z",
    lastSeen: "2026-11-21T22:03:09.600Z",
  };
  const web: InstanceView = { ...WEB, foreignSenders: [sender] };
  const text = renderStatus({ ...STATUS, instances: [web] }, { width: 100, unicode: false });
  assert.deepEqual(
    text.split("\n").filter((l) => l.startsWith("  foreign") || l.startsWith("   ")),
    [
      "  foreign 192.0.2.99 (priority 200): VIPs 192.0.2.100,192.0.2.101 vs ours 192.0.2.100; interval 2000",
      "          ms vs ours 1000 ms; 31 adverts, first 1m02s ago, last 0.4s ago",
    ],
  );
  const red = renderStatus({ ...STATUS, instances: [web] }, { width: 100, color: true });
  assert.ok(red.includes("\n\x1b[31m  foreign \x1b[0m192.0.2.99 "), red);
  const detail = renderDetail(
    { summary: web as InstanceStatus, history: [], counters: {}, override: null, hooks: [] },
    { width: 200, unicode: false },
  );
  assert.match(
    detail,
    /^ {2}foreign {6}192\.0\.2\.99 \(priority 200\): VIPs .* vs ours 192\.0\.2\.100; interval 2000 ms vs ours 1000 ms; 31 adverts, first 1m02s ago, last 0\.4s ago$/m,
  );
  const clean = renderDetail(
    {
      summary: { ...WEB, foreignSenders: [] } as InstanceStatus,
      history: [],
      counters: {},
      override: null,
      hooks: [],
    },
    { width: 100, unicode: false },
  );
  assert.match(clean, /^ {2}foreign {6}none$/m);
  // Without the field (an older daemon), no line at all.
  assert.doesNotMatch(renderStatus(STATUS, { width: 100 }), /foreign/);
});

Deno.test("MIB names: RFC 6527 where it has an object, RFC 2787 for v2 auth, none for hacore's own", () => {
  assert.equal(COUNTER_MIB_NAME.checksumErrors, "vrrpv3RouterChecksumErrors");
  assert.equal(COUNTER_MIB_NAME.versionErrors, "vrrpv3RouterVersionErrors");
  assert.equal(COUNTER_MIB_NAME.packetLengthErrors, "vrrpv3StatisticsPacketLengthErrors");
  assert.equal(COUNTER_MIB_NAME.advertiseIntervalErrors, "vrrpv3StatisticsAdvIntervalErrors");
  assert.equal(COUNTER_MIB_NAME.invalidTypePackets, "vrrpv3StatisticsRcvdInvalidTypePackets");
  assert.equal(COUNTER_MIB_NAME.addressListErrors, "vrrpv3StatisticsAddressListErrors");
  assert.equal(COUNTER_MIB_NAME.authFailures, "vrrpStatsAuthFailures");
  assert.equal(COUNTER_MIB_NAME.priorityZeroSent, "vrrpv3StatisticsSentPriZeroPackets");
  assert.equal(COUNTER_MIB_NAME.unicastPeerErrors, undefined);
  assert.equal(COUNTER_MIB_NAME.advertisementsSent, undefined);
});

Deno.test("durations and intervals read the way operators say them", () => {
  const d: [number, string][] = [
    [0, "0.0s"],
    [-5, "0.0s"],
    [350, "0.4s"],
    [9_940, "9.9s"],
    [45_000, "45s"],
    [192_000, "3m12s"],
    [7_380_000, "2h03m"],
    [273_600_000, "3d04h"],
  ];
  for (const [ms, text] of d) assert.equal(formatDuration(ms), text, `${ms} ms`);
  assert.equal(formatInterval(100), "100ms");
  assert.equal(formatInterval(1000), "1s");
  assert.equal(formatInterval(1500), "1.5s");
});

Deno.test("output style: colour only on a terminal without NO_COLOR; Unicode only in a UTF-8 locale", () => {
  assert.deepStrictEqual(outputStyle({ LANG: "en_US.UTF-8" }, true), {
    unicode: true,
    color: true,
  });
  assert.deepStrictEqual(outputStyle({ LANG: "en_US.UTF-8" }, false), {
    unicode: true,
    color: false,
  });
  assert.deepStrictEqual(outputStyle({ LANG: "C.utf8", NO_COLOR: "1" }, true), {
    unicode: true,
    color: false,
  });
  assert.deepStrictEqual(outputStyle({ LC_ALL: "C", LANG: "en_US.UTF-8" }, true), {
    unicode: false,
    color: true,
  });
  assert.deepStrictEqual(outputStyle({ TERM: "dumb" }, true), { unicode: false, color: false });
  assert.deepStrictEqual(outputStyle({}, true), { unicode: false, color: true });
});
