/**
 * The pid file that keeps two daemons off one config: created exclusively, and a
 * stale one (its process gone) is taken over rather than blocking a restart after a
 * crash or kill -9.
 *
 * @module
 */

import { sha256 } from "./sha256.ts";

/** A held pid file; `release` removes it if it is still ours. */
export interface PidFile {
  readonly path: string;
  release(): Promise<void>;
}

/** Where pid files go by default (tmpfs, root-owned, as systemd's RuntimeDirectory). */
export const PID_DIR = "/run/hacore";

/**
 * The default pid file of a config: one per config file's real path, so two daemons
 * with different configs (a lab, a test) can run side by side while the same config
 * cannot run twice.
 *
 * @example
 * ```ts
 * await defaultPidFile("/etc/hacore/hacore.toml"); // "/run/hacore/hacore-3f2a9c1e.pid"
 * ```
 */
export function defaultPidFile(configFile: string): Promise<string> {
  return Promise.resolve(`${runtimeBase(configFile)}.pid`);
}

/**
 * The default control socket of a config, beside its pid file: two daemons with
 * different configs never collide, and `hacore status` finds either by listing
 * {@link PID_DIR} (`findDaemonSockets` of `lib/control/client.ts`).
 *
 * @example
 * ```ts
 * await defaultControlSocket("/etc/hacore/hacore.toml"); // "/run/hacore/hacore-3f2a9c1e.sock"
 * ```
 */
export function defaultControlSocket(configFile: string): Promise<string> {
  return Promise.resolve(`${runtimeBase(configFile)}.sock`);
}

/**
 * `/run/hacore/NAME-TAG`: the config's base name and a hash of its real path (SHA-256's
 * first 4 bytes: the tag every version has used, so that a new one finds an old one's
 * pid file). In synchronous calls: on the start path each async op costs a loop turn.
 */
function runtimeBase(configFile: string): string {
  let real = configFile;
  try {
    real = Deno.realPathSync(configFile);
  } catch {
    // The config was read a moment ago; if it vanished since, its name still identifies it.
  }
  const digest = sha256(new TextEncoder().encode(real));
  const tag = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  const base = real.split("/").pop()!.replace(/\.toml$/, "").replace(/[^A-Za-z0-9_.-]/g, "_");
  return `${PID_DIR}/${base}-${tag}`;
}

/**
 * True when `pid` runs; a zombie (killed, not yet reaped) holds nothing and counts as
 * gone. Only a missing /proc entry means gone: any other failure to look (permissions)
 * assumes alive, because wrongly taking a live daemon's pid file would let two run.
 */
function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 3, after the parenthesised command name (which may itself hold spaces).
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}

/**
 * Takes the pid file at `path`, or throws naming the process that holds it.
 *
 * @example
 * ```ts
 * const pid = await acquirePidFile("/run/hacore/test.pid");
 * await pid.release();
 * ```
 * @throws Error "another hacore (pid N) already runs with this config (PATH)"
 */
export function acquirePidFile(path: string): Promise<PidFile> {
  try {
    return Promise.resolve(takePidFile(path));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * {@link acquirePidFile}'s work, in synchronous calls: it is on the start path, where
 * Deno's async file ops cost a loop turn each and load its streams machinery (a few ms
 * of a start that must join the LAN in tens of them).
 */
function takePidFile(path: string): PidFile {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const mine = `${Deno.pid}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      Deno.writeTextFileSync(path, mine, { createNew: true, mode: 0o644 });
      return { path, release: () => releasePidFile(path, mine) };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`cannot create pid file ${path}: ${(e as Error).message}`);
      }
    }
    let other = NaN;
    try {
      other = Number(Deno.readTextFileSync(path).trim());
    } catch {
      continue; // removed between our create and read: try again
    }
    if (Number.isInteger(other) && other > 0 && other !== Deno.pid && processAlive(other)) {
      throw new Error(`another hacore (pid ${other}) already runs with this config (${path})`);
    }
    // Stale (its process is gone) or unreadable garbage: take it over.
    try {
      Deno.removeSync(path);
    } catch {
      // Gone already, or not ours to remove: the next attempt tells.
    }
  }
  throw new Error(`cannot take pid file ${path}: it keeps reappearing`);
}

async function releasePidFile(path: string, mine: string): Promise<void> {
  try {
    if ((await Deno.readTextFile(path)) === mine) await Deno.remove(path);
  } catch {
    // Already gone: nothing to release.
  }
}
