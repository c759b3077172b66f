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
  /**
   * The last time another host claimed one of its VIPs while it was Master (the VIP
   * guard), or null; absent where no guard runs. `at` is wall time (ISO 8601).
   */
  readonly vipClaim?: VipClaimStatus | null;
}

/**
 * Another host's claim to a held VIP (ARP reply, gratuitous ARP or NA from a MAC that
 * is not ours), as the VIP guard saw it last.
 *
 * @example
 * ```ts
 * const c: VipClaimStatus = { address: "192.0.2.100", mac: "02:00:00:00:00:66", kind: "garp",
 *   atMs: 1234, at: "2026-01-01T00:00:00.000Z" };
 * ```
 */
export interface VipClaimStatus {
  readonly address: string;
  /** The claimant's MAC. */
  readonly mac: string;
  readonly kind: "arp-reply" | "garp" | "na";
  /** The daemon's clock, and its wall time. */
  readonly atMs: number;
  readonly at: string;
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
  /**
   * The LVS section: absent when the config has no virtual server, so a VRRP-only
   * daemon's status stays as it was.
   */
  readonly lvs?: LvsStatus;
  /** The check service: probes that run for the checks asked (absent when none are). */
  readonly checks?: ChecksStatus;
  /** The IPVS sync daemon following a VRRP instance; absent when not configured. */
  readonly lvsSync?: LvsSyncStatus;
  /** The LVS-DR real server's VIPs and ARP sysctls; absent when not configured. */
  readonly realServerRole?: RealServerRoleStatus;
  /** Preflight findings at start (`lib/lvs/preflight.ts`), one line each; absent when none. */
  readonly preflight?: readonly string[];
  /**
   * The daemon process's memory, read when status is asked for (absent from a daemon
   * that predates it): what a leak grows, with V8's heap told apart from the rest.
   */
  readonly process?: ProcessStatus;
  /**
   * Daemon loop iterations since start: a routine advert handled in place turns none,
   * so a quiet Backup's count stays still (a climbing one shows work per advert).
   */
  readonly loopTurns?: number;
}

/**
 * One reading of the daemon process's memory, in bytes (`Deno.memoryUsage()`): a soak
 * or a dashboard tells a leak in JavaScript objects (heap used rising after each
 * collection) from V8 merely reserving more heap (heap total) or from native buffers
 * (external) and from everything else (RSS).
 *
 * @example
 * ```ts
 * const p: ProcessStatus = {
 *   pid: 4242, rssBytes: 62_000_000, heapUsedBytes: 9_000_000,
 *   heapTotalBytes: 14_000_000, externalBytes: 2_500_000,
 * };
 * ```
 */
export interface ProcessStatus {
  readonly pid: number;
  /** Resident set size (the kernel's VmRSS). */
  readonly rssBytes: number;
  /** V8 heap holding live and not yet collected objects. */
  readonly heapUsedBytes: number;
  /** V8 heap reserved (used plus free pages V8 keeps). */
  readonly heapTotalBytes: number;
  /** Memory outside the V8 heap owned by JavaScript objects (ArrayBuffers and the like). */
  readonly externalBytes: number;
  /**
   * V8 heap in use right after the last full collection (`lib/sys/heap_housekeeping.ts`
   * runs one a minute): the live objects, the number a leak moves. Absent before the
   * first collection, or where the runtime cannot collect on demand.
   */
  readonly heapLiveBytes?: number;
}

/**
 * How many probes run for how many checks: equal checks of several virtual servers
 * (or trackers) share one probe.
 *
 * @example
 * ```ts
 * const c: ChecksStatus = { probes: 1, checks: 3 };
 * ```
 */
export interface ChecksStatus {
  readonly probes: number;
  readonly checks: number;
}

/**
 * The kernel's IPVS sync daemon as hacore runs it.
 *
 * @example
 * ```ts
 * const s: LvsSyncStatus = {
 *   instance: "VI_web", instanceState: "master", interface: "eth0", syncId: 5,
 *   role: "master", kernel: ["master"], lastError: null, changes: 1,
 * };
 * ```
 */
export interface LvsSyncStatus {
  /** The VRRP instance it follows, and that instance's state (null when unknown). */
  readonly instance: string;
  readonly instanceState: string | null;
  readonly interface: string;
  readonly syncId: number;
  /** What hacore wants the kernel to run. */
  readonly role: "master" | "backup" | "none";
  /** What the kernel runs (its sync daemons' states, last read). */
  readonly kernel: readonly string[];
  readonly lastError: string | null;
  /** Times the kernel's daemons were switched. */
  readonly changes: number;
}

/**
 * The real-server role: each VIP on its interface, each sysctl with the value it had
 * before hacore set it (restored at stop).
 *
 * @example
 * ```ts
 * const r: RealServerRoleStatus = {
 *   interface: "lo",
 *   vips: [{ address: "192.0.2.100", prefix: 32, held: true }],
 *   sysctls: [{ name: "net.ipv4.conf.all.arp_ignore", value: 1, previous: 0 }],
 *   lastError: null,
 * };
 * ```
 */
export interface RealServerRoleStatus {
  readonly interface: string;
  readonly vips: readonly {
    readonly address: string;
    readonly prefix: number;
    readonly held: boolean;
  }[];
  readonly sysctls: readonly {
    readonly name: string;
    readonly value: number | null;
    readonly previous: number | null;
  }[];
  readonly lastError: string | null;
}

