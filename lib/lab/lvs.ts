/**
 * The LVS-DR lab: two directors sharing a VIP by VRRP and balancing it with IPVS in
 * direct-routing mode over three web servers, and a client, all on one bridge:
 *
 * ```
 *   client 192.0.2.50 ─┐
 *   dir1   192.0.2.2  ─┤                    web1 192.0.2.21  (VIP on lo)
 *   dir2   192.0.2.3  ─┼─ br0 ──────────────web2 192.0.2.22  (VIP on lo)
 *   [sorry 192.0.2.30]─┘                    web3 192.0.2.23  (VIP on lo)
 * ```
 *
 * Direct routing needs one L2 segment: the director that holds the VIP rewrites only the
 * destination MAC, and the chosen web server, holding the VIP on `lo`, answers the client
 * straight from the VIP. The web servers must never answer ARP for it (`arp_ignore=1`)
 * nor use it as an ARP source (`arp_announce=2`), or the client would bypass the director.
 *
 * One {@link LvsLabSpec} says it all; {@link hacoreLvsConfigToml} and
 * {@link keepalivedLvsConf} write the same director from it for either daemon, so the two
 * can share one VRRP instance and one table.
 *
 * @example
 * ```ts
 * const spec = lvsLabSpec();
 * const lab = await buildLvsLab(box, spec);
 * await lab.killWeb("web2");
 * ```
 *
 * @module
 */

import type { NetnsHost } from "./host.ts";
import { runChecked } from "./host.ts";
import { ECHO_PORT, HEALTH_PORT, SERVICE_PORT, startLvsWeb } from "./lvs_web.ts";
import type { LineProc } from "./proc.ts";
import { buildLan, type Lan, LAN_IFACE, type LanMember } from "./topology.ts";

/**
 * A director: a VRRP router and IPVS balancer.
 *
 * @example
 * ```ts
 * const d: LvsDirector = { name: "dir1", address: "192.0.2.2/24", priority: 150 };
 * ```
 */
export interface LvsDirector {
  readonly name: string;
  /** With its prefix. */
  readonly address: string;
  readonly priority: number;
}

/**
 * A real server (or the sorry server).
 *
 * @example
 * ```ts
 * const w: LvsWeb = { name: "web1", address: "192.0.2.21/24", weight: 1 };
 * ```
 */
export interface LvsWeb {
  readonly name: string;
  /** With its prefix. */
  readonly address: string;
  readonly weight: number;
}

/**
 * Everything the LVS lab is made of; {@link lvsLabSpec} fills in the defaults.
 *
 * @example
 * ```ts
 * const spec: LvsLabSpec = lvsLabSpec({ inhibitOnFailure: true });
 * ```
 */
export interface LvsLabSpec {
  /** Bare address; held on the master director's eth0 (/24) and every web server's lo (/32). */
  readonly vip: string;
  readonly vrid: number;
  readonly advertIntS: number;
  readonly directors: readonly LvsDirector[];
  readonly webs: readonly LvsWeb[];
  /** The sorry server (its own namespace); null for none. */
  readonly sorry: LvsWeb | null;
  /** `lb_algo` of both virtual servers. */
  readonly scheduler: "rr" | "wrr" | "wlc";
  /** Check type: HTTP GET of /health on port 80, or a TCP connect to it. */
  readonly check: "http" | "tcp";
  /** `delay_loop` (and `delay_before_retry`): seconds between checks. */
  readonly delayLoopS: number;
  /** `connect_timeout`, seconds. */
  readonly connectTimeoutS: number;
  /** `retry`: failures after the first before a server is down (fall = retry + 1). */
  readonly retry: number;
  readonly inhibitOnFailure: boolean;
  readonly quorum: number;
  readonly hysteresis: number;
  /**
   * A second virtual server on VIP:{@link ECHO_PORT} to the same web servers, every one
   * at weight 1 (the weights above are the first service's), so that a reload changing
   * a weight of one service leaves the other as it was.
   */
  readonly echo: boolean;
}

