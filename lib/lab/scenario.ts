/**
 * The failover story `hacore lab` tells, on real namespaces with real daemons:
 *
 * 1. election: every node's hacore starts at once; who holds the VIP, after how long;
 * 2. crash: the master's hacore is killed with SIGKILL and its cable pulled (a dead
 *    machine: without the pull, its kernel would keep answering for the VIP that the
 *    killed daemon can no longer remove); who takes over, how long after the kill, and
 *    what the client saw;
 * 3. return: the cable back and hacore restarted there; does it preempt, and when;
 * 4. planned stop: SIGTERM to the master; how fast the priority-0 advert hands over,
 *    what the client saw, and how the stopped daemon exits.
 *
 * Every number is observed, never assumed: VIP holders from `ip addr` in each
 * namespace, the client's experience from its probe, transitions from hacore's logs.
 *
 * @example
 * ```ts
 * const box = new Sandbox();
 * try {
 *   const report = await runLabScenario(box, defaultLabSpec(), { say: console.log });
 *   console.log(report.summary);
 * } finally {
 *   await box.cleanup();
 * }
 * ```
 *
 * @module
 */

import { type HacoreProc, logMessage, startHacore } from "./hacore.ts";
import type { NetnsHost } from "./host.ts";
import { type Probe, type ProbeSummary, startProbe, summarizeProbe } from "./probe.ts";
import { sleep, wallMs } from "./proc.ts";
import {
  CLIENT_ADDRESS,
  type LabNode,
  type LabSpec,
  masterDownOf,
  worstMasterDownMs,
} from "./spec.ts";
import { startTcpService } from "./tcp_service.ts";
import { buildLan, LAN_IFACE, type LanMember } from "./topology.ts";
import { addressWatcher, only, vipHolders, type VipWatcher, waitForHolders } from "./vip.ts";

/**
 * Options of {@link runLabScenario}.
 *
 * @example
 * ```ts
 * const o: ScenarioOptions = { say: (l) => console.log(l), probeIntervalMs: 10 };
 * ```
 */
export interface ScenarioOptions {
  /** Receives each timeline line as it happens. */
  readonly say: (line: string) => void;
  /** Client probe cadence; 10 ms by default. */
  readonly probeIntervalMs?: number;
  /** Client connect timeout; 200 ms by default. */
  readonly probeTimeoutMs?: number;
}

/**
 * What the client saw during one step, and how long the VIP took to move.
 *
 * @example
 * ```ts
 * const s: StepReport = report.crash;
 * `${s.to} after ${s.moveMs} ms, ${s.client.failed} failed connects`;
 * ```
 */
export interface StepReport {
  /** The node the step acted on. */
  readonly node: string;
  /** Who held the VIP after it (null when nobody took it, e.g. nopreempt on return). */
  readonly to: string | null;
  /** ms from the action to the first sighting of `to` holding the VIP. */
  readonly moveMs: number | null;
  readonly client: ProbeSummary;
}

/**
 * The whole run's findings.
 *
 * @example
 * ```ts
 * const r: LabReport = await runLabScenario(box, spec, { say: console.log });
 * console.log(r.summary);
 * ```
 */
export interface LabReport {
  readonly elected: string;
  /** ms from starting the daemons to the first sighting of the master holding the VIP. */
  readonly electionMs: number;
  readonly crash: StepReport & { readonly expectedMs: number };
  readonly back: StepReport & { readonly preempted: boolean };
  readonly stop: StepReport & {
    /** ms from SIGTERM until the stopped node no longer held the VIP. */
    readonly releasedMs: number;
    /** ms from SIGTERM until its process exited, and its exit code. */
    readonly exitMs: number;
    readonly exitCode: number;
  };
  /** One line. */
  readonly summary: string;
}

interface Running {
  readonly node: LabNode;
  readonly member: LanMember;
  readonly configFile: string;
  hacore: HacoreProc;
}

const ms = (n: number) => `${Math.round(n)} ms`;

