/**
 * Random scenarios for the simulator, each a pure function of its seed: a chaotic
 * phase (loss, duplication, crashes, shutdowns, partitions), then quiet phases with
 * checkpoints where the invariants must hold, a master kill, the old master's return
 * and a partition that stays long enough to converge on both sides.
 *
 * @module
 */

import type { RouterConfig, VrrpVersion } from "../vrrp/types.ts";
import { masterDownIntervalMs } from "../vrrp/timing.ts";
import { createRng, type Rng } from "./rng.ts";
import type { NetworkParams, ScenarioSpec, SimHostSpec, TimedWorldEvent } from "./sim.ts";

/** A moment at which one master per VRID per connected partition must hold. */
export interface Checkpoint {
  atMs: number;
  /** The partition in force then (null: everyone hears everyone). */
  groups: string[][] | null;
  label: string;
}

/** A window in which no transition may happen (a stable network after convergence). */
export interface QuietWindow {
  fromMs: number;
  toMs: number;
  label: string;
}

/** A master kill whose takeover time is bounded. */
export interface KillCheck {
  atMs: number;
  vrid: number;
  /** Takeover must happen within this long of the kill. */
  boundMs: number;
}

/** A quiet stretch in which the master may change only by configured preemption. */
export interface PreemptCheck {
  fromMs: number;
  toMs: number;
  label: string;
}

/** A scenario plus what must be true of its run. */
export interface PlannedScenario {
  spec: ScenarioSpec;
  checkpoints: Checkpoint[];
  quiet: QuietWindow[];
  kills: KillCheck[];
  preempts: PreemptCheck[];
  /** Human summary for failure messages. */
  summary: string;
}

/** Knobs for `randomScenario`. */
export interface ScenarioOptions {
  hosts?: number;
  /** Force one interval (ms) instead of drawing one. */
  intervalMs?: number;
}

const QUIET_NET = (maxDelayMs: number): NetworkParams => ({
  lossRate: 0,
  dupRate: 0,
  minDelayMs: 0,
  maxDelayMs,
});

/** Builds one router's config with the defaults the simulator does not vary. */
export function simRouter(
  p: Partial<RouterConfig> & Pick<RouterConfig, "name" | "vrid" | "priority" | "primaryIp">,
): RouterConfig {
  return {
    version: 3,
    family: "ipv4",
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    addresses: [`192.0.2.${p.vrid}`],
    unicastPeers: [],
    authType: 0,
    authPass: "",
    initialState: "backup",
    releaseHoldMs: 0,
    ...p,
  };
}

/**
 * Draws a scenario from a seed: 3 hosts by default, 1 or 2 VRIDs, v2 or v3 at
 * 1 s / 100 ms / 10 ms, random priorities (ties and an address owner included),
 * preempt on, off or delayed, and the fault schedule described in the module doc.
 *
 * @example
 * ```ts
 * const plan = randomScenario(12345);
 * plan.spec.hosts.length; // 3
 * ```
 */
