/**
 * Peers for namespace tests: hacore, keepalived, FRR's vrrpd, a TCP service, a client
 * probe and a tshark capture, each started inside a namespace of a {@link PeerLab} and
 * removed with it, pass or fail.
 *
 * hacore, the service, the probe, the LAN and the VIP watchers are the same building
 * blocks `hacore lab` uses (lib/lab/), so the lab and the tests measure the same way.
 * keepalived and FRR live here: only tests need them.
 *
 * Each third-party daemon runs entirely from the test's temp dir: its own config, pid
 * files and sockets, never /etc/keepalived, /etc/frr or /run/frr, so a system
 * installation is neither read nor disturbed.
 *
 * @module
 */

import { type HacoreProc, startHacore } from "../../lib/lab/hacore.ts";
import {
  type NetnsHost,
  runChecked,
  sweepStaleNamespaces,
  sweepStaleTempDirs,
} from "../../lib/lab/host.ts";
import { LineProc, WaitTimeout, wallMs } from "../../lib/lab/proc.ts";
import { LAN_IFACE } from "../../lib/lab/topology.ts";
import { hasAddress, type VipWatcher } from "../../lib/lab/vip.ts";
import { hasCommand, Lab, netnsSkipReason, run } from "./helpers.ts";

export { type HacoreProc, startHacore };
export { hacoreConfigToml } from "../../lib/lab/hacore.ts";
export { type Probe, type ProbeResult, startProbe, summarizeProbe } from "../../lib/lab/probe.ts";
export { LineProc, sleep, wallMs } from "../../lib/lab/proc.ts";
export { startTcpService } from "../../lib/lab/tcp_service.ts";
export { buildLan, type Lan, LAN_IFACE, type LanMember } from "../../lib/lab/topology.ts";
export {
  addressWatcher,
  hasAddress,
  only,
  vipHolders,
  type VipWatcher,
  waitForHolders,
} from "../../lib/lab/vip.ts";
export { masterDownIntervalMs, skewTimeMs } from "../../lib/vrrp/timing.ts";

/**
 * FRR's zebra, where Debian and Ubuntu put it.
 *
 * @example
 * ```ts
 * peerTest("needs FRR", [ZEBRA, VRRPD], async () => {});
 * ```
 */
export const ZEBRA = "/usr/lib/frr/zebra";
/**
 * FRR's VRRP daemon.
 *
 * @example
 * ```ts
 * peerSkipReason([VRRPD]); // null where FRR is installed (and running as root)
 * ```
 */
export const VRRPD = "/usr/lib/frr/vrrpd";

/**
 * A {@link Lab} that also owns temp dirs and extra cleanup steps (for the grandchildren
 * a daemon forks, which killing the spawned process does not reach).
 *
 * @example
 * ```ts
 * await withPeerLab(async (lab) => {
 *   const dir = await lab.tempDir();
 *   lab.defer(() => Promise.resolve());
 * });
 * ```
 */
export class PeerLab extends Lab implements NetnsHost {
  #dirs: string[] = [];
  #steps: (() => Promise<void>)[] = [];

  /**
   * A fresh temp dir, removed at cleanup.
   *
   * @example
   * ```ts
   * const dir = await lab.tempDir();
   * ```
   */
  async tempDir(): Promise<string> {
    // The pid in the name lets a later run sweep the dir if this one is killed.
    const dir = await Deno.makeTempDir({ prefix: `hacore-netns-${Deno.pid}-` });
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * Runs `step` at cleanup, before the spawned processes are killed; newest first.
   *
   * @example
   * ```ts
   * lab.defer(async () => await ka.kill());
   * ```
   */
  defer(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  /**
   * Deferred steps, then processes and namespaces (see {@link Lab.cleanup}), then temp
   * dirs; everything is tried, the first error is thrown.
   *
   * @example
   * ```ts
   * await lab.cleanup();
   * ```
   */
  override async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      await step().catch((e) => errors.push(e));
    }
    await super.cleanup().catch((e) => errors.push(e));
    for (const dir of this.#dirs.splice(0)) {
      await Deno.remove(dir, { recursive: true }).catch((e) => errors.push(e));
    }
    if (errors.length > 0) throw errors[0];
  }
}

// A Ctrl-C ends `deno test` at once: no `finally` runs, and signal listeners are not
// called. Ctrl-C also reaches the daemons (same process group), which stop themselves,
// but the namespaces stay. So the first lab of a run sweeps what a dead run left.
let swept: Promise<void> | null = null;