/**
 * The lab's defaults: VIP 192.0.2.100, VRRPv3 at 100 ms, dir1 (150) and dir2 (100),
 * web1..3 of weight 1, HTTP checks every 200 ms (500 ms timeout) with one retry, no sorry
 * server.
 *
 * @example
 * ```ts
 * lvsLabSpec({ quorum: 2, sorry: { name: "sorry", address: "192.0.2.30/24", weight: 1 } });
 * ```
 */
export function lvsLabSpec(overrides: Partial<LvsLabSpec> = {}): LvsLabSpec {
  return {
    vip: "192.0.2.100",
    vrid: 51,
    advertIntS: 0.1,
    directors: [
      { name: "dir1", address: "192.0.2.2/24", priority: 150 },
      { name: "dir2", address: "192.0.2.3/24", priority: 100 },
    ],
    webs: [1, 2, 3].map((i) => ({ name: `web${i}`, address: `192.0.2.${20 + i}/24`, weight: 1 })),
    sorry: null,
    scheduler: "rr",
    check: "http",
    delayLoopS: 0.2,
    // Longer than delay_loop: a dead server refuses at once, so this costs the fall bound
    // nothing, while a shorter one turns a busy one-CPU guest's stalls into false downs.
    connectTimeoutS: 0.5,
    retry: 1,
    inhibitOnFailure: false,
    quorum: 1,
    hysteresis: 0,
    echo: false,
    ...overrides,
  };
}

/**
 * The sorry server the lab uses when asked for one.
 *
 * @example
 * ```ts
 * lvsLabSpec({ sorry: SORRY_WEB });
 * ```
 */
export const SORRY_WEB: LvsWeb = Object.freeze({
  name: "sorry",
  address: "192.0.2.30/24",
  weight: 1,
});

/**
 * The client's address.
 *
 * @example
 * ```ts
 * LVS_CLIENT_ADDRESS; // "192.0.2.50/24"
 * ```
 */
export const LVS_CLIENT_ADDRESS = "192.0.2.50/24";

const bare = (a: string) => a.split("/")[0];
const q = (s: string) => JSON.stringify(s);

/**
 * How long a dead web server may stay in the table, at most: `fall` (retry + 1) checks
 * one `delay_loop` apart, the first of which may come a whole `delay_loop` after the
 * death. The tests add their slack to it.
 *
 * @example
 * ```ts
 * fallBoundMs(lvsLabSpec()); // 400 (2 × 200 ms)
 * ```
 */
export function fallBoundMs(spec: LvsLabSpec): number {
  return (spec.retry + 1) * spec.delayLoopS * 1000;
}

/**
 * How long a revived web server may take to come back: one passing check (rise 1, as
 * keepalived), which comes at most one `delay_loop` after it answers again.
 *
 * @example
 * ```ts
 * riseBoundMs(lvsLabSpec()); // 200
 * ```
 */
export function riseBoundMs(spec: LvsLabSpec): number {
  return spec.delayLoopS * 1000;
}

interface Service {
  readonly name: string;
  readonly port: number;
}

function services(spec: LvsLabSpec): Service[] {
  return [
    { name: "web", port: SERVICE_PORT },
    ...(spec.echo ? [{ name: "echo", port: ECHO_PORT }] : []),
  ];
}

function weightIn(svc: Service, w: LvsWeb): number {
  return svc.port === SERVICE_PORT ? w.weight : 1;
}

