/**
 * What a reload from one validated config to another changes: the pure diff behind
 * `hacore reload` (SIGHUP) and `hacore check --diff OLD NEW`.
 *
 * An instance is matched by name. What it becomes:
 * - `added` / `removed`: only in the new / old config;
 * - `replaced`: its identity changed (interface, VRID, version, family, or becoming or
 *   ceasing to be the address owner): the engine cannot turn one virtual router into
 *   another, so the old one is released (priority 0) and the new one started;
 * - `changed`: the same virtual router with other settings: VIPs reconciled address by
 *   address, priority fed to the engine, the rest replaced in place with no state
 *   change;
 * - `unchanged`: untouched, not even its timers.
 *
 * @example
 * ```ts
 * const d = diffConfigs(oldConfig, newConfig);
 * for (const line of diffLines(d)) console.log(line); // "VI_2: added 192.0.2.101/24", ...
 * ```
 *
 * @module
 */

import { canonicalIp } from "../net/addr.ts";
import type { RealServerConfig, VirtualServerConfig } from "./lvs_schema.ts";
import { formatMs, summarizeInstance } from "./router.ts";
import type {
  Config,
  GarpConfig,
  GlobalConfig,
  InstanceConfig,
  NotifyConfig,
  SyncGroupConfig,
  TrackRef,
  Vip,
} from "./schema.ts";

/**
 * One VIP whose address stayed but whose prefix, label or scope changed.
 *
 * @example
 * ```ts
 * const c: VipChange = { old: vip24, next: { ...vip24, prefix: 25 } };
 * ```
 */
export interface VipChange {
  readonly old: Vip;
  readonly next: Vip;
}

/**
 * How one list of VIPs changed, matched by (interface, address).
 *
 * @example
 * ```ts
 * const d: VipSetDiff = { added: [vip101], removed: [vip102], changed: [], reordered: false };
 * ```
 */
export interface VipSetDiff {
  readonly added: readonly Vip[];
  readonly removed: readonly Vip[];
  readonly changed: readonly VipChange[];
  /** Same addresses in another order (adverts list them in configured order). */
  readonly reordered: boolean;
}

/**
 * An instance kept across the reload whose settings changed.
 *
 * @example
 * ```ts
 * const c: InstanceDiff = diffConfigs(a, b).changed[0];
 * c.priority; // { from: 100, to: 120 }
 * ```
 */
export interface InstanceDiff {
  readonly name: string;
  readonly old: InstanceConfig;
  readonly next: InstanceConfig;
  /** `virtual_ipaddress`. */
  readonly vips: VipSetDiff;
  /** `virtual_ipaddress_excluded`. */
  readonly excluded: VipSetDiff;
  /** Base priority, when it changed. */
  readonly priority: { readonly from: number; readonly to: number } | null;
  /** Every other changed setting, one readable line each ("advert_int 1s -> 2s"). */
  readonly settings: readonly string[];
}

/**
 * An instance whose identity changed: stopped and started again.
 *
 * @example
 * ```ts
 * const r: ReplacedInstance = { old, next, why: ["virtual_router_id 51 -> 52"] };
 * ```
 */
export interface ReplacedInstance {
  readonly old: InstanceConfig;
  readonly next: InstanceConfig;
  readonly why: readonly string[];
}

/**
 * How the sync groups changed.
 *
 * @example
 * ```ts
 * diffConfigs(a, b).groups.changed[0].what; // ["members VI_1, VI_2 -> VI_1"]
 * ```
 */
export interface GroupDiff {
  readonly added: readonly SyncGroupConfig[];
  readonly removed: readonly SyncGroupConfig[];
  readonly changed: readonly {
    readonly old: SyncGroupConfig;
    readonly next: SyncGroupConfig;
    readonly what: readonly string[];
  }[];
}

/**
 * One changed `[global]` key.
 *
 * @example
 * ```ts
 * const g: GlobalChange = { key: "checksum", from: "auto", to: "rfc9568", needsRestart: false };
 * ```
 */
