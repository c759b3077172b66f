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

import type { Config } from "../config/schema.ts";
import { serviceKey } from "./plan.ts";
import { type ConfigPlanInputs, configServiceKeys } from "./plan_config.ts";

/**
 * `inputs` (planned with the new config) narrowed to the virtual servers in `names`,
 * before (`before`'s services of those names, for what they leave) and after; null when
 * the groups changed and the reload must be planned whole.
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
): ConfigPlanInputs | null {
  const next = inputs.config;
  if (JSON.stringify(before.virtualServerGroups) !== JSON.stringify(next.virtualServerGroups)) {
    return null;
  }
  const keys = configServiceKeys(next.virtualServers, next.virtualServerGroups, names);
  for (const k of configServiceKeys(before.virtualServers, before.virtualServerGroups, names)) {
    keys.add(k);
  }
  const inScope = (key: string) => keys.has(key.split("|", 1)[0]);
  return {
    ...inputs,
    config: {
      ...next,
      virtualServers: next.virtualServers.filter((vs) => names.has(vs.name)),
    },
    kernel: inputs.kernel.filter((e) => keys.has(serviceKey(e.service))),
    owned: new Set([...inputs.owned].filter((k) => keys.has(k))),
    drains: new Map([...inputs.drains].filter(([k]) => inScope(k))),
  };
}
