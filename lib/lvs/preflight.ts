/**
 * Preflight: what the kernel will do differently from what a config's reader expects,
 * said before anything is applied (at start, and by `hacore check` where IPVS is
 * reachable). keepalived applies and lets the operator find out: a scheduler whose
 * module is missing fails service by service, and `expire_nodest_conn = 0` turns a
 * removed real server's connections into hangs nobody connects to the sysctl.
 *
 * The judgement ({@link preflightFindings}) is pure over {@link KernelFacts}; reading
 * them ({@link readKernelFacts}) is the only IO, through an injected file reader.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { LvsScheduler, VirtualServerConfig } from "../config/lvs_schema.ts";

/** The IPVS sysctls (`/proc/sys/net/ipv4/vs/NAME`) that change how a config behaves. */
export const PREFLIGHT_SYSCTLS = [
  "expire_nodest_conn",
  "expire_quiescent_template",
  "conn_reuse_mode",
  "conntrack",
] as const;

/**
 * What preflight knows of the kernel. Unknown facts are absent (a sysctl not in the
 * map, `modulesAvailable` null): preflight then says it could not tell, never guesses.
 *
 * @example
 * ```ts
 * const facts: KernelFacts = {
 *   release: "6.1.0", sysctls: new Map([["expire_nodest_conn", 0]]),
 *   modulesLoaded: new Set(["ip_vs", "ip_vs_wlc"]), modulesAvailable: new Set(["ip_vs_rr"]),
 *   ipv6: true,
 * };
 * ```
 */
export interface KernelFacts {
  /** `uname -r`; null when unknown. */
  readonly release: string | null;
  /** Readings of {@link PREFLIGHT_SYSCTLS}; absent when unreadable. */
  readonly sysctls: ReadonlyMap<string, number>;
  /** Modules loaded now or built in (`/proc/modules`, `/sys/module`, `modules.builtin`). */
  readonly modulesLoaded: ReadonlySet<string>;
  /** Modules the kernel can load on demand (`modules.dep`); null when unreadable. */
  readonly modulesAvailable: ReadonlySet<string> | null;
  /** The kernel has IPv6 (`/proc/net/if_inet6`). */
  readonly ipv6: boolean;
}

/**
 * One thing preflight has to say: `key` is the config key that needs it (or the
 * sysctl's path when the config at hand merely meets it).
 *
 * @example
 * ```ts
 * const f: PreflightFinding = {
 *   level: "warn", key: "virtual_server.web.lb_algo",
 *   message: "scheduler twos needs the kernel module ip_vs_twos, which this kernel does not have",
 * };
 * ```
 */
export interface PreflightFinding {
  readonly level: "warn" | "info";
  readonly key: string;
  readonly message: string;
}

/**
 * The findings for `config` against `facts`: nothing for a config without virtual
 * servers (or a sync daemon), warnings first.
 *
 * @example
 * ```ts
 * for (const f of preflightFindings(config, facts)) log.warn(`${f.key}: ${f.message}`);
 * ```
 */
export function preflightFindings(config: Config, facts: KernelFacts): PreflightFinding[] {
  const vss = config.virtualServers;
  if (vss.length === 0 && config.lvsSyncDaemon === null) return [];
  const out = [
    ...moduleFindings(vss, facts),
    ...featureFindings(vss, facts),
    ...sysctlFindings(vss, facts),
  ];
  return [...out.filter((f) => f.level === "warn"), ...out.filter((f) => f.level === "info")];
}

/**
 * One line of a finding, for logs and `hacore check`.
 *
 * @example
 * ```ts
 * preflightLine({ level: "warn", key: "k", message: "m" }); // "preflight warning: k: m"
 * ```
 */
export function preflightLine(f: PreflightFinding): string {
  return `preflight ${f.level === "warn" ? "warning" : "note"}: ${f.key}: ${f.message}`;
}

function vsKey(vs: VirtualServerConfig, key: string): string {
  return `virtual_server.${vs.name}.${key}`;
}

/** Whether the kernel has or can load `mod`: true, false, or null when it cannot tell. */
function hasModule(facts: KernelFacts, mod: string): boolean | null {
  if (facts.modulesLoaded.has(mod)) return true;
  if (facts.modulesAvailable === null) return null;
  return facts.modulesAvailable.has(mod);
}

