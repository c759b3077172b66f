/**
 * An instance as the daemon runs it: the config it came from, the engine's form of it
 * (`RouterConfig`), its transport key, unicast peers, announce targets and schedule,
 * the counters the engine does not keep, its foreign senders and its trackers' last
 * verdict. Plus the pure helpers that build one from the config and the lookups over
 * a set of them.
 *
 * Separate from the daemon because every part of the shell (status, reload, the
 * reconcile, the notify glue) reads this record, and building it is pure: only the
 * interfaces' primary addresses come from outside.
 *
 * @example
 * ```ts
 * const inst = makeInstance(config.instances[0], config, primaries);
 * if (typeof inst === "string") throw new Error(inst); // no source address
 * const index = indexInstances([inst], []);
 * index.byName.get(inst.cfg.name) === inst; // true
 * ```
 *
 * @module
 */

import { toRouterConfig } from "../config/router.ts";
import type { Config, InstanceConfig, SyncGroupConfig } from "../config/schema.ts";
import type { PriorityResult } from "../track/priority.ts";
import { canonicalIp, type Family, parseIp } from "../net/addr.ts";
import type { ForeignTable } from "../vrrp/foreign.ts";
import type { RouterConfig, RouterState } from "../vrrp/types.ts";
import { type AnnounceState, type AnnounceTarget, IDLE_ANNOUNCE } from "./announce.ts";
import type { PrimaryAddresses, RoutineAdvert } from "./ports.ts";

/**
 * One instance's runtime record. Mutable: the daemon updates it in its loop (a reload
 * reconfigures it in place, the announce schedule and foreign table move on).
 *
 * @example
 * ```ts
 * const inst: Instance = makeInstance(vi, config, primaries) as Instance;
 * inst.key; // "eth0/ipv4"
 * ```
 */
export interface Instance {
  cfg: InstanceConfig;
  rc: RouterConfig;
  /** `iface/family` of its transport. */
  key: string;
  group: string;
  /** Canonical unicast peers; empty for multicast. */
  peers: Set<string>;
  targets: AnnounceTarget[];
  announce: AnnounceState;
  /** Counters the engine does not keep. */
  extra: Record<string, number>;
  /** Routers advertising our VRID with other settings (reported; the engine decides). */
  foreign: ForeignTable;
  /**
   * `pin_peer_mac`: the MAC each peer address was first heard from (at most
   * `PEER_MACS_MAX`); an advert claiming the address from another MAC is refused.
   */
  peerMacs: Map<string, string>;
  /**
   * Set once a reload removed (or replaced) the instance: its stopped router, out of
   * the node, finishing its release hold. Null while the instance is live.
   */
  retired: RouterState | null;
  /** The trackers' verdict last fed to the engine; null before the first. */
  track: PriorityResult | null;
  /**
   * As a Backup: its Master's advert as last heard, which its transport need not wake
   * the loop for (see `VrrpTransport.expectRoutine`); null otherwise.
   */
  routine: RoutineAdvert | null;
}

/** Tracker name of an instance's own link; shown in status as the fault's cause. */
const LINK_FAULT_PREFIX = "link ";

/**
 * The fault tracker an instance's own interface raises when its link is down.
 *
 * @example
 * ```ts
 * linkFaultTracker("eth0"); // "link eth0"
 * ```
 */
export function linkFaultTracker(iface: string): string {
  return `${LINK_FAULT_PREFIX}${iface}`;
}

/**
 * The key of the transport an interface and family share.
 *
 * @example
 * ```ts
 * transportKey("eth0", "ipv6"); // "eth0/ipv6"
 * ```
 */
export function transportKey(iface: string, family: Family): string {
  return `${iface}/${family}`;
}

/**
 * What GARPs/NAs announce for an instance: its VIPs, advertised and excluded.
 *
 * @example
 * ```ts
 * targetsOf(vi); // [{ dev: "eth0", address: "192.0.2.100", family: "ipv4" }]
 * ```
 */
export function targetsOf(vi: InstanceConfig): AnnounceTarget[] {
  return [...vi.vips, ...vi.excludedVips].flatMap((v) => {
    const p = parseIp(v.address);
    return p ? [{ dev: v.dev, address: v.address, family: p.family }] : [];
  });
}

