/**
 * The operator verbs: `hacore demote NAME [--priority N]`, `hacore promote NAME
 * [--priority N]`, `hacore resume NAME`, `hacore maintenance on|off` and `hacore
 * reload`. Each sends one request to the running daemon and prints what it did.
 *
 * A demote or promote lasts until `hacore resume NAME` or a restart of the daemon; it is
 * how a node is drained before work on it, and how it is given back. Exit codes are the
 * ones of every control command (see `status.ts`).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { call, makeRequest } from "../control/client.ts";
import {
  MAX_DRAIN_DEADLINE_S,
  OVERRIDE_PRIORITY_MAX,
  OVERRIDE_PRIORITY_MIN,
  type VerbResult,
} from "../control/protocol.ts";
import {
  type CliIo,
  parseTimeout,
  processIo,
  reportFailure,
  resolveSocket,
  SOCKET_OPTIONS,
} from "./status.ts";

/**
 * The verbs, by command name.
 *
 * @example
 * ```ts
 * const v: Verb = "demote";
 * ```
 */
export type Verb = "demote" | "promote" | "resume" | "maintenance" | "reload";

const COMMON = "[--socket PATH | --config FILE] [--timeout MS] [--json]";
const USAGES: Readonly<Record<Verb, string>> = {
  demote: `usage: hacore demote NAME [--priority N] ${COMMON}`,
  promote: `usage: hacore promote NAME [--priority N] ${COMMON}`,
  resume: `usage: hacore resume NAME ${COMMON}`,
  maintenance: `usage: hacore maintenance on|off ${COMMON}`,
  reload: `usage: hacore reload ${COMMON}`,
};

/** A reload reads and applies a whole config: give it longer than a status. */
const RELOAD_TIMEOUT_MS = 30_000;

/**
 * Runs verb `verb` with an injected {@link CliIo}; see the module comment.
 *
 * @example
 * ```ts
 * const code = await runVerb("demote", ["VI_1", "--priority", "10"], io);
 * ```
 */
export async function runVerb(verb: Verb, args: string[], io: CliIo): Promise<number> {
  const usage = USAGES[verb];
  const takesPriority = verb === "demote" || verb === "promote";
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        ...SOCKET_OPTIONS,
        json: { type: "boolean" },
        ...(takesPriority ? { priority: { type: "string" as const } } : {}),
      },
    });
  } catch (e) {
    io.err(`hacore ${verb}: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const bad = (msg: string) => {
    io.err(`hacore ${verb}: ${msg}\n${usage}\n`);
    return 2;
  };
  if (values.help) {
    io.out(`${usage}\n`);
    return 0;
  }
  const wanted = verb === "reload" ? 0 : 1;
  if (positionals.length !== wanted) {
    return bad(
      wanted === 0
        ? "takes no arguments"
        : verb === "maintenance"
        ? "expected on or off"
        : "expected one instance NAME",
    );
  }
  const arg = positionals[0];
  let priority: number | undefined;
  const priorityText = (values as { priority?: string }).priority;
  if (priorityText !== undefined) {
    const n = Number(priorityText);
    if (!/^\d+$/.test(priorityText) || n < OVERRIDE_PRIORITY_MIN || n > OVERRIDE_PRIORITY_MAX) {
      return bad(
        `--priority: expected an integer ${OVERRIDE_PRIORITY_MIN}..${OVERRIDE_PRIORITY_MAX}, got "${priorityText}"`,
      );
    }
    priority = n;
  }
  if (verb === "maintenance" && arg !== "on" && arg !== "off") {
    return bad(`expected on or off, got "${arg}"`);
  }
  const timeoutMs = parseTimeout(values.timeout, verb === "reload" ? RELOAD_TIMEOUT_MS : 2000);
  if (typeof timeoutMs === "string") return bad(timeoutMs);
  const where = await resolveSocket(values);
  if ("usage" in where) return bad(where.usage);
  if ("error" in where) {
    io.err(`hacore ${verb}: ${where.error}\n`);
    return 1;
  }
  const path = where.path;
  const opts = { timeoutMs };

  try {
    if (verb === "reload") {
      const r = await call(path, makeRequest({ cmd: "reload" }), opts);
      if (values.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
      if (!r.ok) {
        io.err(
          `hacore reload: refused, the running configuration is unchanged; ${r.errors.length} error(s):\n`,
        );
        for (const e of r.errors) io.err(`  ${e}\n`);
        return 1;
      }
      if (!values.json) {
        if (r.changes.length === 0) io.out("reload: applied, no changes\n");
        else {
          io.out(`reload: applied ${r.changes.length} change(s)\n`);
          for (const c of r.changes) io.out(`  ${c}\n`);
        }
      }
      return 0;
    }
    let result: VerbResult;
    switch (verb) {
      case "demote":
      case "promote":
        result = await call(
          path,
          makeRequest(
            priority === undefined
              ? { cmd: verb, instance: arg }
              : { cmd: verb, instance: arg, priority },
          ),
          opts,
        );
        break;
      case "resume":
        result = await call(path, makeRequest({ cmd: "resume", instance: arg }), opts);
        break;
      case "maintenance":
        result = await call(path, makeRequest({ cmd: "maintenance", on: arg === "on" }), opts);
        break;
    }
    io.out(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.message}\n`);
    return 0;
  } catch (e) {
    return reportFailure(io, verb, e);
  }
}

