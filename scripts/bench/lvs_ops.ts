/**
 * LVS operations benchmark (issue 12's targets): hacore against keepalived 2.2.7 as IPVS
 * directors, one after the other in the same run, in the same (UML) guest, each in
 * namespaces made for it.
 *
 * ```sh
 * deno task bench:lvs-ops [--quick] [--json FILE]     # boots the IPVS guest when needed
 * bash scripts/vm/run.sh --timeout 1500 -- deno run -A scripts/bench/lvs_ops.ts [--quick]
 * ```
 *
 * 1. Reload under load. client ─ director (LVS-NAT, `rr`, no checks) ─ three real servers
 *    (three addresses of one namespace, a keep-alive HTTP responder on each that answers
 *    with its own address). A client (lib/http_load.ts) keeps 50 keep-alive connections
 *    and sends one request every 50 ms on each for 20 s; at 5 s the config is rewritten
 *    without the third real server and the daemon gets SIGHUP. Counted: failed requests
 *    overall and on the removed server's connections (a request with no answer within
 *    3 s is a failure; the client then reconnects). hacore drains the removed server
 *    (`[lvs] drain_deadline = 30`: longer than the load, so its connections end first).
 * 2. Big table. 2,000 services × 20 destinations (40,000), no checks: exec → complete
 *    (every service and destination listed) and the daemon's CPU to get there; the CPU of
 *    a steady minute (hacore dumps and compares the whole table every 5 s), and the time
 *    of one such dump (hacore's own `openIpvs().dump()` in a process of its own, after
 *    the kill below, warm);
 *    then kill -9 and a restart on the intact table: time to steady (the last log line
 *    before 5 s of silence), the restart's CPU, the operations hacore logged (adoption
 *    should need none) and the error lines (keepalived: "already exists").
 *
 * Exits 0 when the benchmark ran (whether targets pass or not), 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { runChecked, type Sandbox } from "../../lib/lab/host.ts";
import { LineProc, sleep, wallMs } from "../../lib/lab/proc.ts";
import type { ImplName } from "./lib/daemons.ts";
import { parseProcIpvs, readProcIpvs, ServiceDests } from "./lib/ipvs_table.ts";
import {
  BENCH_VIP,
  hacoreLvsToml,
  keepalivedLvsConf,
  lvsWorkload,
  realAddresses,
} from "./lib/lvs_configs.ts";
import { type LvsDaemon, startLvsDaemon } from "./lib/lvs_daemons.ts";
import {
  type ConnRecord,
  hacoreNatToml,
  hacoreOpsApplied,
  keepalivedNatConf,
  type LoadSummary,
  type NatSpec,
  summarizeLoad,
} from "./lib/lvs_ops.ts";
import { cpuSeconds } from "./lib/resources.ts";
import { runSandboxed } from "./lib/run_sandboxed.ts";
import { fmtMs, median, table } from "./lib/stats.ts";
import { GUEST_ENV, hasIpvs, rerunInGuest } from "./lib/ipvs_guest.ts";

const USAGE = "usage: lvs_ops.ts [--quick] [--impl hacore|keepalived]... [--only load|table]... " +
  "[--runs N] [--load-seconds S] [--conns N] [--table-services N] [--window S] " +
  "[--json FILE] [--logs DIR]";

/** The reference figure for keepalived: every request on the removed server's connections failed. */
const REFERENCE = { removedConnsFailed: 17, removedConns: 17 };

const VIP = "10.3.0.100";
const PORT = 8080;
const REALS = ["10.4.0.11", "10.4.0.12", "10.4.0.13"];
const REMOVED = `${REALS[2]}:${PORT}`;
/** Longer than the load: the drained server's connections end before the deadline cuts them. */
const DRAIN_DEADLINE_S = 30;
const REQUEST_INTERVAL_MS = 50;
/** A request with no answer by then has failed: the client gives up and reconnects. */
const REQUEST_TIMEOUT_MS = 3000;
const RELOAD_AT_S = 5;
const TABLE_REALS = 20;
const FIRST_PORT = 10000;
/** Every wait for the big table has this bound: a daemon that never gets there fails the run. */
const TABLE_TIMEOUT_MS = 300_000;
/** Least time between two whole-table reads while timing (one read of 40,000 is ~2.6 MB). */
const PROC_EVERY_MS = 250;
/**
 * Silence that ends a restart. keepalived, restarting on 40,000 entries, paused its
 * "already exists" lines for ~3 s after its first 800: 2 s of silence cut its count short.
 */
