/**
 * The invariant checker must be able to say no: hand-made runs that break each
 * property are caught, and the simulator itself is deterministic per seed.
 */
import assert from "node:assert/strict";
import {
  checkInvariants,
  demoScenario,
  type PlannedScenario,
  randomScenario,
  runScenario,
  type SimResult,
  simRouter,
} from "../../lib/sim/mod.ts";

function twoHostPlan(): PlannedScenario {
  const hosts = ["A", "B"].map((name, i) => ({
    name,
    routers: [
      simRouter({
        name: "VI",
        vrid: 1,
        priority: i === 0 ? 200 : 100,
        primaryIp: `10.0.0.${i + 1}`,
        preempt: i === 0,
      }),
    ],
  }));
  return {
    spec: {
      seed: 1,
      hosts,
      network: { lossRate: 0, dupRate: 0, minDelayMs: 0, maxDelayMs: 0 },
      events: [],
      durationMs: 20_000,
    },
    checkpoints: [{ atMs: 10_000, groups: null, label: "cp" }],
    quiet: [{ fromMs: 10_000, toMs: 20_000, label: "q" }],
    kills: [{ atMs: 12_000, vrid: 1, boundMs: 4_000 }],
    preempts: [{ fromMs: 10_000, toMs: 20_000, label: "p" }],
    summary: "hand-made",
  };
}

function fakeResult(plan: PlannedScenario, over: Partial<SimResult>): SimResult {
  return {
    spec: plan.spec,
    transitions: [],
    world: [],
    vipChanges: [],
    stats: { steps: 0, sent: 0, delivered: 0, lost: 0, duplicated: 0 },
    final: {},
    ...over,
  };
}

const tr = (
  atMs: number,
  host: string,
  from: "init" | "backup" | "master",
  to: "init" | "backup" | "master",
  reason: "startup" | "master-down-timer" | "preempt" | "higher-priority",
) => ({
  atMs,
  host,
  router: "VI",
  vrid: 1,
  from,
  to,
  reason,
});

Deno.test("invariants: two masters at a checkpoint are reported", () => {
  const plan = twoHostPlan();
  const r = fakeResult(plan, {
    transitions: [
      tr(0, "A", "init", "backup", "startup"),
      tr(0, "B", "init", "backup", "startup"),
      tr(3000, "A", "backup", "master", "master-down-timer"),
      tr(3000, "B", "backup", "master", "master-down-timer"),
    ],
    world: [{ atMs: 12_000, event: { kind: "crash-master", vrid: 1 }, host: "A" }],
  });
  const props = checkInvariants(plan, r).map((v) => v.property);
  assert.ok(props.includes("one-master"), JSON.stringify(props));
});

Deno.test("invariants: a late takeover, a flap and a preemption by a nopreempt router are reported", () => {
  const plan = twoHostPlan();
  const r = fakeResult(plan, {
    transitions: [
      tr(0, "A", "init", "backup", "startup"),
      tr(0, "B", "init", "backup", "startup"),
      tr(3000, "B", "backup", "master", "master-down-timer"),
      tr(11_000, "B", "master", "backup", "higher-priority"),
      tr(11_000, "A", "backup", "master", "preempt"),
      tr(19_000, "B", "backup", "master", "preempt"),
    ],
    world: [{ atMs: 12_000, event: { kind: "crash-master", vrid: 1 }, host: "A" }],
  });
  const props = new Set(checkInvariants(plan, r).map((v) => v.property));
  assert.ok(props.has("no-flap"));
  assert.ok(props.has("takeover-time"), "B took 7 s to take over against a 4 s bound");
  assert.ok(props.has("preemption"), "B preempted with preempt off");
});

Deno.test("simulator: the same seed gives the same run, another seed another run", () => {
  const a = runScenario(randomScenario(4242).spec);
  const b = runScenario(randomScenario(4242).spec);
  const c = runScenario(randomScenario(4243).spec);
  assert.deepEqual(a.transitions, b.transitions);
  assert.deepEqual(a.stats, b.stats);
  assert.notDeepEqual(a.transitions, c.transitions);
});

Deno.test("simulator: the demo elects lb1, fails over to lb2 within Master_Down_Interval, and lb1 preempts back", () => {
  const plan = demoScenario(100);
  const r = runScenario(plan.spec);
  assert.deepEqual(checkInvariants(plan, r), []);
  const masters = r.transitions.filter((t) => t.to === "master").map((t) =>
    `${t.host}:${t.reason}`
  );
  assert.deepEqual(masters.slice(0, 3), [
    "lb1:master-down-timer",
    "lb2:master-down-timer",
    "lb1:preempt",
  ]);
  const kill = plan.spec.events[0].atMs;
  const takeover = r.transitions.find((t) => t.host === "lb2" && t.to === "master")!;
  // lb2 (priority 100) at 100 ms: MDI = 300 + 156 * 100 / 256 = 360.9375 ms after lb1's last advert.
  assert.ok(
    takeover.atMs - kill <= 360.9375 + 100 + 0.2,
    `takeover after ${takeover.atMs - kill} ms`,
  );
  // SIGTERM: lb1 sends priority 0; lb2 takes over after its Skew_Time (60.9375 ms), not a full MDI.
  const term = plan.spec.events[2].atMs;
  const handover = r.transitions.find((t) => t.atMs >= term && t.to === "master")!;
  assert.equal(handover.host, "lb2");
  assert.ok(handover.atMs - term <= 60.9375 + 0.5, `handover after ${handover.atMs - term} ms`);
});
