/**
 * The two implementations under test behind one interface: start a node, ask its
 * state, kill it with SIGKILL or stop it with SIGTERM at a known instant, reap it, and
 * name the processes whose memory and CPU count as the daemon's.
 *
 * hacore runs through `startHacore` (lib/lab/hacore.ts), so with the V8 flags of
 * `lib/sys/runtime_flags.ts` that the compiled binary bakes in: what is measured is
 * what is shipped. With `HACORE_BIN` set (e.g. `dist/hacore` from `deno task compile`)
 * that binary runs instead, with the same arguments.
 *
 * Both get the same instance: interface eth0, VRID 51, the given priority, version and
 * advert interval, one VIP, BACKUP at start with preemption, and a single GARP burst on
 * becoming master (no delayed second burst).
 *
 * keepalived runs as a parent plus a forked VRRP child; a crash must kill both (and the
 * child first: it sends the adverts, and it may stop cleanly when its parent dies). Its
 * pid is read once at start, so the kill itself is two `kill(2)` calls a few
 * microseconds apart, as fast as hacore's one.
 *
 * @example
 * ```ts
 * const d = await startDaemon("keepalived", box, dir, ns, spec);
 * const t = d.crash();
 * await d.reap(5000);
 * ```
 *
 * @module
 */

import { type HacoreOptions, parseTransition, startHacore } from "../../../lib/lab/hacore.ts";
import { type Output, runCmd, type Sandbox } from "../../../lib/lab/host.ts";
import { LineProc, sleep, wallMs } from "../../../lib/lab/proc.ts";
import { LAN_IFACE } from "../../../lib/lab/topology.ts";
import { keepalivedConf } from "../../../tests/netns/peers.ts";

/**
 * Which daemon.
 *
 * @example
 * ```ts
 * const impls: ImplName[] = ["hacore", "keepalived"];
 * ```
 */
export type ImplName = "hacore" | "keepalived";

/**
 * The one VRRP instance a benchmark node runs.
 *
 * @example
 * ```ts
 * const s: NodeSpec = { name: "node1", priority: 150, version: 3, advertIntS: 0.01, vip: "192.0.2.100/24" };
 * ```
 */
export interface NodeSpec {
  readonly name: string;
  readonly priority: number;
  readonly version: 2 | 3;
  readonly advertIntS: number;
  /** With prefix length. */
  readonly vip: string;
  /**
   * The whole config file text (TOML for hacore, keepalived.conf for keepalived), used
   * instead of the one-instance config the fields above describe; those fields then
   * only name the node. For benches that need many instances or checks.
   */
  readonly config?: string;
}

/**
 * A running daemon of either kind.
 *
 * @example
 * ```ts
 * if (d.state() === "MASTER") d.terminate();
 * ```
 */
export interface BenchDaemon {
  readonly impl: ImplName;
  readonly name: string;
  /** The spawned process (hacore itself; keepalived's parent). */
  readonly proc: LineProc;
  /** {@link wallMs} just before the spawn: the start of a spawn-to-state measurement. */
  readonly spawnedAtMs: number;
  /** hacore's control socket (for its operator verbs); null for keepalived, which has none. */
  readonly controlSocket: string | null;
  /** The state per its last logged transition: "INIT" before any. */
  state(): string;
  /** How many transitions it has logged; a start index for {@link BenchDaemon.waitState}. */
  transitionCount(): number;
  /**
   * When the line logging its first entry into `state` at index `from` or later reached
   * this process ({@link wallMs}), or null. Arrival, not the log's own stamp: keepalived's
   * console lines carry none, and hacore's are whole milliseconds.
   */
  loggedAt(state: string, from: number): number | null;
  /** Resolves with the log time of the first entry into `state` at index `from` or later. */
  waitState(state: string, from: number, timeoutMs: number): Promise<number>;
  /** True until its (main) process has exited. */
  alive(): boolean;
  /** Processes whose resources count as the daemon's. */
  pids(): number[];
  /** kill -9 of every process; returns {@link wallMs} just before the fatal signal. */
  crash(): number;
  /** SIGTERM; returns {@link wallMs} just before it is sent. */
  terminate(): number;
  /** SIGHUP, both daemons' reload; returns {@link wallMs} just before it is sent. */
  reload(): number;
  /** Waits until every process has exited and clears its pid files; the main exit status. */
  reap(timeoutMs: number): Promise<Deno.CommandStatus>;
  /** The end of its output, for error messages. */
  tail(): string;
}

