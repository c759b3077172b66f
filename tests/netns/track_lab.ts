/**
 * Plumbing shared by the tracker, sync-group and dual-stack namespace tests: a LAN of
 * hacore nodes (and a client), each node's daemon started from TOML with its own control
 * socket, status read over that socket (fast enough to poll) or with the real
 * `hacore status --json` (as an operator reads it), and waits on either.
 *
 * @module
 */

import assert from "node:assert/strict";
import { call, makeRequest } from "../../lib/control/client.ts";
import type { DaemonStatus, InstanceStatus } from "../../lib/daemon/daemon.ts";
import { runChecked } from "../../lib/lab/host.ts";
import {
  addressWatcher,
  buildLan,
  hacoreFromToml,
  type HacoreProc,
  type Lan,
  LAN_IFACE,
  type LanMember,
  type PeerLab,
  sleep,
  type VipWatcher,
  wallMs,
} from "./peers.ts";

/**
 * Deno start, config load and the first Master_Down_Interval, on a busy 2-core box.
 *
 * @example
 * ```ts
 * await node.hacore.waitState("MASTER", START_MS);
 * ```
 */
export const START_MS = 10_000;
/**
 * A move driven by the test (a check failing, a link down) lands within this.
 *
 * @example
 * ```ts
 * await waitForHolders(vip, only("node2"), MOVE_MS, "node2 to take over");
 * ```
 */
export const MOVE_MS = 5000;

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * One running hacore node of a {@link TrackLan}.
 *
 * @example
 * ```ts
 * const [n1] = l.nodes;
 * n1.hacore.proc.child.kill("SIGKILL");
 * ```
 */
export interface TrackNode {
  readonly name: string;
  readonly member: LanMember;
  /** Its control socket (in the lab's temp dir). */
  readonly socket: string;
  hacore: HacoreProc;
}

/**
 * A LAN of hacore nodes, a client, and a temp dir.
 *
 * @example
 * ```ts
 * await l.start(l.nodes[0], instanceToml({ routerId: "node1", priority: 150, vips: ["192.0.2.100/24"] }));
 * ```
 */
export interface TrackLan {
  readonly lab: PeerLab;
  readonly lan: Lan;
  readonly dir: string;
  readonly nodes: TrackNode[];
  readonly client: LanMember;
  /** Starts (or restarts) a node's daemon on `toml`. */
  start(node: TrackNode, toml: string): Promise<HacoreProc>;
}

/**
 * Builds a bridge with nodes at 192.0.2.11.. and a client at 192.0.2.50 (plus the
 * `v6` addresses 2001:db8::11.. and ::50, when asked); starts no daemon.
 *
 * @example
 * ```ts
 * const l = await trackLan(lab, ["node1", "node2"], { v6: true });
 * ```
 */
export async function trackLan(
  lab: PeerLab,
  names: readonly string[],
  opts: { v6?: boolean } = {},
): Promise<TrackLan> {
  const lan = await buildLan(lab, {
    nodes: names.map((name, i) => ({ name, address: `192.0.2.${11 + i}/24` })),
    client: { name: "client", address: "192.0.2.50/24" },
  });
  if (opts.v6) {
    const members = [...lan.nodes, lan.client!];
    await Promise.all(members.map((m, i) => {
      const host = m === lan.client ? 50 : 11 + i;
      return lab.exec(m.ns, "ip", "addr", "add", `2001:db8::${host}/64`, "dev", LAN_IFACE);
    }));
  }
  const dir = await lab.tempDir();
  const nodes: TrackNode[] = lan.nodes.map((m) => ({
    name: m.name,
    member: m,
    socket: `${dir}/${m.name}.sock`,
    hacore: null!,
  }));
  return {
    lab,
    lan,
    dir,
    nodes,
    client: lan.client!,
    async start(node, toml) {
      node.hacore = await hacoreFromToml(lab, dir, node.member.ns, node.name, toml);
      return node.hacore;
    },
  };
}

/**
 * A status of one node, as the control socket serves it.
 *
 * @example
 * ```ts
 * const s: NodeStatus = await statusOf(node);
 * ```
 */
export type NodeStatus = DaemonStatus;

/**
 * The node's status over its control socket (no process start: cheap to poll).
 *
 * @example
 * ```ts
 * (await statusOf(node)).instances[0].state; // "master"
 * ```
 */
export async function statusOf(node: TrackNode): Promise<NodeStatus> {
  return await call(node.socket, makeRequest({ cmd: "status" }), { timeoutMs: 2000 }) as NodeStatus;
}

/**
 * One instance of the node's status; throws naming what exists when absent.
 *
 * @example
 * ```ts
 * (await instanceOf(node, "VI_1")).priority.effective; // 150
 * ```
 */
