/**
 * LVS benchmark: hacore against keepalived 2.2.7 as IPVS directors, one after the other
 * in the same run, in the same (UML) guest, each in namespaces made for it.
 *
 * ```sh
 * deno task bench:lvs [--quick] [--json FILE]      # boots the IPVS guest when needed
 * HACORE_BIN=dist/hacore deno task bench:lvs ...   # the installed build (deno task bundle)
 * bash scripts/vm/run.sh --timeout 1500 -- deno run -A scripts/bench/lvs.ts [--quick]
 * ... --hacore-format keepalived                   # hacore given keepalived's own file
 * ```
 *
 * Three measurements per daemon (issue 11's targets):
 *
 * 1. Death → removal. A director namespace and a real-server namespace joined by a veth;
 *    the real server 10.2.1.2 serves TCP :80 (TCP check) and HTTP :8080 (HTTP GET `/`),
 *    two LVS-DR services, `delay_loop 1`, `retry 1`, `delay_before_retry 1`,
 *    `connect_timeout 1`, alpha off. Each trial waits a random 1-2 s (a random phase
 *    against the checks), then either kills the server process (SIGKILL: connections
 *    are refused at once) or sets the server's link down (connects time out), and
 *    polls both services' destinations every ~2 ms over generic netlink from this
 *    process (lib/ipvs_table.ts: `ipvsadm` would cost a process start per poll) until
 *    the server is gone from each; then restores it and waits for it to be back.
 * 2. Checker CPU. 100 services × 10 real servers (10 addresses on one namespace's veth,
 *    one wildcard listener per port, scripts/bench/lib/check_servers.ts, which counts
 *    what arrives), every real server checked every second, TCP then HTTP. The daemon's
 *    CPU is utime + stime from /proc over a steady window, in % of one CPU; keepalived's
 *    parent and checker child are reported apart and summed.
 * 3. Big table. 1,000 services × 10 destinations with no checks (a real server without
 *    a check is up from the start in both daemons, so the table is complete without
 *    waiting for any verdict; alpha off): exec → complete table (every service and
 *    destination listed), a reload changing one weight (SIGHUP → the weight in the
 *    kernel; `--reloads N` of them, each after 1 s of quiet, the median counts: one
 *    sample in a shared one-CPU guest is mostly noise), then kill -9 and a restart on the intact table: time to steady (the last
 *    log line before 2 s of silence) and the error lines (keepalived: "already exists"
 *    / EEXIST; hacore: any error-level line), and the fewest destinations seen in the
 *    kernel meanwhile (a restart should not take any away).
 *
 * Exits 0 when the benchmark ran (whether targets pass or not), 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { runChecked, type Sandbox } from "../../lib/lab/host.ts";
import { type Line, sleep, wallMs } from "../../lib/lab/proc.ts";
import { CheckServers, type Rates, rates } from "./lib/check_servers.ts";
import type { ImplName } from "./lib/daemons.ts";
import { IpBatch } from "./lib/ip.ts";
import { parseProcIpvs, readProcIpvs, ServiceDests } from "./lib/ipvs_table.ts";
import {
  BENCH_PACING,
  BENCH_VIP,
  hacoreLvsToml,
  keepalivedLvsConf,
  type LvsCheckKind,
  type LvsWorkload,
  lvsWorkload,
  realAddresses,
  withWeight,
} from "./lib/lvs_configs.ts";
import { type HacoreLogLevel, type LvsDaemon, startLvsDaemon } from "./lib/lvs_daemons.ts";
import { cpuSeconds, hostCpuSeconds } from "./lib/resources.ts";
import { runSandboxed } from "./lib/run_sandboxed.ts";
import { fmtMs, median, percentile, summarize, table } from "./lib/stats.ts";
import { GUEST_ENV, hasIpvs, rerunInGuest } from "./lib/ipvs_guest.ts";

const USAGE = "usage: lvs.ts [--quick] [--impl hacore|keepalived]... [--only death|cpu|table]... " +
  "[--trials N] [--window S] [--warmup S] [--services N] [--table-services N] [--reloads N] " +
  "[--json FILE] [--logs DIR] [--hacore-log-level debug|info|notice|warn|error] [--strace DIR] " +
  "[--hacore-format toml|keepalived]";

/** The issue's reference figures for keepalived 2.2.7 in such a guest. */
const REFERENCE = {
  deathTcpMs: 1600,
  deathHttpMs: 1400,
  deathLinkMs: 3400,
  cpuTcpPct: 33.5,
  cpuHttpPct: 57.9,
  tableCompleteMs: 3500,
  reloadMs: 77,
  restartErrors: 11000,
};

