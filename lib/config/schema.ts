/**
 * The validated configuration: every default filled in, every address canonical, every
 * duration in milliseconds. Nothing downstream re-validates or re-defaults; a `Config`
 * that exists is one the daemon can run. Values are deeply frozen at runtime too.
 *
 * TOML keys keep keepalived's names (`virtual_router_id`, `nopreempt`, ...); the fields
 * here are their camelCase meanings, with units last (`advertIntervalMs`).
 *
 * @module
 */

import type { CheckSpec } from "../check/types.ts";
import type { ChecksumMode, Family, VrrpVersion } from "../vrrp/types.ts";
import type { LvsOptions, VirtualServerConfig, VirtualServerGroupConfig } from "./lvs_schema.ts";
import type { LvsSyncDaemonConfig, RealServerRoleConfig } from "./lvs_roles.ts";
import type { RouteConfig, RuleConfig } from "./routes.ts";

export type { RouteConfig, RuleConfig } from "./routes.ts";

/** Address scope of a VIP as `ip addr add ... scope` takes it. */
export type VipScope = "global" | "site" | "link" | "host";

/**
 * One virtual address to hold while master.
 *
 * @example
 * ```ts
 * const vip: Vip = { address: "192.0.2.100", prefix: 24, dev: "eth0", label: null, scope: "global" };
 * ```
 */
export interface Vip {
  /** Canonical address text. */
  readonly address: string;
  readonly prefix: number;
  /** Interface to add it on; the instance's interface unless set. */
  readonly dev: string;
  /** IPv4 label (`eth0:web`), which must start with `dev`; always null for IPv6. */
  readonly label: string | null;
  readonly scope: VipScope;
}

/**
 * An instance's gratuitous ARP / unsolicited NA timing: keepalived's per-instance
 * `garp_master_*` and `garp_lower_prio_*`, each defaulting to the global
 * `vrrp_garp_*` setting.
 *
 * @example
 * ```ts
 * const g: GarpConfig = {
 *   masterDelayMs: 5000, masterRepeat: 5, masterRefreshMs: 0, masterRefreshRepeat: 1,
 *   lowerPrioDelayMs: 5000, lowerPrioRepeat: 5,
 * };
 * ```
 */
export interface GarpConfig {
  /** `garp_master_delay`: the burst on becoming master is repeated this long later (0 = not). */
  readonly masterDelayMs: number;
  /** `garp_master_repeat`: GARPs/NAs per address per burst. */
  readonly masterRepeat: number;
  /** `garp_master_refresh`: a burst every this long while master (0 = never). */
  readonly masterRefreshMs: number;
  readonly masterRefreshRepeat: number;
  /**
   * `garp_lower_prio_delay`: after a lower-priority advert reaches this master (another
   * router thinks it is master: its hosts may follow it), the burst is repeated this long later.
   */
  readonly lowerPrioDelayMs: number;
  /** `garp_lower_prio_repeat`: GARPs per burst on a lower-priority advert (0 = none). */
  readonly lowerPrioRepeat: number;
}

/**
 * A reference from an instance to a tracker, with an optional weight override.
 *
 * @example
 * ```ts
 * const ref: TrackRef = { name: "chk_nginx", weight: -20 };
 * ```
 */
export interface TrackRef {
  readonly name: string;
  /** null: use the tracker's own weight (or, for interfaces, go to Fault when down). */
  readonly weight: number | null;
}

/**
 * Commands run on state changes; null when not configured.
 *
 * @example
 * ```ts
 * const n: NotifyConfig = { master: "/etc/hacore/up", backup: null, fault: null, stop: null, generic: null };
 * ```
 */
export interface NotifyConfig {
  readonly master: string | null;
  readonly backup: string | null;
  readonly fault: string | null;
  readonly stop: string | null;
  /** keepalived's `notify`: called on every change with the new state as an argument. */
  readonly generic: string | null;
  /**
   * `smtp_alert` of this instance or group: mail on its transitions; null (or absent)
   * = `global.smtp_alert`.
   */
  readonly smtpAlert?: boolean | null;
  /**
   * `notify_master_rx_lower_pri` (instances only): run each time the master hears a
   * lower-priority advert, i.e. another router believes it is master.
   */
  readonly masterRxLowerPri?: string | null;
}

