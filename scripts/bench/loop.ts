/**
 * The loop benchmark: every target of issue 10 measured in one run, hacore beside
 * keepalived 2.2.7, ending in one table (target, hacore, keepalived, ratio, verdict).
 *
 * ```sh
 * sudo .tools/bin/deno task bench:loop [--quick | --full] [--only NAME,...] [--json FILE]
 * ```
 *
 * Sections (`--only` takes their names), each on namespace LANs of its own:
 *
 * - `spawn`: spawn → BACKUP. A keepalived master (VRRPv3, 1 s) is live on the LAN; N
 *   trials (quick 20, full 100, after one untimed warm-up each) start the daemon under
 *   test as priority 100, alternating which goes first (a b b a ...), and stop it again.
 *   The moment: the daemon's first log line saying its instance entered BACKUP (hacore's
 *   JSON transition, keepalived's "Entering BACKUP STATE"; both log to the console), as
 *   it reaches this process, minus the instant just before the spawn. Both pass through
 *   `ip netns exec` (a few ms, the same for both) and a pipe (sub-ms to a few ms on a
 *   loaded host). Then RSS of one instance at 1 s after 10 s, both daemons side by side.
 * - `steady`: CPU at 10 ms adverts. Two nodes, master (150) and backup (100), 1 then 50
 *   instances; utime + stime of each daemon's processes (keepalived's parent and VRRP
 *   child, and their reaped children) from /proc over a steady window (quick 30 s,
 *   full 60 s), as CPU-s per minute; the order is hacore, keepalived for 1 instance and
 *   keepalived, hacore for 50. VmRSS (and PSS) at the end of the 50-instance window (the
 *   larger of master and backup), and the idle advert lateness of the 1-instance master
 *   from a dumpcap on its bridge port (kernel stamps).
 * - `checks`: scripts/bench/checks.ts's workloads: advert lateness of a 10 ms master
 *   tracking 1,000 TCP + 200 HTTP checks a second, and RSS of 255 instances tracking
 *   1,000 checks (keepalived checks with vrrp_scripts, as checks.ts says).
 * - `contention`: scripts/bench/contention.ts's block: 50 instances at 10 ms on two
 *   nodes beside 2 CPU hogs (quick 1 min, full 5 min each); the backup's takeovers.
 * - `coldstart`: 3 nodes (150/100/50) at 100 ms started together (one Promise.all,
 *   spawns within about a millisecond), 10 trials of each daemon, alternating: the
 *   first advert on the wire (a dumpcap on the bridge; only a master advertises) names
 *   who was master first.
 * - `transitions`: two nodes at 10 ms and a client connecting to the VIP every 1-2 ms:
 *   preempt back (node1 stopped with SIGTERM, then restarted; exec → node1's kernel holds
 *   the VIP, from `ip monitor` as read here), demote and promote (hacore's operator
 *   verbs; keepalived has none), and reload (SIGHUP to the master, same config). Lost
 *   connects: failed client attempts from the action until node1 (or node2) answers
 *   again, plus 300 ms.
 *
 * The machine's load matters to every figure: the run prints the load average before and
 * after, and figures from a shared machine are indicative only.
 *
 * Exits 0 when the benchmark ran (whether targets pass or not), 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCmd, type Sandbox } from "../../lib/lab/host.ts";
import { pollUntil, sleep, wallMs } from "../../lib/lab/proc.ts";
import { startTcpService } from "../../lib/lab/tcp_service.ts";
import { buildLan, type Lan, LAN_IFACE } from "../../lib/lab/topology.ts";
import { hasAddress } from "../../lib/lab/vip.ts";
import { advertLateness, type Lateness } from "./lib/adverts.ts";
import { Capture, decodeVrrp } from "./lib/capture.ts";
import { checkSet } from "./lib/check_configs.ts";
import { Client } from "./lib/client.ts";
import {
  type BenchDaemon,
  hacoreCli,
  type ImplName,
  type NodeSpec,
  startDaemon,
} from "./lib/daemons.ts";
import { AddrMonitor } from "./lib/ip.ts";
import { type Figures, renderVerdicts, type TargetId } from "./lib/loop_report.ts";
import { countIn, manyInstancesConfig, stateTracker } from "./lib/many_instances.ts";
import { cpuSeconds, type Memory, memory } from "./lib/resources.ts";
import { preflight, runSandboxed } from "./lib/run_sandboxed.ts";
import { fmtMs, summarize, type Summary } from "./lib/stats.ts";
import {
  keepalivedTools,
  type LoadResult,
  loadRun,
  parseOptions as parseChecksOptions,
  RATE_TOLERANCE,
  type RssResult,
  rssRun,
} from "./checks.ts";
import { type ContentionResult, runContention } from "./contention.ts";

const SECTIONS = ["spawn", "steady", "checks", "contention", "coldstart", "transitions"] as const;
type Section = typeof SECTIONS[number];

const USAGE = `usage: loop.ts [--quick | --full] [--only ${SECTIONS.join(",")}] [--json FILE]`;

const IMPLS: readonly ImplName[] = ["hacore", "keepalived"];
const VIP = "192.0.2.100";
const VIP_CIDR = `${VIP}/24`;
const NODE_IPS = ["192.0.2.11", "192.0.2.12", "192.0.2.13"];
const MIB = 1024;

/** How long each section runs. */
interface Mode {
  readonly name: "quick" | "full";
  readonly spawnTrials: number;
  readonly steadyS: number;
  readonly contentionMin: number;
  readonly coldTrials: number;
  readonly preemptTrials: number;
  readonly verbTrials: number;
}