export interface GlobalChange {
  /** The TOML key. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
  /** Owned by a part of hacore that reads it only at start (control socket, metrics, notify). */
  readonly needsRestart: boolean;
}

/**
 * Everything a reload from `old` to `next` changes. Lists follow config order (the
 * new config's for added and changed, the old one's for removed).
 *
 * @example
 * ```ts
 * const d: ConfigDiff = diffConfigs(oldConfig, newConfig);
 * d.added.map((i) => i.name);
 * ```
 */
export interface ConfigDiff {
  readonly added: readonly InstanceConfig[];
  readonly removed: readonly InstanceConfig[];
  readonly replaced: readonly ReplacedInstance[];
  readonly changed: readonly InstanceDiff[];
  /** Names of instances that do not change at all. */
  readonly unchanged: readonly string[];
  readonly groups: GroupDiff;
  readonly global: readonly GlobalChange[];
  /** Added, removed or changed `vrrp_script` / `vrrp_track_file` / `vrrp_track_process`. */
  readonly trackers: readonly string[];
  /** Virtual server and real server changes, as lines ({@link diffVirtualServers}). */
  readonly virtualServers: readonly string[];
}

/**
 * Computes the diff from `old` to `next`. Pure; both configs must be validated.
 *
 * @example
 * ```ts
 * const d = diffConfigs(oldConfig, newConfig);
 * isEmptyDiff(d); // true when a reload would change nothing
 * ```
 */
export function diffConfigs(old: Config, next: Config): ConfigDiff {
  const before = new Map(old.instances.map((i) => [i.name, i]));
  const after = new Map(next.instances.map((i) => [i.name, i]));
  const added: InstanceConfig[] = [];
  const replaced: ReplacedInstance[] = [];
  const changed: InstanceDiff[] = [];
  const unchanged: string[] = [];
  for (const n of next.instances) {
    const o = before.get(n.name);
    if (o === undefined) {
      added.push(n);
      continue;
    }
    const why = identityChanges(o, n);
    if (why.length > 0) {
      replaced.push({ old: o, next: n, why });
      continue;
    }
    const d = diffInstance(o, n, old.global, next.global);
    if (d === null) unchanged.push(n.name);
    else changed.push(d);
  }
  const removed = old.instances.filter((i) => !after.has(i.name));
  return {
    added,
    removed,
    replaced,
    changed,
    unchanged,
    groups: diffGroups(old.syncGroups, next.syncGroups),
    global: [...diffGlobal(old.global, next.global), ...diffStatics(old, next)],
    trackers: diffTrackers(old, next),
    virtualServers: diffVirtualServers(old.virtualServers, next.virtualServers),
  };
}

/**
 * Whether a reload to `next` starts any instance: one added, or one replaced (see
 * {@link diffConfigs}). Cheaper than the whole diff, for what only a started instance
 * needs (its link's state, read before the apply).
 *
 * @example
 * ```ts
 * startsInstances(running, candidate); // false for a reload that changed one weight
 * ```
 */
export function startsInstances(old: Config, next: Config): boolean {
  const before = new Map(old.instances.map((i) => [i.name, i]));
  return next.instances.some((n) => {
    const o = before.get(n.name);
    return o === undefined || identityChanges(o, n).length > 0;
  });
}

/**
 * True when the reload would change nothing at all.
 *
 * @example
 * ```ts
 * isEmptyDiff(diffConfigs(config, config)); // true
 * ```
 */
export function isEmptyDiff(d: ConfigDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.replaced.length === 0 &&
    d.changed.length === 0 && d.groups.added.length === 0 && d.groups.removed.length === 0 &&
    d.groups.changed.length === 0 && d.global.length === 0 && d.trackers.length === 0 &&
    d.virtualServers.length === 0;
}

/**
 * The diff as lines for people and logs, one per change, prefixed with the instance,
 * group or `global`. Empty when nothing changes.
 *
 * @example
 * ```ts
 * diffLines(diffConfigs(a, b));
 * // ["VI_2: added 192.0.2.101/24", "VI_2: removed 192.0.2.102/24", "VI_2: priority 100 -> 120"]
 * ```
 */
