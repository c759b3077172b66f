/**
 * What a config names that this host lacks: `hacore check` warns (a config is often
 * checked on another machine than the one it runs on), `hacore run` refuses, naming the
 * interface, rather than failing later with "no ipv4 address on eth9".
 *
 * @module
 */

import type { Config } from "../config/mod.ts";

/**
 * One interface the config needs that does not exist, and where the config names it.
 *
 * @example
 * ```ts
 * const m: MissingInterface = { path: "vrrp_instance.VI_1.interface", name: "eth9" };
 * ```
 */
export interface MissingInterface {
  readonly path: string;
  readonly name: string;
}

/**
 * The interfaces of instances and of their VIPs that `exists` denies, in config order,
 * each once. A VIP on the instance's own virtual MAC is skipped: hacore makes it.
 *
 * @example
 * ```ts
 * missingInterfaces(config, (name) => name === "eth0");
 * // [{ path: "vrrp_instance.VI_2.interface", name: "eth9" }]
 * ```
 */
export function missingInterfaces(
  config: Config,
  exists: (name: string) => boolean,
): MissingInterface[] {
  const out: MissingInterface[] = [];
  const seen = new Set<string>();
  const need = (path: string, name: string) => {
    if (seen.has(name) || exists(name)) return;
    seen.add(name);
    out.push({ path, name });
  };
  for (const vi of config.instances) {
    // The IPv6 half of a dual-stack instance is the same table in the file.
    const name = vi.dualStackOf ?? vi.name;
    need(`vrrp_instance.${name}.interface`, vi.interface);
    for (const v of [...vi.vips, ...vi.excludedVips]) {
      if (v.dev === vi.vmac) continue;
      need(`vrrp_instance.${name}.virtual_ipaddress (${v.address} dev ${v.dev})`, v.dev);
    }
  }
  return out;
}

/**
 * True when the network interface exists in this namespace (`/sys/class/net/NAME`).
 *
 * @example
 * ```ts
 * interfaceExists("lo"); // true
 * ```
 */
export function interfaceExists(name: string): boolean {
  try {
    Deno.statSync(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The line a person reads about one missing interface.
 *
 * @example
 * ```ts
 * describeMissing({ path: "vrrp_instance.VI_1.interface", name: "eth9" });
 * // 'vrrp_instance.VI_1.interface: interface "eth9" does not exist on this host'
 * ```
 */
export function describeMissing(m: MissingInterface): string {
  return `${m.path}: interface "${m.name}" does not exist on this host`;
}

/**
 * The note `hacore check` gives about a missing interface under `dynamic_interfaces`:
 * `hacore run` accepts it and its instances wait in FAULT until it appears.
 *
 * @example
 * ```ts
 * describeWaited({ path: "vrrp_instance.VI_1.interface", name: "eth9" });
 * // 'vrrp_instance.VI_1.interface: interface "eth9" does not exist on this host yet; ...'
 * ```
 */
export function describeWaited(m: MissingInterface): string {
  return `${m.path}: interface "${m.name}" does not exist on this host yet; with dynamic_interfaces its instances wait in FAULT until it appears`;
}