/**
 * Starts `impl` for `spec` in `ns` (configs and pid files in `dir`) and resolves once
 * its instance is in BACKUP.
 *
 * @example
 * ```ts
 * const d = await startDaemon("hacore", box, dir, ns, spec);
 * ```
 */
export function startDaemon(
  impl: ImplName,
  box: Sandbox,
  dir: string,
  ns: string,
  spec: NodeSpec,
): Promise<BenchDaemon> {
  return impl === "hacore"
    ? startHacoreNode(box, dir, ns, spec)
    : startKeepalivedNode(box, dir, ns, spec);
}

/**
 * hacore's config for `spec`, equivalent to {@link keepalivedConf}'s for keepalived.
 *
 * @example
 * ```ts
 * hacoreToml({ name: "node1", priority: 150, version: 2, advertIntS: 1, vip: "192.0.2.100/24" });
 * ```
 */
export function hacoreToml(spec: NodeSpec): string {
  return [
    `# generated by scripts/bench/failover.ts for ${spec.name}`,
    "[global]",
    `router_id = ${JSON.stringify(spec.name)}`,
    // As keepalivedConf: one GARP burst on becoming master, no second burst later.
    "vrrp_garp_master_delay = 0",
    "",
    "[vrrp_instance.VI_1]",
    `interface = ${JSON.stringify(LAN_IFACE)}`,
    "virtual_router_id = 51",
    `version = ${spec.version}`,
    `priority = ${spec.priority}`,
    `advert_int = ${spec.advertIntS}`,
    `virtual_ipaddress = [${JSON.stringify(spec.vip)}]`,
    "",
  ].join("\n");
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // gone already
  }
}

function signalProc(p: LineProc, sig: Deno.Signal): void {
  try {
    p.child.kill(sig);
  } catch {
    // exited already
  }
}

async function startHacoreNode(
  box: Sandbox,
  dir: string,
  ns: string,
  spec: NodeSpec,
): Promise<BenchDaemon> {
  const file = `${dir}/${spec.name}.toml`;
  const pidFile = `${dir}/${spec.name}.pid`;
  await Deno.writeTextFile(file, spec.config ?? hacoreToml(spec));
  // Its own control socket: the default path is one per machine, and a lab runs several.
  const controlSocket = `${dir}/${spec.name}.sock`;
  const spawnedAtMs = wallMs();
  const proc = spawnHacore(box, ns, file, spec.name, pidFile, controlSocket);
  const arrivals: { state: string; atMs: number }[] = [];
  proc.onLine((l) => {
    const t = parseTransition(l);
    if (t) arrivals.push({ state: t.to, atMs: l.atMs });
  });
  const find = (state: string, from: number) => arrivals.slice(from).find((a) => a.state === state);
  const d: BenchDaemon = {
    impl: "hacore",
    name: spec.name,
    proc,
    spawnedAtMs,
    controlSocket,
    state: () => proc.status !== null ? "STOPPED" : arrivals.at(-1)?.state ?? "INIT",
    transitionCount: () => arrivals.length,
    loggedAt: (state, from) => find(state, from)?.atMs ?? null,
    async waitState(state, from, timeoutMs) {
      const hit = await proc.waitFor(
        () => find(state, from),
        timeoutMs,
        `${spec.name} to become ${state}`,
      );
      return hit.atMs;
    },
    alive: () => proc.status === null,
    pids: () => [proc.pid],
    crash() {
      const t = wallMs();
      signalProc(proc, "SIGKILL");
      return t;
    },
    terminate() {
      const t = wallMs();
      signalProc(proc, "SIGTERM");
      return t;
    },
    reload() {
      const t = wallMs();
      signalProc(proc, "SIGHUP");
      return t;
    },
    async reap(timeoutMs) {
      const s = await proc.exited(timeoutMs);
      // A killed daemon leaves its pid file; hacore would cope, but start clean anyway.
      await Deno.remove(pidFile).catch(() => {});
      return s;
    },
    tail: () => proc.tail(10),
  };
  await d.waitState("BACKUP", 0, 15_000);
  return d;
}