function sweepOnce(): Promise<void> {
  swept ??= (async () => {
    const gone = await sweepStaleNamespaces(/^hc-(\d+)-\d+$/);
    const dirs = await sweepStaleTempDirs("hacore-netns-");
    if (gone.length + dirs.length > 0) {
      console.warn(`removed what an interrupted run left: ${[...gone, ...dirs].join(", ")}`);
    }
  })();
  return swept;
}

/**
 * Runs `fn` with a fresh {@link PeerLab}, cleaned up afterwards, pass or fail.
 *
 * @example
 * ```ts
 * await withPeerLab(async (lab) => { const ns = await lab.netns(); });
 * ```
 */
export async function withPeerLab<T>(fn: (lab: PeerLab) => Promise<T>): Promise<T> {
  await sweepOnce();
  const lab = new PeerLab();
  try {
    return await fn(lab);
  } finally {
    await lab.cleanup();
  }
}

function present(tool: string): boolean {
  return tool.startsWith("/") ? isExecutable(tool) : hasCommand(tool);
}

function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Why a test needing `tools` cannot run here, or null: not root, no `ip`, or a tool
 * missing (a name is looked up on PATH, an absolute path is checked as is).
 *
 * @example
 * ```ts
 * peerSkipReason(["keepalived"]); // "needs keepalived" where it is not installed
 * ```
 */
export function peerSkipReason(tools: readonly string[]): string | null {
  const base = netnsSkipReason();
  if (base) return base;
  const missing = tools.filter((t) => !present(t));
  return missing.length > 0 ? `needs ${missing.join(", ")}` : null;
}

/**
 * Declares a namespace test that also needs `tools` (and whatever `otherReason` checks);
 * where it cannot run it is declared ignored with the reason in its name, and the
 * reason is printed.
 *
 * @example
 * ```ts
 * peerTest("hacore and keepalived agree", ["keepalived"], async () => { ... });
 * ```
 */
export function peerTest(
  name: string,
  tools: readonly string[],
  fn: () => Promise<void>,
  otherReason: () => string | null = () => null,
): void {
  const why = peerSkipReason(tools) ?? otherReason();
  if (why) {
    console.warn(`SKIPPED "${name}": ${why}`);
    Deno.test({ name: `${name} (skipped: ${why})`, ignore: true, fn });
    return;
  }
  Deno.test({ name, fn });
}

/**
 * The uid and gid of a system user, from /etc/passwd; null when there is none.
 *
 * @example
 * ```ts
 * userIds("frr"); // { uid: 102, gid: 106 }
 * ```
 */
