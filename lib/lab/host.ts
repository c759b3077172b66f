/**
 * Where lab pieces come from: a {@link NetnsHost} makes namespaces, veth pairs and
 * bridges and starts processes inside namespaces, and owns their cleanup.
 *
 * Two implementations share this shape: the tests' `Lab` (tests/netns/helpers.ts, names
 * `hc-<pid>-<n>`) and {@link Sandbox} here, which `hacore lab` uses (names
 * `hl-<pid>-<n>`, plus temp dirs, extra cleanup steps and a sweep of the namespaces a
 * killed lab left behind). The building blocks in lib/lab/ only ever ask a host, so
 * the same code runs under either, and whoever made a thing removes it.
 *
 * @example
 * ```ts
 * const box = new Sandbox();
 * try {
 *   const ns = await box.netns();
 *   box.spawn(ns, "sleep", "1");
 * } finally {
 *   await box.cleanup();
 * }
 * ```
 *
 * @module
 */

/**
 * What lab building blocks need from their environment. Every namespace, link and
 * process made through it is removed by its owner's cleanup.
 *
 * @example
 * ```ts
 * async function pair(host: NetnsHost) {
 *   const a = await host.netns();
 *   const b = await host.netns();
 *   return await host.veth(a, b);
 * }
 * ```
 */
export interface NetnsHost {
  /** A fresh namespace, loopback up, IPv6 DAD off. */
  netns(): Promise<string>;
  /** A long-running `cmd` inside `ns` (stdin null, stdout and stderr piped). */
  spawn(ns: string, cmd: string, ...args: string[]): Deno.ChildProcess;
}

/**
 * What a finished command printed and returned.
 *
 * @example
 * ```ts
 * const r: Output = await runCmd("ip", ["-V"]);
 * if (r.code !== 0) console.error(r.stderr);
 * ```
 */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion, capturing its output; never throws on a non-zero exit.
 *
 * @example
 * ```ts
 * const r = await runCmd("ip", ["netns", "list"]);
 * ```
 */
export async function runCmd(cmd: string, args: readonly string[]): Promise<Output> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Runs a command and throws (with its stderr) unless it exits 0; returns its stdout.
 *
 * @example
 * ```ts
 * await runChecked("ip", ["netns", "add", "hl-1-1"]);
 * ```
 */
