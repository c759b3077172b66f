/**
 * Soak: three hacore nodes and a client on a namespace LAN, under rotating chaos for a
 * long time, checking that nothing crashes, that every VIP anomaly has a cause, and that
 * nothing leaks.
 *
 * ```sh
 * sudo .tools/bin/deno run -A scripts/bench/soak.ts [--duration S] [--seed N] [--json FILE]
 * ```
 *
 * The LAN: node1..node3 (priorities 150, 100, 50; VRRPv3, advert_int 0.1 s, preemption
 * on, VIP 192.0.2.100/24, a TCP service on :8080 each) and a client connecting to the
 * VIP every 10 ms (200 ms timeout). For `--duration` seconds (default 3600):
 *
 * - loss: every 10 s the bridge drops a new share of every forwarded frame, 0-30 %
 *   (nftables `numgen random mod 100 < N drop` on the bridge's forward hook);
 * - one chaos action at a time, a few seconds apart, picked by the seeded RNG: a link
 *   flap (a node's bridge port down for 1-3 s), kill -9 and restart after 1-4 s, a
 *   SIGHUP reload (alternating two valid configs, the second adding an instance; or
 *   an invalid one, which must be refused), operator verbs over the control socket
 *   (demote the master / promote a backup, then resume; maintenance on, then off).
 *
 * Who holds the VIP comes from `ip monitor address` in each node (the kernel's own
 * notifications, stamped on arrival) and is sampled every 10 ms over the run: as exact
 * as a 10 ms poller, without spawning 300 `ip` processes a second on a shared machine.
 * Episodes with two or more holders, or none, longer than Master_Down_Interval plus one
 * advert are reported with the chaos actions that overlap them (each action's window
 * extended by that bound); every dual-holder episode, of any length, must have one.
 *
 * `--steady` (default node2) names nodes that are never killed -9 nor restarted (a kill
 * aimed at one goes to another node, the master among them if any) but get everything
 * else: loss, link flaps, reloads, operator verbs. Their one process lives the whole
 * run, so a leak has the time to show. node2 by default: the middle priority changes
 * state the most (master whenever node1 is killed, flapped, demoted or in maintenance,
 * backup again when node1 returns), so it runs both roles' code and every transition
 * in between, while node1, the usual master, stays killable, so kill -9 of the master
 * (the failover the soak is about) keeps its frequency. `--steady none` kills any node.
 * `--calm` runs the same LAN, client and sampling with no loss and no action: the
 * noise the resource judgement must stay above (every node may then be steady).
 *
 * Every 2 s each daemon's RSS (VmRSS), open fds (/proc/PID/fd) and threads
 * (/proc/PID/status) are read, and its V8 heap (used, total) and external memory from
 * its status over the control socket (the `process` section). At the end:
 *
 * - each steady process is judged by `judgeSteady`: the floor of each minute of a
 *   metric is its level; after the plateau (`--plateau S`, default a sixth of the run,
 *   20 s to 10 min) the highest level may exceed the plateau's highest by at most the
 *   bound, and the least-squares slope of the levels times their span by at most
 *   `STEP_FIT` (1.5) times it. Bounds (`STEADY_BOUNDS`): RSS 8 MiB, live heap 4 MiB,
 *   fds 3, threads 2. The live heap is V8's heap after each full collection, from the
 *   `--trace-gc` lines a steady daemon prints (`DENO_V8_FLAGS`, its own flags
 *   unchanged): heap used is not it, its floor climbing with promoted garbage for the
 *   minutes between full collections. Heap used, heap total and external memory are
 *   reported, not judged;
 * - for the longest-lived process of every node, a least-squares slope after its
 *   plateau (the first 10 % of the run, at most 10 min, at least 20 s), as before;
 *   steady nodes are judged by the rule above instead.
 *
 * Exits 0 when the soak passed, 3 when it ran but failed a check, 1 on errors, 2 on bad
 * usage, 130/143 when interrupted; everything it made is removed in every case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runChecked, type Sandbox } from "../../lib/lab/host.ts";
import {
  hacoreConfigToml,
  type HacoreProc,
  logMessage,
  startHacore,
} from "../../lib/lab/hacore.ts";
import { sleep, wallMs } from "../../lib/lab/proc.ts";
import { startTcpService } from "../../lib/lab/tcp_service.ts";
import { buildLan, LAN_IFACE, type LanMember } from "../../lib/lab/topology.ts";
import { createRng, type Rng } from "../../lib/sim/rng.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { call, makeRequest } from "../../lib/control/client.ts";
import { Client } from "./lib/client.ts";
import { AddrMonitor } from "./lib/ip.ts";
import { runSandboxed } from "./lib/run_sandboxed.ts";
import {
  type Cause,
  type Episode,
  explain,
  fitGrowth,
  type Growth,
  heapAfterFullGc,
  holderEpisodes,
  type HolderEvent,
  judgeSteady,
  type ResourceSample,
  type SteadyJudgement,
  STEP_FIT,
} from "./lib/soak_analysis.ts";

const USAGE =
  "usage: soak.ts [--duration S] [--seed N] [--steady NODE[,NODE...]|none] [--plateau S] [--calm] [--json FILE] [--logs DIR]";
const VIP = "192.0.2.100";
const VIP2 = "192.0.2.101";
const ADVERT_S = 0.1;
const ADVERT_MS = ADVERT_S * 1000;
const PRIORITIES = [150, 100, 50];
const NODE_ADDRESSES = ["192.0.2.11/24", "192.0.2.12/24", "192.0.2.13/24"];
const CLIENT_ADDRESS = "192.0.2.50/24";
const LOSS_EVERY_MS = 10_000;
const LOSS_MAX_PERCENT = 30;
const RESOURCE_EVERY_MS = 2_000;
/** The node never killed nor restarted by default: see `--steady` in the module doc. */
const DEFAULT_STEADY = ["node2"];
/**
 * How far a steady process's level (the floor of each minute) may rise after the
 * plateau, and its fitted slope amount to (times `STEP_FIT`), before it counts as
 * growth: above the noise measured on this machine (see the README's soak figures),
 * far below what a leak of one object per advert or per chaos action adds in an hour.
 */
