/**
 * The LVS runtime in a daemon, over a fake kernel IPVS table (`tests/fakes/ipvs.ts`), a
 * fake check runner and the manual clock: a verdict reaches the table in the turn that
 * hears it, inhibit_on_failure, alpha, quorum and the sorry server, reload as in-place
 * edits, drift healing, retries, adoption at start, removal at stop, notify events and
 * FIFO lines, status, the rendered table and the metrics.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { renderStatus, renderVirtualServer } from "../../lib/cli/format.ts";
import { diffConfigs, diffLines } from "../../lib/config/diff.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";
import { Daemon, DaemonSetupError } from "../../lib/daemon/daemon.ts";
import type { NotifySink } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import {
  lvsCheckDefinition,
  type LvsNotice,
  LvsRuntime,
  syncPaceMs,
} from "../../lib/lvs/runtime.ts";
import { CheckService } from "../../lib/check/service.ts";
import type { CheckRunner } from "../../lib/check/types.ts";
import {
  AF_INET,
  IP_VS_CONN_F_DROUTE,
  IP_VS_SVC_F_HASHED,
  IPPROTO_TCP,
  type IpvsService,
} from "../../lib/sys/netlink/ipvs_types.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import { FakeIpvs } from "../fakes/ipvs.ts";

const WEB: Pick<IpvsService, "af" | "protocol" | "address" | "port" | "fwmark"> = {
  af: AF_INET,
  protocol: IPPROTO_TCP,
  address: "192.0.2.100",
  port: 80,
  fwmark: 0,
};

/** A virtual server `web` on 192.0.2.100:80 with real servers .11 (weight 1) and .12 (weight 2). */
function webConfig(vsExtra = "", rsExtra = "", more = ""): string {
  const rs = (n: number) =>
    `[[virtual_server.web.real_server]]
address = "192.0.2.1${n}"
weight = ${n}
${rsExtra}
[[virtual_server.web.real_server.check]]
type = "tcp"
`;
  return `[virtual_server.web]
address = "192.0.2.100"
port = 80
lb_algo = "wlc"
lb_kind = "DR"
delay_loop = 1
retry = 1
delay_before_retry = 0.3
warmup = 0
${vsExtra}
${rs(1)}${rs(2)}${more}`;
}

class Lvs {
  readonly clock = new ManualClock(0);
  readonly ipvs = new FakeIpvs();
  /** Check results by real server address: true passes (the default). */
  readonly alive = new Map<string, boolean>();
  /** Real server addresses whose checks fail refused (a definitive failure). */
  readonly refused = new Set<string>();
  readonly notices: [number, LvsNotice][] = [];
  /** What a dynamic script check reports. */
  dynamicWeight: number | null = null;
  readonly lines: string[] = [];
  readonly port = new FakeAddressPort([]);
  readonly file: { text: string };
  readonly daemon: Daemon;