/**
 * hacore's log levels, for {@link spawnHacore} (and the LVS benchmark's daemons).
 *
 * @example
 * ```ts
 * const l: HacoreLogLevel = "notice";
 * ```
 */
export type HacoreLogLevel = NonNullable<HacoreOptions["logLevel"]>;

/** The compiled binary to run instead of `deno run main.ts`, when `HACORE_BIN` names one. */
function hacoreBin(): string | null {
  return Deno.env.get("HACORE_BIN") || null;
}

/**
 * `hacore run` as production starts it: {@link startHacore}, or the `HACORE_BIN` binary
 * (with `startHacore`'s arguments; the binary bakes in the V8 flags).
 *
 * @example
 * ```ts
 * const proc = spawnHacore(box, ns, file, "node1", pidFile, controlSocket);
 * ```
 */
export function spawnHacore(
  box: Sandbox,
  ns: string,
  file: string,
  name: string,
  pidFile: string,
  controlSocket: string,
  logLevel: HacoreLogLevel = "info",
): LineProc {
  const bin = hacoreBin();
  if (bin === null) {
    return startHacore(box, ns, file, { name, pidFile, controlSocket, logLevel }).proc;
  }
  return new LineProc(
    `hacore ${name}`,
    box.spawn(
      ns,
      bin,
      "run",
      file,
      "--log-level",
      logLevel,
      "--log-format",
      "json",
      "--pidfile",
      pidFile,
      "--control-socket",
      controlSocket,
    ),
  );
}

/**
 * Runs a hacore control command (`demote VI_1 --socket PATH`, ...) to completion, with
 * the same hacore a {@link startDaemon} runs (`HACORE_BIN` or `deno run main.ts`).
 *
 * @example
 * ```ts
 * const r = await hacoreCli(["demote", "VI_1", "--socket", d.controlSocket!]);
 * ```
 */
export function hacoreCli(args: readonly string[]): Promise<Output> {
  const bin = hacoreBin();
  return bin === null
    ? runCmd(Deno.execPath(), ["run", "-A", MAIN, ...args])
    : runCmd(bin, [...args]);
}

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;

const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;

/** A /proc file's text, or "" when the process is gone. */
async function procText(pid: number, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(`/proc/${pid}/${file}`);
  } catch {
    return "";
  }
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, ...]. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

