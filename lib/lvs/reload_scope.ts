/**
 * A reload planned for what it changed: the plan's inputs narrowed to the services of
 * the virtual servers the config diff names, so that a one-weight reload of a
 * 1,000-service table plans one service (one editDest), not 10,000 destinations twice.
 *
 * Narrowing is exact when the virtual servers outside the diff keep their services and
 * destinations: their config is the same and so are their verdicts, quorum and ramps
 * (the caller narrows only from a settled table: no drain, no ramp, nothing pending).
 * A change of the virtual server groups can move services between virtual servers, so
 * it is never narrowed.
 *
 * @module
 */

import type { VirtualServerConfig } from "../config/lvs_schema.ts";
import type { Config } from "../config/schema.ts";
import { type IpvsEntry, servicesOf } from "./desired.ts";
import { serviceKey } from "./plan.ts";
import { type ConfigPlanInputs, configServiceKeys } from "./plan_config.ts";

/**
 * The virtual servers of a reload's names, before and after, in config order.
 *
 * @example
 * ```ts
 * const lists: ScopedServers = { before: [oldWeb], next: [newWeb] };
 * ```
 */
export interface ScopedServers {
  readonly before: readonly VirtualServerConfig[];
  readonly next: readonly VirtualServerConfig[];
}

/**
 * `inputs` (planned with the new config) narrowed to the virtual servers in `names`,
 * before (`before`'s services of those names, for what they leave) and after; null when
 * the groups changed and the reload must be planned whole. `lists`: those virtual
 * servers when the caller has them already (else found here, a walk of every one).
 *
 * @example
 * ```ts
 * const narrowed = scopePlanInputs(inputs, oldConfig, new Set(["web"]));
 * const p = planConfig(narrowed ?? inputs);
 * ```
 */
export function scopePlanInputs(
  inputs: ConfigPlanInputs,
  before: Pick<Config, "virtualServers" | "virtualServerGroups">,
  names: ReadonlySet<string>,
  lists?: ScopedServers,
): ConfigPlanInputs | null {
  const next = inputs.config;
  const groups = before.virtualServerGroups;
  if (
    groups !== next.virtualServerGroups &&
    JSON.stringify(groups) !== JSON.stringify(next.virtualServerGroups)
  ) {
    return null;
  }
  const scoped = lists ?? {
    before: before.virtualServers.filter((vs) => names.has(vs.name)),
    next: next.virtualServers.filter((vs) => names.has(vs.name)),
  };
  const keys = configServiceKeys(scoped.next, groups);
  for (const k of configServiceKeys(scoped.before, groups)) keys.add(k);
  const inScope = (key: string) => keys.has(key.split("|", 1)[0]);
  // Only services on a port (or mark) in scope can be: no key built for the others.
  const ports = new Set<number>();
  const marks = new Set<number>();
  for (const vs of [...scoped.before, ...scoped.next]) {
    for (const s of servicesOf(vs, groups)) {
      (s.fwmark !== 0 ? marks : ports).add(s.fwmark || s.port);
    }
  }
  const maybe = (s: IpvsEntry["service"]) =>
    s.fwmark !== 0 ? marks.has(s.fwmark) : ports.has(s.port);
  return {
    ...inputs,
    config: { ...next, virtualServers: scoped.next },
    kernel: inputs.kernel.filter((e) => maybe(e.service) && keys.has(serviceKey(e.service))),
    owned: new Set([...keys].filter((k) => inputs.owned.has(k))),
    drains: new Map([...inputs.drains].filter(([k]) => inScope(k))),
  };
}
