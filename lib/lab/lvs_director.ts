/**
 * A director of the LVS lab, whichever daemon runs it: hacore (`hacore run`, as an
 * operator starts it) or keepalived 2.x (the incumbent, as the peer in the same VRRP
 * instance). Both are driven the same way: started on a config written from the
 * {@link LvsLabSpec}, crashed (kill -9 of every process the daemon is made of), stopped,
 * reloaded with a changed spec (SIGHUP), and asked for their VRRP state through their
 * logs.
 *
 * @example
 * ```ts
 * const d1 = await startDirector(box, lab, dir, "dir1", "hacore");
 * await d1.waitState("MASTER", 3000);
 * await d1.crash();
 * ```
 *
 * @module
 */

import { logMessage, parseTransition } from "./hacore.ts";
import { type NetnsHost, runCmd } from "./host.ts";
import { hacoreLvsConfigToml, keepalivedLvsConf, type LvsLab, type LvsLabSpec } from "./lvs.ts";
import { LineProc, sleep } from "./proc.ts";
import { v8FlagsArg } from "../sys/runtime_flags.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Which daemon runs a director. */
export type DirectorKind = "hacore" | "keepalived";

/**
 * A VRRP state a director entered, from its log.
 *
 * @example
 * ```ts
 * const s: DirectorState = { state: "MASTER", atMs: wallMs() };
 * ```
 */
export interface DirectorState {
  readonly state: string;
  /** The log record's own time when it has one (hacore's JSON), else when read. */
  readonly atMs: number;
}

/**
 * A running director.
 *
 * @example
 * ```ts
 * const d: Director = await startDirector(box, lab, dir, "dir2", "keepalived");
 * d.states.at(-1)?.state;
 * ```
 */