function hacoreService(spec: LvsLabSpec, svc: Service): string[] {
  const lines = [
    `[virtual_server.${svc.name}]`,
    `address = ${q(spec.vip)}`,
    `port = ${svc.port}`,
    `protocol = "tcp"`,
    `lb_algo = ${q(spec.scheduler)}`,
    `lb_kind = "DR"`,
    `delay_loop = ${spec.delayLoopS}`,
    `connect_timeout = ${spec.connectTimeoutS}`,
    `retry = ${spec.retry}`,
    `delay_before_retry = ${spec.delayLoopS}`,
    `warmup = 0`,
  ];
  if (spec.inhibitOnFailure) lines.push("inhibit_on_failure = true");
  if (spec.quorum !== 1) lines.push(`quorum = ${spec.quorum}`);
  if (spec.hysteresis !== 0) lines.push(`hysteresis = ${spec.hysteresis}`);
  lines.push("");
  if (spec.sorry !== null) {
    lines.push(
      `[virtual_server.${svc.name}.sorry_server]`,
      `address = ${q(bare(spec.sorry.address))}`,
      "",
    );
  }
  for (const w of spec.webs) {
    lines.push(
      `[[virtual_server.${svc.name}.real_server]]`,
      `address = ${q(bare(w.address))}`,
      `weight = ${weightIn(svc, w)}`,
      "",
      `[[virtual_server.${svc.name}.real_server.check]]`,
      `type = ${q(spec.check)}`,
      ...(spec.check === "http" ? [`url = "/health"`] : []),
      `connect_port = ${HEALTH_PORT}`,
      "",
    );
  }
  return lines;
}

/**
 * The hacore config of `director`: one VRRP instance holding the VIP, and the virtual
 * server(s) on it in DR mode to every web server.
 *
 * @example
 * ```ts
 * const toml = hacoreLvsConfigToml(spec, spec.directors[0]);
 * ```
 */
export function hacoreLvsConfigToml(spec: LvsLabSpec, director: LvsDirector): string {
  return [
    `# generated by hacore's LVS lab for ${director.name}`,
    "[global]",
    `router_id = ${q(director.name)}`,
    "",
    "[vrrp_instance.VI_1]",
    `interface = ${q(LAN_IFACE)}`,
    `virtual_router_id = ${spec.vrid}`,
    "version = 3",
    `priority = ${director.priority}`,
    `advert_int = ${spec.advertIntS}`,
    `virtual_ipaddress = [${q(`${spec.vip}/24`)}]`,
    "",
    ...services(spec).flatMap((s) => hacoreService(spec, s)),
  ].join("\n");
}

function keepalivedService(spec: LvsLabSpec, svc: Service): string[] {
  const check = spec.check === "http"
    ? [
      "    HTTP_GET {",
      "      url {",
      "        path /health",
      "        status_code 200",
      "      }",
    ]
    : ["    TCP_CHECK {"];
  const lines = [
    `virtual_server ${spec.vip} ${svc.port} {`,
    `  delay_loop ${spec.delayLoopS}`,
    `  lb_algo ${spec.scheduler}`,
    "  lb_kind DR",
    "  protocol TCP",
  ];
  if (spec.quorum !== 1) lines.push(`  quorum ${spec.quorum}`);
  if (spec.hysteresis !== 0) lines.push(`  hysteresis ${spec.hysteresis}`);
  if (spec.sorry !== null) lines.push(`  sorry_server ${bare(spec.sorry.address)} ${svc.port}`);
  for (const w of spec.webs) {
    lines.push(
      `  real_server ${bare(w.address)} ${svc.port} {`,
      `    weight ${weightIn(svc, w)}`,
      ...(spec.inhibitOnFailure ? ["    inhibit_on_failure"] : []),
      ...check,
      `      connect_port ${HEALTH_PORT}`,
      `      connect_timeout ${spec.connectTimeoutS}`,
      `      retry ${spec.retry}`,
      `      delay_before_retry ${spec.delayLoopS}`,
      "      warmup 0",
      "    }",
      "  }",
    );
  }
  lines.push("}");
  return lines;
}

/**
 * The keepalived.conf equivalent to {@link hacoreLvsConfigToml} for `director`, so that
 * keepalived 2.x can be the peer director in the same VRRP instance.
 *
 * @example
 * ```ts
 * const conf = keepalivedLvsConf(spec, spec.directors[1]);
 * ```
 */
