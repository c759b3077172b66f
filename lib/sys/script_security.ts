/**
 * Script security: hacore runs notify hooks as root, so a hook that a non-root user
 * can change or replace is a root shell for that user. Before a hook runs (and at
 * start, for `hacore check`), its executable is resolved and every component of its
 * path is checked the way keepalived's `enable_script_security` does, only stricter:
 *
 * - the executable must exist, be a regular file and have an execute bit;
 * - it and every directory above it must be owned by root;
 * - none may be writable by others, and none writable by a group other than root's
 *   (gid 0). A world-writable directory counts even with the sticky bit: the sticky bit
 *   stops others deleting the file, not planting it before root does, nor swapping a
 *   directory on the way to it;
 * - symlinks are followed: both the path as written and the path it resolves to are
 *   checked, since either can be swapped.
 *
 * `global.allow_insecure_scripts = true` turns the ownership and permission refusals
 * into a warning; a missing or non-executable script is refused either way, since it
 * cannot run.
 *
 * Command lines are split like keepalived splits them (see {@link splitCommandLine}):
 * on whitespace, with single and double quotes, and no shell.
 *
 * Beside the spawner (`spawn.ts`) that notify hooks and script checks share, so that
 * both (and the trackers) take the rules from one low place, not from the daemon.
 * Which commands a config holds is the caller's (`checkConfigScripts` in
 * `lib/daemon/notify.ts`).
 *
 * @module
 */

import { octal, resolveExecutable, SCRIPT_PATH, splitCommandLine } from "./command_line.ts";

// Re-exported so that whoever checks a command line gets what runs it from one place.
export { resolveExecutable, SCRIPT_PATH, splitCommandLine };

/**
 * The verdict on one command line. When ok, `path` is the resolved executable and
 * `argv` the split command line (`argv[0]` as written); `warning` is set when the
 * script is insecure but `allowInsecure` let it through.
 *
 * @example
 * ```ts
 * const v: ScriptVerdict = { ok: false, error: "notify_master: /etc/x does not exist" };
 * ```
 */
export type ScriptVerdict =
  | {
    readonly ok: true;
    readonly path: string;
    readonly argv: readonly string[];
    readonly warning: string | null;
  }
  | { readonly ok: false; readonly error: string };

/**
 * Options of {@link checkScript}.
 *
 * @example
 * ```ts
 * const opts: CheckScriptOptions = { allowInsecure: false, label: "notify_master" };
 * ```
 */
export interface CheckScriptOptions {
  /** `global.allow_insecure_scripts`: insecure scripts pass, with a warning. */
  readonly allowInsecure: boolean;
  /** Prefix of every message, e.g. `notify_master` or `vrrp_instance.VI_1.notify`. */
  readonly label?: string;
}

/**
 * Checks one command line: resolves its executable (an absolute path as written, or a
 * bare name looked up in {@link SCRIPT_PATH}) and refuses what cannot run or what a
 * non-root user could change. Synchronous: a handful of `stat` calls.
 *
 * Every message names the exact path and the reason, prefixed by `label`.
 *
 * @example
 * ```ts
 * const v = checkScript("/tmp/x.sh master", { allowInsecure: false, label: "notify_master" });
 * if (!v.ok) console.error(v.error);
 * // notify_master: /tmp/x.sh is in /tmp, which is writable by all users (mode 1777); move it
 * // to a root-owned directory or set global.allow_insecure_scripts = true
 * ```
 */
export function checkScript(commandLine: string, opts: CheckScriptOptions): ScriptVerdict {
  const prefix = opts.label ? `${opts.label}: ` : "";
  const argv = splitCommandLine(commandLine);
  if (argv.length === 0 || argv[0] === "") {
    return { ok: false, error: `${prefix}empty command line` };
  }
  const resolved = resolveExecutable(argv[0]);
  if ("error" in resolved) return { ok: false, error: prefix + resolved.error };
  const path = resolved.path;
  const problem = insecurity(path);
  if (problem === null) return { ok: true, path, argv, warning: null };
  if (opts.allowInsecure) {
    return {
      ok: true,
      path,
      argv,
      warning: `${prefix}${problem.what}; running it anyway (global.allow_insecure_scripts = true)`,
    };
  }
  return {
    ok: false,
    error: `${prefix}${problem.what}; ${problem.fix} or set global.allow_insecure_scripts = true`,
  };
}

interface Problem {
  readonly what: string;
  readonly fix: string;
}

/** The first reason a non-root user could change what `path` runs, or null. */
function insecurity(path: string): Problem | null {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    real = path;
  }
  // The file first (the most specific advice), then its directories from the nearest
  // up, the path as written before the path it resolves to.
  const checked = new Set<string>();
  for (const p of [path, real]) {
    const problem = componentProblem(p, p, false, checked);
    if (problem) return problem;
  }
  for (const p of [path, real]) {
    const dirs = ancestors(p);
    for (let i = 0; i < dirs.length; i++) {
      const problem = componentProblem(p, dirs[i], true, checked, i === 0);
      if (problem) return problem;
    }
  }
  return null;
}

function componentProblem(
  file: string,
  component: string,
  isDir: boolean,
  checked: Set<string>,
  direct = false,
): Problem | null {
  if (checked.has(component)) return null;
  checked.add(component);
  let st: Deno.FileInfo;
  try {
    // lstat: a symlink cannot be modified, only replaced through its directory, which is
    // checked in its own right; its target is covered by the resolved path.
    st = Deno.lstatSync(component);
  } catch {
    return null;
  }
  if (st.isSymlink) return null;
  const reason = writableBy(st);
  if (reason === null) return null;
  if (!isDir) {
    const fix = reason.startsWith("owned") ? "chown root it" : "chmod go-w it";
    return { what: `${file} is ${reason}`, fix };
  }
  const where = direct ? "in" : "under";
  return {
    what: `${file} is ${where} ${component}, which is ${reason}`,
    fix: "move it to a root-owned directory",
  };
}

/** Why someone other than root can write `st`, or null. */
function writableBy(st: Deno.FileInfo): string | null {
  const mode = st.mode ?? 0;
  const uid = st.uid ?? 0;
  const gid = st.gid ?? 0;
  if (uid !== 0) return `owned by ${userLabel(uid)}, not root`;
  if (mode & 0o002) return `writable by all users (mode ${octal(mode)})`;
  if ((mode & 0o020) && gid !== 0) {
    const name = idName("/etc/group", gid);
    const group = name === null ? `${gid} (` : `${name} (gid ${gid}, `;
    return `writable by group ${group}mode ${octal(mode)})`;
  }
  return null;
}

/** Every directory above `path`, nearest first, ending with "/". */
function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = path.replace(/\/+$/, "");
  while (true) {
    const i = p.lastIndexOf("/");
    if (i <= 0) break;
    p = p.slice(0, i);
    out.push(p);
  }
  out.push("/");
  return out;
}

function userLabel(uid: number): string {
  const name = idName("/etc/passwd", uid);
  return name === null ? `uid ${uid}` : `${name} (uid ${uid})`;
}

/** Name of a numeric id in a passwd/group-format file (name:x:id:...), or null. */
function idName(file: string, id: number): string | null {
  try {
    for (const line of Deno.readTextFileSync(file).split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && f[2] === String(id)) return f[0];
    }
  } catch {
    // Only the message loses the name.
  }
  return null;
}