function moduleFindings(vss: readonly VirtualServerConfig[], facts: KernelFacts) {
  const out: PreflightFinding[] = [];
  const seen = new Set<LvsScheduler>();
  for (const vs of vss) {
    if (seen.has(vs.scheduler)) continue;
    seen.add(vs.scheduler);
    const mod = `ip_vs_${vs.scheduler}`;
    const has = hasModule(facts, mod);
    if (has === false) {
      out.push({
        level: "warn",
        key: vsKey(vs, "lb_algo"),
        message: `scheduler ${vs.scheduler} needs the kernel module ${mod}, which this ` +
          `kernel neither has loaded nor can load: adding the service will fail`,
      });
    } else if (has === null) {
      out.push({
        level: "info",
        key: vsKey(vs, "lb_algo"),
        message: `cannot tell whether the kernel can load ${mod} (no readable ` +
          `/lib/modules/${facts.release ?? "RELEASE"}/modules.dep, and it is not loaded)`,
      });
    }
  }
  for (const vs of vss) {
    const engine = vs.persistence?.engine ?? null;
    if (engine === null) continue;
    const mod = `ip_vs_pe_${engine}`;
    if (hasModule(facts, mod) === false) {
      out.push({
        level: "warn",
        key: vsKey(vs, "persistence_engine"),
        message:
          `persistence engine ${engine} needs the kernel module ${mod}, which this kernel lacks`,
      });
    }
  }
  return out;
}

/** Kernel release as [major, minor]; null when unknown. */
function releaseOf(facts: KernelFacts): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(facts.release ?? "");
  return m === null ? null : [Number(m[1]), Number(m[2])];
}

function older(facts: KernelFacts, major: number, minor: number): boolean {
  const r = releaseOf(facts);
  return r !== null && (r[0] < major || (r[0] === major && r[1] < minor));
}

function featureFindings(vss: readonly VirtualServerConfig[], facts: KernelFacts) {
  const out: PreflightFinding[] = [];
  for (const vs of vss) {
    if (vs.family === "ipv6" && !facts.ipv6) {
      out.push({
        level: "warn",
        key: vsKey(vs, "address"),
        message: "an IPv6 virtual server, but this kernel has no IPv6 (/proc/net/if_inet6 missing)",
      });
    }
    vs.realServers.forEach((rs, i) => {
      const t = rs.tunnel?.type;
      // IPVS learned GUE in 5.2 and GRE in 5.3; older kernels refuse the destination.
      const need = t === "gue" ? [5, 2] : t === "gre" ? [5, 3] : null;
      if (need !== null && older(facts, need[0], need[1])) {
        out.push({
          level: "warn",
          key: vsKey(vs, `real_server[${i}].tunnel_type`),
          message: `tunnel type ${t} needs Linux ${need[0]}.${
            need[1]
          } or later; this kernel is ${facts.release}`,
        });
      }
      if (t === "gue" && hasModule(facts, "fou") === false) {
        out.push({
          level: "info",
          key: vsKey(vs, `real_server[${i}].tunnel_type`),
          message:
            "GUE tunnels: this node has no fou module (the real server needs it to decapsulate)",
        });
      }
    });
  }
  return out;
}

