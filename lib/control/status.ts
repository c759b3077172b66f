/**
 * The status snapshot types of the control contract: what `status()` returns and the
 * control socket serves, plain JSON. The daemon builds them (`lib/daemon/status.ts`),
 * the CLI formats them (`lib/cli/format.ts`), metrics and scripts read them; defined
 * here, with the contract, so that none of those readers imports the daemon.
 *
 * @module
 */

import type { TrackerStatus } from "../track/priority.ts";
import type { Family } from "../net/addr.ts";
import type { ForeignReason } from "../vrrp/foreign.ts";
import type { RouterStateName, TransitionReason } from "../vrrp/types.ts";
import type { PriorityOverride } from "./api.ts";

/**
 * One VIP in a status snapshot.
 *
 * @example
 * ```ts
 * const v: VipStatus = { address: "192.0.2.100", prefix: 24, dev: "eth0", excluded: false, held: true };
 * ```
 */
export interface VipStatus {
  readonly address: string;
  readonly prefix: number;
  readonly dev: string;
  /** From `virtual_ipaddress_excluded`. */
  readonly excluded: boolean;
  /** Present in the kernel as hacore's, per the last reconcile. */
  readonly held: boolean;
}

/**
 * Another router advertising an instance's VRID (same link, same family) with other
 * settings: a split-brain risk, listed until it agrees again or has been quiet for
 * max(3 × its interval, 10 s). See `lib/vrrp/foreign.ts`.
 *
 * @example
 * ```ts
 * const f: ForeignSenderStatus = daemon.status().instances[0].foreignSenders[0];
 * `${f.source}: ${f.differences.join("; ")} (${f.count} adverts)`;
 * ```
 */
export interface ForeignSenderStatus {
  readonly source: string;
  /** What differs, as codes: version, addresses, auth, interval. */
  readonly reasons: readonly ForeignReason[];
  /** What differs, in words: `VIPs 192.0.2.10,192.0.2.11 vs ours 192.0.2.10`. */
  readonly differences: readonly string[];
  /** Priority and interval (ms) of its last advert. */
  readonly priority: number;
  readonly intervalMs: number;
  /** Conflicting adverts from it since it started conflicting. */
  readonly count: number;
  /** Clock times, how long ago, and wall times (ISO 8601) of its first and last advert. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly firstSeenAgoMs: number;
  readonly lastSeenAgoMs: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/**
 * One instance in a status snapshot. Plain JSON.
 *
 * @example
 * ```ts
 * const s: InstanceStatus = daemon.status().instances[0];
 * `${s.name} ${s.state} prio ${s.priority.effective}`;
 * ```
 */
export interface InstanceStatus {
  readonly name: string;
  readonly interface: string;
  readonly vrid: number;
  readonly version: number;
  readonly family: Family;
  readonly state: RouterStateName;
  /** Clock time of entering the state, and how long ago that was. */
  readonly sinceMs: number;
  readonly inStateMs: number;
  readonly priority: { readonly base: number; readonly effective: number };
  readonly faults: readonly string[];
  readonly lastMaster:
    | { readonly ip: string; readonly priority: number; readonly agoMs: number }
    | null;
  readonly advertIntervalMs: number;
  readonly masterAdvertIntervalMs: number;
  readonly transport: "multicast" | "unicast";
  readonly holdingVips: boolean;
  readonly vips: readonly VipStatus[];
  readonly lastTransition:
    | {
      readonly from: RouterStateName;
      readonly to: RouterStateName;
      readonly reason: TransitionReason;
      readonly detail: string;
      readonly atMs: number;
    }
    | null;
  /** Non-zero counters only: the engine's (RFC 6527 names) plus the daemon's own. */
  readonly counters: Readonly<Record<string, number>>;
  /** The operator's demote/promote in force, or null. */
  readonly override: PriorityOverride | null;
  /** In maintenance: stays Backup, never takes over. */
  readonly maintenance: boolean;
  /** Other routers advertising this VRID with other settings, oldest first. */
  readonly foreignSenders: readonly ForeignSenderStatus[];
  /** Every tracker the instance (or its sync group) uses, as it stands now. */
  readonly trackers: readonly TrackerStatus[];
}

/**
 * A whole status snapshot, as the control socket will serve it.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(daemon.status(), null, 2));
 * ```
 */
export interface DaemonStatus {
  readonly phase: "new" | "running" | "stopping" | "stopped";
  readonly nowMs: number;
  readonly instances: readonly InstanceStatus[];
  /** Non-zero node-wide counters (drops no instance could own, internal errors). */
  readonly counters: Readonly<Record<string, number>>;
  /** Current conflicts, described. */
  readonly conflicts: readonly string[];
  /** Operator maintenance is on (see `DaemonControl.maintenance`). */
  readonly maintenance: boolean;
  /** The config file the daemon runs (and reloads). */
  readonly configFile: string;
  /** Wall time of `start()` (of construction, before that), ISO 8601. */
  readonly startedAtWall: string;
  /** hacore's version. */
  readonly version: string;
}
