/**
 * The one way hacore starts an external program: notify hooks and script checks (and
 * what comes after them) all go through {@link spawnProcess}, so they share one set of
 * rules instead of two copies drifting apart:
 *
 * - a clean environment: exactly the variables given, nothing inherited (the caller
 *   passes `PATH` = `SCRIPT_PATH` among them);
 * - `/` as the working directory and `/dev/null` as stdin;
 * - a process group of its own (`detached`), so a timeout kills whatever the program
 *   started too (`kill`, {@link stopProcess});
 * - optionally another user: uid and primary gid from the passwd database
 *   ({@link lookupUser}), no supplementary groups;
 * - output either discarded (never buffered) or its last {@link OUTPUT_CAP_BYTES} kept.
 *
 * What may be run at all (the executable resolved, its path checked for who can write
 * it) is `script_security.ts`, beside this file; timeouts are the caller's, on its own
 * clock.
 *
 * @example
 * ```ts
 * const p = spawnProcess({ path: "/bin/true", args: [], env: { PATH: SCRIPT_PATH }, output: "tail" });
 * await p.exit; // { exitCode: 0, signal: null }
 * ```
 *
 * @module
 */

import { defaultReactor } from "./reactor.ts";

import { SCRIPT_PATH } from "./command_line.ts";

/**
 * What to start: the resolved executable, its arguments (without argv[0]), the whole
 * environment, and optionally whom to run it as and what to do with its output.
 *
 * @example
 * ```ts
 * const req: SpawnRequest = {
 *   path: "/etc/hacore/notify.sh", args: ["INSTANCE", "VI_1", "MASTER", "150"],
 *   env: { PATH: SCRIPT_PATH, HACORE_STATE: "MASTER" },
 * };
 * ```
 */
export interface SpawnRequest {
  readonly path: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Run as these ids instead of the daemon's (see {@link lookupUser}). */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** `tail` keeps the end of stdout and stderr (the default); `discard` drops them unread. */
  readonly output?: "tail" | "discard";
}

/**
 * How a process ended: `exitCode` when it exited, `signal` (e.g. `"SIGTERM"`) when a
 * signal ended it.
 *
 * @example
 * ```ts
 * const s: ProcessExit = { exitCode: null, signal: "SIGKILL" };
 * ```
 */
export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
}

/**
 * A started process.
 *
 * @example
 * ```ts
 * const p = spawnProcess(req);
 * p.kill("SIGTERM");
 * const { exitCode, signal } = await p.exit;
 * const { stderr } = await p.output;
 * ```
 */
export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves when the process has ended and is reaped (never rejects). */
  readonly exit: Promise<ProcessExit>;
  /**
   * The last {@link OUTPUT_CAP_BYTES} of stdout and stderr, decoded (empty when
   * discarded). Resolves soon after `exit` even when a background grandchild still holds
   * the pipes open.
   */
  readonly output: Promise<{ readonly stdout: string; readonly stderr: string }>;
  /** Signals the process's whole group; a no-op once it has ended. */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

/**
 * How much of each of stdout and stderr is kept (the tail): enough for the last error
 * line, bounded whatever the program prints.
 *
 * @example
 * ```ts
 * OUTPUT_CAP_BYTES; // 4096
 * ```
 */
export const OUTPUT_CAP_BYTES = 4096;

/**
 * After a process exits, how long its output pipes may stay open (held by a background
 * child it left behind) before we stop reading them.
 */
const OUTPUT_DRAIN_GRACE_MS = 100;

const NO_OUTPUT = Promise.resolve({ stdout: "", stderr: "" });

/**
 * Starts a program under the rules above. Throws when it cannot (the file vanished,
 * ENOEXEC, EPERM for another user, ...).
 *
 * @example
 * ```ts
 * const p = spawnProcess({ path: "/bin/true", args: [], env: { PATH: SCRIPT_PATH } });
 * await p.exit; // { exitCode: 0, signal: null }
 * ```
 */
