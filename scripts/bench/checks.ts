/**
 * Health-check benchmark: hacore against keepalived, one after the other in one run.
 *
 * ```sh
 * sudo .tools/bin/deno run -A scripts/bench/checks.ts [--quick] [--json FILE]
 * ```
 *
 * Three measurements per daemon, each in namespaces made for it (a node on a bridge;
 * checks go to loopback servers in the node's namespace, adverts onto the bridge):
 *
 * 1. Load: 1,000 TCP and 200 HTTP checks a second (each check once a second), tracked
 *    by one VRRPv3 instance advertising every 10 ms as master. Check rates are counted
 *    where they arrive (scripts/bench/lib/check_servers.ts, its own process: its CPU is
 *    not the daemon's); the daemon's CPU is utime + stime of its processes and of the
 *    children they reaped (/proc/PID/stat) over a steady window, in cores.
 * 2. Advert lateness under that load: gaps between the master's consecutive adverts
 *    minus 10 ms, from dumpcap's kernel stamps on the node's bridge port (the veth
 *    peer), never the daemon's clock. The same instance with no checks gives a baseline.
 * 3. Memory: 255 VRRPv3 instances (VRIDs 1..255, 1 s adverts) tracking 1,000 checks
 *    (800 TCP, 200 HTTP): VmRSS after settling (keepalived: its parent and VRRP child
 *    summed; PSS too, which splits their shared pages).
 *
 * keepalived 2.2.7's own checkers (TCP_CHECK, HTTP_GET under virtual_server) run in its
 * checker child, which exits FATAL at start on a kernel without IPVS ("IPVS: Can't
 * initialize ipvs"): there keepalived checks with vrrp_scripts, a fork and exec per
 * check (`nc -z` or bash's /dev/tcp, and curl), and so it does here; the output says so.
 * The run checks whether IPVS is there and says which comparison it made.
 *
 * Exits 0 when the benchmark ran (whether targets pass or not), 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { preflight, runSandboxed } from "./lib/run_sandboxed.ts";
import { parseArgs } from "node:util";
import { runCmd, type Sandbox } from "../../lib/lab/host.ts";
import { logMessage, parseTransition } from "../../lib/lab/hacore.ts";
import { type Line, sleep, wallMs } from "../../lib/lab/proc.ts";
import { buildLan, LAN_IFACE } from "../../lib/lab/topology.ts";
import { advertLateness, type Lateness } from "./lib/adverts.ts";
import { Capture } from "./lib/capture.ts";
import {
  CHECK_TIMING,
  type CheckDef,
  checkSet,
  hacoreChecksToml,
  HTTP_PORTS,
  type InstanceDef,
  keepalivedChecksConf,
  manyInstances,
  TCP_PORTS,
} from "./lib/check_configs.ts";
import { CheckServers, type Rates, rates } from "./lib/check_servers.ts";
import { type BenchDaemon, type ImplName, startDaemon } from "./lib/daemons.ts";
import { cpuSeconds, hostCpuSeconds, memory } from "./lib/resources.ts";
import { fmtMs, table } from "./lib/stats.ts";
import { hasIpvs } from "./lib/ipvs_guest.ts";

const USAGE = "usage: checks.ts [--quick] [--impl hacore|keepalived]... [--window S] " +
  "[--warmup S] [--baseline S] [--settle S] [--tcp N] [--http N] [--json FILE] [--logs DIR] " +
  "[--no-rss]";

const NODE_ADDRESS = "192.0.2.11/24";
const NODE_IP = "192.0.2.11";
const VIP = "192.0.2.100/24";
const VRID = 51;
const ADVERT_INT_S = 0.01;
const ADVERT_MS = 10;
const RSS_INSTANCES = 255;
const RSS_TCP = 800;
const RSS_HTTP = 200;

const TARGET_CPU_CORES = 0.25;
const TARGET_P99_MS = 2;
const TARGET_RSS_MIB = 64;
/** A daemon "ran" the asked rate when the servers counted at least this share of it. */
export const RATE_TOLERANCE = 0.97;

/**
 * The run's options, as {@link parseOptions} reads them.
 *
 * @example
 * ```ts
 * const o = parseOptions(["--quick"]);
 * ```
 */
export interface Options {
  readonly impls: readonly ImplName[];
  readonly tcp: number;
  readonly http: number;
  readonly windowS: number;
  readonly warmupS: number;
  /** 0 skips the baseline. */
  readonly baselineS: number;
  readonly settleS: number;
  readonly rss: boolean;
  readonly quick: boolean;
  readonly json: string | null;
  readonly logs: string | null;
}