/**
 * An instance's unicast peers, canonical (empty for multicast).
 *
 * @example
 * ```ts
 * peersOf(vi); // Set { "2001:db8::2" } for unicast_peer = ["2001:DB8::2"]
 * ```
 */
export function peersOf(vi: InstanceConfig): Set<string> {
  return new Set(vi.unicastPeers.map((p) => canonicalIp(p) ?? p));
}

/**
 * A sync group as the engine's node takes it.
 *
 * @example
 * ```ts
 * createNode({ routers, syncGroups: config.syncGroups.map(groupOf) }, now);
 * ```
 */
export function groupOf(g: SyncGroupConfig): { name: string; members: string[] } {
  return { name: g.name, members: [...g.instances] };
}

/**
 * The IPv6 half (`NAME@v6`) of a dual-stack instance.
 *
 * @example
 * ```ts
 * isDualStackV6Half(config.instances.find((i) => i.name === "VI_1@v6")!); // true
 * ```
 */
export function isDualStackV6Half(vi: InstanceConfig): boolean {
  return vi.dualStackOf !== null && vi.name !== vi.dualStackOf;
}

/**
 * Label of a retiring instance in reconcile plans, so it never merges with its successor.
 *
 * @example
 * ```ts
 * retiredLabel("VI_1"); // "VI_1 (removed)"
 * ```
 */
export function retiredLabel(name: string): string {
  return `${name} (removed)`;
}

/**
 * The address an instance's adverts leave from: `unicast_src_ip`, else the interface's
 * primary address of the family; canonical. Null when there is neither.
 *
 * @example
 * ```ts
 * sourceOf(vi, new Map([["eth0", { ipv4: "192.0.2.11" }]])); // "192.0.2.11"
 * ```
 */
export function sourceOf(vi: InstanceConfig, primaries: PrimaryAddresses): string | null {
  const primary = primaries.get(vi.interface)?.[vi.family];
  const src = vi.srcIp ?? primary ?? null;
  return src === null ? null : canonicalIp(src) ?? src;
}

/**
 * Why `name` cannot run: there is no address to send its adverts from.
 *
 * @example
 * ```ts
 * noSourceProblem("VI_1", vi); // "VI_1: no ipv4 address on eth0 to send adverts from (...)"
 * ```
 */
export function noSourceProblem(name: string, vi: InstanceConfig): string {
  return `${name}: no ${vi.family} address on ${vi.interface} to send adverts from (and no unicast_src_ip)`;
}

/**
 * The source a waiting instance's engine config holds until its interface has an
 * address (`dynamic_interfaces`): never sent, since the instance is in FAULT meanwhile.
 *
 * @example
 * ```ts
 * waitingSource("ipv4"); // "0.0.0.0"
 * ```
 */
export function waitingSource(family: Family): string {
  return family === "ipv4" ? "0.0.0.0" : "::";
}

/**
 * Whether an instance still waits for an address on its interface to send from
 * (`dynamic_interfaces`): it holds a placeholder source and stays in FAULT.
 *
 * @example
 * ```ts
 * awaitsSource(inst); // true until eth9 has an IPv4 address
 * ```
 */
export function awaitsSource(inst: Instance): boolean {
  return inst.rc.primaryIp === waitingSource(inst.cfg.family);
}

/**
 * The address an instance's adverts leave from ({@link sourceOf}); under
 * `dynamic_interfaces`, a placeholder ({@link awaitsSource}) when there is none yet.
 *
 * @example
 * ```ts
 * sourceOrWait(vi, config, new Map()); // "0.0.0.0" with dynamic_interfaces, else null
 * ```
 */
export function sourceOrWait(
  vi: InstanceConfig,
  config: Config,
  primaries: PrimaryAddresses,
): string | null {
  const src = sourceOf(vi, primaries);
  if (src !== null || !config.global.dynamicInterfaces) return src;
  return waitingSource(vi.family);
}