const QUICK: Mode = {
  name: "quick",
  spawnTrials: 20,
  steadyS: 30,
  contentionMin: 1,
  coldTrials: 10,
  preemptTrials: 5,
  verbTrials: 3,
};
const FULL: Mode = {
  name: "full",
  spawnTrials: 100,
  steadyS: 60,
  contentionMin: 5,
  coldTrials: 10,
  preemptTrials: 20,
  verbTrials: 10,
};

interface Options {
  readonly mode: Mode;
  readonly only: readonly Section[];
  readonly json: string | null;
}

function parseOptions(args: string[]): Options | string {
  let v;
  try {
    ({ values: v } = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        full: { type: "boolean" },
        only: { type: "string" },
        json: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return (e as Error).message;
  }
  if (v.help) return "help";
  if (v.quick && v.full) return "--quick and --full exclude each other";
  const only = v.only === undefined ? [...SECTIONS] : v.only.split(",").map((s) => s.trim());
  const unknown = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0) return `--only: unknown section(s) ${unknown.join(", ")}`;
  return { mode: v.full ? FULL : QUICK, only: only as Section[], json: v.json ?? null };
}

type Say = (s: string) => void;
type PerImpl<T> = Record<ImplName, T>;

const mib = (m: Memory) => m.rssKiB / MIB;

/** Stops a daemon however it can: SIGTERM (or at once SIGKILL with `crash`), then SIGKILL. */
async function stop(d: BenchDaemon, crash = false): Promise<void> {
  if (d.alive() && crash) d.crash();
  else if (d.alive()) d.terminate();
  await d.reap(10_000).catch(async () => {
    d.crash();
    await d.reap(5000).catch(() => {});
  });
}

/** A LAN of `count` nodes (node1 = 192.0.2.11, ...), and a client (192.0.2.50) if asked. */
function nodesLan(box: Sandbox, count: number, client = false): Promise<Lan> {
  return buildLan(box, {
    nodes: NODE_IPS.slice(0, count).map((ip, i) => ({ name: `node${i + 1}`, address: `${ip}/24` })),
    ...(client ? { client: { name: "client", address: "192.0.2.50/24" } } : {}),
  });
}

/** One instance on eth0 (VRID 51, the VIP) for `name` at `priority`. */
function oneInstance(name: string, priority: number, advertIntS: number): NodeSpec {
  return { name, priority, version: 3, advertIntS, vip: VIP_CIDR };
}

// ---------------------------------------------------------------------------------------
// spawn → BACKUP, and the RSS of one idle instance

interface SpawnResult {
  readonly ms: PerImpl<Summary>;
  readonly samples: PerImpl<number[]>;
  readonly rss1: PerImpl<Memory>;
}

