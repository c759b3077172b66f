/**
 * The IPVS table hacore wants, from the config and what the checks say: a pure function,
 * recomputed whenever a verdict or the quorum changes, then planned against the kernel's
 * dump (`plan.ts`). keepalived's semantics:
 *
 * - a real server whose checks fail is removed, or kept with weight 0 when it has
 *   `inhibit_on_failure` (its established connections drain instead of being cut);
 * - with `alpha`, a real server with checks starts down until they pass; without it, up;
 * - a `script` check with dynamic weight replaces the configured weight;
 * - quorum is the summed weight of live real servers; while it is lost, the sorry server
 *   (if any) replaces the real servers, and with `sorry_server_inhibit` it otherwise
 *   stays in the table with weight 0.
 *
 * The VRRP state does not change the table (the backup director holds the same table,
 * ready for the VIP); with `ha_suspend` it pauses the checks, which `checksActive` decides.
 *
 * @module
 */

import type {
  LvsMethod,
  LvsTunnel,
  RealServerConfig,
  SorryServerConfig,
  VirtualServerConfig,
  VirtualServerGroupConfig,
} from "../config/lvs_schema.ts";
import type { Family } from "../net/addr.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_CONN_F_TUNNEL_TYPE_GRE,
  IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  IP_VS_SVC_F_ONEPACKET,
  IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED1,
  IP_VS_SVC_F_SCHED2,
  IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
  IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsAf,
  type IpvsDest,
  type IpvsForward,
  type IpvsService,
  type IpvsServiceEntry,
  type IpvsTunnelType,
} from "../sys/netlink/ipvs_types.ts";
import { initialQuorum } from "./quorum.ts";

/**
 * The verdict of a real server's checks (all of them together), keyed by
 * `RealServerConfig.id`. `weight` is set by a dynamic-weight script check.
 */
export interface RealServerHealth {
  readonly up: boolean;
  readonly weight?: number;
}

/** Real server id → its verdict; a server missing here has had no verdict yet. */
export type HealthMap = ReadonlyMap<string, RealServerHealth>;

/** One virtual service with its destinations: the unit of the IPVS table. */
export type IpvsEntry = IpvsServiceEntry;

/** An IPVS table, wanted or dumped. */
export type IpvsTable = readonly IpvsEntry[];

/** What the desired table is computed from. */
export interface DesiredInputs {
  readonly virtualServers: readonly VirtualServerConfig[];
  readonly groups: readonly VirtualServerGroupConfig[];
  readonly health: HealthMap;
  /**
   * Virtual server name → whether it holds quorum (the state `stepQuorum` keeps). A
   * virtual server missing here gets `initialQuorum` of its live weight.
   */
  readonly quorum: ReadonlyMap<string, boolean>;
}

/**
 * Whether a real server counts as up: its verdict, else (no verdict yet) down with
 * `alpha` and checks, up otherwise. A server without checks is always up.
 *
 * @example
 * ```ts
 * // realServerUp(vs, rs, new Map()) is false for an alpha server with checks.
 * ```
 */
export function realServerUp(
  vs: VirtualServerConfig,
  rs: RealServerConfig,
  health: HealthMap,
): boolean {
  if (rs.checks.length === 0) return true;
  return health.get(rs.id)?.up ?? !vs.alpha;
}

/** The weight a live real server gets: its dynamic weight if a check set one. */
export function liveWeightOf(rs: RealServerConfig, health: HealthMap): number {
  return health.get(rs.id)?.weight ?? rs.weight;
}

/**
 * The summed weight of a virtual server's live real servers, which quorum is about.
 *
 * @example
 * ```ts
 * // Two live servers of weight 2 and 3, one dead of weight 5: 5.
 * ```
 */
export function liveWeight(vs: VirtualServerConfig, health: HealthMap): number {
  let sum = 0;
  // Indexed, as in desiredDests: a big start runs these loops in the interpreter.
  const rss = vs.realServers;
  for (let i = 0; i < rss.length; i++) {
    if (realServerUp(vs, rss[i], health)) sum += liveWeightOf(rss[i], health);
  }
  return sum;
}

