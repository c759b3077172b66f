/**
 * Engine inputs for tests of the pure core: a `RouterConfig` (one IPv4 router, VRID 1,
 * priority 100, VRRPv3 at 1 s, preempting, with whatever the test overrides) and a
 * received VRRPv3 advert.
 *
 * @module
 */
import type { Advert, RouterConfig } from "../../lib/vrrp/types.ts";

/**
 * The test router's config, with `over` applied.
 *
 * @example
 * ```ts
 * const rc = routerConfig({ version: 2, authType: 1, authPass: "secret" });
 * ```
 */
export function routerConfig(over: Partial<RouterConfig> = {}): RouterConfig {
  return {
    name: "vi1",
    vrid: 1,
    version: 3,
    family: "ipv4",
    priority: 100,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    addresses: ["192.0.2.100"],
    primaryIp: "10.0.0.1",
    unicastPeers: [],
    authType: 0,
    authPass: "",
    initialState: "backup",
    releaseHoldMs: 0,
    ...over,
  };
}

/**
 * A decoded VRRPv3 advert for VRID `vrid`, carrying the VIP `192.0.2.VRID`.
 *
 * @example
 * ```ts
 * stepNode(node, { type: "advert", family: "ipv4", advert: engineAdvert(1, 200), src: "10.0.0.2" }, 0);
 * ```
 */
export function engineAdvert(vrid: number, priority: number, intervalMs = 1000): Advert {
  return {
    version: 3,
    vrid,
    priority,
    intervalMs,
    addresses: [`192.0.2.${vrid}`],
    authType: 0,
    authData: new Uint8Array(0),
    checksum: 0,
  };
}
