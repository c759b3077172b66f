/**
 * The whole LVS plan from a config: the one pure function behind both the runtime's
 * operations and `hacore check --plan`, so that what the plan prints is what a start or
 * a reload with that config then applies.
 *
 * @module
 */

import type { VirtualServerConfig, VirtualServerGroupConfig } from "../config/lvs_schema.ts";
import type { Config } from "../config/schema.ts";
import { desiredTable, type HealthMap, type IpvsTable, servicesOf } from "./desired.ts";
import {
  configuredKeys,
  type DrainRecord,
  entryKey,
  type HeldOut,
  type LvsPlan,
  planLvs,
} from "./drain.ts";
import { serviceKey } from "./plan.ts";
import { applySlowStart } from "./slow_start.ts";

/** What {@link planConfig} needs besides the config: the runtime's state, or a guess of it. */
export interface ConfigPlanInputs {
  readonly config: Pick<Config, "virtualServers" | "virtualServerGroups" | "lvs">;
  /** Check verdicts by real server id (empty: each server as it starts). */
  readonly health: HealthMap;
  /** Quorum by virtual server name (missing: computed from the live weight). */
  readonly quorum: ReadonlyMap<string, boolean>;
  /** Real server id → start of its slow start. */
  readonly ramps: ReadonlyMap<string, number>;
  /** Real server id → held out by the operator or a maintenance file. */
  readonly heldServers: ReadonlyMap<string, HeldOut>;
  readonly kernel: IpvsTable;
  readonly owned: ReadonlySet<string>;
  readonly drains: ReadonlyMap<string, DrainRecord>;
  readonly nowMs: number;
}

/**
 * The destination entry keys of held-out real servers, in every service of their
 * virtual server.
 */
export function heldEntries(
  virtualServers: readonly VirtualServerConfig[],
  groups: readonly VirtualServerGroupConfig[],
  heldServers: ReadonlyMap<string, HeldOut>,
): Map<string, HeldOut> {
  const out = new Map<string, HeldOut>();
  if (heldServers.size === 0) return out;
  for (const vs of virtualServers) {
    for (const rs of vs.realServers) {
      const h = heldServers.get(rs.id);
      if (h === undefined) continue;
      for (const s of servicesOf(vs, groups)) out.set(entryKey(s, rs), h);
    }
  }
  return out;
}

/**
 * The wanted table of a config with its verdicts, quorum and ramps.
 *
 * @example
 * ```ts
 * // wantedOf(inputs)[0].dests.map((d) => d.weight)
 * ```
 */
export function wantedOf(i: Omit<ConfigPlanInputs, "kernel" | "owned" | "drains">): IpvsTable {
  const vss = i.config.virtualServers;
  const groups = i.config.virtualServerGroups;
  const table = desiredTable({ virtualServers: vss, groups, health: i.health, quorum: i.quorum });
  return applySlowStart(table, vss, groups, i.ramps, i.nowMs);
}

/**
 * The plan of a config against the kernel's table: {@link planLvs} over its wanted
 * table, its configured entries and its held-out servers.
 *
 * @example
 * ```ts
 * // planConfig({ config, health: new Map(), quorum: new Map(), ramps: new Map(),
 * //   heldServers: new Map(), kernel, owned, drains: new Map(), nowMs: 0 }).ops
 * ```
 */
export function planConfig(i: ConfigPlanInputs): LvsPlan {
  const vss = i.config.virtualServers;
  const groups = i.config.virtualServerGroups;
  return planLvs({
    wanted: wantedOf(i),
    configured: lazyConfiguredKeys(vss, groups),
    held: heldEntries(vss, groups, i.heldServers),
    kernel: i.kernel,
    owned: i.owned,
    drains: i.drains,
    nowMs: i.nowMs,
    drainDeadlineMs: i.config.lvs.drainDeadlineMs,
  });
}

/**
 * {@link configuredKeys}, built at the first question: a plan asks only about kernel
 * destinations it does not want (a failed or removed server), and building the keys of
 * 10,000 destinations cost ~0.3 s of a small guest's CPU at each start and periodic sync.
 */
function lazyConfiguredKeys(
  vss: readonly VirtualServerConfig[],
  groups: readonly VirtualServerGroupConfig[],
): Pick<ReadonlySet<string>, "has"> {
  let keys: Set<string> | null = null;
  return { has: (key) => (keys ??= configuredKeys(vss, groups)).has(key) };
}

/**
 * The services a start with `config` takes as its own: the ownership file's and the
 * config's (adopted where the kernel has them already).
 */
export function startOwned(
  config: Pick<Config, "virtualServers" | "virtualServerGroups">,
  listed: ReadonlySet<string>,
): Set<string> {
  const keys = configServiceKeys(config.virtualServers, config.virtualServerGroups);
  for (const k of listed) keys.add(k);
  return keys;
}

/**
 * The kernel service keys of `virtualServers` (only those in `names` when given): the
 * keys `ownedKeys` would give for their wanted table, without building its destinations.
 *
 * @example
 * ```ts
 * configServiceKeys(config.virtualServers, config.virtualServerGroups);
 * // Set { "2 6 192.0.2.100 80" }
 * ```
 */
export function configServiceKeys(
  virtualServers: readonly VirtualServerConfig[],
  groups: readonly VirtualServerGroupConfig[],
  names?: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  for (const vs of virtualServers) {
    if (names !== undefined && !names.has(vs.name)) continue;
    for (const s of servicesOf(vs, groups)) out.add(serviceKey(s));
  }
  return out;
}
