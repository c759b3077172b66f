/**
 * Start benchmark: how long from exec to BACKUP, and which node is master first when
 * three start at once. hacore against keepalived, interleaved in one run.
 *
 * ```sh
 * sudo .tools/bin/deno run -A scripts/bench/start.ts [--trials N] [--cold N]
 *   [--impl hacore|bundle|other|keepalived]... [--json FILE]
 * ```
 *
 * Implementations:
 * - `hacore`: `deno run -A <V8 flags of lib/sys/runtime_flags.ts> main.ts run FILE`, as
 *   the labs and the deno.json `run` task start it;
 * - `bundle`: `dist/hacore run FILE`, the launcher `scripts/compile.sh --bundle` writes
 *   (`deno run` of the one-file bundle dist/hacore.js, same flags); built first when
 *   missing or older than the sources;
 * - `keepalived`: `keepalived -n -l -G -P` (foreground, console log, VRRP only);
 * - `other` (with `--other DIR`, and then by default): `deno run` of DIR/main.ts like
 *   `hacore`, for another checkout (the code before a change) measured in the same run.
 *
 * 1. Spawn → BACKUP (default 30 trials each, implementations interleaved trial by trial
 *    so that they share the machine's load): one node on a bridge, one VRRPv3 instance
 *    (1 s adverts, priority 100, one VIP, no peer); the time from just before the spawn
 *    to the arrival of the line logging the instance's entry into BACKUP (hacore: its
 *    transition; keepalived: "Entering BACKUP STATE", logged by its VRRP child once its
 *    sockets are open). By then both have opened their sockets and joined the group.
 *    Both go through the same `ip netns exec`. Then SIGTERM, and the next trial once it
 *    has exited. One untimed start of each comes first, to warm Deno's caches.
 *    Also the CPU (user + system) each had used by then, from /proc/PID/stat.
 * 2. Cold start (default 10 trials each): three nodes on one bridge, priorities 150,
 *    100 and 50, 100 ms adverts, all spawned in the same tick (in an order that turns
 *    from trial to trial); which node logs MASTER first, and how long after the spawn. The target: the 150 node in ≥ 9 of 10.
 *
 * Exits 0 when the benchmark ran (whether targets pass or not), 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Sandbox } from "../../lib/lab/host.ts";
import { hacoreConfigToml, parseTransition } from "../../lib/lab/hacore.ts";
import { LineProc, wallMs } from "../../lib/lab/proc.ts";
import { buildLan, type LanMember } from "../../lib/lab/topology.ts";
import { keepalivedConf } from "../../tests/netns/peers.ts";
import { ensureBundle, hacoreCommand, setOtherRoot } from "./lib/launch.ts";
import { cpuSeconds } from "./lib/resources.ts";
import { benchOptions, runSandboxed } from "./lib/run_sandboxed.ts";
import { fmtMs, percentile, table } from "./lib/stats.ts";

const USAGE =
  "usage: start.ts [--trials N] [--cold N] [--impl hacore|bundle|other|keepalived]... " +
  "[--json FILE] [--other DIR]";

const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;
const VIP = "192.0.2.100/24";
const STATE_TIMEOUT_MS = 15_000;

/** Which start is measured. */
type Impl = "hacore" | "bundle" | "other" | "keepalived";
const IMPLS: readonly Impl[] = ["hacore", "bundle", "keepalived"];

/** One node of a trial: where it runs and what it runs. */
interface NodeRun {
  readonly name: string;
  readonly member: LanMember;
  readonly priority: number;
  readonly advertIntS: number;
}