export function diffLines(d: ConfigDiff): string[] {
  const out: string[] = [];
  for (const i of d.removed) out.push(`${i.name}: removed (released with priority 0 if master)`);
  for (const r of d.replaced) {
    out.push(`${r.next.name}: replaced (${r.why.join(", ")}): released and started again`);
  }
  for (const c of d.changed) {
    const p = `${c.name}: `;
    for (const v of c.vips.added) out.push(`${p}added ${vipText(v, c.next)}`);
    for (const v of c.vips.removed) out.push(`${p}removed ${vipText(v, c.old)}`);
    for (const v of c.vips.changed) {
      out.push(`${p}${vipText(v.old, c.old)} -> ${vipText(v.next, c.next)}`);
    }
    if (c.vips.reordered) out.push(`${p}virtual_ipaddress reordered`);
    for (const v of c.excluded.added) out.push(`${p}added excluded ${vipText(v, c.next)}`);
    for (const v of c.excluded.removed) out.push(`${p}removed excluded ${vipText(v, c.old)}`);
    for (const v of c.excluded.changed) {
      out.push(`${p}excluded ${vipText(v.old, c.old)} -> ${vipText(v.next, c.next)}`);
    }
    if (c.priority) out.push(`${p}priority ${c.priority.from} -> ${c.priority.to}`);
    for (const s of c.settings) out.push(`${p}${s}`);
  }
  for (const i of d.added) out.push(summarizeInstance(i).replace(/^[^:]*: /, `${i.name}: added: `));
  for (const g of d.groups.removed) out.push(`sync group ${g.name}: removed`);
  for (const g of d.groups.added) {
    out.push(`sync group ${g.name}: added (${g.instances.join(", ")})`);
  }
  for (const g of d.groups.changed) {
    for (const w of g.what) out.push(`sync group ${g.next.name}: ${w}`);
  }
  for (const g of d.global) {
    out.push(
      `global: ${g.key} ${g.from} -> ${g.to}${
        g.needsRestart ? " (takes effect at the next restart)" : ""
      }`,
    );
  }
  out.push(...d.trackers);
  out.push(...d.virtualServers);
  return out;
}

/**
 * What a reload changes in the virtual servers, one line each, in the style of the
 * instances' lines: a virtual server matched by name, a real server by address and port.
 * A changed setting is edited in place by the LVS runtime (never deleted and re-added).
 *
 * @example
 * ```ts
 * diffVirtualServers(old.virtualServers, next.virtualServers);
 * // ["virtual_server web: scheduler wlc -> rr", "virtual_server web: real server 192.0.2.12:80 added"]
 * ```
 */
export function diffVirtualServers(
  old: readonly VirtualServerConfig[],
  next: readonly VirtualServerConfig[],
): string[] {
  return [...virtualServerChanges(old, next).lines];
}

/**
 * The virtual servers a reload changes: its lines ({@link diffVirtualServers}) and the
 * names of the virtual servers added, removed or changed, so that the LVS runtime plans
 * those alone.
 *
 * @example
 * ```ts
 * const c: VirtualServerChanges = { lines: ["virtual_server web: removed"], names: new Set(["web"]) };
 * ```
 */
export interface VirtualServerChanges {
  readonly lines: readonly string[];
  readonly names: ReadonlySet<string>;
}

/**
 * The last diff of two virtual server lists: a reload asks for the same one twice (the
 * config diff's lines, then the LVS runtime's plan) over the same two frozen lists, and
 * with 1,000 virtual servers each walk costs ~100 ms of a small guest's CPU.
 */
let lastChanges: {
  readonly old: readonly VirtualServerConfig[];
  readonly next: readonly VirtualServerConfig[];
  readonly changes: VirtualServerChanges;
} | null = null;

/**
 * {@link VirtualServerChanges} from `old` to `next`; asked twice in a row for the same
 * lists (by identity), computed once.
 *
 * @example
 * ```ts
 * virtualServerChanges(old.virtualServers, next.virtualServers).names; // Set { "web" }
 * ```
 */
