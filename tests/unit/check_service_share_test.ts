/**
 * One probe per target: equal checks (spec and timing) asked for under several ids or
 * by several subscribers run once per interval and every id hears the verdict under
 * its own name; an id joining a settled probe hears its state at once; a changed
 * timing splits an id off; the last id leaving stops the probe. Then in a daemon on
 * the manual clock: three virtual servers sharing a real server and its check probe it
 * once per delay_loop, all three see it go down, and status, the table and the
 * metrics say 1 probe for 3 checks.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { renderStatus } from "../../lib/cli/format.ts";
import { renderMetrics } from "../../lib/control/metrics.ts";
import { CheckService, probeKey } from "../../lib/check/service.ts";
import type { CheckResult, CheckRunner, CheckSpec, CheckTiming } from "../../lib/check/types.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import type { NotifySink } from "../../lib/daemon/ports.ts";
import type { LvsNotice } from "../../lib/lvs/runtime.ts";
import { Logger } from "../../lib/log.ts";
import { ClockDriver } from "../fakes/checks.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import { FakeIpvs } from "../fakes/ipvs.ts";

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

const TCP: CheckSpec = { kind: "tcp", target: { host: "192.0.2.11", port: 80 } };

function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return { intervalMs: 100, timeoutMs: 50, rise: 1, fall: 2, initialUp: true, ...over };
}

/** A runner whose verdict the test flips, counting runs per host. */
function switchable() {
  const state = { ok: true, runs: new Map<string, number>() };
  const runner: CheckRunner = (spec) => {
    const host = spec.kind === "tcp" ? spec.target.host : spec.kind;
    state.runs.set(host, (state.runs.get(host) ?? 0) + 1);
    const r: CheckResult = {
      ok: state.ok,
      detail: state.ok ? "ok" : "refused",
      weight: null,
      durationMs: 1,
    };
    return Promise.resolve(r);
  };
  return { state, runner };
}

function service() {
  const clock = new ManualClock(0);
  const { state, runner } = switchable();
  const driver = new ClockDriver(clock);
  const checks = new CheckService({ clock, runner, random: () => 0, wake: () => driver.wake() });
  driver.start(checks);
  const stop = async () => {
    await driver.stop();
    await checks.stop();
  };
  return { clock, state, checks, stop };
}

Deno.test("probeKey: equal definitions built apart share a key; another timing does not", () => {
  const a = probeKey({ spec: TCP, timing: timing() });
  const b = probeKey({
    spec: { target: { port: 80, host: "192.0.2.11" }, kind: "tcp" },
    timing: { ...timing(), retryIntervalMs: undefined },
  });
  assert.equal(a, b);
  assert.notEqual(a, probeKey({ spec: TCP, timing: timing({ fall: 3 }) }));
});

Deno.test("share: three ids and another subscriber with one check run one probe, and all four hear each verdict", async () => {
  const t = service();
  const heard: string[] = [];
  const lvs = t.checks.subscribe("lvs", (id, st) => heard.push(`lvs ${id} ${st.id} ${st.up}`));
  const vrrp = t.checks.subscribe("vrrp_script", (id, st) => heard.push(`vrrp ${id} ${st.up}`));
  const def = { spec: TCP, timing: timing() };
  lvs.set(new Map([["a/rs#0", def], ["b/rs#0", def], ["c/rs#0", def]]));
  vrrp.set(new Map([["chk", { spec: { ...TCP }, timing: timing() }]]));
  assert.deepEqual(t.checks.stats(), { probes: 1, checks: 4 });
  await runClock(t.clock, 250, flush);
  assert.equal(t.state.runs.get("192.0.2.11"), 3, "one run at 0, 100 and 200, not one per id");
  assert.deepEqual(heard, []);
  t.state.ok = false;
  await runClock(t.clock, 450, flush);
  // fall = 2: down at the second failure (300, 400), heard once by every id.
  assert.equal(t.state.runs.get("192.0.2.11"), 5);
  assert.deepEqual(heard.sort(), [
    "lvs a/rs#0 a/rs#0 false",
    "lvs b/rs#0 b/rs#0 false",
    "lvs c/rs#0 c/rs#0 false",
    "vrrp chk false",
  ]);
  assert.equal(lvs.status("b/rs#0")?.id, "b/rs#0");
  assert.equal(lvs.status("b/rs#0")?.runs, 5);
  await t.stop();
});