export async function runChecked(cmd: string, args: readonly string[]): Promise<string> {
  const r = await runCmd(cmd, args);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * `ip -n NS ARGS`, throwing unless it succeeds.
 *
 * @example
 * ```ts
 * await ipIn("hl-1-1", "link", "set", "eth0", "up");
 * ```
 */
export function ipIn(ns: string, ...args: string[]): Promise<string> {
  return runChecked("ip", ["-n", ns, ...args]);
}

/**
 * Prefix of the names `hacore lab` gives its namespaces: `hl-<pid>-`.
 *
 * @example
 * ```ts
 * labPrefix(4242); // "hl-4242-"
 * ```
 */
export function labPrefix(pid: number = Deno.pid): string {
  return `hl-${pid}-`;
}

/**
 * Prepares a fresh namespace the way every lab wants it: loopback up, IPv6 DAD off (so
 * link-local addresses are usable at once).
 *
 * @example
 * ```ts
 * await runChecked("ip", ["netns", "add", "hl-1-1"]);
 * await prepareNamespace("hl-1-1");
 * ```
 */
export async function prepareNamespace(ns: string): Promise<void> {
  await ipIn(ns, "link", "set", "lo", "up");
  await runChecked("ip", [
    "netns",
    "exec",
    ns,
    "sh",
    "-c",
    "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && " +
    "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
  ]);
}

/**
 * A {@link NetnsHost} for `hacore lab`: namespaces named `hl-<pid>-<n>`, processes,
 * temp dirs and extra cleanup steps, all undone by {@link Sandbox.cleanup} (idempotent,
 * safe to call from a signal handler while a scenario is still running).
 *
 * @example
 * ```ts
 * const box = new Sandbox();
 * const dir = await box.tempDir();
 * await box.cleanup();
 * ```
 */
export class Sandbox implements NetnsHost {
  readonly #prefix: string;
  #counter = 0;
  #namespaces: string[] = [];
  #children: Deno.ChildProcess[] = [];
  #dirs: string[] = [];
  #steps: (() => Promise<void>)[] = [];
  #cleaning: Promise<void> | null = null;

  /**
   * @param prefix name prefix of every namespace; `hl-<pid>-` by default.
   *
   * @example
   * ```ts
   * const box = new Sandbox("hl-test-");
   * ```
   */
  constructor(prefix: string = labPrefix()) {
    this.#prefix = prefix;
  }

  /**
   * True once {@link Sandbox.cleanup} has started: nothing new may be made.
   *
   * @example
   * ```ts
   * if (!box.closed) await box.netns();
   * ```
   */
  get closed(): boolean {
    return this.#cleaning !== null;
  }

  /**
   * Creates a namespace `<prefix><n>`, loopback up, IPv6 DAD off.
   *
   * @example
   * ```ts
   * const ns = await new Sandbox().netns(); // "hl-4242-1"
   * ```
   */
  async netns(): Promise<string> {
    this.#refuseWhenClosed();
    this.#counter += 1;
    const ns = `${this.#prefix}${this.#counter}`;
    await runChecked("ip", ["netns", "add", ns]);
    this.#namespaces.push(ns);
    await prepareNamespace(ns);
    return ns;
  }

  /**
   * Starts `cmd` inside `ns` with `ip netns exec`, which execs in place: the child's pid
   * is the command's own, so signals reach it directly.
   *
   * @example
   * ```ts
   * const child = box.spawn(ns, "sleep", "60");
   * ```
   */
  spawn(ns: string, cmd: string, ...args: string[]): Deno.ChildProcess {
    this.#refuseWhenClosed();
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, cmd, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#children.push(child);
    return child;
  }

  /**
   * A temp dir removed (recursively) at cleanup.
   *
   * @example
   * ```ts
   * const dir = await box.tempDir();
   * ```
   */
  async tempDir(): Promise<string> {
    this.#refuseWhenClosed();
    // The pid in the name lets a later lab sweep the dir if this process is killed.
    const dir = await Deno.makeTempDir({ prefix: `hacore-lab-${Deno.pid}-` });
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * Registers an extra cleanup step; steps run first, newest first.
   *
   * @example
   * ```ts
   * box.defer(async () => console.log("bye"));
   * ```
   */
  defer(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  /**
   * Runs the extra steps, kills every child (SIGKILL) and reaps it, deletes every
   * namespace and temp dir. Tries everything, then throws the first error. A second
   * call waits for the first.
   *
   * @example
   * ```ts
   * await box.cleanup();
   * ```
   */
  cleanup(): Promise<void> {
    this.#cleaning ??= this.#cleanupOnce();
    return this.#cleaning;
  }

  async #cleanupOnce(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const child of this.#children.splice(0)) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status.catch(() => {});
    }
    for (const ns of this.#namespaces.splice(0).reverse()) {
      const r = await runCmd("ip", ["netns", "del", ns]);
      if (r.code !== 0) errors.push(new Error(`ip netns del ${ns}: ${r.stderr.trim()}`));
    }
    for (const dir of this.#dirs.splice(0)) {
      await Deno.remove(dir, { recursive: true }).catch((e) => errors.push(e));
    }
    if (errors.length > 0) throw errors[0];
  }

  #refuseWhenClosed() {
    if (this.#cleaning !== null) throw new Error("the lab is being cleaned up");
  }
}

/**
 * Whether `pid` exists. Asked through `sh`, because Deno refuses to read /proc without
 * --allow-all, and a refusal mistaken for "gone" would sweep a live lab.
 */
async function pidAlive(pid: number): Promise<boolean> {
  const r = await runCmd("sh", ["-c", 'test -d "/proc/$1"', "sh", String(pid)]);
  return r.code === 0;
}

/**
 * Removes the namespaces matching `pattern` whose creator is gone: `pattern`'s first
 * group is the pid in the name, and a namespace is stale when that pid no longer runs
 * (and is not this process). Processes still inside one (daemons, services of the dead
 * run) are killed first, or the namespace would live on through them. Returns the
 * names removed.
 *
 * @example
 * ```ts
 * await sweepStaleNamespaces(/^hc-(\d+)-\d+$/); // what a killed test run left
 * ```
 */
export async function sweepStaleNamespaces(pattern: RegExp): Promise<string[]> {
  const list = await runCmd("ip", ["netns", "list"]);
  const removed: string[] = [];
  for (const line of list.stdout.split("\n")) {
    const ns = line.split(" ")[0];
    const m = pattern.exec(ns);
    if (!m || Number(m[1]) === Deno.pid || await pidAlive(Number(m[1]))) continue;
    const pids = await runCmd("ip", ["netns", "pids", ns]);
    for (const p of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
      try {
        Deno.kill(Number(p), "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    const r = await runCmd("ip", ["netns", "del", ns]);
    if (r.code === 0) removed.push(ns);
  }
  return removed;
}

/**
 * Removes the namespaces an earlier `hacore lab` left when it was itself killed (SIGKILL
 * gives it no chance to clean up): every `hl-<pid>-<n>` whose `<pid>` no longer runs.
 *
 * @example
 * ```ts
 * const gone = await sweepStaleLabs();
 * if (gone.length) console.log(`removed ${gone.join(", ")}`);
 * ```
 */
export async function sweepStaleLabs(): Promise<string[]> {
  const removed = await sweepStaleNamespaces(/^hl-(\d+)-\d+$/);
  await sweepStaleTempDirs("hacore-lab-");
  return removed;
}

/**
 * Removes the temp dirs named `<prefix><pid>-...` (as {@link Sandbox.tempDir} names
 * them) whose `<pid>` no longer runs. Returns the paths removed.
 *
 * @example
 * ```ts
 * await sweepStaleTempDirs("hacore-lab-");
 * ```
 */
export async function sweepStaleTempDirs(prefix: string): Promise<string[]> {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  const removed: string[] = [];
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\d+)-`);
  for await (const e of Deno.readDir(tmp)) {
    const m = re.exec(e.name);
    if (!e.isDirectory || !m || Number(m[1]) === Deno.pid || await pidAlive(Number(m[1]))) continue;
    const path = `${tmp}/${e.name}`;
    try {
      await Deno.remove(path, { recursive: true });
      removed.push(path);
    } catch {
      // removed meanwhile, or not ours to remove
    }
  }
  return removed;
}