export async function instanceOf(
  node: TrackNode,
  name = "VI_1",
): Promise<InstanceStatus> {
  const s = await statusOf(node);
  const i = s.instances.find((x) => x.name === name);
  if (i === undefined) {
    throw new Error(`${node.name} has no ${name}: ${s.instances.map((x) => x.name).join(", ")}`);
  }
  return i;
}

/**
 * Polls the node's status until `pred` holds; throws after `timeoutMs` with the last
 * status seen (the control socket may not exist yet right after a start).
 *
 * @example
 * ```ts
 * await waitStatus(node, (s) => s.instances[0].state === "fault", 1000, "FAULT");
 * ```
 */
export async function waitStatus(
  node: TrackNode,
  pred: (s: NodeStatus) => boolean,
  timeoutMs: number,
  what: string,
): Promise<NodeStatus> {
  const deadline = wallMs() + timeoutMs;
  let last: NodeStatus | null = null;
  let error = "";
  for (;;) {
    try {
      last = await statusOf(node);
      if (pred(last)) return last;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (wallMs() >= deadline) {
      const seen = last === null ? `no status (${error})` : JSON.stringify(
        last.instances.map((i) => ({
          name: i.name,
          state: i.state,
          priority: i.priority,
          faults: i.faults,
          trackers: i.trackers,
        })),
      );
      throw new Error(`${node.name}: ${what} within ${timeoutMs} ms; last: ${seen}`);
    }
    await sleep(20);
  }
}

/**
 * The real CLI: `hacore ARGS` as a separate process, as an operator runs it; throws
 * unless it exits 0, and returns its stdout.
 *
 * @example
 * ```ts
 * await hacoreCli("demote", "web", "--socket", node.socket);
 * ```
 */
export async function hacoreCli(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  assert.equal(
    out.code,
    0,
    `hacore ${args.join(" ")} exited ${out.code}: ${dec.decode(out.stderr)}${stdout}`,
  );
  return stdout;
}

/**
 * `hacore status --json` of a node, parsed.
 *
 * @example
 * ```ts
 * (await statusCli(node)).instances.map((i) => i.name);
 * ```
 */
export async function statusCli(node: TrackNode): Promise<NodeStatus> {
  return JSON.parse(await hacoreCli("status", "--socket", node.socket, "--json")) as NodeStatus;
}

/**
 * A watcher per node for `address` on `dev` (eth0 by default).
 *
 * @example
 * ```ts
 * await waitForHolders(watchers(l.nodes, "192.0.2.100"), only("node1"), START_MS, "node1");
 * ```
 */
export function watchers(
  nodes: readonly TrackNode[],
  address: string,
  dev: string = LAN_IFACE,
): VipWatcher[] {
  return nodes.map((n) => addressWatcher(n.name, n.member.ns, dev, address));
}

/**
 * A `[global]` table plus instance lines for a VRRPv3 100 ms instance on eth0.
 *
 * @example
 * ```ts
 * instanceToml({ routerId: "node1", priority: 150, vips: ["192.0.2.100/24"], lines: ['track_file = ["maint"]'] });
 * ```
 */
export function instanceToml(opts: {
  readonly routerId: string;
  readonly priority: number;
  readonly vips: readonly string[];
  readonly name?: string;
  readonly vrid?: number;
  readonly iface?: string;
  /** Extra lines inside the instance table, written as is. */
  readonly lines?: readonly string[];
  /** Extra tables after it (scripts, track files, groups), written as is. */
  readonly tables?: string;
  /** Leave out `[global]` (for a second instance in one file). */
  readonly noGlobal?: boolean;
}): string {
  const q = JSON.stringify;
  return [
    ...(opts.noGlobal ? [] : ["[global]", `router_id = ${q(opts.routerId)}`, ""]),
    `[vrrp_instance.${opts.name ?? "VI_1"}]`,
    `interface = ${q(opts.iface ?? LAN_IFACE)}`,
    `virtual_router_id = ${opts.vrid ?? 51}`,
    "version = 3",
    `priority = ${opts.priority}`,
    "advert_int = 0.1",
    `virtual_ipaddress = [${opts.vips.map((v) => q(v)).join(", ")}]`,
    ...(opts.lines ?? []),
    "",
    opts.tables ?? "",
  ].join("\n");
}

/**
 * The MAC address of `dev` in `ns`.
 *
 * @example
 * ```ts
 * await macOf(node.member.ns); // "3a:3a:1b:87:40:13"
 * ```
 */
export async function macOf(ns: string, dev: string = LAN_IFACE): Promise<string> {
  const links = JSON.parse(
    await runChecked("ip", ["-n", ns, "-j", "link", "show", "dev", dev]),
  ) as {
    address?: string;
  }[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no MAC address for ${dev} in ${ns}`);
  return mac;
}
