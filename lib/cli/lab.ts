/**
 * `hacore lab [FILE]`: a failover lab on this machine's kernel, for a person to watch.
 *
 * It builds network namespaces joined by a bridge (the bridge in a namespace of its
 * own, so nothing reaches the host's networks), one namespace per node running
 * `hacore run` and a tiny TCP service on port 8080 that answers with the node's name,
 * and a client namespace probing VIP:8080 every 10 ms. Then it prints the timeline: the
 * election, a kill -9 of the master (its cable pulled too, as for a dead machine), the
 * takeover and the client's outage, the old master's return and preemption, and a
 * SIGTERM handover. Everything it made is removed at the end, on error, and on
 * SIGINT/SIGTERM.
 *
 * Without FILE it runs the embedded default (three nodes, priorities 150/100/50,
 * VRRPv3 with 100 ms adverts, VIP 192.0.2.100); FILE is a lab spec, see lib/lab/spec.ts.
 * Needs root (namespaces, raw sockets).
 *
 * `hacore lab --lvs` tells the LVS-DR story instead (lib/lab/lvs_scenario.ts): two
 * directors (VRRP + IPVS), three web servers, a client; a web server killed and revived,
 * then the master director killed. It needs the kernel's IPVS, which most test hosts
 * lack: there it refuses and names the guest that has it (scripts/vm/run.sh).
 * `--directors K1,K2` runs keepalived instead of hacore on dir1 and/or dir2.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { Sandbox, sweepStaleLabs } from "../lab/host.ts";
import type { DirectorKind } from "../lab/lvs_director.ts";
import { lvsLabSpec } from "../lab/lvs.ts";
import { lvsUnavailable, runLvsScenario } from "../lab/lvs_scenario.ts";
import { runLabScenario } from "../lab/scenario.ts";
import { defaultLabSpec, type LabSpec, loadLabSpec } from "../lab/spec.ts";

const USAGE = "usage: hacore lab [FILE]   (as root; FILE is a lab spec, see lib/lab/spec.ts)\n" +
  "       hacore lab --lvs [--directors hacore|keepalived,hacore|keepalived]\n" +
  "                        (the LVS-DR story; needs IPVS: scripts/vm/run.sh -- deno run -A main.ts lab --lvs)";

function missingTools(): string[] {
  const out: string[] = [];
  const path = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  if (
    !path.some((d) => {
      try {
        return Deno.statSync(`${d}/ip`).isFile;
      } catch {
        return false;
      }
    })
  ) out.push("ip (iproute2)");
  return out;
}

/**
 * Runs the lab; 0 when every step happened, 1 when one did not (or the spec is bad, or
 * this is not root), 2 on bad usage, 130/143 when interrupted by SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * Deno.exitCode = await labCommand([]);
 * ```
 */
export async function labCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h" },
        lvs: { type: "boolean" },
        directors: { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`hacore lab: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    console.error(`hacore lab: expected at most one FILE\n${USAGE}`);
    return 2;
  }
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    console.error(
      "hacore lab: needs root on Linux: it creates network namespaces and runs VRRP daemons " +
        "in them (try: sudo hacore lab)",
    );
    return 1;
  }
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`hacore lab: needs ${missing.join(", ")} on PATH`);
    return 1;
  }

  let kinds: [DirectorKind, DirectorKind] = ["hacore", "hacore"];
  if (parsed.values.directors !== undefined) {
    const k = parsed.values.directors.split(",");
    if (
      !parsed.values.lvs || k.length !== 2 ||
      !k.every((x) => x === "hacore" || x === "keepalived")
    ) {
      console.error(
        `hacore lab: --directors takes two of hacore|keepalived, with --lvs\n${USAGE}`,
      );
      return 2;
    }
    kinds = k as [DirectorKind, DirectorKind];
  }
  if (parsed.values.lvs) {
    if (parsed.positionals.length > 0) {
      console.error(`hacore lab: --lvs takes no FILE\n${USAGE}`);
      return 2;
    }
    const why = lvsUnavailable();
    if (why !== null) {
      console.error(
        `hacore lab --lvs: ${why}. Run it in the IPVS guest instead:\n` +
          "  bash scripts/vm/run.sh -- deno run -A main.ts lab --lvs",
      );
      return 1;
    }
  }

  let spec: LabSpec = defaultLabSpec();
  if (!parsed.values.lvs && parsed.positionals.length === 1) {
    const r = await loadLabSpec(parsed.positionals[0]);
    if (!r.ok) {
      for (const e of r.errors) console.error(e);
      console.error(`hacore lab: ${r.errors.length} problem(s); nothing was started`);
      return 1;
    }
    spec = r.spec;
  }

  const swept = await sweepStaleLabs();
  if (swept.length > 0) {
    console.log(`removed ${swept.length} namespace(s) left by a killed lab: ${swept.join(", ")}`);
  }

  const box = new Sandbox();
  let interrupted: Deno.Signal | null = null;
  const onSignal = (sig: Deno.Signal) => async () => {
    if (interrupted) return;
    interrupted = sig;
    console.log(`\n${sig}: cleaning up`);
    try {
      await box.cleanup();
    } catch (e) {
      console.error(`hacore lab: cleanup: ${(e as Error).message}`);
    }
    Deno.exit(sig === "SIGINT" ? 130 : 143);
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);

  if (parsed.values.lvs) {
    return await runWithCleanup(
      box,
      async () => {
        const lvs = lvsLabSpec();
        console.log(
          `hacore lab --lvs: LVS-DR, VIP ${lvs.vip}:8080, checks every ${
            lvs.delayLoopS * 1000
          } ms` +
            ` (fall ${lvs.retry + 1}), VRRPv3 every ${lvs.advertIntS * 1000} ms`,
        );
        const report = await runLvsScenario(box, lvs, {
          say: (l) => console.log(l),
          directors: kinds,
        });
        console.log(`\n${report.summary}`);
      },
      () => interrupted !== null,
      handlers,
    );
  }

  const describe = spec.nodes.map((n) => {
    const vi = n.config.instances[0];
    return `${n.name} prio ${vi.priority}`;
  }).join(", ");
  const vi0 = spec.nodes[0].config.instances[0];
  console.log(
    `hacore lab (${spec.source}): ${spec.nodes.length} nodes (${describe}), ` +
      `VRRPv${vi0.version} every ${vi0.advertIntervalMs} ms, VIP ${spec.vip}`,
  );
  return await runWithCleanup(
    box,
    async () => {
      const report = await runLabScenario(box, spec, { say: (l) => console.log(l) });
      console.log(`\n${report.summary}`);
    },
    () => interrupted !== null,
    handlers,
  );
}

/**
 * Runs a story, then cleans the sandbox and removes the signal handlers, unless a signal
 * came: its handler cleans up and owns the exit. 0 when the story ran through, 1 when it
 * (or the cleanup) failed.
 */
async function runWithCleanup(
  box: Sandbox,
  story: () => Promise<void>,
  interrupted: () => boolean,
  handlers: readonly (readonly [Deno.Signal, () => void])[],
): Promise<number> {
  let code = 0;
  try {
    await story();
  } catch (e) {
    if (interrupted()) return 0; // the signal handler owns the exit
    console.error(`\nhacore lab: FAILED: ${(e as Error).message}`);
    code = 1;
  } finally {
    if (!interrupted()) {
      try {
        await box.cleanup();
      } catch (e) {
        console.error(`hacore lab: cleanup: ${(e as Error).message}`);
        code = 1;
      }
      for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
    }
  }
  return code;
}
