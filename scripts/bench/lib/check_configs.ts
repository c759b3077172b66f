/**
 * The checks benchmark's workload written twice, once per daemon: N TCP and M HTTP
 * health checks against loopback servers, tracked by VRRP instances on one interface.
 *
 * hacore runs its checks in-process: `[vrrp_script.NAME] type = "tcp"` / `"http"`.
 * keepalived's in-process checkers (TCP_CHECK, HTTP_GET) live in its checker child,
 * which refuses to start without IPVS in the kernel ("IPVS: Can't initialize ipvs",
 * exit FATAL): where there is no IPVS, keepalived users check as vrrp_scripts, a
 * fork and exec per check. That is what keepalived gets here: `nc -z` (or bash's
 * `/dev/tcp` where nc is not installed) and `curl`, with the same interval, timeout,
 * rise, fall and weight.
 *
 * @example
 * ```ts
 * const checks = checkSet(1000, 200);
 * const inst = [{ name: "VI_1", vrid: 51, advertIntS: 0.01, vip: "192.0.2.100/24", track: checks.map((c) => c.name) }];
 * const toml = hacoreChecksToml("node1", inst, checks, CHECK_TIMING);
 * ```
 *
 * @module
 */

import { LAN_IFACE } from "../../../lib/lab/topology.ts";

/**
 * Loopback ports the TCP checks spread over (inclusive): several, as a real box checks
 * several services, and so no one listen backlog takes a whole burst.
 *
 * @example
 * ```ts
 * const [lo, hi] = TCP_PORTS; // 8001, 8010
 * ```
 */
export const TCP_PORTS: readonly [number, number] = [8001, 8010];
/**
 * Loopback ports the HTTP checks spread over (inclusive).
 *
 * @example
 * ```ts
 * const [lo, hi] = HTTP_PORTS; // 8080, 8081
 * ```
 */
export const HTTP_PORTS: readonly [number, number] = [8080, 8081];

/**
 * One health check of the workload.
 *
 * @example
 * ```ts
 * const c: CheckDef = { name: "tcp_1", kind: "tcp", port: 8001 };
 * ```
 */
export interface CheckDef {
  readonly name: string;
  readonly kind: "tcp" | "http";
  /**
   * A loopback address of its own (127.1.0.0/16): hacore runs checks with an equal target
   * and timing once, so checks sharing a host and port would be one probe, not N.
   */
  readonly host: string;
  readonly port: number;
}

/**
 * Pacing shared by every check, in whole seconds (keepalived's vrrp_script takes
 * integers only).
 *
 * @example
 * ```ts
 * const t: CheckTimingS = { intervalS: 1, timeoutS: 1, rise: 1, fall: 1, weight: -1 };
 * ```
 */
export interface CheckTimingS {
  readonly intervalS: number;
  readonly timeoutS: number;
  readonly rise: number;
  readonly fall: number;
  /**
   * Non-zero, so that a check that times out under load only lowers the priority
   * instead of putting the instance in FAULT: the adverts whose timing is measured go on.
   */
  readonly weight: number;
}

/**
 * The pacing the benchmark uses: every check once a second.
 *
 * @example
 * ```ts
 * CHECK_TIMING.intervalS; // 1
 * ```
 */
export const CHECK_TIMING: CheckTimingS = {
  intervalS: 1,
  timeoutS: 1,
  rise: 1,
  fall: 1,
  weight: -1,
};

/**
 * One VRRP instance of the workload, on the LAN interface.
 *
 * @example
 * ```ts
 * const i: InstanceDef = { name: "VI_1", vrid: 1, advertIntS: 1, vip: "198.18.1.1/32", track: ["tcp_1"] };
 * ```
 */
export interface InstanceDef {
  readonly name: string;
  readonly vrid: number;
  readonly advertIntS: number;
  /** With prefix length. */
  readonly vip: string;
  /** Names of the checks it tracks. */
  readonly track: readonly string[];
}

/**
 * `tcp` TCP checks and `http` HTTP checks, round-robin over {@link TCP_PORTS} and
 * {@link HTTP_PORTS}, each to a loopback address of its own (see {@link CheckDef.host};
 * the servers listen on every address of the namespace).
 *
 * @example
 * ```ts
 * checkSet(2, 1); // tcp_1 → 127.1.0.1:8001, tcp_2 → 127.1.0.2:8002, http_1 → 127.1.0.3:8080
 * ```
 */
export function checkSet(tcp: number, http: number): CheckDef[] {
  const spread = ([lo, hi]: readonly [number, number], i: number) => lo + (i % (hi - lo + 1));
  return [
    ...Array.from({ length: tcp }, (_, i) => ({
      name: `tcp_${i + 1}`,
      kind: "tcp" as const,
      host: checkHost(i),
      port: spread(TCP_PORTS, i),
    })),
    ...Array.from({ length: http }, (_, i) => ({
      name: `http_${i + 1}`,
      kind: "http" as const,
      host: checkHost(tcp + i),
      port: spread(HTTP_PORTS, i),
    })),
  ];
}

/** The `k`-th check's address: 127.1.0.1, 127.1.0.2, ... (no .0 or .255 last byte). */
function checkHost(k: number): string {
  return `127.1.${Math.floor(k / 250)}.${(k % 250) + 1}`;
}

/**
 * `count` instances, VRIDs 1..count, each with a /32 VIP from 198.18.0.0/15 (the
 * benchmarking range) and its share of `checks` (round-robin).
 *
 * @example
 * ```ts
 * manyInstances(255, checkSet(800, 200), 1).length; // 255
 * ```
 */