const STEADY_BOUNDS = { rssKiB: 8192, heapLiveKiB: 4096, fds: 3, threads: 2 };
const SAMPLE_MS = 10;
/** A process is judged on its growth only over at least this long after its plateau. */
const MIN_FIT_SPAN_S = 30;
/**
 * fds and threads that come and go with the daemon's state, not with time: mastership
 * opens the VIP guard's packet socket, its poller's eventfd and poll thread; a reload
 * that adds an instance on another interface opens a transport. A leak grows past them.
 */
const FD_STATE_SWING = 3;
const THREAD_STATE_SWING = 2;
/** Client failure runs at least this long are listed with their causes. */
const FAIL_RUN_REPORT_MS = 1000;
/** Host scheduling slack on top of the protocol's bound (2 shared cores, 5 processes). */
const SLACK_MS = 500;

interface Options {
  readonly durationS: number;
  readonly seed: number;
  /** Nodes never killed -9 nor restarted: their one process lives the whole run. */
  readonly steady: readonly string[];
  /** The steady process's warm-up, left out of the fit (null: the default). */
  readonly plateauS: number | null;
  /** No loss and no actions: the noise floor of the resource judgement. */
  readonly calm: boolean;
  readonly json: string | null;
  readonly logs: string | null;
}

function parseOptions(args: string[]): Options | string {
  try {
    const { values } = parseArgs({
      args,
      options: {
        duration: { type: "string" },
        seed: { type: "string" },
        steady: { type: "string" },
        plateau: { type: "string" },
        calm: { type: "boolean" },
        json: { type: "string" },
        logs: { type: "string" },
      },
    });
    const durationS = Number(values.duration ?? 3600);
    const seed = Number(values.seed ?? 1);
    if (!Number.isFinite(durationS) || durationS < 20) return "--duration: at least 20 s";
    if (!Number.isInteger(seed)) return "--seed: an integer";
    const steady = values.steady === undefined
      ? DEFAULT_STEADY
      : values.steady === "none"
      ? []
      : values.steady.split(",").map((n) => n.trim());
    const names = NODE_ADDRESSES.map((_, i) => `node${i + 1}`);
    const unknown = steady.find((n) => !names.includes(n));
    if (unknown !== undefined) return `--steady: no node ${unknown} (${names.join(", ")})`;
    const calm = values.calm ?? false;
    if (steady.length === names.length && !calm) {
      return "--steady: at least one node must be killable";
    }
    const plateauS = values.plateau === undefined ? null : Number(values.plateau);
    if (plateauS !== null && !(plateauS >= 0)) return "--plateau: seconds, 0 or more";
    return {
      durationS,
      seed,
      steady,
      plateauS,
      calm,
      json: values.json ?? null,
      logs: values.logs ?? null,
    };
  } catch (e) {
    return (e as Error).message;
  }
}

/** One node: its namespace, its current daemon, and every daemon it ran. */
interface Node {
  readonly name: string;
  readonly member: LanMember;
  readonly priority: number;
  readonly file: string;
  readonly socket: string;
  readonly pidFile: string;
  /** Never killed nor restarted (`--steady`). */
  readonly steady: boolean;
  daemon: HacoreProc;
  /** Every process this node ran: pid, start, whether we killed it on purpose. */
  readonly runs: Run[];
  /** Which valid config variant is in the file now. */
  variant: 0 | 1;
}

interface Run {
  readonly daemon: HacoreProc;
  readonly pid: number;
  /** Output lines already scanned for full collections. */
  gcLinesSeen: number;
  readonly startMs: number;
  killedOnPurpose: boolean;
  stoppedOnPurpose: boolean;
  readonly samples: ResourceSample[];
}

