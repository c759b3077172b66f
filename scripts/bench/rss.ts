/**
 * Memory benchmark: hacore's resident memory by kind in three workloads, beside
 * keepalived's where keepalived can run the same workload.
 *
 * ```sh
 * sudo .tools/bin/deno run -A scripts/bench/rss.ts [--settle S] [--workload one|fifty|checks]...
 *   [--impl hacore|bundle|other|keepalived]... [--v8-flags F,F] [--json FILE]
 * ```
 *
 * Workloads (one node alone on a bridge, so master of every instance; VRRPv3):
 * - `one`: 1 instance advertising every 1 s;
 * - `fifty`: 50 instances advertising every 10 ms (5,000 adverts a second);
 * - `checks`: 255 instances at 1 s tracking 1,000 checks (800 TCP, 200 HTTP, each once a
 *   second) against servers in the node's namespace (scripts/bench/lib/check_servers.ts).
 *   hacore only: keepalived's checkers need IPVS (see scripts/bench/checks.ts).
 *
 * Each daemon runs until every instance is MASTER, then `--settle` seconds (default
 * 30); then its /proc/PID/smaps is summed by kind (scripts/bench/lib/smaps.ts): the
 * executable's code and data, other files, malloc's brk heap, other anonymous memory
 * (V8's heap, malloc's arenas), thread stacks; hacore's V8 heap figures come from its
 * metrics (`hacore_process_{heap_total,heap_used,external_memory}_bytes`). CPU is the daemon's over the settle window.
 * `hacore` is `deno run main.ts`, `bundle` the launcher of `scripts/compile.sh --bundle`;
 * `--v8-flags` replaces the production V8 flags of `hacore` (to compare flag sets);
 * `--other DIR` adds `other`, `deno run` of another checkout's main.ts (before/after).
 *
 * Exits 0 when the benchmark ran, 1 on errors, 2 on bad usage, 130/143 when
 * interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCmd, type Sandbox } from "../../lib/lab/host.ts";
import { parseTransition } from "../../lib/lab/hacore.ts";
import { LineProc, sleep, wallMs } from "../../lib/lab/proc.ts";
import { buildLan } from "../../lib/lab/topology.ts";
import {
  CHECK_TIMING,
  checkSet,
  hacoreChecksToml,
  HTTP_PORTS,
  type InstanceDef,
  keepalivedChecksConf,
  manyInstances,
  TCP_PORTS,
} from "./lib/check_configs.ts";
import { CheckServers } from "./lib/check_servers.ts";
import { ensureBundle, hacoreCommand, setOtherRoot } from "./lib/launch.ts";
import { cpuSeconds } from "./lib/resources.ts";
import { type RssByKind, rssByKind } from "./lib/smaps.ts";
import { benchOptions, runSandboxed } from "./lib/run_sandboxed.ts";
import { table } from "./lib/stats.ts";

const USAGE = "usage: rss.ts [--settle S] [--workload one|fifty|checks]... " +
  "[--impl hacore|bundle|other|keepalived]... [--v8-flags F,F] [--json FILE] [--other DIR]";

type Workload = "one" | "fifty" | "checks";
type Impl = "hacore" | "bundle" | "other" | "keepalived";
const WORKLOADS: readonly Workload[] = ["one", "fifty", "checks"];
const IMPLS: readonly Impl[] = ["hacore", "bundle", "keepalived"];
const METRICS = "127.0.0.1:9650";
const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;

/** One daemon's memory after a workload. */
interface Result {
  readonly workload: Workload;
  readonly impl: Impl;
  readonly masters: number;
  readonly instances: number;
  /** Summed over its processes (keepalived: parent and VRRP child). */
  readonly kinds: RssByKind;
  readonly vmRssKiB: number;
  /** V8's figures in bytes (hacore only). */
  readonly v8: Record<string, number> | null;
  readonly cpuSecondsPerMin: number;
}

function instancesOf(w: Workload): InstanceDef[] {
  if (w === "one") return manyInstances(1, [], 1);
  if (w === "fifty") return manyInstances(50, [], 0.01);
  return manyInstances(255, checkSet(800, 200), 1);
}

