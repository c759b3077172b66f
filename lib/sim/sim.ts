/**
 * Deterministic multi-router simulator: N hosts, each running the pure VRRP node
 * engine, on a virtual clock and an in-memory LAN with loss, delay, duplication,
 * partitions, crashes and restarts. Everything random comes from one seed, so any
 * run replays exactly (the FoundationDB / TigerBeetle VOPR idea).
 *
 * @module
 */

import { createNode, nodeNextDeadline, type NodeState, stepNode } from "../vrrp/node.ts";
import type { SyncGroupConfig } from "../vrrp/node.ts";
import type {
  Advert,
  OutgoingAdvert,
  RouterConfig,
  RouterStateName,
  TransitionReason,
} from "../vrrp/types.ts";
import { createRng, type Rng } from "./rng.ts";

/** One simulated host. */
export interface SimHostSpec {
  name: string;
  routers: RouterConfig[];
  syncGroups?: SyncGroupConfig[];
}

/** LAN behaviour; may change during a run. */
export interface NetworkParams {
  /** Probability that one copy of a packet to one receiver is lost. */
  lossRate: number;
  /** Probability that a delivered packet arrives twice. */
  dupRate: number;
  /** One-way delay is uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
}

/** Something that happens to the world at a given time. */
export type WorldEvent =
  | { kind: "crash"; host: string }
  /** Crash whichever host is master of `vrid` at that moment (if any). */
  | { kind: "crash-master"; vrid: number }
  | { kind: "restart"; host: string }
  /** Restart every host that is down. */
  | { kind: "restart-all" }
  /** Orderly stop (SIGTERM): priority-0 release, then the host is down. */
  | { kind: "shutdown"; host: string }
  /** Hosts in different groups cannot hear each other; unlisted hosts are alone. */
  | { kind: "partition"; groups: string[][] }
  | { kind: "heal" }
  | { kind: "network"; params: NetworkParams };

/** A world event at a time. */
export interface TimedWorldEvent {
  atMs: number;
  event: WorldEvent;
}

/** A whole scenario: hosts, network, what happens, for how long. */
export interface ScenarioSpec {
  seed: number;
  hosts: SimHostSpec[];
  network: NetworkParams;
  events: TimedWorldEvent[];
  durationMs: number;
}

/** A state change seen in the simulation. */
export interface SimTransition {
  atMs: number;
  host: string;
  router: string;
  vrid: number;
  from: RouterStateName;
  to: RouterStateName;
  reason: TransitionReason;
}

/** Something that happened in the world, for the trace and the checks. */
export interface SimWorldRecord {
  atMs: number;
  event: WorldEvent;
  /** For crash-master: which host was hit (null when there was no master). */
  host?: string | null;
}

/** Everything a run produced. */
export interface SimResult {
  spec: ScenarioSpec;
  transitions: SimTransition[];
  world: SimWorldRecord[];
  /** VIP hold/release changes per host and router. */
  vipChanges: { atMs: number; host: string; router: string; holding: boolean }[];
  stats: { steps: number; sent: number; delivered: number; lost: number; duplicated: number };
  /** Final per-host view: up or down, and each router's state. */
  final: Record<string, { up: boolean; states: Record<string, RouterStateName> }>;
}

interface HostRuntime {
  spec: SimHostSpec;
  up: boolean;
  node: NodeState | null;
  /** Time of the tick currently queued for this host, to ignore stale ones. */
  tickAtMs: number | null;
  /** Bumped at each crash/restart so in-flight ticks of a dead incarnation are ignored. */
  incarnation: number;
  /** Shut down, but still holding VIPs during its release hold. */
  stopping: boolean;
}

type QueueItem =
  | { atMs: number; seq: number; kind: "world"; event: WorldEvent }
  | { atMs: number; seq: number; kind: "tick"; host: string; incarnation: number }
  | {
    atMs: number;
    seq: number;
    kind: "deliver";
    host: string;
    from: string;
    family: RouterConfig["family"];
    advert: Advert;
    src: string;
  };

/** Omit applied to each member of a union, so the queue's item kinds stay distinct. */
type WithoutSeq<T> = T extends unknown ? Omit<T, "seq"> : never;

/** A binary min-heap on (atMs, seq): equal times keep insertion order, so runs are exact. */
class EventQueue {
  #heap: QueueItem[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(item: WithoutSeq<QueueItem>): void {
    const full = { ...item, seq: this.#seq++ } as QueueItem;
    const h = this.#heap;
    h.push(full);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  pop(): QueueItem | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function less(a: QueueItem, b: QueueItem): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/**
 * Runs a scenario to its end and returns what happened.
 *
 * @example
 * ```ts
 * const result = runScenario(randomScenario(7));
 * result.transitions.length > 0; // true
 * ```
 */
export function runScenario(spec: ScenarioSpec): SimResult {
  const rng: Rng = createRng(spec.seed ^ 0x5eed);
  const queue = new EventQueue();
  const hosts = new Map<string, HostRuntime>();
  let network = spec.network;
  let partition: Map<string, number> | null = null;
  const result: SimResult = {
    spec,
    transitions: [],
    world: [],
    vipChanges: [],
    stats: { steps: 0, sent: 0, delivered: 0, lost: 0, duplicated: 0 },
    final: {},
  };
  const routerVrid = new Map<string, number>();
  for (const h of spec.hosts) {
    hosts.set(h.name, {
      spec: h,
      up: false,
      node: null,
      tickAtMs: null,
      incarnation: 0,
      stopping: false,
    });
    for (const r of h.routers) routerVrid.set(`${h.name}/${r.name}`, r.vrid);
  }

  const canHear = (a: string, b: string): boolean =>
    partition === null || (partition.get(a) ?? -1) === (partition.get(b) ?? -2);

  const scheduleTick = (rt: HostRuntime) => {
    if (!rt.node) return;
    const at = nodeNextDeadline(rt.node);
    if (at === null || at === rt.tickAtMs) return;
    rt.tickAtMs = at;
    queue.push({ atMs: at, kind: "tick", host: rt.spec.name, incarnation: rt.incarnation });
  };

  const broadcast = (
    from: HostRuntime,
    nowMs: number,
    family: RouterConfig["family"],
    out: OutgoingAdvert,
    src: string,
  ) => {
    result.stats.sent++;
    const advert: Advert = { ...out, checksum: 0 };
    for (const [name, rt] of hosts) {
      if (name === from.spec.name || !canHear(from.spec.name, name)) continue;
      if (rng.chance(network.lossRate)) {
        result.stats.lost++;
        continue;
      }
      const copies = rng.chance(network.dupRate) ? 2 : 1;
      if (copies === 2) result.stats.duplicated++;
      for (let i = 0; i < copies; i++) {
        const delay = network.minDelayMs + rng.next() * (network.maxDelayMs - network.minDelayMs);
        queue.push({
          atMs: nowMs + delay,
          kind: "deliver",
          host: rt.spec.name,
          from: from.spec.name,
          family,
          advert,
          src,
        });
      }
    }
  };

  const feed = (rt: HostRuntime, event: Parameters<typeof stepNode>[1], nowMs: number) => {
    if (!rt.node) return;
    const { node, actions } = stepNode(rt.node, event, nowMs);
    rt.node = node;
    result.stats.steps++;
    for (const { router, action } of actions) {
      const cfg = node.routers[router]?.config;
      switch (action.type) {
        case "send":
          if (cfg) broadcast(rt, nowMs, cfg.family, action.advert, cfg.primaryIp);
          break;
        case "transition":
          result.transitions.push({
            atMs: nowMs,
            host: rt.spec.name,
            router,
            vrid: routerVrid.get(`${rt.spec.name}/${router}`) ?? -1,
            from: action.transition.from,
            to: action.transition.to,
            reason: action.transition.reason,
          });
          break;
        case "hold-vips":
        case "release-vips":
          result.vipChanges.push({
            atMs: nowMs,
            host: rt.spec.name,
            router,
            holding: action.type === "hold-vips",
          });
          break;
        case "announce":
        case "refused":
          break;
      }
    }
    scheduleTick(rt);
  };

  const start = (rt: HostRuntime, nowMs: number) => {
    rt.incarnation++;
    rt.up = true;
    rt.stopping = false;
    rt.tickAtMs = null;
    rt.node = createNode({ routers: rt.spec.routers, syncGroups: rt.spec.syncGroups ?? [] }, nowMs);
    feed(rt, { type: "startup" }, nowMs);
  };

  const crash = (rt: HostRuntime, nowMs: number) => {
    if (!rt.up) return;
    // A crash releases nothing on the wire, but the host's addresses vanish with it.
    if (rt.node) {
      for (const [name, r] of Object.entries(rt.node.routers)) {
        if (r.holdingVips) {
          result.vipChanges.push({ atMs: nowMs, host: rt.spec.name, router: name, holding: false });
        }
      }
    }
    rt.up = false;
    rt.stopping = false;
    rt.node = null;
    rt.incarnation++;
    rt.tickAtMs = null;
  };

  const masterOf = (vrid: number): HostRuntime | null => {
    for (const rt of hosts.values()) {
      if (!rt.up || !rt.node) continue;
      for (const r of Object.values(rt.node.routers)) {
        if (r.config.vrid === vrid && r.state === "master") return rt;
      }
    }
    return null;
  };

  for (const rt of hosts.values()) start(rt, 0);
  for (const e of spec.events) queue.push({ atMs: e.atMs, kind: "world", event: e.event });

  for (;;) {
    const item = queue.pop();
    if (!item || item.atMs > spec.durationMs) break;
    const now = item.atMs;
    if (item.kind === "tick") {
      const rt = hosts.get(item.host)!;
      if (!rt.up || item.incarnation !== rt.incarnation || rt.tickAtMs !== now) continue;
      rt.tickAtMs = null;
      feed(rt, { type: "tick" }, now);
    } else if (item.kind === "deliver") {
      const rt = hosts.get(item.host)!;
      // Partitions cut packets already in flight too, as a pulled cable would.
      if (!rt.up || !canHear(item.from, item.host)) continue;
      result.stats.delivered++;
      feed(rt, { type: "advert", family: item.family, advert: item.advert, src: item.src }, now);
    } else {
      const ev = item.event;
      const record: SimWorldRecord = { atMs: now, event: ev };
      switch (ev.kind) {
        case "crash":
          crash(hosts.get(ev.host)!, now);
          break;
        case "crash-master": {
          const m = masterOf(ev.vrid);
          record.host = m ? m.spec.name : null;
          if (m) crash(m, now);
          break;
        }
        case "restart": {
          const rt = hosts.get(ev.host)!;
          if (rt.stopping) crash(rt, now);
          if (!rt.up) start(rt, now);
          break;
        }
        case "restart-all":
          for (const rt of hosts.values()) {
            if (rt.stopping) crash(rt, now);
            if (!rt.up) start(rt, now);
          }
          break;
        case "shutdown": {
          const rt = hosts.get(ev.host)!;
          if (rt.up) {
            feed(rt, { type: "shutdown" }, now);
            // The process exits once its release hold (if any) is over; model that by
            // letting it keep running and crashing it when nothing is held any more.
            const held = Object.values(rt.node?.routers ?? {}).some((r) => r.holdingVips);
            if (!held) crash(rt, now);
            else rt.stopping = true;
          }
          break;
        }
        case "partition": {
          partition = new Map();
          ev.groups.forEach((g, i) => g.forEach((h) => partition!.set(h, i)));
          break;
        }
        case "heal":
          partition = null;
          break;
        case "network":
          network = ev.params;
          break;
      }
      result.world.push(record);
    }
  }

  for (const [name, rt] of hosts) {
    const states: Record<string, RouterStateName> = {};
    for (const [rn, r] of Object.entries(rt.node?.routers ?? {})) states[rn] = r.state;
    result.final[name] = { up: rt.up, states };
  }
  return result;
}

/** The hosts' states at a given time, rebuilt from the transition log. */
export function statesAt(
  result: SimResult,
  atMs: number,
): Map<string, { up: boolean; routers: Map<string, RouterStateName> }> {
  const out = new Map<string, { up: boolean; routers: Map<string, RouterStateName> }>();
  for (const h of result.spec.hosts) out.set(h.name, { up: true, routers: new Map() });
  for (const t of result.transitions) {
    if (t.atMs > atMs) break;
    out.get(t.host)!.routers.set(t.router, t.to);
  }
  // Up/down comes from the world log: a crash or a completed shutdown takes a host down.
  const down = new Set<string>();
  for (const w of result.world) {
    if (w.atMs > atMs) break;
    const e = w.event;
    if (e.kind === "crash" || e.kind === "shutdown") down.add(e.host);
    if (e.kind === "crash-master" && w.host) down.add(w.host);
    if (e.kind === "restart") down.delete(e.host);
    if (e.kind === "restart-all") down.clear();
  }
  for (const name of down) {
    const h = out.get(name)!;
    h.up = false;
    for (const r of h.routers.keys()) h.routers.set(r, "init");
  }
  return out;
}