async function spawnSection(box: Sandbox, mode: Mode, say: Say): Promise<SpawnResult> {
  const lan = await nodesLan(box, 3);
  const dir = await box.tempDir();
  const ns = lan.nodes.map((n) => n.ns);
  const master = await startDaemon("keepalived", box, dir, ns[0], oneInstance("master", 150, 1));
  await master.waitState("MASTER", 0, 15_000);
  const samples: PerImpl<number[]> = { hacore: [], keepalived: [] };
  // Trial -1 warms the module cache and the page cache; it is not counted.
  for (let i = -1; i < mode.spawnTrials; i++) {
    const order = i % 2 === 0 ? IMPLS : [...IMPLS].reverse();
    for (const impl of order) {
      const d = await startDaemon(impl, box, dir, ns[1], oneInstance(`spawn-${impl}`, 100, 1));
      const at = d.loggedAt("BACKUP", 0);
      if (i >= 0 && at !== null) samples[impl].push(at - d.spawnedAtMs);
      await stop(d);
    }
  }
  const ms = { hacore: summarize(samples.hacore), keepalived: summarize(samples.keepalived) };
  for (const impl of IMPLS) {
    say(
      `[spawn] ${impl}: median ${fmtMs(ms[impl].median)} p99 ${fmtMs(ms[impl].p99)} ` +
        `min ${fmtMs(ms[impl].min)} max ${fmtMs(ms[impl].max)} ms (n=${ms[impl].n})`,
    );
  }
  // Both at once, each on its own node: idle memory does not depend on the neighbour.
  const ds = [
    await startDaemon("hacore", box, dir, ns[1], oneInstance("rss-hacore", 100, 1)),
    await startDaemon("keepalived", box, dir, ns[2], oneInstance("rss-keepalived", 90, 1)),
  ];
  await sleep(10_000);
  const [h, k] = await Promise.all(ds.map((d) => memory(d.pids())));
  say(
    `[spawn] RSS 1 instance at 1 s after 10 s: hacore ${mib(h).toFixed(1)} MiB (PSS ${
      (h.pssKiB / MIB).toFixed(1)
    }), keepalived ${mib(k).toFixed(1)} MiB (PSS ${(k.pssKiB / MIB).toFixed(1)})`,
  );
  await Promise.all([...ds, master].map((d) => stop(d)));
  return { ms, samples, rss1: { hacore: h, keepalived: k } };
}

// ---------------------------------------------------------------------------------------
// CPU at 10 ms adverts (1 and 50 instances), RSS of 50, idle lateness

interface SteadyResult {
  readonly impl: ImplName;
  readonly instances: number;
  readonly seconds: number;
  /** CPU seconds per minute of [master, backup]. */
  readonly cpuPerMin: readonly [number, number];
  readonly memory: readonly [Memory, Memory];
  /** The backup's entries into MASTER during the window (should be 0). */
  readonly takeovers: number;
  /** The master's adverts on its bridge port (1 instance only). */
  readonly lateness: Lateness | null;
}