  constructor(text: string, opts: { openIpvs?: false } = {}) {
    this.file = { text };
    const runner: CheckRunner = (spec) => {
      if (spec.kind === "script") {
        // A dynamic script check answers with the weight the test set (exit 2 + weight).
        const weight = this.dynamicWeight;
        return Promise.resolve({ ok: true, detail: "exit", weight, durationMs: 0.1 });
      }
      const host = spec.kind === "tcp" ? spec.target.host : "";
      if (this.refused.has(host)) {
        const detail = `connect ${host}:80: ECONNREFUSED`;
        return Promise.resolve({
          ok: false,
          detail,
          weight: null,
          durationMs: 0.1,
          definitive: true,
        });
      }
      const ok = this.alive.get(host) ?? true;
      const detail = ok ? "connected" : `connect ${host}:80: ECONNREFUSED`;
      return Promise.resolve({ ok, detail, weight: null, durationMs: 0.1 });
    };
    const sink: NotifySink = {
      notify: () => {},
      recent: () => [],
      close: () => Promise.resolve(),
      notifyLvs: (n) => this.notices.push([this.clock.nowMs(), n]),
    };
    const lan = new FakeLan({ clock: this.clock, delayMs: 1 });
    this.daemon = new Daemon({
      config: configOf(text),
      primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.2" }]]),
      clock: this.clock,
      transports: lan.host("a", ["192.0.2.2"]),
      addresses: this.port,
      announcer: new RecordingAnnouncer(this.clock),
      logger: new Logger({ level: "debug", sink: (l) => this.lines.push(l) }),
      checks: { runner, random: () => 0 },
      notify: sink,
      loadConfig: () => Promise.resolve(parseConfig(this.file.text, "lvs.toml")),
      ...(opts.openIpvs === false ? {} : { openIpvs: () => Promise.resolve(this.ipvs) }),
    });
  }

  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.daemon.idle) return;
    }
    throw new Error("the daemon never settled");
  };

  async start(): Promise<void> {
    await this.daemon.start();
    await this.settle();
  }

  /** Runs the clock to `ms` (absolute). */
  to(ms: number): Promise<void> {
    return runClock(this.clock, ms, this.settle);
  }

  /** "address:weight" of the destinations of web's service, in address order. */
  dests(): string[] {
    const e = this.ipvs.table().find((x) => x.service.address === WEB.address);
    return (e?.dests ?? []).map((d) => `${d.address}:${d.weight}`).sort();
  }

  async stop(): Promise<void> {
    const p = this.daemon.stop();
    for (let i = 0; i < 100; i++) {
      await this.settle();
      if (this.daemon.status().phase === "stopped") break;
      this.clock.fireNext(this.clock.nowMs() + 60_000);
    }
    await p;
    assert.equal(this.clock.pendingTimers(), 0, "timers left on the clock");
  }
}

Deno.test("lvs: the table is built at start; a real server whose retry fails too is removed in the same turn", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  const svc = t.ipvs.table()[0].service;
  assert.equal(svc.scheduler, "wlc");
  assert.equal(t.ipvs.dest(WEB, "192.0.2.11", 80)?.forward, IP_VS_CONN_F_DROUTE);
  t.alive.set("192.0.2.12", false);
  // 1000: the first failure (retry 1 = fall 2) is retried 300 ms later, not at 2000.
  await t.to(1299);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  await t.to(1300);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"], "removed at the retry's verdict, same time");
  assert.equal(t.ipvs.calls.at(-1), "delDest 2 6 192.0.2.100 80 192.0.2.12 80 w2");
  t.alive.set("192.0.2.12", true);
  await t.to(2300);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"], "one pass brings it back");
  await t.stop();
});

