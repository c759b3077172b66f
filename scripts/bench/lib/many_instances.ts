/**
 * Many VRRPv3 instances on one node, for benchmarks of the per-advert cost: the same
 * instances written as hacore's TOML and as keepalived.conf, and each instance's state
 * followed from the daemon's log.
 *
 * Instance i (1-based) is `VI_i`, VRID i, VIP 198.51.100.i/24 on eth0, BACKUP at start
 * with preemption, one GARP burst on becoming master (no delayed second burst).
 *
 * @example
 * ```ts
 * const conf = manyInstancesConfig("keepalived", "node1", 150, 50, 0.01);
 * const states = stateTracker(daemon);
 * countIn(states, "MASTER");
 * ```
 *
 * @module
 */

import { parseTransition } from "../../../lib/lab/hacore.ts";
import type { Line } from "../../../lib/lab/proc.ts";
import { LAN_IFACE } from "../../../lib/lab/topology.ts";
import type { BenchDaemon, ImplName } from "./daemons.ts";

/**
 * The config text of `count` instances at `advertIntS` for `impl`.
 *
 * @example
 * ```ts
 * manyInstancesConfig("hacore", "node2", 100, 50, 0.01);
 * ```
 */
export function manyInstancesConfig(
  impl: ImplName,
  name: string,
  priority: number,
  count: number,
  advertIntS: number,
): string {
  return impl === "hacore"
    ? hacoreConfig(name, priority, count, advertIntS)
    : keepalivedConfig(name, priority, count, advertIntS);
}

function hacoreConfig(name: string, priority: number, count: number, advertIntS: number): string {
  const lines = ["[global]", `router_id = ${JSON.stringify(name)}`, "vrrp_garp_master_delay = 0"];
  for (let i = 1; i <= count; i++) {
    lines.push(
      "",
      `[vrrp_instance.VI_${i}]`,
      `interface = ${JSON.stringify(LAN_IFACE)}`,
      `virtual_router_id = ${i}`,
      "version = 3",
      `priority = ${priority}`,
      `advert_int = ${advertIntS}`,
      `virtual_ipaddress = ["198.51.100.${i}/24"]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function keepalivedConfig(
  name: string,
  priority: number,
  count: number,
  advertIntS: number,
): string {
  const lines = [
    "global_defs {",
    `  router_id ${name}`,
    "  vrrp_version 3",
    "  vrrp_garp_master_delay 0",
    "}",
  ];
  for (let i = 1; i <= count; i++) {
    lines.push(
      `vrrp_instance VI_${i} {`,
      "  state BACKUP",
      `  interface ${LAN_IFACE}`,
      `  virtual_router_id ${i}`,
      `  priority ${priority}`,
      `  advert_int ${advertIntS}`,
      "  virtual_ipaddress {",
      `    198.51.100.${i}/24`,
      "  }",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Instance → state, from the daemon's log lines (either implementation's wording): what
 * it logged before the call, then what comes.
 *
 * @example
 * ```ts
 * const states = stateTracker(d);
 * ```
 */
export function stateTracker(d: BenchDaemon): Map<string, string> {
  const states = new Map<string, string>();
  const see = (l: Line) => {
    if (d.impl === "hacore") {
      const t = parseTransition(l);
      if (t) states.set(t.instance, t.to);
    } else {
      const m = /\((\S+)\) Entering (\S+) STATE/.exec(l.text);
      if (m) states.set(m[1], m[2]);
    }
  };
  for (const l of d.proc.lines) see(l);
  d.proc.onLine(see);
  return states;
}

/**
 * How many instances of `states` are in `state`.
 *
 * @example
 * ```ts
 * countIn(new Map([["VI_1", "MASTER"]]), "MASTER"); // 1
 * ```
 */
export function countIn(states: ReadonlyMap<string, string>, state: string): number {
  let n = 0;
  for (const s of states.values()) if (s === state) n++;
  return n;
}