function configFor(w: Workload, impl: Impl): string {
  const instances = instancesOf(w);
  const checks = w === "checks" ? checkSet(800, 200) : [];
  if (impl === "keepalived") {
    return keepalivedChecksConf("node1", instances, checks, CHECK_TIMING, {
      nc: null,
      curl: "curl",
    });
  }
  // Metrics in the node's own namespace: where the V8 heap figures are read.
  return hacoreChecksToml("node1", instances, checks, CHECK_TIMING)
    .replace("[global]\n", `[global]\nmetrics_listen = "${METRICS}"\n`);
}

async function statusKiB(pid: number, field: string): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
}

function sumKinds(all: readonly RssByKind[]): RssByKind {
  const z: RssByKind = {
    exeText: 0,
    exeData: 0,
    otherFiles: 0,
    heap: 0,
    anon: 0,
    stacks: 0,
    threads: 0,
    totalKiB: 0,
  };
  return all.reduce((a, b) => ({
    exeText: a.exeText + b.exeText,
    exeData: a.exeData + b.exeData,
    otherFiles: a.otherFiles + b.otherFiles,
    heap: a.heap + b.heap,
    anon: a.anon + b.anon,
    stacks: a.stacks + b.stacks,
    threads: a.threads + b.threads,
    totalKiB: a.totalKiB + b.totalKiB,
  }), z);
}

async function v8Figures(ns: string): Promise<Record<string, number> | null> {
  const out = await runCmd("ip", [
    "netns",
    "exec",
    ns,
    "curl",
    "-s",
    "--max-time",
    "5",
    `http://${METRICS}/metrics`,
  ]);
  const figures: Record<string, number> = {};
  const kinds = /^hacore_process_(heap_total|heap_used|external)(?:_memory)?_bytes (\S+)$/gm;
  for (const m of out.stdout.matchAll(kinds)) figures[m[1]] = Number(m[2]);
  return Object.keys(figures).length === 0 ? null : figures;
}

