/**
 * Network-namespace helpers for tests against the real kernel: unique names per run,
 * namespaces, veth pairs and bridges made with `ip`, commands run inside a namespace,
 * sockets opened inside one, and cleanup that happens even when a test fails.
 *
 * Every name is `hc-<pid>-<n>`: unique per run, short enough for an interface name
 * (15 bytes), and recognisable so a test can assert none of this run's namespaces
 * survive.
 *
 * @module
 */

import {
  AF_INET,
  bindSocket,
  bindToDevice,
  CLONE_NEWNET,
  closeFd,
  ifNameToIndex,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  ipMreqn,
  IPPROTO_VRRP,
  openPath,
  openSocket,
  setNs,
  setsockoptBuf,
  setsockoptInt,
  SOCK_RAW,
  sockaddrIn,
  SOL_IP,
} from "../../lib/sys/libc.ts";

let counter = 0;

/**
 * Prefix of every name this process creates.
 *
 * @example
 * ```ts
 * RUN_PREFIX; // "hc-12345-"
 * ```
 */
export const RUN_PREFIX = `hc-${Deno.pid}-`;

/**
 * A fresh name for a namespace, link or bridge: `hc-<pid>-<n>`.
 *
 * @example
 * ```ts
 * uniqueName(); // "hc-12345-1"
 * ```
 */
export function uniqueName(): string {
  counter += 1;
  return `${RUN_PREFIX}${counter}`;
}

// One command runner for the lab and the tests; the tests know it by these names.
export {
  ipIn as ipNs,
  type Output as CommandResult,
  runChecked as runOk,
  runCmd as run,
} from "../../lib/lab/host.ts";
import {
  ipIn as ipNs,
  type Output as CommandResult,
  prepareNamespace,
  runChecked as runOk,
  runCmd as run,
} from "../../lib/lab/host.ts";

/**
 * Runs `ip -j -n <ns> <args>` and parses its JSON.
 *
 * @example
 * ```ts
 * const links = await ipJson(ns, "link", "show") as { ifname: string }[];
 * ```
 */
export async function ipJson(ns: string, ...args: string[]): Promise<unknown> {
  return JSON.parse(await runOk("ip", ["-j", "-n", ns, ...args]));
}

function onPath(cmd: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Why namespace tests cannot run here (not root, no `ip`), or null when they can.
 *
 * @example
 * ```ts
 * const why = netnsSkipReason(); // "needs root" when run unprivileged
 * ```
 */
export function netnsSkipReason(): string | null {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root";
  if (!onPath("ip")) return "needs iproute2's ip";
  return null;
}

/**
 * True when `cmd` is on PATH.
 *
 * @example
 * ```ts
 * if (!hasCommand("strace")) console.warn("skipping capture");
 * ```
 */
export function hasCommand(cmd: string): boolean {
  return onPath(cmd);
}

let warned = false;

/**
 * Declares a namespace test; where namespaces cannot be made, declares it ignored with
 * the reason in its name and prints the reason once, so it never passes silently.
 *
 * @example
 * ```ts
 * netnsTest("adds an address", async () => { ... });
 * ```
 */
export function netnsTest(name: string, fn: () => Promise<void>): void {
  const why = netnsSkipReason();
  if (why) {
    if (!warned) {
      warned = true;
      console.warn(`netns tests SKIPPED: ${why} (run as root with iproute2 installed)`);
    }
    Deno.test({ name: `${name} (skipped: ${why})`, ignore: true, fn });
    return;
  }
  Deno.test({ name, fn });
}

/**
 * Namespaces, links and processes made for one test, removed by {@link Lab.cleanup}
 * (which {@link withLab} always calls).
 *
 * @example
 * ```ts
 * await withLab(async (lab) => {
 *   const ns = await lab.netns();
 *   const [a, b] = await lab.veth(ns, ns);
 * });
 * ```
 */
export class Lab {
  readonly namespaces: string[] = [];
  readonly children: Deno.ChildProcess[] = [];

  /**
   * Creates a namespace with its loopback up and IPv6 duplicate address detection off,
   * so links made in it have usable link-local addresses as soon as they are up.
   *
   * @example
   * ```ts
   * const ns = await lab.netns();
   * ```
   */
  async netns(): Promise<string> {
    const ns = uniqueName();
    await runOk("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    await prepareNamespace(ns);
    return ns;
  }

  /**
   * Creates a veth pair with one end in `nsA` and the other in `nsB` (may be the same),
   * both up. Returns the two interface names.
   *
   * @example
   * ```ts
   * const [a, b] = await lab.veth(nsA, nsB);
   * ```
   */
  async veth(nsA: string, nsB: string): Promise<[string, string]> {
    const a = uniqueName();
    const b = uniqueName();
    await ipNs(nsA, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nsB);
    await ipNs(nsA, "link", "set", a, "up");
    await ipNs(nsB, "link", "set", b, "up");
    return [a, b];
  }

  /**
   * Creates a bridge in `ns`, up, and returns its name.
   *
   * @example
   * ```ts
   * const br = await lab.bridge(ns);
   * ```
   */
  async bridge(ns: string): Promise<string> {
    const br = uniqueName();
    await ipNs(ns, "link", "add", br, "type", "bridge");
    await ipNs(ns, "link", "set", br, "up");
    return br;
  }

  /**
   * Runs a command inside `ns` (`ip netns exec`) to completion.
   *
   * @example
   * ```ts
   * await lab.exec(ns, "sysctl", "-w", "net.ipv6.conf.all.disable_ipv6=0");
   * ```
   */
  exec(ns: string, cmd: string, ...args: string[]): Promise<CommandResult> {
    return run("ip", ["netns", "exec", ns, cmd, ...args]);
  }

  /**
   * Starts a long-running command inside `ns`; cleanup kills it.
   *
   * @example
   * ```ts
   * const p = lab.spawn(ns, "sleep", "60");
   * ```
   */
  spawn(ns: string, cmd: string, ...args: string[]): Deno.ChildProcess {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, cmd, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.children.push(child);
    return child;
  }

  /**
   * Kills every child and deletes every namespace (which takes their links with
   * them). Collects errors and throws the first only after trying everything.
   *
   * @example
   * ```ts
   * await lab.cleanup();
   * ```
   */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const child of this.children.splice(0)) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      try {
        await child.output();
      } catch {
        // streams already consumed by the test; the status still reaps it
        await child.status.catch(() => {});
      }
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      const r = await run("ip", ["netns", "del", ns]);
      if (r.code !== 0) errors.push(new Error(`ip netns del ${ns}: ${r.stderr.trim()}`));
    }
    if (errors.length > 0) throw errors[0];
  }
}

