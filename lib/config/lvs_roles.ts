/**
 * The two LVS roles beside the virtual servers: the director's connection sync
 * (`[global.lvs_sync_daemon]`, keepalived's `lvs_sync_daemon` in global_defs) and the
 * DR real server's side (`[real_server_role]`: VIPs on `lo` and the ARP sysctls that
 * keep the node from answering for them).
 *
 * @module
 */

import type { Family } from "../net/addr.ts";
import {
  type Ctx,
  ifname,
  int,
  isTable,
  multicastGroup,
  type RawTable,
  TableReader,
  text,
  unicastIp,
} from "./fields.ts";
import { describeValue } from "./errors.ts";
import { unknownReference } from "./sections.ts";

/**
 * `[global.lvs_sync_daemon]`: the kernel's IPVS sync daemon, run as master on the
 * director whose VRRP instance is master and as backup elsewhere, so a backup director
 * holds the master's connections when it takes over.
 *
 * @example
 * ```ts
 * const s: LvsSyncDaemonConfig = {
 *   interface: "eth0", instance: "VI_web", syncId: 5, maxLen: null, port: null, ttl: null, group: null,
 * };
 * ```
 */
export interface LvsSyncDaemonConfig {
  /** The interface the sync messages go out of and come in on. */
  readonly interface: string;
  /** The VRRP instance whose state decides master or backup. */
  readonly instance: string;
  /** Tells this cluster's sync messages from another's on the same link (0..255). */
  readonly syncId: number;
  /** Largest sync message (bytes); null leaves the kernel's default (the MTU's). */
  readonly maxLen: number | null;
  /** UDP port; null leaves the kernel's default (8848). */
  readonly port: number | null;
  /** Multicast TTL; null leaves the kernel's default (1). */
  readonly ttl: number | null;
  /** Multicast group; null leaves the kernel's default (224.0.0.81 / ff02::8848). */
  readonly group: string | null;
}

/**
 * One VIP the real-server role holds on `lo`: a host route (/32 or /128), never a
 * subnet, so the node accepts the VIP's packets without owning its neighbours.
 */
export interface RealServerVip {
  readonly address: string;
  readonly family: Family;
  /** 32 for IPv4, 128 for IPv6. */
  readonly prefix: number;
}

/**
 * `[real_server_role]`: what an LVS-DR (or TUN) real server needs, held by hacore and
 * undone at stop instead of a shell script nobody reverts.
 *
 * @example
 * ```ts
 * const r: RealServerRoleConfig = {
 *   vips: [{ address: "192.0.2.100", family: "ipv4", prefix: 32 }],
 *   interface: "lo", arpIgnore: 1, arpAnnounce: 2,
 * };
 * ```
 */
export interface RealServerRoleConfig {
  readonly vips: readonly RealServerVip[];
  /** Where the VIPs go: `lo` by default (a dummy interface works too). */
  readonly interface: string;
  /** `arp_ignore` on `lo` and `all`: 1 answers ARP only for addresses of the asked interface. */
  readonly arpIgnore: number;
  /** `arp_announce` on `lo` and `all`: 2 never sources ARP from a VIP on another interface. */
  readonly arpAnnounce: number;
}

const SYNC_KEYS = ["interface", "instance", "sync_id", "maxlen", "port", "ttl", "group"] as const;
const ROLE_KEYS = ["vips", "interface", "arp_ignore", "arp_announce"] as const;

/**
 * Reads `[global.lvs_sync_daemon]` (null when absent); `instances` are the VRRP
 * instance names the config defines.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readLvsSyncDaemon(ctx, { interface: "eth0", instance: "VI_1" }, new Set(["VI_1"]))?.syncId; // 0
 * ```
 */
export function readLvsSyncDaemon(
  ctx: Ctx,
  raw: unknown,
  instances: ReadonlySet<string>,
): LvsSyncDaemonConfig | null {
  if (raw === undefined) return null;
  const path = ["global", "lvs_sync_daemon"];
  if (!isTable(raw)) {
    ctx.error(path, `expected a [global.lvs_sync_daemon] table, got ${describeValue(raw)}`);
    return null;
  }
  const r = new TableReader(ctx, raw, path, SYNC_KEYS);
  const iface = r.req("interface", ifname, 'an interface name, e.g. "eth0"') ?? "";
  const instance = r.req("instance", text("a VRRP instance name"), 'a VRRP instance, e.g. "VI_1"');
  if (instance !== undefined && !instances.has(instance)) {
    r.fail("instance", unknownReference("vrrp_instance", instance, instances));
  }
  const group = r.opt("group", (v) => {
    const p = unicastIp(v);
    // A group of either family; the parser of the matching family says what is wrong.
    if (p.ok) return multicastGroup(p.value.family)(v);
    const v4 = multicastGroup("ipv4")(v);
    return v4.ok ? v4 : multicastGroup("ipv6")(v);
  });
  return {
    interface: iface,
    instance: instance ?? "",
    syncId: r.opt("sync_id", int(0, 255)) ?? 0,
    maxLen: r.opt("maxlen", int(1, 65507)) ?? null,
    port: r.opt("port", int(1, 65535)) ?? null,
    ttl: r.opt("ttl", int(1, 255)) ?? null,
    group: group ?? null,
  };
}

/**
 * Reads `[real_server_role]` (null when absent).
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readRealServerRole(ctx, { vips: ["192.0.2.100"] })?.vips[0].prefix; // 32
 * ```
 */
export function readRealServerRole(ctx: Ctx, raw: unknown): RealServerRoleConfig | null {
  if (raw === undefined) return null;
  const path = ["real_server_role"];
  if (!isTable(raw)) {
    ctx.error(path, `expected a [real_server_role] table, got ${describeValue(raw)}`);
    return null;
  }
  const r = new TableReader(ctx, raw as RawTable, path, ROLE_KEYS);
  const vips = r.list("vips", (v, at) => {
    const p = unicastIp(v);
    if (!p.ok) {
      ctx.error(at, p.message);
      return undefined;
    }
    const { address, family } = p.value;
    return { address, family, prefix: family === "ipv4" ? 32 : 128 };
  }, 'a list of VIPs, e.g. ["192.0.2.100"]');
  if (!r.has("vips")) {
    r.fail("vips", 'missing required key "vips": expected a list of VIPs, e.g. ["192.0.2.100"]');
  }
  const seen = new Set<string>();
  const unique = (vips ?? []).filter((v) => !seen.has(v.address) && seen.add(v.address));
  return {
    vips: unique,
    interface: r.opt("interface", ifname) ?? "lo",
    arpIgnore: r.opt("arp_ignore", int(0, 8)) ?? 1,
    arpAnnounce: r.opt("arp_announce", int(0, 2)) ?? 2,
  };
}