Deno.test("share: an id joining a settled probe hears its verdict at once and keeps no state of its own", async () => {
  const t = service();
  const heard: string[] = [];
  const sub = t.checks.subscribe("lvs", (id, st) => heard.push(`${id} ${st.up}`));
  const def = { spec: TCP, timing: timing({ fall: 1 }) };
  sub.set(new Map([["a", def]]));
  t.state.ok = false;
  await runClock(t.clock, 50, flush);
  assert.deepEqual(heard, ["a false"]);
  sub.set(new Map([["a", def], ["b", def]]));
  assert.deepEqual(heard, ["a false", "b false"]);
  assert.deepEqual([sub.status("b")?.up, sub.status("b")?.runs], [false, 1]);
  assert.equal(t.state.runs.get("192.0.2.11"), 1);
  await t.stop();
});

Deno.test("share: a changed timing splits an id off; the last id leaving stops the probe", async () => {
  const t = service();
  const sub = t.checks.subscribe("lvs", () => {});
  const def = { spec: TCP, timing: timing() };
  sub.set(new Map([["a", def], ["b", def]]));
  await runClock(t.clock, 150, flush);
  assert.deepEqual(t.checks.stats(), { probes: 1, checks: 2 });
  sub.set(new Map([["a", def], ["b", { spec: TCP, timing: timing({ intervalMs: 50 }) }]]));
  assert.deepEqual(t.checks.stats(), { probes: 2, checks: 2 });
  assert.equal(sub.status("a")?.runs, 2, "a keeps the shared probe's state");
  assert.equal(sub.status("b")?.runs, 0, "b starts over on a probe of its own");
  sub.set(new Map([["b", { spec: TCP, timing: timing({ intervalMs: 50 }) }]]));
  assert.deepEqual(t.checks.stats(), { probes: 1, checks: 1 });
  sub.close();
  assert.deepEqual(t.checks.stats(), { probes: 0, checks: 0 });
  const runs = t.state.runs.get("192.0.2.11");
  await runClock(t.clock, 1000, flush);
  assert.equal(t.state.runs.get("192.0.2.11"), runs, "nothing runs once every id left");
  await t.stop();
});

/** Three virtual servers on 192.0.2.100:80, :81 and :82, each with real server .11:8080. */
function threeVs(): string {
  return [80, 81, 82].map((port) =>
    `[virtual_server.web${port}]
address = "192.0.2.100"
port = ${port}
lb_kind = "NAT"
delay_loop = 1
retry = 0
warmup = 0
[[virtual_server.web${port}.real_server]]
address = "192.0.2.11"
port = 8080
[[virtual_server.web${port}.real_server.check]]
type = "tcp"
`
  ).join("\n");
}

Deno.test("daemon: three virtual servers sharing a real server and its check probe it once per delay_loop, and all three follow its verdict", async () => {
  const clock = new ManualClock(0);
  const { state, runner } = switchable();
  const notices: LvsNotice[] = [];
  const sink: NotifySink = {
    notify: () => {},
    recent: () => [],
    close: () => Promise.resolve(),
    notifyLvs: (n) => notices.push(n),
  };
  const parsed = parseConfig(threeVs(), "lvs.toml");
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const ipvs = new FakeIpvs();
  const daemon = new Daemon({
    config: parsed.config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.2" }]]),
    clock,
    transports: new FakeLan({ clock, delayMs: 1 }).host("a", ["192.0.2.2"]),
    addresses: new FakeAddressPort([]),
    announcer: new RecordingAnnouncer(clock),
    logger: new Logger({ level: "error", sink: () => {} }),
    checks: { runner, random: () => 0 },
    notify: sink,
    openIpvs: () => Promise.resolve(ipvs),
  });
  const settle = async () => {
    for (let i = 0; i < 1000; i++) {
      await flush();
      if (daemon.idle) return;
    }
    throw new Error("the daemon never settled");
  };
  await daemon.start();
  await runClock(clock, 2500, settle);
  assert.equal(state.runs.get("192.0.2.11"), 3, "runs at 0, 1 s and 2 s: one probe, not three");
  assert.deepEqual(daemon.status().checks, { probes: 1, checks: 3 });
  state.ok = false;
  await runClock(clock, 3500, settle);
  assert.equal(state.runs.get("192.0.2.11"), 4);
  assert.deepEqual(
    notices.filter((n) => n.kind === "real_server").map((n) => `${n.virtualServer} ${n.up}`).sort(),
    ["web80 false", "web81 false", "web82 false"],
  );
  const text = renderStatus(daemon.status(), { unicode: false, width: 200 });
  assert.match(text, /^checks: 1 probe for 3 checks \(2 shared\)$/m);
  const m = renderMetrics(daemon);
  assert.ok(m.includes("hacore_check_probes 1\n"), m);
  assert.ok(m.includes("hacore_check_checks 3\n"), m);
  await daemon.stop();
});