export function randomScenario(seed: number, opts: ScenarioOptions = {}): PlannedScenario {
  const rng: Rng = createRng(seed);
  const nHosts = opts.hosts ?? 3;
  const interval = opts.intervalMs ?? rng.pick([1000, 1000, 100, 10]);
  const version: VrrpVersion = interval === 1000 && rng.chance(0.5) ? 2 : 3;
  const nVrids = rng.chance(0.3) ? 2 : 1;
  // 10.0.0.9 vs 10.0.0.10 catches a tie-break done on text instead of bytes.
  const ips = ["10.0.0.9", "10.0.0.10", "10.0.0.2", "10.0.0.200", "10.0.0.33"];
  const names = ["A", "B", "C", "D", "E"].slice(0, nHosts);
  const maxDelay = Math.min(2, interval / 10);

  const hosts: SimHostSpec[] = names.map((name) => ({ name, routers: [] }));
  let maxPreemptDelay = 0;
  let maxMdi = 0;
  const parts: string[] = [];
  for (let v = 0; v < nVrids; v++) {
    const vrid = 10 + v;
    const owner = rng.chance(0.1) ? rng.int(0, nHosts - 1) : -1;
    const basePrio = rng.int(50, 200);
    for (let i = 0; i < nHosts; i++) {
      const tie = rng.chance(0.25);
      const priority = i === owner ? 255 : tie ? basePrio : rng.int(1, 254);
      const mode = rng.pick(["preempt", "preempt", "nopreempt", "delay"] as const);
      const preemptDelayMs = mode === "delay" ? rng.int(1, 5) * interval : 0;
      maxPreemptDelay = Math.max(maxPreemptDelay, preemptDelayMs);
      maxMdi = Math.max(maxMdi, masterDownIntervalMs(version, priority, interval));
      hosts[i].routers.push(simRouter({
        name: `VI_${vrid}`,
        vrid,
        version,
        priority,
        primaryIp: ips[i],
        advertIntervalMs: interval,
        preempt: i === owner || mode !== "nopreempt",
        preemptDelayMs,
        addresses: i === owner ? [ips[i]] : [`192.0.2.${vrid}`],
      }));
      parts.push(
        `${names[i]}/${vrid}:p${priority}${
          mode === "preempt" ? "" : mode === "delay" ? `d${preemptDelayMs}` : "n"
        }`,
      );
    }
    // The owner's VIP is its own address; the others must carry the same list.
    if (owner >= 0) {
      for (const h of hosts) {
        const r = h.routers[h.routers.length - 1];
        h.routers[h.routers.length - 1] = { ...r, addresses: [ips[owner]] };
      }
    }
  }

  const settle = maxPreemptDelay + 2 * maxMdi + 4 * interval + maxDelay;
  const events: TimedWorldEvent[] = [];
  const chaosEnd = 30 * interval;
  const chaosNet: NetworkParams = {
    lossRate: rng.next() * 0.1,
    dupRate: rng.next() * 0.03,
    minDelayMs: 0,
    maxDelayMs: maxDelay,
  };
  const nChaos = rng.int(1, 5);
  for (let k = 0; k < nChaos; k++) {
    const at = rng.int(1, chaosEnd - 1) + rng.next();
    const host = rng.pick(names);
    const kind = rng.pick(["crash", "restart", "shutdown", "partition", "heal"] as const);
    if (kind === "partition") {
      const split = names.filter(() => rng.chance(0.5));
      const rest = names.filter((n) => !split.includes(n));
      events.push({ atMs: at, event: { kind, groups: [split, rest].filter((g) => g.length > 0) } });
    } else if (kind === "heal") {
      events.push({ atMs: at, event: { kind } });
    } else {
      events.push({ atMs: at, event: { kind, host } });
    }
  }

  const checkpoints: Checkpoint[] = [];
  const quiet: QuietWindow[] = [];
  const kills: KillCheck[] = [];
  const preempts: PreemptCheck[] = [];

  events.push({ atMs: chaosEnd, event: { kind: "heal" } });
  events.push({ atMs: chaosEnd, event: { kind: "network", params: QUIET_NET(maxDelay) } });
  events.push({ atMs: chaosEnd, event: { kind: "restart-all" } });
  const t1 = chaosEnd + settle;
  checkpoints.push({ atMs: t1, groups: null, label: "after chaos" });

  const tKill = t1 + 5 * interval;
  quiet.push({ fromMs: t1, toMs: tKill, label: "converged before kill" });
  for (let v = 0; v < nVrids; v++) {
    const vrid = 10 + v;
    if (v === 0) events.push({ atMs: tKill, event: { kind: "crash-master", vrid } });
    // A backup's Master_Down_Timer was reset by the last advert, at most one interval
    // (plus delay) before the kill, so takeover comes within MDI plus one advert.
    if (v === 0) kills.push({ atMs: tKill, vrid, boundMs: maxMdi + interval + maxDelay });
  }
  const t2 = tKill + settle;
  checkpoints.push({ atMs: t2, groups: null, label: "after master kill" });

  const tBack = t2 + 5 * interval;
  quiet.push({ fromMs: t2, toMs: tBack, label: "converged after kill" });
  events.push({ atMs: tBack, event: { kind: "restart-all" } });
  const t3 = tBack + settle;
  checkpoints.push({ atMs: t3, groups: null, label: "old master back" });
  preempts.push({ fromMs: tBack, toMs: t3, label: "old master back" });

  const tSplit = t3 + 5 * interval;
  quiet.push({ fromMs: t3, toMs: tSplit, label: "converged with all hosts" });
  const split = names.filter(() => rng.chance(0.5));
  const groups = [split, names.filter((n) => !split.includes(n))].filter((g) => g.length > 0);
  events.push({ atMs: tSplit, event: { kind: "partition", groups } });
  const t4 = tSplit + settle;
  checkpoints.push({ atMs: t4, groups, label: "partitioned" });
  const tHeal = t4 + 5 * interval;
  quiet.push({ fromMs: t4, toMs: tHeal, label: "converged while partitioned" });
  events.push({ atMs: tHeal, event: { kind: "heal" } });
  const t5 = tHeal + settle;
  checkpoints.push({ atMs: t5, groups: null, label: "healed" });
  const end = t5 + 10 * interval;
  quiet.push({ fromMs: t5, toMs: end, label: "converged after heal" });

  events.sort((a, b) => a.atMs - b.atMs);
  return {
    spec: { seed, hosts, network: chaosNet, events, durationMs: end },
    checkpoints,
    quiet,
    kills,
    preempts,
    summary: `seed ${seed}: v${version} ${interval}ms ${parts.join(" ")} loss ${
      (chaosNet.lossRate * 100).toFixed(1)
    }% chaos ${nChaos}`,
  };
}