/** What the soak reports (also written as JSON with `--json`). */
export interface SoakReport {
  readonly durationS: number;
  readonly seed: number;
  readonly advertMs: number;
  /** Master_Down_Interval of the lowest-priority node plus one advert. */
  readonly boundMs: number;
  readonly actions: Record<string, number>;
  readonly crashes: { node: string; pid: number; code: number; signal: string | null }[];
  readonly reloads: { valid: number; invalidRefused: number; invalidAccepted: number };
  readonly dual: {
    count: number;
    totalMs: number;
    long: EpisodeReport[];
    unexplained: EpisodeReport[];
  };
  readonly none: { count: number; totalMs: number; long: EpisodeReport[] };
  readonly client: {
    attempts: number;
    failed: number;
    longestFailRunMs: number;
    /** Runs of failed connects of a second or more, with their errors and causes. */
    longRuns: { atS: number; ms: number; errors: string[]; causes: string[] }[];
  };
  readonly resources: ({ node: string; pid: number } & Growth)[];
  /**
   * Each steady node's one process, judged for growth after its plateau (see
   * `judgeSteady`), with its samples for a second look.
   */
  readonly steady: {
    node: string;
    pid: number;
    /** Processes the node ran: 1 unless it crashed (a crash is reported as such). */
    processes: number;
    plateauS: number;
    bounds: typeof STEADY_BOUNDS;
    judgement: SteadyJudgement;
    samples: ResourceSample[];
  }[];
  readonly verdict: { ok: boolean; problems: string[] };
}

interface EpisodeReport {
  readonly kind: Episode["kind"];
  readonly atS: number;
  readonly ms: number;
  readonly holders: readonly string[];
  readonly causes: readonly string[];
}

function variantToml(node: Node, variant: 0 | 1 | "invalid"): string {
  const base = hacoreConfigToml({
    routerId: node.name,
    priority: node.priority,
    vips: [`${VIP}/24`],
    advertIntS: ADVERT_S,
    version: 3,
  });
  if (variant === 0) return base;
  const second = [
    "[vrrp_instance.VI_2]",
    `interface = "${LAN_IFACE}"`,
    "virtual_router_id = 52",
    "version = 3",
    `priority = ${node.priority}`,
    "advert_int = 1",
    `virtual_ipaddress = ["${VIP2}/24"]`,
    "",
  ].join("\n");
  if (variant === 1) return `${base}\n${second}`;
  // No virtual_router_id: a config the daemon must refuse, keeping the one it runs.
  return `${base}\n[vrrp_instance.BROKEN]\ninterface = "${LAN_IFACE}"\npriority = 10\n`;
}

function launch(box: Sandbox, node: Node): void {
  // A steady daemon prints V8's collections: the heap after each full one is the live
  // heap (the flag only adds those lines; the daemon's own flags are unchanged). The
  // environment is read at spawn, so only this child sees it.
  if (node.steady) Deno.env.set("DENO_V8_FLAGS", "--trace-gc");
  let daemon: HacoreProc;
  try {
    daemon = startHacore(box, node.member.ns, node.file, {
      name: node.name,
      pidFile: node.pidFile,
      controlSocket: node.socket,
    });
  } finally {
    if (node.steady) Deno.env.delete("DENO_V8_FLAGS");
  }
  node.daemon = daemon;
  node.runs.push({
    daemon,
    pid: daemon.proc.child.pid,
    gcLinesSeen: 0,
    startMs: wallMs(),
    killedOnPurpose: false,
    stoppedOnPurpose: false,
    samples: [],
  });
}

/**
 * The process's V8 heap and external memory from its status (a sample of its own: the
 * kernel cannot see inside the heap), in KiB; nulls when the socket does not answer.
 */
async function readHeap(
  socket: string,
): Promise<Pick<ResourceSample, "heapUsedKiB" | "heapTotalKiB" | "externalKiB">> {
  try {
    const p = (await call(socket, makeRequest({ cmd: "status" }), { timeoutMs: 1000 })).process;
    if (p !== undefined) {
      return {
        heapUsedKiB: p.heapUsedBytes / 1024,
        heapTotalKiB: p.heapTotalBytes / 1024,
        externalKiB: p.externalBytes / 1024,
      };
    }
  } catch {
    // mid-restart, or too busy to answer in a second: a gap in the heap's series
  }
  return { heapUsedKiB: null, heapTotalKiB: null, externalKiB: null };
}

async function readResources(pid: number): Promise<Omit<ResourceSample, "atMs"> | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    let fds = 0;
    for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) fds++;
    return { rssKiB: field("VmRSS"), fds, threads: field("Threads") };
  } catch {
    return null;
  }
}

/** The chaos: one action at a time, each recorded as a cause with its window. */
class Chaos {
  readonly causes: Cause[] = [];
  readonly actions: Record<string, number> = {};
  readonly reloads = { valid: 0, invalidRefused: 0, invalidAccepted: 0 };
  readonly #box: Sandbox;
  readonly #nodes: Node[];
  readonly #rng: Rng;
  readonly #bridgeNs: string;
  readonly #cut: (m: LanMember) => Promise<void>;
  readonly #plug: (m: LanMember) => Promise<void>;