/**
 * Mail alerts (keepalived's `notification_email`, `smtp_server`, ...): where state
 * changes are mailed, for sites whose on-call reads mail rather than metrics.
 *
 * @example
 * ```ts
 * const m: MailConfig = { ...GLOBAL_DEFAULTS.mail, to: ["ops@example.com"], server: "192.0.2.25:25" };
 * ```
 */
export interface MailConfig {
  /** `notification_email`: recipients; empty = no mail. */
  readonly to: readonly string[];
  /** `notification_email_from`; null = `hacore@` and the host name, as keepalived does. */
  readonly from: string | null;
  /** `smtp_server` as `HOST:PORT` (`[V6]:PORT`); null = no mail. */
  readonly server: string | null;
  /** `smtp_helo_name`; null = the host name. */
  readonly heloName: string | null;
  /** `smtp_connect_timeout`: also bounds each reply of the dialogue. */
  readonly connectTimeoutMs: number;
  /**
   * `smtp_alert`: the default of instances, groups and virtual/real servers; null =
   * on when a server and recipients are configured (keepalived's default).
   */
  readonly alert: boolean | null;
}

/**
 * Whether mail can be sent at all: a server and at least one recipient. Without them no
 * mailer is made, no alert is wanted, and the mail modules are not even loaded.
 *
 * @example
 * ```ts
 * mailConfigured(GLOBAL_DEFAULTS.mail); // false
 * ```
 */
export function mailConfigured(mail: MailConfig): boolean {
  return mail.server !== null && mail.to.length > 0;
}

/**
 * VRRPv2 simple-text authentication (RFC 2338 type 1).
 *
 * @example
 * ```ts
 * const auth: AuthConfig = { type: "PASS", pass: "secret12" };
 * ```
 */
export interface AuthConfig {
  readonly type: "PASS";
  /** 1..8 bytes of UTF-8. */
  readonly pass: string;
}

/**
 * The `[global]` table.
 *
 * @example
 * ```ts
 * const g: GlobalConfig = GLOBAL_DEFAULTS;
 * g.vrrpVersion; // 2 unless the file says otherwise
 * ```
 */
