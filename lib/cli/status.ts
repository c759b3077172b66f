/**
 * `hacore status [NAME]`: what the running daemon is doing, from its control socket.
 * Also the plumbing every control command shares (`verbs.ts` uses it): where the
 * socket is (`--socket`, `--config`, or the default), how output is written, and how a
 * failure becomes an exit code.
 *
 * Exit codes of every control command: 0 done; 1 any other failure (a config that
 * cannot be read, a timeout, a reload refused, an unknown instance); 2 usage; 3 hacore
 * is not running (no daemon at the socket); 4 refused: not root (the socket is
 * root-only), too many clients, or the daemon declined the operation.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { parse as parseToml } from "smol-toml";
import { DUAL_STACK_V6_SUFFIX, loadConfig } from "../config/mod.ts";
import {
  call,
  ControlClientError,
  ControlReplyError,
  findDaemonSockets,
  makeRequest,
} from "../control/client.ts";
import { defaultControlSocket, PID_DIR } from "./pidfile.ts";
import { outputStyle, renderDetail, renderStatus, renderVirtualServer } from "./format.ts";

const USAGE = "usage: hacore status [NAME] [--json] [--watch [SECONDS]] [--ascii]\n" +
  "                     [--socket PATH | --config FILE] [--timeout MS]";

/**
 * Where a control command writes and what it knows of its terminal; injected so tests
 * run the commands in-process and read what they printed.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const io: CliIo = { ...processIo(), out: (t) => lines.push(t) };
 * ```
 */
export interface CliIo {
  /** Writes `text` to stdout as is (callers add newlines). */
  out(text: string): void;
  /** Writes `text` to stderr as is. */
  err(text: string): void;
  /** stdout is a terminal (colours and screen clearing are allowed). */
  readonly isTty: boolean;
  /** Terminal width, or null when not a terminal. */
  readonly columns: number | null;
  /** The environment: locale (Unicode marks) and NO_COLOR. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Aborted on Ctrl-C; `--watch` stops then. Created by the command when absent. */
  readonly interrupt?: AbortSignal;
}

const encoder = new TextEncoder();

function writeAll(w: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  try {
    while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
  } catch (e) {
    // `hacore status | head` closes the pipe early: that is the reader's choice.
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
}

/**
 * The real process: stdout, stderr, the terminal's size, the environment.
 *
 * @example
 * ```ts
 * await runStatus(["--json"], processIo());
 * ```
 */
export function processIo(): CliIo {
  const isTty = Deno.stdout.isTerminal();
  let columns: number | null = null;
  if (isTty) {
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      columns = null;
    }
  }
  let env: Record<string, string | undefined> = {};
  try {
    env = Deno.env.toObject();
  } catch {
    // without --allow-env: no colours, ASCII marks
  }
  return {
    out: (t) => writeAll(Deno.stdout, t),
    err: (t) => writeAll(Deno.stderr, t),
    isTty,
    columns,
    env,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, ms);
        signal.addEventListener("abort", done);
      }),
  };
}

/**
 * Flags every control command takes.
 *
 * @example
 * ```ts
 * parseArgs({ args, options: { ...SOCKET_OPTIONS, json: { type: "boolean" } } });
 * ```
 */