Deno.test("lvs: a refused connection takes a real server out at its first failure, without the retry", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  t.refused.add("192.0.2.12");
  await t.to(999);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  // retry 1 = fall 2, but nothing listening will not pass by itself: out at 1000.
  await t.to(1000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  assert.ok(t.lines.some((l) => /real server 192\.0\.2\.12:80 down: .*ECONNREFUSED/.test(l)));
  t.refused.delete("192.0.2.12");
  await t.to(2000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"], "one pass brings it back");
  await t.stop();
});

Deno.test("lvs: real server checks fail fast on refusals and watch their connection; the definition says so", () => {
  const vs = configOf(webConfig()).virtualServers[0];
  const def = lvsCheckDefinition(vs, vs.realServers[0], 0);
  assert.equal(def.timing.failFastOnRefused, true);
  assert.equal(def.timing.watchConnection, true, "a killed process is heard at once");
  assert.equal(def.timing.fall, 2, "retry still rides out timeouts");
});

Deno.test("lvs: inhibit_on_failure keeps a failed real server with weight 0 (edited in place)", async () => {
  const t = new Lvs(webConfig("inhibit_on_failure = true"));
  await t.start();
  t.alive.set("192.0.2.11", false);
  await t.to(1300);
  assert.deepEqual(t.dests(), ["192.0.2.11:0", "192.0.2.12:2"]);
  assert.equal(t.ipvs.calls.at(-1), "editDest 2 6 192.0.2.100 80 192.0.2.11 80 w0");
  await t.stop();
});

Deno.test("lvs: with alpha, real servers start out of the table until their checks pass", async () => {
  const t = new Lvs(webConfig("alpha = true"));
  t.alive.set("192.0.2.12", false);
  await t.daemon.start();
  // Before the first check results: the service, no destination.
  assert.deepEqual(t.ipvs.calls.slice(0, 1), ["addService 2 6 192.0.2.100 80"]);
  await t.settle();
  assert.deepEqual(t.dests(), ["192.0.2.11:1"], "the passing one joined at its first result");
  assert.equal(t.ipvs.calls.filter((c) => c.includes("192.0.2.12 80")).length, 0);
  await t.stop();
});

Deno.test("lvs: losing quorum swaps in the sorry server, regaining it (past the hysteresis) swaps it out", async () => {
  const t = new Lvs(
    webConfig(
      'quorum = 2\nhysteresis = 1\nquorum_up = "/bin/q-up"\nquorum_down = "/bin/q-down"',
      "",
      '[virtual_server.web.sorry_server]\naddress = "192.0.2.200"\n',
    ),
  );
  await t.start();
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"], "live weight 3 ≥ quorum 2");
  t.alive.set("192.0.2.11", false);
  await t.to(1300);
  assert.deepEqual(t.dests(), ["192.0.2.12:2"], "2 is not below 2 - 1: quorum kept");
  t.alive.set("192.0.2.12", false);
  await t.to(2300);
  assert.deepEqual(t.dests(), ["192.0.2.200:1"], "0 < 1: quorum lost, the sorry server serves");
  const st = t.daemon.status().lvs!.virtualServers[0];
  assert.equal(st.quorumUp, false);
  assert.equal(st.sorryActive, true);
  t.alive.set("192.0.2.11", true);
  t.alive.set("192.0.2.12", true);
  await t.to(3300);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  const quorum = t.notices.filter(([, n]) => n.kind === "quorum").map(([at, n]) =>
    `${at} ${n.hook} ${n.command} ${n.fifoLine}`
  );
  assert.deepEqual(quorum, [
    "2300 quorum_down /bin/q-down VS [192.0.2.100]:tcp:80 DOWN",
    "3300 quorum_up /bin/q-up VS [192.0.2.100]:tcp:80 UP",
  ]);
  await t.stop();
});

Deno.test("lvs: real server notify_up / notify_down run with keepalived's FIFO lines", async () => {
  const t = new Lvs(webConfig("", 'notify_up = "/bin/rs-up"\nnotify_down = "/bin/rs-down x"'));
  await t.start();
  t.alive.set("192.0.2.11", false);
  await t.to(1300);
  t.alive.set("192.0.2.11", true);
  await t.to(2300);
  assert.deepEqual(
    t.notices.map(([at, n]) => `${at} ${n.realServer} ${n.command} | ${n.fifoLine}`),
    [
      "1300 web/192.0.2.11:80 /bin/rs-down x | RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
      "2300 web/192.0.2.11:80 /bin/rs-up | RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 UP",
    ],
  );
  await t.stop();
});

Deno.test("lvs: a reload changing one weight is exactly one editDest; an unchanged service is untouched", async () => {
  const other = `[virtual_server.dns]
address = "192.0.2.101"
port = 53
protocol = "udp"
[[virtual_server.dns.real_server]]
address = "192.0.2.21"
`;
  const t = new Lvs(webConfig("", "", other));
  await t.start();
  const before = t.ipvs.calls.length;
  t.file.text = webConfig("", "", other).replace("weight = 2", "weight = 5");
  const r = await t.daemon.reload();
  await t.settle();
  assert.equal(r.ok, true);
  assert.ok(
    r.changes.includes("virtual_server web: real server 192.0.2.12:80 weight 2 -> 5"),
    r.changes.join("\n"),
  );
  assert.deepEqual(t.ipvs.calls.slice(before), ["editDest 2 6 192.0.2.100 80 192.0.2.12 80 w5"]);
  // A scheduler change is an edit of the service, never a delete and add.
  t.file.text = webConfig("", "", other).replace('lb_algo = "wlc"', 'lb_algo = "rr"');
  const mark = t.ipvs.calls.length;
  await t.daemon.reload();
  await t.settle();
  assert.deepEqual(t.ipvs.calls.slice(mark), [
    "editService 2 6 192.0.2.100 80",
    "editDest 2 6 192.0.2.100 80 192.0.2.12 80 w2",
  ]);
  // Removing a virtual server deletes its service.
  t.file.text = webConfig();
  const mark2 = t.ipvs.calls.length;
  await t.daemon.reload();
  await t.settle();
  assert.deepEqual(t.ipvs.calls.slice(mark2), [
    "editService 2 6 192.0.2.100 80", // back to wlc
    "delService 2 17 192.0.2.101 53",
  ]);
  // What a reload asked for is intended, not drift, also once the table had settled.
  await t.to(t.clock.nowMs() + 10_000);
  assert.equal(t.daemon.status().lvs!.counters.driftRepairs, 0);
  await t.stop();
});

Deno.test("lvs: a hand-deleted destination is restored by the periodic dump and counted as drift", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  t.ipvs.handDeleteDest(WEB as IpvsService, { address: "192.0.2.11", port: 80 });
  await t.to(4999);
  assert.deepEqual(t.dests(), ["192.0.2.12:2"]);
  await t.to(5000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  assert.equal(t.daemon.status().lvs!.counters.driftRepairs, 1);
  await t.stop();
});

Deno.test("lvs: a failed operation is counted, logged once, and retried by a dump a second later", async () => {
  const t = new Lvs(webConfig());
  let failing = true;
  t.ipvs.failure = (op, _s, d) =>
    failing && op === "addDest" && d?.address === "192.0.2.12" ? "ENOMEM" : null;
  await t.start();
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  assert.equal(t.daemon.status().lvs!.counters.opsFailed, 1);
  await t.to(999);
  assert.equal(t.daemon.status().lvs!.counters.opsFailed, 1, "no tight loop");
  await t.to(1000);
  assert.equal(t.daemon.status().lvs!.counters.opsFailed, 2, "retried at 1000");
  failing = false;
  await t.to(2000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  const logged = t.lines.filter((l) => l.includes("ENOMEM"));
  assert.equal(logged.length, 1, logged.join("\n"));
  await t.stop();
});

Deno.test("lvs: at start matching entries are adopted (no add) and the rest planned; stop removes owned services only", async () => {
  const t = new Lvs(webConfig());
  const dest = {
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
  } as const;
  const service: IpvsService = {
    ...WEB,
    scheduler: "wlc",
    flags: 0,
    timeoutS: 0,
    netmask: 32,
    persistenceEngine: null,
  };
  t.ipvs.seed({ service, dests: [dest] });
  const foreign: IpvsService = { ...service, address: "198.51.100.1" };
  t.ipvs.seed({ service: foreign, dests: [] });
  await t.start();
  assert.deepEqual(t.ipvs.calls, ["addDest 2 6 192.0.2.100 80 192.0.2.12 80 w2"]);
  assert.ok((t.ipvs.table()[0].service.flags & IP_VS_SVC_F_HASHED) !== 0);
  await t.stop();
  assert.deepEqual(t.ipvs.table().map((e) => e.service.address), ["198.51.100.1"]);
  assert.equal(t.ipvs.closed, true);
});

Deno.test("lvs: omega runs the notify_down of live real servers, then the quorum down, at stop", async () => {
  const t = new Lvs(webConfig("omega = true", 'notify_down = "/bin/down"'));
  await t.start();
  await t.stop();
  assert.deepEqual(t.notices.map(([, n]) => `${n.hook} ${n.realServer}`), [
    "notify_down web/192.0.2.11:80",
    "notify_down web/192.0.2.12:80",
    "quorum_down null",
  ]);
});

Deno.test("lvs: ha_suspend runs a virtual server's checks only while its address is here", async () => {
  const t = new Lvs(webConfig("ha_suspend = true"));
  t.alive.set("192.0.2.11", false);
  await t.start();
  assert.equal(t.daemon.status().lvs!.virtualServers[0].checksActive, false);
  await t.to(3000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"], "no check ran: nothing moved");
  t.port.addByHand({
    dev: "eth0",
    address: "192.0.2.100",
    prefix: 32,
    family: "ipv4",
    label: null,
    hacore: false,
  });
  await t.settle();
  assert.equal(t.daemon.status().lvs!.virtualServers[0].checksActive, true);
  await t.to(3000);
  assert.deepEqual(t.dests(), ["192.0.2.12:2"], "the first result of a started check decides");
  await t.stop();
});

Deno.test("lvs: a VRRP-only config never opens IPVS and has no lvs status; virtual servers without IPVS are a start error", async () => {
  const vrrpOnly = `[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["192.0.2.50/24"]
`;
  const v = new Lvs(vrrpOnly);
  await v.start();
  assert.equal(v.ipvs.dumps, 0);
  assert.equal("lvs" in v.daemon.status(), false);
  await v.stop();
  const t = new Lvs(webConfig(), { openIpvs: false });
  await assert.rejects(() => t.daemon.start(), DaemonSetupError);
});

Deno.test("lvs: status, the rendered table and the metrics show health with the last error, weights, connections and rates from the dump", async () => {
  const t = new Lvs(
    webConfig("", "", '[virtual_server.web.sorry_server]\naddress = "192.0.2.200"\n'),
  );
  await t.start();
  t.alive.set("192.0.2.12", false);
  await t.to(1300);
  t.ipvs.setCounters(WEB, { address: "192.0.2.11", port: 80 }, {
    activeConns: 7,
    inactConns: 3,
    stats: {
      conns: 5_000_000_000n,
      inpkts: 10n,
      outpkts: 11n,
      inbytes: 1000n,
      outbytes: 2000n,
      cps: 4n,
      inpps: 0n,
      outpps: 0n,
      inbps: 800n,
      outbps: 1600n,
    },
  });
  await t.to(5000);
  const lvs = t.daemon.status().lvs!;
  const [vs] = lvs.virtualServers;
  assert.equal(vs.endpoint, "192.0.2.100:80");
  assert.equal(vs.scheduler, "wlc");
  assert.equal(vs.method, "DR");
  assert.equal(vs.liveWeight, 1);
  const [a, b] = vs.realServers;
  assert.deepEqual(
    [a.up, a.desiredWeight, a.kernelWeight, a.activeConns, a.inactConns, a.conns, a.cps, a.inBps],
    [true, 1, 1, 7, 3, "5000000000", 4, 800],
  );
  assert.deepEqual([b.up, b.desiredWeight, b.kernelWeight], [false, null, null]);
  assert.deepEqual(b.checks, [
    { kind: "tcp", up: false, lastError: "connect 192.0.2.12:80: ECONNREFUSED" },
  ]);
  const text = renderStatus(t.daemon.status(), { unicode: false, width: 200 });
  assert.match(text, /^web {2}192\.0\.2\.100:80 {2}tcp {2}wlc {2}DR {2}quorum up 1\/1$/m);
  assert.match(
    text,
    /^ {2}\+ 192\.0\.2\.11:80 {2}up {2}weight 1\/1 {2}conns 7\/3 {2}4 cps 800\/1600 Bps$/m,
  );
  assert.match(
    text,
    /^ {2}- 192\.0\.2\.12:80 {2}down \(tcp: connect 192\.0\.2\.12:80: ECONNREFUSED\) {2}weight -\/-/m,
  );
  assert.ok(!text.includes("no instances configured"));
  const full = renderVirtualServer(vs, { unicode: false });
  assert.match(full, /totals: 5000000000 conns, in 10 pkts 1000 B, out 11 pkts 2000 B/);
  assert.match(full, /sorry server: 192\.0\.2\.200:80$/m);
  const m = renderMetrics(t.daemon);
  for (
    const line of [
      'hacore_lvs_quorum_up{virtual_server="web"} 1',
      'hacore_lvs_real_server_up{virtual_server="web",real_server="192.0.2.12:80"} 0',
      'hacore_lvs_real_server_weight{virtual_server="web",real_server="192.0.2.11:80",kind="kernel"} 1',
      'hacore_lvs_real_server_active_connections{virtual_server="web",real_server="192.0.2.11:80"} 7',
      'hacore_lvs_real_server_connections_total{virtual_server="web",real_server="192.0.2.11:80"} 5000000000',
      'hacore_lvs_real_server_bytes_total{virtual_server="web",real_server="192.0.2.11:80",direction="out"} 2000',
      'hacore_lvs_sorry_server_active{virtual_server="web"} 0',
      'hacore_lvs_operations_total{result="applied"} 4',
      "hacore_lvs_drift_repairs_total 0",
    ]
  ) assert.ok(m.includes(line), `${line}\n${m}`);
  await t.stop();
});

Deno.test("lvs: a reload re-works only the changed virtual servers; the others keep verdicts, quorum and checks", async () => {
  const other = (weight: number) =>
    `[virtual_server.dns]
address = "192.0.2.101"
port = 53
protocol = "udp"
quorum = 5
[[virtual_server.dns.real_server]]
address = "192.0.2.21"
weight = ${weight}
`;
  const sorry = '[virtual_server.web.sorry_server]\naddress = "192.0.2.200"\n';
  // web: quorum 3 ± 1, so with .11 failed (live weight 2) it keeps its quorum only
  // because it had it: a quorum worked out afresh would be lost (the sorry server in).
  const web = (more: string) => webConfig("quorum = 3\nhysteresis = 1", "", sorry + more);
  const t = new Lvs(web(other(1)));
  await t.start();
  t.alive.set("192.0.2.11", false);
  await t.to(1300);
  assert.deepEqual(t.dests(), ["192.0.2.12:2"]);
  const notices = t.notices.length;
  const lines = t.lines.length;
  const calls = t.ipvs.calls.length;
  t.file.text = web(other(3));
  assert.equal((await t.daemon.reload()).ok, true);
  await t.settle();
  assert.deepEqual(t.ipvs.calls.slice(calls), ["editDest 2 17 192.0.2.101 53 192.0.2.21 53 w3"]);
  assert.ok(!t.lines.slice(lines).some((l) => l.includes("checks running")));
  // Past a periodic comparison, which plans the whole table.
  await t.to(t.clock.nowMs() + 6000);
  assert.deepEqual(t.dests(), ["192.0.2.12:2"], "web keeps its quorum and its failed server out");
  assert.equal(t.notices.length, notices, "no quorum or real server notice again");
  const status = (name: string) =>
    t.daemon.status().lvs!.virtualServers.find((v) => v.name === name)!;
  assert.equal(status("dns").quorumUp, false);
  // web's checks still run: .11 comes back.
  t.alive.set("192.0.2.11", true);
  await t.to(t.clock.nowMs() + 2500);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  // A changed virtual server is worked out again: dns gains its quorum with weight 5.
  const mark = t.notices.length;
  t.file.text = web(other(5));
  await t.daemon.reload();
  await t.settle();
  assert.equal(status("dns").quorumUp, true);
  assert.deepEqual(t.notices.slice(mark).map(([, n]) => `${n.hook} ${n.virtualServer}`), [
    "quorum_up dns",
  ]);
  await t.stop();
});

Deno.test("lvs: the config diff (check --diff, reload) lists virtual and real server changes", () => {
  const a = configOf(webConfig());
  const b = configOf(
    webConfig().replace("weight = 2", "weight = 4").replace('lb_algo = "wlc"', 'lb_algo = "rr"')
      .replace('address = "192.0.2.11"', 'address = "192.0.2.13"') +
      '[virtual_server.dns]\naddress = "192.0.2.101"\nport = 53\nprotocol = "udp"\n',
  );
  assert.deepEqual(diffLines(diffConfigs(a, b)), [
    "virtual_server web: scheduler wlc -> rr",
    "virtual_server web: real server 192.0.2.11:80 removed",
    "virtual_server web: real server 192.0.2.13:80 added (weight 1)",
    "virtual_server web: real server 192.0.2.12:80 weight 2 -> 4",
    "virtual_server dns: added (192.0.2.101:53 udp wlc NAT, 0 real servers)",
  ]);
  assert.deepEqual(diffLines(diffConfigs(a, configOf(webConfig()))), []);
});

Deno.test("lvs: a director's IPVS table is in place before its VRRP instance takes the VIP (an owner takes it at start)", async () => {
  const t = new Lvs(
    webConfig() + `
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 255
advert_int = 1
unicast_src_ip = "192.0.2.100"
unicast_peer = ["192.0.2.3"]
virtual_ipaddress = ["192.0.2.100/24"]
`,
  );
  let vipOpsAtFirstAdd: number | null = null;
  t.ipvs.failure = (op) => {
    if (op === "addService" && vipOpsAtFirstAdd === null) vipOpsAtFirstAdd = t.port.ops.length;
    return null;
  };
  await t.start();
  assert.equal(vipOpsAtFirstAdd, 0, "the service went in before any address change");
  await t.to(100);
  assert.equal(t.daemon.status().instances[0].state, "master");
  assert.ok(t.port.has("eth0", "192.0.2.100"));
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  await t.stop();
  assert.deepEqual(t.ipvs.table(), [], "removed at stop");
  assert.ok(!t.port.has("eth0", "192.0.2.100"), "VIP released");
});

Deno.test("lvs runtime: once stopping nothing is due (no spin through the VRRP release hold), and close removes its services", async () => {
  const clock = new ManualClock(0);
  const ipvs = new FakeIpvs();
  const checks = new CheckService({
    clock,
    runner: () => Promise.resolve({ ok: true, detail: "", weight: null, durationMs: 0 }),
    random: () => 0,
  });
  const config = configOf(webConfig());
  const rt = new LvsRuntime({
    config,
    ipvs,
    checks,
    clock,
    log: new Logger({ level: "debug", sink: () => {} }),
    rateLog: () => {},
    notify: () => {},
    enqueue: (run) => run(),
    localAddresses: () => Promise.resolve([]),
  });
  await rt.start((work) => work());
  assert.equal(ipvs.table().length, 1);
  assert.equal(rt.nextDeadlineMs(), 5000, "the periodic dump");
  rt.reload(configOf(webConfig().replace("weight = 2", "weight = 3")), { linksDown: new Set() });
  assert.equal(rt.nextDeadlineMs(), 0, "a reload is due at once");
  rt.shutdown();
  assert.equal(rt.nextDeadlineMs(), null);
  await rt.close();
  assert.deepEqual(ipvs.table(), []);
  assert.equal(ipvs.closed, true);
  await checks.stop();
});

Deno.test("lvs: a dynamic script check's weight (misc_dynamic) replaces the configured weight, edited in place", async () => {
  const t = new Lvs(`[virtual_server.web]
address = "192.0.2.100"
port = 80
delay_loop = 1
warmup = 0
[[virtual_server.web.real_server]]
address = "192.0.2.11"
weight = 1
[[virtual_server.web.real_server.check]]
type = "script"
script = "/usr/local/bin/load"
dynamic = true
`);
  t.dynamicWeight = 1;
  await t.start();
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  t.dynamicWeight = 9;
  await t.to(1000);
  assert.deepEqual(t.dests(), ["192.0.2.11:9"]);
  assert.equal(t.ipvs.calls.at(-1), "editDest 2 6 192.0.2.100 80 192.0.2.11 80 w9");
  await t.stop();
});

Deno.test("lvs: the daemon routes drain and undrain to the LVS subsystem and wakes its loop", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  const r = t.daemon.drain("web", "192.0.2.12:80");
  assert.equal(r.ok, true, JSON.stringify(r));
  await t.settle();
  assert.deepEqual(t.dests(), ["192.0.2.11:1"], "no connection: removed at once");
  assert.equal(t.daemon.status().lvs!.drains!.length, 1);
  assert.equal(t.daemon.undrain("web", "192.0.2.12:80").ok, true);
  await t.settle();
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  const bad = t.daemon.drain("nope", "192.0.2.12:80");
  assert.equal(bad.ok, false);
  await t.stop();
  const vrrpOnly = new Lvs(webConfig(), { openIpvs: false });
  assert.equal(vrrpOnly.daemon.drain("web", "192.0.2.12:80").ok, false);
});

Deno.test("lvs: a reload with an invalid config applies nothing to the table", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  const mark = t.ipvs.calls.length;
  t.file.text = webConfig().replace('lb_algo = "wlc"', 'lb_algo = "nope"').replace(
    "weight = 2",
    "weight = 5",
  );
  const r = await t.daemon.reload();
  await t.settle();
  assert.equal(r.ok, false);
  assert.deepEqual(t.ipvs.calls.slice(mark), []);
  await t.stop();
});

Deno.test("lvs: the periodic comparison is paced by its own cost, never above about 5 % of a CPU", () => {
  assert.equal(syncPaceMs(5000, 40), 5000);
  assert.equal(syncPaceMs(5000, 2500), 50_000);
});

Deno.test("lvs: a start applies its whole plan as one batch, the service before its destinations", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  assert.deepEqual(t.ipvs.batches, [3]);
  assert.deepEqual(t.ipvs.calls, [
    "addService 2 6 192.0.2.100 80",
    "addDest 2 6 192.0.2.100 80 192.0.2.11 80 w1",
    "addDest 2 6 192.0.2.100 80 192.0.2.12 80 w2",
  ]);
  await t.stop();
});

