/**
 * hacore and keepalived as LVS directors behind one interface: start with a config
 * text, reload it (SIGHUP), kill -9 every process, stop, and name the processes whose
 * CPU counts (keepalived: its parent and the checker child, which runs every check and
 * programs IPVS).
 *
 * hacore runs through `startHacore` (lib/lab/hacore.ts: `deno run` with the shipped V8
 * flags) at log level info, or the `HACORE_BIN` build when set (e.g. `dist/hacore` from
 * `deno task bundle`: what is installed, one file, no module graph to load and no
 * transpiling in a guest whose writes to Deno's cache vanish), as `spawnHacore` of
 * ./daemons.ts starts it; keepalived runs `-C` (checkers only) in the foreground,
 * logging to the console, so both logs are read as lines here.
 *
 * @example
 * ```ts
 * const d = startLvsDaemon("keepalived", box, dir, ns, conf);
 * await d.waitChildren(5000);
 * d.crash();
 * await d.reap(5000);
 * ```
 *
 * @module
 */

import { logMessage } from "../../../lib/lab/hacore.ts";
import type { Sandbox } from "../../../lib/lab/host.ts";
import { type Line, LineProc, sleep, wallMs } from "../../../lib/lab/proc.ts";
import { type HacoreLogLevel, type ImplName, spawnHacore } from "./daemons.ts";

export type { HacoreLogLevel };

/**
 * A running LVS director of either kind.
 *
 * @example
 * ```ts
 * const cpu = await cpuSeconds(d.pids());
 * ```
 */
export interface LvsDaemon {
  readonly impl: ImplName;
  /** The spawned process (hacore; keepalived's parent). */
  readonly proc: LineProc;
  /** {@link wallMs} just before the spawn. */
  readonly startedAtMs: number;
  /** Every process that counts: [main] for hacore, [parent, checker] for keepalived. */
  pids(): number[];
  /** keepalived's checker child once known; null for hacore. */
  checkerPid(): number | null;
  /** For keepalived: waits until its checker child is known. */
  waitChildren(timeoutMs: number): Promise<void>;
  /** Rewrites the config file (for a later {@link LvsDaemon.reload}). */
  writeConfig(text: string): Promise<void>;
  /** SIGHUP; returns {@link wallMs} just before it is sent. */
  reload(): number;
  /** SIGKILL of every process; returns {@link wallMs} just before. */
  crash(): number;
  /** SIGTERM and wait (SIGKILL after `timeoutMs`). */
  stop(timeoutMs: number): Promise<void>;
  /** Waits for every process to be gone and removes the pid files. */
  reap(timeoutMs: number): Promise<void>;
  /** Lines that report a failure: hacore's error-level lines; keepalived's EEXIST lines. */
  errorLines(): Line[];
}

function kill(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // gone already
  }
}

async function procText(pid: number, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(`/proc/${pid}/${file}`);
  } catch {
    return "";
  }
}

