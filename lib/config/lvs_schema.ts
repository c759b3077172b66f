/**
 * The validated shape of the LVS half of a config: `[virtual_server.NAME]` tables with
 * their real servers and checks, and `[virtual_server_group.NAME]`. Like the rest of
 * `Config`: every default filled in, addresses canonical, durations in milliseconds.
 *
 * @module
 */

import type { CheckSpec } from "../check/types.ts";
import type { Family } from "../net/addr.ts";

/** IPVS schedulers the kernel ships (`ip_vs_<name>.ko`). */
export const LVS_SCHEDULERS = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
  "twos",
] as const;
/** One IPVS scheduler name. */
export type LvsScheduler = typeof LVS_SCHEDULERS[number];

/** Forwarding method, keepalived's `lb_kind`: NAT (masquerade), direct routing, tunnel. */
export type LvsMethod = "NAT" | "DR" | "TUN";

/** Transport protocol of an address-based virtual server. */
export type LvsProtocol = "tcp" | "udp" | "sctp";

/** Tunnel encapsulation of a `TUN` real server (kernel 5.7+ for GUE/GRE). */
export interface LvsTunnel {
  readonly type: "ipip" | "gue" | "gre";
  /** GUE destination port; 0 for the others. */
  readonly port: number;
  /** Outer checksum: none, checksum, or remote checksum offload. */
  readonly checksum: "none" | "csum" | "remcsum";
}

/**
 * One health check of a real server. The target defaults to the real server's address
 * and port; pacing comes from the check, else from its virtual server.
 */
export interface RealServerCheck {
  readonly check: CheckSpec;
  /** keepalived's `delay_loop`: time between two checks while up. */
  readonly intervalMs: number;
  /** `connect_timeout`. */
  readonly timeoutMs: number;
  /** `retry` (`nb_get_retry`): failures in a row before the server is down. */
  readonly retry: number;
  /** `delay_before_retry`: time between a failure and its retry. */
  readonly delayBeforeRetryMs: number;
  /** `warmup`: first check after a random delay up to this long (0 = at once). */
  readonly warmupMs: number;
}

/**
 * A `[[virtual_server.NAME.real_server]]`.
 *
 * @example
 * ```ts
 * const up = (rs: RealServerConfig) => `${rs.address}:${rs.port} weight ${rs.weight}`;
 * ```
 */
export interface RealServerConfig {
  /**
   * Stable identity for health verdicts and logs: `VS/ADDRESS:PORT` (`VS/[V6]:PORT`),
   * unchanged by a reload that keeps the server.
   */
  readonly id: string;
  readonly address: string;
  readonly family: Family;
  readonly port: number;
  readonly weight: number;
  readonly method: LvsMethod;
  /** Set when `method` is TUN. */
  readonly tunnel: LvsTunnel | null;
  /** A failed server stays in the table with weight 0 instead of being removed. */
  readonly inhibitOnFailure: boolean;
  /** Connection thresholds (0 = none). */
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly notifyUp: string | null;
  /** `smtp_alert`: mail when it goes up or down; null = the virtual server's. */
  readonly smtpAlert?: boolean | null;
  readonly notifyDown: string | null;
  /** All must pass for the server to be up; none = always up. */
  readonly checks: readonly RealServerCheck[];
  /**
   * `slow_start`: after its checks recover, the weight ramps from 1 to `weight` over this
   * long (0 = at once), so a cold server is not handed its full share in one step.
   */
  readonly slowStartMs: number;
}

/** The `sorry_server` of a virtual server: used while quorum is lost. */
export interface SorryServerConfig {
  readonly address: string;
  readonly port: number;
  readonly method: LvsMethod;
  readonly tunnel: LvsTunnel | null;
  /** `sorry_server_inhibit`: kept with weight 0 while not in use instead of removed. */
  readonly inhibit: boolean;
}

/** What a virtual server listens on: an address and port, a firewall mark, or a group. */
export type VirtualServerTarget =
  | { readonly kind: "address"; readonly address: string; readonly port: number }
  | { readonly kind: "fwmark"; readonly fwmark: number }
  | { readonly kind: "group"; readonly group: string };