export interface GlobalConfig {
  readonly routerId: string;
  /** Default `version` of instances that do not set one. */
  readonly vrrpVersion: VrrpVersion;
  readonly mcastGroup4: string;
  readonly mcastGroup6: string;
  /** After becoming master, repeat the GARP/NA burst after this long (0 = no repeat). */
  readonly garpMasterDelayMs: number;
  /** GARPs/NAs per burst. */
  readonly garpMasterRepeat: number;
  /** Re-announce periodically while master (0 = off). */
  readonly garpMasterRefreshMs: number;
  readonly garpMasterRefreshRepeat: number;
  /**
   * `vrrp_garp_lower_prio_delay`: after a lower-priority advert reaches a master, its
   * GARP burst is repeated this long later; null = `garpMasterDelayMs` (keepalived's).
   */
  readonly garpLowerPrioDelayMs: number | null;
  /**
   * `vrrp_garp_lower_prio_repeat`: GARPs per burst after a lower-priority advert; null =
   * 0, none: unlike keepalived (whose default is `garpMasterRepeat`), hacore announces
   * again once the rival master has gone quiet, which is when hosts can be won back.
   */
  readonly garpLowerPrioRepeat: number | null;
  /** Gap between GARPs of a burst. */
  readonly garpIntervalMs: number;
  /** Gap between unsolicited NAs of a burst. */
  readonly gnaIntervalMs: number;
  readonly checksum: ChecksumMode;
  /** See `vrrp_strict` in the validator: no auth, no unicast, no excluded addresses. */
  readonly strict: boolean;
  /**
   * Unix socket of `hacore status` and the operator verbs (root only, mode 0600); null =
   * one per config file under /run/hacore (`defaultControlSocket` of `lib/cli/pidfile.ts`),
   * so two daemons with different configs never share one.
   */
  readonly controlSocket: string | null;
  /** `HOST:PORT` (`[V6]:PORT`) of the Prometheus `/metrics` + `/healthz` listener; null = off. */
  readonly metricsListen: string | null;
  /** Path of a FIFO (or file) that receives every notify event as one line; null = off. */
  readonly notifyFifo: string | null;
  /** `notify_fifo_format`: "json" (one object per line) or "keepalived" (its text lines). */
  readonly notifyFifoFormat: "json" | "keepalived";
  /** A notify hook still running after this long is killed (and counted as failed). */
  readonly notifyTimeoutMs: number;
  /**
   * Run scripts that non-root users could change (writable by others, or under a
   * world-writable directory). Off by default: such a script is refused.
   */
  readonly allowInsecureScripts: boolean;
  /** `script_user`: the user `vrrp_script` checks run as when they name none; null = root. */
  readonly scriptUser: string | null;
  /** `pid_file`; null = one per config file under /run/hacore (`--pidfile` wins). */
  readonly pidFile: string | null;
  /**
   * `dynamic_interfaces`: an instance whose interface (or its address) is missing is
   * accepted and waits in FAULT until it appears, instead of stopping the start; it
   * goes back to FAULT when the interface is deleted and resumes when it is re-created.
   */
  readonly dynamicInterfaces: boolean;
  /**
   * `allow_if_changes` (with `dynamic_interfaces`): as in keepalived, an interface may be
   * re-created as another kind (a macvlan/ipvlan where it was none, or the reverse) or
   * over another link; without it such an interface is not used and its instances stay
   * in FAULT. (Moving an instance to another interface is a reload either way.)
   */
  readonly allowIfChanges: boolean;
  readonly mail: MailConfig;
}

/**
 * A `[vrrp_script.NAME]` health check: any check of `lib/check`, not only a script.
 *
 * @example
 * ```ts
 * const chk: ScriptConfig = {
 *   name: "chk_nginx",
 *   check: { kind: "tcp", target: { host: "127.0.0.1", port: 80 } },
 *   intervalMs: 2000,
 *   timeoutMs: 2000,
 *   weight: -20,
 *   rise: 2,
 *   fall: 2,
 *   initialUp: true,
 * };
 * ```
 */
export interface ScriptConfig {
  readonly name: string;
  readonly check: CheckSpec;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Added to priority while failing (negative) or passing (positive); 0 = fault when failing. */
  readonly weight: number;
  readonly rise: number;
  readonly fall: number;
  /** The state before the first result; keepalived's `init_fail` is `initialUp: false`. */
  readonly initialUp: boolean;
}

/**
 * A `[vrrp_track_file.NAME]` tracker: the number in the file, times `weight`, adjusts priority.
 *
 * @example
 * ```ts
 * const maint: TrackFileConfig = { name: "maint", file: "/etc/hacore/maint", weight: 1 };
 * ```
 */
export interface TrackFileConfig {
  readonly name: string;
  /** Absolute path. */
  readonly file: string;
  readonly weight: number;
}

/**
 * A `[vrrp_track_process.NAME]` tracker: healthy while at least `quorum` processes run.
 *
 * @example
 * ```ts
 * const nginx: TrackProcessConfig = { name: "nginx", process: "nginx", quorum: 1, weight: 0, fullCommand: false };
 * ```
 */
export interface TrackProcessConfig {
  readonly name: string;
  readonly process: string;
  readonly quorum: number;
  readonly weight: number;
  /** Match the whole command line rather than the process name. */
  readonly fullCommand: boolean;
}