async function steadyBlock(
  box: Sandbox,
  impl: ImplName,
  count: number,
  seconds: number,
  say: Say,
): Promise<SteadyResult> {
  const lan = await nodesLan(box, 2);
  const dir = await box.tempDir();
  const spec = (name: string, priority: number): NodeSpec => ({
    ...oneInstance(name, priority, 0.01),
    config: manyInstancesConfig(impl, name, priority, count, 0.01),
  });
  const cap = count === 1
    ? await Capture.start(box, lan.bridgeNs, lan.nodes[0].port, "ip proto 112")
    : null;
  const master = await startDaemon(impl, box, dir, lan.nodes[0].ns, spec("node1", 150));
  const backup = await (async () => {
    try {
      const states = stateTracker(master);
      await pollUntil(() => countIn(states, "MASTER") === count || null, 60_000, "masters", 50);
      return await startDaemon(impl, box, dir, lan.nodes[1].ns, spec("node2", 100));
    } catch (e) {
      await stop(master);
      throw e;
    }
  })();
  try {
    await sleep(3000);
    let takeovers = 0;
    backup.proc.onLine((l) => {
      if (/-> MASTER|Entering MASTER STATE/.test(l.text)) takeovers++;
    });
    const pids = [master.pids(), backup.pids()];
    const c0 = await Promise.all(pids.map((p) => cpuSeconds(p, true)));
    const t0 = wallMs();
    await sleep(seconds * 1000);
    const c1 = await Promise.all(pids.map((p) => cpuSeconds(p, true)));
    const t1 = wallMs();
    const mem = await Promise.all(pids.map((p) => memory(p)));
    const min = (t1 - t0) / 60_000;
    let lateness: Lateness | null = null;
    if (cap !== null) {
      await cap.caughtUp(t1, 5000);
      lateness = advertLateness(cap.frames, {
        src: NODE_IPS[0],
        vrid: 1,
        intervalMs: 10,
        fromMs: t0,
        toMs: t1,
      });
    }
    const r: SteadyResult = {
      impl,
      instances: count,
      seconds: (t1 - t0) / 1000,
      cpuPerMin: [(c1[0] - c0[0]) / min, (c1[1] - c0[1]) / min],
      memory: [mem[0], mem[1]],
      takeovers,
      lateness,
    };
    say(
      `[steady] ${impl} ${count} inst.: CPU-s/min master ${r.cpuPerMin[0].toFixed(2)} backup ${
        r.cpuPerMin[1].toFixed(2)
      }; RSS master ${mib(mem[0]).toFixed(1)} backup ${mib(mem[1]).toFixed(1)} MiB (PSS ${
        (mem[0].pssKiB / MIB).toFixed(1)
      } / ${(mem[1].pssKiB / MIB).toFixed(1)}); ` +
        `${takeovers} takeovers` +
        (lateness
          ? `; lateness p50 ${fmtMs(lateness.p50Ms, 2)} p99 ${fmtMs(lateness.p99Ms, 2)} max ${
            fmtMs(lateness.maxMs, 1)
          } ms (${lateness.adverts}/${lateness.expected} adverts)`
          : ""),
    );
    return r;
  } finally {
    await Promise.all([stop(master), stop(backup)]);
    await cap?.stop();
  }
}