/** fall × interval + 50 ms: two failed checks (retry 1) a delay_loop apart. */
const TARGET_DEATH_P99_MS = (BENCH_PACING.retry + 1) * BENCH_PACING.delayLoopS * 1000 + 50;
const TARGET_DEATH_RATIO = 0.5;
const TARGET_CPU_RATIO = 0.25;
const TARGET_COMPLETE_MS = 500;
const TARGET_RELOAD_MS = 10;

const DIRECTOR_IP = "10.2.1.1/24";
const SERVER_IP = "10.2.1.2";
const TCP_PORT = 80;
const HTTP_PORT = 8080;
const FIRST_PORT = 10000;
/** Every wait for the table has this bound: a daemon that never gets there fails the run. */
const TABLE_TIMEOUT_MS = 90_000;
/** Least time between two whole-table reads while timing (see tableRun). */
const PROC_EVERY_MS = 100;

type Cause = "process" | "link";
type Part = "death" | "cpu" | "table";

interface Options {
  readonly impls: readonly ImplName[];
  readonly parts: ReadonlySet<Part>;
  readonly trials: number;
  readonly windowS: number;
  readonly warmupS: number;
  readonly services: number;
  readonly reals: number;
  readonly tableServices: number;
  /** One-weight reloads timed in the big table (each after 1 s of quiet); the median counts. */
  readonly reloads: number;
  readonly quick: boolean;
  readonly json: string | null;
  /** Where each daemon's output is saved (one file per run), or null. */
  readonly logs: string | null;
  /** hacore's --log-level: info as shipped; notice shows what its per-operation lines cost. */
  readonly hacoreLogLevel: HacoreLogLevel;
  /**
   * Where `strace -c -f` summaries of each daemon's checker CPU window go (syscalls per
   * check), or null. strace slows every syscall: the CPU figures of such a run are not
   * comparable with a run without it.
   */
  readonly strace: string | null;
  /**
   * The config language hacore is given: its own TOML, or the keepalived.conf keepalived
   * gets (as operators run it on their existing file).
   */
  readonly hacoreFormat: "toml" | "keepalived";
}

function parseOptions(args: string[]): Options | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        impl: { type: "string", multiple: true },
        only: { type: "string", multiple: true },
        trials: { type: "string" },
        window: { type: "string" },
        warmup: { type: "string" },
        services: { type: "string" },
        "table-services": { type: "string" },
        reloads: { type: "string" },
        json: { type: "string" },
        logs: { type: "string" },
        "hacore-log-level": { type: "string" },
        strace: { type: "string" },
        "hacore-format": { type: "string" },
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
    const parts = (v.only ?? ["death", "cpu", "table"]).map((s) => {
      if (s !== "death" && s !== "cpu" && s !== "table") throw new Error(`--only: unknown "${s}"`);
      return s;
    });
    return {
      impls,
      parts: new Set(parts),
      trials: Math.round(num(v.trials, quick ? 4 : 20, "--trials", 1)),
      windowS: num(v.window, quick ? 8 : 25, "--window", 2),
      warmupS: num(v.warmup, quick ? 3 : 5, "--warmup", 0),
      services: Math.round(num(v.services, 100, "--services", 1)),
      reals: 10,
      tableServices: Math.round(num(v["table-services"], 1000, "--table-services", 1)),
      reloads: Math.round(num(v.reloads, quick ? 3 : 5, "--reloads", 1)),
      quick,
      json: v.json === undefined ? null : resolve(v.json),
      logs: v.logs === undefined ? null : resolve(v.logs),
      hacoreLogLevel: logLevel(v["hacore-log-level"] ?? "info"),
      strace: v.strace === undefined ? null : resolve(v.strace),
      hacoreFormat: hacoreFormat(v["hacore-format"] ?? "toml"),
    };
  } catch (e) {
    return (e as Error).message;
  }
}

function hacoreFormat(s: string): "toml" | "keepalived" {
  if (s !== "toml" && s !== "keepalived") throw new Error(`--hacore-format: unknown "${s}"`);
  return s;
}

const LOG_LEVELS: readonly HacoreLogLevel[] = ["debug", "info", "notice", "warn", "error"];

function logLevel(s: string): HacoreLogLevel {
  const l = LOG_LEVELS.find((x) => x === s);
  if (l === undefined) throw new Error(`--hacore-log-level: unknown "${s}"`);
  return l;
}

// ---------------------------------------------------------------------------------------
// Namespaces and daemons