export function keepalivedLvsConf(spec: LvsLabSpec, director: LvsDirector): string {
  return [
    "global_defs {",
    `  router_id ${director.name}`,
    "  vrrp_version 3",
    "  vrrp_garp_master_delay 0",
    "}",
    "vrrp_instance VI_1 {",
    "  state BACKUP",
    `  interface ${LAN_IFACE}`,
    `  virtual_router_id ${spec.vrid}`,
    `  priority ${director.priority}`,
    `  advert_int ${spec.advertIntS}`,
    "  virtual_ipaddress {",
    `    ${spec.vip}/24`,
    "  }",
    "}",
    ...services(spec).flatMap((s) => keepalivedService(spec, s)),
    "",
  ].join("\n");
}

/**
 * A built LVS lab: the LAN, and the web servers running.
 *
 * @example
 * ```ts
 * const lab: LvsLab = await buildLvsLab(box, spec);
 * lab.member("dir1").ns;
 * ```
 */
export interface LvsLab {
  readonly spec: LvsLabSpec;
  readonly lan: Lan;
  /** The member named `name` (a director, a web server, "sorry" or "client"). */
  member(name: string): LanMember;
  /** The running web server process of `name`, or null when killed. */
  web(name: string): LineProc | null;
  /** SIGKILLs web server `name`'s process; resolves once it has exited. */
  killWeb(name: string): Promise<void>;
  /** Starts web server `name` again; resolves once it accepts. */
  startWeb(name: string): Promise<void>;
}

/**
 * Makes `member` a DR real server: the VIP on `lo` (/32), and ARP kept off it.
 *
 * @example
 * ```ts
 * await makeRealServer(lan.nodes[2].ns, "192.0.2.100");
 * ```
 */
export async function makeRealServer(ns: string, vip: string): Promise<void> {
  await runChecked("ip", [
    "netns",
    "exec",
    ns,
    "sh",
    "-c",
    "for i in all lo; do " +
    "echo 1 > /proc/sys/net/ipv4/conf/$i/arp_ignore; " +
    "echo 2 > /proc/sys/net/ipv4/conf/$i/arp_announce; done",
  ]);
  await runChecked("ip", ["-n", ns, "addr", "add", `${vip}/32`, "dev", "lo"]);
}

/**
 * Builds the LAN (directors, web servers, sorry server, client), makes every web server
 * a DR real server and starts its service. Directors run nothing yet: the caller starts
 * hacore or keepalived there.
 *
 * @example
 * ```ts
 * const lab = await buildLvsLab(box, lvsLabSpec());
 * ```
 */
export async function buildLvsLab(host: NetnsHost, spec: LvsLabSpec): Promise<LvsLab> {
  const reals = [...spec.webs, ...(spec.sorry ? [spec.sorry] : [])];
  const lan = await buildLan(host, {
    nodes: [...spec.directors, ...reals].map((m) => ({ name: m.name, address: m.address })),
    client: { name: "client", address: LVS_CLIENT_ADDRESS },
  });
  const member = (name: string) => {
    const m = name === "client" ? lan.client : lan.nodes.find((n) => n.name === name);
    if (!m) throw new Error(`no lab member named ${name}`);
    return m;
  };
  const procs = new Map<string, LineProc | null>();
  await Promise.all(reals.map((w) => makeRealServer(member(w.name).ns, spec.vip)));
  const startWeb = async (name: string) => {
    procs.set(name, await startLvsWeb(host, member(name).ns, name));
  };
  await Promise.all(reals.map((w) => startWeb(w.name)));
  return {
    spec,
    lan,
    member,
    web: (name) => procs.get(name) ?? null,
    async killWeb(name) {
      const p = procs.get(name);
      if (!p) return;
      procs.set(name, null);
      await p.stop("SIGKILL", 5000);
    },
    startWeb,
  };
}