/**
 * `hacore demote NAME [--priority N]`: a temporary lower priority (1 by default) so a
 * peer takes over; lasts until `hacore resume NAME`.
 *
 * @example
 * ```ts
 * Deno.exitCode = await demoteCommand(["VI_1"]);
 * ```
 */
export function demoteCommand(args: string[]): Promise<number> {
  return runVerb("demote", args, processIo());
}

/**
 * `hacore promote NAME [--priority N]`: a temporary higher priority (254 by default)
 * so this node takes over; lasts until `hacore resume NAME`.
 *
 * @example
 * ```ts
 * Deno.exitCode = await promoteCommand(["VI_1", "--priority", "200"]);
 * ```
 */
export function promoteCommand(args: string[]): Promise<number> {
  return runVerb("promote", args, processIo());
}

/**
 * `hacore resume NAME`: clears a demote or promote; the configured priority applies.
 *
 * @example
 * ```ts
 * Deno.exitCode = await resumeCommand(["VI_1"]);
 * ```
 */
export function resumeCommand(args: string[]): Promise<number> {
  return runVerb("resume", args, processIo());
}

/**
 * `hacore maintenance on|off`: on, every instance gives up mastership and stays backup
 * (the node can be worked on); off, normal operation.
 *
 * @example
 * ```ts
 * Deno.exitCode = await maintenanceCommand(["on"]);
 * ```
 */
export function maintenanceCommand(args: string[]): Promise<number> {
  return runVerb("maintenance", args, processIo());
}

/**
 * `hacore reload`: the daemon re-reads its config file (as on SIGHUP) and prints each
 * change, or the config's errors (exit 1) when it refused the new file.
 *
 * @example
 * ```ts
 * Deno.exitCode = await reloadCommand([]);
 * ```
 */
export function reloadCommand(args: string[]): Promise<number> {
  return runVerb("reload", args, processIo());
}

/** The LVS verbs, by command name. */
export type DrainVerb = "drain" | "undrain";

const DRAIN_USAGES: Readonly<Record<DrainVerb, string>> = {
  drain: `usage: hacore drain VS RS [--deadline S] ${COMMON}`,
  undrain: `usage: hacore undrain VS RS ${COMMON}`,
};

/**
 * Runs `hacore drain VS RS [--deadline S]` or `hacore undrain VS RS` with an injected
 * {@link CliIo}: VS names a virtual server, RS one of its real servers (`IP:PORT`,
 * `[V6]:PORT`, or the address alone when it is unique there).
 *
 * @example
 * ```ts
 * const code = await runDrainVerb("drain", ["web", "192.0.2.12:80", "--deadline", "60"], io);
 * ```
 */
export async function runDrainVerb(verb: DrainVerb, args: string[], io: CliIo): Promise<number> {
  const usage = DRAIN_USAGES[verb];
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        ...SOCKET_OPTIONS,
        json: { type: "boolean" },
        ...(verb === "drain" ? { deadline: { type: "string" as const } } : {}),
      },
    });
  } catch (e) {
    io.err(`hacore ${verb}: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const bad = (msg: string) => {
    io.err(`hacore ${verb}: ${msg}\n${usage}\n`);
    return 2;
  };
  if (values.help) {
    io.out(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 2) return bad("expected a virtual server VS and a real server RS");
  const [virtualServer, realServer] = positionals;
  let deadline: number | undefined;
  const deadlineText = (values as { deadline?: string }).deadline;
  if (deadlineText !== undefined) {
    const n = Number(deadlineText);
    if (!/^\d+(\.\d+)?$/.test(deadlineText) || n > MAX_DRAIN_DEADLINE_S) {
      return bad(`--deadline: expected seconds 0..${MAX_DRAIN_DEADLINE_S}, got "${deadlineText}"`);
    }
    deadline = n;
  }
  const timeoutMs = parseTimeout(values.timeout, 2000);
  if (typeof timeoutMs === "string") return bad(timeoutMs);
  const where = await resolveSocket(values);
  if ("usage" in where) return bad(where.usage);
  if ("error" in where) {
    io.err(`hacore ${verb}: ${where.error}\n`);
    return 1;
  }
  try {
    const result: VerbResult = await call(
      where.path,
      makeRequest(
        verb === "drain" && deadline !== undefined
          ? { cmd: verb, virtualServer, realServer, deadline }
          : { cmd: verb, virtualServer, realServer },
      ),
      { timeoutMs },
    );
    io.out(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.message}\n`);
    return 0;
  } catch (e) {
    return reportFailure(io, verb, e);
  }
}

/**
 * `hacore drain VS RS [--deadline S]`: the real server gets weight 0 now and is removed
 * once its connections end (or at the deadline); it stays out until `hacore undrain`.
 *
 * @example
 * ```ts
 * Deno.exitCode = await drainCommand(["web", "192.0.2.12:80"]);
 * ```
 */
export function drainCommand(args: string[]): Promise<number> {
  return runDrainVerb("drain", args, processIo());
}

/**
 * `hacore undrain VS RS`: ends a drain; the real server is back as its checks say.
 *
 * @example
 * ```ts
 * Deno.exitCode = await undrainCommand(["web", "192.0.2.12:80"]);
 * ```
 */
export function undrainCommand(args: string[]): Promise<number> {
  return runDrainVerb("undrain", args, processIo());
}
