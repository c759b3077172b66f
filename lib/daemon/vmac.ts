/**
 * Virtual MAC (`use_vmac`), the pure half: which macvlan each instance needs, with which
 * MAC, and which interface its adverts leave from. The OS half is `lib/sys/vmac.ts`.
 *
 * RFC 5798 §7.3: the virtual router MAC is 00-00-5E-00-01-{VRID} for IPv4 and
 * 00-00-5E-00-02-{VRID} for IPv6, and the master sends its adverts (and answers ARP /
 * ND for the VIPs) from it, so switches and hosts never have to relearn the gateway's
 * MAC on failover. The VIPs live on the macvlan (the config puts them there).
 *
 * @module
 */

import type { InstanceConfig } from "../config/schema.ts";
import type { Family } from "../net/addr.ts";
import type { VmacSpec } from "./ports.ts";

/**
 * The virtual router MAC of a VRID and family (RFC 5798 §7.3), lowercase.
 *
 * @example
 * ```ts
 * vmacAddress(51, "ipv4"); // "00:00:5e:00:01:33"
 * vmacAddress(51, "ipv6"); // "00:00:5e:00:02:33"
 * ```
 * @throws {RangeError} for a VRID outside 1-255.
 */
export function vmacAddress(vrid: number, family: Family): string {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) {
    throw new RangeError(`VRID ${vrid} is outside 1-255`);
  }
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `00:00:5e:00:${family === "ipv4" ? "01" : "02"}:${hex(vrid)}`;
}

/**
 * The macvlan an instance needs, or null without `use_vmac`.
 *
 * @example
 * ```ts
 * vmacSpecOf(instance); // { name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false }
 * ```
 */
export function vmacSpecOf(cfg: InstanceConfig): VmacSpec | null {
  if (cfg.vmac === null) return null;
  const name = cfg.vmac;
  const onIt = [...cfg.vips, ...cfg.excludedVips].filter((v) => v.dev === name);
  return {
    name,
    parent: cfg.interface,
    mac: vmacAddress(cfg.vrid, cfg.family),
    ipv6: cfg.family === "ipv6" || onIt.some((v) => v.address.includes(":")),
  };
}

/**
 * The interface an instance's adverts leave from when it is not its own `interface`:
 * its macvlan, for multicast adverts. Unicast adverts stay on the interface (what
 * keepalived requires with `vmac_xmit_base`): a unicast peer must be resolved with ARP
 * or ND first, and doing that from the macvlan would have a Backup announce the
 * virtual MAC as its own.
 *
 * @example
 * ```ts
 * advertVia(instance); // "vrrp.51", or undefined
 * ```
 */
export function advertVia(cfg: InstanceConfig): string | undefined {
  return cfg.vmac !== null && !cfg.vmacXmitBase && cfg.unicastPeers.length === 0
    ? cfg.vmac
    : undefined;
}

/**
 * Every macvlan the instances need, by name, with the instances that use it; and, for a
 * name two instances want with different settings, a line saying so (one macvlan has
 * one MAC: the IPv4 and IPv6 halves of a virtual router need one each).
 *
 * @example
 * ```ts
 * const { vmacs, conflicts } = wantedVmacs(config.instances);
 * for (const [name, { spec, users }] of vmacs) await port.ensure(spec);
 * ```
 */
export function wantedVmacs(cfgs: readonly InstanceConfig[]): {
  vmacs: Map<string, { spec: VmacSpec; users: string[] }>;
  conflicts: string[];
} {
  const vmacs = new Map<string, { spec: VmacSpec; users: string[] }>();
  const conflicts: string[] = [];
  for (const cfg of cfgs) {
    const spec = vmacSpecOf(cfg);
    if (spec === null) continue;
    const seen = vmacs.get(spec.name);
    if (seen === undefined) {
      vmacs.set(spec.name, { spec, users: [cfg.name] });
    } else if (seen.spec.parent !== spec.parent || seen.spec.mac !== spec.mac) {
      conflicts.push(
        `${cfg.name}: use_vmac ${spec.name} (MAC ${spec.mac} on ${spec.parent}) is also ${
          seen.users.join(", ")
        }'s macvlan (MAC ${seen.spec.mac} on ${seen.spec.parent}); give each its own name`,
      );
    } else {
      seen.users.push(cfg.name);
      if (spec.ipv6 && !seen.spec.ipv6) seen.spec = { ...seen.spec, ipv6: true };
    }
  }
  return { vmacs, conflicts };
}
