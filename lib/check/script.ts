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
 * no supplementary groups) via `Deno.Command`'s `uid`/`gid`.
 *
 * @module
 */

import { resolveExecutable, SCRIPT_PATH, splitCommandLine } from "../sys/command_line.ts";
import { Deadline } from "./deadline.ts";
import { errorText, failed, formatMs, passed } from "./result.ts";
import type { CheckResult, ScriptCheck } from "./types.ts";

/** Between SIGTERM and SIGKILL of a script past its timeout. */
export const KILL_GRACE_MS = 500;
/** How long a user lookup is trusted. */
const USER_CACHE_MS = 60_000;

/**
 * A user's ids, or why there are none.
 *
 * @example
 * ```ts
 * const u: UserIds = { uid: 65534, gid: 65534 };
 * ```
 */
export type UserIds = { uid: number; gid: number } | { error: string };

const users = new Map<string, { ids: UserIds; at: number }>();

/**
 * Finds a user's uid and primary gid: `/etc/passwd` first, then `getent passwd` (for
 * users from NSS: LDAP, sssd). Results are cached for a minute.
 *
 * @example
 * ```ts
 * await lookupUser("nobody"); // { uid: 65534, gid: 65534 }
 * ```
 */
export async function lookupUser(name: string): Promise<UserIds> {
  const hit = users.get(name);
  if (hit !== undefined && performance.now() - hit.at < USER_CACHE_MS) return hit.ids;
  const ids = await findUser(name);
  users.set(name, { ids, at: performance.now() });
  return ids;
}

/**
 * The ids on a passwd line for `name` (or, for a number, that uid), or null.
 *
 * @example
 * ```ts
 * passwdEntry("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", "nobody");
 * // { uid: 65534, gid: 65534 }
 * ```
 */
export function passwdEntry(text: string, name: string): { uid: number; gid: number } | null {
  const numeric = /^\d+$/.test(name);
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    if (numeric ? f[2] === name : f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

async function findUser(name: string): Promise<UserIds> {
  try {
    const local = passwdEntry(await Deno.readTextFile("/etc/passwd"), name);
    if (local !== null) return local;
  } catch {
    // No readable /etc/passwd: NSS may still know the user.
  }
  try {
    const out = await new Deno.Command("getent", {
      args: ["passwd", name],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      clearEnv: true,
      env: { PATH: SCRIPT_PATH },
    }).output();
    const e = out.success ? passwdEntry(new TextDecoder().decode(out.stdout), name) : null;
    if (e !== null) return e;
  } catch {
    // No getent: the user is as unknown as if getent had said so.
  }
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(name) };
  return { error: `no such user "${name}"` };
}

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
    let ids: { uid?: number; gid?: number } = {};
    if (spec.user !== null) {
      const u = await lookupUser(spec.user);
      if ("error" in u) {
        return failed(`cannot run ${exe.path} as ${spec.user}: ${u.error}`, d.startedAt);
      }
      ids = u;
    }
    await spawnTurn();
    if (d.expired) return failed(`${exe.path}: ${d.reason()}`, d.startedAt);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(exe.path, {
        args: argv.slice(1),
        clearEnv: true,
        env: { PATH: SCRIPT_PATH },
        cwd: "/",
        stdin: "null",
        stdout: "null",
        stderr: "null",
        detached: true,
        ...ids,
      }).spawn();
    } catch (e) {
      return failed(
        `cannot run ${exe.path}${spec.user ? ` as ${spec.user}` : ""}: ${errorText(e)}`,
        d.startedAt,
      );
    }
    const status = await Promise.race([child.status, d.done().then(() => null)]);
    if (status === null) {
      await stop(child);
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
  s: Deno.CommandStatus,
  startedAt: number,
): CheckResult {
  if (s.signal !== null) return failed(`${path}: killed by ${s.signal}`, startedAt);
  const took = formatMs(performance.now() - startedAt);
  if (s.code === 0) return passed(`exit 0 in ${took}`, startedAt);
  if (spec.dynamic && s.code >= 2) {
    return passed(`exit ${s.code} (weight ${s.code - 2}) in ${took}`, startedAt, s.code - 2);
  }
  return failed(`${path}: exit ${s.code}`, startedAt);
}

/**
 * SIGTERM to the child's group, then SIGKILL to the group once the child exits or the
 * grace ends, whichever is first (what the child started gets no more time than it);
 * resolves once the child is reaped.
 */
async function stop(child: Deno.ChildProcess): Promise<void> {
  const status = child.status.then(() => {}, () => {});
  killGroup(child, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([status, new Promise((r) => timer = setTimeout(r, KILL_GRACE_MS))]);
  clearTimeout(timer);
  killGroup(child, "SIGKILL");
  await status;
}

function killGroup(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    // Negative pid: the whole group (detached made the child its leader).
    Deno.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}