/**
 * The options of `args`; "help", or an error message.
 *
 * @example
 * ```ts
 * const o = parseOptions(["--quick"]);
 * if (typeof o !== "string") o.windowS; // 12
 * ```
 */
export function parseOptions(args: string[]): Options | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        impl: { type: "string", multiple: true },
        window: { type: "string" },
        warmup: { type: "string" },
        baseline: { type: "string" },
        settle: { type: "string" },
        tcp: { type: "string" },
        http: { type: "string" },
        json: { type: "string" },
        logs: { type: "string" },
        "no-rss": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    return (e as Error).message;
  }
  const v = parsed.values;
  if (v.help) return "help";
  const quick = v.quick ?? false;
  const num = (s: string | undefined, def: number, what: string, min: number) => {
    if (s === undefined) return def;
    const n = Number(s);
    if (!Number.isFinite(n) || n < min) throw new Error(`${what}: expected a number ≥ ${min}`);
    return n;
  };
  try {
    const impls = (v.impl ?? ["hacore", "keepalived"]).map((s) => {
      if (s !== "hacore" && s !== "keepalived") throw new Error(`--impl: unknown "${s}"`);
      return s;
    });
    return {
      impls,
      tcp: Math.round(num(v.tcp, 1000, "--tcp", 0)),
      http: Math.round(num(v.http, 200, "--http", 0)),
      windowS: num(v.window, quick ? 12 : 60, "--window", 2),
      warmupS: num(v.warmup, quick ? 3 : 10, "--warmup", 0),
      baselineS: num(v.baseline, quick ? 4 : 20, "--baseline", 0),
      settleS: num(v.settle, quick ? 8 : 30, "--settle", 1),
      rss: !v["no-rss"],
      quick,
      json: v.json ?? null,
      logs: v.logs ?? null,
    };
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------------------
// Environment

/** Absolute path of `cmd` on PATH, or null. */
function which(cmd: string): string | null {
  const path = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const d of path) {
    try {
      if (Deno.statSync(`${d}/${cmd}`).isFile) return `${d}/${cmd}`;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The commands keepalived's vrrp_scripts check with on this machine.
 *
 * @example
 * ```ts
 * const ka: KeepalivedTools = keepalivedTools();
 * ```
 */
export interface KeepalivedTools {
  readonly nc: string | null;
  readonly curl: string;
  /** How its checks run, for the report. */
  readonly how: string;
}

/**
 * Finds the check commands on PATH: `nc -z` (else bash's /dev/tcp) and curl.
 *
 * @example
 * ```ts
 * keepalivedTools().how;
 * ```
 */
export function keepalivedTools(): KeepalivedTools {
  const nc = which("nc");
  return {
    nc,
    curl: which("curl") ?? "/usr/bin/curl",
    how: `vrrp_scripts, ${
      nc ? `\`${nc} -z\`` : "`/bin/bash -c '</dev/tcp/HOST/PORT'` (no nc installed)"
    } for TCP and \`curl -sf\` for HTTP, a fork+exec per check`,
  };
}

// ---------------------------------------------------------------------------------------
// One daemon on its own LAN

interface Node {
  readonly ns: string;
  readonly daemon: BenchDaemon;
  readonly servers: CheckServers | null;
  /** On the node's veth peer in the bridge namespace: the wire as its peers see it. */
  readonly cap: Capture | null;
  /** On the node's own eth0: outgoing frames stamped by the tap in the sending call. */
  readonly capTx: Capture | null;
  readonly dir: string;
}

interface StartSpec {
  readonly impl: ImplName;
  readonly instances: readonly InstanceDef[];
  readonly checks: readonly CheckDef[];
  readonly capture: boolean;
}

function configText(s: StartSpec, ka: KeepalivedTools): string {
  return s.impl === "hacore"
    ? hacoreChecksToml("node1", s.instances, s.checks, CHECK_TIMING)
    : keepalivedChecksConf("node1", s.instances, s.checks, CHECK_TIMING, ka);
}

async function startNode(box: Sandbox, s: StartSpec, ka: KeepalivedTools): Promise<Node> {
  const lan = await buildLan(box, { nodes: [{ name: "node1", address: NODE_ADDRESS }] });
  const ns = lan.nodes[0].ns;
  const dir = await box.tempDir();
  const servers = s.checks.length > 0
    // Every address: each check has a loopback address of its own (check_configs.ts).
    ? await CheckServers.start(box, ns, TCP_PORTS, HTTP_PORTS, "0.0.0.0")
    : null;
  // On the node's veth peer in the bridge namespace: the wire side of its eth0.
  const cap = s.capture
    ? await Capture.start(box, lan.bridgeNs, lan.nodes[0].port, "ip proto 112")
    : null;
  const capTx = s.capture ? await Capture.start(box, ns, LAN_IFACE, "ip proto 112") : null;
  const daemon = await startDaemon(s.impl, box, dir, ns, {
    name: "node1",
    priority: 150,
    version: 3,
    advertIntS: s.instances[0].advertIntS,
    vip: s.instances[0].vip,
    config: configText(s, ka),
  });
  return { ns, daemon, servers, cap, capTx, dir };
}

async function stopNode(n: Node): Promise<void> {
  if (n.daemon.alive()) n.daemon.terminate();
  await n.daemon.reap(15_000).catch(() => {
    n.daemon.crash();
    return n.daemon.reap(5000).catch(() => {});
  });
  await n.servers?.stop();
  await n.cap?.stop();
  await n.capTx?.stop();
}

/** Instance → its last logged state, from the daemon's output. */
function statesFromLog(impl: ImplName, lines: readonly Line[]): Map<string, string> {
  const states = new Map<string, string>();
  for (const l of lines) {
    if (impl === "hacore") {
      const t = parseTransition(l);
      if (t) states.set(t.instance, t.to);
    } else {
      const m = KA_STATE.exec(l.text);
      if (m) states.set(m[1], m[2]);
    }
  }
  return states;
}

const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;

async function waitAllMaster(n: Node, count: number, timeoutMs: number): Promise<number> {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    const masters = [...statesFromLog(n.daemon.impl, n.daemon.proc.lines).values()]
      .filter((s) => s === "MASTER").length;
    if (masters >= count || wallMs() > deadline || !n.daemon.alive()) return masters;
    await sleep(250);
  }
}

interface Window {
  readonly seconds: number;
  readonly daemonCores: number;
  readonly serverCores: number;
  /** Share of the whole machine busy (all CPUs), 0..1. */
  readonly hostBusy: number;
  readonly rates: Rates | null;
  readonly fromMs: number;
  readonly toMs: number;
}

/** Measures CPU and server counts over `seconds` from now. */
async function measureWindow(n: Node, seconds: number): Promise<Window> {
  const pids = n.daemon.pids();
  const t1 = wallMs();
  const [c1, s1, h1] = await Promise.all([
    cpuSeconds(pids, true),
    n.servers ? cpuSeconds([n.servers.pid]) : Promise.resolve(0),
    hostCpuSeconds(),
  ]);
  const counts1 = n.servers?.at(t1) ?? null;
  await sleep(seconds * 1000);
  const t2 = wallMs();
  const [c2, s2, h2] = await Promise.all([
    cpuSeconds(pids, true),
    n.servers ? cpuSeconds([n.servers.pid]) : Promise.resolve(0),
    hostCpuSeconds(),
  ]);
  let r: Rates | null = null;
  if (n.servers && counts1) {
    await n.servers.after(t2);
    const counts2 = n.servers.at(t2);
    if (counts2) r = rates(counts1, counts2);
  }
  const wallS = (t2 - t1) / 1000;
  return {
    seconds: wallS,
    daemonCores: (c2 - c1) / wallS,
    serverCores: (s2 - s1) / wallS,
    hostBusy: (h2.busy - h1.busy) / Math.max(1e-9, h2.total - h1.total),
    rates: r,
    fromMs: t1,
    toMs: t2,
  };
}

// ---------------------------------------------------------------------------------------
// The three measurements

/**
 * What a {@link loadRun} measured.
 *
 * @example
 * ```ts
 * const r: LoadResult = await loadRun(box, "hacore", checks, 12, opts, ka, say, "x");
 * r.lateness.p99Ms;
 * ```
 */
export interface LoadResult {
  readonly impl: ImplName;
  readonly withChecks: boolean;
  readonly window: Window;
  /** From the capture on the veth peer: the measurement the target is about. */
  readonly lateness: Lateness;
  /** From the capture on the node's eth0 (stamped as the daemon sends): for diagnosis. */
  readonly latenessTx: Lateness;
  /** Entries into states other than MASTER during the window (should be 0). */
  readonly leftMaster: number;
  readonly finalState: string;
  /** keepalived's "A thread timer expired N seconds ago" lines in the window. */
  readonly timerWarnings: number;
  /** Worst lag keepalived reported in those lines, s. */
  readonly worstTimerLagS: number | null;
  /** Check state changes to failed in the window (keepalived's log; hacore's when it logs them). */
  readonly checkFailures: number;
  /** hacore's own counters of its checks (runs, failures, known), when its status has them. */
  readonly selfCounts: SelfCounts | null;
}

/** hacore's own view at the end of the window: tracked script checks and how many are down. */
interface SelfCounts {
  readonly checks: number;
  readonly down: number;
}

const KA_TIMER = /A thread timer expired ([\d.]+) seconds ago/;
const KA_SCRIPT_FAIL = /VRRP_Script\(\S+\) (failed|timed out)/;
const HC_CHECK_FAIL = /^script \S+: up -> down/;

function windowLines(d: BenchDaemon, w: Window): Line[] {
  return d.proc.lines.filter((l) => l.atMs >= w.fromMs && l.atMs <= w.toMs);
}

/**
 * One VRRPv3 master at 10 ms tracking `checks` (none: the baseline) on its own LAN, for
 * `seconds`: its CPU, the check rates served and its advert lateness on the wire.
 *
 * @example
 * ```ts
 * const r = await loadRun(box, "keepalived", checkSet(1000, 200), 12, opts, ka, say, "ka-load");
 * ```
 */
export async function loadRun(
  box: Sandbox,
  impl: ImplName,
  checks: readonly CheckDef[],
  seconds: number,
  opts: Options,
  ka: KeepalivedTools,
  say: (s: string) => void,
  saveAs: string,
): Promise<LoadResult> {
  const instances: InstanceDef[] = [{
    name: "VI_1",
    vrid: VRID,
    advertIntS: ADVERT_INT_S,
    vip: VIP,
    track: checks.map((c) => c.name),
  }];
  const n = await startNode(box, { impl, instances, checks, capture: true }, ka);
  try {
    await n.daemon.waitState("MASTER", 0, 30_000);
    const c0 = n.daemon.transitionCount();
    if (opts.warmupS > 0) await sleep(opts.warmupS * 1000);
    const w = await measureWindow(n, seconds);
    const sel = {
      src: NODE_IP,
      vrid: VRID,
      intervalMs: ADVERT_MS,
      fromMs: w.fromMs,
      toMs: w.toMs,
    };
    await n.cap!.caughtUp(w.toMs, 5000);
    await n.capTx!.caughtUp(w.toMs, 5000);
    const lateness = advertLateness(n.cap!.frames, sel);
    const latenessTx = advertLateness(n.capTx!.frames, sel);
    const lines = windowLines(n.daemon, w);
    const lags = lines.flatMap((l) => {
      const m = KA_TIMER.exec(l.text);
      return m ? [Number(m[1])] : [];
    });
    const failRe = impl === "keepalived" ? KA_SCRIPT_FAIL : HC_CHECK_FAIL;
    const states = statesFromLog(impl, n.daemon.proc.lines.slice(0));
    const self = impl === "hacore" && checks.length > 0 ? await hacoreSelfCounts(n) : null;
    const finalState = n.daemon.alive() ? (states.get("VI_1") ?? n.daemon.state()) : "STOPPED";
    const leftMaster = Math.max(0, n.daemon.transitionCount() - c0);
    say(
      `[${impl}] ${checks.length > 0 ? "load" : "baseline"}: ` +
        `CPU ${w.daemonCores.toFixed(3)} cores` +
        (w.rates
          ? `, served ${w.rates.tcpPerS.toFixed(0)} TCP/s + ${
            w.rates.httpRequestsPerS.toFixed(0)
          } HTTP/s`
          : "") +
        `; adverts ${lateness.adverts}/${lateness.expected}, lateness p50 ${
          fmtMs(lateness.p50Ms, 2)
        } p99 ${fmtMs(lateness.p99Ms, 2)} max ${fmtMs(lateness.maxMs, 1)} ms ` +
        `(at the sender's eth0: p99 ${fmtMs(latenessTx.p99Ms, 2)}); ` +
        `host ${(w.hostBusy * 100).toFixed(0)}% busy`,
    );
    return {
      impl,
      withChecks: checks.length > 0,
      window: w,
      lateness,
      latenessTx,
      leftMaster,
      finalState,
      timerWarnings: lags.length,
      worstTimerLagS: lags.length > 0 ? Math.max(...lags) : null,
      checkFailures: lines.filter((l) => failRe.test(logMessage(l.text).msg)).length,
      selfCounts: self,
    };
  } finally {
    await stopNode(n);
    if (opts.logs) await saveLog(opts.logs, saveAs, n.daemon);
  }
}

/**
 * What `hacore status --json` says of its checks: every tracker of kind "script"
 * (an instance's `trackers`), counted once per name, and how many are not up.
 */
async function hacoreSelfCounts(n: Node): Promise<SelfCounts | null> {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const r = await runCmd(Deno.execPath(), [
    "run",
    "-A",
    main,
    "status",
    "--json",
    "--socket",
    `${n.dir}/node1.sock`,
  ]);
  if (r.code !== 0) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    return null;
  }
  const states = new Map<string, string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (o.kind === "script" && typeof o.name === "string" && typeof o.state === "string") {
        states.set(o.name, o.state);
      } else {
        Object.values(o).forEach(walk);
      }
    }
  };
  walk(doc);
  const down = [...states.values()].filter((s) => s !== "up").length;
  return states.size > 0 ? { checks: states.size, down } : null;
}

