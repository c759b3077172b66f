/**
 * From a validated instance to what the engine and the operator need: the engine's
 * `RouterConfig`, and a one-line summary for `hacore check` and logs.
 *
 * @module
 */

import type { RouterConfig } from "../vrrp/types.ts";
import type { InstanceConfig, ScriptConfig } from "./schema.ts";

/**
 * The release hold that "auto" stands for: Skew_Time plus one advert interval, i.e.
 * long enough for the best backup's Master_Down_Interval after a priority-0 advert
 * (RFC 5798 §6.4.2), so the VIPs are never unheld while nobody holds them.
 *
 * @example
 * ```ts
 * autoReleaseHoldMs(100, 1000); // 1609.375
 * ```
 */
export function autoReleaseHoldMs(priority: number, intervalMs: number): number {
  return ((256 - priority) * intervalMs) / 256 + intervalMs;
}

/**
 * Builds the engine's view of an instance. `primaryIp` is the interface's primary
 * address, used when the config sets no source address.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./mod.ts";
 * const r = parseConfig(`
 * [vrrp_instance.VI_1]
 * interface = "eth0"
 * virtual_router_id = 51
 * priority = 150
 * virtual_ipaddress = ["192.0.2.100/24"]
 * `, "a.toml");
 * if (!r.ok) throw new Error("invalid");
 * const vi = r.config.instances[0];
 * const rc = toRouterConfig(vi, "192.0.2.1");
 * rc.advertIntervalMs; // 1000 for advert_int = 1
 * ```
 */
export function toRouterConfig(instance: InstanceConfig, primaryIp: string): RouterConfig {
  const i = instance;
  return {
    name: i.name,
    vrid: i.vrid,
    version: i.version,
    family: i.family,
    priority: i.priority,
    advertIntervalMs: i.advertIntervalMs,
    preempt: i.preempt,
    preemptDelayMs: i.preemptDelayMs,
    addresses: i.vips.map((v) => v.address),
    primaryIp: i.srcIp ?? primaryIp,
    unicastPeers: [...i.unicastPeers],
    authType: i.auth === null ? 0 : 1,
    authPass: i.auth?.pass ?? "",
    initialState: i.initialState,
    releaseHoldMs: i.releaseHold === "auto"
      ? autoReleaseHoldMs(i.priority, i.advertIntervalMs)
      : i.releaseHold,
  };
}

/**
 * Formats a duration in ms the way a person writes it: `10ms`, `1s`, `1.5s`.
 *
 * @example
 * ```ts
 * formatMs(10); // "10ms"
 * formatMs(1500); // "1.5s"
 * ```
 */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

const MAX_LISTED_VIPS = 3;

/**
 * One line describing an instance, for `hacore check` and startup logs.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./mod.ts";
 * const r = parseConfig(`
 * [vrrp_instance.VI_1]
 * interface = "eth0"
 * virtual_router_id = 51
 * priority = 150
 * virtual_ipaddress = ["192.0.2.100/24"]
 * `, "a.toml");
 * if (!r.ok) throw new Error("invalid");
 * const vi = r.config.instances[0];
 * summarizeInstance(vi);
 * // "VI_1: eth0 vrid 51 v2 ipv4 prio 150 adv 1s preempt, 1 VIP (192.0.2.100/24), multicast"
 * ```
 */
export function summarizeInstance(i: InstanceConfig): string {
  const preempt = !i.preempt
    ? "nopreempt"
    : i.preemptDelayMs > 0
    ? `preempt after ${formatMs(i.preemptDelayMs)}`
    : "preempt";
  const listed = i.vips.slice(0, MAX_LISTED_VIPS).map((v) => `${v.address}/${v.prefix}`);
  if (i.vips.length > MAX_LISTED_VIPS) listed.push(`+${i.vips.length - MAX_LISTED_VIPS} more`);
  const vips = `${i.vips.length} VIP${i.vips.length === 1 ? "" : "s"} (${listed.join(", ")})`;
  const transport = i.unicastPeers.length === 0
    ? "multicast"
    : `unicast to ${i.unicastPeers.join(", ")}`;
  const extras: string[] = [];
  if (i.priority === 255) extras.push("address owner");
  if (i.auth !== null) extras.push("auth PASS");
  if (i.allowedPeers.length > 0) extras.push(`peers ${i.allowedPeers.join(", ")} only`);
  if (i.pinPeerMac) extras.push("peer MACs pinned");
  if (i.syncGroup !== null) extras.push(`sync group ${i.syncGroup}`);
  if (i.vmac !== null) extras.push(`vmac ${i.vmac}`);
  const tracked = [
    ...i.trackScripts.map((t) => `script ${t.name}`),
    ...i.trackInterfaces.map((t) => `interface ${t.name}`),
    ...i.trackFiles.map((t) => `file ${t.name}`),
    ...i.trackProcesses.map((t) => `process ${t.name}`),
  ];
  if (tracked.length > 0) extras.push(`tracks ${tracked.join(", ")}`);
  return [
    `${i.name}: ${i.interface} vrid ${i.vrid} v${i.version} ${i.family} prio ${i.priority} adv ${
      formatMs(i.advertIntervalMs)
    } ${preempt}`,
    vips,
    transport,
    ...extras,
  ].join(", ");
}

/**
 * One line per `[vrrp_script.*]`: its kind, target, pacing and weight.
 *
 * @example
 * ```ts
 * // "web: tcp 127.0.0.1:80 every 1s (timeout 1s), fall 2 rise 2, weight -30"
 * ```
 */
export function summarizeScript(s: ScriptConfig): string {
  const c = s.check;
  const ep = (e: { host: string; port: number }) =>
    e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
  const what = c.kind === "tcp"
    ? `tcp ${ep(c.target)}`
    : c.kind === "http"
    ? `${c.tls ? "https" : "http"} GET ${ep(c.target)}${c.path}`
    : c.kind === "dns"
    ? `dns ${c.type} ${c.name} at ${ep(c.server)}`
    : c.kind === "icmp"
    ? `icmp echo ${c.host}`
    : c.kind === "smtp"
    ? `smtp ${ep(c.target)}`
    : c.kind === "udp"
    ? `udp ${ep(c.target)}`
    : c.kind === "file"
    ? `file ${c.path}`
    : `script ${c.command}${c.user === null ? "" : ` as ${c.user}`}${
      c.dynamic ? " (dynamic weight)" : ""
    }`;
  const weight = s.weight === 0 ? "fault when down" : `weight ${s.weight}`;
  return `${s.name}: ${what} every ${formatMs(s.intervalMs)} (timeout ${
    formatMs(s.timeoutMs)
  }), fall ${s.fall} rise ${s.rise}, ${weight}${s.initialUp ? "" : ", starts down"}`;
}