/**
 * A `[vrrp_instance.NAME]`: one virtual router on one interface.
 *
 * @example
 * ```ts
 * const label = (vi: InstanceConfig) => `${vi.name} (vrid ${vi.vrid} on ${vi.interface})`;
 * ```
 */
export interface InstanceConfig {
  readonly name: string;
  readonly interface: string;
  readonly vrid: number;
  readonly priority: number;
  readonly version: VrrpVersion;
  /** Family of the advertised VIPs. */
  readonly family: Family;
  readonly advertIntervalMs: number;
  readonly initialState: "master" | "backup";
  /** `!nopreempt`. */
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  readonly accept: boolean;
  /** Keep VIPs after the priority-0 advert: "auto" (skew + one interval) or ms. */
  readonly releaseHold: "auto" | number;
  /** `unicast_src_ip` / `mcast_src_ip`, canonical; null = the interface's primary address. */
  readonly srcIp: string | null;
  /** Canonical; empty = multicast. */
  readonly unicastPeers: readonly string[];
  /**
   * `allowed_peers`: in multicast mode, the only sources whose adverts are heard
   * (canonical); empty = anyone on the link, as keepalived does. `unicast_peer` is
   * the same filter for unicast.
   */
  readonly allowedPeers: readonly string[];
  /**
   * `pin_peer_mac`: remember the MAC each peer address first advertised from, and
   * refuse (count and report) an advert that claims that address from another MAC.
   * Off by default, as keepalived does not; a peer whose NIC is replaced is learned
   * again after a restart.
   */
  readonly pinPeerMac: boolean;
  /**
   * `track_src_ip`: the instance is in FAULT while its advert source address
   * (`unicast_src_ip`, or the interface's address it started with) is gone from its
   * interface, as keepalived does: adverts from an address the host no longer has
   * would be dropped or misrouted.
   */
  readonly trackSrcIp: boolean;
  /**
   * `unicast_ttl`: the IPv4 TTL of unicast adverts (255, the RFC's, unless set), for
   * peers routers apart. As keepalived, unicast instances do not check the TTL of what
   * they receive.
   */
  readonly unicastTtl: number;
  readonly auth: AuthConfig | null;
  /** Advertised VIPs, in configured (wire) order. */
  readonly vips: readonly Vip[];
  /** Held with the VIPs but not advertised; may be of either family. */
  readonly excludedVips: readonly Vip[];
  /** GARP/NA timing (`garp_master_*`, `garp_lower_prio_*`, else the global ones). */
  readonly garp: GarpConfig;
  /** `virtual_routes`: held while Master, like the VIPs (the IPv4 half of a dual stack). */
  readonly virtualRoutes: readonly RouteConfig[];
  /** `virtual_rules`: held while Master, like the VIPs. */
  readonly virtualRules: readonly RuleConfig[];
  readonly trackScripts: readonly TrackRef[];
  readonly trackInterfaces: readonly TrackRef[];
  readonly trackFiles: readonly TrackRef[];
  readonly trackProcesses: readonly TrackRef[];
  readonly notify: NotifyConfig;
  /** Name of the sync group this instance belongs to, if any. */
  readonly syncGroup: string | null;
  /**
   * `use_vmac`: the name of a macvlan (MAC 00:00:5e:00:01:VRID, :02: for IPv6) on
   * `interface` that holds the VIPs and sources the adverts; null = no virtual MAC.
   */
  readonly vmac: string | null;
  /**
   * `vmac_xmit_base`: with `use_vmac`, adverts go out of `interface` itself (its own
   * MAC) rather than the macvlan; the VIPs stay on the macvlan. For switches that must
   * not see the virtual MAC move with every advert.
   */
  readonly vmacXmitBase: boolean;
  /**
   * For the two halves of a dual-stack instance (IPv4 and IPv6 VIPs in one table): the
   * name written in the file. The IPv4 half keeps that name, the IPv6 half is
   * `NAME@v6`; both share every other setting and move together. null otherwise.
   */
  readonly dualStackOf: string | null;
}