/** A veth from `a` (`ifA`, `addrA`) to `b` (`ifB` with every address of `addrsB`), both up. */
async function veth(
  a: string,
  ifA: string,
  addrA: string,
  b: string,
  ifB: string,
  addrsB: readonly string[],
): Promise<void> {
  await runChecked("ip", ["-n", a, "link", "add", ifA, "type", "veth", "peer", ifB, "netns", b]);
  await runChecked("ip", ["-n", a, "addr", "add", addrA, "dev", ifA]);
  await runChecked("ip", ["-n", a, "link", "set", ifA, "up"]);
  for (const addr of addrsB) await runChecked("ip", ["-n", b, "addr", "add", addr, "dev", ifB]);
  await runChecked("ip", ["-n", b, "link", "set", ifB, "up"]);
}

/**
 * Each daemon's config for `w`; hacore's in the language `--hacore-format` asks for
 * (hacore tells them apart by content, whatever the file's name).
 */
function configFor(impl: ImplName, w: LvsWorkload, opts: Options): string {
  return impl === "hacore" && opts.hacoreFormat === "toml"
    ? hacoreLvsToml(w)
    : keepalivedLvsConf(w);
}

async function startDirector(
  box: Sandbox,
  impl: ImplName,
  ns: string,
  w: LvsWorkload,
  opts: Options,
): Promise<LvsDaemon> {
  const d = await startLvsDaemon(
    impl,
    box,
    await box.tempDir(),
    ns,
    configFor(impl, w, opts),
    opts.hacoreLogLevel,
  );
  await d.waitChildren(15_000);
  return d;
}