export function virtualServerChanges(
  old: readonly VirtualServerConfig[],
  next: readonly VirtualServerConfig[],
): VirtualServerChanges {
  if (lastChanges !== null && lastChanges.old === old && lastChanges.next === next) {
    return lastChanges.changes;
  }
  const changes = sameNames(old, next) ? pairwiseChanges(old, next) : matchedChanges(old, next);
  lastChanges = { old, next, changes };
  return changes;
}

/** The same virtual servers in the same order: the usual reload. */
function sameNames(
  old: readonly VirtualServerConfig[],
  next: readonly VirtualServerConfig[],
): boolean {
  if (old.length !== next.length) return false;
  for (let i = 0; i < old.length; i++) if (old[i].name !== next[i].name) return false;
  return true;
}

/**
 * {@link matchedChanges} for lists of the same names in the same order, without the maps:
 * nothing is added or removed, and an unchanged virtual server (the same frozen object
 * when the incremental loader kept it) costs one comparison.
 */
function pairwiseChanges(
  old: readonly VirtualServerConfig[],
  next: readonly VirtualServerConfig[],
): VirtualServerChanges {
  const lines: string[] = [];
  const names = new Set<string>();
  for (let i = 0; i < next.length; i++) {
    if (old[i] === next[i]) continue;
    if (changedLines(lines, old[i], next[i])) names.add(next[i].name);
  }
  return { lines, names };
}

/** Appends the lines of a virtual server present before and after; whether any. */
function changedLines(lines: string[], o: VirtualServerConfig, n: VirtualServerConfig): boolean {
  const p = `virtual_server ${n.name}: `;
  const at = lines.length;
  for (const key of Object.keys(n) as (keyof VirtualServerConfig)[]) {
    if (key === "name" || key === "realServers") continue;
    if (!sameValue(o[key], n[key])) {
      lines.push(`${p}${key} ${valueText(o[key])} -> ${valueText(n[key])}`);
    }
  }
  lines.push(...diffRealServers(p, o.realServers, n.realServers));
  return lines.length > at;
}

function matchedChanges(
  old: readonly VirtualServerConfig[],
  next: readonly VirtualServerConfig[],
): VirtualServerChanges {
  const lines: string[] = [];
  const names = new Set<string>();
  const before = new Map(old.map((v) => [v.name, v]));
  const after = new Set(next.map((v) => v.name));
  for (const v of old) {
    if (after.has(v.name)) continue;
    lines.push(`virtual_server ${v.name}: removed`);
    names.add(v.name);
  }
  for (const n of next) {
    const o = before.get(n.name);
    const p = `virtual_server ${n.name}: `;
    const at = lines.length;
    if (o === undefined) {
      const count = `${n.realServers.length} real server${n.realServers.length === 1 ? "" : "s"}`;
      lines.push(`${p}added (${targetText(n)} ${n.protocol} ${n.scheduler} ${n.method}, ${count})`);
    } else if (o !== n) changedLines(lines, o, n);
    if (lines.length > at) names.add(n.name);
  }
  return { lines, names };
}

function diffRealServers(
  p: string,
  old: readonly RealServerConfig[],
  next: readonly RealServerConfig[],
): string[] {
  const out: string[] = [];
  const key = (r: RealServerConfig) => endpointText(r.address, r.port);
  const before = new Map(old.map((r) => [key(r), r]));
  const after = new Set(next.map(key));
  for (const r of old) if (!after.has(key(r))) out.push(`${p}real server ${key(r)} removed`);
  for (const n of next) {
    const o = before.get(key(n));
    if (o === undefined) {
      out.push(`${p}real server ${key(n)} added (weight ${n.weight})`);
      continue;
    }
    for (const k of Object.keys(n) as (keyof RealServerConfig)[]) {
      if (k === "id" || sameValue(o[k], n[k])) continue;
      const what = k === "checks"
        ? "checks changed"
        : `${k} ${valueText(o[k])} -> ${valueText(n[k])}`;
      out.push(`${p}real server ${key(n)} ${what}`);
    }
  }
  return out;
}