/**
 * A `[vrrp_sync_group.NAME]`: instances that change state together.
 *
 * @example
 * ```ts
 * const members = (g: SyncGroupConfig) => g.instances.join(", "); // "VI_1, VI_2"
 * ```
 */
export interface SyncGroupConfig {
  readonly name: string;
  readonly instances: readonly string[];
  readonly notify: NotifyConfig;
  /**
   * Trackers on the group: any failing one puts every member in FAULT (weights do not
   * apply to a group, as in keepalived).
   */
  readonly trackScripts: readonly TrackRef[];
  readonly trackInterfaces: readonly TrackRef[];
  readonly trackFiles: readonly TrackRef[];
  readonly trackProcesses: readonly TrackRef[];
  /**
   * keepalived's `sync_group_tracking_weight`: members' weighted trackers move their
   * priority as usual. Off by default, where a member's failing tracker puts it (and so
   * the group) in FAULT whatever its weight: one member's lower priority alone would
   * never move a group whose other members still defer to the same master.
   */
  readonly trackingWeight: boolean;
  /**
   * Made by hacore for a dual-stack instance outside any group (named like the
   * instance), so its halves move together; it runs no group notify hooks.
   */
  readonly implicit: boolean;
}

/**
 * A whole validated config file. Arrays keep file order.
 *
 * @example
 * ```ts
 * const names = (config: Config) => config.instances.map((vi) => vi.name);
 * ```
 */
export interface Config {
  readonly file: string;
  readonly global: GlobalConfig;
  readonly instances: readonly InstanceConfig[];
  readonly syncGroups: readonly SyncGroupConfig[];
  readonly scripts: readonly ScriptConfig[];
  readonly trackFiles: readonly TrackFileConfig[];
  readonly trackProcesses: readonly TrackProcessConfig[];
  /** `[virtual_server.*]`: empty for a VRRP-only config. */
  readonly virtualServers: readonly VirtualServerConfig[];
  readonly virtualServerGroups: readonly VirtualServerGroupConfig[];
  /** `[global.lvs_sync_daemon]`: connection sync between directors; null = off. */
  readonly lvsSyncDaemon: LvsSyncDaemonConfig | null;
  /** `[real_server_role]`: the LVS-DR real server's VIPs on `lo` and ARP sysctls; null = off. */
  readonly realServerRole: RealServerRoleConfig | null;
  /** `[lvs]`: keep the table at stop, drain deadline, maintenance directory. */
  readonly lvs: LvsOptions;
  /** `static_ipaddress`: held for the daemon's lifetime, whatever the VRRP states. */
  readonly staticAddresses: readonly Vip[];
  /** `static_routes`: held for the daemon's lifetime. */
  readonly staticRoutes: readonly RouteConfig[];
  /** `static_rules`: held for the daemon's lifetime. */
  readonly staticRules: readonly RuleConfig[];
}

/** Defaults of `[global]`, in keepalived's spirit. */
export const GLOBAL_DEFAULTS: GlobalConfig = Object.freeze({
  routerId: "hacore",
  vrrpVersion: 2,
  mcastGroup4: "224.0.0.18",
  mcastGroup6: "ff02::12",
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
  garpMasterRefreshMs: 0,
  garpMasterRefreshRepeat: 1,
  garpLowerPrioDelayMs: null,
  garpLowerPrioRepeat: null,
  garpIntervalMs: 0,
  gnaIntervalMs: 0,
  checksum: "auto",
  strict: false,
  controlSocket: null,
  metricsListen: null,
  notifyFifo: null,
  notifyFifoFormat: "json",
  notifyTimeoutMs: 10_000,
  allowInsecureScripts: false,
  scriptUser: null,
  pidFile: null,
  dynamicInterfaces: false,
  allowIfChanges: false,
  mail: Object.freeze({
    to: Object.freeze([]) as readonly string[],
    from: null,
    server: null,
    heloName: null,
    connectTimeoutMs: 30_000,
    alert: null,
  }),
});