const RESTART_QUIET_MS = 5000;
/** Dumps timed apart from the daemon; the first DUMPS_WARMUP warm the JIT and are not counted. */
const DUMPS = 8;
const DUMPS_WARMUP = 3;
/** hacore's periodic dump (lib/lvs/runtime.ts LVS_SYNC_INTERVAL_MS). */
const SYNC_INTERVAL_S = 5;

type Part = "load" | "table";

interface Options {
  readonly impls: readonly ImplName[];
  readonly parts: ReadonlySet<Part>;
  readonly runs: number;
  readonly loadSeconds: number;
  readonly conns: number;
  readonly tableServices: number;
  readonly windowS: number;
  readonly quick: boolean;
  readonly json: string | null;
  readonly logs: string | null;
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
        runs: { type: "string" },
        "load-seconds": { type: "string" },
        conns: { type: "string" },
        "table-services": { type: "string" },
        window: { type: "string" },
        json: { type: "string" },
        logs: { type: "string" },
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
    const parts = (v.only ?? ["load", "table"]).map((s) => {
      if (s !== "load" && s !== "table") throw new Error(`--only: unknown "${s}"`);
      return s;
    });
    return {
      impls,
      parts: new Set(parts),
      runs: Math.round(num(v.runs, quick ? 1 : 3, "--runs", 1)),
      loadSeconds: num(v["load-seconds"], 20, "--load-seconds", RELOAD_AT_S + 2),
      conns: Math.round(num(v.conns, 50, "--conns", 3)),
      tableServices: Math.round(
        num(v["table-services"], quick ? 500 : 2000, "--table-services", 1),
      ),
      windowS: num(v.window, quick ? 20 : 60, "--window", SYNC_INTERVAL_S),
      quick,
      json: v.json === undefined ? null : resolve(v.json),
      logs: v.logs === undefined ? null : resolve(v.logs),
    };
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------------------
// Shared pieces

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

/** Waits until `d` has logged something and then nothing for `quietMs`; its last line's time. */
async function quiet(d: LvsDaemon, quietMs: number, timeoutMs: number, onPoll: () => void) {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    onPoll();
    const last = d.proc.lines.at(-1);
    if (last !== undefined && wallMs() - last.atMs >= quietMs) return last.atMs;
    if (wallMs() > deadline) throw new Error(`${d.impl} still logging after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Saves `d`'s output as `DIR/<impl>-<what>.log` when --logs asked for it. */
async function saveLog(opts: Options, d: LvsDaemon, what: string): Promise<void> {
  if (opts.logs === null) return;
  await Deno.mkdir(opts.logs, { recursive: true });
  const text = d.proc.lines.map((l) => `${(l.atMs - d.startedAtMs).toFixed(1)} ${l.text}`);
  await Deno.writeTextFile(`${opts.logs}/${d.impl}-${what}.log`, text.join("\n") + "\n");
}

const SCRIPTS = new URL("./lib/", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------
// 1. Reload under load

interface LoadResult {
  readonly impl: ImplName;
  readonly run: number;
  /** `net.ipv4.vs.expire_nodest_conn` in the director's namespace. */
  readonly expireNodestConn: string;
  /** SIGHUP → the removed server at weight 0 or gone from the kernel, ms. */
  readonly reloadAppliedMs: number | null;
  /** The removed server's weight in the kernel when the load ended; null when gone. */
  readonly removedWeightAtEnd: number | null;
  readonly summary: LoadSummary;
}

function natConfig(impl: ImplName, spec: NatSpec): string {
  return impl === "hacore" ? hacoreNatToml(spec) : keepalivedNatConf(spec);
}

async function loadRun(
  box: Sandbox,
  impl: ImplName,
  run: number,
  opts: Options,
  say: (s: string) => void,
): Promise<LoadResult> {
  const client = await box.netns();
  const director = await box.netns();
  const servers = await box.netns();
  await veth(director, "c0", "10.3.0.1/24", client, "eth0", ["10.3.0.2/24"]);
  await veth(director, "s0", "10.4.0.1/24", servers, "eth0", REALS.map((a) => `${a}/24`));
  await runChecked("ip", ["-n", director, "addr", "add", `${VIP}/32`, "dev", "c0"]);
  await runChecked("ip", ["-n", client, "route", "add", "default", "via", "10.3.0.1"]);
  await runChecked("ip", ["-n", servers, "route", "add", "default", "via", "10.4.0.1"]);
  await runChecked("ip", ["netns", "exec", director, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  const web = new LineProc(
    "responder",
    box.spawn(
      servers,
      Deno.execPath(),
      "run",
      "--allow-net",
      `${SCRIPTS}http_responder.ts`,
      String(PORT),
      ...REALS,
    ),
  );
  await web.waitLine((l) => l.text === "listening", 20_000, "the responder");
  const spec: NatSpec = { vip: VIP, port: PORT, reals: REALS, drainDeadlineS: DRAIN_DEADLINE_S };
  const daemon = await startLvsDaemon(
    impl,
    box,
    await box.tempDir(),
    director,
    natConfig(impl, spec),
  );
  const watch = await ServiceDests.open(director, VIP, PORT);
  try {
    await daemon.waitChildren(15_000);
    await until(
      async () => (await watch.dests()).size === REALS.length,
      30_000,
      "3 real servers",
      20,
    );
    const expireNodestConn = (await runChecked("ip", [
      "netns",
      "exec",
      director,
      "cat",
      "/proc/sys/net/ipv4/vs/expire_nodest_conn",
    ])).trim();
    const load = new LineProc(
      "load",
      box.spawn(
        client,
        Deno.execPath(),
        "run",
        "--allow-net",
        `${SCRIPTS}http_load.ts`,
        VIP,
        String(PORT),
        String(opts.conns),
        String(opts.loadSeconds),
        String(REQUEST_INTERVAL_MS),
        String(REQUEST_TIMEOUT_MS),
      ),
    );
    await load.waitLine((l) => l.text === "started", 20_000, "the load to start");
    await sleep(RELOAD_AT_S * 1000);
    await daemon.writeConfig(natConfig(impl, { ...spec, reals: REALS.slice(0, 2) }));
    const hup = daemon.reload();
    let reloadAppliedMs: number | null = null;
    try {
      const at = await until(
        async () => ((await watch.dests()).get(REMOVED) ?? 0) === 0,
        10_000,
        `${REMOVED} at weight 0 or gone`,
        10,
      );
      reloadAppliedMs = at - hup;
    } catch {
      // never applied: reported as such
    }
    const done = await load.waitLine(
      (l) => l.text.startsWith("["),
      (opts.loadSeconds + 30) * 1000,
      "the load's result",
    );
    const removedWeightAtEnd = (await watch.dests()).get(REMOVED) ?? null;
    const conns = JSON.parse(done.text) as ConnRecord[];
    const summary = summarizeLoad(conns, REMOVED);
    say(
      `[${impl}] load run ${run}: ${summary.requests} requests on ${summary.connections} ` +
        `connections, ${summary.failed} failed (${summary.timeouts} timeouts); removed ` +
        `server's connections ${summary.removedConnsFailed}/${summary.removedConns} failed; ` +
        `reload applied ${fmtMs(reloadAppliedMs, 0)} ms after SIGHUP; ` +
        `expire_nodest_conn=${expireNodestConn}`,
    );
    return { impl, run, expireNodestConn, reloadAppliedMs, removedWeightAtEnd, summary };
  } finally {
    await watch.close();
    await daemon.stop(15_000);
    await saveLog(opts, daemon, `load-${run}`);
    await web.stop("SIGTERM", 5000).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------
// 2. Big table

interface TableResult {
  readonly impl: ImplName;
  readonly services: number;
  readonly dests: number;
  readonly completeMs: number;
  /** The daemon's CPU from exec to the complete table, s (every process). */
  readonly completeCpuS: number;
  /** The daemon's CPU over the steady window, % of one CPU. */
  readonly steadyCpuPct: number;
  readonly windowS: number;
  /** hacore's dump of the whole table (its own IPVS port, no daemon running, warm), ms. */
  readonly dumpMs: readonly number[];
  /** Restart after kill -9: exec → the last log line before RESTART_QUIET_MS of silence, ms. */
  readonly restartSteadyMs: number;
  readonly restartCpuS: number;
  /** IPVS operations hacore logged while restarting (adoption: none); null for keepalived. */
  readonly restartOps: number | null;
  readonly restartErrorLines: number;
  readonly restartLogLines: number;
  readonly restartErrorSamples: string[];
  /** Fewest destinations seen in the kernel from the kill to steady. */
  readonly restartMinDests: number;
}

/** Times `n` dumps of `ns`'s table with hacore's IPVS port in a process of its own. */
async function dumpTimes(box: Sandbox, ns: string, n: number): Promise<number[]> {
  const p = new LineProc(
    "dump",
    box.spawn(ns, Deno.execPath(), "run", "-A", `${SCRIPTS}ipvs_dump_time.ts`, String(n)),
  );
  const line = await p.waitLine((l) => l.text.startsWith("{"), 120_000, "the dump times");
  await p.exited(10_000).catch(() => {});
  return (JSON.parse(line.text) as { ms: number[] }).ms;
}

async function tableRun(
  box: Sandbox,
  impl: ImplName,
  opts: Options,
  say: (s: string) => void,
): Promise<TableResult> {
  const director = await box.netns();
  const reals = realAddresses(TABLE_REALS);
  const ports: [number, number] = [FIRST_PORT, FIRST_PORT + opts.tableServices - 1];
  const w = lvsWorkload({ ports, reals, check: "none" });
  const config = impl === "hacore" ? hacoreLvsToml(w) : keepalivedLvsConf(w);
  const services = opts.tableServices;
  const dests = services * TABLE_REALS;
  const count = () => parseProcIpvs(readProcIpvs(director));
  let lastReadMs = -Infinity;
  const complete = () => {
    if (wallMs() - lastReadMs < PROC_EVERY_MS) return false;
    lastReadMs = wallMs();
    const t = count();
    return t.services === services && t.dests === dests;
  };
  const dir = await box.tempDir();
  const watch = await ServiceDests.open(director, BENCH_VIP, ports[1]);
  let daemon = await startLvsDaemon(impl, box, dir, director, config);
  try {
    await daemon.waitChildren(15_000);
    // The last service complete is a cheap sign the whole table may be; only then read it all.
    const doneAt = await until(
      async () => (await watch.dests()).size === TABLE_REALS && complete(),
      TABLE_TIMEOUT_MS,
      `${services} services × ${TABLE_REALS} destinations`,
      20,
    );
    const completeCpuS = await cpuSeconds(daemon.pids());
    const completeMs = doneAt - daemon.startedAtMs;
    say(
      `[${impl}] ${services} × ${TABLE_REALS} table complete ${fmtMs(completeMs, 0)} ms after ` +
        `exec, ${completeCpuS.toFixed(2)} s CPU`,
    );
    await quiet(daemon, 1000, TABLE_TIMEOUT_MS, () => {});
    // Steady: nothing to do but hacore's periodic dump and compare.
    const c0 = await cpuSeconds(daemon.pids());
    const t0 = wallMs();
    await sleep(opts.windowS * 1000);
    const steadyCpuPct = (await cpuSeconds(daemon.pids()) - c0) / ((wallMs() - t0) / 1000) * 100;
    say(`[${impl}] steady ${opts.windowS} s: ${steadyCpuPct.toFixed(2)}% of one CPU`);
    daemon.crash();
    await daemon.reap(15_000);
    await saveLog(opts, daemon, "table");
    // With no daemon beside it (the guest has one CPU), the JIT warmed by the first few.
    const dumpMs = impl === "hacore"
      ? (await dumpTimes(box, director, DUMPS)).slice(DUMPS_WARMUP)
      : [];
    if (dumpMs.length > 0) {
      say(`[${impl}] full dump (hacore's IPVS port, warm): median ${fmtMs(median(dumpMs), 0)} ms`);
    }
    let minDests = count().dests;
    daemon = await startLvsDaemon(impl, box, dir, director, config);
    await daemon.waitChildren(15_000);
    let lastCountMs = wallMs();
    const lastLineMs = await quiet(daemon, RESTART_QUIET_MS, TABLE_TIMEOUT_MS, () => {
      // Once a second: each read takes CPU from the restarting daemon.
      if (wallMs() - lastCountMs < 1000) return;
      lastCountMs = wallMs();
      minDests = Math.min(minDests, count().dests);
    });
    const restartCpuS = await cpuSeconds(daemon.pids());
    minDests = Math.min(minDests, count().dests);
    const errors = daemon.errorLines();
    const restartOps = impl === "hacore"
      ? hacoreOpsApplied(daemon.proc.lines.map((l) => l.text))
      : null;
    const restartSteadyMs = lastLineMs - daemon.startedAtMs;
    say(
      `[${impl}] restart after kill -9: steady ${fmtMs(restartSteadyMs, 0)} ms, ` +
        `${restartCpuS.toFixed(2)} s CPU, ${restartOps ?? "-"} operations, ` +
        `${errors.length} error lines of ${daemon.proc.lines.length}, ` +
        `fewest destinations meanwhile ${minDests}/${dests}`,
    );
    return {
      impl,
      services,
      dests,
      completeMs,
      completeCpuS,
      steadyCpuPct,
      windowS: opts.windowS,
      dumpMs,
      restartSteadyMs,
      restartCpuS,
      restartOps,
      restartErrorLines: errors.length,
      restartLogLines: daemon.proc.lines.length,
      restartErrorSamples: errors.slice(0, 3).map((l) => l.text),
      restartMinDests: minDests,
    };
  } finally {
    await watch.close();
    await daemon.stop(30_000);
    await saveLog(opts, daemon, "table-restart");
  }
}

// ---------------------------------------------------------------------------------------
// Report

const verdict = (ok: boolean | null) => (ok === null ? "-" : ok ? "PASS" : "MISS");

function loadTable(results: readonly LoadResult[]): string {
  const out: string[][] = [[
    "daemon",
    "run",
    "requests",
    "failed",
    "timeouts",
    "removed server's conns failed",
    "failed on them",
    "answers by server",
    "reload applied ms",
    "removed at end",
    "0 failed",
  ]];
  for (const r of results) {
    const s = r.summary;
    out.push([
      r.impl,
      String(r.run),
      String(s.requests),
      String(s.failed),
      String(s.timeouts),
      `${s.removedConnsFailed}/${s.removedConns}`,
      String(s.removedFailed),
      REALS.map((a) => String(s.okByServer[`${a}:${PORT}`] ?? 0)).join("/"),
      fmtMs(r.reloadAppliedMs, 0),
      r.removedWeightAtEnd === null ? "gone" : `weight ${r.removedWeightAtEnd}`,
      r.impl === "hacore" ? verdict(s.failed === 0) : "",
    ]);
  }
  return table(out, [0, 7, 9]);
}

function bigTable(results: readonly TableResult[]): string {
  const out: string[][] = [[
    "daemon",
    "table",
    "exec→complete ms",
    "CPU s",
    "steady CPU %",
    "CPU s per 5 s cycle",
    "dump ms (median)",
    "restart steady ms",
    "restart CPU s",
    "restart ops",
    "restart errors",
    "min dests",
    "adopts: 0 ops, 0 errors",
  ]];
  for (const r of results) {
    const isHacore = r.impl === "hacore";
    out.push([
      r.impl,
      `${r.services}×${r.dests / r.services}`,
      fmtMs(r.completeMs, 0),
      r.completeCpuS.toFixed(2),
      r.steadyCpuPct.toFixed(2),
      (r.steadyCpuPct / 100 * SYNC_INTERVAL_S).toFixed(2),
      r.dumpMs.length === 0 ? "-" : fmtMs(median(r.dumpMs), 0),
      fmtMs(r.restartSteadyMs, 0),
      r.restartCpuS.toFixed(2),
      r.restartOps === null ? "-" : String(r.restartOps),
      `${r.restartErrorLines}/${r.restartLogLines}`,
      String(r.restartMinDests),
      isHacore
        ? verdict(r.restartOps === 0 && r.restartErrorLines === 0 && r.restartMinDests === r.dests)
        : "",
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
    console.error(`lvs_ops: ${opts}\n${USAGE}`);
    return 2;
  }
  if (!(await hasIpvs())) {
    if (Deno.env.get(GUEST_ENV) === "1") {
      console.error("lvs_ops: no IPVS even in the guest (/proc/net/ip_vs missing)");
      return 1;
    }
    // Paths resolved here: the guest writes through to the host's repository only.
    const pathOpts = ["--json", "--logs"];
    const fwd = args.filter((a, i) => !pathOpts.includes(a) && !pathOpts.includes(args[i - 1]));
    if (opts.json) fwd.push("--json", opts.json);
    if (opts.logs) fwd.push("--logs", opts.logs);
    return await rerunInGuest(import.meta.url, fwd);
  }
  return await runSandboxed("lvs_ops", "lo", async (box) => {
    const say = (s: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${s}`);
    say(
      `LVS operations benchmark${opts.quick ? " (quick)" : ""}: ${opts.impls.join(", ")}; ` +
        `${navigator.hardwareConcurrency} CPU(s)`,
    );
    const loads: LoadResult[] = [];
    const big: TableResult[] = [];
    if (opts.parts.has("load")) {
      for (let run = 1; run <= opts.runs; run++) {
        for (const impl of opts.impls) loads.push(await loadRun(box, impl, run, opts, say));
      }
    }
    if (opts.parts.has("table")) {
      for (const impl of opts.impls) big.push(await tableRun(box, impl, opts, say));
    }
    if (loads.length > 0) {
      console.log(
        `\n1. Reload removing one of 3 real servers under load (LVS-NAT rr; ${opts.conns} ` +
          `keep-alive connections, a request every ${REQUEST_INTERVAL_MS} ms on each for ` +
          `${opts.loadSeconds} s, SIGHUP at ${RELOAD_AT_S} s, a request failed after ` +
          `${REQUEST_TIMEOUT_MS} ms; hacore [lvs] drain_deadline = ${DRAIN_DEADLINE_S} s; ` +
          `expire_nodest_conn=${loads[0].expireNodestConn}; keepalived reference: ` +
          `${REFERENCE.removedConnsFailed} of ${REFERENCE.removedConns} of the removed ` +
          `server's connections failed)\n` + loadTable(loads),
      );
    }
    if (big.length > 0) {
      console.log(
        `\n2. ${opts.tableServices} services × ${TABLE_REALS} destinations, no checks ` +
          `(steady window ${opts.windowS} s: hacore dumps and compares every ` +
          `${SYNC_INTERVAL_S} s)\n` + bigTable(big),
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
            reference: REFERENCE,
            load: {
              conns: opts.conns,
              seconds: opts.loadSeconds,
              requestIntervalMs: REQUEST_INTERVAL_MS,
              requestTimeoutMs: REQUEST_TIMEOUT_MS,
              reloadAtS: RELOAD_AT_S,
              drainDeadlineS: DRAIN_DEADLINE_S,
              results: loads,
            },
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
    console.error(`lvs_ops: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