Deno.test("lvs: a refused service add fails its destinations in one line, leaves the known table clean, and heals on retry", async () => {
  const t = new Lvs(webConfig());
  let failing = true;
  t.ipvs.failure = (op) => (failing && op === "addService" ? "ENOMEM" : null);
  await t.start();
  assert.deepEqual(t.ipvs.table(), []);
  const st = t.daemon.status().lvs!;
  assert.equal(st.counters.opsFailed, 3);
  assert.equal(st.virtualServers[0].servicesInKernel, 0, "nothing folded in for a failed add");
  const errors = t.lines.filter((l) => l.includes("ENOMEM") || l.includes("not added"));
  assert.equal(errors.length, 2, errors.join("\n"));
  assert.ok(errors[0].includes("addService 192.0.2.100:80 (wlc) failed"), errors[0]);
  assert.ok(
    errors[1].includes("2 destinations of tcp 192.0.2.100:80 not added: the service's add failed"),
    errors[1],
  );
  failing = false;
  await t.to(1000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  assert.equal(t.daemon.status().lvs!.virtualServers[0].servicesInKernel, 1);
  await t.stop();
});

Deno.test("lvs: a reload that only edits applies against the known table without a dump; one that removes dumps first", async () => {
  const t = new Lvs(webConfig());
  await t.start();
  const dumps = t.ipvs.dumps;
  t.file.text = webConfig().replace("weight = 2", "weight = 5");
  await t.daemon.reload();
  await t.settle();
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:5"]);
  assert.equal(t.ipvs.dumps, dumps, "no dump for an edit");
  t.file.text = webConfig().replace(
    /\[\[virtual_server\.web\.real_server\]\]\naddress = "192\.0\.2\.12"[^]*$/,
    "",
  );
  await t.daemon.reload();
  await t.settle();
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  assert.equal(t.ipvs.dumps, dumps + 1, "a removal counts today's connections first");
  await t.stop();
});