/**
 * Runs `fn` with a fresh {@link Lab} and cleans it up afterwards, pass or fail.
 *
 * @example
 * ```ts
 * await withLab(async (lab) => { const ns = await lab.netns(); });
 * ```
 */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = new Lab();
  try {
    return await fn(lab);
  } finally {
    await lab.cleanup();
  }
}

/**
 * Runs a synchronous `fn` with the JS thread inside namespace `ns`, then moves it back.
 * Sockets opened in `fn` stay in `ns` for their whole life, so a test can hold sockets
 * in several namespaces at once in one process.
 *
 * Only synchronous work is allowed: while the thread is inside, no other JS may run,
 * or it would silently act in the wrong namespace. A returned promise is refused.
 *
 * @example
 * ```ts
 * const fd = inNetns(ns, () => openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP));
 * ```
 */
export function inNetns<T>(ns: string, fn: () => T): T {
  const home = openPath("/proc/thread-self/ns/net");
  try {
    const target = openPath(`/run/netns/${ns}`);
    try {
      setNs(target, CLONE_NEWNET);
    } finally {
      closeFd(target);
    }
    try {
      const result = fn();
      if (result instanceof Promise) {
        result.catch(() => {});
        throw new Error("inNetns: fn must be synchronous");
      }
      return result;
    } finally {
      setNs(home, CLONE_NEWNET);
    }
  } finally {
    closeFd(home);
  }
}

/**
 * Namespaces of this run that still exist (should be none after cleanup).
 *
 * @example
 * ```ts
 * assertEquals(await leftoverNamespaces(), []);
 * ```
 */
export async function leftoverNamespaces(): Promise<string[]> {
  const out = await run("ip", ["netns", "list"]);
  return out.stdout.split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(RUN_PREFIX));
}

/**
 * A raw IPv4 VRRP socket in `ns` for crafted adverts: bound to `iface`, multicast out of
 * it with `ttl`, not looped back; with `src`, bound to that source address too.
 *
 * @example
 * ```ts
 * const fd = openVrrpSender("hl-1-x", "eth0", { src: "192.0.2.99", ttl: 255 });
 * ```
 */
export function openVrrpSender(
  ns: string,
  iface: string,
  opts: { readonly src?: string; readonly ttl: number },
): number {
  return inNetns(ns, () => {
    const fd = openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP);
    bindToDevice(fd, iface);
    if (opts.src !== undefined) bindSocket(fd, sockaddrIn(opts.src));
    setsockoptBuf(
      fd,
      SOL_IP,
      IP_MULTICAST_IF,
      ipMreqn(opts.src ?? "0.0.0.0", ifNameToIndex(iface)),
    );
    setsockoptInt(fd, SOL_IP, IP_MULTICAST_TTL, opts.ttl);
    setsockoptInt(fd, SOL_IP, IP_MULTICAST_LOOP, 0);
    return fd;
  });
}