async function steadySection(box: Sandbox, mode: Mode, say: Say): Promise<SteadyResult[]> {
  const out: SteadyResult[] = [];
  // a b, then b a: a drift of the machine's load over the section weighs on both.
  for (const impl of IMPLS) out.push(await steadyBlock(box, impl, 1, mode.steadyS, say));
  for (const impl of [...IMPLS].reverse()) {
    out.push(await steadyBlock(box, impl, 50, mode.steadyS, say));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// checks.ts's workloads

interface ChecksResult {
  readonly load: PerImpl<LoadResult>;
  readonly rss: PerImpl<RssResult>;
}

async function checksSection(box: Sandbox, mode: Mode, say: Say): Promise<ChecksResult> {
  const opts = parseChecksOptions(mode.name === "quick" ? ["--quick"] : []);
  if (typeof opts === "string") throw new Error(`checks options: ${opts}`);
  const ka = keepalivedTools();
  say(`[checks] keepalived checks with ${ka.how}`);
  const checks = checkSet(1000, 200);
  const load = {} as PerImpl<LoadResult>;
  for (const impl of IMPLS) {
    load[impl] = await loadRun(box, impl, checks, opts.windowS, opts, ka, say, `${impl}-load`);
  }
  const rss = {} as PerImpl<RssResult>;
  for (const impl of [...IMPLS].reverse()) rss[impl] = await rssRun(box, impl, opts, ka, say);
  return { load, rss };
}

// ---------------------------------------------------------------------------------------
// Cold start of three nodes

interface ColdResult {
  readonly impl: ImplName;
  readonly trials: number;
  readonly right: number;
  /** Who sent the first advert in each trial (node name, or "none"). */
  readonly firsts: readonly string[];
}

interface ColdLan {
  readonly lan: Lan;
  readonly dir: string;
  readonly cap: Capture;
}

/** One cold start of `impl`'s three nodes on `c`: who sent the first advert. */
async function coldTrial(box: Sandbox, impl: ImplName, c: ColdLan): Promise<string> {
  const specs = [150, 100, 50].map((p, i) => oneInstance(`node${i + 1}`, p, 0.1));
  const t0 = wallMs();
  const ds = await Promise.all(
    specs.map((s, i) => startDaemon(impl, box, c.dir, c.lan.nodes[i].ns, s)),
  );
  try {
    await ds[0].waitState("MASTER", 0, 10_000).catch(() => {});
    await sleep(300);
    await c.cap.caughtUp(wallMs() - 200, 3000);
    const first = c.cap.frames.map(decodeVrrp).find((a) =>
      a !== null && a.realMs >= t0 && a.vrid === 51 && a.priority > 0
    );
    return first ? `node${NODE_IPS.indexOf(first.src) + 1}` : "none";
  } finally {
    // kill -9: a SIGTERM'd master would wait to hand over to peers that are stopping.
    await Promise.all(ds.map((d) => stop(d, true)));
    await Promise.all(
      c.lan.nodes.map((n) => runCmd("ip", ["-n", n.ns, "addr", "del", VIP_CIDR, "dev", LAN_IFACE])),
    );
    c.cap.prune(wallMs());
    await sleep(200);
  }
}

/** `trials` cold starts of each daemon on one LAN, alternating (a b b a ...). */
async function coldSection(box: Sandbox, trials: number, say: Say): Promise<ColdResult[]> {
  const lan = await nodesLan(box, 3);
  const c: ColdLan = {
    lan,
    dir: await box.tempDir(),
    cap: await Capture.start(box, lan.bridgeNs, lan.bridge, "ip proto 112"),
  };
  const firsts: PerImpl<string[]> = { hacore: [], keepalived: [] };
  try {
    for (let t = 0; t < trials; t++) {
      for (const impl of t % 2 === 0 ? IMPLS : [...IMPLS].reverse()) {
        firsts[impl].push(await coldTrial(box, impl, c));
      }
    }
  } finally {
    await c.cap.stop();
  }
  return IMPLS.map((impl) => {
    const f = firsts[impl];
    const right = f.filter((x) => x === "node1").length;
    say(`[coldstart] ${impl}: right first ${right}/${trials} (${f.join(" ")})`);
    return { impl, trials, right, firsts: f };
  });
}

// ---------------------------------------------------------------------------------------
// Planned transitions under a client

interface TransitionsResult {
  readonly impl: ImplName;
  /** exec → node1 holds the VIP, per preempt-back trial. */
  readonly preemptMs: number[];
  readonly lost: {
    readonly preempt: number[];
    readonly demote: number[] | null;
    readonly promote: number[] | null;
    readonly reload: number[];
  };
  /** Failed connects that were resets of connections in flight at an ARP move (all handovers). */
  readonly cut: number;
}

const BUDGET_MS = 15_000;

async function transitionsBlock(
  box: Sandbox,
  impl: ImplName,
  mode: Mode,
  say: Say,
): Promise<TransitionsResult> {
  const lan = await nodesLan(box, 2, true);
  const dir = await box.tempDir();
  const [ns1, ns2] = lan.nodes.map((n) => n.ns);
  await Promise.all(lan.nodes.map((m) => startTcpService(box, m.ns, m.name)));
  const mon1 = await AddrMonitor.start(box, ns1);
  const spec1 = oneInstance("node1", 150, 0.01);
  let d1 = await startDaemon(impl, box, dir, ns1, spec1);
  await d1.waitState("MASTER", 0, BUDGET_MS);
  const d2 = await startDaemon(impl, box, dir, ns2, oneInstance("node2", 100, 0.01));
  const client = await Client.start(box, lan.client!.ns, VIP, { intervalMs: 1, timeoutMs: 50 });
  const answered = (who: string, after: number) =>
    client.waitFor((a) => a.ok && a.who === who && a.startMs > after, BUDGET_MS, `${who} answers`);
  let cut = 0;
  /**
   * Failed connects started from `t0` until `who` answers again, plus 300 ms; a reset
   * (a connection in flight when the client's ARP entry moved) is counted in `cut`.
   */
  const lostUntil = async (who: string, t0: number) => {
    await answered(who, t0);
    await sleep(300);
    const failed = client.window(t0, wallMs()).attempts.filter((a) => !a.ok);
    const resets = failed.filter((a) => a.error === "ECONNRESET").length;
    cut += resets;
    return failed.length - resets;
  };
  const preemptMs: number[] = [];
  const lost = {
    preempt: [] as number[],
    demote: impl === "hacore" ? [] as number[] : null,
    promote: impl === "hacore" ? [] as number[] : null,
    reload: [] as number[],
  };
  try {
    await answered("node1", wallMs());
    for (let i = 0; i < mode.preemptTrials; i++) {
      const c2 = d2.transitionCount();
      await stop(d1);
      await d2.waitState("MASTER", c2, BUDGET_MS);
      await answered("node2", wallMs());
      if (await hasAddress(ns1, LAN_IFACE, VIP)) {
        await runCmd("ip", ["-n", ns1, "addr", "del", VIP_CIDR, "dev", LAN_IFACE]);
      }
      const from = mon1.events.length;
      d1 = await startDaemon(impl, box, dir, ns1, spec1);
      const t0 = d1.spawnedAtMs;
      const held = await mon1.waitFor(
        (e) => e.address === VIP && e.kind === "add",
        from,
        BUDGET_MS,
        "node1 to hold the VIP",
      );
      preemptMs.push(held.atMs - t0);
      lost.preempt.push(await lostUntil("node1", t0));
    }
    if (d1.controlSocket !== null) {
      const verb = async (v: string) => {
        const r = await hacoreCli([v, "VI_1", "--socket", d1.controlSocket!]);
        if (r.code !== 0) throw new Error(`hacore ${v}: ${r.stderr || r.stdout}`);
      };
      for (let i = 0; i < mode.verbTrials; i++) {
        let t0 = wallMs();
        const c2 = d2.transitionCount();
        await verb("demote");
        await d2.waitState("MASTER", c2, BUDGET_MS);
        lost.demote!.push(await lostUntil("node2", t0));
        t0 = wallMs();
        const c1 = d1.transitionCount();
        await verb("promote");
        await d1.waitState("MASTER", c1, BUDGET_MS);
        lost.promote!.push(await lostUntil("node1", t0));
        await verb("resume");
        await sleep(200);
      }
    }
    for (let i = 0; i < mode.verbTrials; i++) {
      const t0 = d1.reload();
      await sleep(1000);
      if (d1.state() !== "MASTER") throw new Error(`node1 is ${d1.state()} after a reload`);
      lost.reload.push(await lostUntil("node1", t0));
    }
  } finally {
    await Promise.all([stop(d1), stop(d2)]);
    await client.stop();
    await mon1.stop();
  }
  const s = summarize(preemptMs);
  say(
    `[transitions] ${impl}: preempt back exec → VIP median ${fmtMs(s.median)} max ${
      fmtMs(s.max)
    } ms; lost connects preempt [${lost.preempt}] demote [${lost.demote ?? "n/a"}] promote [${
      lost.promote ?? "n/a"
    }] reload [${lost.reload}]; connections cut in flight (ECONNRESET) ${cut}`,
  );
  return { impl, preemptMs, lost, cut };
}

// ---------------------------------------------------------------------------------------
// The run

interface Results {
  spawn?: SpawnResult;
  steady?: SteadyResult[];
  checks?: ChecksResult;
  contention?: ContentionResult[];
  coldstart?: ColdResult[];
  transitions?: TransitionsResult[];
}

const worst = (v: readonly number[] | null) => v === null || v.length === 0 ? null : Math.max(...v);

function both<T>(rows: readonly T[] | undefined, impl: (r: T) => ImplName) {
  const find = (i: ImplName) => rows?.find((r) => impl(r) === i) ?? null;
  return { h: find("hacore"), k: find("keepalived") };
}

/** Checks served short of the asked rates (as checks.ts judges them), or null. */
function loadShortfall(l: LoadResult): string | null {
  const r = l.window.rates;
  if (r === null) return "no check rates counted";
  if (r.tcpPerS >= 1000 * RATE_TOLERANCE && r.httpRequestsPerS >= 200 * RATE_TOLERANCE) return null;
  return `hacore's checks ran ${r.tcpPerS.toFixed(0)} TCP/s + ${
    r.httpRequestsPerS.toFixed(0)
  } HTTP/s, not 1,000 + 200`;
}

/** The figures each target is judged on, from whatever sections ran. */
function figures(r: Results): Map<TargetId, Figures> {
  const f = new Map<TargetId, Figures>();
  const put = (id: TargetId, hacore: number | null, keepalived: number | null) =>
    f.set(id, { hacore, keepalived });
  if (r.spawn) {
    put("spawn.median", r.spawn.ms.hacore.median, r.spawn.ms.keepalived.median);
    put("spawn.p99", r.spawn.ms.hacore.p99, r.spawn.ms.keepalived.p99);
    put("rss.1", mib(r.spawn.rss1.hacore), mib(r.spawn.rss1.keepalived));
  }
  for (const n of [1, 50] as const) {
    const { h, k } = both(r.steady?.filter((s) => s.instances === n), (s) => s.impl);
    if (h === null && k === null) continue;
    put(`cpu.${n}.master`, h?.cpuPerMin[0] ?? null, k?.cpuPerMin[0] ?? null);
    put(`cpu.${n}.backup`, h?.cpuPerMin[1] ?? null, k?.cpuPerMin[1] ?? null);
    const rss = (s: SteadyResult | null) => s === null ? null : Math.max(...s.memory.map(mib));
    if (n === 50) put("rss.50", rss(h), rss(k));
    else put("late.idle", h?.lateness?.p99Ms ?? null, k?.lateness?.p99Ms ?? null);
  }
  if (r.checks) {
    const { load, rss } = r.checks;
    const short = loadShortfall(load.hacore);
    f.set("late.checks", {
      hacore: load.hacore.lateness.p99Ms,
      keepalived: load.keepalived.lateness.p99Ms,
      ...(short === null ? {} : { void: short }),
    });
    put("rss.255", rss.hacore.rssKiB / MIB, rss.keepalived.rssKiB / MIB);
  }
  if (r.contention) {
    const { h, k } = both(r.contention, (c) => c.impl);
    put("contention", h?.takeovers ?? null, k?.takeovers ?? null);
  }
  if (r.coldstart) {
    const { h, k } = both(r.coldstart, (c) => c.impl);
    const share = (c: ColdResult | null) => c === null ? null : c.right / c.trials;
    f.set("cold.right", {
      hacore: share(h),
      keepalived: share(k),
      hacoreText: h ? `${h.right}/${h.trials}` : undefined,
      keepalivedText: k ? `${k.right}/${k.trials}` : undefined,
    });
  }
  if (r.transitions) {
    const { h, k } = both(r.transitions, (t) => t.impl);
    put("preempt.time", summarize(h?.preemptMs ?? []).median, summarize(k?.preemptMs ?? []).median);
    const w = (t: TransitionsResult | null, key: keyof TransitionsResult["lost"]) =>
      t === null ? null : worst(t.lost[key]);
    put("lost.preempt", w(h, "preempt"), w(k, "preempt"));
    put("lost.demote", w(h, "demote"), null);
    put("lost.promote", w(h, "promote"), null);
    put("lost.reload", w(h, "reload"), w(k, "reload"));
    put("cut.inflight", h?.cut ?? null, k?.cut ?? null);
  }
  return f;
}

/**
 * The backups' takeovers during the steady windows: a window with any measured a backup
 * that was (part of the time) master, and the host was too busy for the figures to hold.
 */
function steadyTakeovers(r: Results): string[] {
  if (r.steady === undefined) return [];
  const parts = r.steady.map((s) => `${s.impl} ${s.instances} inst. ${s.takeovers}`);
  return [`steady windows, takeovers by the backup: ${parts.join(", ")} (expected 0 each)`];
}

/** How each figure was taken, printed under the table. */
const NOTES = [
  "note: spawn → BACKUP: from just before the spawn (through `ip netns exec`) to the daemon's " +
  "first BACKUP log line as read here (a pipe: sub-ms, a few ms on a loaded host), a live " +
  "keepalived master on the LAN; first trial of each discarded (cold caches).",
  "note: CPU: utime + stime from /proc/PID/stat (10 ms ticks) of the daemon's processes and " +
  "their reaped children, per minute of the window; RSS: VmRSS, keepalived's parent and VRRP " +
  "child summed (PSS in the lines above and the JSON); the 50-instance RSS is the larger of " +
  "master and backup.",
  "note: lateness: gap between consecutive adverts − 10 ms, dumpcap's kernel stamps on the " +
  "master's bridge port; p99 nearest-rank.",
  "note: lost connects: failed client connects (one every 1-2 ms, 50 ms timeout) from the " +
  "action until the new holder answers, plus 300 ms, but for resets (ECONNRESET): a connection " +
  "whose packets were in flight when the client's ARP entry moved, which the new holder resets " +
  "whatever the daemon, counted apart as cut in flight; keepalived has no demote/promote.",
  "note: on a machine shared with other work every figure is indicative; compare a run's two " +
  "columns, not runs.",
];

async function runSections(box: Sandbox, opts: Options, say: Say, r: Results): Promise<void> {
  const mode = opts.mode;
  const on = (s: Section) => opts.only.includes(s);
  if (on("spawn")) r.spawn = await spawnSection(box, mode, say);
  if (on("steady")) r.steady = await steadySection(box, mode, say);
  if (on("checks")) r.checks = await checksSection(box, mode, say);
  if (on("contention")) {
    r.contention = [];
    for (const impl of IMPLS) {
      say(`[contention] ${impl}: 50 instances at 10 ms, 2 CPU hogs, ${mode.contentionMin} min`);
      const c = await runContention(box, impl, mode.contentionMin, 2, false);
      say(`[contention] ${impl}: ${c.takeovers} takeovers, ${c.masterLosses} master losses`);
      r.contention.push(c);
    }
  }
  if (on("coldstart")) {
    r.coldstart = await coldSection(box, mode.coldTrials, say);
  }
  if (on("transitions")) {
    r.transitions = [];
    for (const impl of IMPLS) r.transitions.push(await transitionsBlock(box, impl, mode, say));
  }
}

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  const early = preflight("loop", opts, USAGE);
  if (early !== null || typeof opts === "string") return early ?? 2;
  return await runSandboxed("loop", "hlb", async (box, interrupted) => {
    const t0 = wallMs();
    const say = (s: string) =>
      console.log(`${((wallMs() - t0) / 1000).toFixed(1).padStart(6)}s  ${s}`);
    const loadBefore = (await Deno.readTextFile("/proc/loadavg")).trim();
    say(
      `loop benchmark (${opts.mode.name}): ${opts.only.join(", ")}; ` +
        `${navigator.hardwareConcurrency} CPUs, loadavg ${loadBefore}` +
        (Deno.env.get("HACORE_BIN") ? `; hacore is ${Deno.env.get("HACORE_BIN")}` : ""),
    );
    const results: Results = {};
    let code = 0;
    try {
      await runSections(box, opts, say, results);
    } catch (e) {
      if (interrupted()) return 1;
      console.error(`\nloop: FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      code = 1;
    }
    const loadAfter = (await Deno.readTextFile("/proc/loadavg")).trim();
    console.log(`\n${renderVerdicts(figures(results))}`);
    console.log(`\n${[...steadyTakeovers(results), ...NOTES].join("\n")}`);
    console.log(
      `\nran ${((wallMs() - t0) / 1000).toFixed(0)} s on ${navigator.hardwareConcurrency} CPUs; ` +
        `loadavg before ${loadBefore}, after ${loadAfter}.`,
    );
    if (opts.json) {
      const json = {
        startedAt: new Date(t0).toISOString(),
        mode: opts.mode,
        only: opts.only,
        host: { cpus: navigator.hardwareConcurrency, loadBefore, loadAfter },
        figures: Object.fromEntries(figures(results)),
        results,
      };
      await Deno.writeTextFile(opts.json, JSON.stringify(json, null, 2) + "\n");
      console.log(`raw numbers: ${opts.json}`);
    }
    return code;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