/** Whether `pid` runs (a zombie counts as gone). */
async function running(pid: number): Promise<boolean> {
  const stat = await procText(pid, "stat");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** keepalived's words for an entry that is already in the kernel's table. */
const KA_EEXIST = /already exists|File exists|EEXIST/i;

/**
 * Whether a hacore log line is an error.
 *
 * @example
 * ```ts
 * isHacoreError('{"level":"error","msg":"lvs: add ... failed"}'); // true
 * ```
 */
export function isHacoreError(text: string): boolean {
  const { level } = logMessage(text);
  return level === null ? /\berror\b/i.test(text) : level === "error";
}

/**
 * Whether a keepalived log line reports an entry that already exists (EEXIST).
 *
 * @example
 * ```ts
 * isKeepalivedEexist("IPVS (cmd 1159, errno 17): File exists"); // true
 * ```
 */
export function isKeepalivedEexist(text: string): boolean {
  return KA_EEXIST.test(text);
}

/**
 * Starts `impl` in `ns` with `config` (written to `dir`); returns at once (the spawn
 * instant is {@link LvsDaemon.startedAtMs}).
 *
 * @example
 * ```ts
 * const d = startLvsDaemon("hacore", box, dir, ns, toml);
 * ```
 */
export async function startLvsDaemon(
  impl: ImplName,
  box: Sandbox,
  dir: string,
  ns: string,
  config: string,
  /** hacore's --log-level; "info" (what it ships with) unless given. */
  hacoreLogLevel: HacoreLogLevel = "info",
): Promise<LvsDaemon> {
  const file = `${dir}/lvs.${impl === "hacore" ? "toml" : "conf"}`;
  await Deno.writeTextFile(file, config);
  return impl === "hacore"
    ? startHacoreLvs(box, dir, ns, file, hacoreLogLevel)
    : startKeepalivedLvs(box, dir, ns, file);
}

function startHacoreLvs(
  box: Sandbox,
  dir: string,
  ns: string,
  file: string,
  logLevel: HacoreLogLevel,
): LvsDaemon {
  const pidFile = `${dir}/hacore.pid`;
  const controlSocket = `${dir}/hacore.sock`;
  const startedAtMs = wallMs();
  const proc = spawnHacore(box, ns, file, "director", pidFile, controlSocket, logLevel);
  return {
    impl: "hacore",
    proc,
    startedAtMs,
    pids: () => [proc.pid],
    checkerPid: () => null,
    waitChildren: () => Promise.resolve(),
    writeConfig: (text) => Deno.writeTextFile(file, text),
    reload() {
      const t = wallMs();
      kill(proc.pid, "SIGHUP");
      return t;
    },
    crash() {
      const t = wallMs();
      kill(proc.pid, "SIGKILL");
      return t;
    },
    async stop(timeoutMs) {
      await proc.stop("SIGTERM", timeoutMs).catch(() => proc.stop("SIGKILL", 5000));
      await Deno.remove(pidFile).catch(() => {});
    },
    async reap(timeoutMs) {
      await proc.exited(timeoutMs);
      await Deno.remove(pidFile).catch(() => {});
    },
    errorLines: () => proc.lines.filter((l) => isHacoreError(l.text)),
  };
}

function startKeepalivedLvs(box: Sandbox, dir: string, ns: string, file: string): LvsDaemon {
  const pidFile = `${dir}/keepalived.pid`;
  const checkersPidFile = `${dir}/checkers.pid`;
  const startedAtMs = wallMs();
  // -n foreground, -l log to the console, -G no syslog, -C the checker (LVS) side only.
  const proc = new LineProc(
    "keepalived director",
    box.spawn(
      ns,
      "keepalived",
      "-n",
      "-l",
      "-G",
      "-C",
      "-f",
      file,
      "-p",
      pidFile,
      "-c",
      checkersPidFile,
    ),
  );
  let child: number | null = null;
  const killAll = () => {
    // Freeze the parent first, so it cannot respawn the child it is about to lose.
    if (proc.status === null) kill(proc.pid, "SIGSTOP");
    const t = wallMs();
    if (child !== null) kill(child, "SIGKILL");
    if (proc.status === null) kill(proc.pid, "SIGKILL");
    return t;
  };
  box.defer(async () => {
    // The checker is no child of ours: the sandbox's kill of the parent misses it.
    if (child !== null && (await procText(child, "cmdline")).includes("keepalived")) killAll();
  });
  const reap = async (timeoutMs: number) => {
    await proc.exited(timeoutMs);
    const deadline = wallMs() + timeoutMs;
    while (child !== null && await running(child)) {
      if (wallMs() > deadline) throw new Error(`keepalived checker ${child} still runs`);
      await sleep(5);
    }
    // keepalived refuses to start while a pid file names a live-looking process.
    for (const f of [pidFile, checkersPidFile]) await Deno.remove(f).catch(() => {});
  };
  return {
    impl: "keepalived",
    proc,
    startedAtMs,
    pids: () => (child === null ? [proc.pid] : [proc.pid, child]),
    checkerPid: () => child,
    async waitChildren(timeoutMs) {
      const deadline = wallMs() + timeoutMs;
      while (child === null) {
        const pid = Number((await Deno.readTextFile(checkersPidFile).catch(() => "")).trim());
        if (Number.isInteger(pid) && pid > 0) {
          const stat = await procText(pid, "stat");
          const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
          if (ppid === proc.pid) child = pid;
        }
        if (child !== null) break;
        if (wallMs() > deadline || proc.status !== null) {
          throw new Error(`keepalived: no checker child in ${checkersPidFile}${proc.tail()}`);
        }
        await sleep(10);
      }
    },
    writeConfig: (text) => Deno.writeTextFile(file, text),
    reload() {
      const t = wallMs();
      // The parent relays it to the checker child, which re-reads the file.
      kill(proc.pid, "SIGHUP");
      return t;
    },
    crash: killAll,
    async stop(timeoutMs) {
      kill(proc.pid, "SIGTERM");
      try {
        await reap(timeoutMs);
      } catch {
        killAll();
        await reap(5000).catch(() => {});
      }
    },
    reap,
    errorLines: () => proc.lines.filter((l) => isKeepalivedEexist(l.text)),
  };
}