/**
 * The fault tracker of an instance whose interface does not exist (`dynamic_interfaces`);
 * shown in status as the fault's cause.
 *
 * @example
 * ```ts
 * missingInterfaceTracker("eth9"); // "interface eth9 missing"
 * ```
 */
export function missingInterfaceTracker(iface: string): string {
  return `interface ${iface} missing`;
}

/**
 * The fault tracker of an instance whose interface was re-created as another kind, or
 * over another link, without `allow_if_changes` (keepalived does not use it either).
 *
 * @example
 * ```ts
 * changedInterfaceTracker("eth9"); // "interface eth9 changed (allow_if_changes)"
 * ```
 */
export function changedInterfaceTracker(iface: string): string {
  return `interface ${iface} changed (allow_if_changes)`;
}

/**
 * The fault tracker of an instance waiting for an address to send its adverts from
 * (`dynamic_interfaces`); shown in status as the fault's cause.
 *
 * @example
 * ```ts
 * noSourceTracker(vi); // "no ipv4 address on eth9"
 * ```
 */
export function noSourceTracker(vi: InstanceConfig): string {
  return `no ${vi.family} address on ${vi.interface}`;
}

/**
 * An instance's runtime record, fresh (idle announcements, no counters, no tracker
 * verdict yet), or the reason it cannot run (no source address, unless
 * `dynamic_interfaces`: then it waits for one, see {@link awaitsSource}).
 *
 * @example
 * ```ts
 * const inst = makeInstance(vi, config, primaries);
 * if (typeof inst === "string") problems.push(inst);
 * ```
 */
export function makeInstance(
  vi: InstanceConfig,
  config: Config,
  primaries: PrimaryAddresses,
): Instance | string {
  // Under dynamic_interfaces an instance without an address waits in FAULT instead.
  const src = sourceOrWait(vi, config, primaries);
  if (src === null) return noSourceProblem(vi.name, vi);
  return {
    cfg: vi,
    rc: toRouterConfig(vi, src),
    key: transportKey(vi.interface, vi.family),
    group: vi.family === "ipv4" ? config.global.mcastGroup4 : config.global.mcastGroup6,
    peers: peersOf(vi),
    targets: targetsOf(vi),
    announce: IDLE_ANNOUNCE,
    extra: {},
    foreign: [],
    peerMacs: new Map(),
    retired: null,
    track: null,
    routine: null,
  };
}

/**
 * The lookups the daemon keeps over its instances.
 *
 * @example
 * ```ts
 * const { byName, byTransportVrid, vipOwners } = indexInstances(live, retiring);
 * ```
 */
export interface InstanceIndex {
  /** Live instances by name. */
  readonly byName: Map<string, Instance>;
  /**
   * Live instances by transport key then VRID, in config order: what a received advert
   * is checked against (with 50 instances on a link, walking all of them per advert was
   * 6 % of a Backup's CPU).
   */
  readonly byTransportVrid: Map<string, Map<number, Instance[]>>;
  /** Every configured VIP address (canonical) → instances, live then retiring. */
  readonly vipOwners: Map<string, Instance[]>;
}

/**
 * Builds the lookups from the live and retiring instances.
 *
 * @example
 * ```ts
 * indexInstances([inst], []).byTransportVrid.get("eth0/ipv4")?.get(51); // [inst]
 * ```
 */
export function indexInstances(
  live: readonly Instance[],
  retiring: readonly Instance[],
): InstanceIndex {
  const byName = new Map(live.map((i) => [i.cfg.name, i]));
  const byTransportVrid = new Map<string, Map<number, Instance[]>>();
  for (const inst of live) {
    const vrids = byTransportVrid.get(inst.key) ?? new Map<number, Instance[]>();
    vrids.set(inst.cfg.vrid, [...(vrids.get(inst.cfg.vrid) ?? []), inst]);
    byTransportVrid.set(inst.key, vrids);
  }
  const vipOwners = new Map<string, Instance[]>();
  for (const inst of [...live, ...retiring]) {
    for (const t of inst.targets) {
      const a = canonicalIp(t.address) ?? t.address;
      vipOwners.set(a, [...(vipOwners.get(a) ?? []), inst]);
    }
  }
  return { byName, byTransportVrid, vipOwners };
}