export interface Director {
  readonly name: string;
  readonly kind: DirectorKind;
  readonly ns: string;
  /** The process that was spawned (keepalived's parent; hacore itself). */
  readonly proc: LineProc;
  /** Every VRRP state entered so far. */
  readonly states: DirectorState[];
  /** The config file it reads (rewritten by {@link Director.reload}). */
  readonly configFile: string;
  /** The last state entered, "INIT" before any. */
  state(): string;
  /** The first entry into `state` at or after index `fromIndex` of `states`. */
  waitState(state: string, timeoutMs: number, fromIndex?: number): Promise<DirectorState>;
  /** kill -9 of every process of the daemon: no goodbye advert, nothing cleaned up. */
  crash(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(timeoutMs?: number): Promise<void>;
  /** Rewrites the config from `spec` and sends SIGHUP. */
  reload(spec: LvsLabSpec): Promise<void>;
}

function configText(kind: DirectorKind, spec: LvsLabSpec, name: string): string {
  const d = spec.directors.find((x) => x.name === name);
  if (!d) throw new Error(`no director named ${name} in the spec`);
  return kind === "hacore" ? hacoreLvsConfigToml(spec, d) : keepalivedLvsConf(spec, d);
}

const KA_STATE = /\((\S+)\) Entering (\S+) STATE/;

/** The state a log line reports entering, or null. */
function stateOf(kind: DirectorKind, text: string, atMs: number): DirectorState | null {
  if (kind === "keepalived") {
    const m = KA_STATE.exec(text);
    return m ? { state: m[2], atMs } : null;
  }
  const t = parseTransition({ stream: "stderr", text, atMs });
  return t ? { state: t.to, atMs: t.atMs } : null;
}

function spawnDaemon(
  host: NetnsHost,
  kind: DirectorKind,
  ns: string,
  base: string,
): Deno.ChildProcess {
  if (kind === "hacore") {
    return host.spawn(
      ns,
      Deno.execPath(),
      "run",
      "-A",
      v8FlagsArg(),
      MAIN,
      "run",
      `${base}.toml`,
      "--log-level",
      "info",
      "--log-format",
      "json",
      "--pidfile",
      `${base}.pid`,
      "--control-socket",
      `${base}.sock`,
    );
  }
  // -D: details in the log; -G: console only, no syslog; the pid files of all three
  // processes in the lab's dir, never /run, so that labs do not collide.
  return host.spawn(
    ns,
    "keepalived",
    "-n",
    "-l",
    "-D",
    "-G",
    "-f",
    `${base}.conf`,
    "-p",
    `${base}.pid`,
    "-r",
    `${base}.vrrp.pid`,
    "-c",
    `${base}.checkers.pid`,
  );
}

async function readPid(file: string): Promise<number | null> {
  try {
    const n = Number((await Deno.readTextFile(file)).trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** keepalived's children, by their pid files, if they still run keepalived. */
async function keepalivedChildren(base: string): Promise<number[]> {
  const out: number[] = [];
  for (const f of [`${base}.vrrp.pid`, `${base}.checkers.pid`]) {
    const pid = await readPid(f);
    if (pid === null) continue;
    const cmd = await runCmd("cat", [`/proc/${pid}/cmdline`]);
    if (cmd.code === 0 && cmd.stdout.includes("keepalived")) out.push(pid);
  }
  return out;
}

/**
 * Starts the daemon `kind` as director `name` of `lab`, its config, pid files and
 * control socket in `dir`, and resolves once it has entered its first VRRP state.
 * `host`'s cleanup kills it; a keepalived's children are killed by a deferred step.
 *
 * @example
 * ```ts
 * const d = await startDirector(box, lab, dir, "dir1", "hacore");
 * ```
 */
export async function startDirector(
  host: NetnsHost & { defer(step: () => Promise<void>): void },
  lab: LvsLab,
  dir: string,
  name: string,
  kind: DirectorKind,
  spec: LvsLabSpec = lab.spec,
  timeoutMs = 20_000,
): Promise<Director> {
  const ns = lab.member(name).ns;
  const base = `${dir}/${name}`;
  const configFile = `${base}.${kind === "hacore" ? "toml" : "conf"}`;
  await Deno.writeTextFile(configFile, configText(kind, spec, name));
  const proc = new LineProc(`${kind} ${name}`, spawnDaemon(host, kind, ns, base));
  const states: DirectorState[] = [];
  proc.onLine((l) => {
    const s = stateOf(kind, l.text, l.atMs);
    if (s) states.push(s);
  });
  const crash = async () => {
    if (kind === "keepalived") {
      // Freeze the parent first so that it cannot respawn the children it is losing.
      if (proc.status === null) signal(proc.pid, "SIGSTOP");
      for (const pid of await keepalivedChildren(base)) signal(pid, "SIGKILL");
    }
    if (proc.status === null) signal(proc.pid, "SIGKILL");
    await proc.exited(5000).catch(() => {});
  };
  if (kind === "keepalived") host.defer(crash);
  const d: Director = {
    name,
    kind,
    ns,
    proc,
    states,
    configFile,
    state: () => states.at(-1)?.state ?? "INIT",
    waitState: (state, waitMs, fromIndex = 0) =>
      proc.waitFor(
        () => states.slice(fromIndex).find((s) => s.state === state),
        waitMs,
        `${name} to enter ${state}`,
      ),
    crash,
    async stop(waitMs = 5000) {
      if (proc.status === null) signal(proc.pid, "SIGTERM");
      await proc.exited(waitMs);
      // keepalived's parent exits after its children; give the table a moment anyway.
      if (kind === "keepalived") await sleep(10);
    },
    async reload(next) {
      await Deno.writeTextFile(configFile, configText(kind, next, name));
      signal(proc.pid, "SIGHUP");
    },
  };
  await proc.waitFor(() => states[0], timeoutMs, `${name} to start`);
  return d;
}

/**
 * The message of a director's log line, for timelines: hacore's JSON message, or
 * keepalived's line without its date.
 *
 * @example
 * ```ts
 * directorMessage("hacore", '{"ts":"2026-01-01T00:00:00Z","level":"info","msg":"hi"}'); // "hi"
 * ```
 */
export function directorMessage(
  kind: DirectorKind,
  text: string,
): { msg: string; level: string | null; atMs: number | null } {
  if (kind === "hacore") {
    const m = logMessage(text);
    return { msg: m.msg, level: m.level, atMs: m.tsMs };
  }
  // "Sun Dec  6 03:25:16 2026: HTTP_CHECK on service ...": whole seconds only, so the
  // time the line was read is the better one.
  const m = /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: (.*)$/.exec(text);
  return { msg: m ? m[1] : text, level: null, atMs: null };
}
