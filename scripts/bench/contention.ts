/**
 * Contention benchmark: does a backup take over from a live master when the CPU is
 * scarce? hacore against keepalived on the same namespace LAN, in one run.
 *
 * ```sh
 * sudo .tools/bin/deno run -A scripts/bench/contention.ts [--minutes N | --quick] [--hogs N]
 *   [--impl hacore|keepalived]... [--json FILE]
 * ```
 *
 * For each implementation in turn: two nodes on a bridge, each with 50 VRRPv3 instances
 * at advert_int 0.01 s (node1 priority 150, started first and master of all 50; node2
 * priority 100, backup of all 50), and N busy loops (`yes > /dev/null`, default 2),
 * pinned nowhere, for N minutes (default 5, `--quick` 1). Counted: node2's takeovers
 * (any instance entering MASTER) and node1's losses (any instance leaving MASTER), the
 * machine's load average, and each daemon's CPU seconds per minute. The target is 0
 * takeovers: a master that is alive must not be declared down because the backup's
 * loop fell behind the adverts it had already received.
 *
 * `--rt-master` runs node1 with round-robin real-time priority (`chrt -a -r 10`), so that
 * it always sends on time: whatever takeovers are left are then the backup's doing. On
 * a machine loaded by others, a master without it can itself send late, and a takeover
 * is then what the protocol asks for.
 *
 * Exits 0 when the benchmark ran (whether the target passes or not), 1 on errors, 2 on
 * bad usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Sandbox } from "../../lib/lab/host.ts";
import { pollUntil, sleep, wallMs } from "../../lib/lab/proc.ts";
import { buildLan } from "../../lib/lab/topology.ts";
import { type ImplName, startDaemon } from "./lib/daemons.ts";
import { countIn, manyInstancesConfig, stateTracker } from "./lib/many_instances.ts";
import { cpuSeconds } from "./lib/resources.ts";
import { benchOptions, runSandboxed } from "./lib/run_sandboxed.ts";
import { table } from "./lib/stats.ts";

const USAGE =
  "usage: contention.ts [--minutes N | --quick] [--hogs N] [--impl hacore|keepalived]... " +
  "[--rt-master] [--json FILE]";

const INSTANCES = 50;
const ADVERT_INT_S = 0.01;
const MASTER_PRIO = 150;
const BACKUP_PRIO = 100;
const START_MS = 60_000;

/**
 * What one implementation's block measured.
 *
 * @example
 * ```ts
 * const r: ContentionResult = await runContention(box, "hacore", 1, 2, false);
 * r.takeovers;
 * ```
 */
export interface ContentionResult {
  readonly impl: ImplName;
  readonly minutes: number;
  readonly hogs: number;
  /** node2 (the backup) entering MASTER, any instance. */
  readonly takeovers: number;
  /** node1 (the master) leaving MASTER, any instance. */
  readonly masterLosses: number;
  /** Up to five of node2's takeover lines, as logged. */
  readonly samples: readonly string[];
  readonly loadAvg1: readonly number[];
  /** CPU seconds per minute of [master, backup]. */
  readonly cpuPerMin: readonly [number, number];
}

async function loadAvg1(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
}

/**
 * One implementation's block: two nodes of {@link INSTANCES} instances at 10 ms beside
 * `hogs` busy loops for `minutes`; everything it starts stops before it returns.
 *
 * @example
 * ```ts
 * const r = await runContention(box, "keepalived", 1, 2, false);
 * ```
 */