export function manyInstances(
  count: number,
  checks: readonly CheckDef[],
  advertIntS: number,
): InstanceDef[] {
  if (count < 1 || count > 255) throw new Error(`instances: expected 1..255, got ${count}`);
  return Array.from({ length: count }, (_, i) => ({
    name: `VI_${i + 1}`,
    vrid: i + 1,
    advertIntS,
    vip: `198.18.1.${i + 1}/32`,
    track: checks.filter((_, j) => j % count === i).map((c) => c.name),
  }));
}

const q = (s: string) => JSON.stringify(s);

/**
 * hacore's TOML for the workload: VRRPv3, priority 150 (every instance becomes master
 * of its own LAN), one GARP burst.
 *
 * @example
 * ```ts
 * hacoreChecksToml("node1", instances, checks, CHECK_TIMING);
 * ```
 */
export function hacoreChecksToml(
  routerId: string,
  instances: readonly InstanceDef[],
  checks: readonly CheckDef[],
  timing: CheckTimingS,
): string {
  const out = [
    "# generated by scripts/bench/checks.ts",
    "[global]",
    `router_id = ${q(routerId)}`,
    "vrrp_garp_master_delay = 0",
    "",
  ];
  for (const c of checks) {
    out.push(
      `[vrrp_script.${c.name}]`,
      `type = ${q(c.kind)}`,
      c.kind === "tcp"
        ? `connect = ${q(`${c.host}:${c.port}`)}`
        : `url = ${q(`http://${c.host}:${c.port}/`)}`,
      `interval = ${timing.intervalS}`,
      `timeout = ${timing.timeoutS}`,
      `rise = ${timing.rise}`,
      `fall = ${timing.fall}`,
      `weight = ${timing.weight}`,
      "",
    );
  }
  for (const i of instances) {
    out.push(
      `[vrrp_instance.${i.name}]`,
      `interface = ${q(LAN_IFACE)}`,
      `virtual_router_id = ${i.vrid}`,
      "version = 3",
      "priority = 150",
      `advert_int = ${i.advertIntS}`,
      `virtual_ipaddress = [${q(i.vip)}]`,
    );
    if (i.track.length > 0) out.push(`track_script = [${i.track.map(q).join(", ")}]`);
    out.push("");
  }
  return out.join("\n");
}

/**
 * How keepalived's vrrp_scripts check TCP: `nc -z` when `nc` is at `ncPath`, else
 * bash's `/dev/tcp` (a connect and close, no fork inside bash).
 *
 * @example
 * ```ts
 * tcpScript(null, "127.1.0.1", 8001, 1); // "/bin/bash -c '</dev/tcp/127.1.0.1/8001'"
 * ```
 */
export function tcpScript(
  ncPath: string | null,
  host: string,
  port: number,
  timeoutS: number,
): string {
  return ncPath === null
    ? `/bin/bash -c '</dev/tcp/${host}/${port}'`
    : `${ncPath} -z -w ${timeoutS} ${host} ${port}`;
}

/**
 * How keepalived's vrrp_scripts check HTTP: `curl` failing on any status ≥ 400.
 *
 * @example
 * ```ts
 * httpScript("/usr/bin/curl", "127.1.0.3", 8080, 1);
 * ```
 */
export function httpScript(curlPath: string, host: string, port: number, timeoutS: number): string {
  return `${curlPath} -sf -o /dev/null --max-time ${timeoutS} http://${host}:${port}/`;
}

/**
 * keepalived.conf for the same workload, checks as vrrp_scripts run as root.
 *
 * @example
 * ```ts
 * keepalivedChecksConf("node1", instances, checks, CHECK_TIMING, { nc: null, curl: "/usr/bin/curl" });
 * ```
 */
export function keepalivedChecksConf(
  routerId: string,
  instances: readonly InstanceDef[],
  checks: readonly CheckDef[],
  timing: CheckTimingS,
  tools: { readonly nc: string | null; readonly curl: string },
): string {
  const out = [
    "global_defs {",
    `  router_id ${routerId}`,
    "  vrrp_version 3",
    "  vrrp_garp_master_delay 0",
    // Root, stated, so keepalived neither warns nor looks for a keepalived_script user.
    "  script_user root",
    "  enable_script_security",
    "}",
  ];
  for (const c of checks) {
    const cmd = c.kind === "tcp"
      ? tcpScript(tools.nc, c.host, c.port, timing.timeoutS)
      : httpScript(tools.curl, c.host, c.port, timing.timeoutS);
    out.push(
      `vrrp_script ${c.name} {`,
      `  script "${cmd}"`,
      `  interval ${timing.intervalS}`,
      `  timeout ${timing.timeoutS}`,
      `  rise ${timing.rise}`,
      `  fall ${timing.fall}`,
      `  weight ${timing.weight}`,
      "}",
    );
  }
  for (const i of instances) {
    out.push(
      `vrrp_instance ${i.name} {`,
      "  state BACKUP",
      `  interface ${LAN_IFACE}`,
      `  virtual_router_id ${i.vrid}`,
      "  priority 150",
      `  advert_int ${i.advertIntS}`,
      "  virtual_ipaddress {",
      `    ${i.vip}`,
      "  }",
    );
    if (i.track.length > 0) {
      out.push("  track_script {", ...i.track.map((n) => `    ${n}`), "  }");
    }
    out.push("}");
  }
  out.push("");
  return out.join("\n");
}