/** Persistence (`persistence_timeout` and friends); null on a virtual server = none. */
export interface LvsPersistence {
  readonly timeoutS: number;
  /** `persistence_granularity` as a prefix length; 32 / 128 = per client address. */
  readonly granularityPrefix: number;
  readonly engine: string | null;
}

/**
 * A `[virtual_server.NAME]`.
 *
 * @example
 * ```ts
 * const label = (vs: VirtualServerConfig) => `${vs.name}: ${vs.scheduler} ${vs.method}`;
 * ```
 */
export interface VirtualServerConfig {
  readonly name: string;
  readonly target: VirtualServerTarget;
  /** Family of the virtual server and all its real servers. */
  readonly family: Family;
  /** For fwmark targets (and fwmark group entries) this is unused by the kernel. */
  readonly protocol: LvsProtocol;
  readonly scheduler: LvsScheduler;
  /** `sh-fallback` / `mh-fallback`. */
  readonly schedFallback: boolean;
  /** `sh-port` / `mh-port`. */
  readonly schedPort: boolean;
  /** `ops`: one-packet scheduling (UDP). */
  readonly onePacket: boolean;
  /** Default forwarding method of the real servers. */
  readonly method: LvsMethod;
  readonly persistence: LvsPersistence | null;
  /** Real servers start down until their checks pass. */
  readonly alpha: boolean;
  /** Run the real servers' `notify_down` when hacore stops. */
  readonly omega: boolean;
  /** Run checks only while this node holds the virtual address. */
  readonly haSuspend: boolean;
  /** Summed weight of live real servers needed to serve (at least 1). */
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorumUp: string | null;
  /** `smtp_alert`: mail on quorum and real server changes; null = `global.smtp_alert`. */
  readonly smtpAlert?: boolean | null;
  readonly quorumDown: string | null;
  /** Default Host header of HTTP checks (keepalived's `virtualhost`). */
  readonly virtualhost: string | null;
  readonly sorryServer: SorryServerConfig | null;
  readonly realServers: readonly RealServerConfig[];
}

/** One address entry of a group: the addresses of a range are listed one by one. */
export interface GroupAddress {
  readonly address: string;
  readonly family: Family;
  readonly port: number;
}

/**
 * A `[virtual_server_group.NAME]`: several addresses (and ranges) and firewall marks
 * served by one set of real servers.
 */
export interface VirtualServerGroupConfig {
  readonly name: string;
  readonly addresses: readonly GroupAddress[];
  readonly fwmarks: readonly number[];
}

/**
 * The `[lvs]` table: how the LVS runtime treats the kernel's table as a whole.
 *
 * @example
 * ```ts
 * const o: LvsOptions = {
 *   keepOnStop: false, drainDeadlineMs: 300_000, maintenanceDir: "/run/hacore/maintenance",
 * };
 * ```
 */
export interface LvsOptions {
  /**
   * `keep_on_stop`: leave the IPVS table in place when hacore stops (the ownership file
   * is kept), so a restart or an upgrade costs no traffic; the next start adopts it.
   */
  readonly keepOnStop: boolean;
  /**
   * `drain_deadline`: the longest a drained real server (removed from the config, or by
   * `hacore drain` without `--deadline`) waits for its connections before it is removed.
   */
  readonly drainDeadlineMs: number;
  /**
   * `maintenance_dir`: a file named `IP:PORT` (`[V6]:PORT`) in it drains that real
   * server in every virtual server, without touching the config; null = not watched.
   */
  readonly maintenanceDir: string | null;
}

/** The `[lvs]` defaults: drain for up to five minutes; the maintenance directory under /run. */
export const LVS_OPTIONS_DEFAULTS: LvsOptions = Object.freeze({
  keepOnStop: false,
  drainDeadlineMs: 300_000,
  maintenanceDir: "/run/hacore/maintenance",
});