export async function runContention(
  box: Sandbox,
  impl: ImplName,
  minutes: number,
  hogs: number,
  rtMaster: boolean,
): Promise<ContentionResult> {
  const lan = await buildLan(box, {
    nodes: [{ name: "node1", address: "192.0.2.11/24" }, {
      name: "node2",
      address: "192.0.2.12/24",
    }],
  });
  const dir = await box.tempDir();
  const config = (name: string, prio: number) =>
    manyInstancesConfig(impl, name, prio, INSTANCES, ADVERT_INT_S);
  const spec = (name: string, priority: number) => ({
    name,
    priority,
    version: 3 as const,
    advertIntS: ADVERT_INT_S,
    vip: "198.51.100.1/24",
    config: config(name, priority),
  });
  const master = await startDaemon(impl, box, dir, lan.nodes[0].ns, spec("node1", MASTER_PRIO));
  const masterStates = stateTracker(master);
  if (rtMaster) {
    for (const pid of master.pids()) {
      await new Deno.Command("chrt", { args: ["-a", "-r", "-p", "10", String(pid)] }).output();
    }
  }
  await pollUntil(
    () => countIn(masterStates, "MASTER") === INSTANCES || null,
    START_MS,
    `${impl} node1 to be master of all ${INSTANCES}`,
    50,
  );
  const backup = await startDaemon(impl, box, dir, lan.nodes[1].ns, spec("node2", BACKUP_PRIO));
  await sleep(2000);
  if (countIn(masterStates, "MASTER") !== INSTANCES) {
    throw new Error(`${impl}: node1 lost instances as node2 joined`);
  }

  const takeovers: string[] = [];
  let losses = 0;
  backup.proc.onLine((l) => {
    if (/-> MASTER|Entering MASTER STATE/.test(l.text)) takeovers.push(l.text);
  });
  master.proc.onLine((l) => {
    if (/MASTER -> |Entering (BACKUP|FAULT) STATE/.test(l.text)) losses++;
  });
  const hogNs = await box.netns();
  // Stopped at the end of the block: the next block (or benchmark) must start without them.
  const hogProcs = Array.from(
    { length: hogs },
    () => box.spawn(hogNs, "sh", "-c", "exec yes > /dev/null"),
  );
  const cpu0 = [await cpuSeconds(master.pids(), true), await cpuSeconds(backup.pids(), true)];
  const t0 = wallMs();
  const loads: number[] = [];
  while (wallMs() - t0 < minutes * 60_000) {
    await sleep(Math.min(10_000, minutes * 60_000 - (wallMs() - t0)));
    loads.push(await loadAvg1());
    console.log(
      `  ${impl}: ${((wallMs() - t0) / 1000).toFixed(0)} s, load ${loads.at(-1)}, ` +
        `${takeovers.length} takeovers`,
    );
  }
  const elapsedMin = (wallMs() - t0) / 60_000;
  const cpu1 = [await cpuSeconds(master.pids(), true), await cpuSeconds(backup.pids(), true)];
  const result: ContentionResult = {
    impl,
    minutes: elapsedMin,
    hogs,
    takeovers: takeovers.length,
    masterLosses: losses,
    samples: takeovers.slice(0, 5),
    loadAvg1: loads,
    cpuPerMin: [(cpu1[0] - cpu0[0]) / elapsedMin, (cpu1[1] - cpu0[1]) / elapsedMin],
  };
  for (const h of hogProcs) h.kill("SIGKILL");
  await Promise.all(hogProcs.map((h) => h.status));
  master.terminate();
  backup.terminate();
  await Promise.all([master.reap(10_000), backup.reap(10_000)]).catch(() => {});
  return result;
}

async function main(args: string[]): Promise<number> {
  const values = benchOptions(USAGE, () =>
    parseArgs({
      args,
      options: {
        minutes: { type: "string" },
        quick: { type: "boolean" },
        hogs: { type: "string" },
        impl: { type: "string", multiple: true },
        json: { type: "string" },
        "rt-master": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values);
  if (typeof values === "number") return values;
  const minutes = values.quick ? 1 : Number(values.minutes ?? 5);
  const hogs = Number(values.hogs ?? 2);
  const impls = (values.impl ?? ["hacore", "keepalived"]) as ImplName[];
  if (
    !(minutes > 0) || !Number.isInteger(hogs) || hogs < 0 ||
    impls.some((i) => i !== "hacore" && i !== "keepalived")
  ) {
    console.error(USAGE);
    return 2;
  }
  console.log(
    `contention: ${INSTANCES} instances at ${ADVERT_INT_S * 1000} ms, ${hogs} CPU hogs, ` +
      `${minutes} min per implementation${values["rt-master"] ? ", node1 real-time" : ""}`,
  );
  const results: ContentionResult[] = [];
  return await runSandboxed("contention", "hcc", async (box, interrupted) => {
    try {
      for (const impl of impls) {
        results.push(await runContention(box, impl, minutes, hogs, values["rt-master"] ?? false));
      }
    } catch (e) {
      if (!interrupted()) console.error(`contention: ${(e as Error).message}`);
      return 1;
    }
    const fmt = (v: number) => v.toFixed(2);
    console.log(
      "\n" + table([
        ["impl", "min", "takeovers", "master losses", "load avg", "CPU-s/min master", "backup"],
        ...results.map((r) => [
          r.impl,
          r.minutes.toFixed(1),
          String(r.takeovers),
          String(r.masterLosses),
          fmt(r.loadAvg1.reduce((a, b) => a + b, 0) / Math.max(1, r.loadAvg1.length)),
          fmt(r.cpuPerMin[0]),
          fmt(r.cpuPerMin[1]),
        ]),
      ], [0]),
    );
    for (const r of results) {
      for (const s of r.samples) console.log(`  ${r.impl} takeover: ${s}`);
    }
    const ok = results.every((r) => r.takeovers === 0);
    console.log(`\ntarget (0 takeovers): ${ok ? "met" : "NOT met"}`);
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