/**
 * One health check of a real server as it stands.
 *
 * @example
 * ```ts
 * const c: RealServerCheckStatus = { kind: "tcp", up: false, lastError: "connect 192.0.2.11:80: ECONNREFUSED" };
 * ```
 */
export interface RealServerCheckStatus {
  readonly kind: string;
  /** Debounced (retry applied); the alpha/initial guess before the first result. */
  readonly up: boolean;
  /** The last failing run's detail while the last run failed; null otherwise. */
  readonly lastError: string | null;
}

/**
 * One real server: health, the weight hacore wants and the one the kernel holds, and the
 * kernel's counters for it (summed over the services of a group), from the last dump.
 *
 * @example
 * ```ts
 * const up = (r: RealServerStatus) => `${r.address}:${r.port} ${r.up ? "up" : "down"}`;
 * ```
 */
export interface RealServerStatus {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly up: boolean;
  readonly checks: readonly RealServerCheckStatus[];
  /** Weight in the wanted table; null when it is not wanted there (down, or sorry server in use). */
  readonly desiredWeight: number | null;
  /** Weight in the kernel's table; null when the kernel does not hold it. */
  readonly kernelWeight: number | null;
  readonly activeConns: number;
  readonly inactConns: number;
  /** Totals since the service was added (64-bit kernel counters, as decimal strings). */
  readonly conns: string;
  readonly inBytes: string;
  readonly outBytes: string;
  readonly inPackets: string;
  readonly outPackets: string;
  /** The kernel estimator's rates, per second. */
  readonly cps: number;
  readonly inBps: number;
  readonly outBps: number;
  /** Its drain (`hacore drain`, a maintenance file), or null when it is not held out. */
  readonly drain?: DrainStatus | null;
}

/**
 * A real server (or service) leaving the table without cutting a connection: `draining`
 * while it has weight 0 and connections, `drained` once removed (held out until undrain).
 *
 * @example
 * ```ts
 * const d: DrainStatus = {
 *   entry: "192.0.2.100:80 -> 192.0.2.12:80", state: "draining", reason: "operator",
 *   connections: 3, timeLeftMs: 41_000,
 * };
 * ```
 */
export interface DrainStatus {
  /** `VIP:PORT -> RIP:PORT`, `fwmark 5 -> RIP:PORT`, or the service alone. */
  readonly entry: string;
  readonly state: "draining" | "drained";
  readonly reason: "operator" | "maintenance" | "removed";
  /** Active + inactive connections the kernel counted at the last dump. */
  readonly connections: number;
  /** Until it is removed whatever its connections; null once drained. */
  readonly timeLeftMs: number | null;
}

/**
 * One difference the periodic comparison found between the kernel's table and the one
 * hacore keeps there, and repaired (a destination deleted by hand, a weight edited).
 *
 * @example
 * ```ts
 * const d: DriftRecord = { atMs: 5000, repair: "addDest 192.0.2.100:80 -> 192.0.2.11:80 weight 1" };
 * ```
 */
export interface DriftRecord {
  readonly atMs: number;
  readonly repair: string;
}

/**
 * One virtual server.
 *
 * @example
 * ```ts
 * const line = (v: VirtualServerStatus) => `${v.name} ${v.endpoint} ${v.scheduler}`;
 * ```
 */
export interface VirtualServerStatus {
  readonly name: string;
  /** `192.0.2.100:80`, `[2001:db8::1]:80`, `fwmark 5`, `group NAME`. */
  readonly endpoint: string;
  readonly protocol: string;
  readonly scheduler: string;
  readonly method: string;
  readonly quorumUp: boolean;
  /** Summed weight of the live real servers, and the quorum (with hysteresis) it is held to. */
  readonly liveWeight: number;
  readonly quorum: number;
  readonly hysteresis: number;
  /** `address:port` of the sorry server, null when none is configured. */
  readonly sorryServer: string | null;
  /** The sorry server stands in for the real servers (quorum lost). */
  readonly sorryActive: boolean;
  /** False while `ha_suspend` holds its checks (this node does not hold its address). */
  readonly checksActive: boolean;
  /** Services of it the kernel holds, of those wanted. */
  readonly servicesInKernel: number;
  readonly servicesWanted: number;
  readonly realServers: readonly RealServerStatus[];
}

/**
 * The LVS runtime's section of the status: its virtual servers and its own counters
 * (IPVS operations applied and failed, drift repaired).
 *
 * @example
 * ```ts
 * const failed = (l: LvsStatus) => l.counters.opsFailed ?? 0;
 * ```
 */
export interface LvsStatus {
  readonly virtualServers: readonly VirtualServerStatus[];
  /** `opsApplied`, `opsFailed`, `driftRepairs`, `dumpsFailed` (zeros included). */
  readonly counters: Readonly<Record<string, number>>;
  /** Clock time of the last successful dump of the kernel's table; null before the first. */
  readonly lastDumpMs: number | null;
  /** Every drain in progress or held (removed real servers and services included). */
  readonly drains?: readonly DrainStatus[];
  /** The latest drift repairs, oldest first (at most {@link LVS_DRIFT_KEPT}). */
  readonly drift?: readonly DriftRecord[];
  /** Services in the kernel that hacore neither wants nor owns: never touched. */
  readonly foreign?: readonly string[];
  /** Services hacore owns (created or adopted). */
  readonly owned?: number;
  /** The table stays in place at stop (`--keep-lvs`, `[lvs] keep_on_stop`). */
  readonly keepOnStop?: boolean;
}

/** How many drift repairs the status keeps. */
export const LVS_DRIFT_KEPT = 20;