  constructor(
    box: Sandbox,
    nodes: Node[],
    rng: Rng,
    bridgeNs: string,
    cut: (m: LanMember) => Promise<void>,
    plug: (m: LanMember) => Promise<void>,
  ) {
    this.#box = box;
    this.#nodes = nodes;
    this.#rng = rng;
    this.#bridgeNs = bridgeNs;
    this.#cut = cut;
    this.#plug = plug;
  }

  #count(kind: string) {
    this.actions[kind] = (this.actions[kind] ?? 0) + 1;
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.#rng.int(0, xs.length - 1)];
  }

  #waitS(lo: number, hi: number): Promise<void> {
    return sleep(lo * 1000 + this.#rng.next() * (hi - lo) * 1000);
  }

  /** Sets the bridge's loss; a non-zero share is a cause until the next change. */
  async setLoss(percent: number): Promise<void> {
    const nft = [
      "table bridge soak {",
      "  chain lossy {",
      "    type filter hook forward priority 0; policy accept;",
      "  }",
      "}",
      "flush chain bridge soak lossy",
      percent > 0 ? `add rule bridge soak lossy numgen random mod 100 < ${percent} drop` : "",
      "",
    ].join("\n");
    const file = await Deno.makeTempFile({ prefix: "hacore-lab-soak-nft-" });
    try {
      await Deno.writeTextFile(file, nft);
      await runChecked("ip", ["netns", "exec", this.#bridgeNs, "nft", "-f", file]);
    } finally {
      await Deno.remove(file).catch(() => {});
    }
    const last = this.causes.findLast((c) => c.kind === "loss" && c.endMs === Infinity);
    const now = wallMs();
    if (last) (this.causes[this.causes.indexOf(last)] as { endMs: number }).endMs = now;
    if (percent > 0) {
      this.causes.push({
        kind: "loss",
        node: null,
        startMs: now,
        endMs: Infinity,
        detail: `${percent} %`,
      });
    }
    this.#count("loss");
  }

  /** Closes the open loss window at the end of the run. */
  closeLoss(): void {
    const now = wallMs();
    for (const c of this.causes) {
      if (c.endMs === Infinity) (c as { endMs: number }).endMs = now;
    }
  }

  master(): Node | undefined {
    return this.#nodes.find((n) => n.daemon.state("VI_1") === "MASTER");
  }

  async step(): Promise<void> {
    const kind = this.#pick(["flap", "kill", "reload", "reload", "invalid", "verb", "maintenance"]);
    // The master most of the time: that is where an action hurts.
    let node = this.#rng.next() < 0.6
      ? (this.master() ?? this.#pick(this.#nodes))
      : this.#pick(this.#nodes);
    if (kind === "kill" && node.steady) node = this.#killable();
    const startMs = wallMs();
    let detail = "";
    switch (kind) {
      case "flap":
        await this.#cut(node.member);
        await this.#waitS(1, 3);
        await this.#plug(node.member);
        detail = "link down, up";
        break;
      case "kill": {
        const run = node.runs[node.runs.length - 1];
        run.killedOnPurpose = true;
        try {
          node.daemon.proc.child.kill("SIGKILL");
        } catch {
          // already gone: the crash check says how
        }
        await node.daemon.proc.exited(5000).catch(() => {});
        await this.#waitS(1, 4);
        launch(this.#box, node);
        // Its window lasts until it is back in the election (or 10 s).
        await node.daemon.waitState("BACKUP", 10_000).catch(() => {});
        detail = "kill -9, restart";
        break;
      }
      case "reload": {
        node.variant = node.variant === 0 ? 1 : 0;
        await Deno.writeTextFile(node.file, variantToml(node, node.variant));
        this.#hup(node);
        this.reloads.valid++;
        await sleep(1000);
        detail = `reload to config ${node.variant}`;
        break;
      }
      case "invalid": {
        const from = node.daemon.proc.lines.length;
        await Deno.writeTextFile(node.file, variantToml(node, "invalid"));
        this.#hup(node);
        const refused = await node.daemon.proc.waitFor(
          () =>
            node.daemon.proc.lines.slice(from).find((l) =>
              /reload: .*nothing changed/.test(logMessage(l.text).msg)
            ) ?? null,
          5000,
          "the invalid reload refused",
        ).then(() => true, () => false);
        if (refused) this.reloads.invalidRefused++;
        else this.reloads.invalidAccepted++;
        // Put the valid file back, so a later restart reads a good config.
        await Deno.writeTextFile(node.file, variantToml(node, node.variant));
        detail = refused ? "invalid config refused" : "invalid config NOT refused";
        break;
      }
      case "verb": {
        const isMaster = node.daemon.state("VI_1") === "MASTER";
        const cmd = isMaster ? "demote" : "promote";
        await this.#control(
          node,
          makeRequest({ cmd, instance: "VI_1", priority: isMaster ? 1 : 254 }),
        );
        await this.#waitS(2, 5);
        await this.#control(node, makeRequest({ cmd: "resume", instance: "VI_1" }));
        detail = `${cmd}, resume`;
        break;
      }
      case "maintenance":
        await this.#control(node, makeRequest({ cmd: "maintenance", on: true }));
        await this.#waitS(2, 5);
        await this.#control(node, makeRequest({ cmd: "maintenance", on: false }));
        detail = "maintenance on, off";
        break;
    }
    this.causes.push({ kind, node: node.name, startMs, endMs: wallMs(), detail });
    this.#count(kind);
  }

  /**
   * A kill aimed at a steady node goes to another one, the master among them if any:
   * the kill stays as frequent and as often on a master as without `--steady`.
   */
  #killable(): Node {
    const others = this.#nodes.filter((n) => !n.steady);
    return others.find((n) => n.daemon.state("VI_1") === "MASTER") ?? this.#pick(others);
  }

  #hup(node: Node) {
    try {
      node.daemon.proc.child.kill("SIGHUP");
    } catch {
      // exited: the crash check reports it
    }
  }

  async #control(node: Node, req: Parameters<typeof call>[1]): Promise<void> {
    try {
      await call(node.socket, req, { timeoutMs: 3000 });
    } catch {
      // A daemon mid-restart has no socket yet; the action is still a cause.
    }
  }
}

