/**
 * `hacore check --plan FILE`: the IPVS operations that running (or, when a daemon runs
 * that config, reloading) FILE would apply to the live table, one per line in the order
 * they would be applied (`add`, `edit`, `drain`, `delete`), and nothing changed: the
 * kernel is only dumped. The plan is the runtime's own (`planConfig`), from the same
 * inputs: the ownership file, and, when the daemon answers, its verdicts and drains.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import { call, makeRequest } from "../control/client.ts";
import type { DaemonStatus, LvsStatus } from "../control/status.ts";
import type { HealthMap, IpvsTable } from "../lvs/desired.ts";
import { describePlan, type HeldOut, serviceText } from "../lvs/drain.ts";
import { readOwnership } from "../lvs/ownership.ts";
import { serviceKey } from "../lvs/plan.ts";
import { planConfig, startOwned } from "../lvs/plan_config.ts";
import type { IpvsPort } from "../sys/ports.ts";

/** What the running daemon says that changes the plan: verdicts, quorum, held servers. */
export interface RunningLvs {
  readonly health: HealthMap;
  readonly quorum: ReadonlyMap<string, boolean>;
  readonly heldServers: ReadonlyMap<string, HeldOut>;
}

/**
 * The running daemon's LVS state as plan inputs, from its status: a real server with
 * checks is up or down as it says, and one drained by the operator or a maintenance
 * file stays out.
 */
export function runningLvs(lvs: LvsStatus, config: Config): RunningLvs {
  const health = new Map<string, { up: boolean }>();
  const quorum = new Map<string, boolean>();
  const heldServers = new Map<string, HeldOut>();
  const ids = new Map(
    config.virtualServers.flatMap((vs) => vs.realServers.map((rs) => [rs.id, rs])),
  );
  for (const vs of lvs.virtualServers) {
    quorum.set(vs.name, vs.quorumUp);
    for (const r of vs.realServers) {
      const rs = ids.get(r.id);
      if (rs === undefined) continue;
      if (rs.checks.length > 0) health.set(r.id, { up: r.up });
      const d = r.drain;
      if (d !== undefined && d !== null && d.reason !== "removed") {
        heldServers.set(r.id, { reason: d.reason, deadlineAfterMs: null });
      }
    }
  }
  return { health, quorum, heldServers };
}

/**
 * The plan's lines for `config` against `kernel`: the operations, then the foreign
 * services left alone (as `#` comments).
 *
 * @example
 * ```ts
 * // planLines(config, [], new Set(), null, 0)
 * // ["add service tcp 192.0.2.1:80 wlc", "add dest tcp 192.0.2.1:80 -> 192.0.2.11:80 NAT weight 1"]
 * ```
 */
export function planLines(
  config: Config,
  kernel: IpvsTable,
  listed: ReadonlySet<string>,
  running: RunningLvs | null,
  nowMs: number,
): string[] {
  const owned = startOwned(config, listed);
  const p = planConfig({
    config,
    health: running?.health ?? new Map(),
    quorum: running?.quorum ?? new Map(),
    ramps: new Map(),
    heldServers: running?.heldServers ?? new Map(),
    kernel,
    owned,
    drains: new Map(),
    nowMs,
  });
  const lines = describePlan(p, nowMs);
  for (const e of kernel) {
    const k = serviceKey(e.service);
    if (!owned.has(k)) {
      lines.push(`# foreign, left alone: ${serviceText(e.service)}`);
    }
  }
  return lines;
}

/** What {@link planCommand} reads from the world, injectable for tests. */
export interface PlanDeps {
  readonly openIpvs: () => Promise<IpvsPort>;
  /** The daemon's status, or null when none answers. */
  readonly daemonStatus: (socket: string) => Promise<DaemonStatus | null>;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** The default {@link PlanDeps}: the real kernel (loaded only now), the control socket. */
export async function systemPlanDeps(timeoutMs: number): Promise<PlanDeps> {
  const { openIpvs } = await import("../sys/ipvs.ts");
  return {
    openIpvs: () => openIpvs(),
    daemonStatus: async (socket) => {
      try {
        const st: DaemonStatus = await call(socket, makeRequest({ cmd: "status" }), {
          timeoutMs,
        });
        return st;
      } catch {
        return null;
      }
    },
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  };
}

/**
 * Prints the plan of `config` (the ownership file at `stateFile`; the daemon at
 * `socket` asked for its verdicts). Exit 0 with the plan, 1 when IPVS cannot be read.
 */
export async function planCommand(
  config: Config,
  stateFile: string,
  socket: string,
  deps: PlanDeps,
): Promise<number> {
  let kernel: IpvsTable;
  try {
    const ipvs = await deps.openIpvs();
    try {
      kernel = await ipvs.dump();
    } finally {
      await ipvs.close();
    }
  } catch (e) {
    deps.err(
      `hacore check: cannot read the kernel's IPVS table (is the ip_vs module loaded, and are ` +
        `you root?): ${e instanceof Error ? e.message : String(e)}`,
    );
    return 1;
  }
  const listed = await readOwnership(stateFile, (m) => deps.err(`hacore check: ${m}`));
  const status = await deps.daemonStatus(socket);
  const running = status?.lvs === undefined ? null : runningLvs(status.lvs, config);
  const lines = planLines(config, kernel, listed, running, 0);
  deps.out(
    `plan: ${config.file} against the kernel's table (${kernel.length} service(s)` +
      `${running === null ? "" : "; verdicts from the running daemon"}):`,
  );
  if (lines.every((l) => l.startsWith("#"))) deps.out("  no changes");
  for (const l of lines) deps.out(`  ${l}`);
  return 0;
}