function targetText(v: VirtualServerConfig): string {
  const t = v.target;
  if (t.kind === "fwmark") return `fwmark ${t.fwmark}`;
  if (t.kind === "group") return `group ${t.group}`;
  return endpointText(t.address, t.port);
}

function endpointText(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Equality of config values as their JSON would say (a key set to undefined is no key),
 * without building the JSON: a reload compares every field of 10,000 real servers.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (ra[k] === undefined) continue;
    n++;
    if (!sameValue(ra[k], rb[k])) return false;
  }
  for (const k in rb) if (rb[k] !== undefined) n--;
  return n === 0;
}

function valueText(v: unknown): string {
  if (v === null) return "none";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

// ---------------------------------------------------------------------------------

const OWNER_PRIORITY = 255;

function identityChanges(o: InstanceConfig, n: InstanceConfig): string[] {
  const why: string[] = [];
  if (o.interface !== n.interface) why.push(`interface ${o.interface} -> ${n.interface}`);
  if (o.vrid !== n.vrid) why.push(`virtual_router_id ${o.vrid} -> ${n.vrid}`);
  if (o.version !== n.version) why.push(`version ${o.version} -> ${n.version}`);
  if (o.family !== n.family) why.push(`family ${o.family} -> ${n.family}`);
  const owner = (i: InstanceConfig) => i.priority >= OWNER_PRIORITY;
  if (owner(o) !== owner(n)) {
    why.push(owner(n) ? "now the address owner (255)" : "no longer the address owner (255)");
  }
  return why;
}

function diffInstance(
  o: InstanceConfig,
  n: InstanceConfig,
  og: GlobalConfig,
  ng: GlobalConfig,
): InstanceDiff | null {
  const vips = diffVips(o.vips, n.vips);
  const excluded = diffVips(o.excludedVips, n.excludedVips);
  const priority = o.priority === n.priority ? null : { from: o.priority, to: n.priority };
  const settings: string[] = [];
  const setting = (key: string, a: string, b: string) => {
    if (a !== b) settings.push(`${key} ${a} -> ${b}`);
  };
  setting("advert_int", formatMs(o.advertIntervalMs), formatMs(n.advertIntervalMs));
  setting("preempt", o.preempt ? "on" : "off (nopreempt)", n.preempt ? "on" : "off (nopreempt)");
  setting("preempt_delay", formatMs(o.preemptDelayMs), formatMs(n.preemptDelayMs));
  setting("accept", String(o.accept), String(n.accept));
  setting("release_hold", holdText(o.releaseHold), holdText(n.releaseHold));
  setting("unicast_src_ip", o.srcIp ?? "(interface address)", n.srcIp ?? "(interface address)");
  setting("unicast_peer", listText(o.unicastPeers), listText(n.unicastPeers));
  setting("allowed_peers", listText(o.allowedPeers), listText(n.allowedPeers));
  setting("pin_peer_mac", String(o.pinPeerMac), String(n.pinPeerMac));
  setting("vmac_xmit_base", String(o.vmacXmitBase), String(n.vmacXmitBase));
  setting("track_src_ip", String(o.trackSrcIp), String(n.trackSrcIp));
  setting("unicast_ttl", String(o.unicastTtl), String(n.unicastTtl));
  setting(
    "notify_master_rx_lower_pri",
    o.notify.masterRxLowerPri ?? "(none)",
    n.notify.masterRxLowerPri ?? "(none)",
  );
  // Never print a password, not even in a diff.
  if (authText(o) !== authText(n) || o.auth?.pass !== n.auth?.pass) {
    settings.push(`authentication changed (${authText(o)} -> ${authText(n)})`);
  }
  setting("state", o.initialState, n.initialState);
  setting("track_script", refsText(o.trackScripts), refsText(n.trackScripts));
  setting("track_interface", refsText(o.trackInterfaces), refsText(n.trackInterfaces));
  setting("track_file", refsText(o.trackFiles), refsText(n.trackFiles));
  setting("track_process", refsText(o.trackProcesses), refsText(n.trackProcesses));
  let garpChanged = false;
  for (const [key, field] of GARP_KEYS) {
    if (o.garp[field] === n.garp[field]) continue;
    garpChanged = true;
    // Inherited from [global] before and after: the global line says it once.
    if (o.garp[field] === inheritedGarp(og)[field] && n.garp[field] === inheritedGarp(ng)[field]) {
      continue;
    }
    const text = (g: GarpConfig) => field.endsWith("Ms") ? formatMs(g[field]) : String(g[field]);
    setting(key, text(o.garp), text(n.garp));
  }
  setting("virtual_routes", linesText(o.virtualRoutes), linesText(n.virtualRoutes));
  setting("virtual_rules", linesText(o.virtualRules), linesText(n.virtualRules));
  settings.push(...notifyChanges(o.notify, n.notify));
  // Sync-group membership is reported (and applied) with the groups, not here.
  const vipsSame = vips.added.length + vips.removed.length + vips.changed.length === 0 &&
    !vips.reordered;
  const exclSame = excluded.added.length + excluded.removed.length + excluded.changed.length ===
      0 && !excluded.reordered;
  if (vipsSame && exclSame && priority === null && settings.length === 0 && !garpChanged) {
    return null;
  }
  return { name: n.name, old: o, next: n, vips, excluded, priority, settings };
}

/**
 * A VIP's identity across a reload: its interface and canonical address, the same key the
 * daemon's reconciler (`vipKey`) holds addresses by, so "changed" here means changed there.
 */
function vipIdentity(v: Vip): string {
  return `${v.dev}|${canonicalIp(v.address) ?? v.address}`;
}

function diffVips(o: readonly Vip[], n: readonly Vip[]): VipSetDiff {
  const key = vipIdentity;
  const before = new Map(o.map((v) => [key(v), v]));
  const after = new Map(n.map((v) => [key(v), v]));
  const added = n.filter((v) => !before.has(key(v)));
  const removed = o.filter((v) => !after.has(key(v)));
  const changed: VipChange[] = [];
  for (const v of n) {
    const was = before.get(key(v));
    if (was && (was.prefix !== v.prefix || was.label !== v.label || was.scope !== v.scope)) {
      changed.push({ old: was, next: v });
    }
  }
  const keptOld = o.filter((v) => after.has(key(v))).map(key);
  const keptNew = n.filter((v) => before.has(key(v))).map(key);
  const reordered = keptOld.some((k, i) => keptNew[i] !== k);
  return { added, removed, changed, reordered };
}

function vipText(v: Vip, i: InstanceConfig): string {
  let t = `${v.address}/${v.prefix}`;
  if (v.dev !== i.interface) t += ` dev ${v.dev}`;
  if (v.label !== null) t += ` label ${v.label}`;
  if (v.scope !== "global") t += ` scope ${v.scope}`;
  return t;
}

const GARP_KEYS: readonly [string, keyof GarpConfig][] = [
  ["garp_master_delay", "masterDelayMs"],
  ["garp_master_repeat", "masterRepeat"],
  ["garp_master_refresh", "masterRefreshMs"],
  ["garp_master_refresh_repeat", "masterRefreshRepeat"],
  ["garp_lower_prio_delay", "lowerPrioDelayMs"],
  ["garp_lower_prio_repeat", "lowerPrioRepeat"],
];

/** An instance's GARP timing when it sets none of its own (see `readGarp`). */
function inheritedGarp(g: GlobalConfig): GarpConfig {
  return {
    masterDelayMs: g.garpMasterDelayMs,
    masterRepeat: g.garpMasterRepeat,
    masterRefreshMs: g.garpMasterRefreshMs,
    masterRefreshRepeat: g.garpMasterRefreshRepeat,
    lowerPrioDelayMs: g.garpLowerPrioDelayMs ?? g.garpMasterDelayMs,
    lowerPrioRepeat: g.garpLowerPrioRepeat ?? 0,
  };
}

function linesText(xs: readonly { readonly text: string }[]): string {
  return listText(xs.map((x) => JSON.stringify(x.text)));
}

/** The top-level static addresses, routes and rules, reported with `global`'s changes. */
function diffStatics(o: Config, n: Config): GlobalChange[] {
  const out: GlobalChange[] = [];
  const change = (key: string, from: string, to: string) => {
    if (from !== to) out.push({ key, from, to, needsRestart: false });
  };
  const addrs = (c: Config) =>
    listText(c.staticAddresses.map((v) => `${v.address}/${v.prefix} dev ${v.dev}`));
  change("static_ipaddress", addrs(o), addrs(n));
  change("static_routes", linesText(o.staticRoutes), linesText(n.staticRoutes));
  change("static_rules", linesText(o.staticRules), linesText(n.staticRules));
  return out;
}

function holdText(h: "auto" | number): string {
  return h === "auto" ? "auto" : formatMs(h);
}

function listText(xs: readonly string[]): string {
  return xs.length === 0 ? "(none)" : xs.join(", ");
}

function refsText(refs: readonly TrackRef[]): string {
  return listText(refs.map((r) => (r.weight === null ? r.name : `${r.name} weight ${r.weight}`)));
}

function authText(i: InstanceConfig): string {
  return i.auth === null ? "none" : i.auth.type;
}

const NOTIFY_KEYS: readonly [keyof NotifyConfig, string][] = [
  ["master", "notify_master"],
  ["backup", "notify_backup"],
  ["fault", "notify_fault"],
  ["stop", "notify_stop"],
  ["generic", "notify"],
];

function notifyChanges(o: NotifyConfig, n: NotifyConfig): string[] {
  return NOTIFY_KEYS.filter(([k]) => o[k] !== n[k]).map(([k, key]) =>
    `${key} ${JSON.stringify(o[k])} -> ${JSON.stringify(n[k])}`
  );
}

function diffGroups(o: readonly SyncGroupConfig[], n: readonly SyncGroupConfig[]): GroupDiff {
  const before = new Map(o.map((g) => [g.name, g]));
  const after = new Map(n.map((g) => [g.name, g]));
  const changed: GroupDiff["changed"][number][] = [];
  for (const g of n) {
    const was = before.get(g.name);
    if (!was) continue;
    const what: string[] = [];
    if (was.instances.join("\n") !== g.instances.join("\n")) {
      what.push(`members ${listText(was.instances)} -> ${listText(g.instances)}`);
    }
    what.push(...notifyChanges(was.notify, g.notify));
    // A group's trackers carry no weight: their names are the whole story.
    const names = (refs: readonly TrackRef[]) => listText(refs.map((r) => r.name));
    for (
      const [key, a, b] of [
        ["track_script", was.trackScripts, g.trackScripts],
        ["track_interface", was.trackInterfaces, g.trackInterfaces],
        ["track_file", was.trackFiles, g.trackFiles],
        ["track_process", was.trackProcesses, g.trackProcesses],
      ] as const
    ) {
      if (names(a) !== names(b)) what.push(`${key} ${names(a)} -> ${names(b)}`);
    }
    if (what.length > 0) changed.push({ old: was, next: g, what });
  }
  return {
    added: n.filter((g) => !before.has(g.name)),
    removed: o.filter((g) => !after.has(g.name)),
    changed,
  };
}

/** `[global]` fields with their TOML keys, how to print them, and who reads them. */
const GLOBAL_KEYS: readonly {
  field: keyof GlobalConfig;
  key: string;
  ms?: boolean;
  restart?: boolean;
}[] = [
  { field: "routerId", key: "router_id" },
  { field: "vrrpVersion", key: "vrrp_version" },
  { field: "mcastGroup4", key: "vrrp_mcast_group4" },
  { field: "mcastGroup6", key: "vrrp_mcast_group6" },
  { field: "garpMasterDelayMs", key: "vrrp_garp_master_delay", ms: true },
  { field: "garpMasterRepeat", key: "vrrp_garp_master_repeat" },
  { field: "garpMasterRefreshMs", key: "vrrp_garp_master_refresh", ms: true },
  { field: "garpMasterRefreshRepeat", key: "vrrp_garp_master_refresh_repeat" },
  { field: "garpLowerPrioDelayMs", key: "vrrp_garp_lower_prio_delay", ms: true },
  { field: "garpLowerPrioRepeat", key: "vrrp_garp_lower_prio_repeat" },
  { field: "garpIntervalMs", key: "vrrp_garp_interval", ms: true },
  { field: "gnaIntervalMs", key: "vrrp_gna_interval", ms: true },
  { field: "checksum", key: "checksum" },
  { field: "strict", key: "vrrp_strict" },
  { field: "controlSocket", key: "control_socket", restart: true },
  { field: "metricsListen", key: "metrics_listen", restart: true },
  { field: "notifyFifo", key: "notify_fifo", restart: true },
  { field: "notifyFifoFormat", key: "notify_fifo_format", restart: true },
  { field: "notifyTimeoutMs", key: "notify_timeout", ms: true, restart: true },
  { field: "allowInsecureScripts", key: "allow_insecure_scripts", restart: true },
  { field: "pidFile", key: "pid_file", restart: true },
  { field: "scriptUser", key: "script_user", restart: true },
  { field: "dynamicInterfaces", key: "dynamic_interfaces" },
  { field: "allowIfChanges", key: "allow_if_changes" },
];

/** `global.mail` fields with their TOML keys: the mailer is built at start. */
const MAIL_KEYS: readonly { field: keyof GlobalConfig["mail"]; key: string; restart: boolean }[] = [
  { field: "to", key: "notification_email", restart: true },
  { field: "from", key: "notification_email_from", restart: true },
  { field: "server", key: "smtp_server", restart: true },
  { field: "heloName", key: "smtp_helo_name", restart: true },
  { field: "connectTimeoutMs", key: "smtp_connect_timeout", restart: true },
  // Read at every alert: a reload applies it.
  { field: "alert", key: "smtp_alert", restart: false },
];

function diffGlobal(o: GlobalConfig, n: GlobalConfig): GlobalChange[] {
  const text = (v: unknown, ms: boolean) =>
    v === null ? "(none)" : ms && typeof v === "number" ? formatMs(v) : String(v);
  const out: GlobalChange[] = [];
  for (const k of GLOBAL_KEYS) {
    if (o[k.field] === n[k.field]) continue;
    out.push({
      key: k.key,
      from: text(o[k.field], k.ms ?? false),
      to: text(n[k.field], k.ms ?? false),
      needsRestart: k.restart ?? false,
    });
  }
  for (const k of MAIL_KEYS) {
    const a = o.mail[k.field];
    const b = n.mail[k.field];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const show = (v: unknown) =>
      Array.isArray(v)
        ? (v.length === 0 ? "(none)" : v.join(","))
        : text(v, k.field === "connectTimeoutMs");
    out.push({ key: k.key, from: show(a), to: show(b), needsRestart: k.restart });
  }
  return out;
}

function diffTrackers(o: Config, n: Config): string[] {
  const out: string[] = [];
  const section = <T extends { readonly name: string }>(
    key: string,
    a: readonly T[],
    b: readonly T[],
  ) => {
    const before = new Map(a.map((x) => [x.name, x]));
    const after = new Map(b.map((x) => [x.name, x]));
    for (const x of a) if (!after.has(x.name)) out.push(`${key}.${x.name}: removed`);
    for (const x of b) {
      const was = before.get(x.name);
      if (!was) out.push(`${key}.${x.name}: added`);
      else if (JSON.stringify(was) !== JSON.stringify(x)) out.push(`${key}.${x.name}: changed`);
    }
  };
  section("vrrp_script", o.scripts, n.scripts);
  section("vrrp_track_file", o.trackFiles, n.trackFiles);
  section("vrrp_track_process", o.trackProcesses, n.trackProcesses);
  return out;
}