/**
 * The steady process's plateau by default: a sixth of the run, at least 20 s and at most
 * 10 min (an hour's run fits its last 50 minutes, as issue 14 asks).
 */
function defaultPlateauS(durationS: number): number {
  return Math.min(Math.max(durationS / 6, 20), 600);
}

function episodeReport(
  e: Episode,
  t0: number,
  causes: readonly Cause[],
  marginMs: number,
): EpisodeReport {
  return {
    kind: e.kind,
    atS: Math.round((e.startMs - t0) / 100) / 10,
    ms: e.endMs - e.startMs,
    holders: e.holders,
    causes: explain(e, causes, marginMs).map((c) =>
      `${c.kind}${c.node ? ` ${c.node}` : ""} (${c.detail}) at ${
        ((c.startMs - t0) / 1000).toFixed(1)
      } s`
    ),
  };
}

async function soak(box: Sandbox, opts: Options, interrupted: () => boolean): Promise<number> {
  const rng = createRng(opts.seed);
  const dir = await Deno.makeTempDir({ prefix: "hacore-lab-soak-" });
  const lan = await buildLan(box, {
    nodes: NODE_ADDRESSES.map((address, i) => ({ name: `node${i + 1}`, address })),
    client: { name: "client", address: CLIENT_ADDRESS },
  });
  const nodes: Node[] = [];
  for (const [i, member] of lan.nodes.entries()) {
    await startTcpService(box, member.ns, member.name);
    const node: Node = {
      name: member.name,
      member,
      priority: PRIORITIES[i],
      file: `${dir}/${member.name}.toml`,
      socket: `${dir}/${member.name}.sock`,
      pidFile: `${dir}/${member.name}.pid`,
      steady: opts.steady.includes(member.name),
      daemon: null as unknown as HacoreProc,
      runs: [],
      variant: 0,
    };
    await Deno.writeTextFile(node.file, variantToml(node, 0));
    nodes.push(node);
  }
  const monitors = await Promise.all(nodes.map((n) => AddrMonitor.start(box, n.member.ns)));
  for (const n of nodes) launch(box, n);
  await nodes[0].daemon.waitState("MASTER", 20_000);
  const client = await Client.start(box, lan.client!.ns, VIP, { intervalMs: 10, timeoutMs: 200 });
  await sleep(2000);

  const boundMs = masterDownIntervalMs(3, Math.min(...PRIORITIES), ADVERT_MS) + ADVERT_MS;
  const chaos = new Chaos(box, nodes, rng, lan.bridgeNs, lan.cut, lan.plug);
  const t0 = wallMs();
  const endAt = t0 + opts.durationS * 1000;
  console.log(
    `soak: ${opts.durationS} s, seed ${opts.seed}, bound ${boundMs.toFixed(0)} ms, steady ${
      opts.steady.join(",") || "none"
    }${opts.calm ? ", calm (no loss, no action)" : ""}`,
  );

  // The client's results, counted and pruned as the run goes (an hour is ~360,000).
  let attempts = 0, failed = 0, longestFail = 0, failRunStart: number | null = null;
  const failRuns: { startMs: number; endMs: number; errors: Set<string> }[] = [];
  let runErrors = new Set<string>();
  let countedTo = t0;
  const countClient = () => {
    const to = wallMs() - 1000;
    for (const a of client.window(countedTo, to).attempts) {
      attempts++;
      if (!a.ok) {
        failed++;
        failRunStart ??= a.startMs;
        runErrors.add(a.error ?? "?");
      } else if (failRunStart !== null) {
        longestFail = Math.max(longestFail, a.startMs - failRunStart);
        if (a.startMs - failRunStart >= FAIL_RUN_REPORT_MS) {
          failRuns.push({ startMs: failRunStart, endMs: a.startMs, errors: runErrors });
        }
        failRunStart = null;
        runErrors = new Set();
      }
    }
    countedTo = to;
    client.prune(to - 2000);
  };

  let running = true;
  let loopError: unknown = null;
  // A failing background loop stops the run, and its error fails it (after cleanup).
  const guarded = (body: () => Promise<void>) =>
    body().catch((e) => {
      loopError ??= e;
      running = false;
    });
  const loops = [
    guarded(async () => {
      while (running) {
        await chaos.setLoss(opts.calm ? 0 : rng.int(0, LOSS_MAX_PERCENT));
        const until = wallMs() + LOSS_EVERY_MS;
        while (running && wallMs() < until) await sleep(200);
      }
      await chaos.setLoss(0);
    }),
    guarded(async () => {
      while (running) {
        for (const n of nodes) {
          const run = n.runs[n.runs.length - 1];
          if (run.daemon.proc.status !== null) continue;
          const atMs = wallMs();
          const r = await readResources(run.pid);
          // After /proc: the status call's own connection is not among the fds counted.
          const fresh = run.daemon.proc.lines.slice(run.gcLinesSeen).map((l) => l.text);
          run.gcLinesSeen += fresh.length;
          const heapLiveKiB = n.steady ? heapAfterFullGc(fresh) : null;
          if (r) run.samples.push({ atMs, ...r, ...await readHeap(n.socket), heapLiveKiB });
        }
        countClient();
        await sleep(RESOURCE_EVERY_MS);
      }
    }),
  ];
  let lastReport = t0;
  while (running && wallMs() < endAt - 8000 && !interrupted()) {
    if (!opts.calm) await chaos.step();
    await sleep(1000 + rng.next() * 3000);
    if (wallMs() - lastReport > 60_000) {
      lastReport = wallMs();
      console.log(`  ${((lastReport - t0) / 1000).toFixed(0)} s: ${JSON.stringify(chaos.actions)}`);
    }
  }
  while (running && wallMs() < endAt && !interrupted()) await sleep(200);
  running = false;
  await Promise.all(loops);
  if (loopError !== null) throw loopError;
  chaos.closeLoss();
  const t1 = wallMs();
  await sleep(1500);
  countClient();

  // Crashes: any exit we did not cause; then an orderly stop, which must exit 0.
  const crashes: SoakReport["crashes"] = [];
  for (const n of nodes) {
    for (const run of n.runs) {
      const st = run.daemon.proc.status;
      if (st !== null && !run.killedOnPurpose) {
        crashes.push({ node: n.name, pid: run.pid, code: st.code, signal: st.signal ?? null });
      }
    }
    const last = n.runs[n.runs.length - 1];
    if (last.daemon.proc.status === null) {
      last.stoppedOnPurpose = true;
      const st = await last.daemon.proc.stop("SIGTERM", 10_000).catch(() => null);
      if (st === null || st.code !== 0) {
        crashes.push({
          node: n.name,
          pid: last.pid,
          code: st?.code ?? -1,
          signal: st?.signal ?? null,
        });
      }
    }
  }
  if (opts.logs) {
    await Deno.mkdir(opts.logs, { recursive: true });
    for (const n of nodes) {
      for (const run of n.runs) {
        await Deno.writeTextFile(
          `${opts.logs}/${n.name}-${run.pid}.log`,
          run.daemon.proc.lines.map((l) => l.text).join("\n") + "\n",
        );
      }
    }
  }

  const events: HolderEvent[] = [];
  for (const [i, m] of monitors.entries()) {
    for (const e of m.events) {
      if (e.address === VIP && e.dev === LAN_IFACE) {
        events.push({ node: nodes[i].name, held: e.kind === "add", atMs: e.atMs });
      }
    }
  }
  const episodes = holderEpisodes(events, nodes.map((n) => n.name), t0, t1, SAMPLE_MS);
  const marginMs = boundMs + SLACK_MS;
  const rep = (e: Episode) => episodeReport(e, t0, chaos.causes, marginMs);
  const dual = episodes.filter((e) => e.kind === "dual");
  const none = episodes.filter((e) => e.kind === "none");
  const long = (e: Episode) => e.endMs - e.startMs > boundMs;
  // The first 10 % of the run (at most 10 min, at least 20 s: a process's own warm-up).
  const plateauMs = Math.max(Math.min(opts.durationS * 100, 600_000), 20_000);
  const resources: SoakReport["resources"] = [];
  for (const n of nodes) {
    const run = [...n.runs].sort((a, b) => b.samples.length - a.samples.length)[0];
    resources.push({ node: n.name, pid: run.pid, ...fitGrowth(run.samples, plateauMs) });
  }
  const steadyPlateauS = opts.plateauS ?? defaultPlateauS(opts.durationS);
  const steady: SoakReport["steady"] = nodes.filter((n) => n.steady).map((n) => {
    const run = n.runs[0];
    return {
      node: n.name,
      pid: run.pid,
      processes: n.runs.length,
      plateauS: steadyPlateauS,
      bounds: STEADY_BOUNDS,
      judgement: judgeSteady(run.samples, steadyPlateauS * 1000, STEADY_BOUNDS),
      samples: run.samples,
    };
  });
  const report: SoakReport = {
    durationS: opts.durationS,
    seed: opts.seed,
    advertMs: ADVERT_MS,
    boundMs,
    actions: chaos.actions,
    crashes,
    reloads: chaos.reloads,
    dual: {
      count: dual.length,
      totalMs: dual.reduce((a, e) => a + e.endMs - e.startMs, 0),
      long: dual.filter(long).map(rep),
      unexplained: dual.map(rep).filter((e) => e.causes.length === 0),
    },
    none: {
      count: none.length,
      totalMs: none.reduce((a, e) => a + e.endMs - e.startMs, 0),
      long: none.filter(long).map(rep),
    },
    client: {
      attempts,
      failed,
      longestFailRunMs: longestFail,
      longRuns: failRuns.map((f) => {
        const e: Episode = { kind: "none", startMs: f.startMs, endMs: f.endMs, holders: [] };
        const r = rep(e);
        return { atS: r.atS, ms: r.ms, errors: [...f.errors], causes: [...r.causes] };
      }),
    },
    resources,
    steady,
    verdict: { ok: true, problems: [] },
  };
  const problems = verdictProblems(report);
  (report as { verdict: SoakReport["verdict"] }).verdict = { ok: problems.length === 0, problems };
  await Promise.all(monitors.map((m) => m.stop()));
  await client.stop();
  print(report);
  if (opts.json) await Deno.writeTextFile(opts.json, JSON.stringify(report, null, 2) + "\n");
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return report.verdict.ok ? 0 : 3;
}