async function startKeepalivedNode(
  box: Sandbox,
  dir: string,
  ns: string,
  spec: NodeSpec,
): Promise<BenchDaemon> {
  const base = `${dir}/${spec.name}`;
  const conf = `${base}.keepalived.conf`;
  const pidFile = `${base}.keepalived.pid`;
  const vrrpPidFile = `${base}.vrrp.pid`;
  const checkersPidFile = `${base}.checkers.pid`;
  await Deno.writeTextFile(
    conf,
    spec.config ?? keepalivedConf({
      routerId: spec.name,
      priority: spec.priority,
      version: spec.version,
      advertIntS: spec.advertIntS,
      vips: [spec.vip],
    }),
  );
  // -n foreground, -l log to the console, -G no syslog, -P the VRRP subsystem only.
  const spawnedAtMs = wallMs();
  const proc = new LineProc(
    `keepalived ${spec.name}`,
    box.spawn(
      ns,
      "keepalived",
      "-n",
      "-l",
      "-G",
      "-P",
      "-f",
      conf,
      "-p",
      pidFile,
      "-r",
      vrrpPidFile,
      "-c",
      checkersPidFile,
    ),
  );
  const states: { state: string; atMs: number }[] = [];
  proc.onLine((l) => {
    const m = KA_STATE.exec(l.text);
    if (m) states.push({ state: m[2], atMs: l.atMs });
  });
  let child: number | null = null;

  const childGone = async (timeoutMs: number) => {
    if (child === null) return;
    const deadline = wallMs() + timeoutMs;
    while (wallMs() < deadline) {
      const stat = await procText(child, "stat");
      // An orphaned child stays a zombie until init reaps it: exited all the same.
      if (stat === "" || statFields(stat)[0] === "Z") return;
      await sleep(5);
    }
    throw new Error(`keepalived ${spec.name}: VRRP child ${child} still runs`);
  };
  const killAll = () => {
    const running = proc.status === null;
    // Freeze the parent first, so it cannot respawn the child it is about to lose.
    if (running) signalProc(proc, "SIGSTOP");
    const t = wallMs();
    if (child !== null) signal(child, "SIGKILL");
    if (running) signalProc(proc, "SIGKILL");
    return t;
  };
  box.defer(async () => {
    // The child is no child of ours: the sandbox's kill of the spawned parent misses it.
    if (child !== null && (await procText(child, "cmdline")).includes("keepalived")) killAll();
    else signalProc(proc, "SIGKILL");
  });

  const d: BenchDaemon = {
    impl: "keepalived",
    name: spec.name,
    proc,
    spawnedAtMs,
    controlSocket: null,
    state: () => proc.status !== null ? "STOPPED" : states.at(-1)?.state ?? "INIT",
    transitionCount: () => states.length,
    loggedAt: (state, from) => states.slice(from).find((a) => a.state === state)?.atMs ?? null,
    async waitState(state, from, timeoutMs) {
      const hit = await proc.waitFor(
        () => states.slice(from).find((s) => s.state === state),
        timeoutMs,
        `keepalived ${spec.name} to enter ${state}`,
      );
      return hit.atMs;
    },
    alive: () => proc.status === null,
    pids: () => child === null ? [proc.pid] : [proc.pid, child],
    crash: killAll,
    terminate() {
      const t = wallMs();
      // The parent relays it to the VRRP child, which sends priority 0 and drops the VIPs.
      signalProc(proc, "SIGTERM");
      return t;
    },
    reload() {
      const t = wallMs();
      // The parent rereads the config and restarts its VRRP child's configuration.
      signalProc(proc, "SIGHUP");
      return t;
    },
    async reap(timeoutMs) {
      const s = await proc.exited(timeoutMs);
      await childGone(timeoutMs);
      // A crash leaves the pid files, and keepalived refuses to start while they name
      // a live-looking process.
      for (const f of [pidFile, vrrpPidFile, checkersPidFile]) {
        await Deno.remove(f).catch(() => {});
      }
      return s;
    },
    tail: () => proc.tail(10),
  };
  await d.waitState("BACKUP", 0, 15_000);
  // The VRRP child writes its pid file before it logs; check it is the parent's child.
  const deadline = wallMs() + 5000;
  while (child === null) {
    const text = await Deno.readTextFile(vrrpPidFile).catch(() => "");
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0) {
      const f = statFields(await procText(pid, "stat"));
      if (Number(f[1]) === proc.pid) child = pid;
    }
    if (child === null) {
      if (wallMs() > deadline) {
        throw new Error(`keepalived ${spec.name}: no VRRP child in ${vrrpPidFile}${proc.tail()}`);
      }
      await sleep(10);
    }
  }
  return d;
}