/**
 * The readable scenario `hacore sim` shows by default: three routers (priorities 150,
 * 100, 50, VRRPv3 at 100 ms) elect a master, the master is killed, the next takes
 * over, the old master returns and preempts, then it is stopped with SIGTERM and
 * hands over at once with a priority-0 advert.
 *
 * @example
 * ```ts
 * const plan = demoScenario();
 * ```
 */
export function demoScenario(intervalMs = 100): PlannedScenario {
  const ips = ["192.0.2.11", "192.0.2.12", "192.0.2.13"];
  const prios = [150, 100, 50];
  const hosts: SimHostSpec[] = ["lb1", "lb2", "lb3"].map((name, i) => ({
    name,
    routers: [simRouter({
      name: "VI_web",
      vrid: 51,
      priority: prios[i],
      primaryIp: ips[i],
      advertIntervalMs: intervalMs,
      addresses: ["192.0.2.100"],
    })],
  }));
  const net: NetworkParams = { lossRate: 0, dupRate: 0, minDelayMs: 0.05, maxDelayMs: 0.2 };
  const mdi = masterDownIntervalMs(3, 100, intervalMs);
  const settle = 2 * masterDownIntervalMs(3, 50, intervalMs) + 4 * intervalMs;
  const tKill = settle + 10 * intervalMs;
  const tBack = tKill + settle;
  const tTerm = tBack + settle + 10 * intervalMs;
  const end = tTerm + settle;
  return {
    spec: {
      seed: 0,
      hosts,
      network: net,
      events: [
        { atMs: tKill, event: { kind: "crash", host: "lb1" } },
        { atMs: tBack, event: { kind: "restart", host: "lb1" } },
        { atMs: tTerm, event: { kind: "shutdown", host: "lb1" } },
      ],
      durationMs: end,
    },
    checkpoints: [
      { atMs: tKill - 1, groups: null, label: "elected" },
      { atMs: tBack - 1, groups: null, label: "after kill" },
      { atMs: tTerm - 1, groups: null, label: "old master back" },
      { atMs: end, groups: null, label: "after SIGTERM" },
    ],
    quiet: [{ fromMs: settle, toMs: tKill, label: "elected" }],
    kills: [],
    preempts: [],
    summary: `demo: 3 routers, VRRPv3 at ${intervalMs} ms, Master_Down_Interval of lb2 ${mdi} ms`,
  };
}