function sysctlFindings(vss: readonly VirtualServerConfig[], facts: KernelFacts) {
  const out: PreflightFinding[] = [];
  const sys = (name: string) => `/proc/sys/net/ipv4/vs/${name}`;
  const nodest = facts.sysctls.get("expire_nodest_conn");
  const removable = firstRemovable(vss);
  if (nodest === 0 && removable !== null) {
    out.push({
      level: "warn",
      key: removable,
      message: `${sys("expire_nodest_conn")} = 0: connections to a real server that is ` +
        "removed (a failed check without inhibit_on_failure, a drain that ends, a reload " +
        "that drops it) stay in the kernel's table and their packets are dropped, so " +
        "clients hang until they time out; 1 resets them at their next packet",
    });
  }
  const persistent = vss.find((v) => v.persistence !== null);
  if (facts.sysctls.get("expire_quiescent_template") === 0 && persistent !== undefined) {
    out.push({
      level: "warn",
      key: vsKey(persistent, "persistence_timeout"),
      message: `${sys("expire_quiescent_template")} = 0: a persistent client keeps going to ` +
        "a real server at weight 0 (inhibited, draining, slow to start) until its template " +
        "expires; 1 expires the template so the client is scheduled anew",
    });
  }
  const reuse = facts.sysctls.get("conn_reuse_mode");
  if (reuse === 0 && vss.length > 0) {
    out.push({
      level: "warn",
      key: sys("conn_reuse_mode"),
      message: "is 0: a client reusing a source port goes back to the real server of its old " +
        "connection, even one at weight 0 or removed; 1 (the default) reschedules it",
    });
  } else if (reuse !== undefined && (reuse & 1) !== 0) {
    if (facts.sysctls.get("conntrack") === 1 && older(facts, 5, 9)) {
      out.push({
        level: "warn",
        key: sys("conn_reuse_mode"),
        message: `is ${reuse} with conntrack = 1 on Linux ${facts.release}: a reused port's ` +
          "SYN is dropped and the client waits a second for its retry (fixed in 5.9)",
      });
    }
    const dr = vss.find((v) => v.method === "DR" || v.realServers.some((r) => r.method === "DR"));
    if (dr !== undefined && (reuse & 2) === 0) {
      out.push({
        level: "info",
        key: vsKey(dr, "lb_kind"),
        message: `${sys("conn_reuse_mode")} = ${reuse}: with DR the director sees only ` +
          "FIN_WAIT, so a reused port is rescheduled only with bit 2 set (3)",
      });
    }
  }
  return out;
}

/** The key of the first real server hacore may remove from the kernel, else null. */
function firstRemovable(vss: readonly VirtualServerConfig[]): string | null {
  for (const vs of vss) {
    const i = vs.realServers.findIndex((r) => !r.inhibitOnFailure);
    if (i >= 0) return vsKey(vs, `real_server[${i}].inhibit_on_failure`);
  }
  // Inhibited servers stay, but a reload that drops one still removes it.
  return vss.length > 0 ? vsKey(vss[0], "real_server") : null;
}

/** Reads a text file, or null when it cannot (missing, unreadable). */
export type TextReader = (path: string) => Promise<string | null>;

/** Reads with Deno, null on any error. */
export const readTextOrNull: TextReader = async (path) => {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
};

/**
 * Reads {@link KernelFacts} through `read` (the real files by default; tests give
 * their own). `release` is `uname -r`, from `/proc/sys/kernel/osrelease` when absent.
 *
 * @example
 * ```ts
 * const facts = await readKernelFacts();
 * ```
 */
export async function readKernelFacts(
  read: TextReader = readTextOrNull,
  release?: string,
): Promise<KernelFacts> {
  const rel = release ?? (await read("/proc/sys/kernel/osrelease"))?.trim() ?? null;
  const sysctls = new Map<string, number>();
  for (const name of PREFLIGHT_SYSCTLS) {
    const t = await read(`/proc/sys/net/ipv4/vs/${name}`);
    const n = t === null ? NaN : Number(t.trim());
    if (Number.isInteger(n)) sysctls.set(name, n);
  }
  const loaded = new Set<string>();
  for (const line of (await read("/proc/modules"))?.split("\n") ?? []) {
    const name = line.split(" ")[0];
    if (name) loaded.add(name);
  }
  const base = rel === null ? null : `/lib/modules/${rel}`;
  const builtin = base === null ? null : await read(`${base}/modules.builtin`);
  for (const m of moduleNames(builtin)) loaded.add(m);
  const dep = base === null ? null : await read(`${base}/modules.dep`);
  const ipv6 = (await read("/proc/net/if_inet6")) !== null;
  return {
    release: rel,
    sysctls,
    modulesLoaded: loaded,
    modulesAvailable: dep === null ? null : new Set(moduleNames(dep)),
    ipv6,
  };
}

/** Module names from `modules.dep` / `modules.builtin` lines (`kernel/.../ip_vs_rr.ko[.xz]:`). */
function moduleNames(text: string | null): string[] {
  if (text === null) return [];
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const path = line.split(":")[0].trim();
    const m = /([^/]+)\.ko(\.[a-z]+)?$/.exec(path);
    // Module names use _ where file names may use -.
    if (m !== null) out.push(m[1].replaceAll("-", "_"));
  }
  return out;
}