/** Polls `cond` every `everyMs` until it holds; the {@link wallMs} it first held at. */
async function until(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  everyMs = 2,
): Promise<number> {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    if (await cond()) return wallMs();
    if (wallMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Saves `d`'s output as `DIR/<impl>-<what>.log` when --logs asked for it. */
async function saveLog(opts: Options, d: LvsDaemon, what: string): Promise<void> {
  if (opts.logs === null) return;
  await Deno.mkdir(opts.logs, { recursive: true });
  const text = d.proc.lines.map((l) => `${(l.atMs - d.startedAtMs).toFixed(1)} ${l.text}`);
  await Deno.writeTextFile(`${opts.logs}/${d.impl}-${what}.log`, text.join("\n") + "\n");
}

function lineCount(d: LvsDaemon, from: number, to: number): number {
  return d.proc.lines.filter((l) => l.atMs >= from && l.atMs <= to).length;
}

// ---------------------------------------------------------------------------------------
// 1. Death → removal

interface DeathSamples {
  /** ms from the kill (or link down) to the destination's absence, per check type. */
  readonly tcp: (number | null)[];
  readonly http: (number | null)[];
}

interface DeathResult {
  readonly impl: ImplName;
  readonly byCause: Record<Cause, DeathSamples>;
}

async function deathRun(
  box: Sandbox,
  impl: ImplName,
  opts: Options,
  say: (s: string) => void,
): Promise<DeathResult> {
  const director = await box.netns();
  const server = await box.netns();
  await veth(director, "eth0", DIRECTOR_IP, server, "eth0", [`${SERVER_IP}/24`]);
  const reals = [{ address: SERVER_IP, weight: 1 }];
  const w: LvsWorkload = {
    vip: BENCH_VIP,
    pacing: BENCH_PACING,
    services: [
      { port: TCP_PORT, check: "tcp", reals },
      { port: HTTP_PORT, check: "http", reals },
    ],
  };
  const startServers = () =>
    CheckServers.start(box, server, [TCP_PORT, TCP_PORT], [HTTP_PORT, HTTP_PORT], "0.0.0.0");
  let servers = await startServers();
  const daemon = await startDirector(box, impl, director, w, opts);
  const tcp = await ServiceDests.open(director, BENCH_VIP, TCP_PORT);
  const http = await ServiceDests.open(director, BENCH_VIP, HTTP_PORT);
  const link = IpBatch.start(box, server);
  try {
    const tcpKey = `${SERVER_IP}:${TCP_PORT}`;
    const httpKey = `${SERVER_IP}:${HTTP_PORT}`;
    const bothIn = async () => (await tcp.dests()).has(tcpKey) && (await http.dests()).has(httpKey);
    await until(bothIn, 20_000, "the real server in both services", 20);
    const byCause: Record<Cause, DeathSamples> = {
      process: { tcp: [], http: [] },
      link: { tcp: [], http: [] },
    };
    for (const cause of ["process", "link"] as const) {
      for (let i = 0; i < opts.trials; i++) {
        // A random phase against the checks' 1 s rhythm, after a second back in service.
        await sleep(1000 + Math.random() * 1000);
        const t0 = wallMs();
        if (cause === "process") servers.proc.child.kill("SIGKILL");
        else link.send("link set eth0 down");
        let tcpMs: number | null = null;
        let httpMs: number | null = null;
        const deadline = t0 + 10_000;
        while ((tcpMs === null || httpMs === null) && wallMs() < deadline) {
          if (tcpMs === null && !(await tcp.dests()).has(tcpKey)) tcpMs = wallMs() - t0;
          if (httpMs === null && !(await http.dests()).has(httpKey)) httpMs = wallMs() - t0;
          await sleep(2);
        }
        byCause[cause].tcp.push(tcpMs);
        byCause[cause].http.push(httpMs);
        say(
          `[${impl}] ${cause} death ${i + 1}/${opts.trials}: removed after TCP ${
            fmtMs(tcpMs, 0)
          } ms, ` +
            `HTTP ${fmtMs(httpMs, 0)} ms`,
        );
        if (cause === "process") {
          await servers.proc.exited(5000).catch(() => {});
          servers = await startServers();
        } else {
          link.send("link set eth0 up");
        }
        await until(bothIn, 20_000, "the real server back in both services", 10);
      }
    }
    if (link.errors().length > 0) throw new Error(`ip: ${link.errors().join("; ")}`);
    return { impl, byCause };
  } finally {
    await tcp.close();
    await http.close();
    await daemon.stop(10_000);
    await saveLog(opts, daemon, "death");
    await servers.stop();
  }
}

// ---------------------------------------------------------------------------------------
// 2. Checker CPU

interface CpuResult {
  readonly impl: ImplName;
  readonly check: LvsCheckKind;
  readonly checks: number;
  readonly seconds: number;
  /** % of one CPU, every process of the daemon. */
  readonly totalPct: number;
  /** keepalived: its parent and checker child apart; hacore: its one process. */
  readonly perProcessPct: Record<string, number>;
  readonly serverPct: number;
  /** Share of the guest's CPU busy (all of it, not only the daemon), %. */
  readonly guestBusyPct: number;
  readonly rates: Rates | null;
  /** Destinations in the table at the end (all of them: every server answers). */
  readonly destsAtEnd: number;
}

async function cpuRun(
  box: Sandbox,
  impl: ImplName,
  check: "tcp" | "http",
  opts: Options,
  say: (s: string) => void,
): Promise<CpuResult> {
  const director = await box.netns();
  const server = await box.netns();
  const reals = realAddresses(opts.reals);
  await veth(director, "eth0", "10.2.0.1/24", server, "eth0", reals.map((a) => `${a}/24`));
  const ports: [number, number] = [FIRST_PORT, FIRST_PORT + opts.services - 1];
  const servers = await CheckServers.start(
    box,
    server,
    check === "tcp" ? ports : null,
    check === "http" ? ports : null,
    "0.0.0.0",
  );
  const w = lvsWorkload({ ports, reals, check });
  const daemon = await startDirector(box, impl, director, w, opts);
  try {
    const want = opts.services * opts.reals;
    await until(
      () => parseProcIpvs(readProcIpvs(director)).dests === want,
      TABLE_TIMEOUT_MS,
      `${want} destinations`,
      100,
    );
    await sleep(opts.warmupS * 1000);
    const pids = daemon.pids();
    const t1 = wallMs();
    const before = await Promise.all(pids.map((p) => cpuSeconds([p])));
    const [s1, h1] = await Promise.all([cpuSeconds([servers.pid]), hostCpuSeconds()]);
    const counts1 = servers.at(t1);
    const trace = opts.strace === null
      ? null
      : startStrace(pids, `${opts.strace}/${impl}-${check}.txt`);
    await sleep(opts.windowS * 1000);
    await trace?.stop();
    const t2 = wallMs();
    const after = await Promise.all(pids.map((p) => cpuSeconds([p])));
    const [s2, h2] = await Promise.all([cpuSeconds([servers.pid]), hostCpuSeconds()]);
    await servers.after(t2);
    const counts2 = servers.at(t2);
    const seconds = (t2 - t1) / 1000;
    const names = impl === "hacore" ? ["hacore"] : ["parent", "checker"];
    const perProcessPct: Record<string, number> = {};
    pids.forEach((_, i) => (perProcessPct[names[i]] = ((after[i] - before[i]) / seconds) * 100));
    const totalPct = Object.values(perProcessPct).reduce((a, b) => a + b, 0);
    const destsAtEnd = parseProcIpvs(readProcIpvs(director)).dests;
    const r = counts1 && counts2 ? rates(counts1, counts2) : null;
    const served = r === null ? "-" : (check === "tcp" ? r.tcpPerS : r.httpRequestsPerS).toFixed(0);
    say(
      `[${impl}] ${check.toUpperCase()} checks of ${want} real servers: CPU ${
        totalPct.toFixed(1)
      }% (${Object.entries(perProcessPct).map(([k, v]) => `${k} ${v.toFixed(1)}%`).join(", ")})` +
        `, served ${served}/s, ${destsAtEnd}/${want} destinations at the end, guest ${
          ((h2.busy - h1.busy) / (h2.total - h1.total) * 100).toFixed(0)
        }% busy`,
    );
    return {
      impl,
      check,
      checks: want,
      seconds,
      totalPct,
      perProcessPct,
      serverPct: ((s2 - s1) / seconds) * 100,
      guestBusyPct: ((h2.busy - h1.busy) / Math.max(1e-9, h2.total - h1.total)) * 100,
      rates: r,
      destsAtEnd,
    };
  } finally {
    await daemon.stop(15_000);
    await saveLog(opts, daemon, `cpu-${check}`);
    await servers.stop();
  }
}

/**
 * `strace -c -f` attached to `pids` until stopped: the syscall counts of the window (the
 * summary is written when strace is interrupted).
 */
function startStrace(pids: readonly number[], file: string): { stop(): Promise<void> } {
  Deno.mkdirSync(resolve(file, ".."), { recursive: true });
  const child = new Deno.Command("strace", {
    args: ["-c", "-f", "-o", file, ...pids.flatMap((p) => ["-p", `${p}`])],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    async stop() {
      try {
        child.kill("SIGINT");
      } catch {
        // Ended already (it said why on stderr).
      }
      await child.status;
    },
  };
}

// ---------------------------------------------------------------------------------------
// 3. Big table

interface TableResult {
  readonly impl: ImplName;
  readonly services: number;
  readonly dests: number;
  /** Exec → every service and destination in the kernel, ms. */
  readonly completeMs: number;
  /** Exec → the daemon's first log line, ms: its own start-up, before any IPVS work. */
  readonly firstLineMs: number | null;
  /** SIGHUP → the changed weight in the kernel, ms: the median of {@link reloadSamplesMs}. */
  readonly reloadMs: number;
  /** Each reload's SIGHUP → weight, in order (a different weight each time). */
  readonly reloadSamplesMs: readonly number[];
  /** Entries (services + destinations) the reload left changed or missing besides the weight. */
  readonly reloadCollateral: number;
  /** Restart after kill -9: exec → the last log line before 2 s of silence, ms. */
  readonly restartSteadyMs: number;
  readonly restartLogLines: number;
  readonly restartErrorLines: number;
  /** The first few error lines, for the report. */
  readonly restartErrorSamples: string[];
  /** Fewest destinations seen in the kernel from the kill to steady. */
  readonly restartMinDests: number;
  readonly restartFinalDests: number;
}

/**
 * Waits until `d` has logged something and then nothing for `quietMs`; the arrival time
 * of its last line.
 */
async function quiet(d: LvsDaemon, quietMs: number, timeoutMs: number, onPoll: () => void) {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    onPoll();
    const last: Line | undefined = d.proc.lines.at(-1);
    if (last !== undefined && wallMs() - last.atMs >= quietMs) return last.atMs;
    if (wallMs() > deadline) throw new Error(`${d.impl} still logging after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function tableRun(
  box: Sandbox,
  impl: ImplName,
  opts: Options,
  say: (s: string) => void,
): Promise<TableResult> {
  const director = await box.netns();
  const reals = realAddresses(opts.reals);
  const ports: [number, number] = [FIRST_PORT, FIRST_PORT + opts.tableServices - 1];
  const w = lvsWorkload({ ports, reals, check: "none" });
  const services = opts.tableServices;
  const dests = services * opts.reals;
  const lastPort = ports[1];
  const count = () => parseProcIpvs(readProcIpvs(director));
  // A whole read costs ~55 ms of the guest's one CPU at 10,000 destinations: at most one
  // every PROC_EVERY_MS, or the poll would starve the daemon it times.
  let lastReadMs = -Infinity;
  const complete = () => {
    if (wallMs() - lastReadMs < PROC_EVERY_MS) return false;
    lastReadMs = wallMs();
    const t = count();
    return t.services === services && t.dests === dests;
  };
  const dir = await box.tempDir();
  const watch = await ServiceDests.open(director, BENCH_VIP, lastPort);
  let daemon = await startLvsDaemon(
    impl,
    box,
    dir,
    director,
    configFor(impl, w, opts),
    opts.hacoreLogLevel,
  );
  try {
    // The last service listed complete is a cheap sign the whole table may be: only then
    // read all of it (650 KB of /proc text that would otherwise compete for the CPU).
    const doneAt = await until(
      async () => (await watch.dests()).size === opts.reals && complete(),
      TABLE_TIMEOUT_MS,
      `${services} services × ${opts.reals} destinations`,
      // Every 20 ms: each poll takes the guest's one CPU from the daemon being timed.
      20,
    );
    const completeMs = doneAt - daemon.startedAtMs;
    const first = daemon.proc.lines[0];
    const firstLineMs = first === undefined ? null : first.atMs - daemon.startedAtMs;
    say(
      `[${impl}] ${services} × ${opts.reals} table complete ${
        fmtMs(completeMs, 0)
      } ms after exec ` +
        `(first log line after ${fmtMs(firstLineMs, 0)} ms)`,
    );
    await daemon.waitChildren(15_000);
    await quiet(daemon, 1000, TABLE_TIMEOUT_MS, () => {});

    // Each reload after 1 s of quiet: what an operator's SIGHUP meets. Weights 5, 6, ...
    const key = `${reals[0]}:${lastPort}`;
    const reloadSamplesMs: number[] = [];
    let reloaded = w;
    for (let k = 0; k < opts.reloads; k++) {
      reloaded = withWeight(w, lastPort, reals[0], 5 + k);
      await daemon.writeConfig(configFor(impl, reloaded, opts));
      const hup = daemon.reload();
      const appliedAt = await until(
        async () => (await watch.dests()).get(key) === 5 + k,
        TABLE_TIMEOUT_MS,
        `weight ${5 + k} on ${key}`,
        // Every 5 ms: a busier poll takes the one CPU from the daemon it times.
        5,
      );
      reloadSamplesMs.push(appliedAt - hup);
      await quiet(daemon, 1000, TABLE_TIMEOUT_MS, () => {});
    }
    const reloadMs = median(reloadSamplesMs) ?? NaN;
    const afterReload = count();
    let reloadCollateral = 0;
    for (const s of reloaded.services) {
      const got = afterReload.table.get(`${BENCH_VIP}:${s.port}`);
      if (got === undefined) reloadCollateral += 1 + s.reals.length;
      else {
        for (const r of s.reals) {
          if (got.get(`${r.address}:${s.port}`) !== r.weight) reloadCollateral++;
        }
      }
    }
    say(
      `[${impl}] reload changing one weight applied ${fmtMs(reloadMs, 1)} ms after SIGHUP ` +
        `(median of ${reloadSamplesMs.length}: ${
          reloadSamplesMs.map((v) => fmtMs(v, 1)).join(", ")
        })`,
    );

    daemon.crash();
    await daemon.reap(15_000);
    await saveLog(opts, daemon, "table");
    let minDests = count().dests;
    daemon = await startLvsDaemon(
      impl,
      box,
      dir,
      director,
      configFor(impl, reloaded, opts),
      opts.hacoreLogLevel,
    );
    await daemon.waitChildren(15_000);
    let lastCountMs = wallMs();
    const lastLineMs = await quiet(daemon, 2000, TABLE_TIMEOUT_MS, () => {
      // Once a second: each read takes CPU from the restarting daemon.
      if (wallMs() - lastCountMs < 1000) return;
      lastCountMs = wallMs();
      minDests = Math.min(minDests, count().dests);
    });
    const errors = daemon.errorLines();
    const final = count();
    const restartSteadyMs = lastLineMs - daemon.startedAtMs;
    say(
      `[${impl}] restart after kill -9: steady ${fmtMs(restartSteadyMs, 0)} ms, ` +
        `${errors.length} error lines of ${daemon.proc.lines.length}, ` +
        `fewest destinations meanwhile ${minDests}/${dests}`,
    );
    return {
      impl,
      services,
      dests,
      completeMs,
      firstLineMs,
      reloadMs,
      reloadSamplesMs,
      reloadCollateral,
      restartSteadyMs,
      restartLogLines: lineCount(daemon, daemon.startedAtMs, Infinity),
      restartErrorLines: errors.length,
      restartErrorSamples: errors.slice(0, 3).map((l) => l.text),
      restartMinDests: minDests,
      restartFinalDests: final.dests,
    };
  } finally {
    await watch.close();
    await daemon.stop(15_000);
    await saveLog(opts, daemon, "table-restart");
  }
}

// ---------------------------------------------------------------------------------------
// Report

const verdict = (ok: boolean | null) => (ok === null ? "-" : ok ? "PASS" : "MISS");
const pct = (v: number | null) => (v === null ? "-" : `${v.toFixed(1)}%`);
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null || b === 0 ? "-" : `${(a / b).toFixed(2)}×`;

interface DeathRow {
  readonly impl: ImplName;
  readonly cause: Cause;
  readonly check: "tcp" | "http";
  readonly n: number;
  readonly lost: number;
  readonly median: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

function deathRows(results: readonly DeathResult[]): DeathRow[] {
  const rows: DeathRow[] = [];
  for (const r of results) {
    for (const cause of ["process", "link"] as const) {
      for (const check of ["tcp", "http"] as const) {
        const v = r.byCause[cause][check];
        const ok = v.filter((x): x is number => x !== null);
        const s = summarize(ok);
        rows.push({
          impl: r.impl,
          cause,
          check,
          n: ok.length,
          lost: v.length - ok.length,
          median: s.median,
          p90: percentile(ok, 90),
          p99: s.p99,
          max: s.max,
        });
      }
    }
  }
  return rows;
}

function deathTable(rows: readonly DeathRow[]): string {
  const head = [
    "daemon",
    "cause",
    "check",
    "n",
    "median ms",
    "p90",
    "p99",
    "max",
    "vs keepalived",
    `p99 ≤ ${TARGET_DEATH_P99_MS}`,
    `≤ ½ keepalived`,
  ];
  const out: string[][] = [head];
  for (const r of rows) {
    const ka = rows.find((k) =>
      k.impl === "keepalived" && k.cause === r.cause && k.check === r.check
    );
    const isHacore = r.impl === "hacore";
    out.push([
      r.impl,
      r.cause,
      r.check.toUpperCase(),
      r.lost > 0 ? `${r.n} (+${r.lost} never)` : String(r.n),
      fmtMs(r.median, 0),
      fmtMs(r.p90, 0),
      fmtMs(r.p99, 0),
      fmtMs(r.max, 0),
      isHacore ? ratio(r.median, ka?.median ?? null) : "",
      isHacore ? verdict(r.p99 === null ? null : r.p99 <= TARGET_DEATH_P99_MS && r.lost === 0) : "",
      isHacore
        ? verdict(
          r.median === null || ka?.median == null
            ? null
            : r.median <= TARGET_DEATH_RATIO * ka.median,
        )
        : "",
    ]);
  }
  return table(out, [0, 1, 2]);
}

function cpuTable(results: readonly CpuResult[]): string {
  const out: string[][] = [[
    "daemon",
    "check",
    "checks",
    "CPU % of one",
    "per process",
    "served /s",
    "dests at end",
    "guest busy",
    "vs keepalived",
    `≤ ¼ keepalived`,
  ]];
  for (const r of results) {
    const ka = results.find((k) => k.impl === "keepalived" && k.check === r.check);
    const served = r.rates === null
      ? "-"
      : (r.check === "tcp" ? r.rates.tcpPerS : r.rates.httpRequestsPerS).toFixed(0);
    const isHacore = r.impl === "hacore";
    out.push([
      r.impl,
      r.check.toUpperCase(),
      String(r.checks),
      pct(r.totalPct),
      Object.entries(r.perProcessPct).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", "),
      served,
      String(r.destsAtEnd),
      pct(r.guestBusyPct),
      isHacore ? ratio(r.totalPct, ka?.totalPct ?? null) : "",
      isHacore
        ? verdict(ka === undefined ? null : r.totalPct <= TARGET_CPU_RATIO * ka.totalPct)
        : "",
    ]);
  }
  return table(out, [0, 1, 4]);
}

function tableTable(results: readonly TableResult[]): string {
  const out: string[][] = [[
    "daemon",
    "table",
    "exec→complete ms",
    "exec→1st log line",
    "reload ms",
    "restart steady ms",
    "restart errors",
    "min dests",
    `complete < ${TARGET_COMPLETE_MS}`,
    `reload < ${TARGET_RELOAD_MS}`,
    "no errors",
  ]];
  for (const r of results) {
    const isHacore = r.impl === "hacore";
    out.push([
      r.impl,
      `${r.services}×${r.dests / r.services}`,
      fmtMs(r.completeMs, 0),
      fmtMs(r.firstLineMs, 0),
      fmtMs(r.reloadMs, 1),
      fmtMs(r.restartSteadyMs, 0),
      `${r.restartErrorLines}/${r.restartLogLines}`,
      String(r.restartMinDests),
      isHacore ? verdict(r.completeMs < TARGET_COMPLETE_MS) : "",
      isHacore ? verdict(r.reloadMs < TARGET_RELOAD_MS && r.reloadCollateral === 0) : "",
      isHacore ? verdict(r.restartErrorLines === 0 && r.restartMinDests === r.dests) : "",
    ]);
  }
  return table(out, [0, 1]);
}

// ---------------------------------------------------------------------------------------
// Main

async function main(args: string[]): Promise<number> {
  const opts = parseOptions(args);
  if (opts === "help") {
    console.log(USAGE);
    return 0;
  }
  if (typeof opts === "string") {
    console.error(`lvs: ${opts}\n${USAGE}`);
    return 2;
  }
  if (!(await hasIpvs())) {
    if (Deno.env.get(GUEST_ENV) === "1") {
      console.error("lvs: no IPVS even in the guest (/proc/net/ip_vs missing)");
      return 1;
    }
    // Paths resolved here: the guest writes through to the host's repository only.
    const pathOpts = ["--json", "--logs", "--strace"];
    const fwd = args.filter((a, i) => !pathOpts.includes(a) && !pathOpts.includes(args[i - 1]));
    if (opts.json) fwd.push("--json", opts.json);
    if (opts.logs) fwd.push("--logs", opts.logs);
    if (opts.strace) fwd.push("--strace", opts.strace);
    return await rerunInGuest(import.meta.url, fwd);
  }
  return await runSandboxed("lvs", "lb", async (box) => {
    const say = (s: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${s}`);
    const cpus = navigator.hardwareConcurrency;
    say(
      `LVS benchmark${opts.quick ? " (quick)" : ""}: ${opts.impls.join(", ")}; ${cpus} CPU(s); ` +
        `pacing delay_loop ${BENCH_PACING.delayLoopS} s, retry ${BENCH_PACING.retry}, ` +
        `delay_before_retry ${BENCH_PACING.delayBeforeRetryS} s, connect_timeout ${BENCH_PACING.connectTimeoutS} s` +
        `; hacore is ${Deno.env.get("HACORE_BIN") || "deno run main.ts"} ` +
        `with its config as ${opts.hacoreFormat === "toml" ? "TOML" : "keepalived.conf"}`,
    );
    const death: DeathResult[] = [];
    const cpu: CpuResult[] = [];
    const big: TableResult[] = [];
    if (opts.parts.has("death")) {
      for (const impl of opts.impls) death.push(await deathRun(box, impl, opts, say));
    }
    if (opts.parts.has("cpu")) {
      for (const check of ["tcp", "http"] as const) {
        for (const impl of opts.impls) cpu.push(await cpuRun(box, impl, check, opts, say));
      }
    }
    if (opts.parts.has("table")) {
      for (const impl of opts.impls) big.push(await tableRun(box, impl, opts, say));
    }
    const rows = deathRows(death);
    if (death.length > 0) {
      console.log(
        `\n1. Real server death → removal from the kernel table (${opts.trials} trials per cause; ` +
          `keepalived reference: ${REFERENCE.deathTcpMs} ms TCP / ${REFERENCE.deathHttpMs} ms HTTP ` +
          `process death, ${REFERENCE.deathLinkMs} ms link down, medians)\n` + deathTable(rows),
      );
    }
    if (cpu.length > 0) {
      console.log(
        `\n2. Checker CPU, ${opts.services} × ${opts.reals} real servers each checked every second ` +
          `(${opts.windowS} s window; keepalived reference: ${REFERENCE.cpuTcpPct}% TCP, ` +
          `${REFERENCE.cpuHttpPct}% HTTP)\n` + cpuTable(cpu),
      );
    }
    if (big.length > 0) {
      console.log(
        `\n3. ${opts.tableServices} services × ${opts.reals} destinations, no checks, alpha off ` +
          `(keepalived reference: ${REFERENCE.tableCompleteMs} ms to complete, ${REFERENCE.reloadMs} ms ` +
          `reload, ${REFERENCE.restartErrors} "already exists" errors after kill -9)\n` +
          tableTable(big),
      );
      for (const r of big) {
        for (const e of r.restartErrorSamples) console.log(`  ${r.impl} error line: ${e}`);
      }
    }
    if (opts.json) {
      await Deno.writeTextFile(
        opts.json,
        JSON.stringify(
          {
            quick: opts.quick,
            pacing: BENCH_PACING,
            reference: REFERENCE,
            targets: {
              deathP99Ms: TARGET_DEATH_P99_MS,
              deathRatio: TARGET_DEATH_RATIO,
              cpuRatio: TARGET_CPU_RATIO,
              completeMs: TARGET_COMPLETE_MS,
              reloadMs: TARGET_RELOAD_MS,
            },
            death: { trials: opts.trials, rows, raw: death },
            cpu,
            table: big,
          },
          null,
          2,
        ) + "\n",
      );
      say(`wrote ${opts.json}`);
    }
    return 0;
  });
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`lvs: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