async function measure(
  box: Sandbox,
  w: Workload,
  impl: Impl,
  settleS: number,
  v8Flags: readonly string[] | undefined,
  say: (s: string) => void,
): Promise<Result> {
  const lan = await buildLan(box, { nodes: [{ name: "node1", address: "192.0.2.11/24" }] });
  const ns = lan.nodes[0].ns;
  const dir = await box.tempDir();
  const instances = instancesOf(w);
  const servers = w === "checks" ? await CheckServers.start(box, ns, TCP_PORTS, HTTP_PORTS) : null;
  const file = `${dir}/node1.${impl === "keepalived" ? "conf" : "toml"}`;
  await Deno.writeTextFile(file, configFor(w, impl));
  const cmd = impl === "keepalived"
    ? [
      "keepalived",
      "-n",
      "-l",
      "-G",
      "-P",
      "-f",
      file,
      "-p",
      `${dir}/ka.pid`,
      "-r",
      `${dir}/vrrp.pid`,
      "-c",
      `${dir}/checkers.pid`,
    ]
    : hacoreCommand(impl, [
      "run",
      file,
      "--log-format",
      "json",
      "--pidfile",
      `${dir}/node1.pid`,
      "--control-socket",
      `${dir}/node1.sock`,
    ], impl === "hacore" ? v8Flags : undefined);
  const proc = new LineProc(`${impl} ${w}`, box.spawn(ns, cmd[0], ...cmd.slice(1)));
  const states = new Map<string, string>();
  proc.onLine((l) => {
    if (impl === "keepalived") {
      const m = KA_STATE.exec(l.text);
      if (m) states.set(m[1], m[2]);
    } else {
      const t = parseTransition(l);
      if (t) states.set(t.instance, t.to);
    }
  });
  const masters = () => [...states.values()].filter((s) => s === "MASTER").length;
  try {
    await proc.waitFor(
      () => masters() === instances.length ? true : null,
      60_000,
      `${impl}: all ${instances.length} instances MASTER`,
    ).catch(() => say(`${impl} ${w}: only ${masters()}/${instances.length} MASTER`));
    const pids = [proc.pid];
    if (impl === "keepalived") {
      const child = Number((await Deno.readTextFile(`${dir}/vrrp.pid`).catch(() => "")).trim());
      if (child > 0) pids.push(child);
    }
    const cpu0 = await cpuSeconds(pids);
    const t0 = wallMs();
    await sleep(settleS * 1000);
    const cpuPerMin = (await cpuSeconds(pids) - cpu0) / ((wallMs() - t0) / 60_000);
    const kinds = (await Promise.all(pids.map(rssByKind))).filter((k): k is RssByKind =>
      k !== null
    );
    let vmRss = 0;
    for (const pid of pids) vmRss += await statusKiB(pid, "VmRSS");
    const v8 = impl === "keepalived" ? null : await v8Figures(ns);
    return {
      workload: w,
      impl,
      masters: masters(),
      instances: instances.length,
      kinds: sumKinds(kinds),
      vmRssKiB: vmRss,
      v8,
      cpuSecondsPerMin: cpuPerMin,
    };
  } finally {
    try {
      proc.child.kill("SIGTERM");
    } catch {
      // exited already
    }
    await proc.exited(20_000).catch(() => proc.child.kill("SIGKILL"));
    await servers?.stop();
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

function report(results: readonly Result[]): string {
  const rows = [[
    "workload",
    "impl",
    "MASTER",
    "VmRSS MiB",
    "exe text",
    "exe data",
    "other files",
    "brk heap",
    "anon",
    "stacks",
    "threads",
    "V8 heap total/used",
    "external",
    "CPU-s/min",
  ]];
  for (const r of results) {
    const k = r.kinds;
    rows.push([
      r.workload,
      r.impl,
      `${r.masters}/${r.instances}`,
      mib(r.vmRssKiB),
      mib(k.exeText),
      mib(k.exeData),
      mib(k.otherFiles),
      mib(k.heap),
      mib(k.anon),
      mib(k.stacks),
      String(k.threads),
      r.v8 === null ? "-" : `${mib(r.v8.heap_total / 1024)}/${mib(r.v8.heap_used / 1024)}`,
      r.v8 === null ? "-" : mib(r.v8.external / 1024),
      r.cpuSecondsPerMin.toFixed(2),
    ]);
  }
  return table(rows, [0, 1]);
}

async function main(args: string[]): Promise<number> {
  const values = benchOptions(USAGE, () =>
    parseArgs({
      args,
      options: {
        settle: { type: "string" },
        workload: { type: "string", multiple: true },
        impl: { type: "string", multiple: true },
        "v8-flags": { type: "string" },
        json: { type: "string" },
        other: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values);
  if (typeof values === "number") return values;
  const settleS = Number(values.settle ?? 30);
  const workloads = (values.workload ?? WORKLOADS) as Workload[];
  const impls = (values.impl ??
    (values.other === undefined ? IMPLS : ["other", ...IMPLS])) as Impl[];
  const v8Flags = values["v8-flags"]?.split(",").filter((f) => f !== "");
  if (
    !(settleS > 0) || workloads.some((w) => !WORKLOADS.includes(w)) ||
    impls.some((i) => !IMPLS.includes(i) && i !== "other") ||
    (impls.includes("other") !== (values.other !== undefined))
  ) {
    console.error(USAGE);
    return 2;
  }
  if (values.other !== undefined) setOtherRoot(values.other);
  if (impls.includes("bundle")) await ensureBundle((m) => console.log(`rss: ${m}`));
  const results: Result[] = [];
  return await runSandboxed("rss", "hrs", async (box, interrupted) => {
    try {
      for (const w of workloads) {
        for (const impl of impls) {
          if (impl === "keepalived" && w === "checks") continue;
          const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
          console.log(`rss: ${w} / ${impl} (settle ${settleS} s, load ${load})`);
          results.push(await measure(box, w, impl, settleS, v8Flags, console.log));
        }
      }
    } catch (e) {
      if (!interrupted()) console.error(`rss: ${(e as Error).stack ?? e}`);
      return 1;
    }
    console.log(`\n${report(results)}`);
    if (v8Flags) console.log(`(hacore with --v8-flags=${v8Flags.join(",")})`);
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