export const SOCKET_OPTIONS = {
  socket: { type: "string" },
  config: { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * The socket path a command talks to: `--socket PATH`; else `global.control_socket`
 * of `--config FILE` (or that config's own default socket); else the one daemon
 * running on this host, found among the sockets in /run/hacore (each config has its
 * own). With several running, it asks which, listing them, as a usage error. A config
 * with errors elsewhere still yields its socket (a reload is how one learns of those
 * errors), read straight from the TOML. Returns an error text instead when the file
 * cannot be read or both flags are given.
 *
 * @example
 * ```ts
 * await resolveSocket({ config: "/etc/hacore/hacore.toml" }); // { path: "/run/hacore/hacore-3f2a9c1e.sock" }
 * ```
 */
export async function resolveSocket(
  values: { socket?: string; config?: string },
  socketDir: string = PID_DIR,
): Promise<{ path: string } | { usage: string } | { error: string }> {
  if (values.socket !== undefined && values.config !== undefined) {
    return { usage: "give --socket or --config, not both" };
  }
  if (values.socket !== undefined) {
    if (values.socket === "") return { usage: "--socket: expected a path" };
    return { path: values.socket };
  }
  if (values.config === undefined) return await discoverSocket(socketDir);
  const file = values.config;
  const loaded = await loadConfig(file);
  if (loaded.ok) {
    return { path: loaded.config.global.controlSocket ?? await defaultControlSocket(file) };
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    return { error: `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}` };
  }
  try {
    const doc = parseToml(text) as { global?: { control_socket?: unknown } };
    const p = doc.global?.control_socket;
    if (typeof p === "string" && p.startsWith("/")) return { path: p };
  } catch {
    // unreadable TOML: the config's default socket is the best guess
  }
  return { path: await defaultControlSocket(file) };
}

/** The socket of the one running daemon; with none, the old shared default (so "not running"). */
async function discoverSocket(
  dir: string,
): Promise<{ path: string } | { usage: string }> {
  const found = await findDaemonSockets(dir);
  if (found.length === 1) return { path: found[0] };
  if (found.length === 0) return { path: `${dir}/hacore.sock` };
  return {
    usage: `${found.length} hacore daemons run on this host; say which with --socket PATH ` +
      `(or --config FILE):\n${found.map((p) => `  --socket ${p}`).join("\n")}`,
  };
}

/**
 * Parses `--timeout MS` (a positive integer), or returns a usage message.
 *
 * @example
 * ```ts
 * parseTimeout("5000", 2000); // 5000
 * ```
 */
export function parseTimeout(text: string | undefined, fallback: number): number | string {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) return `--timeout: expected milliseconds > 0, got "${text}"`;
  return n;
}

/**
 * Prints why a control request failed and returns the exit code (see the module
 * comment): 3 no daemon, 4 refused or permission denied, 1 anything else.
 *
 * @example
 * ```ts
 * try { await call(path, req); } catch (e) { return reportFailure(io, "status", e); }
 * ```
 */
export function reportFailure(io: CliIo, cmd: string, e: unknown): number {
  const say = (msg: string) => io.err(`hacore ${cmd}: ${msg}\n`);
  if (e instanceof ControlClientError) {
    switch (e.kind) {
      case "no-daemon":
        say(`hacore is not running (no daemon at ${e.path})`);
        return 3;
      case "permission":
        say(`permission denied: ${e.path} is root-only; run it as root (sudo hacore ${cmd})`);
        return 4;
      default:
        say(e.message);
        return 1;
    }
  }
  if (e instanceof ControlReplyError) {
    if (e.code === "refused") {
      say(`refused: ${e.message}`);
      return 4;
    }
    say(e.message);
    return 1;
  }
  say(e instanceof Error ? e.message : String(e));
  return 1;
}

/** `--watch` takes an optional value, which parseArgs cannot express; make it explicit. */
function normalizeWatch(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (a === "--watch" || a === "-w") {
      const next = args[i + 1];
      if (next !== undefined && /^\d+(\.\d+)?$/.test(next)) {
        out.push(`--watch=${next}`);
        i++;
      } else {
        out.push("--watch=2");
      }
      continue;
    }
    out.push(a);
  }
  return out;
}

const CLEAR = "\x1b[H\x1b[2J";

/**
 * `hacore status` with an injected {@link CliIo}. See {@link statusCommand}.
 *
 * @example
 * ```ts
 * const code = await runStatus(["VI_1", "--socket", "/tmp/h.sock"], io);
 * ```
 */
export async function runStatus(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: normalizeWatch(args),
      allowPositionals: true,
      strict: true,
      options: {
        ...SOCKET_OPTIONS,
        json: { type: "boolean" },
        ascii: { type: "boolean" },
        watch: { type: "string" },
      },
    });
  } catch (e) {
    io.err(`hacore status: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) {
    io.err(`hacore status: expected at most one instance NAME\n${USAGE}\n`);
    return 2;
  }
  const name = positionals[0];
  const timeoutMs = parseTimeout(values.timeout, 2000);
  if (typeof timeoutMs === "string") {
    io.err(`hacore status: ${timeoutMs}\n${USAGE}\n`);
    return 2;
  }
  let watchMs: number | null = null;
  if (values.watch !== undefined) {
    const s = Number(values.watch);
    if (!Number.isFinite(s) || s < 0.1) {
      io.err(`hacore status: --watch: expected seconds >= 0.1, got "${values.watch}"\n${USAGE}\n`);
      return 2;
    }
    watchMs = s * 1000;
  }
  const where = await resolveSocket(values);
  if ("usage" in where) {
    io.err(`hacore status: ${where.usage}\n${USAGE}\n`);
    return 2;
  }
  if ("error" in where) {
    io.err(`hacore status: ${where.error}\n`);
    return 1;
  }
  const path = where.path;
  const env = outputStyle(io.env, io.isTty);
  const render = {
    width: io.columns ?? 100,
    unicode: env.unicode && !values.ascii,
    color: env.color && !values.json,
  };

  /** One snapshot as text; throws what {@link reportFailure} turns into an exit code. */
  const snapshot = async (): Promise<string> => {
    if (name !== undefined) {
      // A virtual server's name: its section of the status, in full.
      const all = await call(path, makeRequest({ cmd: "status" }), { timeoutMs });
      const vs = all.lvs?.virtualServers.find((v) => v.name === name);
      if (vs !== undefined) {
        return values.json ? JSON.stringify(vs, null, 2) : renderVirtualServer(vs, render);
      }
      const d = await call(path, makeRequest({ cmd: "detail", instance: name }), { timeoutMs });
      if (values.json) return JSON.stringify(d, null, 2);
      // A dual-stack instance is two protocol instances; its name shows both halves.
      const v6 = name.endsWith(DUAL_STACK_V6_SUFFIX) ? null : await call(
        path,
        makeRequest({ cmd: "detail", instance: `${name}${DUAL_STACK_V6_SUFFIX}` }),
        { timeoutMs },
      ).catch((e) => {
        if (e instanceof ControlReplyError) return null;
        throw e;
      });
      return v6 === null
        ? renderDetail(d, render)
        : `${renderDetail(d, render)}\n\n${renderDetail(v6, render)}`;
    }
    const s = await call(path, makeRequest({ cmd: "status" }), { timeoutMs });
    return values.json
      ? JSON.stringify(s, null, 2)
      : renderStatus(s, { ...render, nowWall: new Date() });
  };

  if (watchMs === null) {
    try {
      io.out(`${await snapshot()}\n`);
      return 0;
    } catch (e) {
      return reportFailure(io, "status", e);
    }
  }

  const ac = new AbortController();
  const stop = io.interrupt ?? ac.signal;
  const onSigint = () => ac.abort();
  if (io.interrupt === undefined) Deno.addSignalListener("SIGINT", onSigint);
  try {
    let first = true;
    while (!stop.aborted) {
      let frame: string;
      try {
        frame = await snapshot();
      } catch (e) {
        // A daemon that is restarting is worth watching; one we may not talk to is not.
        if (
          e instanceof ControlClientError && e.kind === "permission" ||
          e instanceof ControlReplyError && e.code === "refused"
        ) {
          return reportFailure(io, "status", e);
        }
        const lines: string[] = [];
        reportFailure({ ...io, err: (t) => lines.push(t) }, "status", e);
        frame = lines.join("").trimEnd();
      }
      if (stop.aborted) break;
      if (io.isTty) {
        const title = `every ${watchMs / 1000}s: hacore status${name ? ` ${name}` : ""}` +
          `    ${new Date().toISOString()}`;
        io.out(`${CLEAR}${title}\n\n${frame}\n`);
      } else {
        io.out(`${first ? "" : "\n"}${frame}\n`);
      }
      first = false;
      await io.sleep(watchMs, stop);
    }
    return 0;
  } finally {
    if (io.interrupt === undefined) Deno.removeSignalListener("SIGINT", onSigint);
  }
}

/**
 * `hacore status [NAME] [--json] [--watch [SECONDS]] [--ascii] [--socket PATH | --config
 * FILE]`: the table of instances, or one instance in full; `--json` prints the daemon's
 * snapshot unmodified. Exit codes in the module comment.
 *
 * @example
 * ```ts
 * Deno.exitCode = await statusCommand(["--json"]);
 * ```
 */
export function statusCommand(args: string[]): Promise<number> {
  return runStatus(args, processIo());
}
