/**
 * The kernel's view of IPVS as plain data: what `ipvsadm -Ln` shows, one `IpvsService`
 * per virtual service and one `IpvsDest` per real server. Shared by the IPVS generic
 * netlink codec (which turns these into attributes and back) and by the pure LVS core
 * (which computes the table hacore wants and plans the difference), so neither depends
 * on the other. Pure: no imports, no I/O.
 *
 * Values keep the kernel's encoding (address family and protocol numbers, flag bits,
 * forwarding codes) so the codec maps them one to one; addresses are canonical text so
 * the core can compare them with `===`.
 *
 * The numbers are those of the uapi header `include/uapi/linux/ip_vs.h` (kernel 6.1).
 *
 * @module
 */

/** `AF_INET`, the family of an IPv4 service or destination. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;
/** Address family numbers IPVS accepts. */
export type IpvsAf = typeof AF_INET | typeof AF_INET6;

/** `IPPROTO_TCP`. */
export const IPPROTO_TCP = 6;
/** `IPPROTO_UDP`. */
export const IPPROTO_UDP = 17;
/** `IPPROTO_SCTP`. */
export const IPPROTO_SCTP = 132;
/** Transport protocols of an address-based virtual service (0 for a fwmark service). */
export type IpvsProtocol = typeof IPPROTO_TCP | typeof IPPROTO_UDP | typeof IPPROTO_SCTP | 0;

/** Service flag: connections from one client stick to one real server (`-p`). */
export const IP_VS_SVC_F_PERSISTENT = 0x0001;
/** Service flag the kernel sets itself once the service is in its hash table. */
export const IP_VS_SVC_F_HASHED = 0x0002;
/** Service flag: one-packet scheduling, each UDP datagram scheduled alone (`-o`). */
export const IP_VS_SVC_F_ONEPACKET = 0x0004;
/** First scheduler-specific flag bit. */
export const IP_VS_SVC_F_SCHED1 = 0x0008;
/** Second scheduler-specific flag bit. */
export const IP_VS_SVC_F_SCHED2 = 0x0010;
/** Third scheduler-specific flag bit (no scheduler uses it yet). */
export const IP_VS_SVC_F_SCHED3 = 0x0020;
/** `sh` scheduler: skip a server that is unavailable (weight 0 / overloaded). */
export const IP_VS_SVC_F_SCHED_SH_FALLBACK = IP_VS_SVC_F_SCHED1;
/** `sh` scheduler: hash the source port too. */
export const IP_VS_SVC_F_SCHED_SH_PORT = IP_VS_SVC_F_SCHED2;
/** `mh` scheduler: skip an unavailable server. */
export const IP_VS_SVC_F_SCHED_MH_FALLBACK = IP_VS_SVC_F_SCHED1;
/** `mh` scheduler: hash the source port too. */
export const IP_VS_SVC_F_SCHED_MH_PORT = IP_VS_SVC_F_SCHED2;

/** Mask of the forwarding method within a destination's connection flags. */
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
/** NAT (`-m`). */
export const IP_VS_CONN_F_MASQ = 0x0000;
/** The destination is a local address of the director. */
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
/** IP-in-IP (or GUE/GRE) tunnelling (`-i`). */
export const IP_VS_CONN_F_TUNNEL = 0x0002;
/** Direct routing (`-g`): rewrite only the MAC. */
export const IP_VS_CONN_F_DROUTE = 0x0003;
/** Cache bypass. */
export const IP_VS_CONN_F_BYPASS = 0x0004;
/** A forwarding method as the kernel encodes it. */
export type IpvsForward =
  | typeof IP_VS_CONN_F_MASQ
  | typeof IP_VS_CONN_F_LOCALNODE
  | typeof IP_VS_CONN_F_TUNNEL
  | typeof IP_VS_CONN_F_DROUTE
  | typeof IP_VS_CONN_F_BYPASS;