export function spawnProcess(req: SpawnRequest): SpawnedProcess {
  const keep = (req.output ?? "tail") === "tail";
  const child = new Deno.Command(req.path, {
    args: [...req.args],
    env: { ...req.env },
    clearEnv: true,
    cwd: "/",
    stdin: "null",
    stdout: keep ? "piped" : "null",
    stderr: keep ? "piped" : "null",
    detached: true,
    ...(req.user === undefined ? {} : { uid: req.user.uid, gid: req.user.gid }),
  }).spawn();
  // Its exit and output arrive through Deno's ops, which complete only while the event
  // loop turns: the reactor's waits stay async (never blocking) until both are in.
  const release = defaultReactor().hold();
  let ended = false;
  const exit = child.status.then(
    (s): ProcessExit => ({ exitCode: s.signal === null ? s.code : null, signal: s.signal }),
    (): ProcessExit => ({ exitCode: null, signal: null }),
  ).finally(() => {
    ended = true;
  });
  const output = keep ? tails(child, exit) : NO_OUTPUT;
  Promise.all([exit, output]).then(release, release);
  const p: SpawnedProcess = {
    pid: child.pid,
    exit,
    output,
    kill(signal) {
      if (!ended) signalGroup(child, child.pid, signal);
    },
  };
  children.set(p, child);
  return p;
}

/** The children behind the processes spawned here, for {@link stopProcess}'s fallback. */
const children = new WeakMap<SpawnedProcess, Deno.ChildProcess>();

/**
 * Signals a detached child's whole process group (it is the group's leader); falls back
 * to the child alone (its group may not exist yet, a moment after the fork), and is
 * quiet when it is gone.
 */
function signalGroup(child: Deno.ChildProcess | undefined, pid: number, signal: Deno.Signal): void {
  try {
    // Negative pid: the whole group (detached made the child its leader).
    Deno.kill(-pid, signal);
  } catch {
    try {
      child?.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * SIGTERM to the process's group, then SIGKILL to the group once the process exits or
 * `graceMs` ends, whichever is first (what it started gets no more time than it);
 * resolves once it is reaped.
 *
 * @example
 * ```ts
 * await stopProcess(p, 500);
 * ```
 */
export async function stopProcess(p: SpawnedProcess, graceMs: number): Promise<void> {
  const status = p.exit.then(() => {});
  const child = children.get(p);
  signalGroup(child, p.pid, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([status, new Promise((r) => timer = setTimeout(r, graceMs))]);
  clearTimeout(timer);
  // Even once it has exited: what it started may still hold its group.
  signalGroup(child, p.pid, "SIGKILL");
  await status;
}

function tails(
  child: Deno.ChildProcess,
  exit: Promise<unknown>,
): Promise<{ stdout: string; stderr: string }> {
  const decoder = new TextDecoder();
  return Promise.all([readTail(child.stdout, exit), readTail(child.stderr, exit)]).then((
    [o, e],
  ) => ({ stdout: decoder.decode(o), stderr: decoder.decode(e) }));
}

/** Reads a stream to its end keeping the last OUTPUT_CAP_BYTES; gives up shortly after `exit`. */
async function readTail(
  stream: ReadableStream<Uint8Array>,
  exit: Promise<unknown>,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  let tail: Uint8Array = new Uint8Array(0);
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let giveUp = () => {};
  const gaveUp = new Promise<null>((resolve) => giveUp = () => resolve(null));
  exit.then(() => {
    if (!finished) timer = setTimeout(giveUp, OUTPUT_DRAIN_GRACE_MS);
  });
  try {
    while (true) {
      const r = await Promise.race([reader.read(), gaveUp]);
      if (r === null) {
        await reader.cancel();
        break;
      }
      if (r.done) break;
      tail = keepTail(tail, r.value);
    }
  } catch {
    // A broken pipe only costs us the output.
  } finally {
    finished = true;
    clearTimeout(timer);
    giveUp();
  }
  return tail;
}

function keepTail(tail: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (chunk.length >= OUTPUT_CAP_BYTES) return chunk.slice(chunk.length - OUTPUT_CAP_BYTES);
  const keep = Math.min(tail.length, OUTPUT_CAP_BYTES - chunk.length);
  const out = new Uint8Array(keep + chunk.length);
  out.set(tail.subarray(tail.length - keep), 0);
  out.set(chunk, keep);
  return out;
}

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