/**
 * Whether the checks of a virtual server should run: always, unless `ha_suspend` is set
 * and this node holds none of the virtual server's addresses (a fwmark service has no
 * address to hold, so its checks always run).
 *
 * @example
 * ```ts
 * // ha_suspend on 192.0.2.100:80, held = {"192.0.2.100"} → true; held = {} → false.
 * ```
 */
export function checksActive(
  vs: VirtualServerConfig,
  groups: readonly VirtualServerGroupConfig[],
  heldAddresses: ReadonlySet<string>,
): boolean {
  if (!vs.haSuspend) return true;
  const t = vs.target;
  if (t.kind === "fwmark") return true;
  if (t.kind === "address") return heldAddresses.has(t.address);
  const g = groups.find((x) => x.name === t.group);
  if (g === undefined || g.addresses.length === 0) return true;
  return g.addresses.some((a) => heldAddresses.has(a.address));
}

/**
 * The `notify_down` commands `omega` runs at shutdown: one per real server that is up
 * now, so that whatever watches the pool sees it go away.
 */
export function omegaNotifications(
  virtualServers: readonly VirtualServerConfig[],
  health: HealthMap,
): { readonly realServer: string; readonly command: string }[] {
  const out: { realServer: string; command: string }[] = [];
  for (const vs of virtualServers) {
    if (!vs.omega) continue;
    for (const rs of vs.realServers) {
      if (rs.notifyDown !== null && realServerUp(vs, rs, health)) {
        out.push({ realServer: rs.id, command: rs.notifyDown });
      }
    }
  }
  return out;
}

/**
 * The IPVS table hacore wants, in config order: services in virtual server (and group
 * entry) order, destinations in real server order, the sorry server last.
 *
 * @example
 * ```ts
 * import { parseConfig } from "../config/mod.ts";
 * const r = parseConfig(
 *   '[virtual_server.web]\naddress = "192.0.2.1"\nport = 80\n' +
 *     '[[virtual_server.web.real_server]]\naddress = "192.0.2.11"\n',
 *   "a.toml",
 * );
 * if (r.ok) {
 *   const table = desiredTable({
 *     virtualServers: r.config.virtualServers,
 *     groups: r.config.virtualServerGroups,
 *     health: new Map(),
 *     quorum: new Map(),
 *   });
 *   table[0].dests[0].address; // "192.0.2.11"
 * }
 * ```
 */
export function desiredTable(inputs: DesiredInputs): IpvsTable {
  const out: IpvsEntry[] = [];
  for (const vs of inputs.virtualServers) {
    const dests = desiredDests(vs, inputs);
    for (const service of servicesOf(vs, inputs.groups)) {
      // A fwmark service has no port of its own: its real servers keep theirs.
      out.push({ service, dests });
    }
  }
  return out;
}

function desiredDests(vs: VirtualServerConfig, inputs: DesiredInputs): IpvsDest[] {
  const quorumHeld = inputs.quorum.get(vs.name) ??
    initialQuorum(vs, liveWeight(vs, inputs.health));
  const sorry = vs.sorryServer;
  if (!quorumHeld && sorry !== null) return [sorryDest(vs.family, sorry, 1)];
  const dests: IpvsDest[] = [];
  // Indexed: a big start runs this once per real server, mostly in the interpreter,
  // where for...of allocates an iterator result per element.
  const rss = vs.realServers;
  for (let i = 0; i < rss.length; i++) {
    const rs = rss[i];
    if (realServerUp(vs, rs, inputs.health)) {
      dests.push(dest(rs.family, rs, liveWeightOf(rs, inputs.health)));
    } else if (rs.inhibitOnFailure) {
      dests.push(dest(rs.family, rs, 0));
    }
  }
  // keepalived lets the sorry server be one of the real servers: then it is already in.
  const duplicate = sorry !== null &&
    vs.realServers.some((rs) => rs.address === sorry.address && rs.port === sorry.port);
  if (sorry !== null && sorry.inhibit && !duplicate) dests.push(sorryDest(vs.family, sorry, 0));
  return dests;
}