/**
 * What makes a soak fail: a crash, an invalid config accepted, an unexplained
 * dual-holder episode, a long no-holder episode without a cause; a steady node that
 * ran more than one process, or whose process grew after its plateau (`judgeSteady`
 * against `STEADY_BOUNDS`); for the other nodes' longest-lived process, fd or thread
 * growth (one or more over the fitted span, with the floor risen by more than what the
 * daemon's state explains: see `sustainedRise`), RSS growth beyond max(5 % of its mean,
 * 4 MiB). A process is judged only over 30 s or more after its plateau.
 */
function verdictProblems(r: SoakReport): string[] {
  const out: string[] = [];
  if (r.crashes.length > 0) out.push(`${r.crashes.length} crash(es)`);
  if (r.reloads.invalidAccepted > 0) {
    out.push(`${r.reloads.invalidAccepted} invalid config(s) not refused`);
  }
  if (r.dual.unexplained.length > 0) {
    out.push(`${r.dual.unexplained.length} unexplained dual-holder episode(s)`);
  }
  const lonely = r.none.long.filter((e) => e.causes.length === 0);
  if (lonely.length > 0) out.push(`${lonely.length} long no-holder episode(s) without a cause`);
  for (const st of r.steady) {
    if (st.processes > 1) out.push(`${st.node}: steady, but ran ${st.processes} processes`);
    for (const f of st.judgement.fits) {
      if (!f.grew) continue;
      out.push(
        `${st.node}: ${f.metric} grew after the plateau: level +${f.excess.toFixed(0)}, fit ${
          f.growth.toFixed(0)
        } over ${st.judgement.spanS.toFixed(0)} s (bound ${f.bound}, fit ${STEP_FIT} × bound)`,
      );
    }
  }
  for (const g of r.resources) {
    if (g.samples < 5 || g.spanS < MIN_FIT_SPAN_S) continue;
    // A steady node is judged by the rule above, on its whole life.
    if (r.steady.some((st) => st.node === g.node)) continue;
    if (g.fdGrowth >= 1 && g.fdRise > FD_STATE_SWING) {
      out.push(`${g.node}: fds grew by ${g.fdGrowth.toFixed(1)} (floor up ${g.fdRise})`);
    }
    if (g.threadGrowth >= 1 && g.threadRise > THREAD_STATE_SWING) {
      out.push(
        `${g.node}: threads grew by ${g.threadGrowth.toFixed(1)} (floor up ${g.threadRise})`,
      );
    }
    const rssBound = Math.max(0.05 * g.rssMeanKiB, 4096);
    if (g.rssGrowthKiB > rssBound) {
      out.push(
        `${g.node}: RSS grew by ${(g.rssGrowthKiB / 1024).toFixed(1)} MiB over ${
          g.spanS.toFixed(0)
        } s`,
      );
    }
  }
  return out;
}