/**
 * What a {@link rssRun} measured.
 *
 * @example
 * ```ts
 * const r: RssResult = await rssRun(box, "hacore", opts, ka, say);
 * r.rssKiB;
 * ```
 */
export interface RssResult {
  readonly impl: ImplName;
  readonly instances: number;
  readonly masters: number;
  readonly checks: number;
  readonly processes: number;
  readonly rssKiB: number;
  readonly pssKiB: number;
  /** Peak VmHWM of the daemon's processes, summed. */
  readonly hwmKiB: number;
  /** RssAnon summed: VmRSS less the pages of files (the executable's text above all). */
  readonly anonKiB: number;
  readonly window: Window;
}

/** A `/proc/PID/status` field in kB, summed over `pids`. */
async function statusKiB(pids: readonly number[], key: string): Promise<number> {
  let sum = 0;
  for (const pid of pids) {
    const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/**
 * 255 instances tracking 1,000 checks on one node: its memory once they all run.
 *
 * @example
 * ```ts
 * const r = await rssRun(box, "hacore", opts, ka, say);
 * ```
 */
export async function rssRun(
  box: Sandbox,
  impl: ImplName,
  opts: Options,
  ka: KeepalivedTools,
  say: (s: string) => void,
): Promise<RssResult> {
  const checks = checkSet(RSS_TCP, RSS_HTTP);
  const instances = manyInstances(RSS_INSTANCES, checks, 1);
  const n = await startNode(box, { impl, instances, checks, capture: false }, ka);
  try {
    // Bounded: a daemon that cannot get them all there still has its memory measured.
    const waitS = opts.quick ? 15 : 45;
    const masters = await waitAllMaster(n, RSS_INSTANCES, waitS * 1000);
    if (masters < RSS_INSTANCES) {
      say(`[${impl}] rss: only ${masters}/${RSS_INSTANCES} instances MASTER after ${waitS} s`);
    }
    // Settle, then a short window: its CPU and rates show the checks were running.
    await sleep(Math.max(0, opts.settleS - 5) * 1000);
    const w = await measureWindow(n, Math.min(5, opts.settleS));
    const pids = n.daemon.pids();
    const mem = await memory(pids);
    const hwm = await statusKiB(pids, "VmHWM");
    const anon = await statusKiB(pids, "RssAnon");
    const result: RssResult = {
      impl,
      instances: RSS_INSTANCES,
      masters: [...statesFromLog(impl, n.daemon.proc.lines).values()].filter((s) =>
        s === "MASTER"
      ).length,
      checks: checks.length,
      processes: pids.length,
      rssKiB: mem.rssKiB,
      pssKiB: mem.pssKiB,
      hwmKiB: hwm,
      anonKiB: anon,
      window: w,
    };
    say(
      `[${impl}] rss: ${result.masters}/${RSS_INSTANCES} MASTER, VmRSS ${
        mib(mem.rssKiB)
      } MiB (anon ${mib(anon)}, PSS ${mib(mem.pssKiB)}, peak ${
        mib(hwm)
      }) over ${pids.length} process(es); ` +
        `CPU ${w.daemonCores.toFixed(3)} cores` +
        (w.rates
          ? `, served ${w.rates.tcpPerS.toFixed(0)} TCP/s + ${
            w.rates.httpRequestsPerS.toFixed(0)
          } HTTP/s`
          : ""),
    );
    return result;
  } finally {
    await stopNode(n);
    if (opts.logs) await saveLog(opts.logs, `${impl}-rss`, n.daemon);
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

async function saveLog(dir: string, name: string, d: BenchDaemon): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const text = d.proc.lines.map((l) => `${l.atMs.toFixed(3)} ${l.text}`).join("\n");
  await Deno.writeTextFile(`${dir}/${name}.log`, text + "\n");
}

// ---------------------------------------------------------------------------------------
// Report

interface ImplResults {
  baseline: LoadResult | null;
  load: LoadResult | null;
  rss: RssResult | null;
}

type Verdict = "PASS" | "MISS" | "n/a" | "-";

const verdict = (ok: boolean | null): Verdict => ok === null ? "n/a" : ok ? "PASS" : "MISS";

/** Daemon CPU per check, in ms of CPU per check run (null without a rate). */
function cpuMsPerCheck(l: LoadResult | null): number | null {
  const r = l?.window.rates;
  if (!l || !r) return null;
  const perS = r.tcpPerS + r.httpRequestsPerS;
  return perS > 0 ? (l.window.daemonCores * 1000) / perS : null;
}

function rateOk(r: Rates | null | undefined, opts: Options): boolean | null {
  if (!r) return null;
  return r.tcpPerS >= opts.tcp * RATE_TOLERANCE && r.httpRequestsPerS >= opts.http * RATE_TOLERANCE;
}

function finalRows(res: Record<ImplName, ImplResults>, opts: Options): string[][] {
  const h = res.hacore;
  const k = res.keepalived;
  const rows: string[][] = [["metric", "hacore", "keepalived", "target", "hacore verdict"]];
  const f = (v: number | null | undefined, d: number) =>
    v === null || v === undefined ? "-" : v.toFixed(d);
  const hr = h.load?.window.rates;
  const kr = k.load?.window.rates;
  const kaFull = rateOk(kr, opts);
  rows.push([
    "TCP checks/s served (counted by the servers)",
    f(hr?.tcpPerS, 1),
    f(kr?.tcpPerS, 1),
    `${opts.tcp} asked`,
    verdict(hr ? hr.tcpPerS >= opts.tcp * RATE_TOLERANCE : null),
  ]);
  rows.push([
    "HTTP checks/s served (requests answered)",
    f(hr?.httpRequestsPerS, 1),
    f(kr?.httpRequestsPerS, 1),
    `${opts.http} asked`,
    verdict(hr ? hr.httpRequestsPerS >= opts.http * RATE_TOLERANCE : null),
  ]);
  const hc = h.load?.window.daemonCores ?? null;
  const kc = k.load?.window.daemonCores ?? null;
  rows.push([
    "daemon CPU under that load (cores)",
    f(hc, 3),
    f(kc, 3),
    `≤ ${TARGET_CPU_CORES}`,
    verdict(hc === null ? null : hc <= TARGET_CPU_CORES && rateOk(hr, opts) === true),
  ]);
  rows.push([
    kaFull === false
      ? "daemon CPU ≤ keepalived's (keepalived ran fewer checks: see note)"
      : "daemon CPU ≤ keepalived's at the same rates",
    f(hc, 3),
    f(kc, 3),
    "≤ keepalived",
    verdict(hc === null || kc === null ? null : hc <= kc),
  ]);
  const hpc = cpuMsPerCheck(h.load);
  const kpc = cpuMsPerCheck(k.load);
  rows.push([
    "CPU per check run (ms)",
    f(hpc, 4),
    f(kpc, 4),
    "≤ keepalived",
    verdict(hpc === null || kpc === null ? null : hpc <= kpc),
  ]);
  const hl = h.load?.lateness;
  const kl = k.load?.lateness;
  rows.push([
    "advert lateness p50 under load (ms, 10 ms v3)",
    f(hl?.p50Ms, 3),
    f(kl?.p50Ms, 3),
    "-",
    "-",
  ]);
  rows.push([
    "advert lateness p99 under load (ms)",
    f(hl?.p99Ms, 3),
    f(kl?.p99Ms, 3),
    `≤ ${TARGET_P99_MS}`,
    verdict(
      hl?.p99Ms === null || hl?.p99Ms === undefined
        ? null
        : hl.p99Ms <= TARGET_P99_MS && h.load!.leftMaster === 0,
    ),
  ]);
  rows.push([
    "advert lateness max under load (ms)",
    f(hl?.maxMs, 1),
    f(kl?.maxMs, 1),
    "-",
    "-",
  ]);
  const counts = (l: Lateness | undefined) =>
    l ? `${l.adverts}/${l.expected}; ${l.skipped}; ${l.bunched}` : "-";
  rows.push([
    "adverts seen/due; gaps ≥ 20 ms; gaps < 5 ms",
    counts(hl),
    counts(kl),
    "-",
    "-",
  ]);
  const pair = (l: Lateness | undefined) => l ? `${f(l.p50Ms, 3)} / ${f(l.p99Ms, 3)}` : "-";
  rows.push([
    "  p50 / p99 at the sender's eth0 tap (ms)",
    pair(h.load?.latenessTx),
    pair(k.load?.latenessTx),
    "-",
    "-",
  ]);
  if (h.baseline || k.baseline) {
    rows.push([
      "advert lateness p50 / p99, no checks (ms)",
      pair(h.baseline?.lateness),
      pair(k.baseline?.lateness),
      "-",
      "-",
    ]);
    rows.push([
      "  same at the sender's eth0 tap (ms)",
      pair(h.baseline?.latenessTx),
      pair(k.baseline?.latenessTx),
      "-",
      "-",
    ]);
  }
  if (h.rss || k.rss) {
    const hm = h.rss ? h.rss.rssKiB / 1024 : null;
    rows.push([
      `RSS, ${RSS_INSTANCES} instances + ${RSS_TCP + RSS_HTTP} checks (MiB)`,
      f(hm, 1),
      k.rss ? `${mib(k.rss.rssKiB)} (${k.rss.processes} procs)` : "-",
      `≤ ${TARGET_RSS_MIB}`,
      verdict(hm === null ? null : hm <= TARGET_RSS_MIB && h.rss!.masters === RSS_INSTANCES),
    ]);
    rows.push([
      "  of which RssAnon / PSS (MiB); instances MASTER",
      h.rss ? `${mib(h.rss.anonKiB)} / ${mib(h.rss.pssKiB)}; ${h.rss.masters}` : "-",
      k.rss ? `${mib(k.rss.anonKiB)} / ${mib(k.rss.pssKiB)}; ${k.rss.masters}` : "-",
      "-",
      "-",
    ]);
  }
  return rows;
}

function detailRows(res: Record<ImplName, ImplResults>, opts: Options): string[][] {
  const rows: string[][] = [[
    "run",
    "impl",
    "window s",
    "daemon cores",
    "servers cores",
    "host busy",
    "TCP/s",
    "HTTP conn/s",
    "HTTP req/s",
    "HTTP bad/s",
    "left MASTER",
    "check fails",
    "timer lag warnings",
  ]];
  for (const impl of opts.impls) {
    const r = res[impl];
    const runs: [string, LoadResult | RssResult | null][] = [
      ["baseline (no checks)", r.baseline],
      ["load", r.load],
      ["rss (255 inst)", r.rss],
    ];
    for (const [name, x] of runs) {
      if (!x) continue;
      const w = x.window;
      const l = "lateness" in x ? x : null;
      rows.push([
        name,
        impl,
        w.seconds.toFixed(1),
        w.daemonCores.toFixed(3),
        w.serverCores.toFixed(3),
        `${(w.hostBusy * 100).toFixed(0)}%`,
        w.rates ? w.rates.tcpPerS.toFixed(1) : "-",
        w.rates ? w.rates.httpPerS.toFixed(1) : "-",
        w.rates ? w.rates.httpRequestsPerS.toFixed(1) : "-",
        w.rates ? w.rates.httpBadPerS.toFixed(1) : "-",
        l ? String(l.leftMaster) : "-",
        l ? String(l.checkFailures) : "-",
        l
          ? `${l.timerWarnings}${
            l.worstTimerLagS !== null ? ` (worst ${l.worstTimerLagS.toFixed(2)} s)` : ""
          }`
          : "-",
      ]);
    }
  }
  return rows;
}

function render(
  res: Record<ImplName, ImplResults>,
  opts: Options,
  ka: KeepalivedTools,
  ipvs: boolean,
): string {
  const out: string[] = [];
  out.push(
    `\n==== checks benchmark: ${opts.tcp} TCP + ${opts.http} HTTP checks, each once a ` +
      `second, tracked by a VRRPv3 master advertising every ${ADVERT_MS} ms; ` +
      `${opts.windowS} s window after ${opts.warmupS} s warm-up ====`,
  );
  out.push(table(detailRows(res, opts), [0, 1]));
  for (const impl of opts.impls) {
    const s = res[impl].load?.selfCounts;
    if (s) {
      out.push(
        `${impl}'s own view (status --json, end of window): ${s.checks} script checks ` +
          `tracked, ${s.down} not up`,
      );
    }
  }
  out.push("\n==== targets ====");
  out.push(table(finalRows(res, opts), [0, 3]));
  const notes: string[] = [
    "CPU: utime+stime of the daemon's processes plus their reaped children (cutime+cstime), " +
    "from /proc/PID/stat in 10 ms ticks, over the window; servers and capture are other " +
    "processes, shown apart. Rates: connections and requests the loopback servers counted, " +
    "per second of their clock. Lateness: gap between consecutive adverts − 10 ms, kernel " +
    "stamps of dumpcap on the node's bridge port (the veth peer; the target), and of a second " +
    "dumpcap on the node's eth0, whose stamps are taken in the daemon's send call (a late " +
    "receive path on a busy host delays and bunches the first, not the second); p99 is " +
    "nearest-rank.",
    `keepalived's checks: ${ka.how}. ${
      ipvs
        ? "(IPVS is present here, but the same vrrp_script form is used for both load runs.)"
        : "This kernel has no IPVS, and keepalived 2.2.7's checker child (TCP_CHECK/HTTP_GET " +
          'in virtual_server blocks) exits FATAL without it ("IPVS: Can\'t initialize ipvs"), ' +
          "so its native checkers cannot be compared here; vrrp_scripts are what keepalived " +
          "users without IPVS run."
    }`,
  ];
  const kr = res.keepalived.load?.window.rates;
  if (res.keepalived.load && rateOk(kr, opts) === false) {
    notes.push(
      `keepalived did not keep up: the servers counted ${kr!.tcpPerS.toFixed(0)} TCP/s and ` +
        `${kr!.httpRequestsPerS.toFixed(0)} HTTP/s of the ${opts.tcp} + ${opts.http} asked, so ` +
        "its CPU row is at a lower rate than hacore's; 'CPU per check run' compares the two " +
        "at their own rates.",
    );
  }
  notes.push(
    `RSS: VmRSS ${opts.settleS} s after all instances were MASTER, or the wait for that ended ` +
      "(keepalived: parent + VRRP " +
      "child summed, counting shared pages twice; PSS splits them; its short-lived script " +
      "processes are not counted). RssAnon leaves out pages of files: for hacore mostly the " +
      "deno executable's own code, which every deno process maps.",
  );
  out.push("\n" + notes.map((n) => `note: ${n}`).join("\n"));
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------
// Main

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  const early = preflight("checks", opts, USAGE);
  if (early !== null || typeof opts === "string") return early ?? 2;
  const needKa = opts.impls.includes("keepalived");
  const missing = ["ip", "dumpcap", ...(needKa ? ["keepalived", "curl"] : [])].filter((t) =>
    which(t) === null
  );
  if (missing.length > 0) {
    console.error(`checks: needs ${missing.join(", ")} on PATH`);
    return 1;
  }
  const ka = keepalivedTools();
  const ipvs = await hasIpvs();

  return await runSandboxed("checks", "hk", async (box, interrupted) => {
    const t0 = wallMs();
    const say = (s: string) =>
      console.log(`${((wallMs() - t0) / 1000).toFixed(1).padStart(6)}s  ${s}`);
    const loadBefore = (await Deno.readTextFile("/proc/loadavg")).trim();
    say(
      `checks benchmark${opts.quick ? " (quick)" : ""}: ${opts.impls.join(" then ")}; ` +
        `${opts.tcp} TCP + ${opts.http} HTTP checks/s; ${navigator.hardwareConcurrency} CPUs, ` +
        `loadavg ${loadBefore}; IPVS ${ipvs ? "present" : "absent"}; keepalived checks: ${ka.how}`,
    );
    const empty = (): ImplResults => ({ baseline: null, load: null, rss: null });
    const res: Record<ImplName, ImplResults> = { hacore: empty(), keepalived: empty() };
    let code = 0;
    try {
      const checks = checkSet(opts.tcp, opts.http);
      for (const impl of opts.impls) {
        if (opts.baselineS > 0) {
          say(`[${impl}] baseline: one VRRPv3 master at 10 ms, no checks, ${opts.baselineS} s`);
          res[impl].baseline = await loadRun(
            box,
            impl,
            [],
            opts.baselineS,
            opts,
            ka,
            say,
            `${impl}-baseline`,
          );
        }
        say(`[${impl}] load: ${checks.length} checks tracked by the master, ${opts.windowS} s`);
        res[impl].load = await loadRun(
          box,
          impl,
          checks,
          opts.windowS,
          opts,
          ka,
          say,
          `${impl}-load`,
        );
        if (opts.rss) {
          say(`[${impl}] rss: ${RSS_INSTANCES} instances, ${RSS_TCP + RSS_HTTP} checks`);
          res[impl].rss = await rssRun(box, impl, opts, ka, say);
        }
      }
      const loadAfter = (await Deno.readTextFile("/proc/loadavg")).trim();
      console.log(render(res, opts, ka, ipvs));
      console.log(
        `\nran ${
          ((wallMs() - t0) / 1000).toFixed(0)
        } s on ${navigator.hardwareConcurrency} CPUs; ` +
          `loadavg before ${loadBefore}, after ${loadAfter}`,
      );
      if (opts.json) {
        const json = {
          startedAt: new Date(t0).toISOString(),
          options: opts,
          host: { cpus: navigator.hardwareConcurrency, loadBefore, loadAfter, ipvs },
          keepalivedChecks: ka.how,
          results: res,
        };
        await Deno.writeTextFile(opts.json, JSON.stringify(json, null, 2) + "\n");
        console.log(`raw numbers: ${opts.json}`);
      }
    } catch (e) {
      if (!interrupted()) {
        console.error(`\nchecks: FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        code = 1;
      }
    }
    return code;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