function sorryDest(family: Family, s: SorryServerConfig, weight: number): IpvsDest {
  return dest(family, { ...s, uThreshold: 0, lThreshold: 0 }, weight);
}

interface DestSource {
  readonly address: string;
  readonly port: number;
  readonly method: LvsMethod;
  readonly tunnel: LvsTunnel | null;
  readonly uThreshold: number;
  readonly lThreshold: number;
}

function dest(family: Family, s: DestSource, weight: number): IpvsDest {
  const t = s.tunnel;
  return {
    af: afOf(family),
    address: s.address,
    port: s.port,
    forward: FORWARD[s.method],
    weight,
    uThreshold: s.uThreshold,
    lThreshold: s.lThreshold,
    tunnelType: t === null ? IP_VS_CONN_F_TUNNEL_TYPE_IPIP : TUNNEL_TYPE[t.type],
    tunnelPort: t?.port ?? 0,
    tunnelFlags: t === null ? IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM : TUNNEL_FLAGS[t.checksum],
  };
}

const FORWARD: Readonly<Record<LvsMethod, IpvsForward>> = {
  NAT: IP_VS_CONN_F_MASQ,
  DR: IP_VS_CONN_F_DROUTE,
  TUN: IP_VS_CONN_F_TUNNEL,
};

const TUNNEL_TYPE: Readonly<Record<LvsTunnel["type"], IpvsTunnelType>> = {
  ipip: IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  gue: IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  gre: IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};

const TUNNEL_FLAGS: Readonly<Record<LvsTunnel["checksum"], number>> = {
  none: IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
  csum: IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  remcsum: IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
};

const PROTOCOL = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP } as const;

function afOf(family: Family): IpvsAf {
  return family === "ipv4" ? AF_INET : AF_INET6;
}

/** The kernel services a virtual server stands for: one, or one per group entry. */
export function servicesOf(
  vs: VirtualServerConfig,
  groups: readonly VirtualServerGroupConfig[],
): IpvsService[] {
  const t = vs.target;
  if (t.kind === "address") return [addressService(vs, t.address, t.port)];
  if (t.kind === "fwmark") return [fwmarkService(vs, t.fwmark)];
  const g = groups.find((x) => x.name === t.group);
  if (g === undefined) return [];
  return [
    ...g.addresses.map((a) => addressService(vs, a.address, a.port)),
    ...g.fwmarks.map((m) => fwmarkService(vs, m)),
  ];
}

function addressService(vs: VirtualServerConfig, address: string, port: number): IpvsService {
  return { ...serviceCommon(vs), protocol: PROTOCOL[vs.protocol], address, port, fwmark: 0 };
}

function fwmarkService(vs: VirtualServerConfig, fwmark: number): IpvsService {
  const any = vs.family === "ipv4" ? "0.0.0.0" : "::";
  return { ...serviceCommon(vs), protocol: 0, address: any, port: 0, fwmark };
}

function serviceCommon(vs: VirtualServerConfig) {
  const p = vs.persistence;
  let flags = 0;
  if (p !== null) flags |= IP_VS_SVC_F_PERSISTENT;
  if (vs.onePacket) flags |= IP_VS_SVC_F_ONEPACKET;
  if (vs.schedFallback) flags |= IP_VS_SVC_F_SCHED1;
  if (vs.schedPort) flags |= IP_VS_SVC_F_SCHED2;
  return {
    af: afOf(vs.family),
    scheduler: vs.scheduler,
    flags,
    timeoutS: p?.timeoutS ?? 0,
    netmask: p?.granularityPrefix ?? (vs.family === "ipv4" ? 32 : 128),
    persistenceEngine: p?.engine ?? null,
  };
}