function print(r: SoakReport): void {
  const lines = [
    `soak ${r.durationS} s, seed ${r.seed}: ${r.verdict.ok ? "PASS" : "FAIL"}`,
    `  actions: ${JSON.stringify(r.actions)}`,
    `  crashes: ${r.crashes.length}${
      r.crashes.map((c) => ` ${c.node}/${c.pid} code ${c.code} ${c.signal ?? ""}`).join(",")
    }`,
    `  reloads: ${r.reloads.valid} valid, ${r.reloads.invalidRefused} invalid refused, ${r.reloads.invalidAccepted} invalid accepted`,
    `  dual-holder: ${r.dual.count} episodes, ${r.dual.totalMs} ms in all; ${r.dual.long.length} longer than ${
      r.boundMs.toFixed(0)
    } ms; ${r.dual.unexplained.length} unexplained`,
    `  no-holder: ${r.none.count} episodes, ${r.none.totalMs} ms in all; ${r.none.long.length} longer than ${
      r.boundMs.toFixed(0)
    } ms`,
    ...[...r.dual.long, ...r.none.long, ...r.dual.unexplained].map((e) =>
      `    ${e.kind} at ${e.atS} s for ${e.ms} ms (${e.holders.join("+") || "nobody"}): ${
        e.causes.join("; ") || "NO CAUSE"
      }`
    ),
    `  client: ${r.client.attempts} connects, ${r.client.failed} failed (${
      (100 * r.client.failed / Math.max(1, r.client.attempts)).toFixed(2)
    } %), longest failing run ${r.client.longestFailRunMs.toFixed(0)} ms`,
    ...r.client.longRuns.map((f) =>
      `    connects failing at ${f.atS} s for ${f.ms.toFixed(0)} ms (${f.errors.join(", ")}): ${
        f.causes.join("; ") || "no cause"
      }`
    ),
    "  resources after the plateau (slope per minute; growth over the fitted span):",
    ...r.resources.map((g) =>
      `    ${g.node} pid ${g.pid}: ${g.samples} samples over ${g.spanS.toFixed(0)} s; RSS ${
        (g.rssMeanKiB / 1024).toFixed(1)
      } MiB, ${g.rssKiBPerMin.toFixed(1)} KiB/min (${
        (g.rssGrowthKiB / 1024).toFixed(2)
      } MiB); fds max ${g.fdsMax}, ${g.fdsPerMin.toFixed(3)}/min; threads max ${g.threadsMax}, ${
        g.threadsPerMin.toFixed(3)
      }/min; floor rise: fds ${g.fdRise}, threads ${g.threadRise}`
    ),
    ...r.steady.flatMap(steadyLines),
    ...r.verdict.problems.map((p) => `  problem: ${p}`),
  ];
  console.log(lines.join("\n"));
}

