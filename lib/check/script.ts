/**
 * The script check: runs an external command (no shell; split as keepalived splits
 * command lines) and judges its exit code: 0 is healthy, anything else is not. With
 * `dynamic` (keepalived's misc_dynamic), 1 fails and 2..255 pass with a weight of
 * `code - 2`.
 *
 * The child gets an empty environment but `PATH`, `/` as its directory, no stdin and
 * no stdout/stderr (output is discarded, never buffered), and a process group of its
 * own, so a timeout kills whatever it started too: SIGTERM, then SIGKILL after
 * {@link KILL_GRACE_MS}. The run ends only once the child is reaped, so no check
 * leaves a process behind.
 *
 * Starts are spaced out, one per event-loop turn (see `spawnTurn`), so many scripts
 * due together do not stall the timers that share the loop.
 *
 * `user` runs the command as that user (uid and primary gid from the passwd database,
 * no supplementary groups). Starting, the environment, the process group and the
 * user are the shared spawner's (`lib/sys/spawn.ts`), the same as for notify hooks.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { resolveExecutable, SCRIPT_PATH, splitCommandLine } from "../sys/command_line.ts";
import {
  lookupUser,
  type ProcessExit,
  type SpawnedProcess,
  spawnProcess,
  stopProcess,
} from "../sys/spawn.ts";
import { Deadline } from "./deadline.ts";
import { errorText, failed, formatMs, passed } from "./result.ts";
import type { CheckResult, ScriptCheck } from "./types.ts";

/** Between SIGTERM and SIGKILL of a script past its timeout. */
export const KILL_GRACE_MS = 500;
/**
 * Runs one script check. Never rejects; resolves once the child is gone.
 *
 * @example
 * ```ts
 * const r = await checkScript(
 *   { kind: "script", command: "/bin/true", user: null, dynamic: false }, 1000, new AbortController().signal,
 * );
 * r.detail; // "exit 0 in 1.9 ms"
 * ```
 */
export async function checkScript(
  spec: ScriptCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  try {
    const argv = splitCommandLine(spec.command);
    if (argv.length === 0 || argv[0] === "") return failed("empty command line", d.startedAt);
    const exe = resolveExecutable(argv[0]);
    if ("error" in exe) return failed(`cannot run: ${exe.error}`, d.startedAt);
    let user: { uid: number; gid: number } | undefined;
    if (spec.user !== null) {
      const u = await lookupUser(spec.user);
      if ("error" in u) {
        return failed(`cannot run ${exe.path} as ${spec.user}: ${u.error}`, d.startedAt);
      }
      user = u;
    }
    await spawnTurn();
    if (d.expired) return failed(`${exe.path}: ${d.reason()}`, d.startedAt);
    let child: SpawnedProcess;
    try {
      child = spawnProcess({
        path: exe.path,
        args: argv.slice(1),
        env: { PATH: SCRIPT_PATH },
        user,
        output: "discard",
      });
    } catch (e) {
      return failed(
        `cannot run ${exe.path}${spec.user ? ` as ${spec.user}` : ""}: ${errorText(e)}`,
        d.startedAt,
      );
    }
    const status = await Promise.race([child.exit, d.done().then(() => null)]);
    if (status === null) {
      await stopProcess(child, KILL_GRACE_MS);
      return failed(`${exe.path}: ${d.reason()} (killed)`, d.startedAt);
    }
    return judge(spec, exe.path, status, d.startedAt);
  } finally {
    d.dispose();
  }
}

let lastTurn: Promise<void> = Promise.resolve();

/**
 * Resolves in a later macrotask than the previous caller's turn. Starting a process
 * blocks the event loop for a millisecond or two (fork and exec happen in the
 * call); one start per turn lets timers run between them, where twenty scripts due in
 * the same slot would otherwise stall VRRP timers for tens of milliseconds.
 */
function spawnTurn(): Promise<void> {
  const turn = lastTurn.then(() => new Promise<void>((r) => setTimeout(r, 0)));
  lastTurn = turn;
  return turn;
}

function judge(
  spec: ScriptCheck,
  path: string,
  s: ProcessExit,
  startedAt: number,
): CheckResult {
  if (s.exitCode === null) return failed(`${path}: killed by ${s.signal}`, startedAt);
  const took = formatMs(checkClock.now() - startedAt);
  if (s.exitCode === 0) return passed(`exit 0 in ${took}`, startedAt);
  if (spec.dynamic && s.exitCode >= 2) {
    return passed(
      `exit ${s.exitCode} (weight ${s.exitCode - 2}) in ${took}`,
      startedAt,
      s.exitCode - 2,
    );
  }
  return failed(`${path}: exit ${s.exitCode}`, startedAt);
}