/** Tunnel encapsulation: plain IP-in-IP. */
export const IP_VS_CONN_F_TUNNEL_TYPE_IPIP = 0;
/** Tunnel encapsulation: Generic UDP Encapsulation (needs a port). */
export const IP_VS_CONN_F_TUNNEL_TYPE_GUE = 1;
/** Tunnel encapsulation: GRE. */
export const IP_VS_CONN_F_TUNNEL_TYPE_GRE = 2;
/** A tunnel type as the kernel encodes it. */
export type IpvsTunnelType =
  | typeof IP_VS_CONN_F_TUNNEL_TYPE_IPIP
  | typeof IP_VS_CONN_F_TUNNEL_TYPE_GUE
  | typeof IP_VS_CONN_F_TUNNEL_TYPE_GRE;

/** Tunnel flags: no checksum in the outer header. */
export const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM = 0;
/** Tunnel flags: checksum the outer UDP/GRE header. */
export const IP_VS_TUNNEL_ENCAP_FLAG_CSUM = 1 << 0;
/** Tunnel flags: remote checksum offload. */
export const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM = 1 << 1;

/** Longest scheduler or persistence-engine name the kernel takes (`IP_VS_SCHEDNAME_MAXLEN` - 1). */
export const IP_VS_SCHEDNAME_MAXLEN = 16;

/**
 * One virtual service. Identified by (af, protocol, address, port), or by (af, fwmark)
 * when `fwmark` is not 0 (then `protocol` is 0 and `address`/`port` are unspecified).
 *
 * @example
 * ```ts
 * const web: IpvsService = {
 *   af: AF_INET, protocol: IPPROTO_TCP, address: "192.0.2.100", port: 80, fwmark: 0,
 *   scheduler: "wlc", flags: 0, timeoutS: 0, netmask: 32, persistenceEngine: null,
 * };
 * ```
 */
export interface IpvsService {
  readonly af: IpvsAf;
  readonly protocol: IpvsProtocol;
  /** Canonical address text; "0.0.0.0" / "::" for a fwmark service. */
  readonly address: string;
  /** 0 for a fwmark service (or a persistent port-0 service). */
  readonly port: number;
  /** Firewall mark; 0 = address-based service. */
  readonly fwmark: number;
  /** Scheduler name as the kernel knows it: "rr", "wlc", "mh", ... */
  readonly scheduler: string;
  /** `IP_VS_SVC_F_*` bits (the kernel adds HASHED on its own). */
  readonly flags: number;
  /** Persistence timeout in seconds; meaningful with `IP_VS_SVC_F_PERSISTENT`. */
  readonly timeoutS: number;
  /**
   * Persistence granularity as a prefix length (32 / 128 = per client address). The
   * kernel's attribute is a mask for IPv4 (`255.255.255.0`) and a prefix length for
   * IPv6: the codec converts, so that the core compares one kind of number.
   */
  readonly netmask: number;
  /** Persistence engine ("sip"), null = none. */
  readonly persistenceEngine: string | null;
}

/**
 * Per-destination counters as the kernel reports them (read-only: never sent).
 * Rates are per second, averaged by the kernel's estimator.
 */
export interface IpvsStats {
  readonly conns: bigint;
  readonly inpkts: bigint;
  readonly outpkts: bigint;
  readonly inbytes: bigint;
  readonly outbytes: bigint;
  readonly cps: bigint;
  readonly inpps: bigint;
  readonly outpps: bigint;
  readonly inbps: bigint;
  readonly outbps: bigint;
}

/**
 * One real server of a virtual service, identified by (address, port) within it.
 *
 * @example
 * ```ts
 * const rs: IpvsDest = {
 *   af: AF_INET, address: "192.0.2.11", port: 80, forward: IP_VS_CONN_F_DROUTE, weight: 1,
 *   uThreshold: 0, lThreshold: 0, tunnelType: IP_VS_CONN_F_TUNNEL_TYPE_IPIP, tunnelPort: 0,
 *   tunnelFlags: 0,
 * };
 * ```
 */