function clientLine(s: ProbeSummary): string {
  const errors = Object.entries(s.errors).map(([k, v]) => `${v} ${k}`).join(", ");
  if (s.failed === 0) {
    return `client: ${s.attempts} connects, none failed` +
      (s.answeredBy.length > 1
        ? `; answered by ${s.answeredBy.map((a) => `${a.who} from +${ms(a.afterMs)}`).join(", ")}`
        : "");
  }
  return `client: ${s.failed} of ${s.attempts} connects failed (${errors}), ` +
    `from +${ms(s.firstFailureAfterMs!)} to +${ms(s.lastFailureAfterMs!)}; ` +
    (s.recoveredAfterMs === null
      ? "no success since"
      : `first success after that at +${ms(s.recoveredAfterMs)}, answered by ${s.recoveredBy}`);
}

/**
 * Builds the lab in `box`, runs the four steps, and returns the report. Throws (with the
 * logs that explain it) when a step does not happen in time; the caller cleans `box`.
 *
 * @example
 * ```ts
 * const report = await runLabScenario(box, defaultLabSpec(), { say: console.log });
 * ```
 */
export async function runLabScenario(
  box: NetnsHost & { tempDir(): Promise<string> },
  spec: LabSpec,
  opts: ScenarioOptions,
): Promise<LabReport> {
  const say = opts.say;
  const worstMd = worstMasterDownMs(spec);
  // Deadlines scale with the protocol's own timers; the constant covers process startup.
  const moveBudget = 2 * worstMd + 3000;
  const settleMs = Math.max(300, (opts.probeTimeoutMs ?? 200) + 100);

  const lan = await buildLan(box, {
    nodes: spec.nodes.map((n) => ({ name: n.name, address: n.address })),
    client: { name: "client", address: CLIENT_ADDRESS },
  });
  const dir = await box.tempDir();
  const width = Math.max(6, ...spec.nodes.map((n) => n.name.length));
  let t0 = wallMs();
  const line = (who: string, text: string, atMs = wallMs()) =>
    say(`  ${`+${((atMs - t0) / 1000).toFixed(3)}s`.padStart(9)}  ${who.padEnd(width)}  ${text}`);
  const lab = (text: string) => line("lab", text);

  say(
    `bridge ${lan.bridge} in namespace ${lan.bridgeNs}; client ${lan.client!.ns} ${CLIENT_ADDRESS}`,
  );
  for (const m of lan.nodes) say(`${m.name}: namespace ${m.ns}, ${LAN_IFACE} ${m.address}`);
  say(`configs, pid files: ${dir}\n`);

  const running: Running[] = [];
  for (const [i, node] of spec.nodes.entries()) {
    const configFile = `${dir}/${node.name}.toml`;
    await Deno.writeTextFile(configFile, node.configToml);
    running.push({ node, member: lan.nodes[i], configFile, hacore: null! });
  }
  await Promise.all(running.map((r) => startTcpService(box, r.member.ns, r.node.name)));
  const probe: Probe = await startProbe(box, lan.client!.ns, spec.vip, {
    intervalMs: opts.probeIntervalMs,
    timeoutMs: opts.probeTimeoutMs,
  });
  const watchers: VipWatcher[] = running.map((r) =>
    addressWatcher(r.node.name, r.member.ns, LAN_IFACE, spec.vip)
  );
  const start = (r: Running) => {
    r.hacore = startHacore(box, r.member.ns, r.configFile, {
      name: r.node.name,
      pidFile: `${dir}/${r.node.name}.pid`,
      controlSocket: `${dir}/${r.node.name}.sock`,
    });
    r.hacore.proc.onLine((l) => {
      const m = logMessage(l.text);
      // Transitions and trouble; the per-address chatter stays in the daemon's log.
      if (/ -> [A-Z]+ \(/.test(m.msg) || m.level === "warn" || m.level === "error") {
        line(r.node.name, m.msg, m.tsMs ?? l.atMs);
      }
    });
  };
  const byName = (name: string) => running.find((r) => r.node.name === name)!;
  const maxAdvertMs = Math.max(
    ...spec.nodes.flatMap((n) => n.config.instances.map((i) => i.advertIntervalMs)),
  );
  /**
   * One node holds the VIP, its hacore says MASTER and no other live one does, and that
   * still holds two advert intervals later. Right after a simultaneous start, two nodes
   * may both time out and claim the VIP for a moment (as the RFC allows) until the
   * lower one hears the higher; a single sighting would crown the wrong one.
   */
  const settled = async (what: string) => {
    const deadline = wallMs() + moveBudget;
    const consistent = (holders: readonly string[]) =>
      holders.length === 1 &&
      running.every((r) =>
        r.hacore.proc.status !== null ||
        (r.hacore.state(r.node.config.instances[0].name) === "MASTER") ===
          (r.node.name === holders[0])
      );
    for (;;) {
      const left = Math.max(0, deadline - wallMs());
      const seen = await waitForHolders(watchers, consistent, left, what);
      await sleep(2 * maxAdvertMs);
      const again = await vipHolders(watchers);
      if (consistent(again) && again[0] === seen.holders[0]) return seen;
      if (wallMs() > deadline) throw new Error(`timed out waiting for ${what}: it kept changing`);
    }
  };

  try {
    // 1. Election
    say("== 1. election: every hacore starts at once ==");
    t0 = wallMs();
    for (const r of running) start(r);
    lab(
      `started hacore on ${running.map((r) => r.node.name).join(", ")}; ` +
        `client probing ${spec.vip}:8080 every ${probe.intervalMs} ms`,
    );
    const elected = await settled("one master holding the VIP");
    const master = elected.holders[0];
    const electionMs = elected.atMs - t0;
    line(
      "lab",
      `ELECTED: ${master} holds ${spec.vip}, ${ms(electionMs)} after the start`,
      elected.atMs,
    );
    const seen = await probe.waitFor(
      (r) => r.ok && r.who === master,
      moveBudget,
      `the client to reach ${master}`,
    );
    line("client", `reaches the VIP: answered by ${master}`, seen.t + seen.ms);
    // Let a few adverts pass, so the backups have heard the master before it dies.
    await sleep(Math.max(500, 2 * maxAdvertMs));

    // 2. Crash
    say("\n== 2. crash: the master's hacore gets SIGKILL and its cable is pulled ==");
    const victim = byName(master);
    const tKill = wallMs();
    victim.hacore.proc.child.kill("SIGKILL");
    await lan.cut(victim.member);
    line("lab", `${master}: hacore killed (SIGKILL), cable pulled`, tKill);
    const others = watchers.filter((w) => w.name !== master);
    const took = await waitForHolders(
      others,
      (h) => h.length >= 1,
      moveBudget,
      `another node to take ${spec.vip} over`,
    );
    const taker = took.holders[0];
    const expectedTaker = running.filter((r) =>
      r.node.name !== master
    ).sort((a, b) => b.node.config.instances[0].priority - a.node.config.instances[0].priority)[0];
    const expectedMs = masterDownOf(byName(taker).node);
    line(
      "lab",
      `TAKEOVER: ${taker} holds the VIP ${ms(took.atMs - tKill)} after the kill ` +
        `(its Master_Down_Interval: ${ms(expectedMs)})` +
        (taker !== expectedTaker.node.name ? ` [expected ${expectedTaker.node.name}]` : ""),
      took.atMs,
    );
    const back1 = await probe.waitFor(
      (r) =>
        r.ok && r.who === taker && r.t > tKill,
      moveBudget,
      `the client to reach ${taker}`,
    );
    const back1At = back1.t + back1.ms;
    line(
      "client",
      `first answer after the kill: ${taker}, ${ms(back1At - tKill)} after it`,
      back1At,
    );
    await sleep(settleMs);
    const crashClient = summarizeProbe(probe.results, tKill, wallMs() - settleMs);
    lab(clientLine(crashClient));

    // 3. Return
    say(`\n== 3. return: ${master}'s cable back in, its hacore restarted ==`);
    await lan.plug(victim.member);
    const tBack = wallMs();
    start(victim);
    line("lab", `${master}: cable plugged, hacore restarted`, tBack);
    const best = [...running].sort((a, b) =>
      b.node.config.instances[0].priority - a.node.config.instances[0].priority
    )[0];
    const shouldPreempt = best === victim && victim.node.config.instances[0].preempt;
    let backTo: string | null = null;
    let backMs: number | null = null;
    if (shouldPreempt) {
      const s = await waitForHolders(watchers, only(master), moveBudget, `${master} to preempt`);
      backTo = master;
      backMs = s.atMs - tBack;
      line(
        "lab",
        `PREEMPTED: ${master} holds the VIP again, ${ms(backMs)} after its restart`,
        s.atMs,
      );
    } else {
      await victim.hacore.waitState("BACKUP", moveBudget);
      await sleep(3 * worstMd);
      backTo = (await settled("one master holding the VIP")).holders[0];
      lab(
        `${master} is back as BACKUP; ${backTo} keeps the VIP (` +
          (best !== victim ? "a higher priority node is present" : "nopreempt") + ")",
      );
    }
    await sleep(settleMs);
    const backClient = summarizeProbe(probe.results, tBack, wallMs() - settleMs);
    lab(clientLine(backClient));
    await sleep(Math.max(300, 2 * maxAdvertMs));

    // 4. Planned stop
    const current = (await settled("one master holding the VIP")).holders[0];
    say(`\n== 4. planned stop: SIGTERM to the master (${current}) ==`);
    const stopping = byName(current);
    const tTerm = wallMs();
    stopping.hacore.proc.child.kill("SIGTERM");
    line("lab", `${current}: SIGTERM`, tTerm);
    const rest = watchers.filter((w) =>
      w.name !== current
    );
    const handed = await waitForHolders(rest, (h) => h.length >= 1, moveBudget, "a new master");
    const heir = handed.holders[0];
    line(
      "lab",
      `HANDOVER: ${heir} holds the VIP ${ms(handed.atMs - tTerm)} after the SIGTERM`,
      handed.atMs,
    );
    const mine = watchers.find((w) => w.name === current)!;
    const released = await waitForHolders(
      [mine],
      (h) => h.length === 0,
      moveBudget,
      `${current} to release the VIP`,
    );
    line("lab", `${current} released the VIP, ${ms(released.atMs - tTerm)} after the SIGTERM`);
    const status = await stopping.hacore.proc.exited(moveBudget);
    const exitMs = (stopping.hacore.proc.exitedAtMs ?? wallMs()) - tTerm;
    line(
      "lab",
      `${current}: hacore exited with code ${status.code}, ${ms(exitMs)} after the SIGTERM`,
    );
    await sleep(settleMs);
    const stopClient = summarizeProbe(probe.results, tTerm, wallMs() - settleMs);
    lab(clientLine(stopClient));
    await probe.stop();

    const summary = `summary: elected ${master} in ${ms(electionMs)}` +
      ` | kill -9: ${taker} in ${ms(took.atMs - tKill)}, ${crashClient.failed} failed connects` +
      ` | return: ${
        shouldPreempt ? `${master} preempted in ${ms(backMs!)}` : `${backTo} kept it`
      }` +
      `, ${backClient.failed} failed` +
      ` | SIGTERM: ${heir} in ${ms(handed.atMs - tTerm)}, ${stopClient.failed} failed` +
      `, ${current} exited ${status.code} in ${ms(exitMs)}`;
    return {
      elected: master,
      electionMs,
      crash: {
        node: master,
        to: taker,
        moveMs: took.atMs - tKill,
        expectedMs,
        client: crashClient,
      },
      back: {
        node: master,
        to: backTo,
        moveMs: backMs,
        preempted: shouldPreempt,
        client: backClient,
      },
      stop: {
        node: current,
        to: heir,
        moveMs: handed.atMs - tTerm,
        releasedMs: released.atMs - tTerm,
        exitMs,
        exitCode: status.code,
        client: stopClient,
      },
      summary,
    };
  } catch (e) {
    // What each daemon said last is usually why a step did not happen.
    const tails = running.map((r) => r.hacore?.proc.tail(8) ?? "").join("");
    throw new Error(`${e instanceof Error ? e.message : String(e)}${tails}`);
  }
}