/** A started daemon: its output and when its first entry into a state arrived. */
interface Started {
  readonly name: string;
  readonly proc: LineProc;
  readonly spawnedAt: number;
  /** Arrival ({@link wallMs}) of the first line logging entry into `state`, or null. */
  firstAt(state: string): number | null;
  waitState(state: string): Promise<number>;
  /** CPU seconds of its processes so far (keepalived: the parent and its VRRP child). */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

function hacoreArgs(impl: "hacore" | "bundle" | "other", file: string, dir: string, name: string) {
  const run = [
    "run",
    file,
    "--log-format",
    "json",
    "--pidfile",
    `${dir}/${name}.pid`,
    "--control-socket",
    `${dir}/${name}.sock`,
  ];
  return hacoreCommand(impl, run);
}

async function spawnNode(
  box: Sandbox,
  dir: string,
  impl: Impl,
  node: NodeRun,
): Promise<{ spawn: () => Started }> {
  const base = `${dir}/${node.name}`;
  if (impl === "keepalived") {
    await Deno.writeTextFile(
      `${base}.conf`,
      keepalivedConf({
        routerId: node.name,
        priority: node.priority,
        version: 3,
        advertIntS: node.advertIntS,
        vips: [VIP],
      }),
    );
  } else {
    await Deno.writeTextFile(
      `${base}.toml`,
      hacoreConfigToml({
        routerId: node.name,
        priority: node.priority,
        vips: [VIP],
        version: 3,
        advertIntS: node.advertIntS,
      }),
    );
  }
  const cmd = impl === "keepalived"
    ? [
      "keepalived",
      "-n",
      "-l",
      "-G",
      "-P",
      "-f",
      `${base}.conf`,
      "-p",
      `${base}.ka.pid`,
      "-r",
      `${base}.vrrp.pid`,
      "-c",
      `${base}.checkers.pid`,
    ]
    : hacoreArgs(impl, `${base}.toml`, dir, node.name);
  return {
    spawn() {
      const spawnedAt = wallMs();
      const proc = new LineProc(
        `${impl} ${node.name}`,
        box.spawn(node.member.ns, cmd[0], ...cmd.slice(1)),
      );
      const states: { state: string; atMs: number }[] = [];
      proc.onLine((l) => {
        if (impl === "keepalived") {
          const m = KA_STATE.exec(l.text);
          if (m) states.push({ state: m[2], atMs: l.atMs });
        } else {
          const t = parseTransition(l);
          // Arrival, as for keepalived: hacore's own stamps are whole milliseconds.
          if (t) states.push({ state: t.to, atMs: l.atMs });
        }
      });
      const firstAt = (state: string) => states.find((s) => s.state === state)?.atMs ?? null;
      return {
        name: node.name,
        proc,
        spawnedAt,
        firstAt,
        waitState: (state) =>
          proc.waitFor(() => firstAt(state), STATE_TIMEOUT_MS, `${node.name} ${state}`),
        async cpuSeconds() {
          const pids = [proc.pid];
          if (impl === "keepalived") {
            const child = Number(
              (await Deno.readTextFile(`${base}.vrrp.pid`).catch(() => "")).trim(),
            );
            if (Number.isInteger(child) && child > 0) pids.push(child);
          }
          return await cpuSeconds(pids);
        },
        async stop() {
          try {
            proc.child.kill("SIGTERM");
          } catch {
            // exited already
          }
          await proc.exited(10_000);
          // keepalived's VRRP child exits after its parent has relayed the SIGTERM;
          // its pid files go, so that the next trial starts clean.
          for (const f of ["pid", "ka.pid", "vrrp.pid", "checkers.pid"]) {
            await Deno.remove(`${base}.${f}`).catch(() => {});
          }
        },
      };
    },
  };
}

/** Spawn → BACKUP times, and the CPU each had used when its BACKUP line arrived. */
interface SpawnResult {
  readonly ms: number[];
  /** 10 ms resolution (USER_HZ): a mean over many trials says more than any one. */
  readonly cpuMs: number[];
}

/** Spawn → BACKUP, `trials` times per implementation, interleaved. */
async function spawnToBackup(
  box: Sandbox,
  impls: readonly Impl[],
  trials: number,
): Promise<Map<Impl, SpawnResult>> {
  const lan = await buildLan(box, { nodes: [{ name: "node1", address: "192.0.2.11/24" }] });
  const dir = await box.tempDir();
  const out = new Map<Impl, SpawnResult>(impls.map((i) => [i, { ms: [], cpuMs: [] }]));
  const node: NodeRun = { name: "node1", member: lan.nodes[0], priority: 100, advertIntS: 1 };
  const starters = new Map<Impl, () => Started>();
  for (const impl of impls) {
    starters.set(impl, (await spawnNode(box, dir, impl, { ...node, name: `n-${impl}` })).spawn);
  }
  // One untimed start each first: Deno's emit and V8 code caches are then warm, as on
  // every start but the first after an install.
  for (const impl of impls) {
    const d = starters.get(impl)!();
    await d.waitState("BACKUP").finally(() => d.stop());
  }
  for (let t = 0; t < trials; t++) {
    for (const impl of impls) {
      const d = starters.get(impl)!();
      try {
        const at = await d.waitState("BACKUP");
        const r = out.get(impl)!;
        r.ms.push(at - d.spawnedAt);
        r.cpuMs.push((await d.cpuSeconds()) * 1000);
      } finally {
        await d.stop();
      }
    }
    Deno.stdout.writeSync(new TextEncoder().encode(t % 10 === 9 ? `${t + 1}` : "."));
  }
  console.log();
  return out;
}

/** One cold start: which node logged MASTER first, and when (ms after the spawn). */
interface ColdResult {
  readonly first: string;
  readonly afterMs: number;
  readonly priority: number;
}

const COLD_NODES = [
  { name: "p150", priority: 150, address: "192.0.2.21/24" },
  { name: "p100", priority: 100, address: "192.0.2.22/24" },
  { name: "p50", priority: 50, address: "192.0.2.23/24" },
] as const;

async function coldStarts(
  box: Sandbox,
  impls: readonly Impl[],
  trials: number,
): Promise<Map<Impl, ColdResult[]>> {
  const lan = await buildLan(box, { nodes: COLD_NODES.map((n) => ({ ...n })) });
  const dir = await box.tempDir();
  const out = new Map<Impl, ColdResult[]>(impls.map((i) => [i, []]));
  const starters = new Map<Impl, (() => Started)[]>();
  for (const impl of impls) {
    const s: (() => Started)[] = [];
    for (const [i, n] of COLD_NODES.entries()) {
      const run: NodeRun = {
        name: `${impl}-${n.name}`,
        member: lan.nodes[i],
        priority: n.priority,
        advertIntS: 0.1,
      };
      s.push((await spawnNode(box, dir, impl, run)).spawn);
    }
    starters.set(impl, s);
  }
  for (let t = 0; t < trials; t++) {
    for (const impl of impls) {
      // The same tick: no await between the three spawns, whose order turns with the
      // trial: the first spawned has a head start on a loaded machine.
      const spawns = starters.get(impl)!;
      const order = spawns.map((_, i) => (i + t) % spawns.length);
      const byOrder = order.map((i) => ({ i, node: spawns[i]() }));
      const nodes = byOrder.sort((a, b) => a.i - b.i).map((x) => x.node);
      try {
        const t0 = Math.min(...nodes.map((n) => n.spawnedAt));
        await Promise.race(nodes.map((n) => n.waitState("MASTER")));
        const firsts = nodes
          .map((n, i) => ({ i, at: n.firstAt("MASTER") }))
          .filter((x): x is { i: number; at: number } => x.at !== null)
          .sort((a, b) => a.at - b.at);
        const w = firsts[0];
        out.get(impl)!.push({
          first: COLD_NODES[w.i].name,
          afterMs: w.at - t0,
          priority: COLD_NODES[w.i].priority,
        });
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
      }
    }
    Deno.stdout.writeSync(new TextEncoder().encode("."));
  }
  console.log();
  return out;
}

function spawnTable(results: Map<Impl, SpawnResult>): string {
  const ka = results.get("keepalived");
  const kaMedian = ka === undefined ? null : percentile(ka.ms, 50);
  const rows = [[
    "impl",
    "n",
    "median ms",
    "p90",
    "p99",
    "max",
    "min",
    "median / keepalived",
    "mean CPU ms",
  ]];
  for (const [impl, { ms: v, cpuMs }] of results) {
    const med = percentile(v, 50);
    rows.push([
      impl,
      String(v.length),
      fmtMs(med),
      fmtMs(percentile(v, 90)),
      fmtMs(percentile(v, 99)),
      fmtMs(percentile(v, 100)),
      fmtMs(v.length === 0 ? null : Math.min(...v)),
      med === null || kaMedian === null ? "-" : `${(med / kaMedian).toFixed(1)}×`,
      fmtMs(cpuMs.length === 0 ? null : cpuMs.reduce((a, b) => a + b, 0) / cpuMs.length, 0),
    ]);
  }
  return table(rows, [0]);
}

function coldTable(results: Map<Impl, ColdResult[]>): string {
  const rows = [["impl", "trials", "p150 first", "p100 first", "p50 first", "median ms to MASTER"]];
  for (const [impl, r] of results) {
    const count = (name: string) => String(r.filter((x) => x.first === name).length);
    rows.push([
      impl,
      String(r.length),
      count("p150"),
      count("p100"),
      count("p50"),
      fmtMs(percentile(r.map((x) => x.afterMs), 50)),
    ]);
  }
  return table(rows, [0]);
}

async function main(args: string[]): Promise<number> {
  const values = benchOptions(USAGE, () =>
    parseArgs({
      args,
      options: {
        trials: { type: "string" },
        cold: { type: "string" },
        impl: { type: "string", multiple: true },
        json: { type: "string" },
        other: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values);
  if (typeof values === "number") return values;
  const trials = Number(values.trials ?? 30);
  const cold = Number(values.cold ?? 10);
  const impls = (values.impl ??
    (values.other === undefined ? IMPLS : ["other", ...IMPLS])) as Impl[];
  if (
    !Number.isInteger(trials) || trials < 0 || !Number.isInteger(cold) || cold < 0 ||
    impls.some((i) => !IMPLS.includes(i) && i !== "other") ||
    (impls.includes("other") !== (values.other !== undefined))
  ) {
    console.error(USAGE);
    return 2;
  }
  if (values.other !== undefined) setOtherRoot(values.other);
  if (impls.includes("bundle")) await ensureBundle((m) => console.log(`start: ${m}`));
  return await runSandboxed("start", "hst", async (box, interrupted) => {
    try {
      const load0 = await loadAvg();
      console.log(`spawn → BACKUP: ${trials} trials each of ${impls.join(", ")} (load ${load0})`);
      const spawn = await spawnToBackup(box, impls, trials);
      console.log(spawnTable(spawn));
      console.log(`\ncold start, 3 nodes at 100 ms: ${cold} trials each (load ${await loadAvg()})`);
      const coldR = await coldStarts(box, impls, cold);
      console.log(coldTable(coldR));
      const hacoreOk = [...coldR].filter(([i]) => i !== "keepalived").map(([i, r]) =>
        `${i} ${r.filter((x) => x.first === "p150").length}/${r.length}`
      );
      console.log(`\ntarget: p150 master first in ≥ 90% (${hacoreOk.join(", ")})`);
      if (values.json) {
        await Deno.writeTextFile(
          values.json,
          JSON.stringify(
            { spawnMs: Object.fromEntries(spawn), cold: Object.fromEntries(coldR) },
            null,
            2,
          ),
        );
      }
      return 0;
    } catch (e) {
      if (!interrupted()) console.error(`start: ${(e as Error).stack ?? e}`);
      return 1;
    }
  });
}

async function loadAvg(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

if (import.meta.main) Deno.exit(await main(Deno.args));