export interface IpvsDest {
  readonly af: IpvsAf;
  readonly address: string;
  readonly port: number;
  readonly forward: IpvsForward;
  /** 0 = quiesced: keeps its connections, gets no new ones. */
  readonly weight: number;
  /** Upper connection threshold (0 = none): above it the server gets no new connections. */
  readonly uThreshold: number;
  /** Lower threshold (0 = none): below it an overloaded server is used again. */
  readonly lThreshold: number;
  /** Meaningful with `IP_VS_CONN_F_TUNNEL` only. */
  readonly tunnelType: IpvsTunnelType;
  /** GUE destination port; 0 otherwise. */
  readonly tunnelPort: number;
  /** `IP_VS_TUNNEL_ENCAP_FLAG_*` bits. */
  readonly tunnelFlags: number;
  /** Read-only counters of a dump; absent in a wanted table. */
  readonly activeConns?: number;
  readonly inactConns?: number;
  readonly persistConns?: number;
  readonly stats?: IpvsStats;
}

/**
 * True for a persistent service.
 *
 * @example
 * ```ts
 * isPersistent(IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED); // true
 * ```
 */
export function isPersistent(flags: number): boolean {
  return (flags & IP_VS_SVC_F_PERSISTENT) !== 0;
}

/**
 * True once the kernel has hashed the service (every dumped service): a flag hacore never
 * asks for, so comparisons drop it.
 */
export function isHashed(flags: number): boolean {
  return (flags & IP_VS_SVC_F_HASHED) !== 0;
}

/** True for one-packet scheduling. */
export function isOnePacket(flags: number): boolean {
  return (flags & IP_VS_SVC_F_ONEPACKET) !== 0;
}

/** `sh-fallback` (also `mh-fallback`: the same bit, read by whichever scheduler runs). */
export function hasSchedFallback(flags: number): boolean {
  return (flags & IP_VS_SVC_F_SCHED1) !== 0;
}

/** `sh-port` / `mh-port`. */
export function hasSchedPort(flags: number): boolean {
  return (flags & IP_VS_SVC_F_SCHED2) !== 0;
}

/**
 * The flags with the kernel-owned HASHED bit cleared: the part of `flags` a user sets.
 *
 * @example
 * ```ts
 * userFlags(IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED); // IP_VS_SVC_F_PERSISTENT
 * ```
 */
export function userFlags(flags: number): number {
  return flags & ~IP_VS_SVC_F_HASHED;
}

/**
 * One service as the kernel holds it, with its destinations: the unit a dump returns and
 * the desired table is made of, so the plan compares like with like.
 *
 * @example
 * ```ts
 * const e: IpvsServiceEntry = { service, dests: [] };
 * ```
 */
export interface IpvsServiceEntry {
  readonly service: IpvsService;
  readonly dests: readonly IpvsDest[];
}

/**
 * The kernel's IPVS connection timeouts in seconds (`ipvsadm --set TCP TCPFIN UDP`);
 * 0 in a write leaves that one unchanged, as in the kernel.
 *
 * @example
 * ```ts
 * const t: IpvsTimeouts = { tcpS: 900, tcpFinS: 120, udpS: 300 };
 * ```
 */
export interface IpvsTimeouts {
  readonly tcpS: number;
  readonly tcpFinS: number;
  readonly udpS: number;
}

/**
 * What the kernel's IPVS says of itself (`IPVS_CMD_GET_INFO`): its version and the size of
 * its connection hash table.
 *
 * @example
 * ```ts
 * const i: IpvsInfo = { version: "1.2.1", connTableSize: 4096 };
 * ```
 */
export interface IpvsInfo {
  readonly version: string;
  readonly connTableSize: number;
}

/**
 * One connection-sync daemon (`ipvsadm --start-daemon`): master sends, backup receives.
 *
 * @example
 * ```ts
 * const d: IpvsSyncDaemon = { state: "master", ifname: "eth0", syncId: 5 };
 * ```
 */
export interface IpvsSyncDaemon {
  readonly state: "master" | "backup";
  readonly ifname: string;
  readonly syncId: number;
  /** Largest sync message in bytes; the kernel's default (from the MTU) when absent. */
  readonly maxLen?: number;
  /** Multicast group (IPv4 or IPv6); 224.0.0.81 when absent. */
  readonly group?: string;
  /** UDP port; 8848 when absent. */
  readonly port?: number;
  /** Multicast TTL; 1 when absent. */
  readonly ttl?: number;
}