/** Units as the judgement counts them: KiB for memory, a count for fds and threads. */
function steadyLines(st: SoakReport["steady"][number]): string[] {
  const j = st.judgement;
  const head = `  steady ${st.node} pid ${st.pid} (${st.processes} process${
    st.processes === 1 ? "" : "es"
  }): plateau ${st.plateauS.toFixed(0)} s, then ${j.windows} one-minute floors over ${
    j.spanS.toFixed(0)
  } s`;
  const kib = (v: number) => `${(v / 1024).toFixed(2)} MiB`;
  return [
    head,
    ...j.fits.map((f) => {
      const mem = f.metric.endsWith("KiB");
      const v = (x: number) => (mem ? kib(x) : x.toFixed(2));
      const rate = mem ? `${f.perHour.toFixed(0)} KiB/h` : `${f.perHour.toFixed(2)}/h`;
      if (f.windowsBefore < 2 || f.windowsAfter < 2) {
        const judged = Object.hasOwn(st.bounds, f.metric);
        return `    ${
          f.metric.padEnd(12)
        } ${f.windowsBefore} minute(s) with a reading in the plateau, ${f.windowsAfter} after it: ${
          judged ? "NOT JUDGED" : "reported"
        }${f.metric === "heapLiveKiB" ? " (no full collection ran)" : ""}`;
      }
      const verdict = f.bound === null
        ? "reported"
        : `${f.grew ? "GREW" : "no growth"} (bound ${mem ? kib(f.bound) : f.bound})`;
      return `    ${f.metric.padEnd(12)} plateau ${v(f.plateauLevel)}, after ${v(f.afterLevel)} (${
        f.excess >= 0 ? "+" : ""
      }${v(f.excess)}); slope ${rate} = ${v(f.growth)}: ${verdict}`;
    }),
  ];
}

if (import.meta.main) {
  const opts = parseOptions(Deno.args);
  if (typeof opts === "string") {
    console.error(`${opts}\n${USAGE}`);
    Deno.exit(2);
  }
  let code = 1;
  try {
    code = await runSandboxed("soak", "hs", (box, interrupted) => soak(box, opts, interrupted));
  } catch (e) {
    console.error(`soak: ${(e as Error).stack ?? e}`);
    code = 1;
  }
  Deno.exit(code);
}