export function userIds(user: string): { uid: number; gid: number } | null {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const f = line.split(":");
      if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no passwd file: no such user
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// hacore

/**
 * Starts hacore in `ns` from TOML `text`, written to `DIR/<name>.toml`, with its pid
 * file beside it.
 *
 * @example
 * ```ts
 * const h = await hacoreFromToml(lab, dir, ns, "a", hacoreConfigToml({ routerId: "a", priority: 150, vips: ["192.0.2.100/24"] }));
 * ```
 */
export async function hacoreFromToml(
  lab: PeerLab,
  dir: string,
  ns: string,
  name: string,
  text: string,
): Promise<HacoreProc> {
  const file = `${dir}/${name}.toml`;
  await Deno.writeTextFile(file, text);
  // A config that names its own control socket keeps it; the rest get one per node.
  const controlSocket = /^\s*control_socket\s*=/m.test(text) ? undefined : `${dir}/${name}.sock`;
  return startHacore(lab, ns, file, { name, pidFile: `${dir}/${name}.pid`, controlSocket });
}

// ---------------------------------------------------------------------------------------
// keepalived

/**
 * What a keepalived peer runs: one vrrp_instance.
 *
 * @example
 * ```ts
 * const s: KeepalivedSpec = { routerId: "ka", priority: 200, version: 3, advertIntS: 0.1, vips: ["192.0.2.100/24"] };
 * ```
 */
export interface KeepalivedSpec {
  readonly routerId: string;
  readonly priority: number;
  readonly version: 2 | 3;
  readonly advertIntS: number;
  readonly vips: readonly string[];
  /** 51 by default. */
  readonly vrid?: number;
  /** "VI_1" by default. */
  readonly instance?: string;
}

/**
 * keepalived.conf text for {@link KeepalivedSpec}: non-strict, no scripts, BACKUP at
 * start (the priority decides, as for hacore).
 *
 * @example
 * ```ts
 * keepalivedConf({ routerId: "ka", priority: 200, version: 2, advertIntS: 1, vips: ["192.0.2.100/24"] });
 * ```
 */
export function keepalivedConf(spec: KeepalivedSpec): string {
  return [
    "global_defs {",
    `  router_id ${spec.routerId}`,
    `  vrrp_version ${spec.version}`,
    // Announce once, promptly: repeated GARP bursts only add noise to captures.
    "  vrrp_garp_master_delay 0",
    "}",
    `vrrp_instance ${spec.instance ?? "VI_1"} {`,
    "  state BACKUP",
    `  interface ${LAN_IFACE}`,
    `  virtual_router_id ${spec.vrid ?? 51}`,
    `  priority ${spec.priority}`,
    `  advert_int ${spec.advertIntS}`,
    "  virtual_ipaddress {",
    ...spec.vips.map((v) => `    ${v}`),
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * A running keepalived: the parent (spawned) and its VRRP child (forked by it).
 *
 * @example
 * ```ts
 * const ka = await startKeepalived(lab, dir, ns, spec);
 * await ka.waitState("MASTER", 2000);
 * await ka.crash();
 * ```
 */
export interface KeepalivedPeer {
  readonly name: string;
  readonly proc: LineProc;
  /** `(VI_1) Entering MASTER STATE` lines, parsed, with when they were read. */
  readonly states: {
    readonly instance: string;
    readonly state: string;
    readonly atMs: number;
  }[];
  /**
   * The first entry into `state` (of `instance`, or of any) at or after index
   * `fromIndex` of {@link KeepalivedPeer.states}; throws after `timeoutMs`.
   */
  waitState(
    state: string,
    timeoutMs: number,
    fromIndex?: number,
    instance?: string,
  ): Promise<number>;
  /** Crash: no priority-0 advert, no cleanup of the VIP (kill -9 of both processes). */
  crash(): Promise<void>;
  /** Orderly stop (SIGTERM): priority 0 and VIPs removed. */
  stop(): Promise<void>;
}

const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;

async function readPid(file: string): Promise<number | null> {
  try {
    const n = Number((await Deno.readTextFile(file)).trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Signals a process this lab spawned; Deno knows whether it has exited, so no stale pid is hit. */
function kill(proc: LineProc, sig: Deno.Signal): void {
  try {
    proc.child.kill(sig);
  } catch {
    // exited already
  }
}

/**
 * A file under /proc/PID, read with `cat`: Deno refuses /proc without --allow-all, and
 * the test task grants less. Empty when the process is gone.
 */
async function procFile(pid: number, name: string): Promise<string> {
  const r = await run("cat", [`/proc/${pid}/${name}`]);
  return r.code === 0 ? r.stdout : "";
}

async function cmdline(pid: number): Promise<string> {
  return (await procFile(pid, "cmdline")).replaceAll("\0", " ");
}

/** Waits until `pid` has exited (a zombie counts as exited), up to `timeoutMs`. */
async function gone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = wallMs() + timeoutMs;
  while (wallMs() < deadline) {
    const stat = await procFile(pid, "stat");
    if (stat === "") return;
    // Field 3, after the parenthesised command name, is the state.
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function signalPid(pid: number | null, sig: Deno.Signal): void {
  if (pid === null) return;
  try {
    Deno.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Starts keepalived 2.x in `ns` in the foreground with its config and pid files in
 * `dir` (`-n -l -D -G -P -f CONF -p PID -r VRRP_PID -c CHECKERS_PID`), and resolves once
 * its VRRP instance has entered BACKUP. Cleanup SIGKILLs the VRRP child too.
 *
 * @example
 * ```ts
 * const ka = await startKeepalived(lab, dir, ns, { routerId: "ka", priority: 200, version: 3, advertIntS: 0.1, vips: ["192.0.2.100/24"] });
 * ```
 */
export async function startKeepalived(
  lab: PeerLab,
  dir: string,
  ns: string,
  spec: KeepalivedSpec,
): Promise<KeepalivedPeer> {
  const conf = `${dir}/${spec.routerId}.keepalived.conf`;
  await Deno.writeTextFile(conf, keepalivedConf(spec));
  return await startKeepalivedFile(lab, dir, ns, spec.routerId, conf);
}

/**
 * Options of {@link startKeepalivedFile}.
 *
 * @example
 * ```ts
 * const o: KeepalivedFileOptions = { configId: "lb-a" };
 * ```
 */
export interface KeepalivedFileOptions {
  /** keepalived's `-i` (selects the file's `@id` lines); none by default. */
  readonly configId?: string;
}

/**
 * Starts keepalived 2.x in `ns` on a config file as it is (a corpus file, includes
 * and all), with its pid files in `dir` named after `name`; resolves once an instance
 * has entered BACKUP. Cleanup SIGKILLs the VRRP child too.
 *
 * @example
 * ```ts
 * const ka = await startKeepalivedFile(lab, dir, ns, "ka", "/path/keepalived.conf", { configId: "lb-a" });
 * ```
 */
export async function startKeepalivedFile(
  lab: PeerLab,
  dir: string,
  ns: string,
  name: string,
  conf: string,
  opts: KeepalivedFileOptions = {},
): Promise<KeepalivedPeer> {
  const base = `${dir}/${name}`;
  const pidFile = `${base}.keepalived.pid`;
  const vrrpPidFile = `${base}.vrrp.pid`;
  const checkersPidFile = `${base}.checkers.pid`;
  // -P: the VRRP subsystem only (no checkers, no BFD); -G: console only, no syslog.
  const proc = new LineProc(
    `keepalived ${name}`,
    lab.spawn(
      ns,
      "keepalived",
      "-n",
      "-l",
      "-D",
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
      ...(opts.configId === undefined ? [] : ["-i", opts.configId]),
    ),
  );
  const states: { instance: string; state: string; atMs: number }[] = [];
  proc.onLine((l) => {
    const m = KA_STATE.exec(l.text);
    if (m) states.push({ instance: m[1], state: m[2], atMs: l.atMs });
  });
  const killAll = async () => {
    const running = proc.status === null;
    // Freeze the parent first so it cannot respawn the child it is about to lose.
    if (running) kill(proc, "SIGSTOP");
    const child = await readPid(vrrpPidFile);
    // The pid file outlives a crash; make sure the pid is still keepalived's.
    if (child !== null && (await cmdline(child)).includes("keepalived")) {
      signalPid(child, "SIGKILL");
    }
    if (running) kill(proc, "SIGKILL");
    await proc.exited(5000).catch(() => {});
    // A crash leaves its pid files, and the orphaned child may linger as a zombie until
    // init reaps it; keepalived refuses to start while either looks alive.
    if (child !== null) await gone(child, 2000);
    for (const f of [pidFile, vrrpPidFile, checkersPidFile]) await Deno.remove(f).catch(() => {});
  };
  lab.defer(killAll);
  const peer: KeepalivedPeer = {
    name,
    proc,
    states,
    async waitState(state, timeoutMs, fromIndex = 0, instance) {
      const hit = await proc.waitFor(
        () =>
          states.slice(fromIndex).find((s) =>
            s.state === state && (instance === undefined || s.instance === instance)
          ),
        timeoutMs,
        `keepalived to enter ${state}${instance === undefined ? "" : ` (${instance})`}`,
      );
      return hit.atMs;
    },
    crash: killAll,
    async stop() {
      kill(proc, "SIGTERM");
      await proc.exited(5000);
    },
  };
  await peer.waitState("BACKUP", 10_000);
  return peer;
}

// ---------------------------------------------------------------------------------------
// FRR vrrpd

/**
 * What an FRR peer runs: one VRRPv3 IPv4 virtual router.
 *
 * @example
 * ```ts
 * const s: FrrSpec = { priority: 200, advertIntMs: 100, vip: "192.0.2.100", prefix: 24 };
 * ```
 */
export interface FrrSpec {
  readonly priority: number;
  /** Centisecond steps; 100 = 100 ms. */
  readonly advertIntMs: number;
  readonly vip: string;
  readonly prefix: number;
  /** 51 by default. */
  readonly vrid?: number;
}

/**
 * The vrrpd config (FRR's CLI syntax) for {@link FrrSpec}.
 *
 * @example
 * ```ts
 * vrrpdConf({ priority: 200, advertIntMs: 100, vip: "192.0.2.100", prefix: 24 });
 * ```
 */
export function vrrpdConf(spec: FrrSpec): string {
  const id = spec.vrid ?? 51;
  return [
    "hostname vrrpd",
    "debug vrrp",
    `interface ${LAN_IFACE}`,
    ` vrrp ${id} version 3`,
    ` vrrp ${id} priority ${spec.priority}`,
    ` vrrp ${id} advertisement-interval ${spec.advertIntMs}`,
    ` vrrp ${id} ip ${spec.vip}`,
    "",
  ].join("\n");
}

/**
 * A running FRR pair (zebra + vrrpd) in a namespace.
 *
 * @example
 * ```ts
 * const frr = await startFrr(lab, ns, spec);
 * await frr.waitState("Master", 2000);
 * ```
 */
export interface FrrPeer {
  readonly zebra: LineProc;
  vrrpd: LineProc;
  /** The macvlan vrrpd drives (protodown while Backup). */
  readonly macvlan: string;
  /** A watcher: the VIP is held when the macvlan is up, not protodown, and has the VIP. */
  watcher(name: string): VipWatcher;
  /** The first `Backup -> Master`-style transition into `state` after `fromLine` lines. */
  waitState(state: "Master" | "Backup", timeoutMs: number, fromLine?: number): Promise<number>;
  /** kill -9 of vrrpd (zebra keeps running, as when only the VRRP daemon dies). */
  crash(): Promise<void>;
  /** Restarts vrrpd with a (new) spec; resolves once it is Backup. */
  restart(spec: FrrSpec): Promise<void>;
}

interface IpLinkDetail {
  flags?: string[];
  proto_down?: boolean;
}

/**
 * Starts zebra and vrrpd in `ns`, FRR style: the VIP lives on a macvlan with the
 * virtual MAC 00:00:5e:00:01:VRID, which vrrpd puts in protodown while Backup.
 *
 * Everything runs from a temp dir owned by the `frr` user (FRR drops to it and needs
 * its vty group, so it cannot run as root): configs, pid files, the zserv socket
 * (`-z`) and vty sockets (`--vty_socket`); `-P 0` opens no TCP vty.
 *
 * @example
 * ```ts
 * const frr = await startFrr(lab, ns, { priority: 200, advertIntMs: 100, vip: "192.0.2.100", prefix: 24 });
 * ```
 */
export async function startFrr(lab: PeerLab, ns: string, spec: FrrSpec): Promise<FrrPeer> {
  const ids = userIds("frr");
  if (ids === null) throw new Error("FRR needs its 'frr' user, and there is none");
  const dir = await lab.tempDir();
  await Deno.chown(dir, ids.uid, ids.gid);
  const vrid = spec.vrid ?? 51;
  const macvlan = `vrrp4-${vrid}`;
  const ip = (...a: string[]) => runChecked("ip", ["-n", ns, ...a]);
  // `addrgenmode` at creation is refused on some kernels; setting it afterwards works.
  await ip("link", "add", macvlan, "link", LAN_IFACE, "type", "macvlan", "mode", "bridge");
  await ip("link", "set", macvlan, "addrgenmode", "random");
  await ip(
    "link",
    "set",
    "dev",
    macvlan,
    "address",
    `00:00:5e:00:01:${vrid.toString(16).padStart(2, "0")}`,
  );
  await ip("addr", "add", `${spec.vip}/${spec.prefix}`, "dev", macvlan);
  await ip("link", "set", "dev", macvlan, "up");

  const common = [
    "--vty_socket",
    dir,
    "-z",
    `${dir}/zserv.api`,
    "--log",
    "stdout",
    "--log-level",
    "debug",
    "-P",
    "0",
  ];
  const write = async (file: string, text: string) => {
    await Deno.writeTextFile(file, text);
    await Deno.chown(file, ids.uid, ids.gid);
  };
  await write(`${dir}/zebra.conf`, "hostname zebra\n");
  const zebra = new LineProc(
    "zebra",
    lab.spawn(ns, ZEBRA, "-f", `${dir}/zebra.conf`, "-i", `${dir}/zebra.pid`, ...common),
  );
  await zebra.waitLine((l) => /zebra \S+ starting/.test(l.text), 10_000, "zebra to start");
  // zebra logs "starting" before its zserv socket accepts; vrrpd retries, but waiting
  // for the socket keeps vrrpd's first seconds free of reconnect noise.
  const deadline = wallMs() + 5000;
  while (!(await exists(`${dir}/zserv.api`))) {
    if (wallMs() > deadline) throw new WaitTimeout(`zebra's socket ${dir}/zserv.api`);
    await new Promise((r) => setTimeout(r, 10));
  }

  const startVrrpd = async (s: FrrSpec) => {
    await write(`${dir}/vrrpd.conf`, vrrpdConf(s));
    const p = new LineProc(
      "vrrpd",
      lab.spawn(ns, VRRPD, "-f", `${dir}/vrrpd.conf`, "-i", `${dir}/vrrpd.pid`, ...common),
    );
    await p.waitLine((l) => /\[IPv4\] Initialize -> Backup/.test(l.text), 10_000, "Backup");
    return p;
  };
  const peer: FrrPeer = {
    zebra,
    vrrpd: await startVrrpd(spec),
    macvlan,
    watcher(name) {
      return {
        name,
        async holds() {
          const out = await runChecked("ip", [
            "-n",
            ns,
            "-j",
            "-d",
            "link",
            "show",
            "dev",
            macvlan,
          ]);
          const link = (JSON.parse(out) as IpLinkDetail[])[0];
          if (!link || link.proto_down === true || !(link.flags ?? []).includes("UP")) return false;
          return await hasAddress(ns, macvlan, spec.vip);
        },
      };
    },
    async waitState(state, timeoutMs, fromLine = 0) {
      const p = peer.vrrpd;
      const re = new RegExp(`\\[IPv4\\] \\S+ -> ${state}$`);
      const line = await p.waitLine(
        (l) => re.test(l.text) && p.lines.indexOf(l) >= fromLine,
        timeoutMs,
        `vrrpd to become ${state}`,
      );
      return line.atMs;
    },
    async crash() {
      kill(peer.vrrpd, "SIGKILL");
      await peer.vrrpd.exited(5000);
    },
    async restart(s) {
      kill(peer.vrrpd, "SIGKILL");
      await peer.vrrpd.exited(5000).catch(() => {});
      peer.vrrpd = await startVrrpd(s);
    },
  };
  return peer;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// tshark

/**
 * A running capture.
 *
 * @example
 * ```ts
 * const cap = await startCapture(lab, dir, lan.bridgeNs, lan.bridge, "ip proto 112");
 * await cap.stop();
 * const text = await cap.read("-V");
 * ```
 */
export interface Capture {
  readonly file: string;
  /** Stops the capture with SIGINT, so the file is complete. */
  stop(): Promise<void>;
  /** `tshark -r FILE ARGS`'s output (throws unless it exits 0). */
  read(...args: string[]): Promise<string>;
}

/**
 * Starts `dumpcap -i IFACE -w FILE -f FILTER` inside `ns` and resolves once it
 * captures; {@link Capture.read} decodes with tshark. dumpcap is what tshark itself runs
 * to capture; run directly it is one process, so a SIGKILL at cleanup ends the capture
 * (a killed tshark leaves its dumpcap child running).
 *
 * @example
 * ```ts
 * const cap = await startCapture(lab, dir, ns, "br0", "ip proto 112");
 * ```
 */
export async function startCapture(
  lab: PeerLab,
  dir: string,
  ns: string,
  iface: string,
  filter: string,
): Promise<Capture> {
  const file = `${dir}/capture-${iface}.pcapng`;
  const proc = new LineProc(
    "dumpcap",
    lab.spawn(ns, "dumpcap", "-q", "-i", iface, "-w", file, "-f", filter),
  );
  await proc.waitLine((l) => l.text.startsWith("Capturing on"), 20_000, "dumpcap to capture");
  return {
    file,
    async stop() {
      kill(proc, "SIGINT");
      await proc.exited(10_000);
    },
    async read(...args) {
      const r = await run("tshark", ["-r", file, ...args]);
      if (r.code !== 0) throw new Error(`tshark -r ${file} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
  };
}

/**
 * Splits `tshark -V` output into one block of text per frame.
 *
 * @example
 * ```ts
 * const frames = tsharkFrames(text).filter((f) => f.includes("Virtual Router Redundancy Protocol"));
 * ```
 */
export function tsharkFrames(text: string): string[] {
  return text.split(/^(?=Frame \d+:)/m).filter((f) => f.startsWith("Frame "));
}
